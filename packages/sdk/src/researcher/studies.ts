/**
 * A researcher's studies: register on chain and serve at the gateway, close, and pull the dataset.
 *
 * Safety rules:
 * - Checked before anything is sent or paid: the slug, the scopes (canonical), the end (future, at most 10 years),
 *   and that the approval approves this registration as the gateway will require (issued to this researcher's DID,
 *   naming this slug, by the IRB named, for this protocol hash). The session must hold the researcher role.
 * - The study's X25519 key pair is made here and never leaves the caller: the chain and the gateway get the public
 *   half. Whoever loses the private half can never read the study's contributions; if serving fails after the
 *   registration was mined, the error (`StudyNotServedError`) still carries the keys.
 * - A pull is trusted only once it verifies: the gateway's signed manifest (`verifyPull` of @hygeia/research) must
 *   name this study and this researcher and commit to exactly the contributions received (count and Merkle root);
 *   otherwise nothing of the pull is returned (`PullIntegrityError`, kind `integrity`). The gateway's verifier key
 *   is pinned on first use (or given), so a gateway that swaps its key is caught too.
 * - Each contribution is unwrapped with the study key for its own study and CID (`contributionWrapContext`) and
 *   decrypted in full before anything of it is used; one that does not open (a patient's wallet at fault, or an
 *   altered ciphertext) is listed in `unreadable`, none of its content kept, and the pull goes on.
 */
import { InvalidInputError, parseScope, studyIdFor, studySalt } from "@hygeia/chain";
import {
  decryptToBuffer,
  deriveTallyKeyShare,
  generateX25519KeyPair,
  unwrapKey,
  wipe,
  type TallyKeyShare,
  type X25519KeyPair,
} from "@hygeia/crypto";
import { decodeJwt, ethrIdentityAddress } from "@hygeia/identity";
import {
  PullManifestError,
  aggregateDimensions,
  contributionWrapContext,
  isAggregateScope,
  parseAggregateScope,
  researcherTallyLabel,
  verifyPull,
  type PullManifest,
} from "@hygeia/research";
import { getAddress } from "ethers";
import { HygeiaSdkError, IntegrityError, SdkInputError, UnexpectedResponseError, type ErrorKind } from "../errors.ts";
import { base64urlToBytes } from "../study-view.ts";
import type { GatewayTransport } from "../transport.ts";

/** What `registerStudy` takes. */
export interface RegisterStudyOptions {
  /** The study's slug, `[a-z0-9-]` (1-64): the approval's `studyId` claim; the on-chain id is derived from it. */
  slug: string;
  /** The EthicsApprovalCredential (JWT) exactly as the IRB issued it. */
  approval: string;
  /** The IRB (address or did:ethr). Default: the approval's issuer. */
  irb?: string;
  /** Canonical scopes the study asks patients to share (`fhir:Observation`, …), 1 to 32. */
  scopes: readonly string[];
  /**
   * When the study ends: a Date, a duration (`"180d"`, or a number of seconds from now) or an ISO date; at most 10
   * years ahead (as consent expiries).
   */
  endsAt: Date | number | string;
  /** keccak256 of the protocol document (bytes32). Default: the approval's `protocolHash` claim. */
  protocolHash?: string;
  /** The study's key pair; default a fresh one. Keep its private half: nothing else opens the contributions. */
  keys?: X25519KeyPair;
}

/** Pull progress: contributions fetched and opened so far. */
export interface PullProgress {
  done: number;
  total: number;
  /** Ciphertext bytes downloaded so far. */
  bytes: number;
}

export interface PullOptions {
  onProgress?: (progress: PullProgress) => void;
  /** Contributions fetched at once (default 4, at most 32). */
  concurrency?: number;
  /**
   * The gateway's audit verifier key to trust for its log origin (the key's name); default: the one this client
   * pinned for that origin, else the one served.
   */
  verifierKey?: string;
  /** Verifier keys to trust, by log origin: gateways sharing a database each sign pulls with their own. */
  verifierKeys?: Readonly<Record<string, string>>;
  /** Largest plaintext of one extract kept in memory (default 16 MiB): a larger one is `unreadable`. */
  maxExtractBytes?: number;
  signal?: AbortSignal;
}

