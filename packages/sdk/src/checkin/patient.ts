/**
 * The patient's side of a check-in: read the clinic's request, verify the clinic, answer it sealed.
 *
 * Rules, in the order they are enforced:
 * 1. The wallet verifies the clinic BEFORE disclosing anything: the clinic proves its accreditation for the
 *    wallet's own fresh challenge (`challengeClinic` / `verifyClinic` of @hygeia/identity: issued by a medical board
 *    accredited now, not revoked, expiring, and the clinic itself accredited as `clinic` on the TrustRegistry
 *    now). The clinic that proved itself must be the clinic that opened the check-in (the request's domain).
 * 2. Only what is asked is shown: an SD-JWT discloses exactly the claims the request names for its type (unless
 *    the caller names fewer); a credential of a type the request does not ask for is refused, never sent.
 * 3. The answer is sealed to the verified clinic's current X25519 key read from its DID document on chain
 *    (`answerVerifiedClinic`), bound to the request's challenge: the gateway relaying it reads nothing.
 *
 * Platforms: in Node the wallet can be an IdentityAgent holding the patient's key (`{ agent, did }`); anywhere,
 * a browser included, it is a HolderKey and the chain (`keyCheckInWallet(connection, holder)`). This module
 * imports @hygeia/identity's browser entry only, and bundles for browsers (packages/sdk/test/browser-bundle.test.ts).
 */
import {
  CachedDidResolver,
  MemoryChallengeStore,
  answerClinic,
  answerVerifiedClinic,
  assertHolderKey,
  challengeClinic,
  createAgentVerifier,
  createChainVerifier,
  decodeJwt,
  ethrDidPrefix,
  verifyClinic,
  type ClinicChallenge,
  type ClinicVerification,
  type CredentialTypeName,
  type CredentialVerifier,
  type DidDocumentSource,
  type EthrNetwork,
  type HolderKey,
  type PresentationRequest,
  type SealedCheckIn,
  type StatusListFetcher,
} from "@hygeia/identity/browser";
import type { IdentityAgent } from "@hygeia/identity";
import { isAddress, type ContractRunner } from "ethers";
import type { HygeiaConnection } from "../connection.ts";
import { SdkInputError, UnexpectedResponseError } from "../errors.ts";
import type { GatewayTransport } from "../transport.ts";
import { sleep } from "../sleep.ts";
import type { CheckInStatus } from "../clinic/checkins.ts";
import { CheckInError, ClinicNotVerifiedError, identityCall } from "../clinic/errors.ts";
import { defaultStatusListFetcher, httpHostsOf } from "../clinic/status-lists.ts";

/** A check-in as the patient's wallet reads it. */
export interface PatientCheckIn {
  id: string;
  url: string;
  /** What the clinic asks for: its challenge, its DID (domain) and the credentials and claims. */
  request: PresentationRequest;
  /** The clinic as the gateway says it is (verify it with `verifyCheckInClinic` before trusting any of it). */
  clinic: {
    did: string;
    address: string;
    accreditation: string;
    /** Read from the accreditation WITHOUT verifying it: for display while verifying, never for a decision. */
    claimed: { clinicName?: string; accreditationNumber?: string; virtual?: boolean; issuer?: string };
  };
  status: CheckInStatus;
  /** Unix ms. */
  expiresAt: number;
}

/** The clinic's half of mutual verification: its accreditation's presentation for the wallet's challenge. */
export type ClinicProver = (challenge: ClinicChallenge, checkIn: PatientCheckIn) => Promise<string>;

/** What every check-in wallet says about verifying clinics. */
interface CheckInWalletOptions {
  /** The deployment's TrustRegistry (`connection.deployment.contracts.TrustRegistry`). */
  trustRegistry: string;
  /** How the accreditation's status list is fetched (default: fetch, no redirects). */
  statusListFetcher?: StatusListFetcher;
  /** Hosts whose status lists may be fetched over plain http (default: the check-in's gateway host if http). */
  statusListHttpHosts?: string[];
}

