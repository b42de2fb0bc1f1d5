/**
 * Studies as the gateway serves them, read by the patient's wallet and the researcher's client alike.
 *
 * Rules:
 * - Every answer is the network's word: it is checked member by member before anything is built on it, and one
 *   that does not have the documented shape is an `UnexpectedResponseError` naming the request. A study's
 *   `encryptionKey` must decode to exactly 32 bytes (an X25519 public key): a DEK is sealed to it.
 * - Addresses are EIP-55, times `Date`s, keys base64url as served (the bytes through `studyPublicKey`).
 * - Being well-formed is not being trusted: the patient's wallet checks a study against the chain and verifies its
 *   approval itself before sharing anything (patient/studies.ts).
 *
 * Browser-safe: no `node:*` import.
 */
import { getAddress, isAddress } from "ethers";
import { SdkInputError, UnexpectedResponseError } from "./errors.ts";
import type { GatewayTransport } from "./transport.ts";

/** A study served by the gateway (`GET /v1/studies/:studyId`). */
export interface Study {
  /** The study's on-chain id (bytes32, lowercase 0x-hex): what `study:<studyId>` scopes name. */
  studyId: string;
  /** The protocol title its ethics approval names. */
  title: string;
  /** EIP-55. */
  researcher: string;
  /** The IRB that approved it (EIP-55). */
  irb: string;
  /** The canonical scopes the study asks for (`fhir:Observation`, …), sorted. */
  scopes: string[];
  /** The study's X25519 public key, base64url (43 characters, 32 bytes): contributions are sealed to it. */
  encryptionKey: string;
  /** When the study ends (whole seconds). */
  endsAt: Date;
  /** The EthicsApprovalCredential (JWT) as the IRB issued it. */
  approval: string;
  /** When the gateway last verified the approval. */
  checkedAt: Date;
  /** What the study may count (its `aggregate:` scopes): each dimension's categories, in order. Empty: no counts. */
  aggregates: { name: string; categories: string[] }[];
  /** The joint tally key (base64url) a contribution's facts are encrypted to; null when the study counts nothing. */
  tallyKey: string | null;
}

