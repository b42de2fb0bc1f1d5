// Consent address links: which pairwise consent account acts for the patient toward a grantee. The gateway
// learns a link only from the patient, and only a true one (both signatures checked in this deployment's domain).
//
// Safety rules:
// - Stored only when verifyConsentAddressLink accepts it for the ConsentRegistry's domain and its patient is the
//   signed-in address: nobody files a link for someone else.
// - Newest wins per (patient, grantee); an older link is refused (409) so a replayed old link cannot move a
//   grantee back to an account the wallet left.
import { verifyConsentAddressLink } from "@hygeia/chain";
import { requireSession } from "../../auth/session.ts";
import { ConflictError, ForbiddenError } from "../../errors.ts";
import type { ConsentLinkRow } from "../../store/types.ts";
import { problemResponses } from "../../schemas.ts";
import type { RecordsApp } from "./index.ts";
import type { Static } from "typebox";
import { LinkList, LinkView, SignedLink } from "./schemas.ts";

function linkView(row: ConsentLinkRow) {
  return {
    patient: row.patient,
    grantee: row.grantee,
    consentAddress: row.consentAddress,
    issuedAt: row.issuedAt,
    link: JSON.parse(row.link) as Static<typeof SignedLink>,
  };
}

export function linkRoutes(app: RecordsApp): void {
  app.put(
    "/consent-links",
    {
      schema: {
        tags: ["records"],
        summary: "Tell the gateway which consent address acts toward a grantee",
        description:
          "Stores a ConsentAddressLink signed by your main account and the pairwise consent account " +
          "(signConsentAddressLink of @hygeia/chain, in the ConsentRegistry's EIP-712 domain). The grantee's " +
          "key releases then check consent from that account, with the record's ids under it. A newer link of " +
          "the pair replaces the older; an older one is refused (409).",
        operationId: "putConsentLink",
        security: [{ bearer: [] }],
        body: SignedLink,
        response: { 200: LinkView, ...problemResponses(400, 401, 403, 409, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const { store, chain } = app.services;
      const domain = await chain.registry.domain();
      const link = verifyConsentAddressLink(request.body, domain, { now: app.services.now() });
      if (link.patient.toLowerCase() !== patient)
        throw new ForbiddenError("LINK_NOT_YOURS", "the link's patient must be the signed-in address");
      const row: ConsentLinkRow = {
        patient,
        grantee: link.grantee.toLowerCase(),
        consentAddress: link.consentAddress.toLowerCase(),
        issuedAt: link.issuedAt,
        link: JSON.stringify(link),
      };
      if (!(await store.putConsentLink(row))) {
        const current = await store.getConsentLink(patient, row.grantee);
        throw new ConflictError("LINK_SUPERSEDED", "a newer link for this grantee is kept; this one is older", {
          extensions: current ? { current: linkView(current) } : {},
        });
      }
      return linkView(row);
    },
  );

  app.get(
    "/consent-links",
    {
      schema: {
        tags: ["records"],
        summary: "List your consent address links",
        description:
          "The ConsentAddressLinks stored for your main (signed-in) address: the newest per grantee, each with " +
          "both signatures as you sent them. A grantee without a link here is checked against your main address.",
        operationId: "listConsentLinks",
        security: [{ bearer: [] }],
        response: { 200: LinkList, ...problemResponses(401, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      return { links: (await app.services.store.consentLinksOf(patient)).map(linkView) };
    },
  );
}
