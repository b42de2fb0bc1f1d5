/**
 * The patient's research studies: find them, check them, opt in with a de-identified extract, opt out.
 *
 * Safety rules, in the order `optIn` enforces them:
 * 1. Nothing is shared with a study the wallet has not checked itself. The gateway's word is checked against the
 *    chain (the StudyRegistry registration: the study's X25519 key, researcher, IRB, requested scopes and
 *    approval hash; the study open now), and the wallet verifies the EthicsApprovalCredential itself (signature,
 *    expiry, status list, issuer trusted as IRB on the TrustRegistry) and that it approves THIS study (issued by
 *    the registered IRB to the registered researcher, its slug giving the study id, its protocol hash the
 *    registered one). A gateway that swapped the study key to read the extract is caught here.
 * 2. Only what the study asked for, only de-identified: `deidentify` of @hygeia/research (HIPAA Safe Harbor) keeps
 *    the FHIR types the study's `fhir:<Type>` scopes name (or fewer, if the patient says so; never more), with the
 *    patient's ids replaced by pseudonyms under a key of this study only (`keys.studyPseudonymKey`). The report
 *    says what is shared and what is not; an extract with nothing in it is refused before anything is sent.
 * 3. Encrypted here under a fresh DEK, the DEK sealed to the study's key (bound to the study and the CID:
 *    `contributionWrapContext`). The gateway receives ciphertext, the wrap and the keyed `study:<id>` scope id.
 * 4. Consent is the grant on chain (purpose Research, the keyed `study:<id>` scope, the study's researcher), made
 *    through the client's consent code (one signature, relayed: the patient pays nothing). Until it is mined the
 *    contribution is simply not pulled; a grant that fails withdraws the contribution again.
 * 5. Opting out does both halves, each attempted even if the other fails: the grant is revoked on chain (what every
 *    gateway checks) and the contribution deleted here. A failure says which half failed (`StudyOptOutError`).
 *    What the researcher already pulled cannot be un-seen.
 *
 * Browser-safe: @hygeia/chain/browser, @hygeia/identity/browser, @hygeia/research and @hygeia/crypto only.
 */
import {
  StudyRegistryClient,
  scopeHash,
  studyApprovalHash,
  studyIdFor,
  studySalt,
  type StudyDetails,
} from "@hygeia/chain/browser";
import { encryptFacts, encryptToBuffer, generateDataKey, wipe, wrapKey } from "@hygeia/crypto";
import {
  CachedDidResolver,
  CredentialType,
  createChainVerifier,
  ethrDidPrefix,
  ethrIdentityAddress,
  type EthrNetwork,
} from "@hygeia/identity/browser";
import {
  AggregateInputError,
  DeidentifyInputError,
  SUPPORTED_RESOURCE_TYPES,
  contributionWrapContext,
  deidentify,
  deriveFacts,
  factsContext,
  type DeidentifyReport,
} from "@hygeia/research";
import { getAddress, hexlify } from "ethers";
import { HygeiaSdkError, SdkInputError, UnexpectedResponseError, type ErrorKind } from "../errors.ts";
import type { ProgressCallback } from "../progress.ts";
import {
  base64urlToBytes,
  bytesToBase64url,
  getServedStudy,
  listServedStudies,
  parseContribution,
  studyIdArgument,
  studyPublicKey,
  type Study,
  type StudyContribution,
} from "../study-view.ts";
import type { FailedCheck } from "../clinic/errors.ts";
import { defaultStatusListFetcher, httpHostsOf } from "../clinic/status-lists.ts";
import type { PatientContext, RecordSharing } from "./context.ts";
import {
  ConsentNotIndexedError,
  PatientConsent,
  chainCall,
  parseExpiry,
  type ConsentExpiry,
  type ConsentMode,
} from "./consent.ts";

