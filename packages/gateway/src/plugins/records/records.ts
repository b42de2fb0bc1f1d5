// The patient's own records: register a staged upload with its wraps and scope ids, list, read one, add wraps,
// attach scope ids under a consent address. Only the signed-in owner sees or changes its records.
//
// Safety rules:
// - A record is registered only for the address that uploaded its ciphertext (staged by that session's address,
//   not expired), with the owner's self-wrap among its wraps (so the patient can always recover its own key).
//   Check, record and un-staging run under the staging lock, so the expiry sweep cannot unpin in between.
// - A registration pins two receipts beside the ciphertext (receipts.ts: "CID is a record", "CID is this owner's"),
//   which outlive the database. A CID another address registered is refused (RECORD_EXISTS), database or not.
// - Restore (a wallet recovering its records from its on-chain anchor after this gateway lost its database): a CID
//   not staged but pinned here registers again only for the address its owner receipt names, and only while that
//   address has no record of it; audited as RECORD_RESTORED. Someone else staging the same bytes changes nothing.
// - Wraps are checked for shape, never opened; scope ids are opaque bytes32. Nothing else is accepted.
// - The record_added audit event is durable before the 201.
import { requireSession } from "../../auth/session.ts";
import { BadRequestError, ConflictError, NotFoundError } from "../../errors.ts";
import type { RecordRow } from "../../store/types.ts";
import { problemResponses } from "../../schemas.ts";
import type { RecordsApp } from "./index.ts";
import { canonicalCid, normalizeIds, normalizeScopeIds, pageLimit, wrapRows } from "./inputs.ts";
import {
  MAX_CONSENT_ADDRESSES,
  AddWraps,
  CidParams,
  Page,
  RecordList,
  RecordView,
  RegisterRecord,
  SetScopeIds,
  WrapsAdded,
} from "./schemas.ts";
import { pinnedHere } from "./manifest.ts";
import type { RegistrationReceipts } from "./receipts.ts";
import type { UploadStaging } from "./staging.ts";

async function recordView(app: RecordsApp, row: RecordRow) {
  const recipients = (await app.services.store.wrapsOf(row.cid)).map((wrap) => wrap.recipient).sort();
  return {
    cid: row.cid,
    patient: row.patient,
    size: row.size,
    scopeIds: row.scopeIds,
    createdAt: row.createdAt,
    recipients,
  };
}

function notStaged(): ConflictError {
  return new ConflictError(
    "UPLOAD_NOT_STAGED",
    "this CID is not an upload of yours awaiting registration: PUT /v1/uploads the ciphertext first (uploads are staged for a limited time)",
  );
}

function registeredByAnother(): ConflictError {
  return new ConflictError(
    "RECORD_EXISTS",
    "this CID is another address's record here; upload your own ciphertext (a record's CID is one record)",
  );
}

function recordNotFound(): NotFoundError {
  return new NotFoundError("RECORD_NOT_FOUND", "you have no record with this CID", { field: "params.cid" });
}

