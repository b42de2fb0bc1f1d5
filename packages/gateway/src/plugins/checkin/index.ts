// Check-in sessions: the gateway relays identity's mutual check-in between a clinic and a patient's wallet
// (read packages/identity/README.md "Virtual-clinic check-in"). Modest by design: the web issue remodels it on
// OpenID4VP.
//
// Safety rules:
// - Only a session holding the clinic role opens a check-in; the request's domain is that clinic's did:ethr, so a
//   wallet (answerVerifiedClinic) answers only a clinic it verified under that DID.
// - The answer is stored as sent, opaque: sealed to the clinic's X25519 key, the gateway cannot open it and never
//   tries. It is accepted once, while the check-in is open.
// - Only the clinic that opened the check-in, still holding the clinic role, reads the answer; to anyone else a
//   check-in's answer does not exist.
// - Mutual verification across machines: before disclosing anything the patient's wallet posts a fresh challenge of
//   its own (identity's challengeClinic) and the clinic answers it with a JWT VP of its accreditation
//   (clinic-challenge / clinic-proof). The first signed-in patient to challenge binds the check-in: from then on
//   only that patient may challenge again, read the proof and answer. Only the check-in's clinic, still holding the
//   clinic role, posts a proof, and only for the patient's current challenge. The gateway checks the shape of the
//   proof, never its truth: the wallet verifies it (verifyClinic). Everything ends with the check-in's expiry.
// - Read-modify-write of a check-in (challenge, proof) is serialized per check-in in this process, and written with
//   a compare-and-swap on the request it read (store.replaceCheckInRequest), so gateways sharing one store cannot
//   both bind a check-in or write back a stale copy: the loser decides again on a fresh read. The answer is written
//   by completeCheckIn, which sets the result once and never touches the request.
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { decodeJwt, presentationRequestProblems, type SealedCheckIn } from "@hygeia/identity";
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from "../../errors.ts";
import { requireRole, requireSession } from "../../auth/session.ts";
import { problemResponses } from "../../schemas.ts";
import type { CheckInRow } from "../../store/types.ts";
import {
  checkInStatus,
  decideClinicChallenge,
  decideClinicProof,
  decideProofRead,
  mayAnswer,
  mayReadAnswer,
  type ClinicRelay,
} from "./decide.ts";
import {
  AnswerAccepted,
  AnswerBody,
  CheckInParams,
  CheckInResponse,
  CheckInResult,
  ClinicChallengeAccepted,
  ClinicChallengeBody,
  ClinicProof,
  ClinicProofAccepted,
  ClinicProofBody,
  type CheckInRequest,
  OpenCheckInBody,
} from "./schemas.ts";

const TAGS = ["checkin"];
const BEARER = [{ bearerAuth: [] }];
const DEFAULT_TTL_SECONDS = 600;

interface StoredRequest {
  request: CheckInRequest;
  clinic: { did: string; address: string; accreditation: string };
  /** The clinic's proof round trip, once a patient's wallet challenged the clinic. */
  relay?: ClinicRelay;
}

const TAKEN = () =>
  new ConflictError(
    "CHECK_IN_TAKEN",
    "another patient is already checking in with this check-in: ask the clinic for a new one",
  );
const CLOSED = () => new ConflictError("CHECK_IN_CLOSED", "this check-in was already answered or has expired");

/** A check-in write lost its compare-and-swap to another gateway's: decide again on a fresh read. */
class LostRace extends Error {}
const MAX_RACE_ATTEMPTS = 5;