/** Node: an IdentityAgent holds the patient's did:ethr key. */
export interface AgentCheckInWallet extends CheckInWalletOptions {
  agent: IdentityAgent;
  /** The patient's did:ethr, held by `agent`. */
  did: string;
}

/** Any platform (a browser wallet): the patient's HolderKey, and the chain to read DIDs and trust from. */
export interface KeyCheckInWallet extends CheckInWalletOptions {
  /** The patient's did:ethr and its signing key (privateKeyHolderKey, or a wallet's own HolderKey). */
  holder: HolderKey;
  /** Resolves DID documents on the deployment's chain (CachedDidResolver.create). */
  resolver: DidDocumentSource;
  /** The deployment's chain (the TrustRegistry is read through it). */
  provider: ContractRunner;
  /** The did:ethr network of the deployment (chain id, registry). */
  network: EthrNetwork;
}

/** The patient's identity for check-ins. */
export type CheckInWallet = AgentCheckInWallet | KeyCheckInWallet;

/**
 * A KeyCheckInWallet over a connection: DIDs resolved and trust read on the connection's chain, for the contracts
 * of its deployment, and the patient presenting as `holder`.
 */
export async function keyCheckInWallet(
  connection: HygeiaConnection,
  holder: HolderKey,
  options: Pick<CheckInWalletOptions, "statusListFetcher" | "statusListHttpHosts"> = {},
): Promise<KeyCheckInWallet> {
  const deployment = connection?.deployment;
  if (
    typeof connection !== "object" ||
    connection === null ||
    !Number.isSafeInteger(deployment?.chainId) ||
    !isAddress(deployment?.contracts?.TrustRegistry) ||
    !isAddress(deployment?.contracts?.EthereumDIDRegistry) ||
    typeof connection.rpcUrl !== "string" ||
    typeof connection.provider !== "object" ||
    connection.provider === null
  )
    throw new SdkInputError("connection", "not a HygeiaConnection", "Pass what HygeiaConnection.open returned.");
  try {
    assertHolderKey(holder);
  } catch {
    throw new SdkInputError(
      "holder",
      "not a HolderKey",
      "Pass the patient's HolderKey (privateKeyHolderKey(privateKey, did), or the wallet's own).",
    );
  }
  const network: EthrNetwork = {
    chainId: deployment.chainId,
    rpcUrl: connection.rpcUrl,
    registry: deployment.contracts.EthereumDIDRegistry,
  };
  // A DID of another chain would be verified by nobody here: refuse it before anything is disclosed.
  const prefix = `${ethrDidPrefix(network)}:`.toLowerCase();
  if (!holder.did.toLowerCase().startsWith(prefix))
    throw new SdkInputError(
      "holder",
      `${holder.did.slice(0, 80)} is not a DID of this deployment's chain (${prefix}…)`,
      "Present with the patient's did:ethr on the chain the gateway uses.",
    );
  const resolver = await identityCall("preparing the DID resolver", () =>
    CachedDidResolver.create({ network, provider: connection.provider }),
  );
  return {
    holder,
    resolver,
    provider: connection.provider,
    network,
    trustRegistry: deployment.contracts.TrustRegistry,
    ...(options?.statusListFetcher === undefined ? {} : { statusListFetcher: options.statusListFetcher }),
    ...(options?.statusListHttpHosts === undefined ? {} : { statusListHttpHosts: options.statusListHttpHosts }),
  };
}

/** A credential to show: a JWT VC (shown whole) or an SD-JWT VC (by default, only the claims asked for). */
export type CheckInCredential = { jwt: string } | { sdJwt: string; disclose?: string[] };

const CHECK_IN_PATH = /^\/v1\/checkins\/([0-9a-f]{32})$/;

/**
 * Reads a check-in from the link or QR code the clinic gave (or its id). The link must point at the gateway the
 * transport talks to. Nothing is verified yet.
 */