export interface OptInOptions {
  /**
   * The day ages are counted at (`YYYY-MM-DD` or a Date). Default: the later of today and the study's end, as
   * @hygeia/research advises (a patient who turns 90 during the study is "90 or more" in every extract of it).
   */
  asOf?: string | Date;
  /** FHIR types to share: a subset of what the study asks for (its `fhir:<Type>` scopes, the default). */
  resourceTypes?: readonly string[];
  /** When the research consent ends (as `consent.grant`'s `expires`). Default: the study's end. */
  expires?: ConsentExpiry;
  /** `relay` (default: the gateway sends the grant, the patient pays nothing) or `direct`. */
  mode?: ConsentMode;
  /**
   * For a study that counts (aggregate dimensions): the patient's category of each dimension the wallet cannot
   * derive from the records itself (it derives `sex` and `age`), by dimension name.
   */
  facts?: Readonly<Record<string, string>>;
  /** Upload progress of the encrypted extract. */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** What the wallet checked about a study before sharing anything with it. */
export interface StudyVerification {
  studyId: string;
  researcher: string;
  irb: string;
  /** The approval as the wallet verified it. */
  approval: {
    /** The IRB's DID. */
    issuer: string;
    /** The study slug the approval names. */
    slug: string;
    protocolTitle: string;
    approvalNumber: string;
    protocolHash: string;
  };
  /** Every check that passed: chain registration, approval signature, status, trust, binding. */
  checks: string[];
}

/** What `optIn` would share (`preview`): nothing is sent to make it. */
export interface OptInPreview {
  studyId: string;
  title: string;
  researcher: string;
  resourceTypes: string[];
  asOf: string;
  /** What would be shared and what not (names, never content). */
  report: DeidentifyReport;
  /** Resources the extract would hold. */
  shared: number;
  /** The category counted per aggregate dimension (sent encrypted: no one reads it alone); {} when none. */
  counted: Record<string, string>;
  verification: StudyVerification;
}

export interface OptInResult {
  studyId: string;
  title: string;
  /** The grantee of the research consent (EIP-55). */
  researcher: string;
  /** The encrypted extract. */
  cid: string;
  /** Ciphertext bytes uploaded. */
  size: number;
  /** The keyed scope id of `study:<studyId>` the contribution and the grant carry. */
  scopeId: string;
  /** The FHIR types the extract was made for. */
  resourceTypes: string[];
  asOf: string;
  /** What `deidentify` kept, left out and removed: what was shared and what was not (names, never content). */
  report: DeidentifyReport;
  /** Resources in the extract. */
  shared: number;
  /** The category counted per aggregate dimension (sent encrypted: no one reads it alone); {} when none. */
  counted: Record<string, string>;
  grant: { mode: ConsentMode; expiry: Date; transactions: string[] };
  verification: StudyVerification;
}

export interface OptOutResult {
  studyId: string;
  /** The research grants revoked (none when there was none to revoke). */
  revoked: { grantees: string[]; transactions: string[] };
  /** The contribution deleted at this gateway (null: there was none). */
  withdrawn: { cid: string; unpinned: boolean } | null;
}

/** The wallet did not verify a study: nothing was shared. `checks` names what failed. */
export class StudyNotVerifiedError extends HygeiaSdkError {
  readonly studyId: string;
  readonly checks: readonly FailedCheck[];
  constructor(
    code: string,
    kind: ErrorKind,
    studyId: string,
    checks: readonly FailedCheck[],
    hint: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      code,
      kind,
      `study ${studyId} was not verified, nothing was shared (${checks.map((c) => `${c.name}: ${c.reason}`).join("; ")})`,
      { hint, cause: options.cause },
    );
    this.studyId = studyId;
    this.checks = checks;
  }
}

