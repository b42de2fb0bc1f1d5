/**
 * The indexer's in-memory consent table: (patient, grantee, scope, purpose) → slot, with undo
 * records so a reorg can put back exactly what a block changed. Pure; no I/O.
 */
import type { Purpose } from "../purposes.ts";

/** Fixed-width key: patient(40 hex) ‖ grantee(40) ‖ scope(64) ‖ purpose(1 digit), all lowercase. */
export type ConsentKey = string;

export interface SlotValue {
  /** Unix seconds; 0 = revoked (tombstone). */
  readonly expiry: bigint;
  readonly version: number;
}

export interface UndoEntry {
  readonly key: ConsentKey;
  /** Value before the write; undefined when the key did not exist. */
  readonly previous: SlotValue | undefined;
}

export interface KeyParts {
  readonly patient: string;
  readonly grantee: string;
  readonly scope: string;
  readonly purpose: Purpose;
}

/** The (patient, grantee) prefix of their consent keys: what an EmergencyGranteeSet addresses. */
export function pairKey(patient: string, grantee: string): string {
  return `${patient.slice(2)}${grantee.slice(2)}`.toLowerCase();
}

/** Arguments must already be validated: 0x-addresses, 0x-bytes32 scope, purpose 1..5. */
export function consentKey(patient: string, grantee: string, scope: string, purpose: Purpose): ConsentKey {
  return `${patient.slice(2)}${grantee.slice(2)}${scope.slice(2)}${purpose}`.toLowerCase();
}

export function keyParts(key: ConsentKey): KeyParts {
  return {
    patient: `0x${key.slice(0, 40)}`,
    grantee: `0x${key.slice(40, 80)}`,
    scope: `0x${key.slice(80, 144)}`,
    purpose: Number(key.slice(144)) as Purpose,
  };
}

/** Mirrors the contract's isAllowed: a slot allows while expiry > the block (or given) time. */
export function isLive(slot: SlotValue | undefined, atUnixSeconds: bigint): boolean {
  return slot !== undefined && slot.expiry > atUnixSeconds;
}

export class ConsentTable {
  private readonly slots = new Map<ConsentKey, SlotValue>();
  /** Patient prefix (40 lowercase hex) -> its keys: lists one patient's consents without a scan of the table. */
  private readonly byPatient = new Map<string, Set<ConsentKey>>();

  get size(): number {
    return this.slots.size;
  }

  get(key: ConsentKey): SlotValue | undefined {
    return this.slots.get(key);
  }

  /** Writes and returns what undoes the write. */
  write(key: ConsentKey, value: SlotValue): UndoEntry {
    const previous = this.slots.get(key);
    this.slots.set(key, value);
    if (previous === undefined) this.index(key);
    return { key, previous };
  }

  /** Reverts writes; `entries` in the order they were written. */
  undo(entries: readonly UndoEntry[]): void {
    for (let i = entries.length - 1; i >= 0; i--) {
      const { key, previous } = entries[i]!;
      if (previous === undefined) this.remove(key);
      else this.slots.set(key, previous);
    }
  }

  clear(): void {
    this.slots.clear();
    this.byPatient.clear();
  }

  /** The keys of `patient` (a validated 0x-address). */
  keysOf(patient: string): readonly ConsentKey[] {
    return [...(this.byPatient.get(patient.slice(2).toLowerCase()) ?? [])];
  }

  private index(key: ConsentKey): void {
    const patient = key.slice(0, 40);
    let keys = this.byPatient.get(patient);
    if (!keys) this.byPatient.set(patient, (keys = new Set()));
    keys.add(key);
  }

  private remove(key: ConsentKey): void {
    this.slots.delete(key);
    const patient = key.slice(0, 40);
    const keys = this.byPatient.get(patient);
    keys?.delete(key);
    if (keys?.size === 0) this.byPatient.delete(patient);
  }

  entries(): IterableIterator<[ConsentKey, SlotValue]> {
    return this.slots.entries();
  }
}
