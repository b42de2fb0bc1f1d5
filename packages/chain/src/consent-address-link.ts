/**
 * ConsentAddressLink: "consent address X acts for patient P toward grantee G", signed by both accounts, for the
 * gateway (it maps (patient, grantee) -> consent address so records reach the grantee with the right ids).
 *
 * What this module guarantees:
 * - The gateway learns the link only from the patient, and only a true one: a link is signed by the patient's main
 *   account (nobody attaches a foreign address to a patient) and by the consent account (nobody claims an address
 *   they do not control); verifyConsentAddressLink checks both and the domain.
 *
 * What it does not: a link is a transferable proof that P controls X. Whoever holds a copy (the gateway, anyone its
 * database leaks to) can show it to anyone, and it cannot be withdrawn (a newer link replaces it for the gateway,
 * the old signatures stay valid). Send a link only to a gateway that needs it, and only for a grantee that reads
 * records through that gateway.
 */
import { TypedDataEncoder, getAddress, recoverAddress, type TypedDataField } from "ethers";
import {
  EIP712_DOMAIN_TYPE,
  consentDomain,
  consentDomainJson,
  signTypedDataAs,
  splitSignature,
  type ConsentDomainInput,
  type ConsentDomainJson,
  type ConsentSigner,
} from "./eip712.ts";
import {
  ConsentAddressLinkError,
  InvalidInputError,
  describe,
  requireAddress,
  requireNonZeroAddress,
  requireSmallUint,
} from "./errors.ts";
import { describeSigner, isConsentSigner } from "./signer-check.ts";

/**
 * The link's EIP-712 type, in the ConsentRegistry's consent domain (chain id and registry address), so a link
 * made for one deployment is refused by another; its own primary type, so no link signature is ever a Grant or
 * Revoke. The contract never sees it: the gateway stores it to map (patient, grantee) -> consent address.
 *
 * `issuedAt` (unix seconds), not a deadline: the link states a lasting fact (P controls X and uses it toward G)
 * that the gateway keeps for as long as the grants from X live, so it must not expire; replaying it only
 * repeats that fact. issuedAt orders the links of one (patient, grantee) pair (a newer one, e.g. after the wallet
 * moved the grantee to a new account, replaces the older one); verification refuses one issued in the future.
 */
export const CONSENT_ADDRESS_LINK_TYPES = {
  ConsentAddressLink: [
    { name: "patient", type: "address" },
    { name: "consentAddress", type: "address" },
    { name: "grantee", type: "address" },
    { name: "issuedAt", type: "uint64" },
  ],
} as const;

/** How far ahead of the verifier's clock a link's issuedAt may be (clock skew between devices), in seconds. */
export const MAX_LINK_CLOCK_SKEW_SECONDS = 300;

export interface ConsentAddressLinkMessage {
  /** The patient's main account (its did:ethr address). */
  readonly patient: string;
  /** The pairwise consent account that grants to `grantee` for the patient. */
  readonly consentAddress: string;
  readonly grantee: string;
  /** Unix seconds. */
  readonly issuedAt: number;
}

/** A link signed by both accounts; JSON-safe as it is (what the wallet sends and the gateway stores). */
export interface SignedConsentAddressLink extends ConsentAddressLinkMessage {
  /** 65-byte r‖s‖v hex by `patient`. */
  readonly patientSignature: string;
  /** 65-byte r‖s‖v hex by `consentAddress`. */
  readonly consentSignature: string;
}

export interface ConsentAddressLinkTypedData {
  readonly types: { readonly EIP712Domain: typeof EIP712_DOMAIN_TYPE } & typeof CONSENT_ADDRESS_LINK_TYPES;
  readonly primaryType: "ConsentAddressLink";
  readonly domain: ConsentDomainJson;
  readonly message: ConsentAddressLinkMessage;
}

/** The eth_signTypedData_v4 payload of a link (what the patient's wallet shows). */
export function buildConsentAddressLinkTypedData(
  domain: ConsentDomainInput,
  input: ConsentAddressLinkMessage,
): ConsentAddressLinkTypedData {
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...CONSENT_ADDRESS_LINK_TYPES },
    primaryType: "ConsentAddressLink",
    domain: consentDomainJson(domain),
    message: toLinkMessage(input),
  };
}

/** The EIP-712 digest both accounts sign. */
export function consentAddressLinkDigest(domain: ConsentDomainInput, input: ConsentAddressLinkMessage): string {
  const json = consentDomainJson(domain);
  return TypedDataEncoder.hash(consentDomain(json.chainId, json.verifyingContract), LINK_FIELDS, toLinkMessage(input));
}

/**
 * Signs "consentSigner's address acts for patientSigner's address toward `grantee`" with both: the patient's
 * main wallet (its prompt shows the link) and the consent account (a local key: consentAccount(seed, index)).
 * `issuedAt` defaults to now. Checks the result as verifyConsentAddressLink does, so a wallet that signed with
 * another account than asked is caught here (ConsentAddressLinkError).
 */
