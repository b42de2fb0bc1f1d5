// Child process of the crash suite: node writer.ts <dataDir> <ackFile> <secretKeyHex> <seed> <write|check>
// Opens the store through the public API, checks everything acknowledged so far (a fresh process after the
// previous one was killed), then adds records: "write" until it is killed (SIGKILL at a random moment), "check"
// one record and exits 0. Prints its phase on stdout ("phase open|check|add|file") so the parent knows where
// each kill landed, and "ok <json>" at the end of a check run; a failed check prints "fail <message>", exits 1.
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { x25519KeyPairFromSecretKey } from "@hygeia/crypto";
import { FileManifestHead, HeliaContentStore, PatientRecords } from "../../src/index.ts";
import { appendAck, readAcks, sha256, verifyRecords } from "./acks.ts";

const [dataDir, ackFile, secretKeyHex, seedText, mode] = process.argv.slice(2);
if (dataDir === undefined || ackFile === undefined || secretKeyHex === undefined || mode === undefined) {
  throw new Error("usage: writer.ts <dataDir> <ackFile> <secretKeyHex> <seed> <write|check>");
}
let seed = Number(seedText) >>> 0 || 1;
const random = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const phase = (name: string): void => void process.stdout.write(`phase ${name}\n`);
const metadata = () =>
  ({
    kind: "file",
    type: "application/octet-stream",
    category: "crash-test",
    created: new Date().toISOString(),
  }) as const;

phase("open");
const store = await HeliaContentStore.create({ dataDir, listen: [], timeoutMs: 10_000, onBlockstoreDamage: () => {} });
const records = new PatientRecords({
  store,
  head: new FileManifestHead(join(dataDir, "head.json")),
  keyPair: x25519KeyPairFromSecretKey(new Uint8Array(Buffer.from(secretKeyHex, "hex"))),
});
try {
  phase("check");
  const acks = await readAcks(ackFile);
  const { entries } = await verifyRecords(records, acks);
  for (let added = 0; mode === "write" || added < 1; added++) {
    // Mostly small records, every fourth a multi-MiB file read from disk (a kill lands mid-file).
    const large = random() < 0.25;
    const size = large ? 1024 * 1024 + Math.floor(random() * 3 * 1024 * 1024) : 1 + Math.floor(random() * 200_000);
    const plaintext = randomBytes(size);
    let result;
    if (large) {
      const path = join(dataDir, `..`, `source-${process.pid}.bin`);
      await writeFile(path, plaintext);
      phase("file");
      result = await records.addFile(path, metadata());
      await rm(path, { force: true });
    } else {
      phase("add");
      result = await records.addRecord(plaintext, metadata());
    }
    await appendAck(ackFile, { cid: result.entry.cid.toString(), sha256: sha256(plaintext), size });
  }
  process.stdout.write(`ok ${JSON.stringify({ acked: (await readAcks(ackFile)).length, entries })}\n`);
} catch (error) {
  const cause =
    error instanceof Error && error.cause instanceof Error
      ? ` (cause: ${error.cause.name}: ${error.cause.message})`
      : "";
  process.stdout.write(`fail ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}${cause}\n`);
  process.exitCode = 1;
} finally {
  await store.close();
}
