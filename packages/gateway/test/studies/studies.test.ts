// Studies on the real stack (anvil, Helia, SQLite, HTTP): an IRB-approved study served once its approval verifies,
// patients' de-identified encrypted contributions, the researcher's consent-checked pull with its signed manifest,
// and the ways it refuses.
import { expect } from "chai";
import { StudyRegistryClient, TransactionSender } from "@hygeia/chain";
import { decryptToBuffer, unwrapKey } from "@hygeia/crypto";
import { PullManifestError, contributionWrapContext, verifyPull } from "@hygeia/research";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { auditEventsOf, registryAs, signInParties, synced, upload } from "../records/world.ts";
import {
  approve,
  contributor,
  irbOf,
  optIn,
  pull,
  registerStudy,
  revokeApproval,
  serveStudy,
  type Contributor,
  type Irb,
  type Pull,
  type Study,
} from "./world.ts";

describe("gateway studies: approval, contributions, dataset pull", function () {
  let stack: TestStack;
  let irb: Irb;
  let researcherToken: string;
  let researcher: string;
  let study: Study;
  let alice: Contributor;
  let bob: Contributor;
  let clinic: Contributor;

  before(async function () {
    stack = await startTestStack();
    irb = await irbOf(stack, stack.accounts.irb);
    researcher = stack.accounts.researcher.address.toLowerCase();
    researcherToken = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, researcherToken, stack.accounts.researcher, "researcher");
    study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "outcomes-2026"),
    );
    const [a, b, c] = await signInParties(stack, [stack.accounts.alice, stack.accounts.bob, stack.accounts.clinic2]);
    alice = contributor(a!, 1);
    bob = contributor(b!, 2);
    clinic = contributor(c!, 3);
  });
  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("serves nothing of a study before its researcher presents the approval", async function () {
    const res = await request(stack, "GET", `/v1/studies/${study.studyId}`, { token: alice.token });
    expectProblem(res, 404, "STUDY_NOT_SERVED");
  });

  it("refuses an approval the registration does not name, or scopes it did not register", async function () {
    const other = await approve(irb, stack.accounts.researcher, "outcomes-2026");
    const wrongApproval = await serveStudy(stack, researcherToken, { ...study, approval: other });
    expectProblem(wrongApproval, 403, "APPROVAL_NOT_REGISTERED");
    const wrongScopes = await serveStudy(stack, researcherToken, study, ["fhir:Patient"]);
    expectProblem(wrongScopes, 403, "STUDY_SCOPES_MISMATCH");
  });

  it("refuses a registration with other scopes than the approval names", async function () {
    const narrow = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "narrow-2026", { scopes: ["fhir:Patient"] }),
    );
    expectProblem(await serveStudy(stack, researcherToken, narrow), 403, "APPROVAL_SCOPES_MISMATCH");
    const exact = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "exact-2026", { scopes: ["fhir:Patient"] }),
      { scopes: ["fhir:Patient"] },
    );
    expect((await serveStudy(stack, researcherToken, exact)).status).to.equal(201);
  });

  it("refuses the approval from anyone but the study's researcher, and from a session without the researcher role", async function () {
    const res = await serveStudy(stack, alice.token, study);
    expectProblem(res, 403, "ROLE_REQUIRED");
  });

  it("serves the study once its approval verifies; patients list it with its key and scopes", async function () {
    const res = await serveStudy(stack, researcherToken, study);
    expect(res.status, res.text).to.equal(201);
    const list = await request(stack, "GET", "/v1/studies", { token: alice.token });
    expect(list.status, list.text).to.equal(200);
    const listed = (
      list.json as { studies: { studyId: string; scopes: string[]; encryptionKey: string; title: string }[] }
    ).studies;
    const mine = listed.find((s) => s.studyId === study.studyId);
    expect(mine?.scopes).to.deep.equal(["fhir:Condition", "fhir:Observation", "fhir:Patient"]);
    expect(mine?.title).to.equal("Outcomes study outcomes-2026");
    expect(Buffer.from(mine!.encryptionKey, "base64url")).to.deep.equal(Buffer.from(study.keys.publicKey));
  });

  it("refuses a contribution of a CID the patient did not upload", async function () {
    const up = await upload(stack, bob.token, new Uint8Array([1, 2, 3, 4]));
    const cid = (up.json as { cid: string }).cid;
    const res = await request(stack, "POST", `/v1/studies/${study.studyId}/contributions`, {
      token: alice.token,
      json: { cid, wrap: "AQE" + "A".repeat(149), scopeId: "0x" + "11".repeat(32) },
    });
    expectProblem(res, 409, "UPLOAD_NOT_STAGED");
  });

  let pulled: Pull;
  let aliceCid: string;

  it("pulls the contributions of consenting patients only; the researcher decrypts them and finds no identifier", async function () {
    const a = await optIn(stack, alice, study, researcher);
    aliceCid = a.cid;
    const b = await optIn(stack, bob, study, researcher);
    // clinic2 contributes but never grants: not pulled.
    await optIn(stack, clinic, study, researcher, { grant: false });

    const res = await pull(stack, researcherToken, study.studyId);
    expect(res.status, res.text).to.equal(200);
    pulled = res.json as Pull;
    expect(pulled.contributions.map((c) => c.cid)).to.deep.equal([a.cid, b.cid].sort());
    expect(pulled.excluded).to.equal(1);
    expect(JSON.stringify(pulled)).not.to.contain(alice.address.slice(2));
    const manifest = verifyPull({
      manifest: pulled.manifest,
      verifierKey: pulled.verifierKey,
      contributions: pulled.contributions,
      study: study.studyId,
      researcher,
    });
    expect(manifest.count).to.equal(2);

    for (const [contribution, identifiers] of [
      [pulled.contributions.find((c) => c.cid === a.cid)!, a.identifiers],
      [pulled.contributions.find((c) => c.cid === b.cid)!, b.identifiers],
    ] as const) {
      const dek = unwrapKey(
        Buffer.from(contribution.wrap, "base64url"),
        study.keys,
        contributionWrapContext(study.studyId, contribution.cid),
      );
      const content = await fetch(
        `${stack.url}/v1/studies/${study.studyId}/contributions/${contribution.cid}/content`,
        {
          headers: { authorization: `Bearer ${researcherToken}` },
        },
      );
      expect(content.status).to.equal(200);
      const ciphertext = new Uint8Array(await content.arrayBuffer());
      const text = new TextDecoder().decode(await decryptToBuffer(ciphertext, dek));
      const resources = JSON.parse(text) as { resourceType: string }[];
      expect(resources.some((r) => r.resourceType === "Patient")).to.equal(true);
      for (const identifier of identifiers) expect(text, identifier).not.to.contain(identifier);
    }
  });

  it("records the pull in each included patient's audit log, and not in the excluded one's", async function () {
    const events = (patient: Contributor) =>
      auditEventsOf(stack, patient.address).then((list) => list.filter((e) => e.type === "dataset_pull"));
    expect(await events(alice)).to.have.length(1);
    expect((await events(alice))[0]).to.include({ actor: researcher, record: aliceCid, reason: "CONSENT_GRANTED" });
    expect(await events(clinic)).to.have.length(0);
  });

  it("detects a pull changed in transit: a dropped contribution fails the manifest check", function () {
    expect(() =>
      verifyPull({
        manifest: pulled.manifest,
        verifierKey: pulled.verifierKey,
        contributions: pulled.contributions.slice(1),
        study: study.studyId,
      }),
    ).to.throw(PullManifestError, /counts 2/);
  });

  it("leaves a patient who revoked out of the next pull", async function () {
    await registryAs(stack, alice.wallet).revoke({
      grantee: researcher,
      scope: alice.scopes.id(`study:${study.studyId}`),
      purpose: "Research",
    });
    await synced(stack);
    const res = await pull(stack, researcherToken, study.studyId);
    expect(res.status, res.text).to.equal(200);
    const next = res.json as Pull;
    expect(next.contributions.map((c) => c.cid)).not.to.include(aliceCid);
    expect(next.contributions).to.have.length(1);
  });

  it("lets a patient opt out: the contribution is gone from the next pull at once", async function () {
    const res = await request(stack, "DELETE", `/v1/studies/${study.studyId}/contributions/mine`, { token: bob.token });
    expect(res.status, res.text).to.equal(200);
    const next = (await pull(stack, researcherToken, study.studyId)).json as Pull;
    expect(next.contributions).to.deep.equal([]);
    const withdrawn = (await auditEventsOf(stack, bob.address)).filter((e) => e.type === "contribution_withdrawn");
    expect(withdrawn).to.have.length(1);
    expect(withdrawn[0]).to.include({ actor: bob.address, reason: "STUDY_OPT_OUT" });
    const again = await request(stack, "DELETE", `/v1/studies/${study.studyId}/contributions/mine`, {
      token: bob.token,
    });
    expectProblem(again, 404, "NO_CONTRIBUTION");
  });

  it("refuses the pull to anyone but the study's researcher", async function () {
    const res = await pull(stack, alice.token, study.studyId);
    expectProblem(res, 403, "ROLE_REQUIRED");
  });

  it("stops serving a study whose approval the IRB revoked (within one status-list TTL)", async function () {
    await revokeApproval(stack, irb, study.approval);
    const deadline = Date.now() + 10_000;
    let res = await request(stack, "GET", `/v1/studies/${study.studyId}`, { token: alice.token });
    while (res.status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      res = await request(stack, "GET", `/v1/studies/${study.studyId}`, { token: alice.token });
    }
    expectProblem(res, 410, "STUDY_WITHDRAWN");
    expectProblem(await pull(stack, researcherToken, study.studyId), 410, "STUDY_WITHDRAWN");
  });

  it("stops serving a study its researcher closed on chain", async function () {
    const second = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "second-2026"),
    );
    expect((await serveStudy(stack, researcherToken, second)).status).to.equal(201);
    await new StudyRegistryClient(
      stack.deployment.contracts.StudyRegistry!,
      new TransactionSender(stack.accounts.researcher),
    ).close(second.studyId);
    expectProblem(
      await request(stack, "GET", `/v1/studies/${second.studyId}`, { token: alice.token }),
      410,
      "STUDY_CLOSED",
    );
  });
});
