/**
 * The clinic reads a patient's records: list what its consent covers now, release its key of one (audited at the
 * gateway), download the ciphertext and decrypt it here.
 *
 * Rules:
 * - Consent is the chain's, asked by the gateway at the moment of each request; nothing here caches a permission.
 * - The plaintext exists only on the clinic's side: the gateway hands out the clinic's own wrap and the
 *   ciphertext, and the DEK is unwrapped with the clinic's X25519 key pair(s), bound to the record's CID.
 * - Browser-safe (the web clinic page uses it); writing a record to a file is records-file.node.ts. The public names
 *   are re-exported by records.ts; the helpers exported here are for records-file.node.ts only.
 * - A refusal is a `RecordAccessRefusedError` (kind "refused") with the gateway's code (CONSENT_REQUIRED,
 *   KEY_NOT_SHARED) and what to do next; a record whose ciphertext does not verify is an `IntegrityError`, never
 *   partial plaintext (decryption releases nothing until the final chunk verified).
 */
import { getAddress, isAddress } from "ethers";
import { InvalidArgumentError, decryptToBuffer, unwrapKey, wipe, type X25519KeyPair } from "@hygeia/crypto";
import { parsePurpose, purposeName, type PurposeName } from "@hygeia/chain/browser";
import { parseCid, recordKeyContext } from "@hygeia/storage/browser";
import {
  GatewayProblemError,
  HygeiaSdkError,
  IntegrityError,
  SdkInputError,
  UnexpectedResponseError,
} from "../errors.ts";
import { ProgressMeter, meteredStream, type ProgressCallback } from "../progress.ts";
import type { GatewayTransport } from "../transport.ts";
import { RecordAccessRefusedError } from "./errors.ts";

/** A record of the patient the clinic's consent covers now. */
export interface CoveredRecord {
  cid: string;
  /** The keyed scope id whose consent covers it (opaque: only the patient's wallet can tell what it stands for). */
  scope: string | null;
  /** The address whose consent covers it (the patient's, or a pairwise consent account of the patient). */
  consentAddress: string;
}

export interface ListRecordsOptions {
  /** The purpose of use: Treatment, Research, Emergency, Payment, PublicHealth. */
  purpose: PurposeName | string;
  /** Only records covered through this scope id (bytes32, as `records()` lists them). */
  scope?: string;
  /** At most this many (default: all the gateway lists). */
  limit?: number;
  signal?: AbortSignal;
}

