// Consent: the relay of patients' signed EIP-712 messages (grants, revokes, emergency grantees), the listing of
// a patient's live consents from the indexer, and their export as FHIR R4 Consent resources.
//
// Safety rules: see relay.ts (nothing is sent that the contract would refuse; quota per patient and per
// session; an audit event per relayed message before the answer) and ../../fhir/consent.ts (PHI-free export).
// Listing fails closed: a stale indexer answers 503 (indexer), never an empty or outdated list.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { TransactionTimeoutError, consentDomain, purposeLabel, type ConsentTx } from "@hygeia/chain";
import { requireSession, type Session } from "../../auth/session.ts";
import { DependencyUnavailableError, GatewayError } from "../../errors.ts";
import { toProblem } from "../../problems.ts";
import { problemResponses } from "../../schemas.ts";
import { consentBundle, type ConsentForFhir } from "../../fhir/consent.ts";
import {
  quotaWindow,
  RelayQuotaError,
  batchSlotKeys,
  decideBatch,
  decideRelay,
  parseRelayBatch,
  parseRelayItem,
  readBatchVersions,
  readSlotState,
  relayFailure,
  relayReason,
  requireDistinctSlots,
  sendRelay,
  type ParsedRelay,
  type RelayKind,
  revertedTransaction,
  slotKey,
} from "./relay.ts";
import { RelayGuard, RelayInProgressError, receiptSettled } from "./guard.ts";
import {
  ConsentBatchRelayBody,
  ConsentBatchRelayResponse,
  ConsentListResponse,
  EmergencyGranteeRelayBody,
  FhirBundleSchema,
  GrantRelayBody,
  RelayQuery,
  RelayResponse,
  RevokeRelayBody,
  type RelayResult,
} from "./schemas.ts";

const TAGS = ["consent"];

/** What an audit event of a relay names: the signer, and the slot's scope and purpose (none for a registration). */
interface Audited {
  readonly kind: RelayKind;
  readonly patient: string;
  readonly scope?: string;
  readonly purpose: number;
}

function audited(item: ParsedRelay): Audited {
  if (item.kind === "emergency-grantee") return { kind: item.kind, patient: item.patient, purpose: 3 };
  return {
    kind: item.kind,
    patient: item.patient,
    scope: item.signed.scope.toLowerCase(),
    purpose: item.signed.purpose,
  };
}
const BEARER = [{ bearer: [] }];
export const FHIR_JSON = "application/fhir+json";

const ROUTES: {
  path: string;
  kind: RelayKind;
  body: typeof GrantRelayBody | typeof RevokeRelayBody | typeof EmergencyGranteeRelayBody;
  summary: string;
  operationId: string;
}[] = [
  {
    path: "/consents/grants",
    kind: "grant",
    body: GrantRelayBody,
    summary: "Relay signed consent grants",
    operationId: "relayGrants",
  },
  {
    path: "/consents/revokes",
    kind: "revoke",
    body: RevokeRelayBody,
    summary: "Relay signed consent revokes",
    operationId: "relayRevokes",
  },
  {
    path: "/consents/emergency-grantees",
    kind: "emergency-grantee",
    body: EmergencyGranteeRelayBody,
    summary: "Relay signed emergency grantee registrations or removals",
    operationId: "relayEmergencyGrantees",
  },
];

