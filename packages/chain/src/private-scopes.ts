/**
 * Keyed scope ids: what the ConsentRegistry stores instead of a readable (or plainly hashed) scope.
 *
 *   id = HMAC-SHA256(scopeKey, "hygeia/scope-id/v1" || 0x00 || consentAddress (20 bytes) || 0x00 || utf8(canonical))
 *
 * `scopeKey` is 32 bytes only the patient's wallet holds (@hygeia/crypto deriveScopeKey, from the wallet's
 * key-derivation signature or keystore secret), so a chain observer cannot hash the public vocabulary back to
 * an id, and one category has unrelated ids for two patients. The consent address (the account that signs the
 * grants: the patient's own, or a pairwise consent account) is hashed in too, so the ids under two pairwise
 * accounts of one patient do not link them. HMAC from ethers (computeHmac), already a dependency of this package.
 *
 * Who needs an id gets it from the patient: the wallet attaches a record's ids (forRecord) to what the gateway
 * stores beside the record's wraps, computes the id of each grant, and names the ids of an emergency
 * registration. Neither gateway nor grantee needs the key; only the wallet can say what an id means (label).
 */
import { computeHmac, concat, getBytes, toUtf8Bytes } from "ethers";
import { InvalidInputError, describe, describeSecret, requireAddress } from "./errors.ts";
import {
  CONSENT_CATEGORIES,
  FHIR_R4_RESOURCE_TYPES,
  categoryScope,
  fhirScope,
  parseScope,
  scopesForRecord,
  type RecordDescriptor,
  type Scope,
} from "./scopes.ts";

export const SCOPE_ID_DOMAIN = "hygeia/scope-id/v1";
const SCOPE_KEY_BYTES = 32;
/** Set by @hygeia/crypto on a consent secret it derived (Symbol.for: no dependency on that package). */
const CONSENT_SECRET_MARK = Symbol.for("hygeia.consentSecret");

const DOMAIN_BYTES = toUtf8Bytes(SCOPE_ID_DOMAIN);
const SEPARATOR = new Uint8Array([0]);

/** What `label` may also recognise beyond the fixed vocabulary (FHIR types and categories). */
export interface KnownScopeValues {
  /** Record CIDs the wallet knows (its manifest). */
  readonly cids?: readonly string[];
  /** Study ids the patient opted into or browsed. */
  readonly studies?: readonly string[];
}

export class PatientScopes {
  /** The checksummed account whose grants these ids are for. */
  readonly consentAddress: string;
  readonly #key: Uint8Array;
  readonly #addressBytes: Uint8Array;
  #vocabulary: Map<string, string> | undefined;

  /** `scopeKey`: 32 bytes from @hygeia/crypto deriveScopeKey; `consentAddress`: the account that signs the grants. */
  constructor(scopeKey: Uint8Array, consentAddress: string) {
    if (!(scopeKey instanceof Uint8Array) || scopeKey.length !== SCOPE_KEY_BYTES) {
      throw new InvalidInputError(
        "scopeKey",
        `expected ${SCOPE_KEY_BYTES} bytes (deriveScopeKey from @hygeia/crypto), got ${describeSecret(scopeKey)}`,
      );
    }
    // Both 32 bytes: only @hygeia/crypto's mark tells the consent secret from the scope key (docs/private-scopes.md).
    if ((scopeKey as unknown as Record<symbol, unknown>)[CONSENT_SECRET_MARK] === true) {
      throw new InvalidInputError(
        "scopeKey",
        "this is the consent secret, not the scope key: pass deriveScopeKey(consentSecret) (ids keyed with the " +
          "consent secret itself would match no other wallet's)",
      );
    }
    this.consentAddress = requireAddress(consentAddress, "consentAddress");
    this.#key = Uint8Array.from(scopeKey);
    this.#addressBytes = getBytes(this.consentAddress);
  }

  /** The same key for another consent address of the same patient (a pairwise consent account). */
  forAddress(consentAddress: string): PatientScopes {
    return new PatientScopes(this.#key, consentAddress);
  }

  /** The keyed bytes32 id (lowercase 0x-hex) of a canonical scope string (validated) or a parsed Scope. */
  id(scope: string | Scope): string {
    return this.#id(scope, "scope");
  }

  /** The ids of several scopes, in order. */
  ids(scopes: readonly (string | Scope)[]): string[] {
    if (!Array.isArray(scopes)) throw new InvalidInputError("scopes", `expected an array, got ${describe(scopes)}`);
    return scopes.map((scope, index) => this.#id(scope, `scopes[${index}]`));
  }

  #id(scope: unknown, field: string): string {
    // A Scope object is re-parsed from its canonical string; anything else (null included) gets InvalidScopeError.
    const input = typeof scope === "object" && scope !== null ? (scope as { canonical?: unknown }).canonical : scope;
    const canonical = parseScope(input, field).canonical;
    return computeHmac(
      "sha256",
      this.#key,
      concat([DOMAIN_BYTES, SEPARATOR, this.#addressBytes, SEPARATOR, toUtf8Bytes(canonical)]),
    ).toLowerCase();
  }

  /**
   * The ids any one of which covers a record (its CID, FHIR type and categories: scopesForRecord), in that order.
   * The wallet hands these to the gateway with the record's wraps; the gateway checks them against the chain.
   */
  forRecord(record: RecordDescriptor): string[] {
    return this.ids(scopesForRecord(record)); // scopesForRecord names a bad field (categories[i], resourceType)
  }

  /**
   * The canonical scope an id stands for, or undefined: computed by hashing the vocabulary (every FHIR R4 type and
   * category) and the `known` CIDs and studies under this key. This is how the wallet shows readable consents.
   */
  label(id: string, known: KnownScopeValues = {}): string | undefined {
    // `known` is checked whatever the id, so a bad list fails the same way for every id, not only for unknown ones.
    const candidates = [
      ...knownValues(known, "cids").map((cid, index) => parseScope(`record:${cid}`, `known.cids[${index}]`)),
      ...knownValues(known, "studies").map((study, index) => parseScope(`study:${study}`, `known.studies[${index}]`)),
    ];
    const wanted = typeof id === "string" ? id.toLowerCase() : "";
    const fixed = this.#fixedVocabulary().get(wanted);
    if (fixed !== undefined) return fixed;
    return candidates.find((scope) => this.id(scope) === wanted)?.canonical;
  }

  #fixedVocabulary(): Map<string, string> {
    if (this.#vocabulary === undefined) {
      const scopes = [...FHIR_R4_RESOURCE_TYPES.map(fhirScope), ...CONSENT_CATEGORIES.map(categoryScope)];
      this.#vocabulary = new Map(scopes.map((scope) => [this.id(scope), scope]));
    }
    return this.#vocabulary;
  }
}

/** The `cids` or `studies` list of label's `known` (none when absent); InvalidInputError naming it otherwise. */
function knownValues(known: unknown, key: "cids" | "studies"): readonly unknown[] {
  if (typeof known !== "object" || known === null) {
    throw new InvalidInputError("known", `expected { cids?, studies? } or nothing, got ${describe(known)}`);
  }
  const values: unknown = (known as Record<string, unknown>)[key];
  if (values === undefined) return [];
  if (!Array.isArray(values)) throw new InvalidInputError(`known.${key}`, `expected an array, got ${describe(values)}`);
  return values;
}
