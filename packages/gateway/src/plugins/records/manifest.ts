// The patient's manifest pointer: the CID of its latest sealed manifest on IPFS, updated by compare-and-swap so
// two devices of one wallet never overwrite each other's update unseen (the stale one gets 409 with the current
// pointer, merges, and retries). Beside it, what makes the pointer recoverable without this gateway (promise 6):
// - GET /manifests/:cid serves a sealed manifest's bytes to any signed-in wallet. A sealed manifest opens only with
//   its owner's key and says nothing about whose it is; its CID is known only to its owner (the chain holds it
//   sealed), so a wallet that lost this gateway's pointer reads its manifest back by the CID its anchor names.
//   Only content pinned here that carries the sealed-manifest header is served: this is no general IPFS gateway.
// - POST /manifest/anchors relays the patient's anchor (an ERC-1056 attribute of its derived anchor identity,
//   @hygeia/chain manifest-anchor.ts), gasless like consent: checked before any gas (signature, size, the nonce
//   read from the chain now), simulated by the relayer's sender, counted against the address's daily anchor quota
//   (its own budget: a patient adding many records never runs out of consent relays).
import { Readable } from "node:stream";
import { MAX_MANIFEST_BYTES, SEALED_MANIFEST_MAGIC, SEALED_MANIFEST_VERSION, type ContentStat } from "@hygeia/storage";
import {
  ContractRevertError,
  InvalidInputError,
  SignatureError,
  manifestAnchorNonce,
  parseSignedManifestAnchor,
  sendManifestAnchor,
} from "@hygeia/chain";
import { requireSession } from "../../auth/session.ts";
import {
  BadRequestError,
  ConflictError,
  DependencyUnavailableError,
  GatewayError,
  NotFoundError,
} from "../../errors.ts";
import type { ManifestPointerRow } from "../../store/types.ts";
import { problemResponses } from "../../schemas.ts";
import { quotaWindow, relayFailure } from "../consent/relay.ts";
import type { RecordsApp } from "./index.ts";
import { canonicalCid } from "./inputs.ts";
import { AnchorManifest, CidParams, ManifestAnchored, ManifestPointer, PutManifest } from "./schemas.ts";
import type { UploadStaging } from "./staging.ts";

/** "HYGM" and the authenticated seal version: what every sealed manifest written today starts with. */
const SEALED_MANIFEST_HEADER = new Uint8Array([...SEALED_MANIFEST_MAGIC, SEALED_MANIFEST_VERSION]);

function pointerView(row: ManifestPointerRow | undefined) {
  return row === undefined
    ? { cid: null, version: 0, updatedAt: null }
    : { cid: row.cid, version: row.version, updatedAt: row.updatedAt };
}

