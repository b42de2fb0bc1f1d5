// Study counts through the SDK on the real stack: a researcher registers a study that only counts, patients' wallets
// derive their categories from their own records and send them encrypted, and the researcher's count comes back as
// small-cell suppression releases it; such a study gets no rows.
import { expect } from "chai";
import { Wallet } from "ethers";
import { syntheticPatient } from "@hygeia/research";
import { CredentialType } from "@hygeia/identity";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential } from "../../gateway/test/support/auth.ts";
import { IssuerClient, PatientClient, ResearcherClient, SdkInputError, type RegisteredStudy } from "../src/index.ts";
import { rejection } from "./support/settle.ts";

const K = 3;
const SCOPES = ["aggregate:sex:female,male,other,unknown", "aggregate:site:north,south"];

describe("sdk research studies: encrypted counts", function () {
  let stack: TestStack;
  let researcher: ResearcherClient;
  let study: RegisteredStudy;
  const patients: PatientClient[] = [];
  const clients: { close(): Promise<void> }[] = [];
  const counted: Record<string, string>[] = [];

  before(async function () {
    stack = await startTestStack({ config: { research: { minCell: K } } });
    const connection = { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment };
    const irb = await IssuerClient.connect({ connection, signer: stack.accounts.irb });
    clients.push(irb);
    researcher = await ResearcherClient.connect({ ...connection, signer: stack.accounts.researcher });
    clients.push(researcher);
    await researcher.presentCredential(
      (await issueRoleCredential(stack, stack.accounts.researcher, "researcher")).credential,
    );
    const approval = (
      await irb.issue({
        type: CredentialType.EthicsApproval,
        subject: stack.accounts.researcher.address,
        claims: {
          studyId: "counts-2026",
          protocolTitle: "Counts",
          approvalNumber: "IRB-C",
          protocolHash: "0x" + "7a".repeat(32),
        },
        expires: new Date(Date.now() + 365 * 86_400_000),
      })
    ).credential;
    study = await researcher.registerStudy({ slug: "counts-2026", approval, scopes: SCOPES, endsAt: "90d" });
    for (let i = 0; i < 6; i++) {
      const wallet = Wallet.createRandom().connect(stack.provider);
      await stack.provider.send("anvil_setBalance", [wallet.address, "0xde0b6b3a7640000"]);
      const client = await PatientClient.connect({ signer: wallet, connection });
      clients.push(client);
      patients.push(client);
    }
  });

  after(async function () {
    for (const client of clients.reverse()) await client.close().catch(() => undefined);
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("serves the study with its dimensions and the joint key", async function () {
    expect(study.study.aggregates.map((d) => d.name)).to.deep.equal(["sex", "site"]);
    expect(study.study.tallyKey).to.be.a("string");
  });

  it("refuses to opt in without a category the wallet cannot derive, before anything is sent", async function () {
    const error = await rejection(patients[0]!.studies.optIn(study.studyId, syntheticPatient(1).resources));
    expect(error).to.be.instanceOf(SdkInputError);
    expect(error).to.include({ field: "facts.site" });
    expect(await patients[0]!.studies.contributions()).to.deep.equal([]);
  });

  it("counts the patients by the categories their wallets derived, as suppression releases them", async function () {
    for (const [i, patient] of patients.entries()) {
      const result = await patient.studies.optIn(study.studyId, syntheticPatient(10 + i).resources, {
        facts: { site: i < 3 ? "north" : "south" },
      });
      expect(result.shared).to.equal(0); // a study that only counts receives no record
      counted.push(result.counted);
    }
    const site = await researcher.aggregate(study.studyId, study.keys, "site");
    expect(site).to.deep.equal({ dimension: "site", cells: { north: 3, south: 3 }, total: 6, k: K });

    const sex = await researcher.aggregate(study.studyId, study.keys, "sex");
    const expected: Record<string, number> = { female: 0, male: 0, other: 0, unknown: 0 };
    for (const c of counted) expected[c.sex!]! += 1;
    const small = Object.values(expected).some((n) => n > 0 && n < K);
    expect(sex.total).to.equal(6);
    expect(sex.cells).to.deep.equal(small ? { female: null, male: null, other: null, unknown: null } : expected);
  });

  it("gives such a study no rows", async function () {
    const error = await rejection(researcher.pullDataset(study.studyId, study.keys));
    expect(error).to.include({ code: "PULL_NOT_APPROVED" });
  });
});
