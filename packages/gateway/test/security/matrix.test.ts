// The authorization matrix, generated: every operation of /openapi.json x every role (anonymous, the patient,
// another patient, a clinic with consent, a clinic without, a researcher, a clinic whose accreditation was
// revoked, an emergency grantee before and after breakGlass) x every consent state (none, active, expired,
// revoked, other scope, other purpose; one record of the patient per state) and, on the key, content and
// grantee-listing routes, x purpose. The expected status comes from the oracle (support/oracle.ts), which
// evaluates a model of what this test wrote on chain. Every case is asserted; the count is printed.
import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { HDNodeWallet, Wallet, parseEther } from "ethers";
import {
  ConsentRegistryClient,
  blindEmergencyScopes,
  signConsentAddressLink,
  signConsentBatch,
  signEmergencyGrantee,
  signGrant,
  signRevoke,
  signedConsentBatchToJson,
  signedConsentToJson,
  signManifestAnchor,
} from "@hygeia/chain";
import { generateDataKey, generateX25519KeyPair, wrapKey } from "@hygeia/crypto";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { closeAuthWorld, presentRole, revokeRole } from "../support/auth.ts";
import { json, send, type RawRequest } from "./support/http.ts";
import { signInWith, signedSiwe } from "./support/siwe.ts";
import { actor, addRecord, chainNow, patientKeys, registryAs, seal, type Actor } from "./support/world.ts";
import {
  CONSENT_STATES,
  ROLES,
  expectedStatus,
  mayRelease,
  type Caller,
  type ChainModel,
  type ConsentState,
  type PurposeName,
  type RecordFact,
  type RoleName,
  type RouteKind,
} from "./support/oracle.ts";

const PURPOSES: readonly PurposeName[] = ["Treatment", "Research", "Emergency"];
const SOME_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
/** A study id no study has. */
const UNKNOWN_STUDY = `0x${"5d".repeat(32)}`;
const randomAddress = () => Wallet.createRandom().address.toLowerCase();
const shapedWrap = () =>
  Buffer.from(wrapKey(generateDataKey(), generateX25519KeyPair().publicKey, "hygeia:record:x")).toString("base64url");

function dependencyProblem(text: string): boolean {
  try {
    const problem = JSON.parse(text) as { dependency?: unknown; code?: unknown };
    return typeof problem.dependency === "string" || problem.code === "NOT_READY";
  } catch {
    return false;
  }
}

interface Case {
  role: RoleName;
  state: ConsentState;
  purpose?: PurposeName;
}

interface RouteSpec {
  kind: RouteKind | ((c: Case) => RouteKind);
  /** Requests of this route must not run concurrently (a compare-and-swap per caller). */
  serial?: boolean;
  purposes?: boolean;
  build(c: Case, who: Actor | null): Promise<RawRequest>;
  /** An extra check of a 200 answer's content. */
  check?(c: Case, body: unknown): string | undefined;
}

