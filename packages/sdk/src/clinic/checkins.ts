/**
 * The clinic's side of a check-in, over the gateway's check-in routes (gateway README "Check-in"; identity README
 * "Virtual-clinic check-in").
 *
 * Rules:
 * - The challenge of every check-in comes from the clinic's own desk verifier (its `ChallengeStore`), issued for the
 *   domain the gateway puts in the request (the clinic's DID as its accreditation spells it), so the answer is
 *   verified against a challenge only this clinic issued, once.
 * - The answer is opened here with the clinic's X25519 key pair(s) and verified by @hygeia/identity
 *   (`verifyCheckIn`: signatures, holder binding, challenge, expiry, status lists, issuer trust); the gateway only
 *   relays it sealed. The result carries only the claims the request named, and only when every check passed.
 * - The request verified against is the one this client opened, not what the gateway says later; a check-in opened
 *   elsewhere is verified against the gateway's copy only if its domain is this clinic's DID (the single-use
 *   challenge still has to be one of this clinic's desk).
 * - Mutual verification: `prove(challenge)` answers a patient wallet's challenge with a presentation of the
 *   accreditation this clinic proved its role with (the wallet checks the clinic before it discloses anything).
 */
import {
  createPresentation,
  decodeJwt,
  ethrIdentityAddress,
  verifyCheckIn,
  type ChallengeStore,
  type ClinicChallenge,
  type CredentialTypeName,
  type CredentialVerifier,
  type PresentationRequest,
} from "@hygeia/identity";
import type { X25519KeyPair } from "@hygeia/crypto";
import { SdkInputError, UnexpectedResponseError } from "../errors.ts";
import { CheckInError, identityCall } from "./errors.ts";
import { sleep } from "../sleep.ts";
import type { RoleIdentity } from "./role.ts";

export type CheckInStatus = "open" | "answered" | "expired";

export interface CheckInRequestedCredential {
  /** A Hygeia credential type (`CredentialType.PatientIdentity`, …). */
  type: CredentialTypeName;
  /** The claims of its subject to be shown; only these come back in the result. */
  claims?: string[];
}

export interface OpenCheckInOptions {
  credentials: CheckInRequestedCredential[];
  /** How long the check-in stays open, 30 to 3600 s (default 600). */
  ttlSeconds?: number;
}

/** What the gateway keeps of a check-in (`GET /v1/checkins/:id`). */
export interface CheckInView {
  id: string;
  /** Where the patient's wallet reads it (a QR code, a link). */
  url: string;
  request: PresentationRequest;
  clinic: { did: string; address: string; accreditation: string };
  status: CheckInStatus;
  /** Unix ms. */
  expiresAt: number;
}

export interface OpenedCheckIn {
  id: string;
  url: string;
  request: PresentationRequest;
  /** Unix ms. */
  expiresAt: number;
}

export interface CheckInCheck {
  name: string;
  pass: boolean;
  reason: string;
  code?: string;
}

/** The verified outcome of a check-in. */
export interface CheckInResult {
  id: string;
  /** True only when every check passed. */
  ok: boolean;
  checks: CheckInCheck[];
  /** Per credential type, only the claims the request named; empty unless `ok`. */
  disclosed: Partial<Record<CredentialTypeName, Record<string, unknown>>>;
  /** Who answered: the presentation's holder (undefined when the answer did not open or verify). */
  patient: { did: string; address: string | undefined } | undefined;
  /** Unix ms. */
  answeredAt: number | null;
}

export interface WaitOptions {
  /** Give up after this long (default: until the check-in expires). */
  timeoutMs?: number;
  /** Poll interval (default 1000 ms). */
  intervalMs?: number;
  signal?: AbortSignal;
  /** Called after each poll (a CLI's spinner, a page's countdown). */
  onTick?: (tick: { status: CheckInStatus; elapsedMs: number; expiresAt: number | undefined }) => void;
  /**
   * Prove the clinic's accreditation to a patient wallet that challenged it through the gateway (default true):
   * the wallet verifies the clinic before it discloses anything, so without it a wallet using the gateway's relay
   * never answers.
   */
  proveToWallet?: boolean;
}

/** A patient wallet's challenge to the clinic, relayed by the gateway (`clinicChallenge` of GET …/result). */
interface RelayedWalletChallenge {
  challenge: string;
  domain: string;
  challengedAt: number;
  provedAt: number | null;
}

interface ResultAnswer {
  id: string;
  status: CheckInStatus;
  answer: unknown;
  completedAt: number | null;
  clinicChallenge?: RelayedWalletChallenge | null;
}

const CHECK_IN_ID = /^[0-9a-f]{32}$/;

