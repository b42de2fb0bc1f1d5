// The patient's manifest pointer: the CID of its latest sealed manifest on IPFS, updated by compare-and-swap so
// two devices of one wallet never overwrite each other's update unseen (the stale one gets 409 with the current
// pointer, merges, and retries).
import { requireSession } from "../../auth/session.ts";
import { ConflictError } from "../../errors.ts";
import type { ManifestPointerRow } from "../../store/types.ts";
import { problemResponses } from "../../schemas.ts";
import type { RecordsApp } from "./index.ts";
import { canonicalCid } from "./inputs.ts";
import { ManifestPointer, PutManifest } from "./schemas.ts";
import type { UploadStaging } from "./staging.ts";

function pointerView(row: ManifestPointerRow | undefined) {
  return row === undefined
    ? { cid: null, version: 0, updatedAt: null }
    : { cid: row.cid, version: row.version, updatedAt: row.updatedAt };
}

export function manifestRoutes(app: RecordsApp, staging: UploadStaging): void {
  app.get(
    "/manifest",
    {
      schema: {
        tags: ["records"],
        summary: "Read your manifest pointer",
        description: "The CID of your latest sealed manifest and its version (cid null, version 0 before the first).",
        operationId: "getManifest",
        security: [{ bearer: [] }],
        response: { 200: ManifestPointer, ...problemResponses(401, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      return pointerView(await app.services.store.getManifestPointer(patient));
    },
  );

  app.put(
    "/manifest",
    {
      schema: {
        tags: ["records"],
        summary: "Move your manifest pointer (compare-and-swap)",
        description:
          "Sets the pointer to `cid` (a sealed manifest you uploaded with PUT /v1/uploads, or content pinned here) " +
          "if the current pointer is `expected` (null: none yet). Otherwise 409 MANIFEST_CONFLICT with `current`.",
        operationId: "putManifest",
        security: [{ bearer: [] }],
        body: PutManifest,
        response: { 200: ManifestPointer, ...problemResponses(400, 401, 409, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const { store } = app.services;
      const cid = canonicalCid(request.body.cid, "body.cid");
      const expected = request.body.expected === null ? null : canonicalCid(request.body.expected, "body.expected");
      if (!(await staging.get(cid, patient)) && !(await isPinnedHere(app, cid)))
        throw new ConflictError(
          "UPLOAD_NOT_STAGED",
          "upload the sealed manifest first (PUT /v1/uploads); the pointer names only content this gateway keeps",
        );
      const next = await store.compareAndSetManifestPointer(patient, expected, { cid, updatedAt: app.services.now() });
      if (next === undefined) {
        const current = await store.getManifestPointer(patient);
        throw new ConflictError(
          "MANIFEST_CONFLICT",
          "your manifest pointer moved since you read it: merge with the current manifest and retry with it as `expected`",
          { extensions: { current: pointerView(current) } },
        );
      }
      await staging.take(cid, patient);
      return pointerView(next);
    },
  );
}

async function isPinnedHere(app: RecordsApp, cid: string): Promise<boolean> {
  const { content } = app.services;
  if (!(await content.has(cid))) return false;
  return (await content.stat(cid)).pinned;
}
