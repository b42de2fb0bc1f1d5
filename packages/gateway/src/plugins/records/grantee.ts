// The grantee side: which of a patient's records may I read now, release my key of one (audited), fetch its
// ciphertext. Consent is asked at the moment of each request (release.ts / check.ts), never cached here.
//
// Safety rules:
// - The listing names only records whose check passes for the caller now; the others are not counted or hinted:
//   its `next` cursor is the last record it returned, and an `after` that is not a record the caller may read now
//   is one 400 INVALID_CURSOR whether or not it exists.
// - A key release is decided by decideRelease and audited before it answers (src/release/release.ts).
// - Ciphertext is served to the owner, or to a caller whose check passes now; it is useless without a wrap, but
//   the check keeps a stranger from collecting a patient's ciphertexts (and their sizes).
// - Fail closed: a stale index or a silent chain answers 503 naming the part; IPFS timing out answers 503 ipfs.
import { sendCiphertext } from "./ciphertext.ts";
import { parsePurpose, type Purpose } from "@hygeia/chain";
import { requireSession } from "../../auth/session.ts";
import { BadRequestError, ForbiddenError } from "../../errors.ts";
import { askConsent, strictRules } from "../../release/check.ts";
import { consentTarget } from "../../release/decide.ts";
import { releaseKey } from "../../release/release.ts";
import type { ConsentLinkRow, RecordRow } from "../../store/types.ts";
import { problemResponses } from "../../schemas.ts";
import type { RecordsApp } from "./index.ts";
import { canonicalCid, pageLimit } from "./inputs.ts";
import {
  Ciphertext,
  ContentQuery,
  GranteeListQuery,
  GranteeRecordList,
  KeyRelease,
  KeyRequest,
  PatientCidParams,
  PatientParams,
} from "./schemas.ts";

/**
 * Whether `caller` may read `record` now for `purpose`: the owner always; anyone else when consent from its
 * consent address covers one of the record's ids under that address. Throws the 503 of an unanswerable check.
 */
async function readableBy(
  app: RecordsApp,
  caller: string,
  record: RecordRow,
  purpose: Purpose | undefined,
  link: ConsentLinkRow | undefined,
): Promise<{ scope: string | null; consentAddress: string } | null> {
  if (caller === record.patient) return { scope: null, consentAddress: record.patient };
  if (purpose === undefined) return null;
  const target = consentTarget({ patient: record.patient, record, link });
  if (target.scopeIds.length === 0) return null;
  const answer = await askConsent(app.services.chain, strictRules(app), {
    consentAddress: target.consentAddress,
    grantee: caller,
    scopeIds: target.scopeIds,
    purpose,
  });
  if (!answer.ok) throw answer.error;
  return answer.access.allowed
    ? { scope: answer.access.scope.toLowerCase(), consentAddress: target.consentAddress }
    : null;
}

/** Store pages one listing request scans at most (each of SCAN_PAGE_SIZE records) before it answers. */
export const MAX_SCAN_PAGES = 10;
const SCAN_PAGE_SIZE = 100;

function invalidCursor(): BadRequestError {
  return new BadRequestError(
    "INVALID_CURSOR",
    "`after` must be the `next` of an earlier page: a record of this patient you may read now",
    { field: "query.after" },
  );
}

/**
 * Up to `limit` records of the patient the caller may read now, newest first, after the cursor. Scans store pages
 * until `limit` are found, the records end, or MAX_SCAN_PAGES were scanned. `next` is only ever the last record
 * RETURNED (never a scanned one the caller may not read: that would hand out the patient's CIDs), or null.
 */
async function listReadable(
  app: RecordsApp,
  query: {
    caller: string;
    patient: string;
    purpose: Purpose;
    link: ConsentLinkRow | undefined;
    limit: number;
    after: string | undefined;
  },
): Promise<{ records: { cid: string; scope: string | null; consentAddress: string }[]; next: string | null }> {
  const { caller, patient, purpose, link, limit } = query;
  const records: { cid: string; scope: string | null; consentAddress: string }[] = [];
  let cursor = query.after;
  for (let page = 0; page < MAX_SCAN_PAGES; page++) {
    const rows = await app.services.store.listRecords(patient, {
      limit: SCAN_PAGE_SIZE,
      ...(cursor === undefined ? {} : { after: cursor }),
    });
    for (const row of rows) {
      const readable = await readableBy(app, caller, row, purpose, link);
      if (!readable) continue;
      records.push({ cid: row.cid, ...readable });
      // More may follow: the caller continues after this one (its last returned record).
      if (records.length === limit) return { records, next: row.cid };
    }
    if (rows.length < SCAN_PAGE_SIZE) return { records, next: null };
    cursor = rows[rows.length - 1]!.cid;
  }
  // Scan bound reached: continue after the last returned record, or nothing to continue from.
  return { records, next: records.at(-1)?.cid ?? null };
}