export async function readCheckIn(transport: GatewayTransport, urlOrId: string): Promise<PatientCheckIn> {
  const id = checkInIdOf(transport, urlOrId);
  const view = await transport.request<
    Omit<PatientCheckIn, "clinic"> & { clinic: Omit<PatientCheckIn["clinic"], "claimed"> }
  >("GET", `/v1/checkins/${id}`, { auth: false });
  if (
    view?.id !== id ||
    typeof view.request?.domain !== "string" ||
    typeof view.request.challenge !== "string" ||
    !Array.isArray(view.request.credentials) ||
    typeof view.clinic?.accreditation !== "string"
  )
    throw new UnexpectedResponseError(`GET /v1/checkins/${id}`, "the answer is not a check-in");
  return { ...view, clinic: { ...view.clinic, claimed: claimedOf(view.clinic.accreditation) } };
}

/**
 * Verifies the clinic before anything is disclosed: challenges it (`prove` carries the challenge to the clinic and
 * its presentation back), verifies the presentation and the clinic's standing, and checks that it is the clinic
 * that opened the check-in. Refused: `ClinicNotVerifiedError` (CLINIC_NOT_TRUSTED) with the failed checks.
 */
export async function verifyCheckInClinic(params: {
  wallet: CheckInWallet;
  checkIn: PatientCheckIn;
  /** How the challenge reaches the clinic and its proof comes back (default: the gateway's relay, `transport`). */
  prove?: ClinicProver;
  /** The patient's signed-in transport: the relay posts the challenge and polls for the proof with it. */
  transport?: GatewayTransport;
  /** Waiting for a relayed proof: give up after `timeoutMs` (default: when the check-in expires), poll interval. */
  relay?: RelayOptions;
}): Promise<ClinicVerification> {
  const { wallet, checkIn, transport } = params ?? {};
  assertWallet(wallet);
  assertOpen(checkIn);
  let prove = params?.prove;
  const relayed = prove === undefined;
  if (prove === undefined) {
    if (transport === undefined)
      throw new SdkInputError(
        "transport",
        "missing",
        "Pass the patient's signed-in transport (the gateway relays the clinic's proof), or a prove callback.",
      );
    prove = gatewayProver(transport, params.relay);
  } else if (typeof prove !== "function")
    throw new SdkInputError(
      "prove",
      "not a function",
      "Pass how the clinic answers the wallet's challenge (ClinicProver).",
    );
  const challenges = new MemoryChallengeStore();
  const verifier = await identityCall("preparing the clinic's verification", async () =>
    clinicVerifier(wallet, checkIn, challenges),
  );
  const challenge = await identityCall("challenging the clinic", () => challengeClinic(challenges, didOf(wallet)));
  let proof: string;
  try {
    proof = await prove(challenge, checkIn);
  } catch (error) {
    // The relay's own failures (gateway unreachable, check-in closed, no proof in time) say what they are.
    if (relayed) throw error;
    throw new ClinicNotVerifiedError(
      checkIn.request.domain,
      [{ name: "format", reason: "the clinic did not answer the wallet's challenge" }],
      { cause: error },
    );
  }
  const verification = await identityCall("verifying the clinic", () => verifyClinic(verifier, proof, challenge));
  if (!verification.ok || !verification.clinic)
    throw new ClinicNotVerifiedError(
      checkIn.request.domain,
      verification.checks
        .filter((c) => !c.pass)
        .map((c) => ({ name: c.name, reason: c.reason, ...(c.code === undefined ? {} : { code: c.code }) })),
    );
  if (verification.clinic.did !== checkIn.request.domain || verification.clinic.did !== checkIn.clinic.did)
    throw new ClinicNotVerifiedError(checkIn.request.domain, [
      {
        name: "domain",
        reason: `the clinic that proved itself (${verification.clinic.did}) is not the clinic that opened this check-in`,
      },
    ]);
  return verification;
}

