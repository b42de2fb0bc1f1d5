// Embedded IPFS node (Helia) behind the ContentStore interface: blocks and node state persist on disk under
// `dataDir`, blocks move between peers over bitswap only, and libp2p listens on loopback unless told
// otherwise (see libp2p-options.ts for what is switched off).
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { withBitswap } from "@helia/bitswap";
import { multiaddr } from "@multiformats/multiaddr";
import type { Multiaddr } from "@multiformats/multiaddr";
import type { CID } from "multiformats/cid";
import { parseCid } from "../cid.ts";
import type { CidInput } from "../cid.ts";
import type { ByteInput } from "@hygeia/crypto";
import { storageByteChunks } from "../byte-input.ts";
import type { ContentStat, ContentStore, GcResult, OperationOptions, PutResult } from "../content-store.ts";
import {
  ContentNotFoundError,
  DataDirError,
  HygeiaStorageError,
  InvalidArgumentError,
  StorageTimeoutError,
  StoreUnavailableError,
} from "../errors.ts";
import { assertStoreTimeoutMs } from "../idle-timeout.ts";
import type { IdleTimeout } from "../idle-timeout.ts";
import { interruptionError, startOperationTimeout } from "../store-operation.ts";
import { dataDirFailure } from "./data-dir-errors.ts";
import { DirLock } from "./dir-lock.ts";
import { importFile } from "./file-importer.ts";
import { pinFreshDag } from "./fresh-dag-pins.ts";
import { localFirstWalker } from "./local-first-walker.ts";
import { DATASTORE_FILE, openNodeDatastore } from "./node-datastore.ts";
import type { SqliteDatastore } from "./sqlite-datastore.ts";
import { privateLibp2pOptions } from "./libp2p-options.ts";
import { loadCreateHeliaLight, withPrivateLibp2p } from "./private-libp2p.ts";
import type { HeliaWithLibp2p } from "./private-libp2p.ts";
import { readUnixFsFile, statUnixFsFile } from "./unixfs-file-reader.ts";
import { PackBlockstore } from "./pack-blockstore.ts";
import type { PackCheck, PackDamage } from "./pack-blockstore.ts";
import { WholeBlockFsBlockstore } from "./whole-block-fs-blockstore.ts";
import type { PrivateLibp2pServices } from "./libp2p-options.ts";

export const DEFAULT_TIMEOUT_MS = 30_000;

/** Blocks read ahead of the consumer: overlaps disk / network with decryption, bounded in memory (≤ 4 MiB). */
const READ_AHEAD_BLOCKS = 4;
export const LOOPBACK_LISTEN = ["/ip4/127.0.0.1/tcp/0"] as const;

export interface HeliaContentStoreOptions {
  /** Directory for the blockstore (`blocks/` or `packs/`) and the node's datastore (`datastore.sqlite`, incl. its peer key and pins). */
  dataDir: string;
  /**
   * Block layout on disk. `"pack"` (default): blocks appended to large segment files under `packs/`
   * (pack-blockstore.ts). `"flatfs"`: one file per block under `blocks/`, blockstore-fs' layout. When not
   * given, a data dir that already holds `blocks/` and no `packs/` keeps using flatfs.
   */
  blockstore?: BlockstoreKind;
  /** libp2p listen multiaddrs. Default: a random TCP port on 127.0.0.1. `[]` accepts no inbound connections. */
  listen?: readonly string[];
  /** Peers to dial once started (multiaddrs ending in `/p2p/<peerId>`). */
  peers?: readonly string[];
  /**
   * Default idle timeout of every operation, in milliseconds (default 30000, at least MIN_STORE_TIMEOUT_MS):
   * how long a fetch from peers may go without progress.
   */
  timeoutMs?: number;
  /**
   * Called once at open when the pack blockstore found damage (damaged records or segment headers, a torn tail it
   * cut): the store opened anyway and serves every block that verifies. Default: a process warning with code
   * `HYGEIA_BLOCKSTORE_DAMAGE`. The same list stays readable as `blockstoreDamage`.
   */
  onBlockstoreDamage?: (damage: readonly PackDamage[]) => void;
}

