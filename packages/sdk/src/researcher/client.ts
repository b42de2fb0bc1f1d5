/**
 * ResearcherClient: a researcher over the gateway and the chain. It proves the `researcher` role with a
 * ResearcherCredential (a JWT VC a medical board issued to the researcher's DID), registers IRB-approved studies on
 * the StudyRegistry and serves them at the gateway, closes them, and pulls their datasets: the de-identified,
 * encrypted contributions of the patients whose research consent is live, verified against the gateway's signed
 * manifest and decrypted here with the study key. Node-only (the identity agent).
 *
 * Rules: the role is proved on the researcher's own session, for a fresh gateway challenge; a refusal is a
 * `RoleRefusedError` with the gateway's failed checks. The study's private key is the caller's to keep: the SDK
 * never stores it. Study rules: studies.ts. What `connect` opened, `close` closes.
 */
import { StudyRegistryClient, TransactionSender, studyApprovalHash, studySalt } from "@hygeia/chain";
import { generateX25519KeyPair, partialDecrypt, proveTallyShare, type X25519KeyPair } from "@hygeia/crypto";
import { isAggregateScope, partialContext, tallyShareContext } from "@hygeia/research";
import { getAddress, hexlify, type Signer } from "ethers";
import {
  RoleClient,
  openRoleIdentity,
  type RoleClientOptions,
  type RoleGranted,
  type RoleIdentity,
} from "../clinic/role.ts";
import { AccessRefusedError, HygeiaSdkError, SdkInputError } from "../errors.ts";
import { currentSession } from "../session.ts";
import { fromChainError, parseExpiry } from "../patient/consent.ts";
import { addressOf } from "../patient/did-key.ts";
import {
  bytesToBase64url,
  getServedStudy,
  listServedStudies,
  parseStudy,
  studyIdArgument,
  studyPublicKey,
  type Study,
} from "../study-view.ts";
import {
  StudyNotServedError,
  approvalClaims,
  openContributions,
  parseAggregateQuery,
  parseAggregateRelease,
  parseDataset,
  researcherTallyShare,
  studyIdOf,
  studyKeysArgument,
  studyRegistryError,
  studyScopes,
  verifiedManifest,
  type AggregateRelease,
  type PullOptions,
  type PulledDataset,
  type RegisterStudyOptions,
} from "./studies.ts";

export type ResearcherClientOptions = RoleClientOptions;

export interface RegisteredStudy {
  studyId: string;
  slug: string;
  /**
   * The study's X25519 key pair. KEEP `keys.secretKey` (a file only you can read, a key vault): every contribution
   * is sealed to this key and nothing else opens it; the SDK keeps no copy.
   */
  keys: X25519KeyPair;
  /** The registration transaction. */
  transaction: string;
  blockNumber: number;
  /** The study as the gateway serves it now. */
  study: Study;
}

export interface ClosedStudy {
  studyId: string;
  transaction: string;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

export class ResearcherClient extends RoleClient {
  /** The gateway's audit verifier key, pinned at the first pull (see studies.ts). */
  /** Verifier keys pinned at pulls, by the signing gateway's log origin (several gateways may answer). */
  readonly #verifierKeys = new Map<string, string>();
  #firstPinned: string | undefined;

  private constructor(identity: RoleIdentity) {
    super(identity, "researcher");
  }

  /** Connects, signs the researcher in (SIWE) and finds (or imports) its DID key in the identity agent. */
  static async connect(options: ResearcherClientOptions): Promise<ResearcherClient> {
    return new ResearcherClient(await openRoleIdentity(options));
  }

  /** The credential the researcher role was proved with, once presented. */
  get credential(): string | undefined {
    return this.roleCredential;
  }

  /** The gateway's audit verifier key this client pinned at its first pull (keep it to pin it next time). */
  get pinnedVerifierKey(): string | undefined {
    return this.#firstPinned;
  }