export interface FetchRecordOptions {
  purpose: PurposeName | string;
  /** Download progress: bytes, total, rate and ETA. */
  onProgress?: ProgressCallback;
  /** Refuse a record whose plaintext is larger than this (default 64 MiB; use `fetchRecordToFile` for large files). */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** What a key release told, with the plaintext. */
export interface FetchedRecord {
  cid: string;
  /** The plaintext: a FHIR resource's JSON, a PDF, a DICOM file, as the patient uploaded it. */
  bytes: Uint8Array;
  /** The FHIR resource, when the plaintext is a JSON object with a `resourceType`. */
  fhir: Record<string, unknown> | undefined;
  scope: string | null;
  consentAddress: string;
  purpose: string;
  /** Released under break-glass. */
  emergency: boolean;
  /** The release's event in the patient's audit log. */
  auditIndex: number;
  /** The origin of the audit log holding that event (the releasing gateway's). */
  auditLog: string;
}

export interface FetchedRecordFile extends Omit<FetchedRecord, "bytes" | "fhir"> {
  path: string;
  plaintextBytes: number;
}

export interface RefusedRecord {
  cid: string;
  error: RecordAccessRefusedError;
}

interface KeyRelease {
  cid: string;
  wrap: string;
  scope: string | null;
  consentAddress: string;
  purpose: string;
  emergency: boolean;
  auditIndex: number;
  auditLog: string;
}

const REFUSAL_HINTS: Record<string, string> = {
  CONSENT_REQUIRED:
    "Ask the patient to grant you consent for this record's scope and purpose (no live consent covers it for you now).",
  KEY_NOT_SHARED:
    "Your consent holds, but the patient's wallet has not wrapped this record's key for you yet: ask the patient to open their wallet so it shares the key.",
};

/** A patient named by address or did:ethr, as the gateway's paths want it (lowercase address). */
export function patientAddress(patient: string): string {
  const id = typeof patient === "string" && patient.startsWith("did:ethr:") ? patient.split(":").pop()! : patient;
  if (typeof id !== "string" || !isAddress(id))
    throw new SdkInputError(
      "patient",
      "not an Ethereum address or did:ethr",
      "Give the patient's address or did:ethr.",
    );
  return getAddress(id).toLowerCase();
}

export function purposeOf(purpose: unknown): PurposeName {
  try {
    return purposeName(parsePurpose(purpose));
  } catch {
    throw new SdkInputError(
      "purpose",
      `unknown purpose ${JSON.stringify(purpose)}`,
      "Use one of Treatment, Research, Emergency, Payment, PublicHealth.",
    );
  }
}

export function cidOf(cid: unknown): string {
  try {
    return parseCid(cid).toString();
  } catch {
    throw new SdkInputError("cid", "not a CID", "Give the record's CID as records() lists it.");
  }
}

/** The records of `patient` the caller's consent covers now, for `purpose`, newest first (all pages). */
export async function listCoveredRecords(
  transport: GatewayTransport,
  patient: string,
  options: ListRecordsOptions,
): Promise<CoveredRecord[]> {
  const address = patientAddress(patient);
  const purpose = purposeOf(options?.purpose);
  const scope = options.scope?.toLowerCase();
  if (scope !== undefined && !/^0x[0-9a-f]{64}$/.test(scope))
    throw new SdkInputError(
      "scope",
      "not a scope id (bytes32)",
      "Give a scope id as records() lists it (0x + 64 hex).",
    );
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const found: CoveredRecord[] = [];
  for (let after: string | undefined, first = true; first || after !== undefined; first = false) {
    const page = await transport.request<{ records: CoveredRecord[]; next: string | null }>(
      "GET",
      `/v1/patients/${address}/records`,
      { query: { purpose, limit: 100, after }, ...(options.signal ? { signal: options.signal } : {}) },
    );
    if (!Array.isArray(page?.records))
      throw new UnexpectedResponseError(`GET /v1/patients/${address}/records`, "the answer is not a record list");
    for (const record of page.records) {
      if (scope !== undefined && record.scope?.toLowerCase() !== scope) continue;
      found.push(record);
      if (found.length >= limit) return found;
    }
    after = page.next ?? undefined;
  }
  return found;
}

/** Releases the caller's key of the record (audited at the gateway) and unwraps it with one of `keyPairs`. */
export async function releaseKey(
  transport: GatewayTransport,
  keyPairs: readonly X25519KeyPair[],
  patient: string,
  cid: string,
  purpose: PurposeName,
  signal: AbortSignal | undefined,
): Promise<{ release: KeyRelease; dek: Uint8Array }> {
  let release: KeyRelease;
  try {
    release = await transport.request<KeyRelease>("POST", `/v1/patients/${patient}/records/${cid}/key`, {
      json: { purpose },
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    throw refusalOf(error, patient, cid, purpose);
  }
  if (typeof release?.wrap !== "string")
    throw new UnexpectedResponseError(`POST /v1/patients/${patient}/records/${cid}/key`, "the answer has no wrap");
  const wrap = base64urlBytes(release.wrap);
  const context = recordKeyContext(parseCid(cid));
  for (const keyPair of keyPairs) {
    try {
      return { release, dek: unwrapKey(wrap, keyPair, context) };
    } catch {
      // Another of the clinic's keys (a key change) may open it.
    }
  }
  throw new RecordAccessRefusedError(
    "KEY_NOT_SHARED",
    `the key the gateway released for ${cid} is not sealed to any of your encryption keys`,
    "The patient wrapped this record to a key you no longer hold: publish your current key (publishKey) and ask the patient to share the record again.",
    { patient, cid, purpose },
  );
}

/** Key release, ciphertext download and decryption of one record, in memory. */
export async function fetchRecord(
  transport: GatewayTransport,
  keyPairs: readonly X25519KeyPair[],
  patient: string,
  cid: string,
  options: FetchRecordOptions,
): Promise<FetchedRecord> {
  const address = patientAddress(patient);
  const id = cidOf(cid);
  const purpose = purposeOf(options?.purpose);
  const { release, dek } = await releaseKey(transport, keyPairs, address, id, purpose, options.signal);
  try {
    const body = await download(transport, address, id, purpose, options);
    let bytes: Uint8Array;
    try {
      bytes = await decryptToBuffer(body, dek, { maxPlaintextBytes: options.maxBytes ?? 64 * 1024 * 1024 });
    } catch (error) {
      throw decryptionFailure(error, id);
    }
    return { cid: id, bytes, fhir: fhirOf(bytes), ...releaseFacts(release, purpose) };
  } finally {
    wipe(dek);
  }
}

export async function download(
  transport: GatewayTransport,
  patient: string,
  cid: string,
  purpose: PurposeName,
  options: Pick<FetchRecordOptions, "onProgress" | "signal">,
): Promise<ReadableStream<Uint8Array>> {
  let content: { body: ReadableStream<Uint8Array>; size: number | undefined };
  try {
    content = await transport.download(`/v1/patients/${patient}/records/${cid}/content`, {
      query: { purpose },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    // Consent can end between the key release and the download (a revoke mined in between).
    throw refusalOf(error, patient, cid, purpose);
  }
  return options.onProgress
    ? meteredStream(content.body, new ProgressMeter(content.size, options.onProgress))
    : content.body;
}

export function releaseFacts(release: KeyRelease, purpose: PurposeName) {
  return {
    scope: release.scope,
    consentAddress: release.consentAddress,
    purpose: release.purpose ?? purpose,
    emergency: release.emergency === true,
    auditIndex: release.auditIndex,
    auditLog: release.auditLog,
  };
}

function refusalOf(error: unknown, patient: string, cid: string, purpose: string): unknown {
  if (error instanceof GatewayProblemError && (error.code === "CONSENT_REQUIRED" || error.code === "KEY_NOT_SHARED"))
    return new RecordAccessRefusedError(
      error.code,
      `${error.code === "CONSENT_REQUIRED" ? "no consent" : "no key shared"} for record ${cid} of ${patient} (purpose ${purpose}): ${error.problem.detail}`,
      REFUSAL_HINTS[error.code]!,
      { patient, cid, purpose, instance: error.instance, cause: error },
    );
  return error;
}

export function decryptionFailure(error: unknown, cid: string): unknown {
  if (error instanceof HygeiaSdkError) return error;
  // The only argument error decryption of a gateway stream can meet: the plaintext passed the in-memory limit.
  if (error instanceof InvalidArgumentError && error.field === "envelope")
    return new SdkInputError(
      "maxBytes",
      `record ${cid} is larger than the in-memory limit`,
      "Fetch it to a file instead (fetchRecordToFile / --output), or raise maxBytes.",
    );
  return new IntegrityError(
    "RECORD_INTEGRITY",
    `record ${cid} did not decrypt: ${(error as Error)?.message ?? String(error)}`,
    "The ciphertext or its key was altered or cut short: nothing of it was kept. Report it to the patient and the gateway's operator.",
    { cause: error },
  );
}

function fhirOf(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.byteLength === 0 || bytes[0] !== 0x7b /* { */) return undefined;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    return typeof parsed === "object" &&
      parsed !== null &&
      typeof (parsed as { resourceType?: unknown }).resourceType === "string"
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function base64urlBytes(text: string): Uint8Array {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