/** A patient's contribution to a study, as the gateway keeps it (it names no content). */
export interface StudyContribution {
  studyId: string;
  /** The ciphertext of the de-identified extract. */
  cid: string;
  /** Ciphertext bytes. */
  size: number;
  /** The address whose research grant the pulls check (lowercase). */
  consentAddress: string;
  /** The keyed scope id of `study:<studyId>` (opaque to everyone but the patient's wallet). */
  scopeId: string;
  createdAt: Date;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const KEY = /^[A-Za-z0-9_-]{43}$/;
const CID = /^b[a-z2-7]{1,127}$/;
const SCOPE = /^\S{1,200}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** A study id argument: bytes32 0x-hex, returned lowercase. */
export function studyIdArgument(input: unknown, field = "studyId"): string {
  if (typeof input !== "string" || !BYTES32.test(input))
    throw new SdkInputError(
      field,
      `expected a study id (0x + 64 hex digits), got ${typeof input === "string" ? JSON.stringify(input.slice(0, 80)) : typeof input}`,
      "Give the study's id as listed (hygeia study list / studies.list()).",
    );
  return input.toLowerCase();
}

/** A served study, checked; `request` names the request in an error. */
export function parseStudy(value: unknown, request: string): Study {
  const bad = (detail: string) => new UnexpectedResponseError(request, `the study is malformed: ${detail}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("not an object");
  const v = value as Record<string, unknown>;
  if (typeof v["studyId"] !== "string" || !BYTES32.test(v["studyId"])) throw bad("studyId is not bytes32");
  if (typeof v["title"] !== "string" || v["title"].length > 1000) throw bad("title is not a string");
  const researcher = addressMember(v["researcher"], "researcher", bad);
  const irb = addressMember(v["irb"], "irb", bad);
  const scopes = v["scopes"];
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > 32)
    throw bad("scopes is not a list of 1 to 32 scopes");
  for (const scope of scopes) if (typeof scope !== "string" || !SCOPE.test(scope)) throw bad("a scope is not a string");
  const key = v["encryptionKey"];
  if (typeof key !== "string" || !KEY.test(key) || base64urlToBytes(key).length !== 32)
    throw bad("encryptionKey is not a 32-byte X25519 key in base64url");
  const endsAt = v["endsAt"];
  if (typeof endsAt !== "number" || !Number.isSafeInteger(endsAt) || endsAt <= 0)
    throw bad("endsAt is not unix seconds");
  if (typeof v["approval"] !== "string" || !JWT.test(v["approval"]) || v["approval"].length > 16_384)
    throw bad("approval is not a JWT");
  const checkedAt = v["checkedAt"];
  if (typeof checkedAt !== "number" || !Number.isSafeInteger(checkedAt) || checkedAt < 0)
    throw bad("checkedAt is not unix milliseconds");
  const aggregates = v["aggregates"];
  if (
    !Array.isArray(aggregates) ||
    aggregates.length > 32 ||
    !aggregates.every(
      (d: unknown) =>
        typeof d === "object" &&
        d !== null &&
        typeof (d as { name?: unknown }).name === "string" &&
        Array.isArray((d as { categories?: unknown }).categories) &&
        (d as { categories: unknown[] }).categories.length >= 2 &&
        (d as { categories: unknown[] }).categories.length <= 64 &&
        (d as { categories: unknown[] }).categories.every((c) => typeof c === "string"),
    )
  )
    throw bad("aggregates is not a list of { name, categories }");
  const tallyKey = v["tallyKey"];
  if (!(tallyKey === null || (typeof tallyKey === "string" && KEY.test(tallyKey))))
    throw bad("tallyKey is neither null nor a 32-byte key in base64url");
  if ((tallyKey === null) !== (aggregates.length === 0)) throw bad("tallyKey and aggregates disagree");
  return {
    studyId: v["studyId"].toLowerCase(),
    title: v["title"],
    researcher,
    irb,
    scopes: [...(scopes as string[])].sort(),
    encryptionKey: key,
    endsAt: new Date(endsAt * 1000),
    approval: v["approval"],
    checkedAt: new Date(checkedAt),
    aggregates: (aggregates as { name: string; categories: string[] }[]).map((d) => ({
      name: d.name,
      categories: [...d.categories],
    })),
    tallyKey,
  };
}

/** A contribution view, checked. */
export function parseContribution(value: unknown, request: string): StudyContribution {
  const bad = (detail: string) => new UnexpectedResponseError(request, `the contribution is malformed: ${detail}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("not an object");
  const v = value as Record<string, unknown>;
  if (typeof v["studyId"] !== "string" || !BYTES32.test(v["studyId"])) throw bad("studyId is not bytes32");
  if (typeof v["cid"] !== "string" || !CID.test(v["cid"])) throw bad("cid is not a CIDv1");
  if (typeof v["size"] !== "number" || !Number.isSafeInteger(v["size"]) || v["size"] < 0) throw bad("size");
  const consentAddress = addressMember(v["consentAddress"], "consentAddress", bad).toLowerCase();
  if (typeof v["scopeId"] !== "string" || !BYTES32.test(v["scopeId"])) throw bad("scopeId is not bytes32");
  const createdAt = v["createdAt"];
  if (typeof createdAt !== "number" || !Number.isSafeInteger(createdAt) || createdAt < 0) throw bad("createdAt");
  return {
    studyId: v["studyId"].toLowerCase(),
    cid: v["cid"],
    size: v["size"],
    consentAddress,
    scopeId: v["scopeId"].toLowerCase(),
    createdAt: new Date(createdAt),
  };
}

/** Every study the gateway serves now (all pages of `GET /v1/studies`), checked. */
export async function listServedStudies(transport: GatewayTransport): Promise<Study[]> {
  const studies: Study[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const answer = await transport.request<{ studies?: unknown; next?: unknown }>("GET", "/v1/studies", {
      query: { limit: 100, after },
    });
    if (typeof answer !== "object" || answer === null || !Array.isArray(answer.studies))
      throw new UnexpectedResponseError("GET /v1/studies", "the answer is not a study list");
    for (const study of answer.studies) studies.push(parseStudy(study, "GET /v1/studies"));
    if (answer.next === null || answer.next === undefined) return studies;
    if (typeof answer.next !== "string" || !BYTES32.test(answer.next) || answer.next.toLowerCase() === after)
      throw new UnexpectedResponseError("GET /v1/studies", "the answer's next cursor is malformed");
    after = answer.next.toLowerCase();
  }
  throw new UnexpectedResponseError("GET /v1/studies", "the list does not end");
}

/** One served study, checked (and the one asked for). */
export async function getServedStudy(transport: GatewayTransport, studyId: string): Promise<Study> {
  const request = `GET /v1/studies/${studyId}`;
  const study = parseStudy(await transport.request<unknown>("GET", `/v1/studies/${studyId}`), request);
  if (study.studyId !== studyId) throw new UnexpectedResponseError(request, `the answer is study ${study.studyId}`);
  return study;
}

/** The study's X25519 public key as bytes (32). */
export function studyPublicKey(study: Pick<Study, "encryptionKey">): Uint8Array {
  return base64urlToBytes(study.encryptionKey);
}

function addressMember(value: unknown, name: string, bad: (detail: string) => Error): string {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value) || !isAddress(value.toLowerCase()))
    throw bad(`${name} is not an address`);
  return getAddress(value.toLowerCase());
}

export function bytesToBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function base64urlToBytes(text: string): Uint8Array {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
