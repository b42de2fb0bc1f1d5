// bench:verify: verification throughput of JWT VCs (ES256K) on one core, against a real local chain.
// Prints ONE JSON line on stdout; progress goes to stderr.
//   vc_verify_per_s               our full verifyCredential (signature, validity, schema, status, issuer trust),
//                                 with DID documents, status lists and trust answers served from cache
//   native_secp256k1_verify_per_s node:crypto ES256K verify of the same signatures (the ceiling)
//   noble_secp256k1_verify_per_s  @noble/curves verify of the same signatures
//   veramo_verify_per_s           Veramo's own verifyCredential on the same credentials (the anchor)
//   ratio_vs_native, ratio_vs_veramo   medians of the per-round ratios (see below)
//   rounds, round_ms, per_round   the method's parameters and every round's figures, so the spread is visible
//   cpu_ratio_vs_native           the same ratio over this process's CPU time instead of wall time (median of
//                                 rounds): what the ratio would be on an idle core, since time the OS gives to
//                                 other processes is not counted; on a loaded machine it moves much less
// Method (interleaved rounds, medians): after a warm-up of each method, ROUNDS rounds (default 7, at least 3).
// A round gives each method ROUND_MS (default 1000) in SLICES (10) slices, the methods taking turns slice by
// slice in an order that alternates (ours, native, noble, veramo; then veramo, noble, native, ours; ...), so
// within a round every method sees the same machine load, and none always runs right after another. A full
// garbage collection runs before every round. A method's rate in a round is its operations over its time in
// that round; every reported rate is the median of its rounds, and every ratio the median of the ratios
// measured within one round, not a ratio of medians taken at different moments. The earlier method (one
// 400 ms window per method per round) let a single busy moment on this shared machine decide a ratio: the
// ratio to native swung 0.66 to 0.93 across four runs.
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { HDNodeWallet, JsonRpcProvider, NonceManager } from "ethers";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { LOCAL_MNEMONIC, TrustRegistryClient, TrustRole, deployHygeia, startLocalChain } from "@hygeia/chain";
import {
  Bitstring,
  CredentialType,
  CredentialVerifier,
  IdentityAgent,
  IssuerTrust,
  ethrDidPrefix,
  ethrNetworkFromDeployment,
  issueCredential,
  issueStatusListCredential,
  statusEntry,
} from "../src/index.ts";
import { veramoOf } from "../src/did/internal.ts";

const POOL = Number(process.env.BENCH_POOL ?? 256);
const ISSUERS = 4;
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 1000);
const SLICES = 10;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
if (!Number.isInteger(ROUNDS) || ROUNDS < 3) throw new Error(`BENCH_ROUNDS must be an integer >= 3, got ${ROUNDS}`);
if (!(ROUND_MS >= 500)) throw new Error(`BENCH_ROUND_MS must be at least 500, got ${ROUND_MS}`);
const log = (message: string) => process.stderr.write(`bench:verify: ${message}\n`);

// A full collection on demand, without asking the user for --expose-gc.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

type Run = (i: number) => unknown | Promise<unknown>;

/** Operations run, wall and CPU milliseconds spent by `run` over at least `ms`. */
async function slice(run: Run, ms: number, from: number): Promise<Totals> {
  let count = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let elapsed = 0;
  // The clock is read after every operation (an operation takes 0.5 ms or more): a slice of a slow method ends
  // on time instead of after a fixed batch, so every method's slices stay ~ROUND_MS / SLICES long.
  while (elapsed < ms) {
    await run((from + count++) % POOL);
    elapsed = performance.now() - start;
  }
  const cpu = process.cpuUsage(cpuStart);
  return { count, elapsed, cpuMs: (cpu.user + cpu.system) / 1000 };
}

