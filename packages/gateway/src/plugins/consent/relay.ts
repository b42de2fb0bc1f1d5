// The consent relay: patients sign EIP-712 Grant / Revoke / EmergencyGrantee messages, the gateway sends them
// with its relayer key (patients need no ETH).
//
// Safety rules:
// - No gas for what the contract would refuse. Before anything is sent, each message must parse and its
//   signature recover to the patient it names (parseSigned*), its deadline must lie ahead, a grant's expiry
//   too, and its version (epoch for an emergency registration) must be the slot's current one read from the
//   chain now. The relayer's TransactionSender then simulates the call before it takes a nonce, so a message
//   that went stale in between costs nothing either.
// - One relay in flight per slot (guard.ts): until a slot's transaction settles, another message for it is
//   refused (409 RELAY_IN_PROGRESS) before anything is read or sent; every copy simulates fine until the first
//   is mined, so without it concurrent copies each cost a reverted transaction.
// - A transaction that was sent and reverted on chain is answered as sent (409 RELAYED_BUT_REVERTED, its hash),
//   never as the simulation's "nothing was sent" CONTRACT_REVERT.
// - A batch is checked whole before any of it is sent: one bad item refuses the batch. Two items writing the
//   same slot are refused (the second would be stale once the first is mined).
// - A signed ConsentBatch (one signature, one transaction, consentBatchBySig) gets the same checks as its items
//   relayed one by one: the signature recovers to the patient, the deadline and every grant's expiry lie ahead,
//   every item carries its slot's version as the contract will see it when the item applies (the chain's version
//   plus the batch's earlier writes of that slot: the contract applies the grants, then the revokes, in order). It
//   holds every slot it writes in the in-flight guard, and counts one relay per item against both quotas.
// - Quota: each relayed message counts once against the signed patient (consent address) and once against
//   the session that relays it, per UTC day (config.limits.relayPerDay); refused with 429 once either is spent.
// - Every relayed message is an audit event (`consent_relayed`, the transaction hash) on the patient's log,
//   durable before the answer; its patient is the session's main address when the signed address is the
//   session's own, else the main patient of a link naming the signed address as its consent address (whichever
//   session relays it: the wallet, a helper, the grantee), else the signed address.
// - The relayer's key signs transactions only; the gateway never signs a consent message itself.
import {
  ContractRevertError,
  InsufficientFundsError,
  InvalidInputError,
  NonceConflictError,
  SignatureError,
  TransactionReplacedError,
  parseSignedConsentBatch,
  parseSignedEmergencyGrantee,
  parseSignedGrant,
  parseSignedRevoke,
  requireFutureTime,
  timeBounds,
  type ConsentDomain,
  type ConsentRegistryClient,
  type ConsentTx,
  type Purpose,
  type SignedConsentBatch,
  type SignedEmergencyGrantee,
  type SignedGrant,
  type SignedRevoke,
} from "@hygeia/chain";
import { BadRequestError, ConflictError, DependencyUnavailableError, GatewayError } from "../../errors.ts";
import { revertedTransactionHash } from "../../problems.ts";

export type RelayKind = "grant" | "revoke" | "emergency-grantee";

/** The most the contract lets a signed epoch run ahead of the pair's current one (MAX_EPOCH_SKIP). */
export const MAX_EPOCH_SKIP = 1000;
/** Most messages in one relay request. */
export const MAX_RELAY_BATCH = 32;
/** Quota windows: one UTC day. */
export const RELAY_WINDOW_MS = 86_400_000;

/** The quota window `nowMs` falls in (its start, for the store's counter) and the seconds until the next one. */
export function quotaWindow(nowMs: number): { windowStart: number; retryAfter: number } {
  const windowStart = Math.floor(nowMs / RELAY_WINDOW_MS) * RELAY_WINDOW_MS;
  return { windowStart, retryAfter: Math.max(1, Math.ceil((windowStart + RELAY_WINDOW_MS - nowMs) / 1000)) };
}

export type ParsedRelay =
  | { kind: "grant"; signed: SignedGrant; patient: string; grantee: string }
  | { kind: "revoke"; signed: SignedRevoke; patient: string; grantee: string }
  | { kind: "emergency-grantee"; signed: SignedEmergencyGrantee; patient: string; grantee: string };