  /** Every verifier key this client pinned, by log origin (gateways sharing a database each sign with their own). */
  get pinnedVerifierKeys(): Record<string, string> {
    return Object.fromEntries(this.#verifierKeys);
  }

  /**
   * Proves the researcher role on this session with a ResearcherCredential. Refused: `RoleRefusedError`
   * (ROLE_CREDENTIAL_REJECTED with the failed checks, or ROLE_HOLDER_MISMATCH).
   */
  presentCredential(researcherCredential: string): Promise<RoleGranted> {
    return this.presentRole(researcherCredential);
  }

  /**
   * Registers a study on the StudyRegistry (paid by the researcher's address) with a fresh X25519 key pair (or
   * `options.keys`), then serves it at the gateway by presenting its approval. Returns the study id and the KEYS:
   * keep `keys.secretKey`, nothing else opens the contributions. Everything is checked before the transaction; a
   * serve that fails after it is a `StudyNotServedError` carrying the keys.
   */
  async registerStudy(options: RegisterStudyOptions): Promise<RegisteredStudy> {
    if (typeof options !== "object" || options === null)
      throw new SdkInputError("options", "expected { slug, approval, scopes, endsAt, irb?, protocolHash? }");
    const studyId = studyIdOf(this.address, options.slug);
    const scopes = studyScopes(options.scopes);
    const endsAt = parseExpiry(options.endsAt, "endsAt");
    const claims = approvalClaims(options.approval);
    const irb = options.irb === undefined ? claims.issuerAddress : addressOf(options.irb, "irb").toLowerCase();
    if (irb === undefined) throw new SdkInputError("irb", "missing, and the approval's issuer names no address");
    if (claims.issuerAddress !== irb)
      throw new SdkInputError(
        "irb",
        "the approval was not issued by this IRB",
        "Name the IRB that issued the approval.",
      );
    if (claims.subjectAddress !== this.address.toLowerCase())
      throw new SdkInputError(
        "approval",
        `issued to ${claims.subjectAddress ?? "someone else"}, not to this researcher (${this.address})`,
        "Register with the wallet the IRB approved the study for.",
      );
    if (claims.slug !== options.slug)
      throw new SdkInputError(
        "slug",
        `the approval is for study "${claims.slug ?? "(none)"}", not "${options.slug}"`,
        "Use the slug the approval names (its studyId claim).",
      );
    // The gateway serves a study only when its approval names the registered protocol: refused here, before the
    // registration is paid for and its slug used up for good.
    if (claims.protocolHash === undefined)
      throw new SdkInputError(
        "approval",
        "the approval names no protocolHash: the gateway would refuse to serve the study",
        "Ask the IRB for an approval whose protocolHash claim is keccak256 of the protocol document.",
      );
    const protocolHash = (options.protocolHash ?? claims.protocolHash)?.toLowerCase();
    if (protocolHash === undefined || !BYTES32.test(protocolHash) || /^0x0{64}$/.test(protocolHash))
      throw new SdkInputError(
        "protocolHash",
        protocolHash === undefined ? "missing (and the approval names none)" : "expected bytes32 (0x + 64 hex digits)",
        "Give keccak256 of the protocol document.",
      );
    if (claims.protocolHash !== undefined && claims.protocolHash !== protocolHash)
      throw new SdkInputError(
        "protocolHash",
        "differs from the protocol hash the approval names",
        "Register the protocol the IRB approved.",
      );
    const keys = options.keys === undefined ? generateX25519KeyPair() : studyKeysArgument(options.keys);
    await this.#requireRole();

    const registry = this.#registry();
    let outcome;
    try {
      outcome = await registry.register({
        salt: studySalt(options.slug), // checked by studyIdOf above
        protocolHash,
        approvalHash: studyApprovalHash(options.approval),
        irb,
        encryptionKey: hexlify(keys.publicKey),
        endsAt,
        scopes,
      });
    } catch (error) {
      throw this.#chainError(error, "registering the study");
    }
    let study: Study;
    try {
      study = await this.serveStudy(studyId, options.approval, scopes, keys);
    } catch (error) {
      throw new StudyNotServedError(studyId, keys, outcome.hash, error);
    }
    return {
      studyId,
      slug: options.slug,
      keys,
      transaction: outcome.hash,
      blockNumber: outcome.blockNumber,
      study,
    };
  }

  /**
   * Presents a registered study's approval at the gateway (`POST /v1/studies`), so patients can find it and
   * contribute; again after the gateway forgot it, or to replace a stored approval. `scopes` are the ones it was
   * registered with.
   */
  async serveStudy(
    studyId: string,
    approval: string,
    scopes: readonly string[],
    studyKeys?: X25519KeyPair,
  ): Promise<Study> {
    const id = studyIdArgument(studyId);
    const canonical = studyScopes(scopes);
    approvalClaims(approval);
    let tallyShare: { publicKey: string; proof: string } | undefined;
    if (canonical.some(isAggregateScope)) {
      if (studyKeys === undefined)
        throw new SdkInputError(
          "studyKeys",
          "the study counts (aggregate: scopes): its key pair is needed for the researcher's tally key share",
          "Pass the keys registerStudy returned (hygeia: the study key file).",
        );
      const share = researcherTallyShare(studyKeysArgument(studyKeys, "studyKeys"), id);
      tallyShare = {
        publicKey: bytesToBase64url(share.publicKey),
        proof: bytesToBase64url(proveTallyShare(share, tallyShareContext(id))),
      };
    }
    const request = "POST /v1/studies";
    const study = parseStudy(
      await this.connection.transport.request<unknown>("POST", "/v1/studies", {
        json: { studyId: id, approval, scopes: canonical, ...(tallyShare ? { tallyShare } : {}) },
      }),
      request,
    );
    if (study.studyId !== id) throw new SdkInputError("studyId", `the gateway served ${study.studyId} instead`);
    return study;
  }

  /** This researcher's studies the gateway serves now. */
  async studies(): Promise<Study[]> {
    const self = this.address;
    return (await listServedStudies(this.connection.transport)).filter((s) => s.researcher === self);
  }

  /** One study as the gateway serves it. */
  study(studyId: string): Promise<Study> {
    return getServedStudy(this.connection.transport, studyIdArgument(studyId));
  }

  /**
   * Closes a study on the StudyRegistry for good (the researcher pays the gas): every gateway stops serving it,
   * patients can no longer contribute, and no pull is served any more.
   */
  async closeStudy(studyId: string): Promise<ClosedStudy> {
    const id = studyIdArgument(studyId);
    try {
      const outcome = await this.#registry().close(id);
      return { studyId: id, transaction: outcome.hash };
    } catch (error) {
      throw this.#chainError(error, "closing the study");
    }
  }

  /**
   * Pulls the study's dataset: the contributions whose research consent is live now, verified against the
   * gateway's signed manifest (`PullIntegrityError` when they differ: nothing is returned), each fetched, unwrapped
   * with `studyKeys` and decrypted here. See studies.ts for the rules.
   */
  async pullDataset(studyId: string, studyKeys: X25519KeyPair, options: PullOptions = {}): Promise<PulledDataset> {
    const id = studyIdArgument(studyId);
    const keys = studyKeysArgument(studyKeys, "studyKeys");
    if (typeof options !== "object" || options === null) throw new SdkInputError("options", "expected an object");
    if (options.verifierKey !== undefined && typeof options.verifierKey !== "string")
      throw new SdkInputError("verifierKey", "expected the gateway's C2SP verifier key");
    if (
      options.verifierKeys !== undefined &&
      (typeof options.verifierKeys !== "object" ||
        options.verifierKeys === null ||
        Object.values(options.verifierKeys).some((key) => typeof key !== "string"))
    )
      throw new SdkInputError("verifierKeys", "expected { [log origin]: C2SP verifier key }");
    const { transport } = this.connection;
    const study = await getServedStudy(transport, id);
    if (hexlify(studyPublicKey(study)) !== hexlify(keys.publicKey))
      throw new SdkInputError(
        "studyKeys",
        "not this study's key pair (its public key is not the study's encryption key)",
        "Pass the keys registerStudy returned for this study (hygeia: its study key file).",
      );
    const answer = parseDataset(
      await transport.request<unknown>("POST", `/v1/studies/${id}/dataset`, {
        json: {},
        ...(options.signal ? { signal: options.signal } : {}),
      }),
      id,
    );
    // Pinned per signer: a key names its log's origin (C2SP: `<origin>+<key id>+<key>`), and behind a load balancer
    // each gateway signs with its own key.
    const origin = verifierKeyName(answer.verifierKey);
    const given = options.verifierKey !== undefined && verifierKeyName(options.verifierKey) === origin;
    const pinned =
      options.verifierKeys?.[origin] ??
      (given ? options.verifierKey : undefined) ??
      this.#verifierKeys.get(origin) ??
      answer.verifierKey;
    const manifest = verifiedManifest(answer, this.address.toLowerCase(), pinned);
    if (!this.#verifierKeys.has(origin)) this.#verifierKeys.set(origin, pinned);
    this.#firstPinned ??= pinned;
    const { extracts, unreadable } = await openContributions(transport, id, keys, answer.contributions, options);
    return { studyId: id, manifest, excluded: answer.excluded, extracts, unreadable };
  }

  /**
   * Counts the study's consenting contributors per category of one of its aggregate dimensions. The gateway sums
   * their encrypted facts; this client decrypts its share of each sum (with proofs), and the gateway answers only
   * what small-cell suppression releases: `cells[category]` is null where withheld, `total` null when it moved by
   * less than k since an earlier release. No one, this client included, sees a withheld count.
   */
  async aggregate(studyId: string, studyKeys: X25519KeyPair, dimension: string): Promise<AggregateRelease> {
    const id = studyIdArgument(studyId);
    const keys = studyKeysArgument(studyKeys, "studyKeys");
    if (typeof dimension !== "string" || !/^[a-z0-9-]{1,32}$/.test(dimension))
      throw new SdkInputError("dimension", "expected one of the study's aggregate dimensions ([a-z0-9-])");
    const { transport } = this.connection;
    const share = researcherTallyShare(keys, id);
    const opened = await transport.request<unknown>("POST", `/v1/studies/${id}/aggregates`, { json: { dimension } });
    const query = parseAggregateQuery(opened, `POST /v1/studies/${id}/aggregates`);
    const partials = query.sums.map((sum, j) => {
      const { partial, proof } = partialDecrypt(share, sum, partialContext(query.queryId, j));
      return { partial: bytesToBase64url(partial), proof: bytesToBase64url(proof) };
    });
    const request = `POST /v1/studies/${id}/aggregates/${query.queryId}`;
    return parseAggregateRelease(
      await transport.request<unknown>("POST", `/v1/studies/${id}/aggregates/${query.queryId}`, { json: { partials } }),
      request,
      query.categories,
    );
  }

  /** Refuses before paying gas when the session does not hold the researcher role (the gateway would not serve). */
  async #requireRole(): Promise<void> {
    const session = await currentSession(this.connection.transport);
    if (!session.roles.includes("researcher"))
      throw new AccessRefusedError(
        "ROLE_REQUIRED",
        "this session does not hold the researcher role, so the gateway would not serve the study",
        "Present your ResearcherCredential first (presentCredential / hygeia study credential --import); nothing was sent.",
      );
  }

  #registry(): StudyRegistryClient {
    const { deployment, provider } = this.connection;
    const address = deployment.contracts.StudyRegistry;
    if (address === undefined)
      throw new HygeiaSdkError("STUDY_REGISTRY_NOT_DEPLOYED", "unavailable", "this deployment has no StudyRegistry", {
        hint: "Connect to a deployment with a StudyRegistry (npm start upgrades its own).",
      });
    const signer = this.identity.signer as Partial<Signer> & { connect?: (provider: unknown) => Signer };
    let sender: Signer;
    if (typeof signer.sendTransaction === "function" && signer.provider) sender = signer as Signer;
    else if (typeof signer.connect === "function") sender = signer.connect(provider);
    else
      throw new HygeiaSdkError(
        "SIGNER_CANNOT_SEND",
        "usage",
        "this wallet can sign messages but not send transactions, which the StudyRegistry needs",
        { hint: "Connect a wallet that can send transactions (an ethers Signer with a provider)." },
      );
    return new StudyRegistryClient(address, new TransactionSender(sender), {
      fromBlock: deployment.deployedAt.block,
    });
  }

  #chainError(error: unknown, action: string): unknown {
    const mapped = studyRegistryError(error, action);
    if (mapped !== error) return mapped;
    const sdk = fromChainError(error, this.connection.rpcUrl);
    if (sdk instanceof HygeiaSdkError && sdk.code === "INSUFFICIENT_FUNDS")
      return new HygeiaSdkError("INSUFFICIENT_FUNDS", "refused", `${action}: ${sdk.message}`, {
        hint: `Fund the researcher's address ${getAddress(this.address)} with ETH for gas; nothing was sent.`,
        cause: error,
      });
    return sdk;
  }
}

/** The key name (the log's origin) of a C2SP verifier key `<name>+<key id>+<key>`. */
function verifierKeyName(verifierKey: string): string {
  const end = verifierKey.indexOf("+");
  return end === -1 ? verifierKey : verifierKey.slice(0, end);
}
