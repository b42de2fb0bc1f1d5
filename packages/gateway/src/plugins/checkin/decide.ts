// Check-in decisions, pure: what state a check-in is in, and who may read its answer.
import type { Session } from "../../auth/session.ts";
import type { CheckInRow } from "../../store/types.ts";

export type CheckInStatus = "open" | "answered" | "expired";

export function checkInStatus(row: Pick<CheckInRow, "expiresAt" | "completedAt">, now: number): CheckInStatus {
  if (row.completedAt !== null) return "answered";
  return row.expiresAt <= now ? "expired" : "open";
}

/** Only the clinic that opened the check-in, while it still holds the clinic role, reads the answer. */
export function mayReadAnswer(session: Session | null, row: Pick<CheckInRow, "clinic">): boolean {
  return session !== null && session.address === row.clinic && session.roles.has("clinic");
}

/**
 * The clinic's proof round trip of one check-in: the patient whose wallet challenged the clinic first (bound to the
 * check-in from then on), its current challenge, and the clinic's proof for it once posted.
 */
export interface ClinicRelay {
  /** The signed-in address that posted the first challenge (lowercase): the only one that may answer now. */
  patient: string;
  challenge: string;
  domain: string;
  challengedAt: number;
  /** The clinic's JWT VP for `challenge`; null until posted (a new challenge clears it). */
  proof: string | null;
  provedAt: number | null;
}

/**
 * A wallet's challenge: binds the check-in to the first patient (`bind`), lets that patient replace its own
 * challenge (`rebind`, e.g. the wallet restarted), refuses others (`taken`) and any check-in no longer open.
 */
export function decideClinicChallenge(
  status: CheckInStatus,
  relay: Pick<ClinicRelay, "patient"> | undefined,
  patient: string,
): "bind" | "rebind" | "closed" | "taken" {
  if (status !== "open") return "closed";
  if (relay === undefined) return "bind";
  return relay.patient === patient ? "rebind" : "taken";
}

/** The clinic's proof is taken while open, for the wallet's CURRENT challenge only. */
export function decideClinicProof(
  status: CheckInStatus,
  relay: Pick<ClinicRelay, "challenge"> | undefined,
  challenge: string,
): "accept" | "closed" | "no-challenge" | "stale" {
  if (status !== "open") return "closed";
  if (relay === undefined) return "no-challenge";
  return relay.challenge === challenge ? "accept" : "stale";
}

/** The bound patient reads the proof (or learns it is not there yet); to anyone else there is no challenge. */
export function decideProofRead(
  status: CheckInStatus,
  relay: Pick<ClinicRelay, "patient" | "proof"> | undefined,
  reader: string,
): "proved" | "awaiting" | "closed" | "not-challenged" {
  if (relay === undefined || relay.patient !== reader) return "not-challenged";
  if (status !== "open") return "closed";
  return relay.proof === null ? "awaiting" : "proved";
}

/** Once a patient challenged the clinic, only that patient may answer the check-in. */
export function mayAnswer(relay: Pick<ClinicRelay, "patient"> | undefined, address: string): boolean {
  return relay === undefined || relay.patient === address;
}
