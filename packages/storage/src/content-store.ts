// The one interface every IPFS backend implements. Callers (record store, manifests, gateway) depend on
// this, never on Helia or Kubo directly, so the backend is a configuration choice.
import type { ByteInput } from "@hygeia/crypto";
import type { CID } from "multiformats/cid";
import type { CidInput } from "./cid.ts";

/** An iterable of byte chunks. Every function that takes bytes takes the wider ByteInput (from @hygeia/crypto). */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface OperationOptions {
  /** Caller's cancellation; an abort rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Bound on how long the operation may make no progress, in ms (the store's default when omitted). For
   * `get` it is an idle timeout (time without a new block), so a large file is not cut off while it flows.
   */
  timeoutMs?: number;
}

export interface PutResult {
  /** CIDv1 of the UnixFS file (raw leaves) holding the bytes. */
  cid: CID;
  /** Bytes stored (the file's size, not the DAG's). */
  size: number;
}

export interface ContentStat {
  cid: CID;
  /** File size in bytes as recorded in the root block. */
  size: number;
  /** Pinned on this node (protected from garbage collection). */
  pinned: boolean;
}

export interface GcResult {
  /** Blocks deleted (unpinned blocks no put in progress still needs). */
  removed: number;
}

export interface ContentStore {
  /**
   * Stores the bytes (any ByteInput: bytes, a Blob, a web / Node stream, an (async) iterable of chunks) as a UnixFS
   * file (CIDv1, raw leaves) and pins it. Streams: never buffers the input.
   */
  put(source: ByteInput, options?: OperationOptions): Promise<PutResult>;
  /**
   * Streams the file's bytes, fetching missing blocks from connected peers. Rejects with
   * ContentNotFoundError / StorageTimeoutError / StoreUnavailableError instead of hanging.
   */
  get(cid: CidInput, options?: OperationOptions): AsyncIterable<Uint8Array>;
  /** True when the content's root block is in the local store (no network access). */
  has(cid: CidInput, options?: OperationOptions): Promise<boolean>;
  /** Fetches every block of the content (from peers if needed) and protects it from garbage collection. */
  pin(cid: CidInput, options?: OperationOptions): Promise<void>;
  /** Removes the pin; the blocks stay until garbage collection (`gc`). Unpinning an unpinned CID is a no-op. */
  unpin(cid: CidInput, options?: OperationOptions): Promise<void>;
  stat(cid: CidInput, options?: OperationOptions): Promise<ContentStat>;
  /**
   * Garbage collection: deletes every block no pin protects (unpinned content, blocks of an aborted put, blocks
   * fetched for a read), never one a put in progress wrote and has not pinned yet. Afterwards `has()` is false for
   * them. Bounded (`timeoutMs` is an idle timeout) and abortable like the other operations; an interrupted gc
   * keeps what it deleted so far. Whether disk space is reclaimed is the backend's matter (see the README).
   */
  gc(options?: OperationOptions): Promise<GcResult>;
  /** Stops the node and releases files and sockets. Idempotent. Later calls reject with StoreUnavailableError. */
  close(): Promise<void>;
}
