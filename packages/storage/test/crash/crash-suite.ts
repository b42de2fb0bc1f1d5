// The crash-consistency suite (issue 15, "Tests and numbers"), shared by test/crash-consistency.test.ts (short)
// and `npm run test:crash -- --iterations N` (long):
// 1. Kill trials: writer.ts adds records in a child process and is killed with SIGKILL at a random moment
//    (while opening, while checking, mid-add, mid-file); the next child, a fresh process, first checks that every
//    acknowledged record decrypts exactly, that the manifest has no dangling entry, then adds again.
// 2. Damage trials on copies of stores: single-byte flips (segment header, record header, anywhere) in the store
//    the kills left, checked through PatientRecords; truncations and flips of a multi-segment PackBlockstore,
//    checked block by block. A store must open, serve every intact record or block exactly, report damage as
//    typed errors (BlockCorruptError for a flipped byte, at most one block per flip), and take new writes.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, open, readdir, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CID } from "multiformats/cid";
import { x25519KeyPairFromSecretKey } from "@hygeia/crypto";
import {
  BlockCorruptError,
  FileManifestHead,
  HeliaContentStore,
  HygeiaStorageError,
  PackBlockstore,
  PatientRecords,
} from "../../src/index.ts";
import { ALIGNMENT, SEGMENT_HEADER_PROBE, parseSegmentHeader } from "../../src/helia/pack-format.ts";
import { scanSegmentV3 } from "../../src/helia/pack-scan.ts";
import { cidOf } from "../helpers/blocks.ts";
import { flipByte, readBlock } from "../helpers/pack.ts";
import { readAcks, sha256 } from "./acks.ts";