/** What the chain holds now for the slot a message writes: its version, or an emergency pair's epoch. */
export type SlotState = { version: number } | { epoch: number };

/**
 * Parses one signed message as a wallet sends it (`signedConsentToJson`): every field validated and the
 * signature recovered to the patient it names. 400 INVALID_SIGNATURE when it does not (another account's
 * signature, a malformed or high-s one), 400 INVALID_INPUT naming the field for anything else.
 */
export function parseRelayItem(kind: RelayKind, domain: ConsentDomain, json: unknown, field: string): ParsedRelay {
  try {
    switch (kind) {
      case "grant": {
        const signed = parseSignedGrant(domain, json);
        return { kind, signed, patient: signed.patient.toLowerCase(), grantee: signed.grantee.toLowerCase() };
      }
      case "revoke": {
        const signed = parseSignedRevoke(domain, json);
        return { kind, signed, patient: signed.patient.toLowerCase(), grantee: signed.grantee.toLowerCase() };
      }
      case "emergency-grantee": {
        const signed = parseSignedEmergencyGrantee(domain, json);
        return { kind, signed, patient: signed.patient.toLowerCase(), grantee: signed.grantee.toLowerCase() };
      }
    }
  } catch (error) {
    if (error instanceof SignatureError)
      throw new BadRequestError(
        "INVALID_SIGNATURE",
        `${error.message}: the patient named in the message must sign it (EIP-712, the registry's domain)`,
        { field, cause: error },
      );
    if (error instanceof InvalidInputError)
      throw new BadRequestError("INVALID_INPUT", error.message, { field: `${field}.${error.field}`, cause: error });
    throw error;
  }
}

/** The slot a message writes: grants and revokes of one (patient, grantee, scope, purpose) share it. */
export function slotKey(item: ParsedRelay): string {
  if (item.kind === "emergency-grantee") return `emergency:${item.patient}:${item.grantee}`;
  return `consent:${item.patient}:${item.grantee}:${item.signed.scope.toLowerCase()}:${item.signed.purpose}`;
}

/** Refuses a batch with two messages for one slot (400 DUPLICATE_SLOT). */
export function requireDistinctSlots(items: readonly ParsedRelay[]): void {
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const key = slotKey(item);
    const first = seen.get(key);
    if (first !== undefined)
      throw new BadRequestError(
        "DUPLICATE_SLOT",
        `items ${first} and ${index} write the same consent slot; relay the second after the first is mined (sign it with the new version)`,
        { field: `body.signed.${index}` },
      );
    seen.set(key, index);
  });
}

/**
 * The pure pre-gas decision for one parsed message: undefined when it may be sent, else the refusal.
 * `nowMs` is the gateway's clock; `state` what the chain holds for the slot now.
 */
export function decideRelay(
  item: ParsedRelay,
  state: SlotState,
  nowMs: number,
  field: string,
): GatewayError | undefined {
  const now = BigInt(Math.floor(nowMs / 1000));
  const { deadline } = item.signed;
  const removal = item.kind === "emergency-grantee" && item.signed.maxDuration === 0;
  // The contract accepts block.timestamp <= deadline; the client refuses a deadline that is not ahead.
  if (removal ? deadline < now : deadline <= now)
    return new BadRequestError(
      "SIGNATURE_EXPIRED",
      `the signature's deadline ${deadline} has passed (now ${now}): sign the message again with a later deadline`,
      { field: `${field}.deadline`, extensions: { deadline: deadline.toString(), now: Number(now) } },
    );
  const bounds = timeBounds({ clock: () => nowMs });
  try {
    if (!removal) requireFutureTime(deadline, 256, `${field}.deadline`, bounds);
    if (item.kind === "grant") requireFutureTime(item.signed.expiry, 64, `${field}.expiry`, bounds);
  } catch (error) {
    if (error instanceof InvalidInputError)
      return new BadRequestError("INVALID_INPUT", error.message, { field: error.field, cause: error });
    throw error;
  }
  if (item.kind === "emergency-grantee") {
    if (!("epoch" in state)) throw new TypeError("an emergency registration needs the pair's epoch");
    if (item.signed.epoch < state.epoch)
      return new ConflictError(
        "STALE_EPOCH",
        `the emergency registration was signed for epoch ${item.signed.epoch}, the pair is at ${state.epoch}: sign it again`,
        { extensions: { current: state.epoch, signed: item.signed.epoch } },
      );
    if (item.signed.epoch - state.epoch > MAX_EPOCH_SKIP)
      return new BadRequestError(
        "EPOCH_TOO_FAR_AHEAD",
        `epoch ${item.signed.epoch} is more than ${MAX_EPOCH_SKIP} above the pair's ${state.epoch}`,
        { field: `${field}.epoch` },
      );
    return undefined;
  }
  if (!("version" in state)) throw new TypeError("a grant or revoke needs the slot's version");
  if (item.signed.version !== state.version)
    return new ConflictError(
      "STALE_VERSION",
      `the message was signed for version ${item.signed.version} of the consent slot, which is at ${state.version} now: ` +
        "something wrote the slot since; sign again with the current version (nextGrantTypedData / nextRevokeTypedData)",
      { extensions: { current: state.version, signed: item.signed.version } },
    );
  return undefined;
}