export async function signConsentAddressLink(
  patientSigner: ConsentSigner,
  consentSigner: ConsentSigner,
  input: { readonly grantee: string; readonly issuedAt?: number },
  domain: ConsentDomainInput,
): Promise<SignedConsentAddressLink> {
  if (typeof input !== "object" || input === null)
    throw new InvalidInputError("input", `expected { grantee, issuedAt? }, got ${describe(input)}`);
  const patient = await signerAddress(patientSigner, "patientSigner");
  const consentAddress = await signerAddress(consentSigner, "consentSigner");
  const issuedAt = input.issuedAt ?? Math.floor(Date.now() / 1000);
  const payload = buildConsentAddressLinkTypedData(domain, {
    patient,
    consentAddress,
    grantee: input.grantee,
    issuedAt,
  });
  requireIssuedBy(payload.message.issuedAt, Date.now()); // before any prompt: a gateway would refuse it
  const consentSignature = await signTypedDataAs(consentSigner, payload, consentAddress);
  const patientSignature = await signTypedDataAs(patientSigner, payload, patient);
  return verifyConsentAddressLink({ ...payload.message, patientSignature, consentSignature }, domain);
}

/**
 * Checks a link received as JSON (the gateway, before storing it): every field, the domain, the patient's
 * signature and the consent account's. Returns the normalized link (checksummed addresses, signatures in
 * r‖s‖v form). Refuses with ConsentAddressLinkError a signature by anyone else (field "patientSignature" or
 * "consentSignature"), InvalidInputError a malformed field or an issuedAt more than MAX_LINK_CLOCK_SKEW_SECONDS
 * ahead of `options.now` (milliseconds, default Date.now()).
 */
export function verifyConsentAddressLink(
  link: unknown,
  domain: ConsentDomainInput,
  options: { readonly now?: number } = {},
): SignedConsentAddressLink {
  if (typeof options !== "object" || options === null)
    throw new InvalidInputError("options", `expected { now? } or nothing, got ${describe(options)}`);
  if (typeof link !== "object" || link === null || Array.isArray(link))
    throw new InvalidInputError("link", `expected a signed ConsentAddressLink object, got ${describe(link)}`);
  const record = link as Record<string, unknown>;
  const message = toLinkMessage(record as unknown as ConsentAddressLinkMessage);
  const digest = consentAddressLinkDigest(domain, message);
  const patientSignature = requireSignedBy(digest, record["patientSignature"], message.patient, "patientSignature");
  const consentSignature = requireSignedBy(
    digest,
    record["consentSignature"],
    message.consentAddress,
    "consentSignature",
  );
  requireIssuedBy(message.issuedAt, options.now ?? Date.now());
  return { ...message, patientSignature, consentSignature };
}

// ---------------------------------------------------------------------------------------------

const LINK_FIELDS: Record<string, TypedDataField[]> = {
  ConsentAddressLink: CONSENT_ADDRESS_LINK_TYPES.ConsentAddressLink.map((field) => ({ ...field })),
};

function toLinkMessage(input: ConsentAddressLinkMessage): ConsentAddressLinkMessage {
  if (typeof input !== "object" || input === null)
    throw new InvalidInputError(
      "link",
      `expected { patient, consentAddress, grantee, issuedAt }, got ${describe(input)}`,
    );
  const patient = requireNonZeroAddress(input.patient, "patient");
  const consentAddress = requireNonZeroAddress(input.consentAddress, "consentAddress");
  const grantee = requireNonZeroAddress(input.grantee, "grantee");
  if (consentAddress === patient)
    throw new InvalidInputError(
      "consentAddress",
      "is the patient's own address: a link names a pairwise consent account",
    );
  if (grantee === patient || grantee === consentAddress)
    throw new InvalidInputError(
      "grantee",
      "is the patient or the consent address itself: name the clinic or researcher",
    );
  return { patient, consentAddress, grantee, issuedAt: requireSmallUint(input.issuedAt, 48, "issuedAt") };
}

function requireIssuedBy(issuedAt: number, nowMs: unknown): void {
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs))
    throw new InvalidInputError("now", `expected milliseconds since the epoch, got ${describe(nowMs)}`);
  if (issuedAt > Math.floor(nowMs / 1000) + MAX_LINK_CLOCK_SKEW_SECONDS) {
    throw new InvalidInputError(
      "issuedAt",
      `${issuedAt} lies more than ${MAX_LINK_CLOCK_SKEW_SECONDS} s in the future (unix seconds, not milliseconds?); ` +
        "a link is dated when it is signed: check the wallet's clock and sign it again",
    );
  }
}

/** The signature in r‖s‖v form when it recovers to `expected`; ConsentAddressLinkError otherwise. */
function requireSignedBy(
  digest: string,
  signature: unknown,
  expected: string,
  field: "patientSignature" | "consentSignature",
): string {
  let serialized: string;
  let actual: string;
  try {
    serialized = splitSignature(signature).signature;
    actual = recoverAddress(digest, serialized);
  } catch (error) {
    throw new ConsentAddressLinkError(field, expected, undefined, { cause: error });
  }
  if (actual !== expected) throw new ConsentAddressLinkError(field, expected, actual);
  return serialized;
}

async function signerAddress(signer: ConsentSigner, field: string): Promise<string> {
  if (!isConsentSigner(signer))
    throw new InvalidInputError(
      field,
      `expected an ethers Signer or { eip1193, account }, got ${describeSigner(signer)}`,
    );
  if ("eip1193" in signer) return requireAddress(signer.account, `${field}.account`);
  return getAddress(await signer.getAddress());
}