export interface CrashSuiteOptions {
  /** SIGKILLs of the writer. */
  kills: number;
  /** Damage trials (half on the record store, half on a multi-segment block store). */
  damageTrials: number;
  seed?: number;
  /** Keep the work directory (printed in the summary) instead of removing it. */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface CrashSuiteSummary {
  kills: number;
  killedIn: Record<string, number>;
  acked: number;
  manifestEntries: number;
  damageTrials: number;
  flips: number;
  truncations: number;
  damagedBlocksReported: number;
  failures: string[];
  seconds: number;
  workDir?: string;
}

const WRITER = fileURLToPath(new URL("./writer.ts", import.meta.url));

export async function runCrashSuite(options: CrashSuiteOptions): Promise<CrashSuiteSummary> {
  const started = performance.now();
  let seed = (options.seed ?? Date.now()) >>> 0 || 1;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const log = options.log ?? (() => undefined);
  const workDir = await mkdtemp(join(tmpdir(), "hygeia-crash-"));
  const dataDir = join(workDir, "node");
  const ackFile = join(workDir, "acks.jsonl");
  const secretKeyHex = Buffer.from(x25519KeyPairFromSecretKey(randomBytes(32)).secretKey).toString("hex");
  const summary: CrashSuiteSummary = {
    kills: 0,
    killedIn: {},
    acked: 0,
    manifestEntries: 0,
    damageTrials: 0,
    flips: 0,
    truncations: 0,
    damagedBlocksReported: 0,
    failures: [],
    seconds: 0,
  };
  try {
    // 1. Kill trials.
    for (let i = 0; i < options.kills; i++) {
      const run = startWriter(dataDir, ackFile, secretKeyHex, Math.floor(random() * 2 ** 31), "write");
      // A third killed while opening the store or checking it, the rest while adding (a record or a file).
      const early = random() < 1 / 3;
      await Promise.race([early ? run.reached("open") : run.reached("add", "file"), run.exited]);
      await Promise.race([sleep(random() * (early ? 600 : 900)), run.exited]);
      const where = run.phase;
      const outcome = await run.kill();
      if (outcome.failure !== undefined) {
        summary.failures.push(`kill ${i}: the fresh process's check failed: ${outcome.failure}`);
        break;
      }
      summary.kills++;
      summary.killedIn[where] = (summary.killedIn[where] ?? 0) + 1;
      log(`kill ${i + 1}/${options.kills} in ${where}`);
    }
    const final = startWriter(dataDir, ackFile, secretKeyHex, 1, "check");
    const last = await final.done();
    if (last.failure !== undefined) summary.failures.push(`final check: ${last.failure}`);
    else {
      const ok = JSON.parse(last.ok ?? "{}") as { acked?: number; entries?: number };
      summary.acked = ok.acked ?? 0;
      summary.manifestEntries = ok.entries ?? 0;
    }

    // 2. Damage trials.
    const recordTrials = Math.ceil(options.damageTrials / 2);
    for (let i = 0; i < recordTrials && summary.failures.length === 0; i++) {
      const copy = join(workDir, `damaged-${i}`);
      await cp(dataDir, copy, { recursive: true });
      const failure = await recordStoreFlipTrial(copy, ackFile, secretKeyHex, random, summary);
      if (failure !== undefined) summary.failures.push(`record store flip ${i}: ${failure}`);
      await rm(copy, { recursive: true, force: true });
      summary.damageTrials++;
      log(`damage trial ${summary.damageTrials}/${options.damageTrials}`);
    }
    const blockDir = join(workDir, "blocks");
    const blocks = await buildBlockStore(blockDir);
    for (let i = recordTrials; i < options.damageTrials && summary.failures.length === 0; i++) {
      const copy = join(workDir, `damaged-${i}`);
      await cp(blockDir, copy, { recursive: true });
      const failure = await blockStoreTrial(copy, blocks, random, summary);
      if (failure !== undefined) summary.failures.push(`block store trial ${i}: ${failure}`);
      await rm(copy, { recursive: true, force: true });
      summary.damageTrials++;
      log(`damage trial ${summary.damageTrials}/${options.damageTrials}`);
    }
  } finally {
    summary.seconds = Math.round((performance.now() - started) / 100) / 10;
    if (options.keep === true) summary.workDir = workDir;
    else await rm(workDir, { recursive: true, force: true });
  }
  return summary;
}

interface WriterRun {
  phase: string;
  exited: Promise<void>;
  reached(...phases: string[]): Promise<void>;
  kill(): Promise<{ failure?: string }>;
  done(): Promise<{ failure?: string; ok?: string }>;
}

function startWriter(dataDir: string, ackFile: string, key: string, seed: number, mode: string): WriterRun {
  const child = spawn(process.execPath, [WRITER, dataDir, ackFile, key, String(seed), mode], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: Array<{ phases: string[]; resolve: () => void }> = [];
  const run: WriterRun = {
    phase: "start",
    exited: new Promise((resolve) => child.once("exit", () => resolve())),
    reached: (...phases) =>
      phases.includes(run.phase) ? Promise.resolve() : new Promise((resolve) => waiters.push({ phases, resolve })),
    kill: async () => {
      const alreadyExited = child.exitCode !== null || child.signalCode !== null;
      if (!alreadyExited) child.kill("SIGKILL");
      await run.exited;
      return { failure: failureOf() };
    },
    done: async () => {
      await run.exited;
      const ok = /^ok (.*)$/m.exec(stdout)?.[1];
      return { failure: child.exitCode === 0 ? undefined : (failureOf() ?? `exit ${child.exitCode}: ${stderr}`), ok };
    },
  };
  const failureOf = (): string | undefined => {
    const fail = /^fail (.*)$/m.exec(stdout)?.[1];
    if (fail !== undefined) return fail;
    // Exited by itself (not killed) with an error before printing one: an uncaught failure at open.
    if (child.signalCode === null && child.exitCode !== null && child.exitCode !== 0) {
      return `exit ${child.exitCode}: ${stderr.slice(-2000)}`;
    }
    return undefined;
  };
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    stdout += text;
    for (const [, name] of text.matchAll(/^phase (\w+)$/gm)) {
      run.phase = name!;
      for (const waiter of waiters.splice(0)) {
        if (waiter.phases.includes(name!)) waiter.resolve();
        else waiters.push(waiter);
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => void (stderr += text));
  return run;
}

/** Flips one byte of the record store's (only) segment and checks every acknowledged record. */
async function recordStoreFlipTrial(
  dataDir: string,
  ackFile: string,
  key: string,
  random: () => number,
  summary: CrashSuiteSummary,
): Promise<string | undefined> {
  const packs = join(dataDir, "packs");
  const names = (await readdir(packs)).filter((name) => name.endsWith(".pack")).sort();
  const segment = join(packs, names[Math.floor(random() * names.length)]!);
  const size = (await stat(segment)).size;
  const target = random();
  let offset: number;
  if (target < 0.25)
    offset = Math.floor(random() * ALIGNMENT); // the segment header
  else if (target < 0.5) {
    const handle = await open(segment, "r");
    const { records } = await scanSegmentV3(handle, size, ALIGNMENT, ALIGNMENT);
    await handle.close();
    const record = records[Math.floor(random() * records.length)];
    offset = record === undefined ? ALIGNMENT : record.offset + Math.floor(random() * record.header.headerLength);
  } else offset = Math.floor(random() * size);
  await flipRandomBits(segment, offset);
  summary.flips++;

  const store = await HeliaContentStore.create({
    dataDir,
    listen: [],
    timeoutMs: 2_000,
    onBlockstoreDamage: () => undefined,
  });
  try {
    const check = await store.checkBlocks({ data: true });
    const damagedCids = new Set(check.damage.flatMap(({ cid }) => (cid === undefined ? [] : [cid])));
    summary.damagedBlocksReported += damagedCids.size;
    if (damagedCids.size > 1) return `one flipped byte at ${offset} damaged ${damagedCids.size} blocks`;
    const records = new PatientRecords({
      store,
      head: new FileManifestHead(join(dataDir, "head.json")),
      keyPair: x25519KeyPairFromSecretKey(new Uint8Array(Buffer.from(key, "hex"))),
    });
    for (const ack of await readAcks(ackFile)) {
      try {
        const bytes = await records.readRecord(ack.cid);
        if (sha256(bytes) !== ack.sha256) return `record ${ack.cid} read back other bytes after a flip at ${offset}`;
      } catch (error) {
        // Only the flipped block may fail, and only as BlockCorruptError naming it.
        if (!(error instanceof BlockCorruptError) || !damagedCids.has(error.cid ?? "")) {
          return `record ${ack.cid} failed after a flip at ${offset} (${check.damage.length} damage reported): ${describe(error)}`;
        }
      }
    }
    await records.addRecord(randomBytes(1000), {
      kind: "file",
      type: "application/octet-stream",
      category: "crash-test",
      created: new Date().toISOString(),
    });
  } catch (error) {
    return `after a flip at ${offset}: ${describe(error)}`;
  } finally {
    await store.close();
  }
  return undefined;
}

interface StoredBlock {
  cid: CID;
  sha256: string;
  segment: string;
  end: number;
}

/** A PackBlockstore of several small segments, and where each block's record ends. */
async function buildBlockStore(dir: string): Promise<StoredBlock[]> {
  const store = new PackBlockstore(dir, { segmentSize: 256 * 1024 });
  await store.open();
  try {
    for (let i = 0; i < 120; i++) {
      const bytes = randomBytes(1 + ((i * 7919) % 30_000));
      const cid = cidOf(bytes);
      await store.put(cid, bytes);
    }
  } finally {
    await store.close();
  }
  const blocks: StoredBlock[] = [];
  for (const name of (await readdir(dir)).filter((file) => file.endsWith(".pack"))) {
    const handle = await open(join(dir, name), "r");
    const { records } = await scanSegmentV3(handle, (await handle.stat()).size, ALIGNMENT, ALIGNMENT);
    for (const record of records) {
      const data = Buffer.alloc(record.length - record.header.headerLength);
      await handle.read(data, 0, data.length, record.offset + record.header.headerLength);
      blocks.push({ cid: record.cid, sha256: sha256(data), segment: name, end: record.offset + record.length });
    }
    await handle.close();
  }
  return blocks;
}

/** Truncates or flips one segment of a block store copy and checks every block. */
async function blockStoreTrial(
  dir: string,
  blocks: readonly StoredBlock[],
  random: () => number,
  summary: CrashSuiteSummary,
): Promise<string | undefined> {
  const names = (await readdir(dir)).filter((name) => name.endsWith(".pack")).sort();
  const name = names[Math.floor(random() * names.length)]!;
  const path = join(dir, name);
  const size = (await stat(path)).size;
  const truncation = random() < 0.5;
  const at = Math.floor(random() * size);
  if (truncation) {
    await truncate(path, at);
    summary.truncations++;
  } else {
    await flipRandomBits(path, at);
    summary.flips++;
  }
  const what = `${truncation ? "truncation" : "flip"} of ${name} at ${at}`;
  const store = new PackBlockstore(dir, { segmentSize: 256 * 1024 });
  try {
    await store.open();
    let failed = 0;
    for (const block of blocks) {
      const intact = block.segment !== name || (truncation ? block.end <= at : true);
      try {
        if (sha256(await readBlock(store, block.cid)) !== block.sha256)
          return `${what}: block ${block.cid} read other bytes`;
      } catch (error) {
        failed++;
        const allowed =
          error instanceof BlockCorruptError || (error instanceof Error && error.name === "NotFoundError");
        if (!allowed) return `${what}: block ${block.cid}: ${describe(error)}`;
        if (intact && truncation) return `${what}: intact block ${block.cid} before the cut lost: ${describe(error)}`;
      }
    }
    if (!truncation && failed > 1) return `${what}: ${failed} blocks failed, at most one may`;
    const fresh = randomBytes(5000);
    const cid = cidOf(fresh);
    await store.put(cid, fresh);
    const head = Buffer.alloc(SEGMENT_HEADER_PROBE);
    const handle = await open(path, "r");
    await handle.read(head, 0, head.length, 0);
    await handle.close();
    if (parseSegmentHeader(head) === undefined && !store.damage.some(({ kind }) => kind === "segment-header")) {
      return `${what}: a damaged segment header was not reported`;
    }
  } catch (error) {
    return `${what}: ${describe(error)}`;
  } finally {
    await store.close();
  }
  return undefined;
}

/** XORs the byte at `offset` with a random non-zero mask. */
const flipRandomBits = (path: string, offset: number): Promise<void> =>
  flipByte(path, offset, 1 + Math.floor(Math.random() * 255));

function describe(error: unknown): string {
  if (error instanceof HygeiaStorageError) return `${error.name} (${error.code}): ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