function consentRequired(): ForbiddenError {
  return new ForbiddenError(
    "CONSENT_REQUIRED",
    "no live consent of this patient covers this record for you and this purpose (or there is no such record)",
  );
}

export function granteeRoutes(app: RecordsApp): void {
  app.get(
    "/patients/:patient/records",
    {
      schema: {
        tags: ["records"],
        summary: "List a patient's records you may read now",
        description:
          "Lists up to `limit` of the patient's records your consent covers now for `purpose` (CIDs and the scope " +
          "id that allows each), newest first. Records you may not read are neither listed, counted nor used as a " +
          "cursor: `next` is the last record listed (null when the scan ended). `after` must be such a `next` (a " +
          "record you may read now), else 400 INVALID_CURSOR.",
        operationId: "listPatientRecords",
        security: [{ bearer: [] }],
        params: PatientParams,
        querystring: GranteeListQuery,
        response: { 200: GranteeRecordList, ...problemResponses(400, 401, 503) },
      },
    },
    async (request) => {
      const caller = requireSession(request).address;
      const patient = request.params.patient.toLowerCase();
      const purpose = parsePurpose(request.query.purpose);
      const limit = pageLimit(request.query.limit);
      const after = request.query.after === undefined ? undefined : canonicalCid(request.query.after, "query.after");
      const { store } = app.services;
      const link = caller === patient ? undefined : await store.getConsentLink(patient, caller);
      if (after !== undefined) {
        // The cursor must be a record this caller may read now; anything else (no such CID, another patient's,
        // one not readable) is the same 400, so a cursor cannot probe which CIDs are the patient's.
        const record = await store.getRecord(patient, after);
        if (!record || !(await readableBy(app, caller, record, purpose, link))) throw invalidCursor();
      }
      return listReadable(app, { caller, patient, purpose, link, limit, after });
    },
  );

  app.post(
    "/patients/:patient/records/:cid/key",
    {
      schema: {
        tags: ["records"],
        summary: "Release your wrap of a patient's record",
        description:
          "Checks now that you hold live consent for one of the record's scope ids and `purpose` (through the " +
          "consent address the patient linked to you, else its main address), writes the audit event durably, and " +
          "only then returns your wrap of the record's key and the CID. Emergency: only within a break-glass window " +
          "you opened as the patient's registered emergency grantee (audited as emergency_release). No consent: 403 " +
          "CONSENT_REQUIRED and a deny event (the same answer when there is no such record). A stale consent index: " +
          "503 INDEXER_STALE.",
        operationId: "releaseKey",
        security: [{ bearer: [] }],
        params: PatientCidParams,
        body: KeyRequest,
        response: { 200: KeyRelease, ...problemResponses(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const caller = requireSession(request).address;
      const release = await releaseKey(
        app,
        {
          requestId: request.id,
          caller,
          patient: request.params.patient.toLowerCase(),
          cid: canonicalCid(request.params.cid, "params.cid"),
          purpose: parsePurpose(request.body.purpose),
        },
        request.log,
      );
      void reply.header("cache-control", "no-store");
      return { ...release, purpose: request.body.purpose };
    },
  );

  app.get(
    "/patients/:patient/records/:cid/content",
    {
      schema: {
        tags: ["records"],
        summary: "Fetch a record's ciphertext",
        description:
          "Streams the record's ciphertext from IPFS: to the owner, or to a caller whose consent covers the record " +
          "now for `purpose` (required then). The wrap comes from the key route; this is only the encrypted bytes.",
        operationId: "getRecordContent",
        security: [{ bearer: [] }],
        params: PatientCidParams,
        querystring: ContentQuery,
        response: {
          200: { description: "The ciphertext", content: { "application/octet-stream": { schema: Ciphertext } } },
          ...problemResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      const caller = requireSession(request).address;
      const patient = request.params.patient.toLowerCase();
      const cid = canonicalCid(request.params.cid, "params.cid");
      const purpose = request.query.purpose === undefined ? undefined : parsePurpose(request.query.purpose);
      if (caller !== patient && purpose === undefined)
        throw new BadRequestError("PURPOSE_REQUIRED", "say the purpose of use (?purpose=Treatment, ...)", {
          field: "query.purpose",
        });
      const { store } = app.services;
      const [record, link] = await Promise.all([
        store.getRecord(patient, cid),
        caller === patient ? undefined : store.getConsentLink(patient, caller),
      ]);
      if (!record || !(await readableBy(app, caller, record, purpose, link))) throw consentRequired();

      return sendCiphertext(app, reply, cid, record.size);
    },
  );
}
