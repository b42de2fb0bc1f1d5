// The crash suite's side file of acknowledged records: one JSON line per record whose add resolved, appended and
// fdatasynced only AFTER the add resolved, so every line names a record the store acknowledged.
import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import type { PatientRecords } from "../../src/index.ts";

export interface Ack {
  cid: string;
  sha256: string;
  size: number;
}

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export async function appendAck(path: string, ack: Ack): Promise<void> {
  const handle = await open(path, "a");
  try {
    await handle.write(`${JSON.stringify(ack)}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Every complete line (a kill can leave the last one cut short: it was never fsynced, so never relied on). */
export async function readAcks(path: string): Promise<Ack[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  const acks: Ack[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    try {
      acks.push(JSON.parse(line) as Ack);
    } catch {
      // a torn last line: its add resolved but the ack write did not complete; nothing is claimed for it
    }
  }
  return acks;
}

/**
 * Checks a store against the acknowledgements: every acknowledged record is listed in the latest manifest and
 * decrypts to exactly its bytes, and every manifest entry (also of adds killed before their ack) is readable:
 * no dangling entry. Throws saying what failed.
 */
export async function verifyRecords(records: PatientRecords, acks: readonly Ack[]): Promise<{ entries: number }> {
  const latest = await records.manifest.latest();
  const entries = latest?.entries ?? [];
  const listed = new Set(entries.map((entry) => entry.cid.toString()));
  for (const ack of acks) {
    if (!listed.has(ack.cid)) throw new Error(`acknowledged record ${ack.cid} is not in the latest manifest`);
  }
  const byCid = new Map(acks.map((ack) => [ack.cid, ack]));
  for (const entry of entries) {
    let bytes: Uint8Array;
    try {
      bytes = await records.readRecord(entry);
    } catch (cause) {
      throw new Error(`manifest entry ${entry.cid.toString()} cannot be read (dangling)`, { cause });
    }
    const ack = byCid.get(entry.cid.toString());
    if (ack !== undefined && (bytes.length !== ack.size || sha256(bytes) !== ack.sha256)) {
      throw new Error(`acknowledged record ${ack.cid} decrypts to other bytes`);
    }
  }
  return { entries: entries.length };
}
