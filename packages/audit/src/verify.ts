// verifyAuditLog: a patient's check that the gateway's audit log holds their events, unaltered, in one
// append-only history bound to the gateway's on-chain anchors.
//
// What it proves, and how (README "Verifying"):
// - Heads: every checkpoint is a C2SP note signed by the gateway's key (BAD_SIGNATURE otherwise). Every
//   anchor read from AuditAnchor binds the head of size firstIndex + count to its root; a checkpoint and an
//   anchor of the same size must agree (ANCHOR_MISMATCH), as must two checkpoints of one size (a fork).
//   Anchors of one gateway are contiguous (the contract enforces it; checked again here).
// - History: all heads, sorted by size, are linked pairwise by consistency proofs (BAD_CONSISTENCY when a
//   proof is missing or fails): the gateway cannot have shown two different histories, nor rewritten one
//   after anchoring it.
// - Events: each event's bytes must be canonical and the patient's (TAMPERED_EVENT), and included in a
//   known head by its proof (TAMPERED_EVENT when the proof has the right shape and the event does not hash
//   into it, BAD_INCLUSION when the proof is malformed or names an unknown head). With `requireAnchored`
//   (default), a head that no anchor covers is UNANCHORED_HEAD.
// - Completeness: the log numbers each patient's events 0, 1, 2, ... (`seq`, inside the signed leaf). Served
//   events must carry consecutive seq values from `fromSeq` (0 for a full listing) in index order, and every
//   index the patient learned elsewhere (`knownIndexes`: a release's auditIndex, a notification) must be
//   served: otherwise MISSING_EVENT. A gateway that withholds the patient's newest events entirely is caught
//   only through `knownIndexes` (the README says so).
import { decodeAuditEvent, type AuditEvent } from "./event.ts";
import { equalBytes, leafHash, verifyConsistency, verifyInclusion } from "./merkle.ts";
import { CheckpointError, openCheckpoint, parseVerifierKey, type VerifierKey } from "./checkpoint.ts";
import { fromHex, toHex } from "./base64.ts";

/** A 32-byte hash: bytes, or 0x-hex (as the gateway's JSON and the chain carry them). */
export type HashInput = Uint8Array | string;

export interface ServedEvent {
  index: number;
  /** The canonical event bytes, or their UTF-8 text (the JSON string the gateway served). */
  event: Uint8Array | string;
  inclusion: { size: number; proof: readonly HashInput[] };
}

export interface ServedCheckpoint {
  note: string;
  /** As the server declared them beside the note (optional; checked against the signed note). */
  size?: number;
  rootHash?: HashInput;
}

export interface ServedConsistency {
  from: number;
  to: number;
  proof: readonly HashInput[];
}

/** An AuditRootAnchored event of this gateway, as read from the chain by the caller. */
export interface AnchorInput {
  root: HashInput;
  firstIndex: number | bigint;
  count: number;
}

export type AuditProblemCode =
  | "TAMPERED_EVENT"
  | "BAD_INCLUSION"
  | "BAD_CONSISTENCY"
  | "UNANCHORED_HEAD"
  | "ANCHOR_MISMATCH"
  | "MISSING_EVENT"
  | "BAD_SIGNATURE";

export interface AuditProblem {
  code: AuditProblemCode;
  message: string;
  index?: number;
  size?: number;
}

export interface VerifiedEvent {
  index: number;
  ok: boolean;
  /** Present when ok is false. */
  reason?: AuditProblemCode;
  /** The decoded event, when its bytes are a valid event. */
  event?: AuditEvent;
}

export interface VerifiedHead {
  size: number;
  rootHash: string;
  /** A checkpoint signed by the verifier key shows this head. */
  signed: boolean;
  /** An anchor on chain binds this head. */
  anchored: boolean;
}

export interface AuditVerification {
  ok: boolean;
  events: VerifiedEvent[];
  /** Every head known (signed and/or anchored), by size. */
  heads: VerifiedHead[];
  problems: AuditProblem[];
}

export interface VerifyAuditLogInput {
  events: readonly ServedEvent[];
  checkpoints: readonly ServedCheckpoint[];
  consistency: readonly ServedConsistency[];
  anchors: readonly AnchorInput[];
  verifierKey: string | VerifierKey;
  /** The patient's address (lowercase 0x-hex): every event must be theirs. */
  patient: string;
  /** The gateway's anchoring address (lowercase); when given, an event naming another gateway is refused. */
  gateway?: string;
  /** The log's origin; when given, checkpoints of another origin are refused. */
  origin?: string;
  /** The seq the first served event must carry (0: the listing starts at the patient's first event). */
  fromSeq?: number;
  /** Indexes of the patient's events learned elsewhere: each must be served. */
  knownIndexes?: readonly number[];
  /** Default true: an event proven only against a head no anchor covers fails (UNANCHORED_HEAD). */
  requireAnchored?: boolean;
}

const encoder = new TextEncoder();