/** One half of an opt-out failed (or both): `revoked` / `withdrawn` say what was done, `failures` what was not. */
export class StudyOptOutError extends HygeiaSdkError {
  readonly studyId: string;
  readonly revoked: OptOutResult["revoked"] | undefined;
  readonly withdrawn: OptOutResult["withdrawn"] | undefined;
  readonly failures: readonly { step: "revoke" | "withdraw"; error: unknown }[];
  constructor(
    studyId: string,
    done: { revoked?: OptOutResult["revoked"]; withdrawn?: OptOutResult["withdrawn"] },
    failures: { step: "revoke" | "withdraw"; error: unknown }[],
  ) {
    const first = failures[0]!.error;
    const inner = first instanceof HygeiaSdkError ? first : undefined;
    const said = (step: string) => {
      const failure = failures.find((f) => f.step === step);
      if (!failure) return step === "revoke" ? "the research grant was revoked" : "the contribution was deleted";
      const why = failure.error instanceof Error ? failure.error.message : String(failure.error);
      return step === "revoke"
        ? `revoking the research grant failed: ${why}`
        : `deleting the contribution failed: ${why}`;
    };
    super(
      inner?.code ?? "OPT_OUT_FAILED",
      inner?.kind ?? "internal",
      `opting out of study ${studyId}: ${said("revoke")}; ${said("withdraw")}`,
      {
        hint:
          "Run the opt-out again: it only redoes what is missing" +
          (failures.some((f) => f.step === "revoke")
            ? ". Until the grant is revoked on chain, a gateway holding your contribution may still include it in a pull."
            : "."),
        cause: first,
      },
    );
    this.studyId = studyId;
    this.revoked = done.revoked;
    this.withdrawn = done.withdrawn;
    this.failures = failures;
  }
}

/** A research grant shares no record: no record carries a `study:<id>` scope id (the extract is the contribution). */
const NO_RECORD_SHARING: RecordSharing = { shareScopesWith: () => Promise.resolve(0) };

const AS_OF = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const FHIR_SCOPE = /^fhir:([A-Z][A-Za-z]{0,63})$/;
const CODES_UNAVAILABLE = new Set(["TRUST_REGISTRY_UNAVAILABLE", "STATUS_LIST_UNAVAILABLE"]);

export class PatientStudies {
  readonly #context: PatientContext;
  readonly #consent: PatientConsent;

  constructor(context: PatientContext) {
    this.#context = context;
    // The client's consent code path (one EIP-712 signature, relayed), without wrapping any record to the
    // researcher: a study receives its extract, never the patient's records.
    this.#consent = new PatientConsent(context, NO_RECORD_SHARING);
  }