interface Totals {
  count: number;
  /** Wall-clock milliseconds. */
  elapsed: number;
  /** CPU milliseconds of this process (user + system), all its threads. */
  cpuMs: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Every method's rate in each of ROUNDS interleaved rounds (see the method at the top), after a warm-up. */
async function measureInterleaved<Name extends string>(
  methods: Record<Name, Run>,
): Promise<{ rates: Record<Name, number[]>; cpuRates: Record<Name, number[]> }> {
  const names = Object.keys(methods) as Name[];
  for (const name of names) for (let i = 0; i < Math.min(POOL, 200); i++) await methods[name](i);
  const rates = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Name, number[]>;
  const cpuRates = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Name, number[]>;
  for (let round = 0; round < ROUNDS; round++) {
    collectGarbage();
    const totals = Object.fromEntries(names.map((name) => [name, { count: 0, elapsed: 0, cpuMs: 0 }])) as Record<
      Name,
      Totals
    >;
    for (let pass = 0; pass < SLICES; pass++) {
      for (const name of pass % 2 === 0 ? names : [...names].reverse()) {
        const { count, elapsed, cpuMs } = await slice(methods[name], ROUND_MS / SLICES, totals[name].count);
        totals[name].count += count;
        totals[name].elapsed += elapsed;
        totals[name].cpuMs += cpuMs;
      }
    }
    for (const name of names) {
      rates[name].push((totals[name].count * 1000) / totals[name].elapsed);
      cpuRates[name].push((totals[name].count * 1000) / totals[name].cpuMs);
    }
    log(
      `round ${round + 1}/${ROUNDS}: ${names.map((name) => `${name} ${Math.round(rates[name][round]!)}/s`).join(", ")}`,
    );
  }
  return { rates, cpuRates };
}

const chain = await startLocalChain();
const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
let agent: IdentityAgent | undefined;
try {
  const governance = new NonceManager(
    HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, "m/44'/60'/0'/0/0").connect(provider),
  );
  const deployment = await deployHygeia(governance);
  const network = ethrNetworkFromDeployment(deployment, chain.rpcUrl);
  agent = await IdentityAgent.create({ network, watchRegistry: false, resolverCacheTtlMs: 3_600_000 });
  const trustRegistry = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
  const now = Math.floor(Date.now() / 1000);
  const patient = await agent.createDid();
  const issuers = [];
  for (let i = 0; i < ISSUERS; i++) {
    const issuer = await agent.createDid();
    await trustRegistry.accredit({
      issuer: issuer.ownerAddress!,
      role: TrustRole.Insurer,
      validFrom: now - 3600,
      validUntil: now + 86400,
    });
    issuers.push(issuer);
  }
  const lists = new Map<string, string>();
  for (const issuer of issuers) {
    const url = `https://gateway.example/status/${issuer.ownerAddress}`;
    lists.set(
      url,
      await issueStatusListCredential(agent, { issuer: issuer.did, url, purpose: "revocation", list: new Bitstring() }),
    );
  }
  log(`issuing ${POOL} credentials from ${ISSUERS} issuers`);
  const pool: string[] = [];
  for (let i = 0; i < POOL; i++) {
    const issuer = issuers[i % ISSUERS]!;
    pool.push(
      await issueCredential(agent, {
        issuer: issuer.did,
        type: CredentialType.HealthInsurance,
        subject: { id: patient.did, insurerName: "Acme Health", memberId: `M-${i}`, planName: "Gold" },
        validUntil: new Date(Date.now() + 86400_000),
        status: [statusEntry(`https://gateway.example/status/${issuer.ownerAddress}`, "revocation", i)],
      }),
    );
  }

  const verifier = new CredentialVerifier({
    resolver: agent.resolver,
    trust: new IssuerTrust({
      registry: new TrustRegistryClient(deployment.contracts.TrustRegistry, provider),
      didPrefix: ethrDidPrefix(network),
      cacheTtlMs: 3_600_000,
    }),
    statusListFetcher: async (url) => lists.get(url)!,
    statusListTtlMs: 3_600_000,
  });

