// The protocol between RecordStore (main thread) and the crypto worker. Both directions are flow-controlled
// by byte windows, so neither side buffers more than WINDOW_BYTES of the other's data.
export const WINDOW_BYTES = 8 * 1024 * 1024;
/** The worker batches its output into messages of about this size (fewer, larger postMessage calls). */
export const OUTPUT_BATCH_BYTES = 1024 * 1024;

export interface WorkerJob {
  mode: "encrypt" | "decrypt";
  key: Uint8Array;
  chunkSize?: number;
}

/** Main thread → worker. */
export type ToWorker = { type: "input"; bytes: Uint8Array } | { type: "end" } | { type: "ack"; bytes: number }; // the main thread consumed this many output bytes

/** Worker → main thread. */
export type FromWorker =
  | { type: "output"; bytes: Uint8Array }
  | { type: "consumed"; bytes: number } // the worker took this many input bytes
  | { type: "done" }
  | { type: "error"; name: string; message: string };
