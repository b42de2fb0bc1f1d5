// Research studies through the SDK on the real stack (anvil with the contracts, Helia, the SQLite gateway on a
// socket): an IRB issues the ethics approval (with a status entry), the researcher registers and serves the study,
// two patients' wallets check it and opt in with de-identified extracts, the researcher's pull verifies its signed
// manifest and decrypts both, an opt-out drops a patient from the next pull, and the refusals: a gateway that
// swaps the study key, a pull changed in transit, wrong keys, bad input before anything is sent.
import { expect } from "chai";
import { syntheticPatient } from "@hygeia/research";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { CredentialType } from "@hygeia/identity";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential } from "../../gateway/test/support/auth.ts";
import {
  IssuerClient,
  PatientClient,
  PullIntegrityError,
  ResearcherClient,
  SdkInputError,
  StudyNotVerifiedError,
  type FetchLike,
  type RegisteredStudy,
} from "../src/index.ts";
import { rejection } from "./support/settle.ts";

const SCOPES = ["fhir:Condition", "fhir:Observation", "fhir:Patient"];
const PROTOCOL_HASH = "0x" + "5e".repeat(32);

describe("sdk research studies: register, opt in, pull, opt out", function () {
  let stack: TestStack;
  let irb: IssuerClient;
  let researcher: ResearcherClient;
  let alice: PatientClient;
  let bob: PatientClient;
  let study: RegisteredStudy;
  /** What the researcher's fetch does to a dataset answer (null: nothing). */
  let tamperPull: ((body: { contributions: unknown[] }) => void) | null = null;
  const clients: { close(): Promise<void> }[] = [];

  const connection = (fetch?: FetchLike) => ({
    gatewayUrl: stack.url,
    rpcUrl: stack.local.rpcUrl,
    deployment: stack.deployment,
    ...(fetch ? { fetch } : {}),
  });

  /** A fetch that lets `change` rewrite the JSON answers of requests whose path matches. */
  function rewriting(match: RegExp, change: (body: Record<string, unknown>) => void): FetchLike {
    return async (input, init) => {
      const res = await fetch(input, init);
      if (!match.test(new URL(input).pathname) || !res.ok) return res;
      const body = (await res.json()) as Record<string, unknown>;
      change(body);
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    };
  }

  async function approval(slug: string, subject = stack.accounts.researcher.address) {
    return (
      await irb.issue({
        type: CredentialType.EthicsApproval,
        subject,
        claims: {
          studyId: slug,
          protocolTitle: `Outcomes study ${slug}`,
          approvalNumber: `IRB-${slug}`,
          protocolHash: PROTOCOL_HASH,
        },
        expires: new Date(Date.now() + 365 * 86_400_000),
      })
    ).credential;
  }

  async function patient(wallet: TestStack["accounts"]["alice"], fetch?: FetchLike): Promise<PatientClient> {
    const client = await PatientClient.connect({ signer: wallet, connection: connection(fetch) });
    clients.push(client);
    return client;
  }

  before(async function () {
    stack = await startTestStack();
    irb = await IssuerClient.connect({ connection: connection(), signer: stack.accounts.irb });
    clients.push(irb);
    researcher = await ResearcherClient.connect({
      ...connection(rewriting(/\/dataset$/, (body) => tamperPull?.(body as unknown as { contributions: unknown[] }))),
      signer: stack.accounts.researcher,
    });
    clients.push(researcher);
    await researcher.presentCredential(
      (await issueRoleCredential(stack, stack.accounts.researcher, "researcher")).credential,
    );
    alice = await patient(stack.accounts.alice);
    bob = await patient(stack.accounts.bob);
  });

  after(async function () {
    for (const client of clients.reverse()) await client.close().catch(() => undefined);
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("refuses a registration its approval does not approve, before anything is sent", async function () {
    const other = await approval("other-2026");
    const error = await rejection(
      researcher.registerStudy({ slug: "outcomes-2026", approval: other, scopes: SCOPES, endsAt: "90d" }),
    );
    expect(error).to.be.instanceOf(SdkInputError);
    expect(error).to.include({ field: "slug", kind: "usage" });
    const toBob = await approval("outcomes-2026", stack.accounts.bob.address);
    expect(
      await rejection(
        researcher.registerStudy({ slug: "outcomes-2026", approval: toBob, scopes: SCOPES, endsAt: "90d" }),
      ),
    ).to.include({ field: "approval", kind: "usage" });
    expect(
      await rejection(
        researcher.registerStudy({ slug: "outcomes-2026", approval: other, scopes: ["fhir:Nope!"], endsAt: "90d" }),
      ),
    ).to.include({ field: "scopes[0]" });
    expect(await researcher.studies()).to.deep.equal([]);
  });

  it("registers the study on chain with a fresh key and serves it; patients list it with that key", async function () {
    study = await researcher.registerStudy({
      slug: "outcomes-2026",
      approval: await approval("outcomes-2026"),
      scopes: SCOPES,
      endsAt: "90d",
    });
    expect(study.studyId).to.match(/^0x[0-9a-f]{64}$/);
    expect(study.keys.secretKey).to.have.length(32);
    expect(study.study).to.include({
      title: "Outcomes study outcomes-2026",
      researcher: stack.accounts.researcher.address,
    });
    const listed = (await alice.studies.list()).find((s) => s.studyId === study.studyId);
    expect(listed?.scopes).to.deep.equal(SCOPES);
    expect(Buffer.from(listed!.encryptionKey, "base64url")).to.deep.equal(Buffer.from(study.keys.publicKey));
    expect((await researcher.studies()).map((s) => s.studyId)).to.deep.equal([study.studyId]);
  });

  it("refuses to opt in when the gateway serves another study key than the registered one: nothing is uploaded", async function () {
    const swapped = Buffer.from(generateX25519KeyPair().publicKey).toString("base64url");
    const uploads: string[] = [];
    const lying: FetchLike = async (input, init) => {
      if (init?.method === "PUT" || init?.method === "POST") uploads.push(new URL(input).pathname);
      return rewriting(/^\/v1\/studies\/0x/, (body) => {
        body["encryptionKey"] = swapped;
      })(input, init);
    };
    const fooled = await patient(stack.accounts.clinic2, lying);
    const error = await rejection(fooled.studies.optIn(study.studyId, syntheticPatient(9).resources));
    expect(error).to.be.instanceOf(StudyNotVerifiedError);
    expect(error).to.include({ code: "STUDY_MISMATCH", kind: "integrity" });
    expect((error as StudyNotVerifiedError).checks.map((c) => c.name)).to.deep.equal(["encryption-key"]);
    expect(uploads.filter((path) => !path.startsWith("/v1/auth"))).to.deep.equal([]);
  });

  it("checks the study itself: registration, approval signature, status and IRB trust, and its binding", async function () {
    const verified = await alice.studies.verify(study.studyId);
    expect(verified.approval).to.include({ slug: "outcomes-2026", protocolHash: PROTOCOL_HASH });
    expect(verified.checks).to.include.members(["registration", "open", "signature", "status", "issuer-trust"]);
  });

  it("refuses to share FHIR types the study did not ask for", async function () {
    const error = await rejection(
      alice.studies.optIn(study.studyId, syntheticPatient(1).resources, { resourceTypes: ["Encounter"] }),
    );
    expect(error).to.include({ field: "resourceTypes", kind: "usage" });
  });

  let aliceCid: string;
  let bobCid: string;

  it("opts two patients in with de-identified extracts; the pull verifies and holds both, with no identifier", async function () {
    const preview = await alice.studies.preview(study.studyId, syntheticPatient(1).resources);
    expect(await alice.studies.contributions()).to.deep.equal([]); // a preview sends nothing
    const a = await alice.studies.optIn(study.studyId, syntheticPatient(1).resources);
    expect(a.report).to.deep.equal(preview.report);
    expect(a.resourceTypes).to.deep.equal(["Condition", "Observation", "Patient"]);
    expect(a.report.kept).to.have.property("Patient", 1);
    expect(a.report.omitted.map((o) => o.reason)).to.include("not-requested");
    expect(a.grant.transactions).to.have.length(1);
    aliceCid = a.cid;
    bobCid = (await bob.studies.optIn(study.studyId, syntheticPatient(2).resources)).cid;
    const mine = await alice.studies.contributions();
    expect(mine.map((c) => c.cid)).to.deep.equal([aliceCid]);

    const progress: number[] = [];
    const pulled = await researcher.pullDataset(study.studyId, study.keys, {
      onProgress: (p) => progress.push(p.done),
    });
    expect(pulled.extracts.map((e) => e.cid)).to.deep.equal([aliceCid, bobCid].sort());
    expect(pulled.unreadable).to.deep.equal([]);
    expect(pulled.manifest).to.include({ count: 2, study: study.studyId });
    expect(pulled.manifest.note).to.match(/^hygeia\/dataset-pull\/v1\n/);
    expect(progress.at(-1)).to.equal(2);
    const text = pulled.extracts.map((e) => e.resources.map((r) => JSON.stringify(r)).join("\n")).join("\n");
    for (const seed of [1, 2])
      for (const identifier of syntheticPatient(seed).identifiers) expect(text, identifier).not.to.contain(identifier);
    for (const extract of pulled.extracts)
      expect(extract.resources.map((r) => r.resourceType)).to.include.members(["Patient", "Observation"]);
  });

  it("refuses a pull changed in transit: nothing of it is returned", async function () {
    tamperPull = (body) => {
      body.contributions = body.contributions.slice(1);
    };
    try {
      const error = await rejection(researcher.pullDataset(study.studyId, study.keys));
      expect(error).to.be.instanceOf(PullIntegrityError);
      expect(error).to.include({ code: "PULL_MANIFEST_MISMATCH", kind: "integrity" });
    } finally {
      tamperPull = null;
    }
  });

  it("refuses to pull with another key pair than the study's", async function () {
    const error = await rejection(researcher.pullDataset(study.studyId, generateX25519KeyPair()));
    expect(error).to.include({ field: "studyKeys", kind: "usage" });
  });

  it("opts a patient out (grant revoked and contribution deleted): the next pull leaves them out", async function () {
    const out = await alice.studies.optOut(study.studyId);
    expect(out.revoked.grantees).to.deep.equal([stack.accounts.researcher.address]);
    expect(out.withdrawn?.cid).to.equal(aliceCid);
    expect((await alice.consent.list()).filter((c) => c.purpose === "Research")).to.deep.equal([]);
    const pulled = await researcher.pullDataset(study.studyId, study.keys);
    expect(pulled.extracts.map((e) => e.cid)).to.deep.equal([bobCid]);
    const again = await alice.studies.optOut(study.studyId);
    expect(again).to.deep.include({ revoked: { grantees: [], transactions: [] }, withdrawn: null });
  });

  it("leaves out a patient who only revoked the research grant", async function () {
    await bob.consent.revoke({
      grantee: stack.accounts.researcher.address,
      scopes: [`study:${study.studyId}`],
      purpose: "Research",
    });
    const pulled = await researcher.pullDataset(study.studyId, study.keys);
    expect(pulled.extracts).to.deep.equal([]);
    expect(pulled.excluded).to.equal(1);
  });

  it("closes the study on chain: the gateway stops serving it", async function () {
    const closed = await researcher.closeStudy(study.studyId);
    expect(closed.transaction).to.match(/^0x[0-9a-f]{64}$/);
    const error = await rejection(alice.studies.get(study.studyId));
    expect(error).to.include({ code: "STUDY_CLOSED", kind: "not-found" }); // 410: gone for good
  });
});