  // Public keys and raw signatures for the primitive baselines (recovered once, like any key cache would).
  const parsed = pool.map((jwt) => {
    const [h, p, s] = jwt.split(".") as [string, string, string];
    const signature = Buffer.from(s, "base64url");
    const data = Buffer.from(`${h}.${p}`);
    const digest = sha256(data);
    const issuerAddress = (JSON.parse(Buffer.from(p, "base64url").toString()) as { iss: string }).iss
      .split(":")
      .pop()!
      .toLowerCase();
    let publicKey: Uint8Array | undefined;
    for (const recovery of [0, 1]) {
      const candidate = secp256k1.recoverPublicKey(new Uint8Array([recovery, ...signature]), digest, {
        prehash: false,
      });
      const point = secp256k1.Point.fromBytes(candidate).toBytes(false);
      const address = `0x${Buffer.from(keccak_256(point.subarray(1)))
        .subarray(12)
        .toString("hex")}`;
      if (address === issuerAddress) publicKey = point;
    }
    if (!publicKey) throw new Error("could not recover an issuer key");
    const keyObject = createPublicKey({
      key: {
        kty: "EC",
        crv: "secp256k1",
        x: Buffer.from(publicKey.subarray(1, 33)).toString("base64url"),
        y: Buffer.from(publicKey.subarray(33)).toString("base64url"),
      },
      format: "jwk",
    });
    return { data, signature, digest, publicKey, keyObject };
  });

  // Same answers first: every credential verifies with each method.
  for (const [i, jwt] of pool.entries()) {
    const ours = await verifier.verifyCredential(jwt);
    if (!ours.ok) throw new Error(`our verifier refused credential ${i}: ${JSON.stringify(ours.checks)}`);
    const veramo = await veramoOf(agent).verifyCredential({ credential: jwt });
    if (!veramo.verified) throw new Error(`Veramo refused credential ${i}`);
  }

  const { rates: rounds, cpuRates } = await measureInterleaved({
    ours: async (i) => {
      if (!(await verifier.verifyCredential(pool[i]!)).ok) throw new Error("verification failed");
    },
    native: (i) => {
      const c = parsed[i]!;
      if (!nodeVerify("sha256", c.data, { key: c.keyObject, dsaEncoding: "ieee-p1363" }, c.signature))
        throw new Error("native verify failed");
    },
    noble: (i) => {
      const c = parsed[i]!;
      if (!secp256k1.verify(c.signature, c.digest, c.publicKey, { prehash: false }))
        throw new Error("noble verify failed");
    },
    veramo: async (i) => {
      if (!(await veramoOf(agent!).verifyCredential({ credential: pool[i]! })).verified)
        throw new Error("veramo failed");
    },
  });
  const perRound = (values: number[]) => values.map(Math.round);
  const ratios = (over: number[]) => rounds.ours.map((ours, round) => ours / over[round]!);
  const cpuRatios = cpuRates.ours.map((ours, round) => ours / cpuRates.native[round]!);
  const ratioVsNative = Number(median(ratios(rounds.native)).toFixed(3));
  const ratioVsVeramo = Number(median(ratios(rounds.veramo)).toFixed(2));
  log(
    `ours / native per round: ${ratios(rounds.native)
      .map((r) => r.toFixed(3))
      .join(", ")}`,
  );

  process.stdout.write(
    `${JSON.stringify({
      vc_verify_per_s: Math.round(median(rounds.ours)),
      native_secp256k1_verify_per_s: Math.round(median(rounds.native)),
      noble_secp256k1_verify_per_s: Math.round(median(rounds.noble)),
      veramo_verify_per_s: Math.round(median(rounds.veramo)),
      ratio_vs_native: ratioVsNative,
      ratio_vs_veramo: ratioVsVeramo,
      targets_met: ratioVsNative >= 0.8 && ratioVsVeramo >= 3,
      credentials: POOL,
      issuers: ISSUERS,
      rounds: ROUNDS,
      round_ms: ROUND_MS,
      cpu_ratio_vs_native: Number(median(cpuRatios).toFixed(3)),
      per_round: {
        vc_verify_per_s: perRound(rounds.ours),
        native_secp256k1_verify_per_s: perRound(rounds.native),
        noble_secp256k1_verify_per_s: perRound(rounds.noble),
        veramo_verify_per_s: perRound(rounds.veramo),
        ratio_vs_native: ratios(rounds.native).map((r) => Number(r.toFixed(3))),
        cpu_ratio_vs_native: cpuRatios.map((r) => Number(r.toFixed(3))),
      },
    })}\n`,
  );
} finally {
  await agent?.close();
  provider.destroy();
  await chain.stop();
}
