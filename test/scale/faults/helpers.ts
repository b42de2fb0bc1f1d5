// What the fault tests share: plain HTTP with the whole answer (status, headers, body), problem checks, a patient
// with records and a clinic with consent on them, the patient's events of one gateway's log, the database's rows
// and the IPFS node's pins, and a process's peak resident set.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { expect } from "chai";
import { hexlify, type HDNodeWallet } from "ethers";
import { CID } from "multiformats/cid";
import pg from "pg";
import { ConsentRegistryClient, Purpose, TransactionSender } from "@hygeia/chain";
import { generateDataKey, generateX25519KeyPair, wrapKey } from "@hygeia/crypto";
import { http, signIn, type HttpAnswer } from "../../../packages/gateway/bench/gateway-client.ts";
import { startCluster, type Cluster, type ClusterOptions } from "../support/cluster.ts";

export { signIn };

/** One request (bench/gateway-client.ts's): `call(base, method, path, { token, json, body, signal })`. */
export const call = http;
export type Answer = HttpAnswer;

export function expectOk(answer: Answer, status: number, what: string): Record<string, unknown> {
  expect(answer.status, `${what}: ${answer.text.slice(0, 500)}`).to.equal(status);
  return answer.json as Record<string, unknown>;
}

/**
 * A clean refusal: an RFC 9457 problem (application/problem+json, a urn:hygeia:problem: type, the given status)
 * with no stack trace or internal detail in the body. Returns the problem.
 */
export function expectProblem(answer: Answer, status: number, what: string): Record<string, unknown> {
  const context = `${what}: ${answer.status} ${answer.text.slice(0, 800)}`;
  expect(answer.status, context).to.equal(status);
  expect(answer.headers.get("content-type") ?? "", context).to.match(/^application\/problem\+json/);
  const problem = answer.json as Record<string, unknown>;
  expect(problem, context).to.be.an("object");
  expect(String(problem.type), context).to.match(/^urn:hygeia:problem:/);
  expect(problem.status, context).to.equal(status);
  expect(problem.code, context).to.be.a("string");
  expect(answer.text, context).not.to.match(/\n\s+at |"stack"|node_modules|\.ts:\d+/);
  return problem;
}

export const keyPath = (patient: string, cid: string) => `/v1/patients/${patient}/records/${cid}/key`;
export const TREATMENT = { purpose: "Treatment" };

/** The X25519 public keys records are wrapped to (the patient's, the clinic's): the tests never unwrap. */
const RECIPIENT_KEYS = [generateX25519KeyPair().publicKey, generateX25519KeyPair().publicKey] as const;

/** A well-formed key wrap for `cid` (to the patient's test key): a registration is refused for what it names, not for its form. */
export function sampleWrap(cid: string): string {
  return Buffer.from(wrapKey(generateDataKey(), RECIPIENT_KEYS[0], `hygeia:record:${cid}`)).toString("base64url");
}

export interface TestRecord {
  cid: string;
  scopeId: string;
}

/** Uploads random ciphertext and registers it with wraps to the patient and the clinic, under a fresh scope id. */
export async function addRecord(
  base: string,
  token: string,
  patient: string,
  clinic: string,
  size = 4096,
): Promise<TestRecord> {
  const upload = expectOk(await call(base, "PUT", "/v1/uploads", { token, body: randomBytes(size) }), 201, "upload");
  const cid = String(upload.cid);
  const scopeId = hexlify(randomBytes(32));
  const dek = generateDataKey();
  const context = `hygeia:record:${cid}`;
  const wrap = (recipient: string) =>
    Buffer.from(wrapKey(dek, RECIPIENT_KEYS[recipient === patient ? 0 : 1], context)).toString("base64url");
  const answer = await call(base, "POST", "/v1/records", {
    token,
    json: {
      cid,
      scopeIds: { [patient]: [scopeId] },
      wraps: [
        { recipient: patient, wrap: wrap(patient) },
        { recipient: clinic, wrap: wrap(clinic) },
      ],
    },
  });
  expectOk(answer, 201, "POST /v1/records");
  return { cid, scopeId };
}