export function recordRoutes(app: RecordsApp, staging: UploadStaging, receipts: RegistrationReceipts): void {
  /** A record `patient` may restore: its ciphertext is pinned here and this gateway's receipt says it registered it. */
  const restorable = async (cid: string, patient: string): Promise<boolean> =>
    (await receipts.registeredBy(cid, patient)) && (await pinnedHere(app, cid)) !== undefined;

  app.post(
    "/records",
    {
      schema: {
        tags: ["records"],
        summary: "Register an uploaded record with its key wraps and scope ids",
        description:
          "Registers a CID this address uploaded (PUT /v1/uploads) as one of its records: the DEK's wraps (the " +
          "patient's own wrap is required; others for grantees it shares with) and the record's keyed scope ids per " +
          "consent address. Audited as record_added. A CID pinned here that this address registered before (a " +
          "record list restored from its on-chain anchor after the gateway lost its database) registers again " +
          "without staging; another address's CID is 409 RECORD_EXISTS.",
        operationId: "registerRecord",
        security: [{ bearer: [] }],
        body: RegisterRecord,
        response: { 201: RecordView, ...problemResponses(400, 401, 409, 503) },
      },
    },
    async (request, reply) => {
      const patient = requireSession(request).address;
      const cid = canonicalCid(request.body.cid, "body.cid");
      const restoring = !(await staging.get(cid, patient));
      if (restoring && !(await restorable(cid, patient))) throw notStaged();
      const now = app.services.now();
      const scopeIds = normalizeScopeIds(request.body.scopeIds, "body.scopeIds");
      const wraps = wrapRows(cid, request.body.wraps, now, "body.wraps");
      if (!wraps.some((wrap) => wrap.recipient === patient))
        throw new BadRequestError(
          "SELF_WRAP_REQUIRED",
          "include a wrap to your own address (recipient = the signed-in address), so you can always open the record",
          { field: "body.wraps" },
        );
      // Under the staging lock: the sweep cannot unpin the CID between this check and the record, and two
      // registrations of one CID are one after the other (the receipts decide whose it is).
      const row = await staging.locked(async () => {
        const staged = await staging.get(cid, patient);
        const marked = await receipts.isRegistered(cid);
        const mine = marked && (await receipts.registeredBy(cid, patient));
        if (marked && !mine) throw registeredByAnother();
        const size = staged?.size ?? (mine ? (await pinnedHere(app, cid))?.size : undefined);
        if (size === undefined) throw notStaged();
        if (!marked) {
          // A record registered before receipts existed: one record per CID still.
          if ((await app.services.store.wrapsOf(cid)).length > 0)
            throw new ConflictError("RECORD_EXISTS", "this CID is registered already; add wraps to it instead");
          await receipts.write(cid, patient);
        }
        const recordRow: RecordRow = { patient, cid, size, scopeIds, createdAt: now };
        if (!(await app.services.store.putRecord(recordRow, wraps)))
          throw new ConflictError(
            "RECORD_EXISTS",
            "this record is registered already; add wraps or scope ids to it instead",
          );
        if (staged) await staging.take(cid, patient);
        return recordRow;
      });
      await app.audit.record({
        type: "record_added",
        decision: "permit",
        actor: patient,
        patient,
        reason: restoring ? "RECORD_RESTORED" : "RECORD_ADDED",
        request: request.id,
        record: cid,
      });
      return reply.code(201).send(await recordView(app, row));
    },
  );

  app.get(
    "/records",
    {
      schema: {
        tags: ["records"],
        summary: "List your records",
        description: "Your records, newest first, a page at a time.",
        operationId: "listRecords",
        security: [{ bearer: [] }],
        querystring: Page,
        response: { 200: RecordList, ...problemResponses(400, 401, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const limit = pageLimit(request.query.limit);
      const after = request.query.after === undefined ? undefined : canonicalCid(request.query.after, "query.after");
      const rows = await app.services.store.listRecords(patient, { limit, ...(after ? { after } : {}) });
      return {
        records: await Promise.all(rows.map((row) => recordView(app, row))),
        next: rows.length === limit ? rows[rows.length - 1]!.cid : null,
      };
    },
  );

  app.get(
    "/records/:cid",
    {
      schema: {
        tags: ["records"],
        summary: "Read one of your records",
        description:
          "One record you registered (owner only): its size, the scope ids attached per consent address, and the " +
          "addresses holding a wrap of its key (the wraps themselves are released only by the key route). 404 " +
          "RECORD_NOT_FOUND when you have no record with this CID, whoever else may have one.",
        operationId: "getRecord",
        security: [{ bearer: [] }],
        params: CidParams,
        response: { 200: RecordView, ...problemResponses(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const row = await app.services.store.getRecord(patient, canonicalCid(request.params.cid, "params.cid"));
      if (!row) throw recordNotFound();
      return recordView(app, row);
    },
  );

  app.post(
    "/records/:cid/wraps",
    {
      schema: {
        tags: ["records"],
        summary: "Add key wraps to one of your records",
        description:
          "Stores the record's DEK wrapped to more recipients (a grantee the patient now shares it with); a " +
          "recipient's earlier wrap is replaced. Consent is still checked at every release.",
        operationId: "addWraps",
        security: [{ bearer: [] }],
        params: CidParams,
        body: AddWraps,
        response: { 200: WrapsAdded, ...problemResponses(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const cid = canonicalCid(request.params.cid, "params.cid");
      if (!(await app.services.store.getRecord(patient, cid))) throw recordNotFound();
      const wraps = wrapRows(cid, request.body.wraps, app.services.now(), "body.wraps");
      await app.services.store.putWraps(wraps);
      return { cid, recipients: wraps.map((wrap) => wrap.recipient) };
    },
  );

  app.put(
    "/records/:cid/scope-ids",
    {
      schema: {
        tags: ["records"],
        summary: "Set a record's scope ids under one consent address",
        description:
          "Replaces the record's scope ids under `consentAddress` (a pairwise account the wallet now grants from, " +
          "or the main address).",
        operationId: "setScopeIds",
        security: [{ bearer: [] }],
        params: CidParams,
        body: SetScopeIds,
        response: { 200: RecordView, ...problemResponses(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const cid = canonicalCid(request.params.cid, "params.cid");
      const { store } = app.services;
      const address = request.body.consentAddress.toLowerCase();
      const current = await store.getRecord(patient, cid);
      if (!current) throw recordNotFound();
      if (!(address in current.scopeIds) && Object.keys(current.scopeIds).length >= MAX_CONSENT_ADDRESSES)
        throw new BadRequestError(
          "TOO_MANY_CONSENT_ADDRESSES",
          `a record carries ids for at most ${MAX_CONSENT_ADDRESSES} consent addresses`,
          { field: "body.consentAddress" },
        );
      if (!(await store.setRecordScopeIds(patient, cid, address, normalizeIds(request.body.scopeIds))))
        throw recordNotFound();
      const row = await store.getRecord(patient, cid);
      if (!row) throw recordNotFound();
      return recordView(app, row);
    },
  );
}