/** A patient's de-identified extract, decrypted. */
export interface PulledExtract {
  cid: string;
  /** De-identified FHIR R4 resources (each with `resourceType` and a pseudonymous `id`). */
  resources: { resourceType: string; id?: string; [element: string]: unknown }[];
}

export interface PulledDataset {
  studyId: string;
  /** The signed pull manifest, verified: its note (keep it, e.g. for the IRB) and its fields. */
  manifest: {
    /** The C2SP signed note as the gateway signed it (`hygeia/dataset-pull/v1`). */
    note: string;
    verifierKey: string;
    study: string;
    researcher: string;
    block: number;
    time: Date;
    count: number;
    /** RFC 9162 root over the `<cid> <wrap>` leaves, base64. */
    root: string;
  };
  /** Contributions left out by the gateway: no live research consent now (revoked, expired, never granted). */
  excluded: number;
  /** The extracts, by ascending CID. */
  extracts: PulledExtract[];
  /** Contributions that did not open: none of their content is in `extracts`. */
  unreadable: { cid: string; code: string; message: string }[];
}

/** The study is registered on chain but the gateway did not serve it: keep `keys`, then `serveStudy` again. */
export class StudyNotServedError extends HygeiaSdkError {
  readonly studyId: string;
  readonly keys: X25519KeyPair;
  readonly transaction: string;
  constructor(studyId: string, keys: X25519KeyPair, transaction: string, cause: unknown) {
    const inner = cause instanceof HygeiaSdkError ? cause : undefined;
    super(
      inner?.code ?? "STUDY_NOT_SERVED",
      inner?.kind ?? "internal",
      `study ${studyId} is registered on chain (${transaction}), but the gateway did not serve it: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      {
        hint:
          "Keep the study keys (this error carries them), fix the cause, then present the approval again " +
          "(serveStudy / hygeia study serve)" +
          (inner ? `. ${inner.hint}` : "."),
        cause,
      },
    );
    this.studyId = studyId;
    this.keys = keys;
    this.transaction = transaction;
  }
}

/** The pull did not verify: nothing of it is returned. */
export class PullIntegrityError extends IntegrityError {
  readonly studyId: string;
  constructor(code: string, studyId: string, message: string, cause?: unknown) {
    super(
      code,
      `the dataset pull of study ${studyId} did not verify: ${message}`,
      "Nothing of this pull is used. Pull again; if it persists, report the gateway to its operator and your IRB.",
      { cause },
    );
    this.studyId = studyId;
  }
}

/** What an approval says, read without verifying it (the gateway and the patients' wallets verify it). */
export interface ApprovalClaims {
  issuerAddress: string | undefined;
  subjectAddress: string | undefined;
  slug: string | undefined;
  protocolHash: string | undefined;
}

export function approvalClaims(approval: unknown): ApprovalClaims {
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(approval).payload as Record<string, unknown>;
  } catch (error) {
    throw new SdkInputError(
      "approval",
      `not a JWT credential (${error instanceof Error ? error.message : String(error)})`,
      "Pass the EthicsApprovalCredential exactly as the IRB issued it (a JWT).",
    );
  }
  const vc = payload["vc"] as { type?: unknown; credentialSubject?: Record<string, unknown> } | undefined;
  const subject = vc?.credentialSubject;
  if (
    typeof subject !== "object" ||
    subject === null ||
    !Array.isArray(vc?.type) ||
    !vc.type.includes("EthicsApprovalCredential")
  )
    throw new SdkInputError(
      "approval",
      "not an EthicsApprovalCredential",
      "Pass the ethics approval the IRB issued for this study.",
    );
  const subjectId = typeof payload["sub"] === "string" ? payload["sub"] : subject["id"];
  return {
    issuerAddress: typeof payload["iss"] === "string" ? ethrIdentityAddress(payload["iss"]) : undefined,
    subjectAddress: typeof subjectId === "string" ? ethrIdentityAddress(subjectId) : undefined,
    slug: typeof subject["studyId"] === "string" ? subject["studyId"] : undefined,
    protocolHash: typeof subject["protocolHash"] === "string" ? subject["protocolHash"].toLowerCase() : undefined,
  };
}

/** The on-chain id of `researcher`'s study `slug` (what `study:<id>` scopes name), lowercase. */
export function studyIdOf(researcher: string, slug: string): string {
  try {
    return studyIdFor(getAddress(researcher), studySalt(slug)).toLowerCase();
  } catch (error) {
    if (error instanceof InvalidInputError) throw new SdkInputError(error.field, error.detail);
    throw error;
  }
}

/** Canonical scope strings, each checked (`scopes[1]` named when bad), deduplicated and sorted. */
export function studyScopes(input: unknown): string[] {
  if (!Array.isArray(input) || input.length === 0 || input.length > 32)
    throw new SdkInputError(
      "scopes",
      "expected 1 to 32 canonical scopes",
      'Name what the study asks for, e.g. ["fhir:Observation", "fhir:Condition", "fhir:Patient"].',
    );
  input.forEach((scope: unknown, index) => {
    try {
      if (typeof scope === "string" && isAggregateScope(scope)) parseAggregateScope(scope);
      else parseScope(scope);
    } catch (error) {
      throw new SdkInputError(
        `scopes[${index}]`,
        error instanceof Error ? error.message : String(error),
        'Use canonical scopes: "fhir:<ResourceType>", "category:<category>", or "aggregate:<dimension>:<category>,<category>,…" for counts.',
      );
    }
  });
  const scopes = [...new Set(input as string[])].sort();
  try {
    aggregateDimensions(scopes);
  } catch (error) {
    throw new SdkInputError("scopes", error instanceof Error ? error.message : String(error));
  }
  return scopes;
}

/** A fresh study key pair (X25519), for `registerStudy({ keys })` when it must be stored before the registration. */
export function generateStudyKeys(): X25519KeyPair {
  return generateX25519KeyPair();
}

/** Checks a study key pair's shape (two 32-byte halves). */
export function studyKeysArgument(keys: unknown, field = "keys"): X25519KeyPair {
  const k = keys as Partial<X25519KeyPair> | undefined;
  if (
    typeof k !== "object" ||
    k === null ||
    !(k.publicKey instanceof Uint8Array) ||
    k.publicKey.length !== 32 ||
    !(k.secretKey instanceof Uint8Array) ||
    k.secretKey.length !== 32
  )
    throw new SdkInputError(
      field,
      "expected an X25519 key pair { publicKey, secretKey } of 32 bytes each",
      "Pass the study keys registerStudy returned (hygeia keeps them in the study key file).",
    );
  return k as X25519KeyPair;
}

interface DatasetAnswer {
  studyId: string;
  contributions: { cid: string; wrap: string }[];
  block: number;
  manifest: string;
  verifierKey: string;
  excluded: number;
}

/** `POST /v1/studies/:id/dataset`'s answer, checked for shape. */
export function parseDataset(value: unknown, studyId: string): DatasetAnswer {
  const request = `POST /v1/studies/${studyId}/dataset`;
  const bad = (detail: string) => new UnexpectedResponseError(request, `the pull is malformed: ${detail}`);
  if (typeof value !== "object" || value === null) throw bad("not an object");
  const v = value as Record<string, unknown>;
  if (typeof v["studyId"] !== "string" || v["studyId"].toLowerCase() !== studyId) throw bad("another study");
  if (!Array.isArray(v["contributions"])) throw bad("no contributions list");
  const contributions = v["contributions"].map((c: unknown) => {
    const { cid, wrap } = (c ?? {}) as Record<string, unknown>;
    if (typeof cid !== "string" || !/^b[a-z2-7]{1,127}$/.test(cid)) throw bad("a contribution's cid");
    if (typeof wrap !== "string" || !/^[A-Za-z0-9_-]{1,1024}$/.test(wrap)) throw bad("a contribution's wrap");
    return { cid, wrap };
  });
  for (const name of ["block", "excluded"] as const)
    if (typeof v[name] !== "number" || !Number.isSafeInteger(v[name]) || (v[name] as number) < 0) throw bad(name);
  if (typeof v["manifest"] !== "string" || typeof v["verifierKey"] !== "string") throw bad("no manifest");
  return {
    studyId,
    contributions,
    block: v["block"] as number,
    manifest: v["manifest"],
    verifierKey: v["verifierKey"],
    excluded: v["excluded"] as number,
  };
}

/** Verifies the pull's manifest against what was received; a mismatch is a `PullIntegrityError`. */
export function verifiedManifest(
  answer: DatasetAnswer,
  researcher: string,
  verifierKey: string,
): PulledDataset["manifest"] {
  if (answer.verifierKey !== verifierKey)
    throw new PullIntegrityError(
      "VERIFIER_KEY_CHANGED",
      answer.studyId,
      `the gateway signs with ${answer.verifierKey}, not the verifier key pinned (${verifierKey})`,
    );
  let manifest: PullManifest;
  try {
    manifest = verifyPull({
      manifest: answer.manifest,
      verifierKey,
      contributions: answer.contributions,
      study: answer.studyId,
      researcher,
    });
  } catch (error) {
    if (error instanceof PullManifestError)
      throw new PullIntegrityError(
        error.code === "MANIFEST_MISMATCH"
          ? "PULL_MANIFEST_MISMATCH"
          : error.code === "BAD_SIGNATURE"
            ? "PULL_MANIFEST_BAD_SIGNATURE"
            : "PULL_MANIFEST_MALFORMED",
        answer.studyId,
        error.message,
        error,
      );
    throw error;
  }
  if (manifest.block !== answer.block)
    throw new PullIntegrityError(
      "PULL_MANIFEST_MISMATCH",
      answer.studyId,
      `the manifest names block ${manifest.block}, the answer ${answer.block}`,
    );
  let root = "";
  for (const byte of manifest.root) root += String.fromCharCode(byte);
  return {
    note: answer.manifest,
    verifierKey,
    study: manifest.study,
    researcher: manifest.researcher,
    block: manifest.block,
    time: new Date(manifest.time),
    count: manifest.count,
    root: btoa(root),
  };
}

/**
 * Fetches and opens every contribution (at most `concurrency` at once), in the pull's order. A contribution that
 * does not open goes to `unreadable`.
 */
export async function openContributions(
  transport: GatewayTransport,
  studyId: string,
  keys: X25519KeyPair,
  contributions: readonly { cid: string; wrap: string }[],
  options: PullOptions,
): Promise<{ extracts: PulledExtract[]; unreadable: PulledDataset["unreadable"] }> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 32)
    throw new SdkInputError("concurrency", "expected a whole number from 1 to 32");
  const maxBytes = options.maxExtractBytes ?? 16 * 1024 * 1024;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new SdkInputError("maxExtractBytes", "expected bytes");
  const results: ({ extract: PulledExtract } | { unreadable: PulledDataset["unreadable"][number] })[] = new Array(
    contributions.length,
  );
  const progress = { done: 0, total: contributions.length, bytes: 0 };
  options.onProgress?.({ ...progress });
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < contributions.length; i = next++) {
      const { cid, wrap } = contributions[i]!;
      results[i] = await openOne(transport, studyId, keys, cid, wrap, maxBytes, options.signal, (bytes) => {
        progress.bytes += bytes;
      });
      progress.done += 1;
      options.onProgress?.({ ...progress });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, contributions.length) }, worker));
  const extracts: PulledExtract[] = [];
  const unreadable: PulledDataset["unreadable"] = [];
  for (const result of results) {
    if ("extract" in result) extracts.push(result.extract);
    else unreadable.push(result.unreadable);
  }
  return { extracts, unreadable };
}

async function openOne(
  transport: GatewayTransport,
  studyId: string,
  keys: X25519KeyPair,
  cid: string,
  wrap: string,
  maxBytes: number,
  signal: AbortSignal | undefined,
  counted: (bytes: number) => void,
): Promise<{ extract: PulledExtract } | { unreadable: PulledDataset["unreadable"][number] }> {
  const unreadable = (code: string, message: string) => ({ unreadable: { cid, code, message } });
  let dek: Uint8Array;
  try {
    dek = unwrapKey(base64urlToBytes(wrap), keys, contributionWrapContext(studyId, cid));
  } catch {
    return unreadable("WRAP_NOT_OPENED", "its key was not sealed to this study's key for this contribution");
  }
  try {
    // A gateway that cannot serve one ciphertext (gone from IPFS, a network failure) fails the pull: retrying
    // may help, and a dataset quietly missing contributions would mislead. Only what this client cannot open is
    // set aside.
    const content = await transport.download(`/v1/studies/${studyId}/contributions/${cid}/content`, {
      ...(signal ? { signal } : {}),
    });
    const counting = content.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          counted(chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
    );
    let plaintext: Uint8Array;
    try {
      plaintext = await decryptToBuffer(counting, dek, { maxPlaintextBytes: maxBytes });
    } catch (error) {
      if (error instanceof HygeiaSdkError) throw error;
      if (isDropped(error)) throw error;
      return unreadable("EXTRACT_NOT_DECRYPTED", `it did not decrypt: ${(error as Error)?.message ?? String(error)}`);
    }
    let resources: unknown;
    try {
      resources = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
    } catch {
      return unreadable("EXTRACT_NOT_FHIR", "it is not JSON");
    }
    if (
      !Array.isArray(resources) ||
      resources.some(
        (r: unknown) =>
          typeof r !== "object" ||
          r === null ||
          Array.isArray(r) ||
          typeof (r as { resourceType?: unknown }).resourceType !== "string" ||
          !/^[A-Z][A-Za-z]{0,63}$/.test((r as { resourceType: string }).resourceType),
      )
    )
      return unreadable("EXTRACT_NOT_FHIR", "it is not a list of FHIR resources");
    return { extract: { cid, resources: resources as PulledExtract["resources"] } };
  } finally {
    wipe(dek);
  }
}

/** The connection dropped mid-body (undici's "terminated"): a transport failure, not the contribution's fault. */
function isDropped(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (current.message === "terminated" || code === "UND_ERR_SOCKET" || code === "ECONNRESET") return true;
    current = current.cause;
  }
  return false;
}

/** StudyRegistry refusals as SDK errors (by the contract's error name), the rest left to the caller's mapping. */
export function studyRegistryError(error: unknown, action: string): unknown {
  const name = (error as { errorName?: unknown } | null)?.errorName;
  if (typeof name !== "string") return error;
  const known: Record<string, { code: string; kind: ErrorKind; hint: string }> = {
    IrbNotTrusted: {
      code: "IRB_NOT_TRUSTED",
      kind: "refused",
      hint: "The IRB is not accredited as an IRB on the TrustRegistry now: ask governance, or an accredited IRB.",
    },
    IrbIsResearcher: { code: "IRB_IS_RESEARCHER", kind: "usage", hint: "A study's IRB cannot be its researcher." },
    StudyExists: {
      code: "STUDY_EXISTS",
      kind: "conflict",
      hint: "You registered a study with this slug already: choose another slug (or serve the existing one).",
    },
    EndNotInFuture: { code: "INVALID_END", kind: "usage", hint: "Give an end in the future." },
    EndTooFar: { code: "INVALID_END", kind: "usage", hint: "Give an end within 10 years." },
    UnknownStudy: { code: "STUDY_NOT_REGISTERED", kind: "not-found", hint: "Check the study id." },
    NotStudyController: {
      code: "NOT_STUDY_CONTROLLER",
      kind: "refused",
      hint: "Only the study's researcher or its IRB can close it.",
    },
    StudyAlreadyClosed: { code: "STUDY_ALREADY_CLOSED", kind: "conflict", hint: "The study is closed already." },
  };
  const mapped = known[name];
  if (!mapped) return error;
  return new HygeiaSdkError(mapped.code, mapped.kind, `${action}: the StudyRegistry refused (${name})`, {
    hint: mapped.hint,
    cause: error,
  });
}

/** The researcher's share of a study's tally key: derived from the study's secret key, so nothing more is kept. */
export function researcherTallyShare(keys: X25519KeyPair, studyId: string): TallyKeyShare {
  return deriveTallyKeyShare(keys.secretKey, researcherTallyLabel(studyId));
}

/** One aggregate table as the gateway released it. */
export interface AggregateRelease {
  dimension: string;
  /** Count per category, in the study's order; null where withheld (small, or it would reveal one that is). */
  cells: Record<string, number | null>;
  /** The contributors counted; null when withheld (it moved by less than k since an earlier release). */
  total: number | null;
  /** The smallest count the gateway releases. */
  k: number;
}

/** Step 1's answer, checked: the query id, the dimension's categories and one 64-byte encrypted sum per category. */
export function parseAggregateQuery(
  value: unknown,
  request: string,
): { queryId: string; categories: string[]; sums: Uint8Array[] } {
  const bad = (detail: string) => new UnexpectedResponseError(request, `the aggregate query is malformed: ${detail}`);
  if (typeof value !== "object" || value === null) throw bad("not an object");
  const v = value as { queryId?: unknown; dimension?: unknown; sums?: unknown };
  if (typeof v.queryId !== "string" || !/^[0-9a-f-]{36}$/.test(v.queryId)) throw bad("queryId is not a uuid");
  const categories = (v.dimension as { categories?: unknown } | undefined)?.categories;
  if (!Array.isArray(categories) || !categories.every((c) => typeof c === "string")) throw bad("no categories");
  if (!Array.isArray(v.sums) || v.sums.length !== categories.length) throw bad("not one sum per category");
  const sums = v.sums.map((sum: unknown) => {
    const bytes = typeof sum === "string" && /^[A-Za-z0-9_-]{86}$/.test(sum) ? base64urlToBytes(sum) : undefined;
    if (bytes === undefined || bytes.length !== 64) throw bad("a sum is not 64 bytes of base64url");
    return bytes;
  });
  return { queryId: v.queryId, categories: categories as string[], sums };
}

/** Step 2's answer, checked against the categories asked for. */
export function parseAggregateRelease(
  value: unknown,
  request: string,
  categories: readonly string[],
): AggregateRelease {
  const bad = (detail: string) => new UnexpectedResponseError(request, `the aggregate release is malformed: ${detail}`);
  if (typeof value !== "object" || value === null) throw bad("not an object");
  const v = value as { dimension?: unknown; cells?: unknown; total?: unknown; k?: unknown };
  const count = (n: unknown) => n === null || (typeof n === "number" && Number.isSafeInteger(n) && n >= 0);
  if (typeof v.dimension !== "string") throw bad("no dimension");
  if (typeof v.k !== "number" || !Number.isSafeInteger(v.k) || v.k < 3) throw bad("k is not an integer >= 3");
  if (!count(v.total)) throw bad("total is not a count or null");
  const cells = v.cells as Record<string, unknown> | null;
  if (typeof cells !== "object" || cells === null) throw bad("no cells");
  const labels = Object.keys(cells);
  if (labels.length !== categories.length || !categories.every((c) => labels.includes(c)))
    throw bad("its cells are not the dimension's categories");
  if (!labels.every((label) => count(cells[label]))) throw bad("a cell is not a count or null");
  return {
    dimension: v.dimension,
    cells: Object.fromEntries(categories.map((c) => [c, cells[c] as number | null])),
    total: v.total as number | null,
    k: v.k,
  };
}