describe("security: the authorization matrix (route x role x consent state)", function () {
  let stack: TestStack;
  const actors = new Map<RoleName, Actor>();
  const callers = new Map<RoleName, Caller>();
  const records = new Map<ConsentState, RecordFact>();
  const model: ChainModel = { grants: [], emergencies: [] };
  let now = 0;
  let checkInId = "";
  let statusListPath = "";
  let olderStatusListJwt = "";
  let auditSize = 0;
  let aliceWallet: HDNodeWallet;

  before(async function () {
    this.timeout(300_000);
    stack = await startTestStack();
    const a = stack.accounts;
    aliceWallet = a.alice;
    const revokedClinic = HDNodeWallet.createRandom().connect(stack.provider);
    const erBefore = HDNodeWallet.createRandom().connect(stack.provider);
    const erAfter = HDNodeWallet.createRandom().connect(stack.provider);
    await (await a.governance.sendTransaction({ to: erAfter.address, value: parseEther("1") })).wait();
    const wallets: [RoleName, HDNodeWallet][] = [
      ["patient", a.alice],
      ["otherPatient", a.bob],
      ["clinicWithConsent", a.clinic],
      ["clinicWithoutConsent", a.clinic2],
      ["researcher", a.researcher],
      ["revokedClinic", revokedClinic],
      ["emergencyBeforeBreakGlass", erBefore],
      ["emergencyAfterBreakGlass", erAfter],
    ];
    for (const [role, wallet] of wallets) actors.set(role, actor(wallet, await signInWith(stack.url, wallet)));
    const the = (role: RoleName) => actors.get(role)!;

    // Roles: three clinics and a researcher prove theirs; the board then revokes one clinic's accreditation.
    const roles = new Map<RoleName, Set<"clinic" | "researcher">>();
    for (const role of ["clinicWithConsent", "clinicWithoutConsent", "revokedClinic"] as const) {
      await presentRole(stack, the(role).token, the(role).wallet, "clinic");
      roles.set(role, new Set(["clinic"]));
    }
    await presentRole(stack, the("researcher").token, the("researcher").wallet, "researcher");
    roles.set("researcher", new Set(["researcher"]));
    const revoked = await presentRole(stack, the("revokedClinic").token, the("revokedClinic").wallet, "clinic");
    // The board's list, at the URL its credentials name, as served before the revocation: replaying it later
    // (to un-revoke the clinic) must be refused.
    const payload = JSON.parse(Buffer.from(revoked.credential.split(".")[1]!, "base64url").toString()) as {
      vc: { credentialStatus: { statusListCredential: string } | { statusListCredential: string }[] };
    };
    statusListPath = new URL([payload.vc.credentialStatus].flat()[0]!.statusListCredential).pathname;
    const before = await send(stack.url, { method: "GET", path: statusListPath });
    expect(before.status, before.text).to.equal(200);
    olderStatusListJwt = before.text;
    await revokeRole(stack, revoked);
    roles.set("revokedClinic", new Set());

    // One record of the patient per consent state, each under its own scope id, wrapped to every other party.
    const alice = the("patient");
    const { scopes } = patientKeys(alice.address);
    const id: Record<ConsentState, string> = {
      none: scopes.id("category:allergy"),
      active: scopes.id("category:laboratory"),
      expired: scopes.id("category:imaging"),
      revoked: scopes.id("category:medication"),
      otherScope: scopes.id("category:condition"),
      otherPurpose: scopes.id("category:vital-signs"),
    };
    const grantees = wallets.filter(([r]) => r !== "patient").map(([r]) => the(r));
    for (const state of CONSENT_STATES) {
      const cid = await addRecord(stack, alice, await seal(`record in state ${state}`), [id[state]], grantees);
      records.set(state, {
        owner: alice.address,
        cid,
        scopeIds: [id[state]],
        wrappedTo: grantees.map((g) => g.address),
      });
    }

    // Consent on chain, for the clinic with consent and (the same) for the clinic whose accreditation was revoked.
    const registry = registryAs(stack, a.alice);
    const t0 = await chainNow(stack);
    for (const grantee of [the("clinicWithConsent").address, the("revokedClinic").address]) {
      const grant = async (scope: string, purpose: PurposeName, expiry: number) => {
        await registry.grant({ grantee, scope, purpose, expiry });
        const fact = { patient: alice.address, grantee, scope, purpose, expiry, revoked: false };
        model.grants.push(fact);
        return fact;
      };
      await grant(id.active, "Treatment", t0 + 86_400);
      await grant(id.expired, "Treatment", t0 + 30);
      const toRevoke = await grant(id.revoked, "Treatment", t0 + 86_400);
      await registry.revoke({ grantee, scope: id.revoked, purpose: "Treatment" });
      toRevoke.revoked = true;
      await grant(scopes.id("category:procedure"), "Treatment", t0 + 86_400); // not the otherScope record's id
      await grant(id.otherPurpose, "Research", t0 + 86_400);
    }
    // Emergency: both grantees registered with a card naming every record's id; one breaks the glass on two.
    const card = blindEmergencyScopes(Object.values(id));
    for (const role of ["emergencyBeforeBreakGlass", "emergencyAfterBreakGlass"] as const) {
      await registry.setEmergencyGrantee(the(role).address, { maxDurationSeconds: 3_600, scopes: card });
      model.emergencies.push({ patient: alice.address, grantee: the(role).address, opened: [], windowEnd: 0 });
    }
    const erRegistry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, erAfter);
    for (const opened of [id.active, id.none]) {
      const tx = await erRegistry.breakGlass(alice.address, opened, { scopes: card });
      const access = tx.events.find((e) => e.type === "EmergencyAccess") as { expiry: bigint } | undefined;
      const fact = model.emergencies.find((e) => e.grantee === the("emergencyAfterBreakGlass").address)!;
      fact.opened.push(opened);
      fact.windowEnd = Number(access!.expiry);
    }
    // Let the short grants expire (chain time and the indexer's clock, which takes the later of wall and head).
    await stack.provider.send("evm_increaseTime", [60]);
    await stack.mine();
    await stack.services.chain.indexer.sync();
    now = await chainNow(stack);

    for (const role of ROLES) {
      const who = actors.get(role);
      callers.set(role, { address: who?.address ?? null, roles: roles.get(role) ?? new Set() });
    }

    // The revoked clinic's role must be gone within one status-list TTL: wait for it (a failure here is a finding).
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await send(stack.url, { method: "GET", path: "/v1/auth/session", token: the("revokedClinic").token });
      const listed = (JSON.parse(res.text) as { roles?: string[] }).roles ?? [];
      if (!listed.includes("clinic")) break;
      expect(Date.now(), "the revoked accreditation ends the clinic role within 30 s").to.be.below(deadline);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    // Fixtures of the other routes: a check-in the clinic opened, the board's published status list, a checkpoint.
    const opened = await send(stack.url, {
      method: "POST",
      path: "/v1/checkins",
      token: the("clinicWithConsent").token,
      ...json({ credentials: [{ type: "PatientIdentityCredential", claims: ["givenName"] }] }),
    });
    expect(opened.status, opened.text).to.equal(201);
    checkInId = (JSON.parse(opened.text) as { id: string }).id;
    await stack.app.audit.anchorNow();
    auditSize = await stack.services.store.auditSize();
  });

  after(async function () {
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  const tokenOf = (who: Actor | null) => (who === null ? {} : { token: who.token });
  const recordOf = (c: Case) => records.get(c.state)!;
  const alice = () => actors.get("patient")!.address;

  /** A consent batch signed by a stranger, naming the patient: schema-valid, refused for the signature. */
  async function badlySignedBatch(): Promise<unknown> {
    const stranger = Wallet.createRandom();
    const registry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, stack.provider);
    const deadline = Math.floor(Date.now() / 1000) + 600;
    const grant = {
      grantee: randomAddress(),
      scope: "0x" + randomBytes(32).toString("hex"),
      purpose: "Treatment" as const,
      expiry: deadline + 86_400,
    };
    const t = await registry.nextConsentBatchTypedData({
      patient: stranger.address,
      grants: [grant],
      revokes: [],
      deadline,
    });
    const signed = signedConsentBatchToJson(
      await signConsentBatch(stranger, t.domain, { ...t.message, patient: stranger.address }),
    );
    return { signed: { ...signed, patient: alice() } };
  }

  async function badlySigned(kind: "grant" | "revoke" | "emergency"): Promise<unknown> {
    // Signed by a stranger, naming the patient: schema-valid, refused for the signature (and never relayed).
    const stranger = Wallet.createRandom();
    const registry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, stack.provider);
    const deadline = Math.floor(Date.now() / 1000) + 600;
    const scope = "0x" + randomBytes(32).toString("hex");
    const grantee = randomAddress();
    let signed: Record<string, unknown>;
    if (kind === "grant") {
      const t = await registry.nextGrantTypedData({
        patient: stranger.address,
        grantee,
        scope,
        purpose: "Treatment",
        expiry: deadline + 86_400,
        deadline,
      });
      signed = signedConsentToJson(
        await signGrant(stranger, t.domain, { ...t.message, patient: stranger.address }),
      ) as Record<string, unknown>;
    } else if (kind === "revoke") {
      const t = await registry.nextRevokeTypedData({
        patient: stranger.address,
        grantee,
        scope,
        purpose: "Treatment",
        deadline,
      });
      signed = signedConsentToJson(
        await signRevoke(stranger, t.domain, { ...t.message, patient: stranger.address }),
      ) as Record<string, unknown>;
    } else {
      const t = await registry.nextEmergencyGranteeTypedData({
        patient: stranger.address,
        grantee,
        maxDurationSeconds: 0,
        deadline,
      });
      signed = signedConsentToJson(
        await signEmergencyGrantee(stranger, t.domain, { ...t.message, patient: stranger.address }),
      ) as Record<string, unknown>;
    }
    return { signed: { ...signed, patient: alice() } };
  }

  function routes(): Record<string, RouteSpec> {
    /** Uploads `body` as `who` (staged for it) and gives its CID. */
    const uploadAs = async (who: Actor, body: Uint8Array): Promise<string> => {
      const up = await send(stack.url, {
        method: "PUT",
        path: "/v1/uploads",
        token: who.token,
        headers: { "content-type": "application/octet-stream" },
        body,
      });
      return (JSON.parse(up.text) as { cid: string }).cid;
    };
    const get =
      (path: string) =>
      async (_c: Case, who: Actor | null): Promise<RawRequest> => ({ method: "GET", path, ...tokenOf(who) });
    return {
      getHealth: { kind: { kind: "public", ok: 200 }, build: get("/healthz") },
      getDeployment: { kind: { kind: "public", ok: 200 }, build: get("/v1/deployment") },
      getClearSigningDescriptor: { kind: { kind: "public", ok: 200 }, build: get("/v1/deployment/clear-signing") },
      getReadiness: { kind: { kind: "public", ok: 200 }, build: get("/readyz") },
      getAuthNonce: { kind: { kind: "public", ok: 200 }, build: get("/v1/auth/nonce") },
      verifySignIn: {
        kind: { kind: "public", ok: 200 },
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/auth/verify",
          ...json(await signedSiwe(stack.url, who?.wallet ?? Wallet.createRandom())),
        }),
      },
      logout: {
        kind: { kind: "session", ok: 200 },
        // A session of its own to end, so the caller's main session lives on.
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/auth/logout",
          ...(who === null ? {} : { token: await signInWith(stack.url, who.wallet) }),
        }),
      },
      getSession: { kind: { kind: "session", ok: 200 }, build: get("/v1/auth/session") },
      getRoleChallenge: { kind: { kind: "session", ok: 200 }, build: get("/v1/auth/roles/challenge") },
      presentRole: {
        // A presentation that is no credential of the caller's: refused to everyone signed in.
        kind: { kind: "refused-for-all", status: 403, secured: true },
        build: async (_c, who) => {
          let challenge = randomBytes(16).toString("hex");
          if (who) {
            const res = await send(stack.url, { method: "GET", path: "/v1/auth/roles/challenge", token: who.token });
            challenge = (JSON.parse(res.text) as { challenge: string }).challenge;
          }
          const presentation = "eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJKV1QifQ.eyJ2cCI6e319.c2ln";
          return {
            method: "POST",
            path: "/v1/auth/roles",
            ...tokenOf(who),
            ...json({ role: "clinic", challenge, presentation }),
          };
        },
      },
      listAuditEvents: { kind: { kind: "session", ok: 200 }, build: get("/v1/audit/events") },
      getAuditCheckpoint: { kind: { kind: "public", ok: 200 }, build: get("/v1/audit/checkpoint") },
      listAuditCheckpoints: { kind: { kind: "public", ok: 200 }, build: get("/v1/audit/checkpoints") },
      getAuditConsistencyProof: {
        kind: { kind: "public", ok: 200 },
        build: async (c, who) => get(`/v1/audit/proofs/consistency?from=0&to=${auditSize}`)(c, who),
      },
      getAuditVerifierKey: { kind: { kind: "public", ok: 200 }, build: get("/v1/audit/verifier-key") },
      listAuditLogs: { kind: { kind: "public", ok: 200 }, build: get("/v1/audit/logs") },
      streamEvents: { kind: { kind: "session", ok: 200 }, build: get("/v1/events") },
      putWebhook: {
        kind: { kind: "session", ok: 200 },
        build: async (_c, who) => ({
          method: "PUT",
          path: "/v1/events/webhook",
          ...tokenOf(who),
          ...json({ url: "http://127.0.0.1:9/hook" }),
        }),
      },
      deleteWebhook: {
        kind: { kind: "session", ok: 200 },
        build: async (_c, who) => ({ method: "DELETE", path: "/v1/events/webhook", ...tokenOf(who) }),
      },
      putUpload: {
        kind: { kind: "session", ok: 201 },
        build: async (_c, who) => ({
          method: "PUT",
          path: "/v1/uploads",
          ...tokenOf(who),
          headers: { "content-type": "application/octet-stream" },
          body: randomBytes(256),
        }),
      },
      registerRecord: {
        kind: { kind: "session", ok: 201 },
        build: async (_c, who) => {
          let cid = SOME_CID;
          if (who) {
            cid = await uploadAs(who, randomBytes(256));
          }
          const owner = who?.address ?? randomAddress();
          const body = {
            cid,
            scopeIds: { [owner]: ["0x" + randomBytes(32).toString("hex")] },
            wraps: [{ recipient: owner, wrap: shapedWrap() }],
          };
          return { method: "POST", path: "/v1/records", ...tokenOf(who), ...json(body) };
        },
      },
      listRecords: { kind: { kind: "session", ok: 200 }, build: get("/v1/records") },
      getRecord: {
        kind: { kind: "owner-record", ok: 200 },
        build: async (c, who) => get(`/v1/records/${recordOf(c).cid}`)(c, who),
      },
      addWraps: {
        kind: { kind: "owner-record", ok: 200 },
        build: async (c, who) => ({
          method: "POST",
          path: `/v1/records/${recordOf(c).cid}/wraps`,
          ...tokenOf(who),
          ...json({ wraps: [{ recipient: randomAddress(), wrap: shapedWrap() }] }),
        }),
      },
      setScopeIds: {
        // Under a consent address no grantee is linked to: the matrix's consent states stay as they are.
        kind: { kind: "owner-record", ok: 200 },
        build: async (c, who) => ({
          method: "PUT",
          path: `/v1/records/${recordOf(c).cid}/scope-ids`,
          ...tokenOf(who),
          ...json({ consentAddress: randomAddress(), scopeIds: ["0x" + randomBytes(32).toString("hex")] }),
        }),
      },
      getManifest: { kind: { kind: "session", ok: 200 }, build: get("/v1/manifest") },
      putManifest: {
        kind: { kind: "session", ok: 200 },
        serial: true,
        build: async (_c, who) => {
          // The wallet uploads its sealed manifest, then moves the pointer from the one it read.
          let expected: string | null = null;
          let next = SOME_CID;
          if (who) {
            const res = await send(stack.url, { method: "GET", path: "/v1/manifest", token: who.token });
            expected = (JSON.parse(res.text) as { cid?: string | null }).cid ?? null;
            next = await uploadAs(who, randomBytes(128));
          }
          return { method: "PUT", path: "/v1/manifest", ...tokenOf(who), ...json({ expected, cid: next }) };
        },
      },
      getSealedManifest: {
        // Any signed-in wallet reads a sealed manifest by its CID (only its owner's key opens it).
        kind: { kind: "session", ok: 200 },
        build: async (c, who) => {
          let cid = SOME_CID;
          if (who) {
            cid = await uploadAs(who, Buffer.concat([Buffer.from([0x48, 0x59, 0x47, 0x4d, 0x02]), randomBytes(64)]));
          }
          return get(`/v1/manifests/${cid}`)(c, who);
        },
      },
      relayManifestAnchor: {
        // Anyone signed in may have an anchor identity's signed write relayed (a fresh identity: nonce 0).
        kind: { kind: "session", ok: 200 },
        build: async (_c, who) => {
          const signed = signManifestAnchor(
            randomBytes(32),
            stack.deployment.contracts.EthereumDIDRegistry,
            0,
            randomBytes(60),
          );
          return { method: "POST", path: "/v1/manifest/anchors", ...tokenOf(who), ...json(signed) };
        },
      },
      putConsentLink: {
        // The patient's own link (to a grantee of no other test) is stored; anyone else presenting it is refused.
        kind: (c) =>
          c.role === "patient" ? { kind: "session", ok: 200 } : { kind: "refused-for-all", status: 403, secured: true },
        build: async (_c, who) => {
          const link = await signConsentAddressLink(
            aliceWallet,
            Wallet.createRandom(),
            { grantee: randomAddress() },
            await stack.services.chain.registry.domain(),
          );
          return { method: "PUT", path: "/v1/consent-links", ...tokenOf(who), ...json(link) };
        },
      },
      listConsentLinks: { kind: { kind: "session", ok: 200 }, build: get("/v1/consent-links") },
      listPatientRecords: {
        kind: { kind: "grantee-list" },
        purposes: true,
        build: async (c, who) => get(`/v1/patients/${alice()}/records?purpose=${c.purpose}`)(c, who),
        check: (c, body) => {
          const listed = JSON.stringify(body).includes(recordOf(c).cid);
          const allowed = mayRelease(model, callers.get(c.role)!, recordOf(c), c.purpose!, now);
          return listed === allowed
            ? undefined
            : `record ${c.state} ${listed ? "listed" : "not listed"}, oracle says ${allowed ? "readable" : "not readable"}`;
        },
      },
      releaseKey: {
        kind: (c) => ({ kind: "release", purpose: c.purpose! }),
        purposes: true,
        build: async (c, who) => ({
          method: "POST",
          path: `/v1/patients/${alice()}/records/${recordOf(c).cid}/key`,
          ...tokenOf(who),
          ...json({ purpose: c.purpose }),
        }),
        check: (c, body) => {
          const answer = body as { cid?: string; wrap?: string };
          return answer.cid === recordOf(c).cid && typeof answer.wrap === "string"
            ? undefined
            : "a 200 without the record's wrap";
        },
      },
      getRecordContent: {
        kind: (c) => ({ kind: "release", purpose: c.purpose! }),
        purposes: true,
        build: async (c, who) =>
          get(`/v1/patients/${alice()}/records/${recordOf(c).cid}/content?purpose=${c.purpose}`)(c, who),
      },
      relayGrants: {
        kind: { kind: "refused-for-all", status: 400, secured: true },
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/consents/grants",
          ...tokenOf(who),
          ...json(await badlySigned("grant")),
        }),
      },
      relayRevokes: {
        kind: { kind: "refused-for-all", status: 400, secured: true },
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/consents/revokes",
          ...tokenOf(who),
          ...json(await badlySigned("revoke")),
        }),
      },
      relayConsentBatch: {
        kind: { kind: "refused-for-all", status: 400, secured: true },
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/consents/batches",
          ...tokenOf(who),
          ...json(await badlySignedBatch()),
        }),
      },
      relayEmergencyGrantees: {
        kind: { kind: "refused-for-all", status: 400, secured: true },
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/consents/emergency-grantees",
          ...tokenOf(who),
          ...json(await badlySigned("emergency")),
        }),
      },
      listConsents: { kind: { kind: "session", ok: 200 }, build: get("/v1/consents") },
      exportConsentsFhir: { kind: { kind: "session", ok: 200 }, build: get("/v1/consents/fhir") },
      getStatusList: { kind: { kind: "public", ok: 200 }, build: async (c, who) => get(statusListPath)(c, who) },
      putStatusList: {
        // The board's list from before the revocation, replayed: older than the one served, refused to anyone (it is
        // the issuer's signature that counts, not the caller).
        kind: { kind: "refused-for-all", status: 409, secured: false },
        build: async (_c, who) => ({
          method: "PUT",
          path: statusListPath,
          ...tokenOf(who),
          headers: { "content-type": "application/vc+jwt" },
          body: olderStatusListJwt,
        }),
      },
      openCheckIn: {
        kind: { kind: "clinic-role", ok: 201 },
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/checkins",
          ...tokenOf(who),
          ...json({ credentials: [{ type: "PatientIdentityCredential", claims: ["givenName"] }] }),
        }),
      },
      getCheckIn: {
        kind: { kind: "public", ok: 200 },
        build: async (c, who) => get(`/v1/checkins/${checkInId}`)(c, who),
      },
      answerCheckIn: {
        kind: { kind: "refused-for-all", status: 404, secured: true },
        build: async (_c, who) => ({
          method: "POST",
          path: `/v1/checkins/${randomBytes(16).toString("hex")}/response`,
          ...tokenOf(who),
          ...json({
            answer: {
              type: "hygeia-sealed-check-in",
              version: 1,
              recipient: "did:ethr:0x7a69:0x00",
              wrap: "AAAA",
              ciphertext: "AAAA",
            },
          }),
        }),
      },
      challengeCheckInClinic: {
        // A check-in that does not exist: any session is told so (404); the check-in of the matrix stays unbound.
        kind: { kind: "refused-for-all", status: 404, secured: true },
        build: async (_c, who) => ({
          method: "POST",
          path: `/v1/checkins/${randomBytes(16).toString("hex")}/clinic-challenge`,
          ...tokenOf(who),
          ...json({ challenge: randomBytes(16).toString("hex"), domain: `did:ethr:0x7a69:${alice()}` }),
        }),
      },
      proveCheckInClinic: {
        // Only a session holding the clinic role gets as far as looking the check-in up (404 here).
        kind: { kind: "clinic-role", ok: 404 },
        build: async (_c, who) => ({
          method: "POST",
          path: `/v1/checkins/${randomBytes(16).toString("hex")}/clinic-proof`,
          ...tokenOf(who),
          ...json({
            challenge: randomBytes(16).toString("hex"),
            presentation: "eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJKV1QifQ.eyJ2cCI6e319.c2ln",
          }),
        }),
      },
      getCheckInClinicProof: {
        // Nobody challenged the clinic of this check-in: there is no proof for any session to read.
        kind: { kind: "refused-for-all", status: 404, secured: true },
        build: async (c, who) => get(`/v1/checkins/${checkInId}/clinic-proof`)(c, who),
      },
      getCheckInResult: {
        kind: { kind: "opener-only", ok: 200 },
        build: async (c, who) => get(`/v1/checkins/${checkInId}/result`)(c, who),
      },
      // Studies: none is served here, so every session meets "no such study" (404) once past its role check; the
      // researcher routes refuse any session without the researcher role (403) first. The study tests cover the rest.
      serveStudy: {
        kind: { kind: "researcher-role", ok: 404 },
        build: async (_c, who) => ({
          method: "POST",
          path: "/v1/studies",
          ...tokenOf(who),
          ...json({ studyId: UNKNOWN_STUDY, approval: "a.b.c", scopes: ["fhir:Patient"] }),
        }),
      },
      listStudies: { kind: { kind: "session", ok: 200 }, build: get("/v1/studies") },
      getStudy: {
        kind: { kind: "refused-for-all", status: 404, secured: true },
        build: get(`/v1/studies/${UNKNOWN_STUDY}`),
      },
      contribute: {
        kind: { kind: "refused-for-all", status: 404, secured: true },
        build: async (_c, who) => ({
          method: "POST",
          path: `/v1/studies/${UNKNOWN_STUDY}/contributions`,
          ...tokenOf(who),
          ...json({ cid: SOME_CID, wrap: shapedWrap(), scopeId: `0x${"11".repeat(32)}` }),
        }),
      },
      getMyContribution: {
        kind: { kind: "refused-for-all", status: 404, secured: true },
        build: get(`/v1/studies/${UNKNOWN_STUDY}/contributions/mine`),
      },
      withdrawContribution: {
        kind: { kind: "refused-for-all", status: 404, secured: true },
        build: async (_c, who) => ({
          method: "DELETE",
          path: `/v1/studies/${UNKNOWN_STUDY}/contributions/mine`,
          ...tokenOf(who),
        }),
      },
      listMyContributions: { kind: { kind: "session", ok: 200 }, build: get("/v1/contributions") },
      getContributionContent: {
        kind: { kind: "researcher-role", ok: 404 },
        build: get(`/v1/studies/${UNKNOWN_STUDY}/contributions/${SOME_CID}/content`),
      },
      pullDataset: {
        kind: { kind: "researcher-role", ok: 404 },
        build: async (_c, who) => ({
          method: "POST",
          path: `/v1/studies/${UNKNOWN_STUDY}/dataset`,
          ...tokenOf(who),
          ...json({}),
        }),
      },
      openAggregate: {
        kind: { kind: "researcher-role", ok: 404 },
        build: async (_c, who) => ({
          method: "POST",
          path: `/v1/studies/${UNKNOWN_STUDY}/aggregates`,
          ...tokenOf(who),
          ...json({ dimension: "sex" }),
        }),
      },
      releaseAggregate: {
        kind: { kind: "researcher-role", ok: 404 },
        build: async (_c, who) => ({
          method: "POST",
          path: `/v1/studies/${UNKNOWN_STUDY}/aggregates/${randomUUID()}`,
          ...tokenOf(who),
          ...json({ partials: [0, 1].map(() => ({ partial: "A".repeat(43), proof: "A".repeat(86) })) }),
        }),
      },
    };
  }

  it("gives every role, in every consent state, on every route, the status the oracle expects", async function () {
    this.timeout(600_000);
    const doc = JSON.parse((await send(stack.url, { method: "GET", path: "/openapi.json" })).text) as {
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    const table = routes();
    const operations = Object.values(doc.paths).flatMap((item) =>
      Object.entries(item)
        .filter(([method]) => ["get", "put", "post", "delete", "patch"].includes(method))
        .map(([, op]) => op.operationId ?? "?"),
    );
    const unclassified = operations.filter((id) => !(id in table));
    expect(unclassified, "operations the matrix does not classify (add them to the table)").to.deep.equal([]);

    const failures: string[] = [];
    let count = 0;
    let grantPermits = 0;
    let dependencyRetries = 0;
    const tally = new Map<number, number>();
    for (const operation of operations) {
      const spec = table[operation]!;
      const cases: Case[] = [];
      for (const role of ROLES)
        for (const state of CONSENT_STATES)
          for (const purpose of spec.purposes ? PURPOSES : [undefined])
            cases.push({ role, state, ...(purpose ? { purpose } : {}) });
      let next = 0;
      const worker = async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          const who = actors.get(c.role) ?? null;
          const kind = typeof spec.kind === "function" ? spec.kind(c) : spec.kind;
          const expected = expectedStatus(kind, callers.get(c.role)!, {
            model,
            record: recordOf(c),
            now,
            opener: actors.get("clinicWithConsent")!.address,
          });
          tally.set(expected, (tally.get(expected) ?? 0) + 1);
          if (kind.kind === "release" && expected === 200 && c.role !== "patient") grantPermits++;
          // A 503 problem naming a dependency (a chain too slow on a loaded machine: the gateway fails closed) says
          // nothing about authorization: the case is asked again, and must still end with the expected status.
          let res = await send(stack.url, await spec.build(c, who));
          for (let retry = 0; retry < 5 && res.status === 503 && dependencyProblem(res.text); retry++) {
            dependencyRetries++;
            await new Promise((resolve) => setTimeout(resolve, 1_000));
            res = await send(stack.url, await spec.build(c, who));
          }
          count++;
          const label = `${operation} as ${c.role} / ${c.state}${c.purpose ? ` / ${c.purpose}` : ""}`;
          if (res.status !== expected) {
            failures.push(`${label}: expected ${expected}, got ${res.status} ${res.text.slice(0, 160)}`);
            continue;
          }
          if (res.status >= 400 && !(res.headers.get("content-type") ?? "").startsWith("application/problem+json"))
            failures.push(`${label}: ${res.status} is not problem+json`);
          if (res.status === 200 && spec.check) {
            const problem = spec.check(c, res.text ? JSON.parse(res.text) : undefined);
            if (problem) failures.push(`${label}: ${problem}`);
          }
        }
      };
      const auditBefore = await stack.services.store.auditSize();
      await Promise.all(Array.from({ length: spec.serial ? 1 : 4 }, worker));
      if (operation === "releaseKey") {
        // Every permit and every deny of a signed-in caller is an audit event, durable before the answer.
        const decided = cases.filter((c) => c.role !== "anonymous").length;
        const written = (await stack.services.store.auditSize()) - auditBefore;
        if (written < decided) failures.push(`releaseKey: ${decided} decisions, ${written} audit events`);
      }
    }
    console.log(
      `authorization matrix: ${count} cases (${operations.length} operations x ${ROLES.length} roles x ${CONSENT_STATES.length} consent states, x ${PURPOSES.length} purposes on the release routes; expected ${[
        ...tally.entries(),
      ]
        .sort((x, y) => x[0] - y[0])
        .map(([st, n]) => `${st}:${n}`)
        .join(
          " ",
        )}; ${grantPermits} key or content releases to grantees; ${dependencyRetries} retries after a fail-closed 503)`,
    );
    const byOperation = new Map<string, string[]>();
    for (const f of failures) {
      const op = f.slice(0, f.indexOf(" "));
      byOperation.set(op, [...(byOperation.get(op) ?? []), f]);
    }
    const digest = [...byOperation.entries()].map(
      ([op, list]) => `${op}: ${list.length} failing\n  ${list.slice(0, 4).join("\n  ")}`,
    );
    expect(failures.length, digest.join("\n")).to.equal(0);
  });
});
