// Every audit log a gateway can serve: its own, and on a store shared by several gateways (scale-out), each other
// gateway's. A patient's view merges them: whichever gateway answers, it serves each log's events with proofs against
// that log's own signed and anchored heads.
//
// Another gateway's log is mirrored here as a Merkle tree rebuilt from its stored rows and brought up to date before
// each answer (only the rows appended since). The rows are what that gateway committed; a mirror never signs or
// anchors anything: a row altered in the database gives a proof that fails against the other gateway's signed head,
// at the patient's end, as it would for the own log.
import { createHash } from "node:crypto";
import { MerkleLog } from "@hygeia/audit";
import type { AuditLogReader, AuditLogRow, GatewayStore } from "../store/types.ts";
import type { AuditService } from "./audit-log.ts";

const SYNC_CHUNK = 10_000;

/** One log as the audit routes serve it. */
export interface AuditLogView {
  readonly origin: string;
  readonly verifierKey: string;
  /** Its anchoring address, lowercase. */
  readonly gateway: string;
  /** Whether it is this gateway's own log. */
  readonly own: boolean;
  readonly reader: AuditLogReader;
  /** Brings the tree up to the stored rows (another gateway's log; the own log is always current). */
  sync(): Promise<void>;
  size(): number;
  rootAt(size?: number): string;
  inclusionProof(index: number, size: number): string[];
  consistencyProof(from: number, to: number): string[];
}

function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** Another gateway's log, mirrored from the store. */
class MirroredLog implements AuditLogView {
  readonly own = false;
  readonly origin: string;
  readonly verifierKey: string;
  readonly gateway: string;
  readonly reader: AuditLogReader;
  readonly #tree = new MerkleLog({ sha256: (data) => createHash("sha256").update(data).digest() });
  #syncing: Promise<void> = Promise.resolve();

  constructor(row: AuditLogRow, reader: AuditLogReader) {
    this.origin = row.origin;
    this.verifierKey = row.verifierKey;
    this.gateway = row.gateway;
    this.reader = reader;
  }

  sync(): Promise<void> {
    // One sync at a time: two answers racing would otherwise append the same rows twice.
    const next = this.#syncing.then(() => this.#catchUp());
    this.#syncing = next.catch(() => undefined);
    return next;
  }

  async #catchUp(): Promise<void> {
    const size = await this.reader.size();
    while (this.#tree.size < size) {
      const rows = await this.reader.range(this.#tree.size, Math.min(size, this.#tree.size + SYNC_CHUNK));
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.index !== this.#tree.size) throw new Error(`audit log ${this.origin}: row ${row.index} out of order`);
        this.#tree.appendData(row.event);
      }
    }
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
}

/** The own log: the live audit service. */
function ownView(audit: AuditService, reader: AuditLogReader): AuditLogView {
  return {
    own: true,
    origin: audit.origin,
    verifierKey: audit.verifierKey,
    gateway: audit.gateway,
    reader,
    sync: () => Promise.resolve(),
    size: () => audit.size(),
    rootAt: (size) => audit.rootAt(size),
    inclusionProof: (index, size) => audit.inclusionProof(index, size),
    consistencyProof: (from, to) => audit.consistencyProof(from, to),
  };
}

export class AuditLogViews {
  readonly #store: GatewayStore;
  readonly #own: AuditLogView;
  readonly #mirrors = new Map<string, MirroredLog>();

  constructor(store: GatewayStore, audit: AuditService) {
    this.#store = store;
    this.#own = ownView(audit, store.auditLog(audit.origin));
  }

  get own(): AuditLogView {
    return this.#own;
  }

  /** Every log in the store, the own one first. */
  async list(): Promise<AuditLogRow[]> {
    const rows = await this.#store.auditLogs();
    return [...rows].sort(
      (a, b) =>
        Number(b.origin === this.#own.origin) - Number(a.origin === this.#own.origin) ||
        a.origin.localeCompare(b.origin),
    );
  }

  /** The log of that origin (default: the own one), synced; undefined when the store has no such log. */
  async get(origin: string | undefined): Promise<AuditLogView | undefined> {
    if (origin === undefined || origin === this.#own.origin) return this.#own;
    let mirror = this.#mirrors.get(origin);
    if (!mirror) {
      const row = (await this.#store.auditLogs()).find((log) => log.origin === origin);
      if (!row) return undefined;
      mirror = this.#mirrors.get(origin) ?? new MirroredLog(row, this.#store.auditLog(origin));
      this.#mirrors.set(origin, mirror);
    }
    await mirror.sync();
    return mirror;
  }
}
