// Worker thread: runs @hygeia/crypto's encryptChunks / decryptChunks on bytes posted by the main thread,
// so encryption overlaps with hashing and disk I/O there (2 cores). The crypto itself is unchanged.
import { parentPort, workerData } from "node:worker_threads";
import { decryptChunks, encryptChunks, wipe } from "@hygeia/crypto";
import { AsyncQueue, Window } from "./async-queue.ts";
import { OUTPUT_BATCH_BYTES, WINDOW_BYTES } from "./messages.ts";
import type { FromWorker, ToWorker, WorkerJob } from "./messages.ts";

const port = parentPort!;
const job = workerData as WorkerJob;
const inbox = new AsyncQueue<Uint8Array>();
const outputWindow = new Window(WINDOW_BYTES);

port.on("message", (message: ToWorker) => {
  if (message.type === "input") inbox.push(message.bytes);
  else if (message.type === "end") inbox.end();
  else outputWindow.release(message.bytes);
});

const send = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

async function* input(): AsyncGenerator<Uint8Array> {
  for await (const bytes of inbox) {
    send({ type: "consumed", bytes: bytes.byteLength });
    yield bytes;
  }
}

async function flush(parts: Uint8Array[], length: number): Promise<void> {
  if (length === 0) return;
  await outputWindow.whenBelow();
  const batch = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    batch.set(part, offset);
    offset += part.byteLength;
  }
  outputWindow.add(length);
  send({ type: "output", bytes: batch }, [batch.buffer]);
}

try {
  const output =
    job.mode === "encrypt"
      ? encryptChunks(input(), job.key, job.chunkSize === undefined ? {} : { chunkSize: job.chunkSize })
      : decryptChunks(input(), job.key);
  let parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of output) {
    parts.push(part);
    length += part.byteLength;
    if (length >= OUTPUT_BATCH_BYTES) {
      await flush(parts, length);
      parts = [];
      length = 0;
    }
  }
  await flush(parts, length);
  send({ type: "done" });
} catch (error) {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  send({ type: "error", name, message });
} finally {
  wipe(job.key);
}
