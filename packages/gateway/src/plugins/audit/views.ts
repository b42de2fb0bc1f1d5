// Pure parts of the audit routes: page arguments, which head proves which event, row views.
import type { AuditRow, CheckpointRow } from "../../store/types.ts";
import { BadRequestError } from "../../errors.ts";
import { DEFAULT_PAGE } from "./schemas.ts";

export interface HeadRef {
  size: number;
  rootHash: string;
  note: string;
}

/** Proof producer: the audit service's inclusionProof. */
export type InclusionProver = (index: number, size: number) => string[];

export function pageLimit(limit: string | undefined): number {
  return limit === undefined ? DEFAULT_PAGE : Number(limit);
}

export function cursor(after: string | undefined): number | undefined {
  return after === undefined ? undefined : Number(after);
}

/** A head covers event `index` when its size is larger. */
function proofAgainst(head: HeadRef | null, index: number, prove: InclusionProver) {
  return head !== null && index < head.size ? { size: head.size, proof: prove(index, head.size) } : null;
}

export function headView(row: CheckpointRow | undefined): HeadRef | null {
  return row === undefined ? null : { size: row.size, rootHash: row.rootHash, note: row.note };
}

const decoder = new TextDecoder();

/** One of the patient's events with its proofs against the latest anchored and the latest signed head. */
export function eventView(row: AuditRow, anchored: HeadRef | null, latest: HeadRef | null, prove: InclusionProver) {
  const text = decoder.decode(row.event);
  return { index: row.index, seq: seqOf(text), event: text, ...proofs(row.index, anchored, latest, prove) };
}

function proofs(index: number, anchored: HeadRef | null, latest: HeadRef | null, prove: InclusionProver) {
  return { inclusion: proofAgainst(anchored, index, prove), latest: proofAgainst(latest, index, prove) };
}

/** The event's seq; null when the stored bytes are not an event at all (served as is: the verifier names it). */
function seqOf(text: string): number | null {
  try {
    const seq: unknown = (JSON.parse(text) as { seq?: unknown }).seq;
    return typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
  } catch {
    return null;
  }
}

/** Checks a consistency request against the log's size; throws INVALID_RANGE. */
export function consistencyRange(from: number, to: number, size: number): { from: number; to: number } {
  if (from > to) throw new BadRequestError("INVALID_RANGE", "from must not exceed to", { field: "query.from" });
  if (to > size) {
    throw new BadRequestError("INVALID_RANGE", `to exceeds the log's size (${size})`, {
      field: "query.to",
      extensions: { size },
    });
  }
  return { from, to };
}
