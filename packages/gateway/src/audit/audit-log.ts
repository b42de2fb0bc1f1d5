// The gateway's audit log: durable events in a RFC 9162 Merkle tree, signed checkpoints, on-chain anchors.
//
// Safety rules:
// - `record()` resolves only after the store committed the event (one `appendAudit` per group commit,
//   synchronous=FULL): a caller that awaits it never answers before its event is durable. When the store
//   fails, every caller of that batch is rejected (DependencyUnavailableError "database") and nothing of
//   the batch enters the in-memory tree, the per-patient sequence numbers, or a checkpoint.
// - The in-memory tree is rebuilt from the store at start, and the tree only grows by rows the store
//   returned, in index order: it is always the tree of the stored log.
// - `record()` never waits for the chain. Anchoring runs beside it (every N events or T ms, and at close);
//   a failed anchor is logged, the checkpoint stays signed and unanchored, and the next tick retries.
// - Anchors are contiguous, as AuditAnchor demands: anchor(root of the tree at size n, previous anchored
//   size, n - previous anchored size). The anchored size is read from the contract at start (and again
//   after any failed anchor), never trusted from local state alone.
// - A per-patient sequence number (`seq`) is assigned at commit time, in index order, so a patient's
//   events carry 0, 1, 2, ... and a withheld one shows as a gap.
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { AuditAnchorClient } from "@hygeia/chain";
import {
  MerkleLog,
  decodeAuditEvent,
  encodeAuditEvent,
  formatCheckpoint,
  openCheckpoint,
  signCheckpoint,
  signNote,
  verifierKeyOf,
  type AuditEvent,
} from "@hygeia/audit";
import { DependencyUnavailableError } from "../errors.ts";
import type { CheckpointRow, GatewayStore } from "../store/types.ts";
import type { AuditEventInput, AuditLog, AuditStatus, RecordedAuditEvent } from "./types.ts";

export type { AuditStatus } from "./types.ts";

export const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
const REBUILD_CHUNK = 10_000;
const MAX_BATCH = 1_000;

export interface AuditLogOptions {
  store: GatewayStore;
  /** The AuditAnchor client on the anchoring key; null: checkpoints are signed, not anchored. */
  anchors: AuditAnchorClient | null;
  /** Ed25519 seed (32 bytes) signing checkpoints. */
  signingKey: Uint8Array;
  /** Checkpoint origin line; also the signing key's name. */
  origin: string;
  /** The anchoring address (lowercase), written into every event. */
  gateway: string;
  anchorEveryEvents: number;
  anchorEveryMs: number;
  now: () => number;
  log: Pick<FastifyBaseLogger, "info" | "warn" | "error">;
  /** How long close() waits for its last anchor. Default 15 s. */
  closeAnchorTimeoutMs?: number;
}

/** The full audit service: AuditLog plus what the audit routes serve. */
export interface AuditService extends AuditLog {
  /** C2SP verifier key string of the checkpoint signing key. */
  readonly verifierKey: string;
  readonly gateway: string;
  size(): number;
  /** RFC 9162 root of the tree at `size` (default current), 0x-hex. */
  rootAt(size?: number): string;
  inclusionProof(index: number, size: number): string[];
  consistencyProof(from: number, to: number): string[];
  status(): AuditStatus;
}

interface Pending {
  input: AuditEventInput;
  time: number;
  resolve: (value: RecordedAuditEvent) => void;
  reject: (error: unknown) => void;
}

/** The event's own patient; `fallback` when the bytes do not decode. */
function patientOf(bytes: Uint8Array, fallback: string): string {
  try {
    return decodeAuditEvent(bytes).patient;
  } catch {
    return fallback;
  }
}

