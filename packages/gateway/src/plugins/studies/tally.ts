// The gateway's half of a study's encrypted tallies (@hygeia/crypto tally.ts): its key share per study (derived from
// HYGEIA_GATEWAY_SECRET, alike at every gateway of one database, or else <dataDir>/tally.key; nothing per study is
// stored), the joint key patients encrypt their facts to, checking those facts, summing them over the contributors
// with live consent, and the open aggregate queries between the sum and the researcher's partial decryptions.
//
// Safety rules:
// - Facts are stored only when every dimension of the study is present and its proofs verify under the joint key
//   and the contributing patient's own context: no cell worth more than one, no replay of another's facts.
// - The gateway's share never leaves this process; alone it opens nothing (the researcher holds the other).
// - An open query holds the sums it served and nothing else; it is single use and expires (QUERY_TTL_MS), and the
//   researcher's partials are checked against exactly those sums.
// - Open queries live in the store (GatewayStore putAggregateQuery / takeAggregateQuery), not in this process: step 2
//   may reach any gateway sharing the database, and a restart between the steps loses nothing. The store takes a
//   query once whichever gateway asks (one DELETE ... RETURNING), refuses another study's id, and counts the open
//   queries against the limits in the same atomic step as the insert, so gateways opening together never exceed
//   them. The row holds ciphertexts and the counted contributions only, never a count or a key share.
// - Step 2 finds the dimension again by name in the study as it is then: a study whose dimension was replaced
//   meanwhile (other categories) has nothing to finish; the researcher starts again.
import { randomUUID } from "node:crypto";
import {
  addCells,
  combineTallyKeys,
  deriveTallyKeyShare,
  subtractCells,
  verifyFacts,
  type TallyKeyShare,
} from "@hygeia/crypto";
import { aggregateDimensions, factsContext, type AggregateDimension } from "@hygeia/research";
import { BadRequestError, GatewayError } from "../../errors.ts";
import type {
  AggregateQueryRow,
  ContributionRow,
  ContributionWrite,
  EncryptedFactsRow,
  GatewayStore,
  StudyRow,
  TallyUpdate,
} from "../../store/types.ts";

export const QUERY_TTL_MS = 5 * 60_000;
/** Compare-and-swap attempts of one contribution write against concurrent ones of the same study. */
const WRITE_ATTEMPTS = 8;
/** Open queries kept at once (all studies, every gateway of the store); past it, new ones wait for old ones to expire. */
export const MAX_OPEN_QUERIES = 1_000;
/** Open queries of one study at once: one researcher cannot fill the store's table for everyone else. */
export const MAX_OPEN_QUERIES_PER_STUDY = 16;

export interface OpenQuery {
  id: string;
  studyId: string;
  dimension: AggregateDimension;
  /** Encrypted count per category, in the dimension's order. */
  sums: Uint8Array[];
  contributors: number;
  /** The contributions counted: step 2 checks their consent again, and the release records who was counted. */
  included: Pick<ContributionRow, "patient" | "cid" | "consentAddress" | "scopeId">[];
  expiresAt: number;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64url"));
/** The cells of one dimension of a contribution's facts, decoded; [] when it has none. */
const cellsOf = (facts: ContributionRow["facts"], dimension: string): Uint8Array[] =>
  facts?.[dimension]?.cells.map(bytes) ?? [];

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
    const entryOf = (name: string) => (Object.hasOwn(given, name) ? given[name] : undefined);
    for (const name of Object.keys(given))
      if (!dimensions.some((d) => d.name === name))
        throw new BadRequestError("UNKNOWN_DIMENSION", `the study has no aggregate dimension "${name}"`, {
          field: `body.facts.${name}`,
        });
    const out: Record<string, EncryptedFactsRow> = {};
    for (const dimension of dimensions) {
      const field = `body.facts.${dimension.name}`;
      const entry = entryOf(dimension.name);
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

  /**
   * Writes a contribution change (`write`: the store's put or delete, given the study's next tallies) and keeps the
   * study's running sums with it: + the new facts, − the facts of the row it replaces or deletes, as one
   * compare-and-swap; a concurrent write of the same study makes it read and try again.
   */
  async writeContribution(
    store: GatewayStore,
    study: StudyRow,
    patient: string,
    next: ContributionRow["facts"],
    write: (tally: TallyUpdate | undefined) => Promise<ContributionWrite>,
  ): Promise<ContributionWrite & { written: true }> {
    const dimensions = dimensionsOf(study);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      let tally: TallyUpdate | undefined;
      if (dimensions.length > 0) {
        const [current, previous] = await Promise.all([
          store.getTallySums(study.studyId),
          store.getContribution(study.studyId, patient),
        ]);
        const sums: Record<string, string[]> = {};
        for (const { name, categories } of dimensions) {
          const added = cellsOf(next, name);
          const removed = cellsOf(previous?.facts ?? null, name);
          sums[name] = categories.map((_, j) => {
            const base = current?.sums[name]?.[j];
            const start = base === undefined ? addCells([]) : bytes(base);
            const plus = added[j] === undefined ? start : addCells([start, added[j]]);
            return b64(removed[j] === undefined ? plus : subtractCells(plus, [removed[j]]));
          });
        }
        tally = { version: (current?.version ?? 0) + 1, sums };
      }
      const result = await write(tally);
      if (result.written) return result;
    }
    throw new GatewayError(
      "STUDY_BUSY",
      503,
      "the study's tallies kept changing while this contribution was written; nothing was written, retry",
      { extensions: { retryAfter: 1 } },
    );
  }

