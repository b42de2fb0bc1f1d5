// ClinicClient and ResearcherClient against the real stack (anvil with the contracts, Helia, the SQLite gateway on a
// socket): roles proved with board-issued credentials (and refused with the failed checks), the clinic's key
// published in its DID document, records fetched and decrypted under consent and refused without it, a health
// record credential issued by the clinic. The patient's side is done by hand over the gateway API (as
// packages/gateway/examples/patient-journey.ts does), independent of the SDK's patient client.
import { expect } from "chai";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConsentRegistryClient,
  PatientScopes,
  TransactionSender,
  TrustRegistryClient,
  TrustRole,
  signGrant,
  signedConsentToJson,
} from "@hygeia/chain";
import {
  deriveConsentSecretFromWalletSignature,
  deriveKeyPairFromWalletSignature,
  deriveScopeKey,
  encryptToBuffer,
  generateDataKey,
  generateX25519KeyPair,
  keyDerivationTypedDataForEthers,
  wrapKey,
  x25519KeysFromDidDocument,
  type X25519KeyPair,
} from "@hygeia/crypto";
import { IdentityAgent, createAgentVerifier, ethrNetworkFromDeployment } from "@hygeia/identity";
import { parseCid, recordKeyContext } from "@hygeia/storage";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential, revokeRole } from "../../gateway/test/support/auth.ts";
import {
  AccessRefusedError,
  GatewayTransport,
  SdkInputError,
  currentSession,
  signIn,
  type Progress,
} from "../src/index.ts";
import { ClinicClient } from "../src/clinic/client.ts";
import { RecordAccessRefusedError, RoleRefusedError } from "../src/clinic/errors.ts";
import { ResearcherClient } from "../src/researcher/client.ts";

const caught = (promise: Promise<unknown>) => promise.catch((error: unknown) => error);