export async function checkInPlugin(app: FastifyInstance): Promise<void> {
  const { config, services } = app;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const didPrefix = `did:ethr:0x${services.chain.deployment.chainId.toString(16)}`;
  const urlOf = (id: string) => `${config.publicUrl.replace(/\/+$/, "")}/v1/checkins/${id}`;

  async function load(id: string): Promise<CheckInRow> {
    const row = await services.store.getCheckIn(id);
    if (!row) throw new NotFoundError("CHECK_IN_NOT_FOUND", "no such check-in (or it was swept after expiring)");
    return row;
  }
  const storedOf = (row: CheckInRow) => JSON.parse(row.request) as StoredRequest;
  /** Writes the relay over the request `row` was read with; throws LostRace when another write came first. */
  async function saveRelay(row: CheckInRow, relay: ClinicRelay): Promise<void> {
    const next = JSON.stringify({ ...storedOf(row), relay });
    if (!(await services.store.replaceCheckInRequest(row.id, row.request, next))) throw new LostRace();
  }

  // One read-modify-write at a time per check-in in this process (see the rules above); a write lost to another
  // gateway (LostRace) reads again and decides again, a few times at most.
  const locks = new Map<string, Promise<void>>();
  async function serialized<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = locks.get(id) ?? Promise.resolve();
    let release = () => {};
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    locks.set(id, tail);
    try {
      await previous;
      for (let attempt = 1; ; attempt++) {
        try {
          return await work();
        } catch (error) {
          if (!(error instanceof LostRace) || attempt >= MAX_RACE_ATTEMPTS) {
            if (error instanceof LostRace)
              throw new ConflictError("CHECK_IN_BUSY", "this check-in is changing at this moment: try again");
            throw error;
          }
        }
      }
    } finally {
      release();
      if (locks.get(id) === tail) locks.delete(id);
    }
  }

  const view = (row: CheckInRow) => {
    const stored = storedOf(row);
    return {
      id: row.id,
      url: urlOf(row.id),
      request: stored.request,
      clinic: stored.clinic,
      status: checkInStatus(row, services.now()),
      expiresAt: row.expiresAt,
    };
  };

  r.post(
    "/checkins",
    {
      schema: {
        tags: TAGS,
        summary: "Open a check-in (clinic)",
        description:
          "The clinic asks a patient to show credentials: the answer must be sealed to the clinic's keyAgreement key. Give the patient the returned `url` (QR code, link).",
        operationId: "openCheckIn",
        security: BEARER,
        body: OpenCheckInBody,
        response: { 201: CheckInResponse, ...problemResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const session = requireRole(request, "clinic");
      const roles = await services.store.sessionRoles(session.id);
      const accreditation = roles.find((row) => row.role === "clinic")?.credential;
      if (accreditation === undefined) throw new ForbiddenError("ROLE_REQUIRED", "present the clinic role again");
      const now = services.now();
      const presentationRequest: CheckInRequest = {
        challenge: request.body.challenge ?? randomBytes(24).toString("base64url"),
        domain: clinicDid(accreditation, `${didPrefix}:${session.address}`),
        credentials: request.body.credentials,
      };
      const problems = presentationRequestProblems(presentationRequest);
      if (problems.length > 0)
        throw new BadRequestError("INVALID_CHECK_IN_REQUEST", problems.join("; "), { field: "body.credentials" });
      const row: CheckInRow = {
        id: randomBytes(16).toString("hex"),
        clinic: session.address,
        request: JSON.stringify({
          request: presentationRequest,
          clinic: { did: presentationRequest.domain, address: session.address, accreditation },
        } satisfies StoredRequest),
        createdAt: now,
        expiresAt: now + (request.body.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000,
        result: null,
        completedAt: null,
      };
      await services.store.putCheckIn(row);
      return reply.code(201).send(view(row));
    },
  );

  r.get(
    "/checkins/:id",
    {
      schema: {
        tags: TAGS,
        summary: "Read a check-in (the patient's wallet)",
        description:
          "Anyone holding the id: the presentation request, the clinic's DID and its accreditation credential. The wallet verifies the clinic before answering.",
        operationId: "getCheckIn",
        params: CheckInParams,
        response: { 200: CheckInResponse, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request) => view(await load(request.params.id)),
  );

  r.post(
    "/checkins/:id/response",
    {
      schema: {
        tags: TAGS,
        summary: "Answer a check-in (patient)",
        description:
          "The wallet's sealed answer (identity's answerVerifiedClinic), stored as sent: the gateway cannot open it. Once, while open; once a patient challenged the clinic, only that patient (409 CHECK_IN_TAKEN for others).",
        operationId: "answerCheckIn",
        security: BEARER,
        params: CheckInParams,
        body: AnswerBody,
        response: { 200: AnswerAccepted, ...problemResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request) => {
      const session = requireSession(request);
      return serialized(request.params.id, async () => {
        const row = await load(request.params.id);
        const now = services.now();
        if (checkInStatus(row, now) !== "open") throw CLOSED();
        if (!mayAnswer(storedOf(row).relay, session.address)) throw TAKEN();
        if (!(await services.store.completeCheckIn(row.id, JSON.stringify({ answer: request.body.answer }), now)))
          throw CLOSED();
        return { id: row.id, status: "answered" as const, completedAt: now };
      });
    },
  );

  r.get(
    "/checkins/:id/result",
    {
      schema: {
        tags: TAGS,
        summary: "Fetch a check-in's answer (the clinic that opened it)",
        description: "The sealed answer, to open with the clinic's X25519 key and verify (identity's verifyCheckIn).",
        operationId: "getCheckInResult",
        security: BEARER,
        params: CheckInParams,
        response: { 200: CheckInResult, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const session = requireSession(request);
      const row = await load(request.params.id);
      // To anyone but its clinic, a check-in's answer does not exist (404, as for an unknown id).
      if (!mayReadAnswer(session, row))
        throw new NotFoundError("CHECK_IN_NOT_FOUND", "no such check-in for this clinic");
      const answer = row.result === null ? null : (JSON.parse(row.result) as { answer: SealedCheckIn }).answer;
      const relay = storedOf(row).relay;
      return {
        id: row.id,
        status: checkInStatus(row, services.now()),
        answer,
        completedAt: row.completedAt,
        clinicChallenge:
          relay === undefined
            ? null
            : {
                challenge: relay.challenge,
                domain: relay.domain,
                challengedAt: relay.challengedAt,
                provedAt: relay.provedAt,
              },
      };
    },
  );

  r.post(
    "/checkins/:id/clinic-challenge",
    {
      schema: {
        tags: TAGS,
        summary: "Challenge the clinic (patient's wallet)",
        description:
          "Before disclosing anything, the signed-in patient's wallet asks the clinic to prove its accreditation for a fresh challenge of its own (identity's challengeClinic; domain = the patient's DID). The first patient to challenge binds the check-in (others: 409 CHECK_IN_TAKEN); that patient may post a new challenge, which replaces the old one and any proof for it. Then poll GET …/clinic-proof.",
        operationId: "challengeCheckInClinic",
        security: BEARER,
        params: CheckInParams,
        body: ClinicChallengeBody,
        response: { 202: ClinicChallengeAccepted, ...problemResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const session = requireSession(request);
      const accepted = await serialized(request.params.id, async () => {
        const row = await load(request.params.id);
        const now = services.now();
        const relay = storedOf(row).relay;
        const decision = decideClinicChallenge(checkInStatus(row, now), relay, session.address);
        if (decision === "closed") throw CLOSED();
        if (decision === "taken") throw TAKEN();
        await saveRelay(row, {
          patient: session.address,
          challenge: request.body.challenge,
          domain: request.body.domain,
          challengedAt: now,
          proof: null,
          provedAt: null,
        });
        return {
          id: row.id,
          status: "awaiting-proof" as const,
          challenge: request.body.challenge,
          challengedAt: now,
          expiresAt: row.expiresAt,
        };
      });
      return reply.code(202).send(accepted);
    },
  );

  r.post(
    "/checkins/:id/clinic-proof",
    {
      schema: {
        tags: TAGS,
        summary: "Prove the clinic's accreditation to the patient's wallet (the clinic that opened the check-in)",
        description:
          "The clinic's JWT VP of its accreditation for the wallet's current challenge (identity's createPresentation with the challenge and domain of `clinicChallenge` in GET …/result). Opaque to the gateway beyond its shape: the wallet verifies it. A later proof for the same challenge replaces the earlier one; a proof for a replaced challenge is 409 CLINIC_CHALLENGE_STALE.",
        operationId: "proveCheckInClinic",
        security: BEARER,
        params: CheckInParams,
        body: ClinicProofBody,
        response: { 200: ClinicProofAccepted, ...problemResponses(400, 401, 403, 404, 409, 413, 429, 503) },
      },
    },
    async (request) => {
      const session = requireRole(request, "clinic");
      return serialized(request.params.id, async () => {
        const row = await load(request.params.id);
        if (row.clinic !== session.address)
          throw new ForbiddenError("NOT_CHECK_IN_CLINIC", "only the clinic that opened this check-in proves itself");
        const now = services.now();
        const relay = storedOf(row).relay;
        const decision = decideClinicProof(checkInStatus(row, now), relay, request.body.challenge);
        if (decision === "closed") throw CLOSED();
        if (decision === "no-challenge" || relay === undefined)
          throw new ConflictError("NO_CLINIC_CHALLENGE", "no patient's wallet has challenged the clinic yet");
        if (decision === "stale")
          throw new ConflictError(
            "CLINIC_CHALLENGE_STALE",
            "the wallet replaced this challenge: prove the current one (clinicChallenge in GET …/result)",
          );
        await saveRelay(row, { ...relay, proof: request.body.presentation, provedAt: now });
        return { id: row.id, challenge: relay.challenge, provedAt: now };
      });
    },
  );

  r.get(
    "/checkins/:id/clinic-proof",
    {
      schema: {
        tags: TAGS,
        summary: "Fetch the clinic's proof (the patient that challenged it)",
        description:
          "200 with the clinic's JWT VP for the wallet's current challenge once posted; 202 (Retry-After: 1) while the clinic has not answered yet; 404 CLINIC_CHALLENGE_NOT_FOUND to anyone but the patient that challenged; 409 CHECK_IN_CLOSED once answered or expired. Verify the presentation (identity's verifyClinic) before disclosing anything.",
        operationId: "getCheckInClinicProof",
        security: BEARER,
        params: CheckInParams,
        response: {
          200: ClinicProof,
          202: ClinicChallengeAccepted,
          ...problemResponses(400, 401, 404, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const session = requireSession(request);
      const row = await load(request.params.id);
      const relay = storedOf(row).relay;
      const decision = decideProofRead(checkInStatus(row, services.now()), relay, session.address);
      if (decision === "not-challenged" || relay === undefined)
        throw new NotFoundError(
          "CLINIC_CHALLENGE_NOT_FOUND",
          "this session has not challenged the clinic of this check-in: POST …/clinic-challenge first",
        );
      if (decision === "closed") throw CLOSED();
      if (decision === "awaiting" || relay.proof === null || relay.provedAt === null)
        return reply
          .code(202)
          .header("retry-after", "1")
          .send({
            id: row.id,
            status: "awaiting-proof" as const,
            challenge: relay.challenge,
            challengedAt: relay.challengedAt,
            expiresAt: row.expiresAt,
          });
      return reply.code(200).send({
        id: row.id,
        status: "proved" as const,
        challenge: relay.challenge,
        domain: relay.domain,
        presentation: relay.proof,
        provedAt: relay.provedAt,
      });
    },
  );
}

/**
 * The clinic's DID as its accreditation names it (the role check tied that subject to the session's address):
 * wallets compare the request's domain with the DID they verified, spelled as the clinic's presentation spells it.
 */
function clinicDid(accreditation: string, fallback: string): string {
  try {
    const sub = decodeJwt(accreditation).payload.sub;
    return typeof sub === "string" && sub.toLowerCase() === fallback.toLowerCase() ? sub : fallback;
  } catch {
    return fallback;
  }
}