export interface RelayOptions {
  /** Give up waiting for the clinic's proof after this long (default: until the check-in expires). */
  timeoutMs?: number;
  /** Poll interval (default 500 ms). */
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * The gateway's relay as a `ClinicProver`: posts the wallet's challenge (`POST /v1/checkins/:id/clinic-challenge`,
 * which binds the check-in to this patient) and polls `GET …/clinic-proof` until the clinic has proved itself (its
 * `checkIns.waitForAnswer` does so while it waits). The proof is verified by `verifyCheckInClinic`, not trusted.
 * No proof in time: `CheckInError` CLINIC_PROOF_TIMEOUT.
 */
export function gatewayProver(transport: GatewayTransport, options: RelayOptions = {}): ClinicProver {
  return async (challenge, checkIn) => {
    const path = `/v1/checkins/${checkIn.id}`;
    await transport.request("POST", `${path}/clinic-challenge`, {
      json: { challenge: challenge.challenge, domain: challenge.domain },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const deadline = Math.min(
      checkIn.expiresAt,
      options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs,
    );
    const interval = options.intervalMs ?? 500;
    for (;;) {
      options.signal?.throwIfAborted();
      const proof = await transport.request<{ status?: unknown; challenge?: unknown; presentation?: unknown }>(
        "GET",
        `${path}/clinic-proof`,
        options.signal ? { signal: options.signal } : {},
      );
      if (proof?.status === "proved") {
        if (proof.challenge !== challenge.challenge || typeof proof.presentation !== "string")
          throw new UnexpectedResponseError(`GET ${path}/clinic-proof`, "the proof is not for this wallet's challenge");
        return proof.presentation;
      }
      if (proof?.status !== "awaiting-proof")
        throw new UnexpectedResponseError(`GET ${path}/clinic-proof`, "the answer is not a clinic proof");
      if (Date.now() + interval > deadline)
        throw new CheckInError(
          "CLINIC_PROOF_TIMEOUT",
          "not-found",
          checkIn.id,
          `check-in ${checkIn.id}: the clinic did not prove its accreditation in time`,
          "The clinic's desk must be waiting for the answer (it proves itself while it waits): ask it, then try again.",
        );
      await sleep(interval, options.signal);
    }
  };
}

/**
 * Answers a verified clinic's check-in: shows only what it asked for, sealed to the clinic's key, and posts it
 * (`POST /v1/checkins/:id/response`; the transport must be signed in as the patient). Returns what was shown.
 */
export async function answerCheckIn(params: {
  transport: GatewayTransport;
  wallet: CheckInWallet;
  checkIn: PatientCheckIn;
  /** The result of `verifyCheckInClinic`. */
  clinic: ClinicVerification;
  credentials: CheckInCredential[];
}): Promise<{ id: string; status: "answered"; answeredAt: number; shown: { type: string; claims: string[] }[] }> {
  const { transport, wallet, checkIn, clinic, credentials } = params ?? {};
  assertWallet(wallet);
  assertOpen(checkIn);
  if (!clinic?.ok || !clinic.clinic)
    throw new ClinicNotVerifiedError(checkIn.request.domain, [
      { name: "format", reason: "the clinic was not verified (verifyCheckInClinic first)" },
    ]);
  if (!Array.isArray(credentials) || credentials.length === 0)
    throw new SdkInputError("credentials", "nothing to show", "Pass the credentials the clinic asks for.");
  const shown = credentials.map((credential, index) => selectDisclosure(checkIn.request, credential, index));
  let answer: SealedCheckIn;
  try {
    const answerParams = {
      clinic,
      request: checkIn.request,
      credentials: shown.map((s) => s.credential),
    };
    answer = await identityCall("answering the check-in", () =>
      "agent" in wallet
        ? answerVerifiedClinic(wallet.agent, { patient: wallet.did, ...answerParams })
        : answerClinic({ holder: wallet.holder, resolver: wallet.resolver, ...answerParams }),
    );
  } catch (error) {
    if ((error as { code?: unknown }).code === "CLINIC_NOT_TRUSTED")
      throw new ClinicNotVerifiedError(checkIn.request.domain, [], { cause: error });
    throw error;
  }
  const posted = await transport.request<{ id: string; status: "answered"; completedAt: number }>(
    "POST",
    `/v1/checkins/${checkIn.id}/response`,
    { json: { answer } },
  );
  return {
    id: posted.id,
    status: "answered",
    answeredAt: posted.completedAt,
    shown: shown.map((s) => ({ type: s.type, claims: s.claims })),
  };
}

/** What one credential shows: the request's claims for its type (SD-JWT), or the whole credential (JWT VC). */
function selectDisclosure(
  request: PresentationRequest,
  credential: CheckInCredential,
  index: number,
): {
  type: CredentialTypeName;
  claims: string[];
  credential: { jwt: string } | { sdJwt: string; disclose: string[] };
} {
  const field = `credentials[${index}]`;
  if (typeof credential !== "object" || credential === null)
    throw new SdkInputError(field, "expected { jwt } or { sdJwt, disclose? }");
  if ("jwt" in credential) {
    const type = jwtVcType(credential.jwt, field);
    const asked = request.credentials.find((c) => c.type === type);
    if (!asked) throw notAsked(field, type);
    return { type, claims: ["(the whole credential)"], credential: { jwt: credential.jwt } };
  }
  const type = sdJwtType(credential.sdJwt, field);
  const asked = request.credentials.find((c) => c.type === type);
  if (!asked) throw notAsked(field, type);
  const askedClaims = [...(asked.claims ?? [])];
  let disclose: string[];
  if (credential.disclose === undefined) {
    if (askedClaims.length === 0)
      throw new SdkInputError(
        `${field}.disclose`,
        `the clinic asks for a ${type} without naming claims`,
        "Name the claims you agree to show (disclose: [...]); nothing is shown by default.",
      );
    disclose = askedClaims;
  } else {
    disclose = [...credential.disclose];
    const extra = askedClaims.length === 0 ? [] : disclose.filter((c) => !askedClaims.includes(c));
    if (extra.length > 0)
      throw new SdkInputError(
        `${field}.disclose`,
        `the clinic did not ask for ${extra.join(", ")}`,
        "Show only the claims the clinic asks for.",
      );
  }
  return { type, claims: disclose, credential: { sdJwt: credential.sdJwt, disclose } };
}

function notAsked(field: string, type: string): SdkInputError {
  return new SdkInputError(field, `the clinic does not ask for a ${type}`, "Show only the credentials it asks for.");
}

function sdJwtType(sdJwt: unknown, field: string): CredentialTypeName {
  if (typeof sdJwt !== "string" || !sdJwt.includes("~"))
    throw new SdkInputError(`${field}.sdJwt`, "not an SD-JWT VC", "Pass the SD-JWT as its issuer gave it.");
  let vct: unknown;
  try {
    vct = decodeJwt(sdJwt.split("~")[0]).payload.vct;
  } catch {
    throw new SdkInputError(`${field}.sdJwt`, "not an SD-JWT VC", "Pass the SD-JWT as its issuer gave it.");
  }
  if (typeof vct !== "string") throw new SdkInputError(`${field}.sdJwt`, "the SD-JWT names no type (vct)");
  return vct as CredentialTypeName;
}

function jwtVcType(jwt: unknown, field: string): CredentialTypeName {
  let types: unknown;
  try {
    types = (decodeJwt(jwt).payload.vc as { type?: unknown } | undefined)?.type;
  } catch {
    throw new SdkInputError(`${field}.jwt`, "not a JWT VC", "Pass the credential as its issuer gave it.");
  }
  const type = Array.isArray(types) ? types.find((t) => t !== "VerifiableCredential") : undefined;
  if (typeof type !== "string") throw new SdkInputError(`${field}.jwt`, "the credential names no type");
  return type as CredentialTypeName;
}

function checkInIdOf(transport: GatewayTransport, urlOrId: string): string {
  if (typeof urlOrId !== "string")
    throw new SdkInputError("checkIn", "missing", "Give the check-in's link or id (the clinic's QR code).");
  if (/^[0-9a-f]{32}$/.test(urlOrId)) return urlOrId;
  let url: URL;
  try {
    url = new URL(urlOrId);
  } catch {
    throw new SdkInputError(
      "checkIn",
      "neither a check-in link nor an id",
      "Give the link the clinic's QR code holds.",
    );
  }
  const gateway = new URL(transport.url);
  const match = CHECK_IN_PATH.exec(url.pathname.slice(gateway.pathname.replace(/\/$/, "").length));
  if (url.origin !== gateway.origin || !match)
    throw new SdkInputError(
      "checkIn",
      `the link is not a check-in of the gateway at ${transport.url}`,
      "Connect to the gateway the link names (--gateway), or ask the clinic for a link of yours.",
    );
  return match[1]!;
}

function claimedOf(accreditation: string): PatientCheckIn["clinic"]["claimed"] {
  try {
    const payload = decodeJwt(accreditation).payload;
    const subject = ((payload.vc as { credentialSubject?: unknown } | undefined)?.credentialSubject ?? {}) as Record<
      string,
      unknown
    >;
    return {
      ...(typeof subject.clinicName === "string" ? { clinicName: subject.clinicName } : {}),
      ...(typeof subject.accreditationNumber === "string" ? { accreditationNumber: subject.accreditationNumber } : {}),
      ...(typeof subject.virtual === "boolean" ? { virtual: subject.virtual } : {}),
      ...(typeof payload.iss === "string" ? { issuer: payload.iss } : {}),
    };
  } catch {
    return {};
  }
}

function assertWallet(wallet: CheckInWallet | undefined): asserts wallet is CheckInWallet {
  const given = wallet as Partial<AgentCheckInWallet & KeyCheckInWallet> | undefined;
  const agentWallet = typeof given?.did === "string" && typeof given.agent === "object" && given.agent !== null;
  const keyWallet =
    typeof given?.holder?.did === "string" && typeof given.resolver === "object" && typeof given.network === "object";
  if (typeof given !== "object" || given === null || (!agentWallet && !keyWallet))
    throw new SdkInputError(
      "wallet",
      "expected { agent, did, trustRegistry } or { holder, resolver, provider, network, trustRegistry }",
      "Pass the patient's identity agent and did:ethr (Node), or keyCheckInWallet(connection, holder).",
    );
}

/** The patient's DID in either kind of wallet. */
function didOf(wallet: CheckInWallet): string {
  return "agent" in wallet ? wallet.did : wallet.holder.did;
}

/** The verifier of the clinic's proof: the wallet's chain, this check-in's challenges. */
function clinicVerifier(
  wallet: CheckInWallet,
  checkIn: PatientCheckIn,
  challenges: MemoryChallengeStore,
): CredentialVerifier {
  const options = {
    trustRegistry: wallet.trustRegistry,
    challenges,
    statusListFetcher: wallet.statusListFetcher ?? defaultStatusListFetcher,
    statusListHttpHosts: wallet.statusListHttpHosts ?? httpHostsOf(checkIn.url),
  };
  return "agent" in wallet
    ? createAgentVerifier(wallet.agent, options)
    : createChainVerifier({
        ...options,
        resolver: wallet.resolver,
        provider: wallet.provider,
        network: wallet.network,
      });
}

function assertOpen(checkIn: PatientCheckIn | undefined): asserts checkIn is PatientCheckIn {
  if (typeof checkIn?.id !== "string" || typeof checkIn.request?.domain !== "string")
    throw new SdkInputError("checkIn", "not a check-in", "Pass what readCheckIn returned.");
  if (checkIn.status !== "open" || checkIn.expiresAt <= Date.now())
    throw new CheckInError(
      "CHECK_IN_CLOSED",
      "conflict",
      checkIn.id,
      `check-in ${checkIn.id} is ${checkIn.status === "open" ? "expired" : checkIn.status}`,
      "Ask the clinic for a new check-in.",
    );
}
