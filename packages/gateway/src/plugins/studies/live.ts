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
import type { ContributionRow, StudyRow } from "../../store/types.ts";

/** Contributions read per store query. */
const PAGE = 1_000;

export async function liveContributions(
  app: FastifyInstance,
  study: Pick<StudyRow, "studyId">,
  researcher: string,
): Promise<{ included: ContributionRow[]; excluded: number; excludedRows: ContributionRow[] }> {
  const { store, chain } = app.services;
  const strict = strictRules(app);
  const included: ContributionRow[] = [];
  const excludedRows: ContributionRow[] = [];
  for (let after: string | undefined; ;) {
    const page = await store.contributionsTo(study.studyId, { limit: PAGE, ...(after ? { after } : {}) });
    const links = await Promise.all(page.map((row) => store.getConsentLink(row.patient, researcher)));
    for (const [i, row] of page.entries()) {
      const consentAddress = links[i]?.consentAddress ?? row.patient;
      if (consentAddress !== row.consentAddress) {
        excludedRows.push(row);
        continue;
      }
      const answer = await askConsent(chain, strict, {
        consentAddress,
        grantee: researcher,
        scopeIds: [row.scopeId],
        purpose: Purpose.Research,
      });
      if (!answer.ok) throw answer.error;
      if (answer.access.allowed) included.push(row);
      else excludedRows.push(row);
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.patient;
  }
  return { included, excluded: excludedRows.length, excludedRows };
}