export type BlockstoreKind = "pack" | "flatfs";
export const DEFAULT_BLOCKSTORE: BlockstoreKind = "pack";

type HeliaNode = HeliaWithLibp2p<PrivateLibp2pServices>;
type LocalBlockstore = PackBlockstore | WholeBlockFsBlockstore;

/** File-system failures of a running node that are the disk's, not the caller's: reported as DataDirError. */
const DISK_FAILURES: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "EIO", "EROFS", "EACCES", "EPERM"]);

/** What a HeliaContentStore holds open, released by close() and by every failed create(). */
interface Opened {
  dataDir: string;
  lock: DirLock;
  blockstore: LocalBlockstore;
  datastore: SqliteDatastore;
}

export class HeliaContentStore implements ContentStore {
  readonly #helia: HeliaNode;
  readonly #opened: Opened;
  readonly #blockstore: LocalBlockstore;
  readonly #datastore: SqliteDatastore;
  readonly #timeoutMs: number;
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;
  /** Blocks puts in progress wrote (or are writing) and have not pinned yet, by multihash: gc leaves them. */
  readonly #unpinnedWrites = new Map<string, number>();
  /** pin() calls in progress: their walk stores blocks before it pins them, so gc waits for them. */
  #pinsInFlight = 0;
  #pinsDone: (() => void)[] = [];
  /** The gc in progress: new pins wait for it (one gc at a time). */
  #gcRunning: Promise<GcResult> | undefined;

  private constructor(helia: HeliaNode, opened: Opened, timeoutMs: number) {
    this.#helia = helia;
    this.#opened = opened;
    this.#blockstore = opened.blockstore;
    this.#datastore = opened.datastore;
    this.#timeoutMs = timeoutMs;
  }

