// Which of a study's contributions have live research consent NOW: the one question a dataset pull and an
// aggregate query both ask, asked the same way a key release asks it.
//
// - The grant checked is the contribution's consent address's (the patient's, or the pairwise account it links to
//   this researcher NOW; a contribution filed under another address is excluded), purpose Research, grantee the
//   researcher, for the contribution's `study:<id>` scope id.
// - The indexer answers (the contract in strict mode); one that cannot vouch (stale, chain down) refuses the whole
//   question with its 503: never a partial set passed off as whole.
import { Purpose } from "@hygeia/chain";
import type { FastifyInstance } from "fastify";
import { askConsent, strictRules } from "../../release/check.ts";
import type { ConsentLinkRow, ContributionRow, StudyRow } from "../../store/types.ts";

/** Contributions read per store query. */
const PAGE = 1_000;

/**
 * Whether one contribution's research consent is live now for `researcher`, `link` being the patient's current
 * consent link to it (undefined: none). Throws the 503 of a consent check that cannot be answered.
 */
export async function consentLive(
  app: FastifyInstance,
  row: Pick<ContributionRow, "patient" | "consentAddress" | "scopeId">,
  researcher: string,
  link: Pick<ConsentLinkRow, "consentAddress"> | undefined,
  strict = strictRules(app),
): Promise<boolean> {
  // A grant from another account than the one the patient links to this researcher opens nothing.
  if ((link?.consentAddress ?? row.patient) !== row.consentAddress) return false;
  const answer = await askConsent(app.services.chain, strict, {
    consentAddress: row.consentAddress,
    grantee: researcher,
    scopeIds: [row.scopeId],
    purpose: Purpose.Research,
  });
  if (!answer.ok) throw answer.error;
  return answer.access.allowed;
}

/** The same, reading the patient's current link first. */
export async function contributionLive(
  app: FastifyInstance,
  row: Pick<ContributionRow, "patient" | "consentAddress" | "scopeId">,
  researcher: string,
  strict = strictRules(app),
): Promise<boolean> {
  return consentLive(app, row, researcher, await app.services.store.getConsentLink(row.patient, researcher), strict);
}

export async function liveContributions(
  app: FastifyInstance,
  study: Pick<StudyRow, "studyId">,
  researcher: string,
): Promise<{ included: ContributionRow[]; excluded: number; excludedRows: ContributionRow[] }> {
  const { store } = app.services;
  const strict = strictRules(app);
  const included: ContributionRow[] = [];
  const excludedRows: ContributionRow[] = [];
  for (let after: string | undefined; ;) {
    const page = await store.contributionsTo(study.studyId, { limit: PAGE, ...(after ? { after } : {}) });
    const links = await Promise.all(page.map((row) => store.getConsentLink(row.patient, researcher)));
    for (const [i, row] of page.entries())
      ((await consentLive(app, row, researcher, links[i], strict)) ? included : excludedRows).push(row);
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.patient;
  }
  return { included, excluded: excludedRows.length, excludedRows };
}