export async function consentPlugin(root: FastifyInstance): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  // Every consent route needs a session: refuse before the body is validated, so anonymous callers get 401 whatever they send.
  app.addHook("preValidation", async (request) => {
    requireSession(request);
  });
  // One relay in flight per consent slot, in this process (guard.ts; several gateways need the shared store).
  const guard = new RelayGuard();
  app.addHook("onClose", async () => guard.close());

  /**
   * The patient whose log a relayed message goes to: the main patient of a link naming the signer as its consent
   * address (whichever session relays it), else the signer itself.
   */
  async function mainPatientOf(session: Session, consentAddress: string): Promise<string> {
    if (consentAddress === session.address) return session.address;
    const link = await app.services.store.consentLinkByAddress(consentAddress);
    return link?.patient ?? consentAddress;
  }

  /** Counts one relay against the session and the signed patient (`consentAddress`); 429 when either is spent. */
  async function takeQuota(session: Session, consentAddress: string, nowMs: number): Promise<void> {
    const limit = app.config.limits.relayPerDay;
    const { windowStart, retryAfter } = quotaWindow(nowMs);
    // The session's counter has its own key: a patient relaying its own grant counts once in each.
    if (!(await app.services.store.takeRelayQuota(`session:${session.address}`, windowStart, limit)))
      throw new RelayQuotaError("session", limit, retryAfter);
    if (!(await app.services.store.takeRelayQuota(consentAddress, windowStart, limit)))
      throw new RelayQuotaError("patient", limit, retryAfter);
  }

  /**
   * A relay is audited twice: "submitted" is durable BEFORE the transaction is sent (a gateway killed while it is
   * being mined still leaves the patient an event for a consent change that may land), and "relayed" with the
   * transaction hash once it is mined.
   */
  async function audit(request: FastifyRequest, session: Session, item: Audited, tx: ConsentTx | null): Promise<void> {
    await app.audit.record({
      type: "consent_relayed",
      decision: "permit",
      actor: session.address,
      patient: await mainPatientOf(session, item.patient),
      reason: relayReason(item.kind, tx === null ? "submitted" : "mined"),
      request: request.id,
      consentAddress: item.patient,
      ...(item.scope === undefined ? { purpose: item.purpose } : { scope: item.scope, purpose: item.purpose }),
      ...(tx === null ? {} : { tx: tx.hash.toLowerCase() }),
    });
  }

  for (const route of ROUTES) {
    app.post(
      route.path,
      {
        schema: {
          tags: TAGS,
          summary: route.summary,
          description:
            "Relays EIP-712 messages the patient signed (signedConsentToJson), paying the gas with the gateway's " +
            "relayer key. Before any gas: the signature must recover to the message's patient, the deadline lie " +
            "ahead, the version (epoch) be the slot's current one; a batch is checked whole. A message for a " +
            "slot whose relay is still being mined is refused with 409 RELAY_IN_PROGRESS (nothing sent); one " +
            "sent and reverted on chain answers 409 RELAYED_BUT_REVERTED with its hash. Any signed-in " +
            "session may relay (the signer need not be the session: pairwise consent accounts); each message " +
            "counts against the patient's and the session's daily relay quota. The relayer's transaction sender " +
            "answers once the transaction is mined, so every answer carries the hash and the block number " +
            "(?wait=receipt is accepted and changes nothing).",
          operationId: route.operationId,
          security: BEARER,
          querystring: RelayQuery,
          body: route.body,
          response: { 200: RelayResponse, ...problemResponses(400, 401, 409, 429, 503) },
        },
      },
      async (request) => {
        const session = requireSession(request);
        const relayer = app.services.chain.relayer;
        if (relayer === null)
          throw new DependencyUnavailableError(
            "chain",
            "RELAYER_NOT_CONFIGURED",
            "this gateway has no relayer key (HYGEIA_RELAYER_KEY): send the transaction from the patient's own account",
          );
        const batch = Array.isArray(request.body.signed);
        const raw: unknown[] = Array.isArray(request.body.signed) ? request.body.signed : [request.body.signed];
        const { deployment, registry } = app.services.chain;
        const domain = consentDomain(deployment.chainId, deployment.contracts.ConsentRegistry);
        const field = (index: number) => (batch ? `body.signed.${index}` : "body.signed");

        // Every check that costs no gas, for the whole batch, before anything is sent.
        const items = raw.map((json, index) => parseRelayItem(route.kind, domain, json, field(index)));
        requireDistinctSlots(items);
        // Before the chain is read: a slot with a relay in flight is refused with nothing sent.
        const keys = items.map(slotKey);
        const hold = guard.acquire(keys);
        if ("busy" in hold) throw new RelayInProgressError(field(hold.busy));
        let outcomes: PromiseSettledResult<ConsentTx>[];
        try {
          const states = await Promise.all(items.map((item) => readSlotState(registry, item)));
          const now = app.services.now();
          items.forEach((item, index) => {
            const refusal = decideRelay(item, states[index]!, now, field(index));
            if (refusal) throw refusal;
          });
          for (const item of items) await takeQuota(session, item.patient, now);
          // Durable before anything is sent (one group commit for the batch).
          await Promise.all(items.map((item) => audit(request, session, audited(item), null)));

          // Sent concurrently: the relayer's sender takes nonces in call order and pipelines them. Each slot is
          // released as its transaction settles; one that timed out may still be mined, so it stays held until
          // the chain shows its receipt (bounded).
          outcomes = await Promise.allSettled(
            items.map((item, index) =>
              sendRelay(relayer, item).then(
                (tx) => {
                  hold.release(keys[index]!);
                  return tx;
                },
                (error: unknown) => {
                  if (error instanceof TransactionTimeoutError && error.hash !== undefined) {
                    const hash = error.hash;
                    const { provider } = app.services.chain;
                    hold.releaseWhen(
                      keys[index]!,
                      receiptSettled(
                        (h) => provider.getTransactionReceipt(h),
                        hash,
                        () => guard.isClosed,
                      ),
                    );
                  } else if (error instanceof TransactionTimeoutError) {
                    hold.releaseWhen(keys[index]!, new Promise<never>(() => undefined));
                  } else hold.release(keys[index]!);
                  throw error;
                },
              ),
            ),
          );
        } catch (error) {
          hold.releaseAll();
          throw error;
        }
        // The mined ones are audited together (one group commit), durable before the answer.
        await Promise.all(
          outcomes.map((outcome, index) =>
            outcome.status === "fulfilled" ? audit(request, session, audited(items[index]!), outcome.value) : undefined,
          ),
        );
        const results = outcomes.map((outcome, index): RelayResult => {
          const item = items[index]!;
          const base = { kind: item.kind, consentAddress: item.patient, grantee: item.grantee };
          if (outcome.status === "fulfilled")
            return {
              ...base,
              hash: outcome.value.hash.toLowerCase(),
              blockNumber: outcome.value.blockNumber,
              status: "mined",
            };
          const error = relayFailure(outcome.reason, field(index));
          if (!batch) throw error;
          request.log.info({ err: outcome.reason, item: index }, "relayed batch item failed");
          const problem = toProblem(error, request.id);
          const errorName = error instanceof GatewayError ? error.extensions.errorName : problem.errorName;
          // A transaction sent and reverted on chain keeps its hash: the relayer paid for it.
          const sent = revertedTransaction(outcome.reason);
          return {
            ...base,
            ...(sent === undefined ? {} : { hash: sent }),
            status: "failed",
            problem: {
              code: problem.code,
              detail: problem.detail,
              ...(typeof errorName === "string" ? { errorName } : {}),
            },
          };
        });
        return batch ? { results } : results[0]!;
      },
    );
  }

  app.post(
    "/consents/batches",
    {
      schema: {
        tags: TAGS,
        summary: "Relay a signed consent batch (one signature, one transaction)",
        description:
          "Relays a ConsentBatch the patient signed ONCE (signConsentBatch → signedConsentBatchToJson): several " +
          "grants and revokes applied by one consentBatchBySig transaction, grants first, then revokes, all or " +
          "nothing. Before any gas, as for the single messages: the signature must recover to the batch's patient, " +
          "the deadline and every grant's expiry lie ahead, and every item carry its slot's version as the contract " +
          "will see it (the chain's version plus the batch's earlier writes of that slot); else 400 / 409 naming " +
          "the item (body.signed.grants.1; a stale version: 409 STALE_VERSION with the item in `item`). A batch writing a slot whose relay is still being mined is " +
          "refused with 409 RELAY_IN_PROGRESS (nothing sent); one sent and reverted on chain answers 409 " +
          "RELAYED_BUT_REVERTED with its hash. Any signed-in session may relay; each item counts against the " +
          "patient's and the session's daily relay quota. The answer carries the hash and the block number once " +
          "mined (?wait=receipt is accepted and changes nothing).",
        operationId: "relayConsentBatch",
        security: BEARER,
        querystring: RelayQuery,
        body: ConsentBatchRelayBody,
        response: { 200: ConsentBatchRelayResponse, ...problemResponses(400, 401, 409, 429, 503) },
      },
    },
    async (request): Promise<ConsentBatchRelayResponse> => {
      const session = requireSession(request);
      const relayer = app.services.chain.relayer;
      if (relayer === null)
        throw new DependencyUnavailableError(
          "chain",
          "RELAYER_NOT_CONFIGURED",
          "this gateway has no relayer key (HYGEIA_RELAYER_KEY): send the transaction from the patient's own account",
        );
      const { deployment, registry } = app.services.chain;
      const domain = consentDomain(deployment.chainId, deployment.contracts.ConsentRegistry);
      const field = "body.signed";
      // Every check that costs no gas before anything is sent.
      const batch = parseRelayBatch(domain, request.body.signed, field);
      const keys = batchSlotKeys(batch);
      const hold = guard.acquire(keys);
      if ("busy" in hold) throw new RelayInProgressError(field);
      let tx: ConsentTx;
      let timedOut = false;
      try {
        const versions = await readBatchVersions(registry, batch);
        const now = app.services.now();
        const refusal = decideBatch(batch, versions, now, field);
        if (refusal) throw refusal;
        for (let i = 0; i < batch.items.length; i++) await takeQuota(session, batch.patient, now);
        // Durable before anything is sent (one group commit).
        await Promise.all(batch.items.map((item) => audit(request, session, item, null)));
        try {
          tx = await relayer.consentBatchBySig(batch.signed);
        } catch (error) {
          if (error instanceof TransactionTimeoutError) {
            timedOut = true;
            // It may still be mined: its slots stay held until the chain shows the receipt (bounded).
            const settled =
              error.hash === undefined
                ? new Promise<never>(() => undefined)
                : receiptSettled(
                    (h) => app.services.chain.provider.getTransactionReceipt(h),
                    error.hash,
                    () => guard.isClosed,
                  );
            for (const key of keys) hold.releaseWhen(key, settled);
          }
          throw relayFailure(error, field);
        }
      } finally {
        // Released once the transaction settled or the batch was refused; a timed-out one stays held (above).
        if (!timedOut) hold.releaseAll();
      }
      await Promise.all(batch.items.map((item) => audit(request, session, item, tx)));
      return {
        kind: "consent-batch",
        consentAddress: batch.patient,
        grants: batch.signed.grants.length,
        revokes: batch.signed.revokes.length,
        hash: tx.hash.toLowerCase(),
        blockNumber: tx.blockNumber,
        status: "mined",
      };
    },
  );

  /** The session's live consents: its main address's and each linked consent account's (indexer, fail closed). */
  async function liveConsents(session: Session) {
    const links = await app.services.store.consentLinksOf(session.address);
    const addresses = [...new Set([session.address, ...links.map((link) => link.consentAddress.toLowerCase())])];
    const { indexer } = app.services.chain;
    const consents = addresses.flatMap((consentAddress) =>
      indexer.consentsOf(consentAddress).map((consent) => ({
        consentAddress,
        grantee: consent.grantee.toLowerCase(),
        scope: consent.scope.toLowerCase(),
        purpose: consent.purpose,
        purposeLabel: purposeLabel(consent.purpose),
        expiry: Number(consent.expiry),
        version: consent.version,
      })),
    );
    return { patient: session.address, consentAddresses: addresses, consents };
  }

  app.get(
    "/consents",
    {
      schema: {
        tags: TAGS,
        summary: "List the signed-in patient's live consents",
        description:
          "The live, confirmed consents (from the consent indexer) of the session's main address and of each " +
          "consent account linked to it (PUT /v1/consent-links). Scopes are opaque ids: the wallet labels them. " +
          "A stale indexer answers 503 (dependency indexer), never a partial list.",
        operationId: "listConsents",
        security: BEARER,
        response: { 200: ConsentListResponse, ...problemResponses(401, 503) },
      },
    },
    async (request) => liveConsents(requireSession(request)),
  );

  app.get(
    "/consents/fhir",
    {
      schema: {
        tags: TAGS,
        summary: "Export the signed-in patient's live consents as FHIR R4",
        description:
          "A FHIR R4 Bundle (type collection) of Consent resources, one per live consent: status active, scope " +
          "patient-privacy, category LOINC 59284-0, patient / performer / actor as DIDs (no names), provision " +
          "permit until the expiry, purpose as v3-ActReason (TREAT, HRESCH, ETREAT, HPAYMT, PUBHLTH), and the " +
          "opaque scope id in an extension (the wallet, which alone can label it, fills in the data class).",
        operationId: "exportConsentsFhir",
        security: BEARER,
        response: {
          200: { description: "FHIR R4 Bundle", content: { [FHIR_JSON]: { schema: FhirBundleSchema } } },
          ...problemResponses(401, 503),
        },
      },
    },
    async (request, reply) => {
      const listed = await liveConsents(requireSession(request));
      const { deployment } = app.services.chain;
      const consents: ConsentForFhir[] = listed.consents.map((consent) => ({
        patient: listed.patient,
        consentAddress: consent.consentAddress,
        grantee: consent.grantee,
        scope: consent.scope,
        purpose: consent.purpose,
        expiry: consent.expiry,
        version: consent.version,
        chainId: deployment.chainId,
        registry: deployment.contracts.ConsentRegistry,
      }));
      return reply.type(FHIR_JSON).send(consentBundle(consents, { now: app.services.now() }));
    },
  );
}
