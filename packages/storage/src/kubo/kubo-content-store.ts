// The ContentStore on an external Kubo node (or IPFS Cluster's Kubo-compatible proxy) through its RPC API,
// via kubo-rpc-client. For operators who run IPFS themselves; the embedded Helia node is the default.
// Content is added with the same layout as the Helia adapter (CIDv1, raw leaves, 1 MiB chunks), so both
// produce the same CID for the same bytes.
import type { KuboRPCClient } from "kubo-rpc-client";
import type { CID } from "multiformats/cid";
import { parseCid } from "../cid.ts";
import type { CidInput } from "../cid.ts";
import type { ByteInput } from "@hygeia/crypto";
import { storageByteChunks } from "../byte-input.ts";
import type { ContentStat, ContentStore, GcResult, OperationOptions, PutResult } from "../content-store.ts";
import { ContentNotFoundError, HygeiaStorageError, InvalidArgumentError, StoreUnavailableError } from "../errors.ts";
import { IdleTimeout, assertStoreTimeoutMs } from "../idle-timeout.ts";
import { interruptionError, startOperationTimeout } from "../store-operation.ts";

export const DEFAULT_KUBO_TIMEOUT_MS = 30_000;
const ADD_OPTIONS = { cidVersion: 1, rawLeaves: true, chunker: "size-1048576", pin: true } as const;

export interface KuboContentStoreOptions {
  /** RPC API address, e.g. `http://127.0.0.1:5001`. */
  url: string;
  /** Default idle timeout of every operation, in milliseconds (default 30000, at least MIN_STORE_TIMEOUT_MS). */
  timeoutMs?: number;
}

export class KuboContentStore implements ContentStore {
  readonly #client: KuboRPCClient;
  readonly #timeoutMs: number;
  readonly #closing = new AbortController();

  private constructor(client: KuboRPCClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Connects and checks the node answers (`id`) within the timeout: StoreUnavailableError otherwise. */
  static async create(options: KuboContentStoreOptions): Promise<KuboContentStore> {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (cause) {
      throw new InvalidArgumentError("url must be an http(s) URL of a Kubo RPC API", { field: "url", cause });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new InvalidArgumentError("url must be an http(s) URL of a Kubo RPC API", { field: "url" });
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_KUBO_TIMEOUT_MS;
    assertStoreTimeoutMs(timeoutMs, DEFAULT_KUBO_TIMEOUT_MS);
    // Imported on first use: users of the embedded Helia node do not pay for the RPC client (≈ 10 MB heap).
    const { create } = await import("kubo-rpc-client");
    const store = new KuboContentStore(create({ url }), timeoutMs);
    const timeout = new IdleTimeout(timeoutMs);
    try {
      await store.#client.id({ signal: timeout.signal });
    } catch (cause) {
      throw new StoreUnavailableError(`no Kubo RPC API answers at ${url.origin}`, { cause });
    } finally {
      timeout.dispose();
    }
    return store;
  }

  async put(source: ByteInput, options: OperationOptions = {}): Promise<PutResult> {
    this.#assertOpen();
    const chunks = storageByteChunks(source, "source");
    const timeout = this.#idleTimeout(options);
    let size = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        timeout.touch();
        // A copy: kubo-rpc-client reads ahead into a stream and the HTTP client queues socket writes by reference,
        // so a chunk is still unsent after the next is asked for. A source that refills one buffer would upload
        // its last read over and over. One memory copy is small beside an HTTP upload and Kubo's hashing.
        yield new Uint8Array(chunk); // copies (a Buffer's slice() would not)
      }
    }
    try {
      const { cid } = await this.#client.add(counted(), { ...ADD_OPTIONS, signal: timeout.signal });
      return { cid, size };
    } catch (error) {
      throw this.#translate(error, timeout, undefined, false, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  get(cidInput: CidInput, options: OperationOptions = {}): AsyncIterable<Uint8Array> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    return this.#stream(cid, options);
  }

  async *#stream(cid: CID, options: OperationOptions): AsyncGenerator<Uint8Array, void, undefined> {
    const timeout = this.#idleTimeout(options);
    let received = 0;
    try {
      for await (const chunk of this.#client.cat(cid, { signal: timeout.signal })) {
        received += chunk.byteLength;
        timeout.pause();
        yield chunk;
        timeout.resume();
      }
    } catch (error) {
      throw this.#translate(error, timeout, cid, received === 0, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  /**
   * Asks the node with `offline=true` (Kubo's global flag), so only its local blockstore is consulted. A node that
   * ignores the flag (the js-ipfs daemon standing in for Kubo in tests) searches the network instead, until our idle
   * timeout: the node-side `timeout` bounds that search, and a block not found locally within it is absent.
   */
  async has(cidInput: CidInput, options: OperationOptions = {}): Promise<boolean> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    try {
      await this.#client.block.stat(cid, {
        signal: timeout.signal,
        searchParams: OFFLINE,
        timeout: LOCAL_LOOKUP_TIMEOUT_MS,
      });
      return true;
    } catch (error) {
      if (/request timed out|context deadline exceeded/i.test(error instanceof Error ? error.message : ""))
        return false;
      const translated = this.#translate(error, timeout, cid, true, options.signal);
      if (translated instanceof ContentNotFoundError) return false;
      throw translated;
    } finally {
      timeout.dispose();
    }
  }