/** Reads what the chain holds now for the slot the message writes (read-only registry client, latest block). */
export async function readSlotState(registry: ConsentRegistryClient, item: ParsedRelay): Promise<SlotState> {
  if (item.kind === "emergency-grantee") {
    const registration = await registry.emergencyGranteeOf(item.patient, item.grantee, "latest");
    return { epoch: registration.epoch };
  }
  const slot = await registry.consentOf(
    { patient: item.patient, grantee: item.grantee, scope: item.signed.scope, purpose: item.signed.purpose },
    "latest",
  );
  return { version: slot.version };
}

/** One item of a signed ConsentBatch, as the relay checks, guards, counts and audits it. */
export interface BatchItem {
  readonly kind: "grant" | "revoke";
  /** Where it sits in the body: `grants.<i>` or `revokes.<i>`. */
  readonly path: string;
  readonly patient: string;
  readonly grantee: string;
  readonly scope: string;
  readonly purpose: Purpose;
  readonly version: number;
  /** A grant's expiry. */
  readonly expiry?: bigint;
}

export interface ParsedBatch {
  readonly signed: SignedConsentBatch;
  /** The signer (lowercase). */
  readonly patient: string;
  /** The grants, then the revokes: the order the contract applies them in. */
  readonly items: readonly BatchItem[];
}

/**
 * Parses a signed ConsentBatch as a wallet sends it (`signedConsentBatchToJson`): every item validated, at most
 * MAX_RELAY_BATCH items in all, and the one signature recovered to the patient it names. 400 INVALID_SIGNATURE /
 * INVALID_INPUT (naming the item, `body.signed.grants.1.expiry`) like parseRelayItem.
 */
export function parseRelayBatch(domain: ConsentDomain, json: unknown, field: string): ParsedBatch {
  // The size first: no signature is recovered over an oversized batch.
  const record = (typeof json === "object" && json !== null ? json : {}) as { grants?: unknown; revokes?: unknown };
  const count =
    (Array.isArray(record.grants) ? record.grants.length : 0) +
    (Array.isArray(record.revokes) ? record.revokes.length : 0);
  if (count > MAX_RELAY_BATCH)
    throw new BadRequestError(
      "INVALID_INPUT",
      `a relayed batch holds at most ${MAX_RELAY_BATCH} grants and revokes in all, this one ${count}: split it`,
      { field },
    );
  let signed: SignedConsentBatch;
  try {
    signed = parseSignedConsentBatch(domain, json);
  } catch (error) {
    if (error instanceof SignatureError)
      throw new BadRequestError(
        "INVALID_SIGNATURE",
        `${error.message}: the patient named in the batch must sign it (EIP-712, the registry's domain)`,
        { field, cause: error },
      );
    if (error instanceof InvalidInputError)
      throw new BadRequestError("INVALID_INPUT", error.message, {
        field: `${field}.${error.field.replace(/\[(\d+)\]/g, ".$1")}`,
        cause: error,
      });
    throw error;
  }
  const patient = signed.patient.toLowerCase();
  const items: BatchItem[] = [
    ...signed.grants.map((g, i) => ({
      kind: "grant" as const,
      path: `grants.${i}`,
      patient,
      grantee: g.grantee.toLowerCase(),
      scope: g.scope.toLowerCase(),
      purpose: g.purpose,
      version: g.version,
      expiry: g.expiry,
    })),
    ...signed.revokes.map((r, i) => ({
      kind: "revoke" as const,
      path: `revokes.${i}`,
      patient,
      grantee: r.grantee.toLowerCase(),
      scope: r.scope.toLowerCase(),
      purpose: r.purpose,
      version: r.version,
    })),
  ];
  return { signed, patient, items };
}

