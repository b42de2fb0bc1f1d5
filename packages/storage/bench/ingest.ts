// Ingest benchmark: node packages/storage/bench/ingest.ts [--size BYTES] [--dir DIR] [--crypto-worker]
//                   [--blockstore pack|flatfs]
// Prints ONE JSON line (MB = 10^6 bytes of plaintext):
//   encrypt_mb_s        file (fs.createReadStream) -> encrypt -> /dev/null
//   ipfs_add_mb_s       already-encrypted file (fs.createReadStream) -> Helia add (UnixFS, CIDv1, raw leaves) + pin
//   ingest_mb_s         end to end: file -> encrypt -> add -> pin -> manifest (PatientRecords.addFile)
//   ingest_stream_mb_s  the same from an fs.createReadStream (PatientRecords.addRecord, any byte stream)
//   retrieve_mb_s       get -> decrypt -> verify (PatientRecords.openRecord) -> /dev/null
//   peak_rss_mb         peak resident set size of this process (all of the above)
//   libsodium_raw_mb_s  raw crypto_secretstream push over in-memory chunks, libsodium (WebAssembly): the
//                       reference ceiling the targets are stated against
//   native_raw_mb_s     the same through the implementation records use (secretstream: its name)
// Both raw figures are measured in a child process, so their garbage does not count towards peak_rss_mb.
// --crypto-worker runs ingest / retrieve with RecordStoreOptions.cryptoWorker (the other stages are unchanged).
// The test file and the node's store go to --dir, by default the repository's .hygeia/ (where `npm start` keeps
// its data), and are removed afterwards. Not the OS temp dir: on the VMs here /tmp writes cost ~10x more kernel
// time than the disk the data dir lives on (dd of 1 GiB: ~2-3 s in /tmp vs ~0.2 s in the work tree).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  DEFAULT_CHUNK_SIZE,
  SecretstreamTag,
  defaultSecretstream,
  encryptChunks,
  generateDataKey,
  generateX25519KeyPair,
  libsodiumSecretstream,
} from "@hygeia/crypto";
import type { Secretstream } from "@hygeia/crypto";
import { FileManifestHead, HeliaContentStore, PatientRecords } from "../src/index.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: String(1024 * 1024 * 1024) },
    dir: { type: "string" },
    "raw-only": { type: "boolean", default: false },
    "crypto-worker": { type: "boolean", default: false },
    blockstore: { type: "string", default: "pack" },
  },
});
const size = Number(values.size);
if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`--size must be a positive integer, got ${values.size}`);
const blockstore = values.blockstore;
if (blockstore !== "pack" && blockstore !== "flatfs") throw new Error(`--blockstore must be pack or flatfs`);

const PIECE = 1024 * 1024;

const mbPerSecond = (bytes: number, milliseconds: number): number =>
  Math.round((bytes / 1e6 / (milliseconds / 1000)) * 10) / 10;

async function timed(run: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

function rawPush(secretstream: Secretstream, bytes: number): void {
  const chunk = randomBytes(DEFAULT_CHUNK_SIZE);
  const empty = new Uint8Array(0);
  const { state } = secretstream.initPush(generateDataKey());
  for (let i = 0; i < Math.floor(bytes / DEFAULT_CHUNK_SIZE); i++) state.push(chunk, empty, SecretstreamTag.Message);
  state.push(chunk.subarray(0, bytes % DEFAULT_CHUNK_SIZE), empty, SecretstreamTag.Final);
}

if (values["raw-only"]) {
  const rates = [];
  for (const secretstream of [libsodiumSecretstream, defaultSecretstream]) {
    rawPush(secretstream, Math.min(size, 64 * 1024 * 1024)); // warm-up: WebAssembly tier-up, JIT
    rates.push(mbPerSecond(size, await timed(() => rawPush(secretstream, size))));
  }
  console.log(JSON.stringify(rates));
  process.exit(0);
}

async function drain(source: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of source) bytes += chunk.byteLength;
  return bytes;
}

const readFile = (path: string): AsyncIterable<Uint8Array> => createReadStream(path, { highWaterMark: PIECE });

async function writeTestFile(path: string): Promise<void> {
  // node:crypto, not libsodium: a 1 MiB libsodium buffer grows its WebAssembly memory by ≈ 150 MB for good,
  // which would be counted in peak_rss_mb although the pipeline never needs it.
  const piece = randomBytes(PIECE);
  const handle = await open(path, "w");
  try {
    for (let written = 0; written < size; written += PIECE) {
      piece[0] = (written / PIECE) & 0xff; // distinct pieces: no accidental deduplication
      await handle.write(piece, 0, Math.min(PIECE, size - written));
    }
  } finally {
    await handle.close();
  }
}

const baseDir = values.dir ?? fileURLToPath(new URL("../../../.hygeia/", import.meta.url));
await mkdir(baseDir, { recursive: true });
const workDir = await mkdtemp(join(baseDir, "bench-ingest-"));
const store = await HeliaContentStore.create({
  dataDir: join(workDir, "ipfs"),
  listen: [],
  timeoutMs: 120_000,
  blockstore,
});
try {
  const plainPath = join(workDir, "plain.bin");
  const cipherPath = join(workDir, "cipher.bin");
  await writeTestFile(plainPath);
  await drain(encryptChunks(readFile(plainPath), generateDataKey())); // warm-up, and pages the file in

  const encryptMs = await timed(() => drain(encryptChunks(readFile(plainPath), generateDataKey())));

  await pipeline(encryptChunks(readFile(plainPath), generateDataKey()), createWriteStream(cipherPath));
  const addMs = await timed(() => store.put(readFile(cipherPath)));
  await rm(cipherPath);

  const records = new PatientRecords({
    store,
    head: new FileManifestHead(join(workDir, "head.json")),
    keyPair: generateX25519KeyPair(),
    cryptoWorker: values["crypto-worker"], // encrypt / decrypt on a worker thread (RecordStoreOptions)
  });
  const metadata = { kind: "file", type: "application/octet-stream", category: "benchmark" } as const;
  let added: Awaited<ReturnType<PatientRecords["addFile"]>> | undefined;
  const ingestMs = await timed(async () => {
    added = await records.addFile(plainPath, { ...metadata, created: new Date().toISOString() });
  });

  let retrieved = 0;
  const retrieveMs = await timed(async () => {
    retrieved = await drain(records.openRecord(added!.entry));
  });
  if (retrieved !== size) throw new Error(`retrieved ${retrieved} bytes, expected ${size}`);

  const ingestStreamMs = await timed(() =>
    records.addRecord(readFile(plainPath), { ...metadata, created: new Date().toISOString() }),
  );
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);

  const rawOutput = execFileSync(process.execPath, [
    fileURLToPath(import.meta.url),
    "--raw-only",
    "--size",
    String(size),
  ]);
  const [libsodiumRaw, nativeRaw] = JSON.parse(rawOutput.toString()) as [number, number];
  console.log(
    JSON.stringify({
      size_bytes: size,
      encrypt_mb_s: mbPerSecond(size, encryptMs),
      ipfs_add_mb_s: mbPerSecond(size, addMs),
      ingest_mb_s: mbPerSecond(size, ingestMs),
      ingest_stream_mb_s: mbPerSecond(size, ingestStreamMs),
      retrieve_mb_s: mbPerSecond(size, retrieveMs),
      peak_rss_mb: peakRssMb,
      libsodium_raw_mb_s: libsodiumRaw,
      native_raw_mb_s: nativeRaw,
      secretstream: defaultSecretstream.name,
    }),
  );
} finally {
  await store.close();
  await rm(workDir, { recursive: true, force: true });
}