export interface Parties {
  patient: HDNodeWallet;
  clinic: HDNodeWallet;
  patientAddress: string;
  clinicAddress: string;
  patientToken: string;
  clinicToken: string;
  records: TestRecord[];
}

/**
 * alice uploads `count` records through the balancer and grants the clinic Treatment consent on all of them; the
 * clinic signs in; resolves once every gateway releases the first record's key (its index has the grant).
 */
export async function patientWithRecords(cluster: Cluster, count: number): Promise<Parties> {
  const patient = cluster.accounts.alice;
  const clinic = cluster.accounts.clinic;
  const patientAddress = patient.address.toLowerCase();
  const clinicAddress = clinic.address.toLowerCase();
  const patientToken = await signIn(cluster.url, patient);
  const records: TestRecord[] = [];
  for (let i = 0; i < count; i++)
    records.push(await addRecord(cluster.url, patientToken, patientAddress, clinicAddress));
  const registry = new ConsentRegistryClient(
    cluster.local.deployment.contracts.ConsentRegistry,
    new TransactionSender(patient),
  );
  const expiry = Math.floor(Date.now() / 1000) + 86_400;
  await registry.grantBatch(
    records.map((record) => ({
      grantee: clinicAddress,
      scope: record.scopeId,
      purpose: Purpose.Treatment,
      expiry,
    })),
  );
  const clinicToken = await signIn(cluster.url, clinic);
  for (const gateway of cluster.gateways)
    await waitFor(`gateway ${gateway.index} releases the first record`, 20_000, async () => {
      const answer = await call(gateway.url, "POST", keyPath(patientAddress, records[0]!.cid), {
        token: clinicToken,
        json: TREATMENT,
      });
      return answer.status === 200;
    });
  return { patient, clinic, patientAddress, clinicAddress, patientToken, clinicToken, records };
}

/** Polls `check` every 200 ms until it is true; throws after `timeoutMs` naming `what`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (last error: ${last.message})` : ""}`,
      );
    await sleep(200);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ServedEvent {
  index: number;
  seq: number;
  event: string;
  inclusion: unknown;
}

/** Every event of the session's patient in the log `origin` (all pages), with the event parsed. */
export async function patientEvents(
  base: string,
  token: string,
  origin: string,
): Promise<(ServedEvent & { parsed: Record<string, unknown> })[]> {
  const events: (ServedEvent & { parsed: Record<string, unknown> })[] = [];
  let after: string | null = null;
  for (let first = true; first || after !== null; first = false) {
    const page = expectOk(
      await call(
        base,
        "GET",
        `/v1/audit/events?limit=100&log=${encodeURIComponent(origin)}${after ? `&after=${after}` : ""}`,
        { token },
      ),
      200,
      `GET /v1/audit/events?log=${origin}`,
    ) as { events: ServedEvent[]; next: string | null };
    for (const event of page.events)
      events.push({ ...event, parsed: JSON.parse(event.event) as Record<string, unknown> });
    after = page.next;
  }
  return events;
}

export interface CheckpointsAnswer {
  origin: string;
  checkpoints: {
    size: number;
    anchor: { txHash: string; blockNumber: number; firstIndex: number; count: number } | null;
  }[];
  next: string | null;
}

/** The size of the log `origin` covered by its latest anchored checkpoint (0: none), read over HTTP. */
export async function anchoredSize(base: string, origin: string): Promise<number> {
  let best = 0;
  let after: string | null = null;
  for (let first = true; first || after !== null; first = false) {
    const page = expectOk(
      await call(
        base,
        "GET",
        `/v1/audit/checkpoints?limit=100&log=${encodeURIComponent(origin)}${after ? `&after=${after}` : ""}`,
      ),
      200,
      `GET /v1/audit/checkpoints?log=${origin}`,
    ) as unknown as CheckpointsAnswer;
    for (const checkpoint of page.checkpoints)
      if (checkpoint.anchor) best = Math.max(best, checkpoint.anchor.firstIndex + checkpoint.anchor.count);
    after = page.next === null || page.next === undefined ? null : String(page.next);
  }
  return best;
}