  async pin(cidInput: CidInput, options: OperationOptions = {}): Promise<void> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    try {
      await this.#client.pin.add(cid, { recursive: true, signal: timeout.signal });
    } catch (error) {
      throw this.#translate(error, timeout, cid, true, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  async unpin(cidInput: CidInput, options: OperationOptions = {}): Promise<void> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    try {
      if (await this.#isPinned(cid, timeout.signal)) {
        await this.#client.pin.rm(cid, { recursive: true, signal: timeout.signal });
      }
    } catch (error) {
      throw this.#translate(error, timeout, cid, false, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  async stat(cidInput: CidInput, options: OperationOptions = {}): Promise<ContentStat> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    try {
      const stats = await this.#client.files.stat(`/ipfs/${cid.toString()}`, { signal: timeout.signal });
      return { cid, size: stats.size, pinned: await this.#isPinned(cid, timeout.signal) };
    } catch (error) {
      throw this.#translate(error, timeout, cid, true, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  /**
   * Kubo's `repo gc`: the node deletes every unpinned block (and itself keeps blocks of adds in progress, which
   * it holds under its GC lock until pinned). Counts what it reports removed; a per-block error rejects.
   */
  async gc(options: OperationOptions = {}): Promise<GcResult> {
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    let removed = 0;
    try {
      for await (const result of this.#client.repo.gc({ signal: timeout.signal })) {
        timeout.touch();
        if (result.err !== undefined && result.err !== null) throw result.err;
        if (result.cid !== undefined && result.cid !== null) removed += 1;
      }
      return { removed };
    } catch (error) {
      throw this.#translate(error, timeout, undefined, false, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  /** Ends in-flight requests; the remote node keeps running. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) this.#closing.abort(new StoreUnavailableError("store closed"));
  }

  async #isPinned(cid: CID, signal: AbortSignal): Promise<boolean> {
    try {
      for await (const pin of this.#client.pin.ls({ paths: [cid], type: "recursive", signal })) {
        if (pin.cid.equals(cid)) return true;
      }
      return false;
    } catch (error) {
      // Kubo answers "is not pinned" with an error rather than an empty list.
      if (error instanceof Error && /not pinned/i.test(error.message)) return false;
      throw error;
    }
  }

  #assertOpen(): void {
    if (this.#closing.signal.aborted) throw new StoreUnavailableError("store is closed");
  }

  #idleTimeout(options: OperationOptions): IdleTimeout {
    return startOperationTimeout(options, this.#timeoutMs, this.#closing.signal);
  }

  #translate(
    error: unknown,
    timeout: IdleTimeout,
    cid: CID | undefined,
    nothingReceived: boolean,
    callerSignal: AbortSignal | undefined,
  ): unknown {
    if (error instanceof HygeiaStorageError) return error;
    const interrupted = interruptionError(error, {
      timeout,
      closing: this.#closing.signal,
      callerSignal,
      cid,
      nothingReceived,
      searched: "on the IPFS node",
    });
    if (interrupted !== undefined) return interrupted;
    const message = error instanceof Error ? error.message : String(error);
    if (cid !== undefined && /not found|no link named|block was not found locally/i.test(message)) {
      return new ContentNotFoundError(cid.toString(), `${cid.toString()} not found`, { cause: error });
    }
    if (error instanceof TypeError || /ECONNREFUSED|ECONNRESET|fetch failed|socket hang up/i.test(message)) {
      return new StoreUnavailableError("Kubo RPC API unreachable", { cause: error });
    }
    return error;
  }
}

/** A local blockstore lookup takes milliseconds; this bounds a node that searches the network anyway. */
const LOCAL_LOOKUP_TIMEOUT_MS = 2_000;

/**
 * `offline=true`. kubo-rpc-client types `searchParams` as URLSearchParams but spreads it into a plain object, and an
 * instance spreads to nothing (the flag never reached the node): a plain object is what reaches the URL.
 */
const OFFLINE = { offline: "true" } as unknown as URLSearchParams;