export function manifestRoutes(app: RecordsApp, staging: UploadStaging): void {
  const anchorsInFlight = new KeyedQueue();
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
      if (!(await staging.get(cid, patient)) && !(await pinnedHere(app, cid)))
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

  app.get(
    "/manifests/:cid",
    {
      schema: {
        tags: ["records"],
        summary: "Read a sealed manifest by its CID",
        description:
          "The bytes of a sealed manifest pinned here (only content with the sealed-manifest header is served). A " +
          "wallet reads its own record list with it, also by the CID its on-chain anchor names when this gateway " +
          "has lost (or never had) its pointer. Only the owner's key opens it.",
        operationId: "getSealedManifest",
        security: [{ bearer: [] }],
        params: CidParams,
        response: {
          200: { description: "The sealed manifest", content: { "application/octet-stream": { schema: {} } } },
          ...problemResponses(400, 401, 404, 503),
        },
      },
    },
    async (request, reply) => {
      requireSession(request);
      const cid = canonicalCid(request.params.cid, "params.cid");
      const { content } = app.services;
      const notHere = () =>
        new NotFoundError("MANIFEST_NOT_FOUND", "no sealed manifest with this CID is kept here", {
          field: "params.cid",
        });
      const size = (await pinnedHere(app, cid))?.size;
      if (size === undefined || size > MAX_MANIFEST_BYTES) throw notHere();
      // Streamed: only the first bytes are read before answering (the header decides), never the whole file.
      const blocks = content.get(cid, { timeoutMs: app.config.ipfs.timeoutMs })[Symbol.asyncIterator]();
      const first: Uint8Array[] = [];
      let read = 0;
      while (read < SEALED_MANIFEST_HEADER.length) {
        const next = await blocks.next();
        if (next.done) break;
        first.push(next.value);
        read += next.value.byteLength;
      }
      const head = Buffer.concat(first);
      if (!SEALED_MANIFEST_HEADER.every((byte, i) => head[i] === byte)) {
        await blocks.return?.();
        throw notHere();
      }
      async function* rest(): AsyncGenerator<Uint8Array> {
        yield head;
        for (;;) {
          const next = await blocks.next();
          if (next.done) return;
          yield next.value;
        }
      }
      return reply
        .header("cache-control", "no-store")
        .header("content-length", String(size))
        .type("application/octet-stream")
        .send(Readable.from(rest()));
    },
  );

  app.post(
    "/manifest/anchors",
    {
      schema: {
        tags: ["records"],
        summary: "Relay your record list's on-chain anchor",
        description:
          "Sends a record-list anchor signed by your anchor identity as EthereumDIDRegistry.setAttributeSigned, " +
          "paying the gas. Checked before any gas: the signature recovers to the identity, the value is at most 256 " +
          "bytes, the nonce is the registry's current one (409 ANCHOR_NONCE_STALE otherwise: read it again, re-sign). " +
          "Counts against the address's daily anchor quota (limits.anchorsPerDay), not the consent relay's.",
        operationId: "relayManifestAnchor",
        security: [{ bearer: [] }],
        body: AnchorManifest,
        response: { 200: ManifestAnchored, ...problemResponses(400, 401, 409, 429, 503) },
      },
    },
    async (request) => {
      const session = requireSession(request);
      const { chain, store } = app.services;
      const sender = chain.relayer?.sender;
      if (!sender)
        throw new DependencyUnavailableError(
          "chain",
          "RELAYER_NOT_CONFIGURED",
          "this gateway has no relayer key (HYGEIA_RELAYER_KEY): send the anchor from a funded account",
        );
      const registry = chain.deployment.contracts.EthereumDIDRegistry;
      let signed;
      try {
        signed = parseSignedManifestAnchor(registry, request.body);
      } catch (error) {
        if (error instanceof SignatureError)
          throw new BadRequestError("INVALID_SIGNATURE", error.message, { field: "body.signature", cause: error });
        if (error instanceof InvalidInputError)
          throw new BadRequestError("INVALID_INPUT", error.message, { field: `body.${error.field}`, cause: error });
        throw error;
      }
      // One anchor of an identity at a time: concurrent writes for one nonce would all pass the checks before the
      // first is mined, and the relayer would pay for every one that then reverts.
      return anchorsInFlight.run(signed.identity.toLowerCase(), async () => {
        const current = await manifestAnchorNonce(chain.provider, registry, signed.identity);
        if (current !== signed.nonce) throw staleNonce(current);
        const { windowStart, retryAfter } = quotaWindow(app.services.now());
        const limit = app.config.limits.anchorsPerDay;
        if (!(await store.takeRelayQuota(`anchor:${session.address}`, windowStart, limit)))
          throw new GatewayError(
            "ANCHOR_QUOTA_EXCEEDED",
            429,
            `this address has used its ${limit} relayed record-list anchors for the day; your list is safe here and ` +
              "is anchored by your next update after the UTC day ends",
            { extensions: { limit, retryAfter } },
          );
        try {
          const mined = await sendManifestAnchor(sender, registry, signed);
          return { hash: mined.hash.toLowerCase(), blockNumber: mined.receipt.blockNumber };
        } catch (error) {
          // Reverted (in the simulation, or mined): another anchor took this nonce in between (another device's,
          // through another gateway process).
          if (error instanceof ContractRevertError) throw staleNonce(undefined);
          throw relayFailure(error, "body");
        }
      });
    },
  );
}

/** The content's stat when it is pinned here; undefined when it is not (or not held at all). */
export async function pinnedHere(app: RecordsApp, cid: string): Promise<ContentStat | undefined> {
  const { content } = app.services;
  const options = { timeoutMs: app.config.ipfs.timeoutMs };
  if (!(await content.has(cid, options))) return undefined;
  const stat = await content.stat(cid, options);
  return stat.pinned ? stat : undefined;
}

function staleNonce(current: number | undefined): ConflictError {
  return new ConflictError(
    "ANCHOR_NONCE_STALE",
    "the anchor identity wrote since this anchor was signed: read its nonce (and the newest anchor) again and re-sign",
    current === undefined ? {} : { extensions: { nonce: current } },
  );
}

/** Runs work one at a time per key (in this process), in arrival order. */
class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(work);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