function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** Loads the checkpoint signing seed from <dataDir>/audit-signing.key, creating it (0600) on first start. */
export async function loadSigningKey(dataDir: string): Promise<Uint8Array> {
  const path = join(dataDir, "audit-signing.key");
  try {
    const text = (await readFile(path, "utf8")).trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${path}: expected 64 hex digits (an Ed25519 seed)`);
    if (((await stat(path)).mode & 0o077) !== 0) throw new Error(`${path}: readable by others; chmod 600`);
    return Uint8Array.from(Buffer.from(text, "hex"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const seed = randomBytes(32);
  // `wx`: two processes starting at once never overwrite each other's key.
  await writeFile(path, `${seed.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return Uint8Array.from(seed);
}

/**
 * Start refused: the signing key (or the configured origin) does not verify the checkpoints this log already
 * published. Serving on would sign new heads that no patient's pinned verifier key accepts, and old ones that the
 * served key does not verify: every patient's verification would fail at once.
 */
export class AuditKeyMismatchError extends Error {
  override name = "AuditKeyMismatchError";
  readonly code = "AUDIT_KEY_MISMATCH";
}

export async function createAuditLog(options: AuditLogOptions): Promise<AuditService> {
  const log = new GatewayAuditLog(options);
  await log.start();
  return log;
}

class GatewayAuditLog implements AuditService {
  readonly origin: string;
  readonly verifierKey: string;
  readonly gateway: string;
  readonly #options: AuditLogOptions;
  // Native SHA-256: rebuilding a large log at start is hashing-bound.
  readonly #tree = new MerkleLog({ sha256: (data) => createHash("sha256").update(data).digest() });
  /** Events per patient so far: the next `seq`. */
  readonly #seqs = new Map<string, number>();
  #queue: Pending[] = [];
  #draining: Promise<void> | null = null;
  #anchoredSize = 0;
  /** The size of the newest signed checkpoint. */
  #signedSize = 0;
  #chainSynced = false;
  /** The chain queue: the start's read of the chain, then each anchoring, one at a time. */
  #anchoring: Promise<void> = Promise.resolve();
  /** Checkpoint signing, one at a time (never behind the chain). */
  #signing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #lastAnchorError: string | null = null;
  #consistent = true;
  /** The last append failed: it may have landed all the same (read the store back before the next). */
  #appendUncertain = false;
  #closed = false;
  #anchorWaiting = false;

  constructor(options: AuditLogOptions) {
    this.#options = options;
    this.origin = options.origin;
    this.gateway = options.gateway;
    this.verifierKey = verifierKeyOf(options.origin, options.signingKey);
  }

  async start(): Promise<void> {
    const { store } = this.#options;
    await this.#claim();
    const size = await store.auditSize();
    for (let from = 0; from < size; from += REBUILD_CHUNK) {
      for (const row of await store.auditRange(from, Math.min(size, from + REBUILD_CHUNK))) this.#adoptStored(row);
    }
    const latest = await store.latestCheckpoint();
    if (latest) this.#assertSignedByThisKey(latest);
    if (latest && (latest.size > this.#tree.size || latest.rootHash !== this.rootAt(latest.size))) {
      // The stored events no longer hash to what this gateway signed: someone altered the database.
      // Serve on (patients' verifiers will name the damage) but say it loudly.
      this.#consistent = false;
      this.#options.log.error({ size: latest.size }, "audit: stored events do not match the latest signed checkpoint");
    }
    this.#signedSize = latest?.size ?? 0;
    this.#anchoredSize = (await store.latestCheckpoint({ anchored: true }))?.size ?? 0;
    // The chain is read in the background, first in the anchoring queue: a start with the chain down or slow
    // serves at once (record() never waits for the chain), and no anchor runs before this read settles.
    this.#anchoring = this.#syncChain().catch((error: unknown) => this.#anchorFailed(error));
    this.#arm();
  }

  /**
   * Claims this gateway's log in the store. On a store shared by several gateways, an origin already held under
   * another key is another gateway's log: appending to it would break both gateways' proofs.
   */
  async #claim(): Promise<void> {
    // Checked before claiming too: a refused start must leave no log row behind (a stray row naming this account
    // would refuse the real gateway's next start). Checked again after, for two gateways claiming at once.
    await this.#refuseSharedAccount();
    const held = await this.#options.store.claimAuditLog({
      origin: this.origin,
      verifierKey: this.verifierKey,
      gateway: this.gateway,
      createdAt: this.#options.now(),
    });
    if (held.verifierKey !== this.verifierKey)
      throw new AuditKeyMismatchError(
        `audit: the log ${this.origin} in the database is signed with ${held.verifierKey}, not this gateway's key ` +
          `${this.verifierKey}: another gateway uses this origin, or <dataDir>/audit-signing.key was replaced. ` +
          `Give each gateway its own HYGEIA_AUDIT_ORIGIN (by default named after its HYGEIA_ANCHOR_KEY's account), ` +
          `or restore the original key file.`,
      );
    // The log's anchors on chain are its account's: the same key anchoring from another account (a copied data dir
    // with another HYGEIA_ANCHOR_KEY) would start a second chain of anchors that matches no head of the first.
    if (held.gateway !== this.gateway)
      throw new AuditKeyMismatchError(
        `audit: the log ${this.origin} in the database is anchored from ${held.gateway}, not from this gateway's ` +
          `account ${this.gateway}: another gateway holds this log (a copied data dir?), or HYGEIA_ANCHOR_KEY ` +
          `changed. Give each gateway its own data dir and HYGEIA_AUDIT_ORIGIN, or restore the anchor key.`,
      );
    await this.#refuseSharedAccount();
  }

  /**
   * AuditAnchor keeps one contiguous chain of anchors per sender: two logs anchored from one account would interleave
   * their anchors, and neither log would verify against the chain again.
   */
  async #refuseSharedAccount(): Promise<void> {
    if (this.gateway === ZERO_ADDRESS) return;
    const sharing = (await this.#options.store.auditLogs()).find(
      (log) => log.origin !== this.origin && log.gateway === this.gateway,
    );
    if (sharing)
      throw new AuditKeyMismatchError(
        `audit: the log ${sharing.origin} in the database is anchored from ${this.gateway} too: every gateway ` +
          `sharing a database needs its own anchoring account (HYGEIA_ANCHOR_KEY), or the anchors of both logs ` +
          `would interleave on AuditAnchor and neither would verify.`,
      );
  }

  #assertSignedByThisKey(latest: CheckpointRow): void {
    try {
      openCheckpoint(latest.note, this.verifierKey, { origin: this.origin });
    } catch (error) {
      throw new AuditKeyMismatchError(
        `audit: the latest checkpoint (size ${latest.size}) does not verify under this gateway's signing key ` +
          `${this.verifierKey}: <dataDir>/audit-signing.key was replaced, damaged or lost, or the audit origin ` +
          `changed (HYGEIA_AUDIT_ORIGIN). Restore the original key file and origin; a new key would make every ` +
          `patient's verification of this log fail.`,
        { cause: error },
      );
    }
  }

  /**
   * A row read back at start: its indexed `patient` column and the per-patient `seq` are checked against the
   * event bytes the tree covers. A column altered behind the gateway's back (a flipped byte) would otherwise hide
   * the event from its patient's view and hand its `seq` to the next event, with every proof still valid.
   */
  #adoptStored(row: { index: number; patient: string; event: Uint8Array }): void {
    let problem: string | null = null;
    try {
      const event = decodeAuditEvent(row.event);
      const expectedSeq = this.#seqs.get(event.patient) ?? 0;
      if (event.patient !== row.patient) problem = "its patient column differs from the event";
      else if (event.seq !== expectedSeq) problem = `its seq is ${event.seq}, expected ${expectedSeq}`;
    } catch {
      problem = "its bytes are not a valid audit event";
    }
    if (problem !== null && this.#consistent) {
      this.#consistent = false;
      this.#options.log.error({ index: row.index }, `audit: stored row ${row.index} is inconsistent: ${problem}`);
    }
    this.#adopt(row);
  }

  #adopt(row: { index: number; patient: string; event: Uint8Array }): void {
    if (row.index !== this.#tree.size)
      throw new Error(`audit: row ${row.index} out of order (tree at ${this.#tree.size})`);
    this.#tree.appendData(row.event);
    // Seqs follow the event bytes (what the tree covers), not the indexed column.
    const patient = this.#consistent ? row.patient : patientOf(row.event, row.patient);
    this.#seqs.set(patient, (this.#seqs.get(patient) ?? 0) + 1);
  }

  record(input: AuditEventInput): Promise<RecordedAuditEvent> {
    if (this.#closed) {
      return Promise.reject(new DependencyUnavailableError("database", "AUDIT_CLOSED", "the audit log is closed"));
    }
    const time = this.#options.now();
    // A malformed event is refused alone when its batch is encoded (#commit), never failing the others.
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, time, resolve, reject });
      this.#drain();
    });
  }

  #event(input: AuditEventInput, time: number, seq: number): AuditEvent {
    // Optional members are absent, never undefined (the encoding refuses undefined).
    const event: Record<string, unknown> = { v: 1, time, seq, gateway: this.gateway };
    for (const [key, value] of Object.entries(input)) if (value !== undefined) event[key] = value;
    return event as unknown as AuditEvent;
  }

  /** Starts the commit loop when idle; each pass commits whatever queued while the previous one ran. */
  #drain(): Promise<void> {
    this.#draining ??= (async () => {
      try {
        // Let the callers of this tick join the first batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
        while (this.#queue.length > 0) {
          const batch = this.#queue.splice(0, MAX_BATCH);
          // #commit settles every caller of its batch itself; anything it throws is a bug, and still settles them.
          await this.#commit(batch).catch((error: unknown) => {
            this.#options.log.error({ err: error }, "audit: commit failed unexpectedly");
            for (const pending of batch) pending.reject(error);
          });
        }
      } finally {
        this.#draining = null;
      }
    })();
    return this.#draining;
  }

  async #commit(queued: Pending[]): Promise<void> {
    // A failed append may still have landed (the connection died after the commit): the next batch's seqs must follow
    // the stored rows, so the tree and the seqs catch up with the store first.
    if (this.#appendUncertain) {
      try {
        const size = await this.#options.store.auditSize();
        for (let from = this.#tree.size; from < size; from = this.#tree.size) {
          const rows = await this.#options.store.auditRange(from, Math.min(size, from + REBUILD_CHUNK));
          if (rows.length === 0) break;
          for (const row of rows) this.#adoptStored(row);
        }
        this.#appendUncertain = false;
      } catch (error) {
        const refusal = new DependencyUnavailableError(
          "database",
          "DATABASE_UNAVAILABLE",
          "the audit log could not be read back after a failed write",
          { cause: error },
        );
        for (const pending of queued) pending.reject(refusal);
        return;
      }
    }
    const next = new Map<string, number>();
    const batch: Pending[] = [];
    const events: AuditEvent[] = [];
    const items: { patient: string; event: Uint8Array }[] = [];
    for (const pending of queued) {
      const patient = pending.input.patient;
      const seq = next.get(patient) ?? this.#seqs.get(patient) ?? 0;
      const event = this.#event(pending.input, pending.time, seq);
      let bytes: Uint8Array;
      try {
        bytes = encodeAuditEvent(event); // validates the event: one check per event, at its only encoding
      } catch (error) {
        pending.reject(error); // alone: its seq goes to the next event of that patient
        continue;
      }
      next.set(patient, seq + 1);
      batch.push(pending);
      events.push(event);
      items.push({ patient: event.patient, event: bytes });
    }
    if (batch.length === 0) return;
    let rows;
    try {
      rows = await this.#options.store.appendAudit(items);
    } catch (error) {
      this.#options.log.error({ err: error, events: batch.length }, "audit: append failed");
      this.#appendUncertain = true;
      const refusal = new DependencyUnavailableError(
        "database",
        "DATABASE_UNAVAILABLE",
        "the audit event could not be made durable",
        { cause: error },
      );
      for (const pending of batch) pending.reject(refusal);
      return;
    }
    try {
      // Another writer of the same store (none today) would leave a gap: take its rows first.
      const first = rows[0]?.index ?? this.#tree.size;
      if (first > this.#tree.size) {
        for (const row of await this.#options.store.auditRange(this.#tree.size, first)) this.#adopt(row);
      }
      for (const row of rows) this.#adopt(row);
    } catch (error) {
      this.#options.log.error({ err: error }, "audit: the store returned rows out of order");
      for (const pending of batch) pending.reject(error);
      return;
    }
    rows.forEach((row, i) => batch[i]!.resolve({ index: row.index, event: events[i]! }));
    // While the chain fails, only the timer retries (no attempt per commit).
    if (this.#behind() >= this.#options.anchorEveryEvents && this.#lastAnchorError === null) this.#anchorSoon();
    else this.#arm();
  }

  /** Events not yet covered by an anchor (by a signed checkpoint when there is no chain client). */
  #behind(): number {
    return this.#tree.size - (this.#options.anchors === null ? this.#signedSize : this.#anchoredSize);
  }

  /** Arms the T-ms timer once there is something unanchored (or unsigned) and no timer runs. */
  #arm(): void {
    if (this.#timer !== null || this.#closed || this.#behind() <= 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#anchorSoon();
    }, this.#options.anchorEveryMs);
    this.#timer.unref();
  }

  /** A background anchoring (failures are logged by #anchorFailed); at most one waits behind the running one. */
  #anchorSoon(): void {
    if (this.#anchorWaiting) return;
    this.#anchorWaiting = true;
    this.anchorNow()
      .catch(() => undefined)
      .finally(() => {
        this.#anchorWaiting = false;
        // Events that arrived during that anchoring may already fill the next batch.
        const due = this.#behind() >= this.#options.anchorEveryEvents;
        if (due && this.#lastAnchorError === null && !this.#closed) this.#anchorSoon();
      });
  }

  /**
   * Signs a checkpoint of every event so far (never waiting for the chain), then anchors the newest signed
   * head in the chain queue: one anchoring at a time, so firstIndex is always the chain's nextIndex.
   */
  anchorNow(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const signed = this.#signing.then(() => this.#signHead());
    this.#signing = signed.catch(() => undefined);
    const run = signed.then(() => {
      if (this.#options.anchors === null) return undefined;
      const anchored = this.#anchoring.then(() => this.#anchorHead());
      this.#anchoring = anchored.catch(() => undefined);
      return anchored;
    });
    return run.finally(() => this.#arm());
  }

  async #signHead(): Promise<void> {
    await this.#drain();
    const size = this.#tree.size;
    if (size === 0 || size <= this.#signedSize) return;
    try {
      await this.#checkpoint(size);
    } catch (error) {
      this.#options.log.error({ err: error, size }, "audit: checkpoint not stored");
      throw error;
    }
    this.#signedSize = size;
  }

  async #anchorHead(): Promise<void> {
    const anchors = this.#options.anchors!;
    const size = this.#signedSize;
    try {
      if (size === 0) return;
      if (!this.#chainSynced) await this.#syncChain();
      if (this.#anchoredSize >= size) return;
      const checkpoint = await this.#options.store.getCheckpoint(size);
      if (!checkpoint || checkpoint.anchor !== null) return;
      const firstIndex = this.#anchoredSize;
      const outcome = await anchors.anchor(checkpoint.rootHash, firstIndex, size - firstIndex);
      this.#anchoredSize = size;
      await this.#options.store.setCheckpointAnchor(size, {
        txHash: outcome.hash.toLowerCase(),
        blockNumber: outcome.blockNumber,
        firstIndex,
        count: size - firstIndex,
      });
      this.#lastAnchorError = null;
      this.#options.log.info({ size, firstIndex, tx: outcome.hash }, "audit: tree head anchored");
    } catch (error) {
      this.#anchorFailed(error);
      throw error;
    }
  }

  signNote(text: string): string {
    return signNote(text, { name: this.origin, privateKey: this.#options.signingKey });
  }

  /** The stored checkpoint of `size`, signed and stored now when missing. */
  async #checkpoint(size: number): Promise<CheckpointRow> {
    const { store, signingKey, now } = this.#options;
    const existing = await store.getCheckpoint(size);
    if (existing) return existing;
    const body = formatCheckpoint({ origin: this.origin, size, rootHash: this.#tree.root(size) });
    const row: CheckpointRow = {
      size,
      rootHash: this.rootAt(size),
      note: signCheckpoint(body, { name: this.origin, privateKey: signingKey }),
      createdAt: now(),
      anchor: null,
    };
    await store.putCheckpoint(row);
    return row;
  }

  /**
   * Reads where the chain expects this gateway's next anchor. A head anchored on chain but not marked in
   * the store (a crash between the two) is marked now, from the AuditRootAnchored log of its root.
   */
  async #syncChain(): Promise<void> {
    const { anchors, store } = this.#options;
    if (anchors === null) return;
    const nextIndex = Number((await anchors.gatewayOf(this.gateway)).nextIndex);
    if (nextIndex > this.#tree.size) {
      throw new Error(`AuditAnchor expects index ${nextIndex} but the stored log holds ${this.#tree.size} events`);
    }
    if (nextIndex > 0) {
      const checkpoint = await store.getCheckpoint(nextIndex);
      if (checkpoint && checkpoint.anchor === null) {
        const found = (await anchors.findAnchors(checkpoint.rootHash)).find(
          (a) => a.gateway.toLowerCase() === this.gateway && Number(a.firstIndex) + a.count === nextIndex,
        );
        if (found) {
          await store.setCheckpointAnchor(nextIndex, {
            txHash: found.position.transactionHash.toLowerCase(),
            blockNumber: found.position.blockNumber,
            firstIndex: Number(found.firstIndex),
            count: found.count,
          });
        }
      }
    }
    this.#anchoredSize = nextIndex;
    this.#chainSynced = true;
  }

  #anchorFailed(error: unknown): void {
    // The chain may have moved (another anchor landed, a reorg): read it again before the next try.
    this.#chainSynced = false;
    this.#lastAnchorError = error instanceof Error ? error.message : String(error);
    this.#options.log.warn({ err: error }, "audit: anchoring failed; will retry");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#drain();
    const timeoutMs = this.#options.closeAnchorTimeoutMs ?? 15_000;
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timeout = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      const outcome = await Promise.race([this.anchorNow().then(() => "done" as const), expired]);
      if (outcome === "timeout")
        this.#options.log.warn({ timeoutMs }, "audit: last anchor did not finish before close");
    } catch {
      // Logged by #anchorFailed; the checkpoint is stored and signed, and the next start anchors it.
    } finally {
      clearTimeout(timeout);
    }
    this.#options.log.info(this.status(), "audit: closed");
  }

  size(): number {
    return this.#tree.size;
  }

  rootAt(size: number = this.#tree.size): string {
    return hex(this.#tree.root(size));
  }

  inclusionProof(index: number, size: number): string[] {
    return this.#tree.inclusionProof(index, size).map(hex);
  }

  consistencyProof(from: number, to: number): string[] {
    return this.#tree.consistencyProof(from, to).map(hex);
  }

  status(): AuditStatus {
    return {
      size: this.#tree.size,
      anchoredSize: this.#anchoredSize,
      lastAnchorError: this.#lastAnchorError,
      consistentWithCheckpoints: this.#consistent,
    };
  }
}
