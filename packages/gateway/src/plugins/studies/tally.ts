// The gateway's half of a study's encrypted tallies (@hygeia/crypto tally.ts): its key share per study (derived from
// <dataDir>/tally.key, so nothing per study is stored), the joint key patients encrypt their facts to, checking
// those facts, summing them over the contributors with live consent, and the open aggregate queries between the
// sum and the researcher's partial decryptions.
//
// Safety rules:
// - Facts are stored only when every dimension of the study is present and its proofs verify under the joint key
//   and the contributing patient's own context: no cell worth more than one, no replay of another's facts.
// - The gateway's share never leaves this process; alone it opens nothing (the researcher holds the other).
// - An open query holds the sums it served and nothing else; it is single use and expires (QUERY_TTL_MS), and the
//   researcher's partials are checked against exactly those sums.
import { randomUUID } from "node:crypto";
import { addCells, combineTallyKeys, deriveTallyKeyShare, verifyFacts, type TallyKeyShare } from "@hygeia/crypto";
import { aggregateDimensions, factsContext, type AggregateDimension } from "@hygeia/research";
import { BadRequestError, GatewayError } from "../../errors.ts";
import type { ContributionRow, EncryptedFactsRow, StudyRow } from "../../store/types.ts";

export const QUERY_TTL_MS = 5 * 60_000;
/** Open queries kept at once (all studies); past it, new queries wait for old ones to expire. */
const MAX_OPEN_QUERIES = 1_000;

export interface OpenQuery {
  id: string;
  studyId: string;
  dimension: AggregateDimension;
  /** Encrypted count per category, in the dimension's order. */
  sums: Uint8Array[];
  contributors: number;
  expiresAt: number;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

function bytesOf(text: string, length: number, field: string): Uint8Array {
  const bytes = Buffer.from(text, "base64url");
  if (bytes.length !== length || bytes.toString("base64url") !== text)
    throw new BadRequestError("INVALID_FACTS", `${field} must be ${length} bytes of base64url`, { field });
  return new Uint8Array(bytes);
}

/** The study's aggregate dimensions (its `aggregate:` scopes, checked when the study was served). */
export const dimensionsOf = (study: Pick<StudyRow, "scopes">): AggregateDimension[] =>
  aggregateDimensions(study.scopes);

export class StudyTallies {
  readonly #secret: Uint8Array;
  readonly #now: () => number;
  readonly #shares = new Map<string, TallyKeyShare>();
  readonly #queries = new Map<string, OpenQuery>();

  constructor(secret: Uint8Array, now: () => number) {
    this.#secret = secret;
    this.#now = now;
  }

  /** The gateway's key share for a study. */
  share(studyId: string): TallyKeyShare {
    let share = this.#shares.get(studyId);
    if (share === undefined) {
      share = deriveTallyKeyShare(this.#secret, `hygeia:gateway-tally:${studyId}`);
      if (this.#shares.size >= 10_000) this.#shares.clear();
      this.#shares.set(studyId, share);
    }
    return share;
  }

  /** The key patients encrypt their facts to (base64url), or null when the study has no aggregate scopes. */
  jointKey(study: Pick<StudyRow, "studyId" | "tallyKey">): Uint8Array | null {
    if (study.tallyKey === null) return null;
    return combineTallyKeys([Buffer.from(study.tallyKey, "base64url"), this.share(study.studyId).publicKey]);
  }

  /**
   * The patient's facts as stored: one entry per dimension of the study, each verified. Refuses (400) facts for a
   * study without aggregates, a missing or unknown dimension, and facts whose proofs do not verify.
   */
  checkFacts(
    study: StudyRow,
    patient: string,
    facts: Record<string, { cells: string[]; proof: string }> | undefined,
  ): Record<string, EncryptedFactsRow> | null {
    const dimensions = dimensionsOf(study);
    const joint = this.jointKey(study);
    if (dimensions.length === 0 || joint === null) {
      if (facts !== undefined && Object.keys(facts).length > 0)
        throw new BadRequestError("NO_AGGREGATES", "this study counts nothing: send no facts", { field: "body.facts" });
      return null;
    }
    const given = facts ?? {};
    for (const name of Object.keys(given))
      if (!dimensions.some((d) => d.name === name))
        throw new BadRequestError("UNKNOWN_DIMENSION", `the study has no aggregate dimension "${name}"`, {
          field: `body.facts.${name}`,
        });
    const out: Record<string, EncryptedFactsRow> = {};
    for (const dimension of dimensions) {
      const field = `body.facts.${dimension.name}`;
      const entry = given[dimension.name];
      if (entry === undefined)
        throw new BadRequestError(
          "FACTS_REQUIRED",
          `the study counts ${dimension.name}: send its encrypted facts (@hygeia/crypto encryptFacts)`,
          { field },
        );
      const cells = entry.cells.map((cell, i) => bytesOf(cell, 64, `${field}.cells[${i}]`));
      const proof = new Uint8Array(Buffer.from(entry.proof, "base64url"));
      const context = factsContext(study.studyId, dimension.name, patient);
      if (!verifyFacts(joint, dimension.categories.length, { cells, proof }, context))
        throw new BadRequestError(
          "INVALID_FACTS",
          `${field} does not verify: encrypt one category of ${dimension.categories.length} to the study's tallyKey, for your own address`,
          { field },
        );
      out[dimension.name] = { cells: entry.cells, proof: entry.proof };
    }
    return out;
  }

  /** Sums the contributors' cells of `dimension` and opens a query for the researcher to decrypt. */
  open(study: StudyRow, dimension: AggregateDimension, contributions: readonly ContributionRow[]): OpenQuery {
    this.#expire();
    if (this.#queries.size >= MAX_OPEN_QUERIES)
      throw new GatewayError("AGGREGATE_QUERIES_EXHAUSTED", 429, "too many aggregate queries are open; retry shortly", {
        extensions: { retryAfter: 60 },
      });
    const sums = dimension.categories.map((_, j) =>
      addCells(
        contributions.flatMap((row) => {
          const cell = row.facts?.[dimension.name]?.cells[j];
          return cell === undefined ? [] : [new Uint8Array(Buffer.from(cell, "base64url"))];
        }),
      ),
    );
    const query: OpenQuery = {
      id: randomUUID(),
      studyId: study.studyId,
      dimension,
      sums,
      contributors: contributions.filter((row) => row.facts?.[dimension.name] !== undefined).length,
      expiresAt: this.#now() + QUERY_TTL_MS,
    };
    this.#queries.set(query.id, query);
    return query;
  }

  /** Takes an open query of that study (single use); undefined when unknown, used or expired. */
  take(studyId: string, id: string): OpenQuery | undefined {
    this.#expire();
    const query = this.#queries.get(id);
    if (query === undefined || query.studyId !== studyId) return undefined;
    this.#queries.delete(id);
    return query;
  }

  #expire(): void {
    const now = this.#now();
    for (const [id, query] of this.#queries) if (query.expiresAt <= now) this.#queries.delete(id);
  }
}

export { b64 as base64url };