/** A client of the shared database (the caller ends it). */
export async function database(cluster: Cluster): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: cluster.databaseUrl });
  await client.connect();
  return client;
}

/** Whether the IPFS node holds `cid` pinned (recursively): content a record or manifest may point at. */
export async function pinned(ipfsUrl: string, cid: string): Promise<boolean> {
  const response = await fetch(`${ipfsUrl}/api/v0/pin/ls?arg=${encodeURIComponent(cid)}&type=recursive`, {
    method: "POST",
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) return false;
  // js-ipfs names CIDv1 in base58btc (zb2…), the gateway in base32 (bafk…): compare parsed CIDs.
  const keys = Object.keys((JSON.parse(text) as { Keys?: Record<string, unknown> }).Keys ?? {});
  const wanted = CID.parse(cid);
  return keys.some((key) => CID.parse(key).equals(wanted));
}

/**
 * The store's invariants after a crash: every record has wraps, and every record, manifest pointer and staged upload
 * names content the IPFS node holds. Returns what is wrong (empty: nothing).
 */
export async function storeDamage(cluster: Cluster): Promise<string[]> {
  const client = await database(cluster);
  const damage: string[] = [];
  try {
    const unwrapped = await client.query<{ cid: string }>(
      "SELECT cid FROM records r WHERE NOT EXISTS (SELECT 1 FROM wraps w WHERE w.cid = r.cid)",
    );
    for (const row of unwrapped.rows) damage.push(`record ${row.cid} has no wraps`);
    const orphanWraps = await client.query<{ cid: string }>(
      "SELECT DISTINCT cid FROM wraps w WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.cid = w.cid)",
    );
    for (const row of orphanWraps.rows) damage.push(`wraps for ${row.cid} without a record`);
    const pointing = [
      ...(await client.query<{ cid: string; what: string }>("SELECT cid, 'record' AS what FROM records")).rows,
      ...(await client.query<{ cid: string; what: string }>("SELECT cid, 'manifest' AS what FROM manifest_pointers"))
        .rows,
      ...(await client.query<{ cid: string; what: string }>("SELECT cid, 'staged upload' AS what FROM staged_uploads"))
        .rows,
    ];
    for (const row of pointing)
      if (!(await pinned(cluster.ipfs.url, row.cid))) damage.push(`${row.what} ${row.cid} is not pinned in IPFS`);
  } finally {
    await client.end();
  }
  return damage;
}

/** VmHWM (peak resident set) of a process in MiB; undefined without /proc or when it is gone. */
export async function peakRssMb(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The hooks of a fault suite, registered in the calling `describe`: a cluster started before its tests with a patient
 * holding `records` records (parties); after them, the suite's own leftovers (`beforeClose`: what would hold the
 * gateways' close open; `afterClose`: what they still use while closing), the cluster's failure report printed and
 * its logs kept when anything failed, the cluster closed. The returned getters hold once `before` ran.
 */
export function useCluster(
  options: ClusterOptions,
  records: number,
  cleanup: { beforeClose?: () => Promise<void> | void; afterClose?: () => Promise<void> | void } = {},
): { readonly cluster: Cluster; readonly parties: Parties } {
  let cluster: Cluster | undefined;
  let parties: Parties | undefined;
  let failed = false;
  before(async function () {
    this.timeout(300_000);
    cluster = await startCluster(options);
    try {
      parties = await patientWithRecords(cluster, records);
    } catch (error) {
      failed = true;
      if (error instanceof Error) error.message += `\n${await cluster.failureReport()}`;
      throw error;
    }
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });
  after(async function () {
    this.timeout(120_000);
    await cleanup.beforeClose?.();
    if (failed && cluster) process.stderr.write(`${await cluster.failureReport(40)}\n`);
    await cluster?.close({ keepLogs: failed || process.env.HYGEIA_SCALE_KEEP_LOGS === "1" });
    await cleanup.afterClose?.();
  });
  return {
    get cluster(): Cluster {
      if (!cluster) throw new Error("the cluster is not started (before() failed)");
      return cluster;
    },
    get parties(): Parties {
      if (!parties) throw new Error("the parties are not set up (before() failed)");
      return parties;
    },
  };
}