  get #transport() {
    return this.#context.connection.transport;
  }

  /** The studies the gateway serves now (open on chain, approval verified by the gateway): not yet checked here. */
  list(): Promise<Study[]> {
    return listServedStudies(this.#transport);
  }

  /** One study as the gateway serves it (404 STUDY_NOT_SERVED, 410 STUDY_CLOSED / STUDY_WITHDRAWN otherwise). */
  get(studyId: string): Promise<Study> {
    return getServedStudy(this.#transport, studyIdArgument(studyId));
  }

  /** The patient's contributions at this gateway. */
  async contributions(): Promise<StudyContribution[]> {
    const request = "GET /v1/contributions";
    const answer = await this.#transport.request<{ contributions?: unknown }>("GET", "/v1/contributions");
    if (typeof answer !== "object" || answer === null || !Array.isArray(answer.contributions))
      throw new UnexpectedResponseError(request, "the answer is not a contribution list");
    return answer.contributions.map((c) => parseContribution(c, request));
  }

  /**
   * Checks a study as `optIn` does before sharing (rule 1): the chain's registration and the approval, verified by
   * this wallet. Throws `StudyNotVerifiedError` (kind `integrity` when the gateway's view differs from the chain,
   * `refused` when the study is not open or its approval does not verify, `unavailable` when the chain or a
   * status list cannot answer).
   */
  async verify(study: Study | string): Promise<StudyVerification> {
    const served = typeof study === "string" ? await this.get(study) : study;
    const details = await this.#registration(served);
    return this.#verifyApproval(served, details);
  }

  /**
   * What `optIn` would share, without sending or signing anything: the study checked (rule 1) and the extract made
   * (rule 2); `report` says what is shared and what is not. Show it to the patient before `optIn`.
   */
  async preview(studyId: string, resources: unknown, options: OptInOptions = {}): Promise<OptInPreview> {
    const { study, verification, resourceTypes, asOf, extract, facts } = await this.#prepare(
      studyId,
      resources,
      options,
    );
    return {
      studyId: study.studyId,
      title: study.title,
      researcher: study.researcher,
      resourceTypes,
      asOf,
      report: extract.report,
      shared: extract.resources.length,
      counted: countedLabels(study, facts),
      verification,
    };
  }

  /**
   * Opts in: checks the study, de-identifies `resources` (FHIR R4 resources or Bundles) for it, encrypts the
   * extract, uploads it, seals its DEK to the study's key, contributes it, and grants the study's researcher
   * research consent for `study:<studyId>`. See the rules at the top.
   */
  async optIn(studyId: string, resources: unknown, options: OptInOptions = {}): Promise<OptInResult> {
    const { study, verification, resourceTypes, asOf, expiry, extract, facts } = await this.#prepare(
      studyId,
      resources,
      options,
    );
    const id = study.studyId;
    const scopeId = this.#context.keys.scopes.id(`study:${id}`);
    const dek = generateDataKey();
    let cid: string;
    let size: number;
    try {
      const ciphertext = await encryptToBuffer(new TextEncoder().encode(JSON.stringify(extract.resources)), dek);
      const uploaded = await this.#transport.upload<{ cid?: unknown; size?: unknown }>("/v1/uploads", ciphertext, {
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (typeof uploaded?.cid !== "string" || uploaded.size !== ciphertext.byteLength)
        throw new UnexpectedResponseError(
          "PUT /v1/uploads",
          `the gateway stored ${String(uploaded?.size)} bytes of a ${ciphertext.byteLength}-byte ciphertext`,
        );
      cid = uploaded.cid;
      size = ciphertext.byteLength;
      const wrap = bytesToBase64url(wrapKey(dek, studyPublicKey(study), contributionWrapContext(id, cid)));
      const request = `POST /v1/studies/${id}/contributions`;
      const contributed = parseContribution(
        await this.#transport.request<unknown>("POST", `/v1/studies/${id}/contributions`, {
          json: {
            cid,
            wrap,
            scopeId,
            ...(study.aggregates.length > 0 ? { facts: this.#encryptFacts(study, facts) } : {}),
          },
        }),
        request,
      );
      if (contributed.cid !== cid || contributed.scopeId !== scopeId)
        throw new UnexpectedResponseError(request, "the gateway registered another contribution than the one sent");
    } finally {
      wipe(dek);
    }

    let granted;
    try {
      granted = await this.#consent.grant({
        grantee: study.researcher,
        scopes: [`study:${id}`],
        purpose: "Research",
        expires: new Date(expiry * 1000),
        ...(options.mode === undefined ? {} : { mode: options.mode }),
      });
    } catch (error) {
      // Mined but not listed yet: the grant stands, the contribution is pulled once the gateway sees it. Anything
      // else: no grant, so the contribution is let go again (best effort: without a grant it is never pulled).
      if (!(error instanceof ConsentNotIndexedError))
        await this.#transport.request("DELETE", `/v1/studies/${id}/contributions/mine`).catch(() => undefined);
      throw error;
    }
    return {
      studyId: id,
      title: study.title,
      researcher: study.researcher,
      cid,
      size,
      scopeId,
      resourceTypes,
      asOf,
      report: extract.report,
      shared: extract.resources.length,
      counted: countedLabels(study, facts),
      grant: { mode: granted.mode, expiry: granted.expiry, transactions: granted.transactions },
      verification,
    };
  }

  /**
   * Opts out: revokes every research grant of `study:<studyId>` (on chain) and deletes the contribution at this
   * gateway, each attempted even if the other fails (`StudyOptOutError` says which failed). Works for a study that
   * is closed or withdrawn too. Safe to run again.
   */
  async optOut(studyId: string): Promise<OptOutResult> {
    const id = studyIdArgument(studyId);
    const failures: { step: "revoke" | "withdraw"; error: unknown }[] = [];
    let revoked: OptOutResult["revoked"] | undefined;
    let withdrawn: OptOutResult["withdrawn"] | undefined;
    try {
      revoked = await this.#revokeResearchGrants(id);
    } catch (error) {
      failures.push({ step: "revoke", error });
    }
    try {
      withdrawn = await this.#withdraw(id);
    } catch (error) {
      failures.push({ step: "withdraw", error });
    }
    if (failures.length > 0) throw new StudyOptOutError(id, { revoked, withdrawn }, failures);
    return { studyId: id, revoked: revoked!, withdrawn: withdrawn! };
  }

  /**
   * The patient's category per aggregate dimension (rule 3): derived by @hygeia/research deriveFacts from the
   * patient's own de-identified Patient (sex, age), or given; {} for a study that counts nothing.
   */
  #derive(
    study: Study,
    inputs: readonly unknown[],
    asOf: string,
    given: OptInOptions["facts"],
  ): Record<string, number> {
    if (study.aggregates.length === 0) return {};
    const pseudonymKey = this.#context.keys.studyPseudonymKey(study.studyId);
    try {
      const patient = deidentify(inputs, { pseudonymKey, asOf, resourceTypes: ["Patient"] }).resources;
      return deriveFacts(patient, study.aggregates, { asOf, ...(given === undefined ? {} : { given }) });
    } catch (error) {
      if (error instanceof AggregateInputError)
        throw new SdkInputError(
          error.field,
          error.message,
          "Give the records with the patient's Patient resource, and the categories the wallet cannot derive (facts).",
        );
      throw error;
    } finally {
      wipe(pseudonymKey);
    }
  }

  /** Each dimension's category as an encrypted one-hot vector with its proofs, bound to this patient. */
  #encryptFacts(study: Study, facts: Record<string, number>): Record<string, { cells: string[]; proof: string }> {
    const joint = base64urlToBytes(study.tallyKey!);
    const patient = this.#context.address.toLowerCase();
    return Object.fromEntries(
      study.aggregates.map(({ name, categories }) => {
        const encrypted = encryptFacts(
          joint,
          categories.length,
          facts[name]!,
          factsContext(study.studyId, name, patient),
        );
        return [name, { cells: encrypted.cells.map(bytesToBase64url), proof: bytesToBase64url(encrypted.proof) }];
      }),
    );
  }

  /** Rules 1 and 2: the study checked, the options read, the extract made; nothing sent. */
  async #prepare(studyId: string, resources: unknown, options: OptInOptions) {
    const id = studyIdArgument(studyId);
    const inputs = resourcesArgument(resources);
    if (typeof options !== "object" || options === null) throw new SdkInputError("options", "expected an object");
    const study = await this.get(id);
    const verification = await this.verify(study);
    const resourceTypes = typesFor(study, options.resourceTypes);
    const asOf = asOfFor(study, options.asOf);
    const expiry = parseExpiry(options.expires ?? study.endsAt, "expires");
    const pseudonymKey = this.#context.keys.studyPseudonymKey(id);
    let extract;
    try {
      // An aggregate-only study gets no rows: the extract made (for the report) is dropped before upload.
      extract = deidentify(inputs, {
        pseudonymKey,
        asOf,
        resourceTypes: resourceTypes.length > 0 ? resourceTypes : ["Patient"],
      });
    } catch (error) {
      if (error instanceof DeidentifyInputError)
        throw new SdkInputError(
          error.field.replace(/^options\./, ""),
          error.message,
          "Give FHIR R4 resources (or Bundles of them) as JSON objects.",
        );
      throw error;
    } finally {
      wipe(pseudonymKey);
    }
    const facts = this.#derive(study, inputs, asOf, options.facts);
    if (resourceTypes.length === 0) extract = { resources: [], report: { ...extract.report, kept: {} } };
    if (extract.resources.length === 0 && resourceTypes.length > 0)
      throw new SdkInputError(
        "resources",
        `nothing of these records would be shared with this study (it asks for ${resourceTypes.join(", ")})`,
        "Give the records of the kinds the study asks for; nothing was sent.",
      );
    return { study, verification, resourceTypes, asOf, expiry, extract, facts };
  }

  async #revokeResearchGrants(studyId: string): Promise<OptOutResult["revoked"]> {
    const scopeId = this.#context.keys.scopes.id(`study:${studyId}`);
    const self = this.#context.address.toLowerCase();
    const grants = (await this.#consent.list({ studies: [studyId] })).filter(
      (c) => c.id === scopeId.toLowerCase() && c.purpose === "Research" && c.consentAddress === self,
    );
    const grantees = [...new Set(grants.map((c) => c.grantee))];
    const transactions: string[] = [];
    for (const grantee of grantees) {
      const result = await this.#consent.revoke({ grantee, scopes: [scopeId], purpose: "Research" });
      transactions.push(...result.transactions);
    }
    return { grantees: grantees.map((g) => getAddress(g)), transactions };
  }

  async #withdraw(studyId: string): Promise<OptOutResult["withdrawn"]> {
    const request = `DELETE /v1/studies/${studyId}/contributions/mine`;
    let answer: { cid?: unknown; unpinned?: unknown };
    try {
      answer = await this.#transport.request("DELETE", `/v1/studies/${studyId}/contributions/mine`);
    } catch (error) {
      if (error instanceof HygeiaSdkError && error.code === "NO_CONTRIBUTION") return null;
      throw error;
    }
    if (typeof answer?.cid !== "string" || typeof answer.unpinned !== "boolean")
      throw new UnexpectedResponseError(request, "the answer is not a withdrawal");
    return { cid: answer.cid, unpinned: answer.unpinned };
  }

  /** The StudyRegistry's registration, checked against the gateway's view of the study. */
  async #registration(study: Study): Promise<StudyDetails> {
    const { connection } = this.#context;
    const address = connection.deployment.contracts.StudyRegistry;
    if (address === undefined)
      throw new HygeiaSdkError("STUDY_REGISTRY_NOT_DEPLOYED", "unavailable", "this deployment has no StudyRegistry", {
        hint: "Connect to a deployment with a StudyRegistry (an upgraded one): studies cannot be checked without it.",
      });
    const registry = new StudyRegistryClient(address, connection.provider, {
      fromBlock: connection.deployment.deployedAt.block,
    });
    const [details, open] = await chainCall(this.#context, () =>
      Promise.all([registry.details(study.studyId), registry.isOpen(study.studyId)]),
    );
    const mismatch = (name: string, reason: string) =>
      new StudyNotVerifiedError(
        "STUDY_MISMATCH",
        "integrity",
        study.studyId,
        [{ name, reason }],
        "The gateway's description of this study differs from its registration on chain: do not join it, and report the gateway to its operator.",
      );
    if (details === null) throw mismatch("registration", "no study with this id is registered on the StudyRegistry");
    if (details.researcher !== study.researcher)
      throw mismatch("researcher", `registered by ${details.researcher}, not ${study.researcher}`);
    if (details.irb !== study.irb) throw mismatch("irb", `approved by ${details.irb}, not ${study.irb}`);
    if (details.encryptionKey !== hexlify(studyPublicKey(study)).toLowerCase())
      throw mismatch("encryption-key", "the study key served is not the registered one");
    if (details.approvalHash !== studyApprovalHash(study.approval).toLowerCase())
      throw mismatch("approval", "the approval served is not the one registered");
    const asked = [...new Set(study.scopes.map((s) => scopeHash(s).toLowerCase()))].sort();
    if (asked.join() !== [...details.scopeHashes].sort().join())
      throw mismatch("scopes", "the scopes served are not the ones registered");
    if (!open)
      throw new StudyNotVerifiedError(
        "STUDY_NOT_OPEN",
        "refused",
        study.studyId,
        [{ name: "open", reason: "closed, past its end, or its IRB is not accredited now" }],
        "This study takes no contributions now.",
      );
    return details;
  }

  /** The wallet's own verification of the approval, and that it approves exactly this registration. */
  async #verifyApproval(study: Study, details: StudyDetails): Promise<StudyVerification> {
    const { connection } = this.#context;
    const network: EthrNetwork = {
      chainId: connection.deployment.chainId,
      rpcUrl: connection.rpcUrl,
      registry: connection.deployment.contracts.EthereumDIDRegistry,
    };
    const resolver = await CachedDidResolver.create({ network, provider: connection.provider });
    let verification;
    try {
      const verifier = createChainVerifier({
        trustRegistry: connection.deployment.contracts.TrustRegistry,
        resolver,
        provider: connection.provider,
        network,
        statusListFetcher: defaultStatusListFetcher,
        statusListHttpHosts: httpHostsOf(this.#transport.url),
      });
      verification = await verifier.verifyCredential(study.approval);
    } finally {
      await resolver.close().catch(() => undefined);
    }
    const failed: FailedCheck[] = verification.checks
      .filter((c) => !c.pass)
      .map((c) => ({ name: c.name, reason: c.reason, ...(c.code === undefined ? {} : { code: c.code }) }));
    if (!verification.ok || verification.credential === undefined) {
      const unavailable = failed.some((c) => c.code !== undefined && CODES_UNAVAILABLE.has(c.code));
      throw new StudyNotVerifiedError(
        unavailable ? "APPROVAL_CHECK_UNAVAILABLE" : "STUDY_APPROVAL_REJECTED",
        unavailable ? "unavailable" : "refused",
        study.studyId,
        failed,
        unavailable
          ? "The approval's status list or the trust registry did not answer; nothing was decided. Try again shortly."
          : "The study's ethics approval does not verify (revoked, expired, or not from an accredited IRB): do not join it.",
      );
    }
    const credential = verification.credential;
    const subject = credential.subject;
    const prefix = `${ethrDidPrefix(network)}:`.toLowerCase();
    const addressOfDid = (did: unknown) =>
      typeof did === "string" && did.toLowerCase().startsWith(prefix) ? ethrIdentityAddress(did) : undefined;
    const slug = typeof subject["studyId"] === "string" ? subject["studyId"] : "";
    let slugId: string | undefined;
    try {
      slugId = studyIdFor(details.researcher, studySalt(slug)).toLowerCase();
    } catch {
      slugId = undefined;
    }
    const problems: FailedCheck[] = [];
    if (credential.type !== CredentialType.EthicsApproval)
      problems.push({ name: "type", reason: `a ${String(credential.type)}, not an EthicsApprovalCredential` });
    if (addressOfDid(credential.issuer) !== details.irb.toLowerCase())
      problems.push({ name: "issuer", reason: "not issued by the study's registered IRB" });
    if (addressOfDid(subject["id"]) !== details.researcher.toLowerCase())
      problems.push({ name: "subject", reason: "not issued to the study's researcher" });
    if (slugId !== study.studyId)
      problems.push({ name: "study", reason: `approves study "${slug}", which is not this study id` });
    const protocolHash = typeof subject["protocolHash"] === "string" ? subject["protocolHash"].toLowerCase() : "";
    if (protocolHash !== "" && protocolHash !== details.protocolHash)
      problems.push({ name: "protocol", reason: "approves another protocol than the registered one" });
    if (problems.length > 0)
      throw new StudyNotVerifiedError(
        "STUDY_APPROVAL_MISMATCH",
        "integrity",
        study.studyId,
        problems,
        "The approval shown is not this study's: do not join it, and report the study to its IRB.",
      );
    return {
      studyId: study.studyId,
      researcher: details.researcher,
      irb: details.irb,
      approval: {
        issuer: String(credential.issuer),
        slug,
        protocolTitle: typeof subject["protocolTitle"] === "string" ? subject["protocolTitle"] : "",
        approvalNumber: typeof subject["approvalNumber"] === "string" ? subject["approvalNumber"] : "",
        protocolHash: details.protocolHash,
      },
      checks: [
        "registration",
        "open",
        ...verification.checks.filter((c) => c.pass).map((c) => c.name),
        "issuer",
        "subject",
        "study",
        "protocol",
      ],
    };
  }
}