/** The consent slot a batch item writes: the same key as a single grant or revoke of it (slotKey). */
export function batchItemKey(item: BatchItem): string {
  return `consent:${item.patient}:${item.grantee}:${item.scope}:${item.purpose}`;
}

/** Every slot a batch writes, once each (the guard's keys). */
export function batchSlotKeys(batch: ParsedBatch): string[] {
  return [...new Set(batch.items.map(batchItemKey))];
}

/**
 * The pure pre-gas decision for a signed batch: undefined when it may be sent, else the refusal. `versions` maps
 * each slot key (batchItemKey) to its version on chain now; an item must carry that version plus the number of
 * the batch's items before it that write the same slot (what the contract will see when the item applies).
 */
export function decideBatch(
  batch: ParsedBatch,
  versions: ReadonlyMap<string, number>,
  nowMs: number,
  field: string,
): GatewayError | undefined {
  const now = BigInt(Math.floor(nowMs / 1000));
  const { deadline } = batch.signed;
  if (deadline <= now)
    return new BadRequestError(
      "SIGNATURE_EXPIRED",
      `the signature's deadline ${deadline} has passed (now ${now}): sign the batch again with a later deadline`,
      { field: `${field}.deadline`, extensions: { deadline: deadline.toString(), now: Number(now) } },
    );
  const bounds = timeBounds({ clock: () => nowMs });
  try {
    requireFutureTime(deadline, 256, `${field}.deadline`, bounds);
    for (const item of batch.items)
      if (item.expiry !== undefined) requireFutureTime(item.expiry, 64, `${field}.${item.path}.expiry`, bounds);
  } catch (error) {
    if (error instanceof InvalidInputError)
      return new BadRequestError("INVALID_INPUT", error.message, { field: error.field, cause: error });
    throw error;
  }
  const writes = new Map<string, number>();
  for (const item of batch.items) {
    const key = batchItemKey(item);
    const chain = versions.get(key);
    if (chain === undefined) throw new TypeError(`no version read for ${key}`);
    const earlier = writes.get(key) ?? 0;
    writes.set(key, earlier + 1);
    const current = chain + earlier;
    if (item.version !== current)
      return new ConflictError(
        "STALE_VERSION",
        `${item.path} was signed for version ${item.version} of its consent slot, which is at ${current} when the ` +
          "item applies: something wrote the slot since (or the batch counts its own writes wrong); sign the batch " +
          "again with the current versions (nextConsentBatchTypedData)",
        { extensions: { current, signed: item.version, item: `${field}.${item.path}` } },
      );
  }
  return undefined;
}

/** The chain's version now of every slot the batch writes, by slot key (read-only client, latest block). */
export async function readBatchVersions(
  registry: ConsentRegistryClient,
  batch: ParsedBatch,
): Promise<Map<string, number>> {
  const keys = batchSlotKeys(batch);
  const slots = await Promise.all(
    keys.map((key) => {
      const item = batch.items.find((i) => batchItemKey(i) === key)!;
      return registry.consentOf(
        { patient: item.patient, grantee: item.grantee, scope: item.scope, purpose: item.purpose },
        "latest",
      );
    }),
  );
  return new Map(keys.map((key, index) => [key, slots[index]!.version]));
}

/** Sends one message through the relayer's client; resolves once mined (TransactionSender's contract). */
export function sendRelay(relayer: ConsentRegistryClient, item: ParsedRelay): Promise<ConsentTx> {
  switch (item.kind) {
    case "grant":
      return relayer.grantBySig(item.signed);
    case "revoke":
      return relayer.revokeBySig(item.signed);
    case "emergency-grantee":
      return relayer.setEmergencyGranteeBySig(item.signed);
  }
}

