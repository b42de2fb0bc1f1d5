// bench:scale: key-release throughput of gateways sharing one PostgreSQL database, against one gateway on SQLite.
// Prints ONE JSON line on stdout; progress goes to stderr.
//   release_per_s.sqlite_1      one gateway on its embedded SQLite database (the reference)
//   release_per_s.postgres_1    one gateway on PostgreSQL
//   release_per_s.postgres_3    three gateway processes on the same PostgreSQL database, a third of the connections
//                               at each, summed
//   release_p99_ms              the 3-gateway run's p99 latency (the worst of the three gateways)
//   errors                      connection errors, timeouts and answers other than 200, over every measure (must be 0)
//   ratio_3_vs_sqlite           postgres_3 / sqlite_1 (median of the per-round ratios)
//   targets_met                 ratio_3_vs_sqlite >= 0.5, errors == 0, release_p99_ms <= 50
//   peak_rss_mb                 the largest resident set of any gateway process (VmHWM), after the run
//
// Method: anvil with Hygeia deployed (each gateway's anchoring account authorized), a real PostgreSQL 15 server
// started for the run (initdb into a temporary directory, as in the store tests), every gateway built as a
// deployment builds it (bench/gateway-server.ts: loadConfig from HYGEIA_*, its own process). A patient uploads RECORDS
// records through the SQLite gateway and through the PostgreSQL gateways' database, and grants a clinic Treatment
// consent on all of them; the clinic signs in once (the PostgreSQL gateways share the session secret, so its token
// is good at all three). The load is autocannon in one child process per measure (driving the three gateways of
// postgres_3 together, as one generator drives the single gateways: three would compete with the gateways for the
// two cores), each connection cycling through the key routes. After a warm-up, ROUNDS rounds (default 3) of ROUND_S seconds (default 5) run the three measures in an
// order that shifts each round (this machine's load drifts); figures are medians of rounds.
// The PostgreSQL gateways use embedded Helia each: a key release reads no content, and uploads happen at set-up only.
// `--minutes N` (soak, not for CI): after the rounds, the 3-gateway load runs N minutes more, one minute at a time
// (each minute's rate on stderr), and the line gains `soak`.
// BENCH_PROFILE=1: after the rounds, one more run of each measure with a gateway's CPU profiler on (the SQLite one,
// then the first PostgreSQL one alone and among three); the profiles land in
// .hygeia/bench-scale-profiles/<gateway>/gateway-<n>.cpuprofile (read them with bench/profile-summary.ts).
import { mkdir, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  ConsentRegistryClient,
  Purpose,
  TransactionSender,
  startLocalDeployment,
  writeDeployment,
  type LocalDeployment,
} from "@hygeia/chain";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { startPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { runChild, startChild, type Child } from "./children.ts";
import { PURPOSE_BODY, addRecord, freePort, keyPath, pollUntil, signIn, type BenchRecord } from "./gateway-client.ts";
import type { LoadResult, LoadSpec } from "./load.ts";
import { median, roundOrder } from "./stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 5);
const WARMUP_S = 2;
const CONNECTIONS = 48;
const RECORDS = Number(process.env.BENCH_RECORDS ?? 20);
const PROFILE = process.env.BENCH_PROFILE === "1";
const SECRET = "bench-scale-shared-session-secret-0123456789abcdef";
const GATEWAY_SECRET = "bench-scale-shared-gateway-secret-0123456789abcdef";
if (!Number.isInteger(ROUNDS) || ROUNDS < 3) throw new Error(`BENCH_ROUNDS must be an integer >= 3, got ${ROUNDS}`);
if (!(ROUND_S >= 1)) throw new Error(`BENCH_ROUND_S must be at least 1, got ${ROUND_S}`);

const { values: args } = parseArgs({ options: { minutes: { type: "string" } }, strict: true });
const SOAK_MINUTES = args.minutes === undefined ? 0 : Number(args.minutes);
if (!Number.isInteger(SOAK_MINUTES) || SOAK_MINUTES < 0) throw new Error(`--minutes must be a whole number`);

const HERE = import.meta.dirname;
const REPO_ROOT = resolve(HERE, "../../..");
const log = (message: string) => process.stderr.write(`bench:scale: ${message}\n`);

/** Account indexes: the patient and the clinic, the SQLite gateway, then one per PostgreSQL gateway. */
const ACCOUNTS = { patient: 2, clinic: 4, sqlite: 1, postgres: [10, 11, 12] } as const;
const MEASURES = ["sqlite_1", "postgres_1", "postgres_3"] as const;
type Measure = (typeof MEASURES)[number];

interface Measured {
  perS: number;
  p99Ms: number;
  errors: number;
}

/** VmHWM (peak resident set) of a process in MiB; undefined without /proc. */
async function peakRssMb(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const dataDir = join(REPO_ROOT, ".hygeia", `bench-scale-${process.pid}`);
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const children: Child<{ url: string }>[] = [];
  let local: LocalDeployment | undefined;
  let postgres: TestPostgres | undefined;
  try {
    log("starting anvil, deploying, and starting PostgreSQL");
    local = await startLocalDeployment({
      gatewayAccounts: [ACCOUNTS.sqlite, ...ACCOUNTS.postgres],
      accounts: Math.max(...ACCOUNTS.postgres) + 1,
    });
    const deploymentFile = join(dataDir, "deployment.json");
    await writeDeployment(deploymentFile, local.deployment);
    postgres = await startPostgres();
    const databaseUrl = await postgres.createDatabase("bench_scale");
    const profileDir = join(REPO_ROOT, ".hygeia", "bench-scale-profiles");
    if (PROFILE) await mkdir(profileDir, { recursive: true });

    const gatewayEnv = async (name: string, account: number, extra: NodeJS.ProcessEnv = {}) => {
      const port = await freePort();
      if (PROFILE) await mkdir(join(profileDir, name), { recursive: true });
      return {
        url: `http://127.0.0.1:${port}`,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          HYGEIA_HOST: "127.0.0.1",
          HYGEIA_PORT: String(port),
          HYGEIA_DATA_DIR: join(dataDir, name),
          HYGEIA_RPC_URL: local!.rpcUrl,
          HYGEIA_DEPLOYMENT_FILE: deploymentFile,
          HYGEIA_CONFIRMATIONS: "0",
          HYGEIA_RELAYER_KEY: local!.account(account).privateKey,
          HYGEIA_LOG_LEVEL: "warn",
          HYGEIA_RATE_LIMIT_PER_IP: "1000000",
          HYGEIA_RATE_LIMIT_PER_SESSION: "1000000",
          ...(PROFILE ? { BENCH_PROFILE_DIR: join(profileDir, name) } : {}),
          ...extra,
        } satisfies NodeJS.ProcessEnv,
      };
    };
    const start = async (name: string, account: number, extra?: NodeJS.ProcessEnv) => {
      const { url, env } = await gatewayEnv(name, account, extra);
      const child = await startChild<{ url: string }>(join(HERE, "gateway-server.ts"), [], env);
      children.push(child);
      return { url, child };
    };

    log("starting one gateway on SQLite and three on PostgreSQL, each in its own process");
    const sqlite = await start("sqlite", ACCOUNTS.sqlite);
    const shared = await Promise.all(
      ACCOUNTS.postgres.map((account, i) =>
        start(`postgres-${i}`, account, {
          HYGEIA_DATABASE_URL: databaseUrl,
          HYGEIA_SESSION_SECRET: SECRET,
          HYGEIA_GATEWAY_SECRET: GATEWAY_SECRET,
          HYGEIA_AUDIT_ORIGIN: `hygeia.bench/gateway-${i}`,
        }),
      ),
    );
    // Behind a load balancer they would share one public URL; here each is addressed directly, so the SIWE domain
    // is each one's own and the clinic signs in at the first (its token is good at all three).
    const first = shared[0]!;

    log(`a patient with ${RECORDS} records in each database, Treatment consent for a clinic on all of them`);
    const patient = local.account(ACCOUNTS.patient);
    const clinic = local.account(ACCOUNTS.clinic);
    const patientAddress = patient.address.toLowerCase();
    const clinicAddress = clinic.address.toLowerCase();
    const keys = { patient: generateX25519KeyPair().publicKey, clinic: generateX25519KeyPair().publicKey };
    const recordsAt = async (base: string): Promise<BenchRecord[]> => {
      const token = await signIn(base, patient);
      const records: BenchRecord[] = [];
      for (let i = 0; i < RECORDS; i++) records.push(await addRecord(base, token, patientAddress, clinicAddress, keys));
      return records;
    };
    const sqliteRecords = await recordsAt(sqlite.url);
    const sharedRecords = await recordsAt(first.url);
    const registry = new ConsentRegistryClient(
      local.deployment.contracts.ConsentRegistry,
      new TransactionSender(patient),
    );
    const expiry = Math.floor(Date.now() / 1000) + 86_400;
    await registry.grantBatch(
      [...sqliteRecords, ...sharedRecords].map((record) => ({
        grantee: clinicAddress,
        scope: record.scopeId,
        purpose: Purpose.Treatment,
        expiry,
      })),
    );
    const sqliteToken = await signIn(sqlite.url, clinic);
    const sharedToken = await signIn(first.url, clinic);
    await pollUntil(sqlite.url, sqliteToken, keyPath(patientAddress, sqliteRecords[0]!.cid), 200, 10_000);
    for (const gateway of shared)
      await pollUntil(gateway.url, sharedToken, keyPath(patientAddress, sharedRecords[0]!.cid), 200, 10_000);

    const spec = (url: string, token: string, records: BenchRecord[], connections: number): LoadSpec => ({
      url,
      connections,
      durationS: 0,
      expectStatus: 200,
      requests: records.map((record) => ({
        method: "POST" as const,
        path: keyPath(patientAddress, record.cid),
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: PURPOSE_BODY,
      })),
    });
    const specs: Record<Measure, LoadSpec[]> = {
      sqlite_1: [spec(sqlite.url, sqliteToken, sqliteRecords, CONNECTIONS)],
      postgres_1: [spec(first.url, sharedToken, sharedRecords, CONNECTIONS)],
      postgres_3: shared.map((gateway) => spec(gateway.url, sharedToken, sharedRecords, CONNECTIONS / shared.length)),
    };
    const load = async (measure: Measure, durationS: number): Promise<Measured> => {
      const result = await runChild<LoadResult>(join(HERE, "load.ts"), [
        JSON.stringify(specs[measure].map((s) => ({ ...s, durationS }))),
      ]);
      return { perS: result.perS, p99Ms: result.p99Ms, errors: result.errors + result.timeouts + result.unexpected };
    };

    log("warm-up");
    for (const measure of MEASURES) await load(measure, WARMUP_S);
    const results: Record<Measure, Measured[]> = { sqlite_1: [], postgres_1: [], postgres_3: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const measure of roundOrder(MEASURES, round)) results[measure][round] = await load(measure, ROUND_S);
      const r = (measure: Measure) => Math.round(results[measure][round]!.perS);
      log(
        `round ${round + 1}/${ROUNDS}: sqlite ${r("sqlite_1")}/s, postgres x1 ${r("postgres_1")}/s, ` +
          `postgres x3 ${r("postgres_3")}/s (p99 ${results.postgres_3[round]!.p99Ms} ms)`,
      );
    }

    if (PROFILE) {
      // Inside SIGUSR2 pairs (bench/gateway-server.ts), so a profile shows that load only.
      for (const [measure, gateway] of [
        ["sqlite_1", sqlite],
        ["postgres_1", first],
        ["postgres_3", first],
      ] as const) {
        gateway.child.child.kill("SIGUSR2");
        const profiled = await load(measure, ROUND_S);
        gateway.child.child.kill("SIGUSR2");
        log(`profiled ${measure}: ${Math.round(profiled.perS)}/s (profile in ${profileDir})`);
      }
    }

    const soak: { minutes: number; per_minute: number[]; errors: number } = { minutes: 0, per_minute: [], errors: 0 };
    for (let minute = 1; minute <= SOAK_MINUTES; minute++) {
      const measured = await load("postgres_3", 60);
      soak.minutes = minute;
      soak.per_minute.push(Math.round(measured.perS));
      soak.errors += measured.errors;
      log(`soak minute ${minute}/${SOAK_MINUTES}: ${Math.round(measured.perS)}/s, ${measured.errors} errors`);
    }

    const perS = (measure: Measure) => results[measure].map((m) => Math.round(m.perS));
    const ratios = results.postgres_3.map((m, round) => m.perS / results.sqlite_1[round]!.perS);
    const ratio = Number(median(ratios).toFixed(3));
    const p99 = median(results.postgres_3.map((m) => m.p99Ms));
    const errors = MEASURES.reduce((sum, measure) => sum + results[measure].reduce((s, m) => s + m.errors, 0), 0);
    const rss = await Promise.all(children.map((child) => peakRssMb(child.child.pid!)));
    process.stdout.write(
      `${JSON.stringify({
        release_per_s: {
          sqlite_1: Math.round(median(perS("sqlite_1"))),
          postgres_1: Math.round(median(perS("postgres_1"))),
          postgres_3: Math.round(median(perS("postgres_3"))),
        },
        release_p99_ms: p99,
        errors,
        ratio_3_vs_sqlite: ratio,
        targets_met: { ratio_3_vs_sqlite: ratio >= 0.5, errors: errors === 0, release_p99_ms: p99 <= 50 },
        peak_rss_mb: Math.max(0, ...rss.filter((mb): mb is number => mb !== undefined)),
        rounds: ROUNDS,
        connections: CONNECTIONS,
        round_s: ROUND_S,
        records: RECORDS,
        per_round: {
          sqlite_1: perS("sqlite_1"),
          postgres_1: perS("postgres_1"),
          postgres_3: perS("postgres_3"),
          postgres_3_p99_ms: results.postgres_3.map((m) => m.p99Ms),
        },
        ...(SOAK_MINUTES > 0 ? { soak } : {}),
      })}\n`,
    );
  } finally {
    for (const child of children.reverse()) await child.stop().catch(() => undefined);
    await local?.stop();
    await postgres?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