  /**
   * Opens a query of `dimension`: the study's running sums minus the cells of the contributions left out (no live
   * consent now), so the cost is that of the excluded contributors only.
   */
  async open(
    store: GatewayStore,
    study: StudyRow,
    dimension: AggregateDimension,
    live: { included: readonly ContributionRow[]; excludedRows: readonly ContributionRow[] },
    tallyVersion: number,
  ): Promise<OpenQuery | undefined> {
    // The sums must be those of the rows just checked: a contribution written meanwhile (a consent check in strict
    // mode awaits the chain) would be counted without its consent being checked. The caller pages again.
    const current = await store.getTallySums(study.studyId);
    if ((current?.version ?? 0) !== tallyVersion) return undefined;
    const stored = current?.sums[dimension.name];
    const sums = dimension.categories.map((_, j) => {
      const total = stored?.[j] === undefined ? addCells([]) : bytes(stored[j]);
      const leftOut = live.excludedRows.flatMap((row) => cellsOf(row.facts, dimension.name).slice(j, j + 1));
      return subtractCells(total, leftOut);
    });
    const counted = live.included.filter((row) => row.facts?.[dimension.name] !== undefined);
    const query: OpenQuery = {
      id: randomUUID(),
      studyId: study.studyId,
      dimension,
      sums,
      contributors: counted.length,
      included: counted.map(({ patient, cid, consentAddress, scopeId }) => ({ patient, cid, consentAddress, scopeId })),
      expiresAt: this.#now() + QUERY_TTL_MS,
    };
    const row: AggregateQueryRow = { ...query, dimension: dimension.name, sums: sums.map(b64) };
    const limits = { perStudy: MAX_OPEN_QUERIES_PER_STUDY, total: MAX_OPEN_QUERIES };
    if (!(await store.putAggregateQuery(row, limits, this.#now())))
      throw new GatewayError("AGGREGATE_QUERIES_EXHAUSTED", 429, "too many aggregate queries are open; retry shortly", {
        extensions: { retryAfter: 60 },
      });
    return query;
  }

  /**
   * Takes an open query of that study (single use, whichever gateway opened it); undefined when unknown, another
   * study's, used or expired, or when the study no longer counts its dimension with the same categories.
   */
  async take(store: GatewayStore, study: StudyRow, id: string): Promise<OpenQuery | undefined> {
    const row = await store.takeAggregateQuery(study.studyId, id, this.#now());
    if (row === undefined) return undefined;
    const dimension = dimensionsOf(study).find((d) => d.name === row.dimension);
    if (dimension === undefined || dimension.categories.length !== row.sums.length) return undefined;
    return { ...row, dimension, sums: row.sums.map(bytes) };
  }
}

export { b64 as base64url };
