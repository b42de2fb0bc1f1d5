// Main-thread side of the crypto worker: streams `source` through encryption or decryption on another
// thread and yields the result, with bounded memory in both directions. Errors come back typed: a crypto
// failure in the worker is rethrown here as the same @hygeia/crypto error class.
import { Worker } from "node:worker_threads";
import * as crypto from "@hygeia/crypto";
import type { ByteSource } from "../content-store.ts";
import { InvalidArgumentError } from "../errors.ts";
import { AsyncQueue, Window } from "./async-queue.ts";
import { WINDOW_BYTES } from "./messages.ts";
import type { FromWorker, ToWorker, WorkerJob } from "./messages.ts";

const WORKER_URL = new URL("./crypto-worker.ts", import.meta.url);

export function encryptInWorker(source: ByteSource, key: Uint8Array, chunkSize?: number): AsyncGenerator<Uint8Array> {
  crypto.assertDataKey(key);
  const job: WorkerJob = chunkSize === undefined ? { mode: "encrypt", key } : { mode: "encrypt", key, chunkSize };
  return runInWorker(job, source);
}

/** Verified plaintext, in order; complete only if iteration ends without an error (as decryptChunks). */
export function decryptInWorker(source: ByteSource, key: Uint8Array): AsyncGenerator<Uint8Array> {
  crypto.assertDataKey(key);
  return runInWorker({ mode: "decrypt", key }, source);
}

async function* runInWorker(job: WorkerJob, source: ByteSource): AsyncGenerator<Uint8Array, void, undefined> {
  const worker = new Worker(WORKER_URL, { workerData: job });
  const outputs = new AsyncQueue<Uint8Array>();
  const inputWindow = new Window(WINDOW_BYTES);
  let stopped = false;
  let finished = false;
  const send = (message: ToWorker): void => worker.postMessage(message);

  worker.on("message", (message: FromWorker) => {
    if (message.type === "output") outputs.push(message.bytes);
    else if (message.type === "consumed") inputWindow.release(message.bytes);
    else if (message.type === "done") {
      finished = true;
      outputs.end();
    } else outputs.fail(rebuildError(message.name, message.message));
  });
  worker.on("error", (error) => outputs.fail(error));
  worker.on("exit", () => {
    if (!finished) outputs.fail(new Error("crypto worker exited early"));
  });

  const pump = async (): Promise<void> => {
    try {
      for await (const bytes of source) {
        if (stopped) return;
        if (!(bytes instanceof Uint8Array))
          throw new InvalidArgumentError("source must yield Uint8Array chunks", { field: "source" });
        await inputWindow.whenBelow();
        inputWindow.add(bytes.byteLength);
        send({ type: "input", bytes });
      }
      send({ type: "end" });
    } catch (error) {
      outputs.fail(error);
    }
  };
  void pump();

  try {
    for await (const bytes of outputs) {
      send({ type: "ack", bytes: bytes.byteLength });
      yield bytes;
    }
  } finally {
    stopped = true;
    inputWindow.release(Number.MAX_SAFE_INTEGER); // unblock the pump so it can see `stopped`
    worker.removeAllListeners("exit");
    await worker.terminate();
  }
}

/** The @hygeia/crypto error class of that name, or a plain Error. */
function rebuildError(name: string, message: string): Error {
  const candidate = (crypto as Record<string, unknown>)[name];
  if (typeof candidate === "function" && candidate.prototype instanceof crypto.HygeiaCryptoError) {
    return new (candidate as new (message: string) => Error)(message);
  }
  const error = new Error(message);
  error.name = name;
  return error;
}