// Inputs come from a server's JSON: nothing is trusted to have its declared type.
function toBytes(hash: unknown): Uint8Array | undefined {
  if (typeof hash === "string") return fromHex(hash);
  return hash instanceof Uint8Array ? hash : undefined;
}

/** A list of 32-byte hashes, or undefined when `value` is anything else. */
function hashList(value: unknown): Uint8Array[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out = value.map(toBytes);
  return out.every((h): h is Uint8Array => h !== undefined && h.length === 32) ? out : undefined;
}

function hexOf(bytes: Uint8Array): string {
  return `0x${toHex(bytes)}`;
}

/** The number of hashes in PATH(index, D[size]) (RFC 9162 §2.1.3.1), to tell a wrong event from a malformed proof. */
export function inclusionProofLength(index: number, size: number): number {
  let length = 0;
  let from = 0;
  let to = size;
  while (to - from > 1) {
    let k = 1;
    while (k * 2 < to - from) k *= 2;
    if (index - from < k) to = from + k;
    else from += k;
    length += 1;
  }
  return length;
}

export function verifyAuditLog(input: VerifyAuditLogInput): AuditVerification {
  const problems: AuditProblem[] = [];
  const problem = (code: AuditProblemCode, message: string, at: { index?: number; size?: number } = {}): void => {
    problems.push({ code, message, ...at });
  };
  let key: VerifierKey;
  try {
    key = typeof input.verifierKey === "string" ? parseVerifierKey(input.verifierKey) : input.verifierKey;
  } catch (error) {
    problem("BAD_SIGNATURE", `unusable verifier key: ${(error as Error).message}`);
    return { ok: false, events: [], heads: [], problems };
  }

  // Heads: size -> root, from signed checkpoints and from anchors.
  const heads = new Map<number, { root: Uint8Array; signed: boolean; anchored: boolean }>();
  for (const served of input.checkpoints) {
    let checkpoint;
    try {
      checkpoint = openCheckpoint(served?.note, key, input.origin === undefined ? {} : { origin: input.origin });
    } catch (error) {
      const code = error instanceof CheckpointError ? error.code : "MALFORMED_NOTE";
      problem("BAD_SIGNATURE", `checkpoint refused (${code}): ${(error as Error).message}`, ...sizeOf(served?.size));
      continue;
    }
    const declaredRoot = served.rootHash === undefined ? undefined : toBytes(served.rootHash);
    if (
      (served.size !== undefined && served.size !== checkpoint.size) ||
      (served.rootHash !== undefined && (declaredRoot === undefined || !equalBytes(declaredRoot, checkpoint.rootHash)))
    ) {
      problem("BAD_SIGNATURE", "the size or root served beside a checkpoint differs from the signed note", {
        size: checkpoint.size,
      });
    }
    const known = heads.get(checkpoint.size);
    if (known && !equalBytes(known.root, checkpoint.rootHash)) {
      problem("BAD_CONSISTENCY", `two signed heads of size ${checkpoint.size} with different roots (a fork)`, {
        size: checkpoint.size,
      });
      continue;
    }
    heads.set(checkpoint.size, { root: checkpoint.rootHash, signed: true, anchored: false });
  }

  const anchors = [...input.anchors]
    .filter((a): a is AnchorInput => typeof a === "object" && a !== null)
    .map((a) => ({ root: toBytes(a.root), first: toNumber(a.firstIndex), count: toNumber(a.count) }))
    .sort((a, b) => a.first - b.first);
  let expectedFirst = 0;
  for (const anchor of anchors) {
    const size = anchor.first + anchor.count;
    if (
      !Number.isSafeInteger(anchor.first) ||
      !Number.isSafeInteger(anchor.count) ||
      anchor.first < 0 ||
      anchor.count < 1
    ) {
      problem("ANCHOR_MISMATCH", "an anchor's firstIndex or count is not a valid number");
      continue;
    }
    if (anchor.root === undefined || anchor.root.length !== 32) {
      problem("ANCHOR_MISMATCH", "an anchor's root is not a 32-byte hash", { size });
      continue;
    }
    if (anchor.first !== expectedFirst) {
      problem(
        "ANCHOR_MISMATCH",
        `anchors are not contiguous: one starts at ${anchor.first}, expected ${expectedFirst}`,
        {
          size,
        },
      );
    }
    expectedFirst = size;
    const known = heads.get(size);
    if (known === undefined) heads.set(size, { root: anchor.root, signed: false, anchored: true });
    else if (equalBytes(known.root, anchor.root)) known.anchored = true;
    else problem("ANCHOR_MISMATCH", `the head of size ${size} differs from the root anchored on chain`, { size });
  }

  // History: consecutive heads linked by consistency proofs.
  const sizes = [...heads.keys()].sort((a, b) => a - b);
  for (let i = 1; i < sizes.length; i++) {
    const from = sizes[i - 1]!;
    const to = sizes[i]!;
    const served = input.consistency.find((c) => c?.from === from && c?.to === to);
    if (served === undefined) {
      problem("BAD_CONSISTENCY", `no consistency proof from ${from} to ${to}`, { size: to });
      continue;
    }
    const proof = hashList(served.proof);
    const valid = proof !== undefined && verifyConsistency(from, to, proof, heads.get(from)!.root, heads.get(to)!.root);
    if (!valid) {
      problem(
        "BAD_CONSISTENCY",
        `the head of size ${to} does not extend the head of size ${from} (a fork or a rewrite)`,
        {
          size: to,
        },
      );
    }
  }

  // Events.
  const requireAnchored = input.requireAnchored ?? true;
  const events: VerifiedEvent[] = [];
  const seen: { index: number; seq: number }[] = [];
  for (const entry of input.events) {
    if (typeof entry !== "object" || entry === null) {
      problem("BAD_INCLUSION", "an event entry is not an object");
      continue;
    }
    const served = entry;
    if (typeof served.index !== "number" || !Number.isSafeInteger(served.index) || served.index < 0) {
      problem("BAD_INCLUSION", "an event entry has no valid index");
      continue;
    }
    const fail = (reason: AuditProblemCode, message: string, event?: AuditEvent): void => {
      problem(reason, message, { index: served.index });
      events.push({ index: served.index, ok: false, reason, ...(event ? { event } : {}) });
    };
    const bytes = typeof served.event === "string" ? encoder.encode(served.event) : toUint8Array(served.event);
    let event: AuditEvent;
    try {
      event = decodeAuditEvent(bytes);
    } catch (error) {
      fail("TAMPERED_EVENT", `event ${served.index} is not a canonical audit event: ${(error as Error).message}`);
      continue;
    }
    if (event.patient !== input.patient) {
      fail("TAMPERED_EVENT", `event ${served.index} belongs to another patient`, event);
      continue;
    }
    if (input.gateway !== undefined && event.gateway !== input.gateway) {
      fail("TAMPERED_EVENT", `event ${served.index} names another gateway`, event);
      continue;
    }
    seen.push({ index: served.index, seq: event.seq });
    const size =
      typeof served.inclusion === "object" && served.inclusion !== null ? toNumber(served.inclusion.size) : NaN;
    const head = heads.get(size);
    const proof = hashList(served.inclusion?.proof);
    if (head === undefined) {
      fail("BAD_INCLUSION", `event ${served.index} is proven against an unknown head of size ${size}`, event);
      continue;
    }
    const wellFormed =
      Number.isSafeInteger(served.index) &&
      served.index >= 0 &&
      served.index < size &&
      proof !== undefined &&
      proof.length === inclusionProofLength(served.index, size);
    if (!wellFormed) {
      fail("BAD_INCLUSION", `event ${served.index}: malformed inclusion proof for a tree of ${size}`, event);
      continue;
    }
    if (!verifyInclusion(leafHash(bytes), served.index, size, proof, head.root)) {
      fail("TAMPERED_EVENT", `event ${served.index} is not the event the head of size ${size} includes`, event);
      continue;
    }
    if (requireAnchored && !head.anchored) {
      fail(
        "UNANCHORED_HEAD",
        `event ${served.index} is proven only against the unanchored head of size ${size}`,
        event,
      );
      continue;
    }
    events.push({ index: served.index, ok: true, event });
  }

  // Completeness: consecutive seq in index order, and every known index served.
  seen.sort((a, b) => a.index - b.index);
  let expectedSeq = input.fromSeq ?? 0;
  for (const { index, seq } of seen) {
    if (seq > expectedSeq) {
      const missing = seq - expectedSeq;
      problem(
        "MISSING_EVENT",
        `${missing} event(s) of this patient (seq ${expectedSeq}${missing > 1 ? `..${seq - 1}` : ""}) withheld before index ${index}`,
        { index },
      );
    } else if (seq < expectedSeq) {
      problem("TAMPERED_EVENT", `event ${index} repeats seq ${seq}`, { index });
    }
    expectedSeq = Math.max(expectedSeq, seq + 1);
  }
  const servedIndexes = new Set(input.events.map((e) => (typeof e === "object" && e !== null ? e.index : undefined)));
  for (const index of input.knownIndexes ?? []) {
    if (!servedIndexes.has(index))
      problem("MISSING_EVENT", `event ${index} (known to the patient) was not served`, { index });
  }

  return {
    ok: problems.length === 0,
    events,
    heads: sizes.map((size) => {
      const head = heads.get(size)!;
      return { size, rootHash: hexOf(head.root), signed: head.signed, anchored: head.anchored };
    }),
    problems,
  };
}

/** A number or bigint as a number; NaN for anything else (never a conversion that can throw). */
function toNumber(value: unknown): number {
  return typeof value === "number" || typeof value === "bigint" ? Number(value) : NaN;
}

function toUint8Array(value: unknown): Uint8Array {
  return value instanceof Uint8Array ? value : new Uint8Array(0);
}

function sizeOf(size: unknown): [] | [{ size: number }] {
  return typeof size === "number" ? [{ size }] : [];
}