/** The resources argument: an array of FHIR resources (or Bundles), or one resource or Bundle. */
function resourcesArgument(input: unknown): unknown[] {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0 || list.some((r) => typeof r !== "object" || r === null || Array.isArray(r)))
    throw new SdkInputError(
      "resources",
      "expected FHIR resources (or Bundles) as JSON objects",
      "Give the records to share: a FHIR Bundle, a resource, or a list of them.",
    );
  return list;
}

/** The FHIR types to share: the study's `fhir:` scopes that de-identification supports, or a subset of them. */
function typesFor(study: Study, given: readonly string[] | undefined): string[] {
  const asked = study.scopes
    .map((scope) => FHIR_SCOPE.exec(scope)?.[1])
    .filter(
      (type): type is string => type !== undefined && (SUPPORTED_RESOURCE_TYPES as readonly string[]).includes(type),
    );
  // A study that only counts gets no records at all.
  if (study.scopes.every((scope) => scope.startsWith("aggregate:"))) {
    if (given !== undefined && given.length > 0)
      throw new SdkInputError(
        "resourceTypes",
        "this study only counts: it receives no records",
        "Leave resourceTypes out.",
      );
    return [];
  }
  if (given === undefined) {
    if (asked.length === 0)
      throw new SdkInputError(
        "resourceTypes",
        `the study asks for ${study.scopes.join(", ")}: no FHIR type an extract can carry`,
        `Name the FHIR types to share (resourceTypes), from ${SUPPORTED_RESOURCE_TYPES.join(", ")}.`,
      );
    return asked;
  }
  if (!Array.isArray(given) || given.length === 0)
    throw new SdkInputError("resourceTypes", "expected a non-empty list of FHIR resource types");
  const types = [...new Set(given)];
  for (const type of types) {
    if (typeof type !== "string" || !(SUPPORTED_RESOURCE_TYPES as readonly string[]).includes(type))
      throw new SdkInputError(
        "resourceTypes",
        `${JSON.stringify(type)} is not a type an extract can carry`,
        `Use types from ${SUPPORTED_RESOURCE_TYPES.join(", ")}.`,
      );
    if (asked.length > 0 && !asked.includes(type))
      throw new SdkInputError(
        "resourceTypes",
        `the study does not ask for ${type} (it asks for ${asked.join(", ")})`,
        "Share only what the study asks for, or less.",
      );
  }
  return types;
}

function asOfFor(study: Study, given: string | Date | undefined): string {
  const day = (date: Date) => date.toISOString().slice(0, 10);
  if (given === undefined) return day(new Date(Math.max(Date.now(), study.endsAt.getTime())));
  if (given instanceof Date) {
    if (Number.isNaN(given.getTime())) throw new SdkInputError("asOf", "is an invalid Date");
    return day(given);
  }
  if (typeof given !== "string" || !AS_OF.test(given))
    throw new SdkInputError("asOf", `expected a day as YYYY-MM-DD, got ${JSON.stringify(String(given).slice(0, 40))}`);
  return given;
}

/** The category labels counted, by dimension. */
function countedLabels(study: Study, facts: Record<string, number>): Record<string, string> {
  return Object.fromEntries(study.aggregates.map(({ name, categories }) => [name, categories[facts[name]!]!]));
}