/**
 * A send failure as the gateway answers it: a transaction sent and mined as a revert is 409
 * RELAYED_BUT_REVERTED with its hash; the simulation's refusals that have a relay code keep it
 * (StaleVersion 409, SignatureExpired 400, ...), a relayer that cannot pay or lost its nonce is the chain
 * relayer being unavailable (503); everything else goes through as the chain package's typed error
 * (problems.ts maps those by code).
 */
export function relayFailure(error: unknown, field: string): unknown {
  const sent = revertedTransaction(error);
  if (sent !== undefined) return new RelayedButRevertedError(sent, { cause: error });
  if (error instanceof ContractRevertError) {
    const extensions = { errorName: error.errorName };
    switch (error.errorName) {
      case "StaleVersion":
        return new ConflictError(
          "STALE_VERSION",
          "the consent slot was written since the message was signed: sign again",
          {
            extensions,
          },
        );
      case "StaleEpoch":
        return new ConflictError("STALE_EPOCH", "the emergency pair's epoch moved on: sign again", { extensions });
      case "SignatureExpired":
        return new BadRequestError("SIGNATURE_EXPIRED", "the signature's deadline passed before it was mined", {
          field: `${field}.deadline`,
          extensions,
        });
      case "InvalidSignature":
        return new BadRequestError("INVALID_SIGNATURE", "the contract refused the signature", { field, extensions });
      default:
        return error;
    }
  }
  if (error instanceof InsufficientFundsError)
    return new DependencyUnavailableError(
      "chain",
      "RELAYER_UNAVAILABLE",
      "the gateway's relayer account cannot pay for gas; nothing was sent (the operator must fund it)",
      { cause: error },
    );
  if (error instanceof NonceConflictError || error instanceof TransactionReplacedError)
    return new DependencyUnavailableError(
      "chain",
      "RELAYER_UNAVAILABLE",
      "the relayer's transaction did not take effect (another sender used its nonce); send the message again",
      { cause: error, retryAfterSeconds: 5 },
    );
  if (error instanceof InvalidInputError)
    return new BadRequestError("INVALID_INPUT", error.message, { field: `${field}.${error.field}`, cause: error });
  return error;
}

/**
 * The hash of a transaction that was sent and mined with status 0 (the sender's ContractRevertError carries it
 * in `transactionHash`), else undefined: a simulation's revert, which sent nothing, has no hash.
 */
export function revertedTransaction(error: unknown): string | undefined {
  if (!(error instanceof ContractRevertError)) return undefined;
  return revertedTransactionHash(error);
}

/**
 * 409: the transaction WAS sent and mined, and reverted (the slot changed between the simulation and the
 * inclusion); the relayer paid for it. Never answered as the "nothing was sent" CONTRACT_REVERT.
 */
export class RelayedButRevertedError extends GatewayError {
  override name = "RelayedButRevertedError";
  readonly hash: string;
  constructor(hash: string, options: { cause?: unknown } = {}) {
    super(
      "RELAYED_BUT_REVERTED",
      409,
      `the relayed transaction ${hash} was sent and mined but reverted (the consent slot changed before it was ` +
        "included); the consent is as the chain shows it: read it, and sign again if still wanted",
      { extensions: { hash }, cause: options.cause },
    );
    this.hash = hash;
  }
}

/** 429: the patient's or the session's relays for the day are spent. */
export class RelayQuotaError extends GatewayError {
  override name = "RelayQuotaError";
  constructor(who: "patient" | "session", limit: number, retryAfterSeconds: number) {
    super(
      "RELAY_QUOTA_EXCEEDED",
      429,
      `this ${who} has used its ${limit} relayed transactions for the day; try again after the UTC day ends, or send the transaction from a funded account`,
      { extensions: { quota: who, limit, retryAfter: retryAfterSeconds } },
    );
  }
}

/** The audit reason of a relayed message. */
export function relayReason(kind: RelayKind, stage: "submitted" | "mined" = "mined"): string {
  const suffix = stage === "submitted" ? "SUBMITTED" : "RELAYED";
  switch (kind) {
    case "grant":
      return `GRANT_${suffix}`;
    case "revoke":
      return `REVOKE_${suffix}`;
    case "emergency-grantee":
      return `EMERGENCY_GRANTEE_${suffix}`;
  }
}