export class ClinicCheckIns {
  readonly #identity: RoleIdentity;
  readonly #keyPairs: readonly X25519KeyPair[];
  readonly #desk: CredentialVerifier;
  readonly #challenges: ChallengeStore;
  readonly #accreditation: () => string | undefined;
  readonly #opened = new Map<string, OpenedCheckIn>();
  readonly #results = new Map<string, CheckInResult>();

  /** @internal Made by `ClinicClient`. */
  constructor(parts: {
    identity: RoleIdentity;
    keyPairs: readonly X25519KeyPair[];
    desk: CredentialVerifier;
    challenges: ChallengeStore;
    accreditation: () => string | undefined;
  }) {
    this.#identity = parts.identity;
    this.#keyPairs = parts.keyPairs;
    this.#desk = parts.desk;
    this.#challenges = parts.challenges;
    this.#accreditation = parts.accreditation;
  }

  /** The DID the gateway addresses this clinic's requests from: as its accreditation spells it (else the agent's). */
  #domain(): string {
    const accreditation = this.#accreditation();
    if (accreditation === undefined) return this.#identity.did;
    try {
      const sub = decodeJwt(accreditation).payload.sub;
      return typeof sub === "string" && sub.toLowerCase() === this.#identity.did.toLowerCase()
        ? sub
        : this.#identity.did;
    } catch {
      return this.#identity.did;
    }
  }

  /**
   * Opens a check-in asking the patient to show `credentials` (needs the clinic role: `presentAccreditation`).
   * Give the patient `url` (QR code, link).
   */
  async open(options: OpenCheckInOptions): Promise<OpenedCheckIn> {
    if (!Array.isArray(options?.credentials) || options.credentials.length === 0)
      throw new SdkInputError(
        "credentials",
        "at least one credential to ask for",
        'Ask for e.g. [{ type: "PatientIdentityCredential", claims: ["givenName", "birthDate"] }].',
      );
    const domain = this.#domain();
    const challenge = await identityCall("issuing the check-in challenge", () =>
      this.#challenges.issue(domain, options.ttlSeconds ?? 600),
    );
    const view = await this.#identity.connection.transport.request<CheckInView>("POST", "/v1/checkins", {
      json: {
        credentials: options.credentials.map((c) => ({ type: c.type, ...(c.claims ? { claims: c.claims } : {}) })),
        challenge,
        ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
      },
    });
    if (typeof view?.id !== "string" || view.request?.challenge !== challenge)
      throw new UnexpectedResponseError("POST /v1/checkins", "the answer is not the check-in just opened");
    if (view.request.domain !== domain)
      throw new UnexpectedResponseError(
        "POST /v1/checkins",
        `the gateway addressed the request from ${view.request.domain}, not from this clinic's ${domain}`,
      );
    const opened = { id: view.id, url: view.url, request: view.request, expiresAt: view.expiresAt };
    this.#opened.set(view.id, opened);
    return opened;
  }

  /** Where a check-in stands: open, answered or expired. */
  async status(id: string): Promise<CheckInStatus> {
    return (await this.#fetchAnswer(id)).status;
  }

  /**
   * Resolves once the patient has answered (then call `result`). Throws `CheckInError` CHECK_IN_EXPIRED when the
   * check-in expires unanswered, CHECK_IN_TIMEOUT after `timeoutMs`; an aborted `signal` rejects with its reason.
   */
  async waitForAnswer(
    id: string,
    options: WaitOptions = {},
  ): Promise<{ id: string; status: "answered"; answeredAt: number | null }> {
    const started = Date.now();
    const interval = options.intervalMs ?? 1000;
    const expiresAt = this.#opened.get(id)?.expiresAt;
    for (;;) {
      options.signal?.throwIfAborted();
      const answer = await this.#fetchAnswer(id, options.signal);
      if (answer.status === "open" && options.proveToWallet !== false) await this.#proveRelayed(id, answer);
      const elapsedMs = Date.now() - started;
      options.onTick?.({ status: answer.status, elapsedMs, expiresAt });
      if (answer.status === "answered") return { id, status: "answered", answeredAt: answer.completedAt };
      if (answer.status === "expired") throw expired(id);
      if (options.timeoutMs !== undefined && elapsedMs + interval > options.timeoutMs)
        throw new CheckInError(
          "CHECK_IN_TIMEOUT",
          "not-found",
          id,
          `check-in ${id}: no answer from the patient within ${options.timeoutMs} ms`,
          "The patient has not answered yet: wait longer (it stays open until it expires) or open a new check-in.",
        );
      await sleep(interval, options.signal);
    }
  }

  /**
   * Opens the patient's sealed answer with the clinic's key pair(s) and verifies it: the structured result, with
   * only the requested claims, and every check with its reason. A failed verification is `ok: false`, not an
   * exception; a check-in not answered (yet) is a `CheckInError`.
   */
  async result(id: string): Promise<CheckInResult> {
    const known = this.#results.get(id);
    if (known) return known;
    const answer = await this.#fetchAnswer(id);
    if (answer.answer === null || answer.answer === undefined) {
      if (answer.status === "expired") throw expired(id);
      throw new CheckInError(
        "CHECK_IN_NOT_ANSWERED",
        "conflict",
        id,
        `check-in ${id} has no answer yet`,
        "Wait for the patient's answer (waitForAnswer), then ask for the result.",
      );
    }
    const request = await this.#requestOf(id);
    const verification = await identityCall("verifying the patient's answer", () =>
      verifyCheckIn(this.#desk, answer.answer, { request, keyPairs: [...this.#keyPairs] }),
    );
    const holder = verification.holder;
    const result: CheckInResult = {
      id,
      ok: verification.ok,
      checks: verification.checks.map((c) => ({
        name: c.name,
        pass: c.pass,
        reason: c.reason,
        ...(c.code === undefined ? {} : { code: c.code }),
      })),
      disclosed: verification.ok ? structuredClone(verification.disclosed) : {},
      patient: holder === undefined ? undefined : { did: holder, address: ethrIdentityAddress(holder) },
      answeredAt: answer.completedAt,
    };
    // A verification that failed only because the trust registry or a status list could not be read is not
    // remembered (the challenge was not consumed): asking again re-verifies.
    if (!result.checks.some((c) => c.code === "TRUST_REGISTRY_UNAVAILABLE" || c.code === "STATUS_LIST_UNAVAILABLE"))
      this.#results.set(id, result);
    return result;
  }

  /**
   * The clinic's half of mutual verification: a presentation of its accreditation for a patient wallet's
   * challenge (`challengeClinic` on the wallet's side). Needs the accreditation (`presentAccreditation`).
   */
  async prove(challenge: ClinicChallenge): Promise<string> {
    const accreditation = this.#accreditation();
    if (accreditation === undefined)
      throw new SdkInputError(
        "accreditation",
        "this client has not presented an accreditation",
        "Call presentAccreditation(accreditation) first (or pass accreditation to ClinicClient.connect).",
      );
    if (typeof challenge?.challenge !== "string" || typeof challenge.domain !== "string")
      throw new SdkInputError("challenge", "not a wallet challenge", "Pass the { challenge, domain } the wallet sent.");
    return identityCall("proving the clinic's accreditation", () =>
      createPresentation(this.#identity.agent, {
        holder: this.#identity.did,
        credentials: [accreditation],
        challenge: challenge.challenge,
        domain: challenge.domain,
      }),
    );
  }

  /**
   * Answers a wallet's relayed challenge once (`POST /v1/checkins/:id/clinic-proof`). A challenge the wallet
   * replaced meanwhile (409 CLINIC_CHALLENGE_STALE) is left to the next poll, which sees the new one.
   */
  async #proveRelayed(id: string, answer: ResultAnswer): Promise<void> {
    const pending = answer.clinicChallenge;
    if (!pending || pending.provedAt !== null) return;
    const presentation = await this.prove({ challenge: pending.challenge, domain: pending.domain });
    try {
      await this.#identity.connection.transport.request("POST", `/v1/checkins/${id}/clinic-proof`, {
        json: { challenge: pending.challenge, presentation },
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== "CLINIC_CHALLENGE_STALE") throw error;
    }
  }

  async #fetchAnswer(id: string, signal?: AbortSignal): Promise<ResultAnswer> {
    checkInId(id);
    const answer = await this.#identity.connection.transport.request<ResultAnswer>(
      "GET",
      `/v1/checkins/${id}/result`,
      signal ? { signal } : {},
    );
    if (answer?.status !== "open" && answer?.status !== "answered" && answer?.status !== "expired")
      throw new UnexpectedResponseError(`GET /v1/checkins/${id}/result`, "the answer is not a check-in result");
    return answer;
  }

  async #requestOf(id: string): Promise<PresentationRequest> {
    const opened = this.#opened.get(id);
    if (opened) return opened.request;
    const view = await this.#identity.connection.transport.request<CheckInView>("GET", `/v1/checkins/${id}`);
    if (view?.request?.domain?.toLowerCase() !== this.#identity.did.toLowerCase())
      throw new UnexpectedResponseError(`GET /v1/checkins/${id}`, "the check-in is not addressed from this clinic");
    return view.request;
  }
}

export function checkInId(id: unknown): string {
  if (typeof id !== "string" || !CHECK_IN_ID.test(id))
    throw new SdkInputError("id", "not a check-in id (32 hex characters)", "Give the id open() returned.");
  return id;
}

function expired(id: string): CheckInError {
  return new CheckInError(
    "CHECK_IN_EXPIRED",
    "conflict",
    id,
    `check-in ${id} expired without an answer`,
    "Open a new check-in and give the patient its link.",
  );
}