  /** Opens (or creates) the node's stores under `dataDir`, starts it and dials `peers`. */
  static async create(options: HeliaContentStoreOptions): Promise<HeliaContentStore> {
    if (typeof options.dataDir !== "string" || options.dataDir.length === 0) {
      throw new InvalidArgumentError("dataDir must be a non-empty path: the directory the node keeps its data in", {
        field: "dataDir",
      });
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    assertStoreTimeoutMs(timeoutMs, DEFAULT_TIMEOUT_MS);
    const listen = multiaddrList(options.listen ?? LOOPBACK_LISTEN, "listen").map((address) => address.toString());
    const peers = multiaddrList(options.peers ?? [], "peers");

    // Every file-system failure from here to a running node names dataDir and says what to do (DataDirError).
    await mkdir(options.dataDir, { recursive: true }).catch((error: unknown) => {
      throw dataDirFailure(options.dataDir, error, "the data dir");
    });
    const kind = options.blockstore ?? (await existingBlockstore(options.dataDir)) ?? DEFAULT_BLOCKSTORE;
    if (kind !== "pack" && kind !== "flatfs") {
      throw new InvalidArgumentError('blockstore must be "pack" or "flatfs"', { field: "blockstore" });
    }
    // One node per data dir, whatever its blockstore: the lock covers datastore.sqlite (peer key, pins) as well as
    // the blocks, so it is taken before anything is opened and released on every failure below.
    const lock = await DirLock.acquire(options.dataDir).catch((error: unknown) => {
      throw dataDirFailure(options.dataDir, error, "the data dir's lock");
    });
    const blockstore =
      kind === "pack"
        ? new PackBlockstore(join(options.dataDir, "packs"))
        : new WholeBlockFsBlockstore(join(options.dataDir, "blocks"));
    try {
      await blockstore.open();
    } catch (error) {
      await lock.release().catch(() => undefined);
      throw dataDirFailure(options.dataDir, error, "the blockstore");
    }
    const damage = blockstore instanceof PackBlockstore ? blockstore.damage : [];
    if (damage.length > 0) (options.onBlockstoreDamage ?? warnOfDamage)(damage);
    let datastore: SqliteDatastore;
    try {
      datastore = await openNodeDatastore(options.dataDir);
    } catch (cause) {
      await blockstore.close().catch(() => undefined);
      await lock.release().catch(() => undefined);
      throw dataDirFailure(options.dataDir, cause, "the datastore", join(options.dataDir, DATASTORE_FILE));
    }
    // Durability order: no datastore write (a pin record) reaches the disk before the blocks written before it,
    // and none at all once the data dir's lock file was deleted or replaced (another node may be writing).
    datastore.setWriteBarrier(async () => {
      await lock.assertHeld();
      await blockstore.sync();
    });
    const opened: Opened = { dataDir: options.dataDir, lock, blockstore, datastore };
    // Light constructors: no HTTP gateways, no delegated routers, only the mixins we add (withPrivateLibp2p, not
    // @helia/libp2p, whose import alone costs ≈ 80 MB RSS: see private-libp2p.ts).
    const createHeliaLight = await loadCreateHeliaLight();
    const helia = withBitswap(
      withPrivateLibp2p(createHeliaLight({ blockstore, datastore }), privateLibp2pOptions(listen)),
    ) as HeliaNode;
    try {
      await helia.start();
    } catch (cause) {
      await helia.stop().catch(() => undefined);
      await releaseAll(opened).catch(() => undefined);
      throw new StoreUnavailableError(`Helia node under ${options.dataDir} failed to start`, { cause });
    }
    const store = new HeliaContentStore(helia, opened, timeoutMs);
    try {
      for (const peer of peers) await store.dial(peer.toString());
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** This node's libp2p peer id (stable across restarts: the key lives in the datastore). */
  get peerId(): string {
    return this.#helia.libp2p.peerId.toString();
  }

  /** Addresses other nodes can dial, each ending in `/p2p/<peerId>`. */
  multiaddrs(): string[] {
    return this.#helia.libp2p.getMultiaddrs().map((address) => address.toString());
  }

  /** Connects to a peer so bitswap can exchange blocks with it. */
  async dial(address: string, options: OperationOptions = {}): Promise<void> {
    this.#assertOpen();
    const target = parseMultiaddr(address, "address");
    const timeout = this.#idleTimeout(options);
    try {
      await this.#helia.libp2p.dial(target, { signal: timeout.signal });
    } catch (error) {
      const translated = this.#translate(error, timeout, undefined, false, options.signal);
      if (translated !== error) throw translated;
      throw new StoreUnavailableError(`cannot reach peer ${target.toString()}`, { cause: error });
    } finally {
      timeout.dispose();
    }
  }

  async put(source: ByteInput, options: OperationOptions = {}): Promise<PutResult> {
    this.#assertOpen();
    const chunks = storageByteChunks(source, "source");
    const timeout = this.#idleTimeout(options);
    const guarded: string[] = [];
    let size = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        timeout.touch();
        yield chunk;
      }
    }
    try {
      // A node whose lock file was deleted or replaced writes nothing more (dir-lock.ts): checked before the blocks
      // are written and again before the pin acknowledges them.
      await this.#opened.lock.assertHeld();
      const written: CID[] = [];
      // Each block is marked before it is written, so a concurrent gc never takes a block of this put.
      const sink = {
        put: (block: CID, bytes: Uint8Array, putOptions?: { signal?: AbortSignal }) => {
          guarded.push(this.#guard(block));
          return this.#helia.blockstore.put(block, bytes, putOptions);
        },
      };
      const { cid } = await importFile(counted(), sink, {
        signal: timeout.signal,
        onBlockWritten: (block) => {
          written.push(block);
          timeout.touch();
        },
      });
      // The blocks reach stable storage before the pin that names them (and so before any manifest lists them).
      await this.#blockstore.sync();
      await this.#opened.lock.assertHeld();
      // Every block of the DAG was just written here: pin without walking it, in one transaction (see
      // fresh-dag-pins.ts).
      pinFreshDag(this.#datastore, cid, written, { signal: timeout.signal });
      return { cid, size };
    } catch (error) {
      throw this.#translate(error, timeout, undefined, false, options.signal);
    } finally {
      // Pinned, or failed: either way the blocks are no longer this put's to protect (an aborted put's go at gc).
      for (const key of guarded) this.#unguard(key);
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
      const reader = readUnixFsFile(this.#helia.blockstore, cid, {
        readAhead: READ_AHEAD_BLOCKS,
        signal: timeout.signal,
        onBlock: () => timeout.touch(),
      });
      for await (const chunk of reader) {
        received += chunk.byteLength;
        timeout.pause();
        yield chunk;
        timeout.resume();
      }
    } catch (error) {
      throw await this.#readFailure(error, timeout, cid, received === 0, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  async has(cidInput: CidInput, options: OperationOptions = {}): Promise<boolean> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    try {
      return await this.#helia.blockstore.has(cid, { signal: timeout.signal });
    } catch (error) {
      throw await this.#readFailure(error, timeout, cid, true, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  async pin(cidInput: CidInput, options: OperationOptions = {}): Promise<void> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    let blocks = 0;
    let counted = false;
    try {
      while (this.#gcRunning !== undefined)
        await abortable(
          this.#gcRunning.catch(() => undefined),
          timeout.signal,
        );
      this.#pinsInFlight += 1;
      counted = true;
      await this.#pinAll(cid, timeout, () => (blocks += 1));
    } catch (error) {
      throw await this.#readFailure(error, timeout, cid, blocks === 0, options.signal);
    } finally {
      if (counted) this.#pinDone();
      timeout.dispose();
    }
  }

  async unpin(cidInput: CidInput, options: OperationOptions = {}): Promise<void> {
    const cid = parseCid(cidInput);
    this.#assertOpen();
    const timeout = this.#idleTimeout(options);
    try {
      if (!(await this.#helia.pins.isPinned(cid, { signal: timeout.signal }))) return;
      for await (const _block of this.#helia.pins.rm(cid, { signal: timeout.signal })) timeout.touch();
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
      const size = await statUnixFsFile(this.#helia.blockstore, cid, {
        signal: timeout.signal,
        onBlock: () => timeout.touch(),
      });
      const pinned = await this.#helia.pins.isPinned(cid, { signal: timeout.signal });
      return { cid, size, pinned };
    } catch (error) {
      throw await this.#readFailure(error, timeout, cid, true, options.signal);
    } finally {
      timeout.dispose();
    }
  }

  /**
   * Deletes every unpinned block (Helia's gc, done here rather than by `helia.gc()`, which would also take the
   * blocks a put in progress has written and not yet pinned, and reads on after an abort). One gc at a time: a
   * second call joins the one running. With the pack blockstore a delete appends a tombstone: the block is gone
   * (`has()` false) but its bytes stay in their segment until a compaction exists (README).
   */
  gc(options: OperationOptions = {}): Promise<GcResult> {
    this.#assertOpen();
    if (this.#gcRunning !== undefined) return this.#gcRunning;
    const running = this.#collect(options).finally(() => {
      if (this.#gcRunning === running) this.#gcRunning = undefined;
    });
    this.#gcRunning = running;
    return running;
  }

  async #collect(options: OperationOptions): Promise<GcResult> {
    const timeout = this.#idleTimeout(options);
    const signal = timeout.signal;
    let removed = 0;
    try {
      // A pin walk stores blocks before it pins them: wait until none is under way (new ones wait for this gc).
      while (this.#pinsInFlight > 0) {
        await abortable(new Promise<void>((resolve) => this.#pinsDone.push(resolve)), signal);
      }
      const candidates: CID[] = [];
      for await (const { cid } of this.#blockstore.getAll({ signal })) {
        timeout.touch();
        if (this.#unpinnedWrites.has(blockKey(cid))) continue;
        if (await this.#helia.pins.isPinned(cid, { signal })) continue;
        candidates.push(cid);
      }
      for (const cid of candidates) {
        signal.throwIfAborted();
        // Checked again at the delete: a put or pin may have claimed the block since the scan.
        if (this.#unpinnedWrites.has(blockKey(cid)) || this.#pinsInFlight > 0) continue;
        if (await this.#helia.pins.isPinned(cid, { signal })) continue;
        await this.#blockstore.delete(cid, { signal });
        removed += 1;
        timeout.touch();
      }
      return { removed };
    } catch (error) {
      throw this.#translate(error, timeout, undefined, false, options.signal);
    } finally {
      // Whatever was deleted before an interruption stays deleted; make its tombstones durable.
      if (removed > 0) await this.#blockstore.sync().catch(() => undefined);
      timeout.dispose();
    }
  }

  #guard(cid: CID): string {
    const key = blockKey(cid);
    this.#unpinnedWrites.set(key, (this.#unpinnedWrites.get(key) ?? 0) + 1);
    return key;
  }

  #unguard(key: string): void {
    const count = (this.#unpinnedWrites.get(key) ?? 1) - 1;
    if (count <= 0) this.#unpinnedWrites.delete(key);
    else this.#unpinnedWrites.set(key, count);
  }

  #pinDone(): void {
    this.#pinsInFlight -= 1;
    if (this.#pinsInFlight > 0) return;
    const waiting = this.#pinsDone;
    this.#pinsDone = [];
    for (const resolve of waiting) resolve();
  }

  /** Damage the pack blockstore found at open (see PackDamage); empty for a healthy store or for flatfs. */
  get blockstoreDamage(): readonly PackDamage[] {
    return this.#blockstore instanceof PackBlockstore ? this.#blockstore.damage : [];
  }

  /**
   * Checks the pack blockstore: the damage found at open and, with `{ data: true }`, every block read and verified
   * against its checksums. Changes nothing. The operator's check (README, "Checking and repairing a store").
   */
  async checkBlocks(options: { data?: boolean } = {}): Promise<PackCheck> {
    this.#assertOpen();
    return this.#pack("checkBlocks").check({ data: options.data === true, signal: this.#closing.signal });
  }

  /**
   * Forgets every damaged block of the pack blockstore, so that it is fetched again from a connected peer when
   * read, or written again when added; returns their CIDs.
   */
  async discardDamagedBlocks(): Promise<CID[]> {
    this.#assertOpen();
    return this.#pack("discardDamagedBlocks").discardDamaged();
  }

  close(): Promise<void> {
    this.#closed ??= this.#shutDown();
    return this.#closed;
  }

  /**
   * Stops the node and releases everything (blockstore, datastore, the data dir's lock) whatever fails on the way;
   * then rejects with the first failure, typed: DataDirError with its reason for a file-system one (a full disk
   * while libp2p saved its peer store), else StoreUnavailableError.
   */
  async #shutDown(): Promise<void> {
    this.#closing.abort(new StoreUnavailableError("store closed"));
    let failure: unknown;
    await this.#helia.stop().catch((error: unknown) => (failure ??= error));
    await releaseAll(this.#opened).catch((error: unknown) => (failure ??= error));
    if (failure === undefined) return;
    const typed = dataDirFailure(this.#opened.dataDir, failure, "the node");
    throw typed instanceof HygeiaStorageError && !(typed instanceof DataDirError)
      ? new StoreUnavailableError(`closing the node under ${this.#opened.dataDir} failed: ${typed.message}`, {
          cause: failure,
        })
      : typed;
  }

  /** Pins `cid` and every block below it (fetching missing ones); already pinned, also by a racing call, is fine. */
  async #pinAll(cid: CID, timeout: IdleTimeout, onBlock: () => void = () => undefined): Promise<void> {
    if (await this.#helia.pins.isPinned(cid, { signal: timeout.signal })) return;
    try {
      for await (const _block of this.#helia.pins.add(cid, { walker: localFirstWalker(), signal: timeout.signal })) {
        onBlock();
        timeout.touch();
      }
    } catch (error) {
      if (!(error instanceof Error && error.name === "AlreadyPinnedError")) throw error;
    }
  }

  #pack(method: string): PackBlockstore {
    if (this.#blockstore instanceof PackBlockstore) return this.#blockstore;
    throw new InvalidArgumentError(`${method} needs the pack blockstore; this node uses flatfs`, {
      field: "blockstore",
    });
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) throw new StoreUnavailableError("store is closed");
  }

  #idleTimeout(options: OperationOptions): IdleTimeout {
    return startOperationTimeout(options, this.#timeoutMs, this.#closing.signal);
  }

  /**
   * #translate for a read of `cid`: when the idle timeout ended it before a byte arrived but the block is stored
   * here, the content was not missing, the timeout was too short (a slow disk, a tiny per-call timeoutMs):
   * StorageTimeoutError saying so, never ContentNotFoundError.
   */
  async #readFailure(
    error: unknown,
    timeout: IdleTimeout,
    cid: CID,
    nothingReceived: boolean,
    callerSignal: AbortSignal | undefined,
  ): Promise<unknown> {
    const translated = this.#translate(error, timeout, cid, nothingReceived, callerSignal);
    if (!(translated instanceof ContentNotFoundError) || !timeout.timedOut) return translated;
    const local = await this.#blockstore.has(cid).catch(() => false);
    if (!local) return translated;
    return new StorageTimeoutError(
      timeout.timeoutMs,
      `${cid.toString()} is stored locally but reading it made no progress for ${timeout.timeoutMs} ms (timeoutMs ` +
        "is an idle timeout in milliseconds; raise it)",
      { cause: error },
    );
  }

  /** Maps Helia / libp2p failures onto this package's errors; our own typed errors pass through. */
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
      searched: "locally or from connected peers",
    });
    if (interrupted !== undefined) return interrupted;
    const name = error instanceof Error ? error.name : "";
    if (cid !== undefined && (name === "NotFoundError" || name === "BlockNotFoundWhileOfflineError")) {
      return new ContentNotFoundError(cid.toString(), `${cid.toString()} not found`, { cause: error });
    }
    if (name === "NotStartedError") return new StoreUnavailableError("Helia node is not running", { cause: error });
    // A file-system failure anywhere in the cause chain (ENOSPC in a PutFailedError, SQLite's "database or disk is
    // full"): DataDirError with its reason and what to do.
    const onDisk = dataDirFailure(this.#opened.dataDir, error, "the data dir");
    if (onDisk instanceof DataDirError && DISK_FAILURES.has(onDisk.reason)) return onDisk;
    return error;
  }
}

/** A block's identity in the blockstore: its multihash (CIDs of other versions or codecs name the same block). */
function blockKey(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString("base64");
}

/** `promise`, or a rejection with the signal's reason once it aborts (the promise itself runs on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error as Error);
      },
    );
  });
}

/**
 * Closes the datastore, the blockstore and then the lock, each even if one before failed; rejects with the first
 * failure after all of them ran.
 */
async function releaseAll(opened: Opened): Promise<void> {
  let failure: unknown;
  await opened.datastore.close().catch((error: unknown) => (failure ??= error));
  await opened.blockstore.close().catch((error: unknown) => (failure ??= error));
  await opened.lock.release().catch((error: unknown) => (failure ??= error));
  if (failure !== undefined) throw failure;
}

function warnOfDamage(damage: readonly PackDamage[]): void {
  const first = damage[0]!;
  process.emitWarning(
    `the block store found ${damage.length} damaged part(s) at open (first: ${first.kind} in ${first.segment} at ` +
      `${first.offset}: ${first.reason}); it serves everything that verifies. See checkBlocks() and the storage ` +
      'README, "Checking and repairing a store"',
    { code: "HYGEIA_BLOCKSTORE_DAMAGE" },
  );
}

/** The layout a data dir was created with: "flatfs" for an old one with `blocks/` only, else undefined. */
async function existingBlockstore(dataDir: string): Promise<BlockstoreKind | undefined> {
  const exists = (name: string): Promise<boolean> =>
    access(join(dataDir, name)).then(
      () => true,
      () => false,
    );
  return (await exists("blocks")) && !(await exists("packs")) ? "flatfs" : undefined;
}

function multiaddrList(addresses: unknown, field: string): Multiaddr[] {
  if (!Array.isArray(addresses)) {
    throw new InvalidArgumentError(`${field} must be an array of multiaddr strings`, { field });
  }
  return addresses.map((address: unknown, index) => parseMultiaddr(address, `${field}[${index}]`));
}

function parseMultiaddr(address: unknown, field: string): Multiaddr {
  if (typeof address !== "string" || address.length === 0) {
    throw new InvalidArgumentError(`${field} must be a non-empty multiaddr string ("/ip4/127.0.0.1/tcp/4001/p2p/…")`, {
      field,
    });
  }
  try {
    return multiaddr(address);
  } catch (cause) {
    throw new InvalidArgumentError(`${field} is not a valid multiaddr: ${JSON.stringify(address.slice(0, 128))}`, {
      field,
      cause,
    });
  }
}