describe("sdk ClinicClient and ResearcherClient", function () {
  let stack: TestStack;
  let clinic: ClinicClient;
  const clinicKeys = generateX25519KeyPair();

  before(async function () {
    stack = await startTestStack();
    clinic = await ClinicClient.connect({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
      signer: stack.accounts.clinic,
      encryptionKeys: [clinicKeys],
    });
  });
  after(async function () {
    await clinic?.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  describe("roles", function () {
    it("presents its accreditation and gets the clinic role on its session", async function () {
      const issued = await issueRoleCredential(stack, stack.accounts.clinic, "clinic");
      const granted = await clinic.presentAccreditation(issued.credential);
      expect(granted.role).to.equal("clinic");
      expect(granted.roles).to.include("clinic");
      expect(granted.claims).to.include({ clinicName: "Asclepius Virtual Clinic" });
      expect((await currentSession(clinic.connection.transport)).roles).to.include("clinic");
      expect(clinic.accreditation).to.equal(issued.credential);
    });

    it("refuses an accreditation from an issuer that is no medical board with ROLE_CREDENTIAL_REJECTED and the failed checks", async function () {
      const other = await ClinicClient.connect({
        gatewayUrl: stack.url,
        rpcUrl: stack.local.rpcUrl,
        deployment: stack.deployment,
        signer: stack.accounts.clinic2,
        encryptionKeys: [generateX25519KeyPair()],
      });
      try {
        // bob is accredited for nothing: his "accreditation" of clinic2 must not count.
        const forged = await issueRoleCredential(stack, stack.accounts.clinic2, "clinic", {
          issuer: stack.accounts.bob,
        });
        const error = await caught(other.presentAccreditation(forged.credential));
        expect(error).to.be.instanceOf(RoleRefusedError);
        expect(error).to.be.instanceOf(AccessRefusedError);
        const refused = error as RoleRefusedError;
        expect([refused.code, refused.kind]).to.deep.equal(["ROLE_CREDENTIAL_REJECTED", "refused"]);
        expect(refused.checks.map((c) => c.name)).to.include("issuer-trust");
        expect(refused.hint).to.match(/medical board/);
        expect((await currentSession(other.connection.transport)).roles).to.deep.equal([]);
      } finally {
        await other.close();
      }
    });

    it("refuses an accreditation its board revoked, naming the failed status check", async function () {
      const other = await ClinicClient.connect({
        gatewayUrl: stack.url,
        rpcUrl: stack.local.rpcUrl,
        deployment: stack.deployment,
        signer: stack.accounts.clinic2,
        encryptionKeys: [generateX25519KeyPair()],
      });
      try {
        const issued = await issueRoleCredential(stack, stack.accounts.clinic2, "clinic");
        await revokeRole(stack, issued);
        // The gateway reuses a status list it fetched for statusListTtlMs: the revocation bites after that.
        await new Promise((resolve) => setTimeout(resolve, stack.config.identity.statusListTtlMs + 500));
        const error = await caught(other.presentAccreditation(issued.credential));
        expect(error, String(error)).to.be.instanceOf(RoleRefusedError);
        const refused = error as RoleRefusedError;
        expect(refused.code).to.equal("ROLE_CREDENTIAL_REJECTED");
        expect(refused.checks.find((c) => c.name === "status")).to.include({ code: "REVOKED" });
        expect(refused.hint).to.match(/revoked/);
      } finally {
        await other.close();
      }
    });

    it("refuses to take over a connection that already carries another session", async function () {
      const error = await caught(
        ClinicClient.connect({
          connection: clinic.connection,
          signer: stack.accounts.clinic2,
          encryptionKeys: [generateX25519KeyPair()],
        }),
      );
      expect(error).to.be.instanceOf(SdkInputError);
      expect(error).to.include({ field: "connection", kind: "usage" });
      expect((await currentSession(clinic.connection.transport)).roles).to.include("clinic");
    });

    it("lets a researcher present a ResearcherCredential and get the researcher role", async function () {
      const researcher = await ResearcherClient.connect({
        gatewayUrl: stack.url,
        rpcUrl: stack.local.rpcUrl,
        deployment: stack.deployment,
        signer: stack.accounts.researcher,
      });
      try {
        const issued = await issueRoleCredential(stack, stack.accounts.researcher, "researcher");
        // A clinic accreditation is not a researcher credential.
        const wrongType = await issueRoleCredential(stack, stack.accounts.researcher, "clinic");
        const error = await caught(researcher.presentCredential(wrongType.credential));
        expect(error).to.be.instanceOf(RoleRefusedError);
        const granted = await researcher.presentCredential(issued.credential);
        expect(granted.roles).to.deep.equal(["researcher"]);
        expect(granted.claims).to.include({ name: "Dr. Rosalind Franklin" });
        expect((await currentSession(researcher.connection.transport)).roles).to.deep.equal(["researcher"]);
      } finally {
        await researcher.close();
      }
    });
  });

  describe("records", function () {
    const alice = () => stack.accounts.alice;
    let patient: GatewayTransport;
    let aliceKeys: X25519KeyPair;
    let scopes: PatientScopes;
    const observation = { resourceType: "Observation", status: "final", code: { text: "HbA1c" }, valueQuantity: 5.4 };
    const scan = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
    let labCid: string; // laboratory, wrapped to the clinic: readable
    let imagingCid: string; // imaging, wrapped to the clinic, not granted: CONSENT_REQUIRED
    let unsharedCid: string; // laboratory, not wrapped to the clinic: KEY_NOT_SHARED

    /** The patient's wallet by hand: encrypt, upload, wrap (self and, if asked, the clinic's published key), register. */
    async function addRecord(
      plaintext: Uint8Array,
      descriptor: { resourceType?: string; categories: string[] },
      wrapToClinic: boolean,
    ): Promise<string> {
      const dek = generateDataKey();
      const { cid } = await patient.upload<{ cid: string }>("/v1/uploads", await encryptToBuffer(plaintext, dek));
      const context = recordKeyContext(parseCid(cid));
      const wrap = (publicKey: Uint8Array) => Buffer.from(wrapKey(dek, publicKey, context)).toString("base64url");
      const wraps = [{ recipient: alice().address, wrap: wrap(aliceKeys.publicKey) }];
      if (wrapToClinic) {
        // The clinic's key as the patient's wallet finds it: in the clinic's DID document on chain.
        const [clinicKey] = x25519KeysFromDidDocument(await clinic.agent.resolve(clinic.did));
        wraps.push({ recipient: clinic.address, wrap: wrap(clinicKey!.publicKey) });
      }
      const scopeIds = { [alice().address]: scopes.forRecord({ cid, ...descriptor }) };
      await patient.request("POST", "/v1/records", { json: { cid, scopeIds, wraps } });
      return cid;
    }

    before(async function () {
      const published = await clinic.publishKey();
      expect(published.changed).to.equal(true);
      patient = new GatewayTransport({ url: stack.url });
      await signIn(patient, alice());
      const kd = keyDerivationTypedDataForEthers();
      const signature = await alice().signTypedData(kd.domain, kd.types, kd.message);
      aliceKeys = deriveKeyPairFromWalletSignature(signature, { expectedAddress: alice().address });
      const secret = deriveConsentSecretFromWalletSignature(signature, { expectedAddress: alice().address });
      scopes = new PatientScopes(deriveScopeKey(secret), alice().address);

      const json = new TextEncoder().encode(JSON.stringify(observation));
      labCid = await addRecord(json, { resourceType: "Observation", categories: ["laboratory"] }, true);
      imagingCid = await addRecord(scan, { categories: ["imaging"] }, true);
      unsharedCid = await addRecord(
        new TextEncoder().encode('{"resourceType":"Observation"}'),
        {
          categories: ["laboratory"],
        },
        false,
      );

      // Alice grants the clinic "category:laboratory" for Treatment, gasless (the gateway relays her signature).
      const registry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, stack.provider);
      const now = Math.floor(Date.now() / 1000);
      const { domain, message } = await registry.nextGrantTypedData({
        patient: alice().address,
        grantee: clinic.address,
        scope: scopes.id("category:laboratory"),
        purpose: "Treatment",
        expiry: now + 30 * 86400,
        deadline: now + 600,
      });
      const signed = await signGrant(alice(), domain, { ...message, patient: alice().address });
      await patient.request("POST", "/v1/consents/grants", {
        query: { wait: "receipt" },
        json: { signed: signedConsentToJson(signed) },
      });
      for (let i = 0; i < 100; i++) {
        const { consents } = await patient.request<{ consents: { grantee: string }[] }>("GET", "/v1/consents");
        if (consents.some((c) => c.grantee === clinic.address.toLowerCase())) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    });

    it("publishes the clinic's key once: the DID document lists it, and publishing again sends nothing", async function () {
      const keys = x25519KeysFromDidDocument(await clinic.agent.resolve(clinic.did));
      expect(keys.map((k) => Buffer.from(k.publicKey).toString("hex"))).to.deep.equal([
        Buffer.from(clinicKeys.publicKey).toString("hex"),
      ]);
      const again = await clinic.publishKey();
      expect(again).to.include({ changed: false });
      expect(again.transactions).to.deep.equal([]);
    });

    it("lists exactly the records its consent covers, for that purpose only", async function () {
      const listed = await clinic.records(alice().address, { purpose: "Treatment" });
      expect(listed.map((r) => r.cid).sort()).to.deep.equal([labCid, unsharedCid].sort());
      expect(listed.every((r) => r.scope === scopes.id("category:laboratory"))).to.equal(true);
      expect(await clinic.records(alice().address, { purpose: "Research" })).to.deep.equal([]);
      const byScope = await clinic.records(`did:ethr:0x7a69:${alice().address}`, {
        purpose: "Treatment",
        scope: scopes.id("fhir:Observation"),
      });
      expect(byScope).to.deep.equal([]); // consent was granted on the category's id, not the type's
    });

    it("fetches and decrypts a record it has consent for, with progress and the release's audit index", async function () {
      const reports: Progress[] = [];
      const fetched = await clinic.fetchRecord(alice().address, labCid, {
        purpose: "Treatment",
        onProgress: (p) => reports.push(p),
      });
      expect(fetched.fhir).to.deep.equal(observation);
      expect(JSON.parse(new TextDecoder().decode(fetched.bytes))).to.deep.equal(observation);
      expect(fetched).to.include({ cid: labCid, purpose: "Treatment", emergency: false });
      expect(fetched.auditIndex).to.be.a("number");
      expect(fetched.auditLog).to.be.a("string").and.not.equal("");
      expect(reports.at(-1)).to.include({ done: true });
      expect(reports.at(-1)!.bytes).to.be.above(0);
    });

    it("refuses a record it has no consent for with AccessRefusedError CONSENT_REQUIRED and a hint", async function () {
      const error = await caught(clinic.fetchRecord(alice().address, imagingCid, { purpose: "Treatment" }));
      expect(error).to.be.instanceOf(RecordAccessRefusedError);
      expect(error).to.be.instanceOf(AccessRefusedError);
      const refused = error as RecordAccessRefusedError;
      expect([refused.code, refused.kind]).to.deep.equal(["CONSENT_REQUIRED", "refused"]);
      expect(refused.hint).to.match(/grant you consent/);
      expect(refused).to.include({ cid: imagingCid, patient: alice().address.toLowerCase(), purpose: "Treatment" });
      // The same record under a purpose it was not granted for.
      const wrongPurpose = await caught(clinic.fetchRecord(alice().address, labCid, { purpose: "Research" }));
      expect((wrongPurpose as RecordAccessRefusedError).code).to.equal("CONSENT_REQUIRED");
    });

    it("fetchAll returns the readable records and the refused ones, each with its typed refusal", async function () {
      const all = await clinic.fetchAll(alice().address, { purpose: "Treatment" });
      expect(all.readable.map((r) => r.cid)).to.deep.equal([labCid]);
      expect(all.refused.map((r) => [r.cid, r.error.code])).to.deep.equal([[unsharedCid, "KEY_NOT_SHARED"]]);
      expect(all.refused[0]!.error.hint).to.match(/share/);

      const chosen = await clinic.fetchAll(alice().address, { purpose: "Treatment", cids: [labCid, imagingCid] });
      expect(chosen.readable.map((r) => r.fhir)).to.deep.equal([observation]);
      expect(chosen.refused.map((r) => [r.cid, r.error.code])).to.deep.equal([[imagingCid, "CONSENT_REQUIRED"]]);
    });

    it("streams a record it may read to a file", async function () {
      const dir = await mkdtemp(join(tmpdir(), "hygeia-sdk-clinic-"));
      try {
        const saved = await clinic.fetchRecordToFile(alice().address, labCid, join(dir, "lab.json"), {
          purpose: "Treatment",
        });
        expect(saved.plaintextBytes).to.equal(JSON.stringify(observation).length);
        expect(JSON.parse(await readFile(saved.path, "utf8"))).to.deep.equal(observation);
        const refused = await caught(
          clinic.fetchRecordToFile(alice().address, imagingCid, join(dir, "scan.bin"), { purpose: "Treatment" }),
        );
        expect((refused as RecordAccessRefusedError).code).to.equal("CONSENT_REQUIRED");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it("issues a health-record credential after a visit, which verifies while the clinic is accredited", async function () {
      const trust = new TrustRegistryClient(
        stack.deployment.contracts.TrustRegistry,
        new TransactionSender(stack.accounts.governance),
      );
      const now = Math.floor(Date.now() / 1000);
      await trust.accredit({
        issuer: clinic.address,
        role: TrustRole.Clinic,
        validFrom: now - 60,
        validUntil: now + 86_400,
      });
      const bundle = { resourceType: "Bundle" as const, type: "collection", entry: [{ resource: observation }] };
      const credential = await clinic.issueHealthRecord({ patient: alice().address, bundle });

      const verifierAgent = await IdentityAgent.create({
        network: ethrNetworkFromDeployment(stack.deployment, stack.local.rpcUrl),
        watchRegistry: false,
      });
      try {
        const verifier = createAgentVerifier(verifierAgent, {
          trustRegistry: stack.deployment.contracts.TrustRegistry,
        });
        const verified = await verifier.verifyCredential(credential);
        expect(verified.ok, JSON.stringify(verified.checks.filter((c) => !c.pass))).to.equal(true);
        expect(verified.credential).to.include({ type: "HealthRecordCredential", issuer: clinic.did });
        expect(verified.credential!.subject).to.deep.include({
          id: `did:ethr:0x7a69:${alice().address}`,
          fhirBundle: bundle,
        });
      } finally {
        await verifierAgent.close();
      }
      const bad = await caught(
        clinic.issueCredential({
          type: "HealthRecordCredential",
          subject: {
            id: `did:ethr:0x7a69:${alice().address}`,
            fhirVersion: "4.0.1",
            fhirBundle: { resourceType: "Bundle", type: "nonsense" },
          },
        }),
      );
      expect(bad).to.include({ code: "SCHEMA_VIOLATION", kind: "usage" });
    });
  });
});
