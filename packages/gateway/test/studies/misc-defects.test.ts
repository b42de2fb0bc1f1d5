// Break-it: smaller defects of the study routes, on the real stack (anvil, Helia, SQLite, HTTP).
//
// - An aggregate release uses every included patient's facts, and no patient's audit log says so.
// - A contribution's ciphertext is streamed to the researcher with no consent check (after a revoke, too), where a
//   record's ciphertext is served only while consent is live.
// - Re-presenting a study's approval with another tally share is accepted; the facts already summed were encrypted
//   to the old joint key, and from then on every count of the study is a 500.
// - A study dimension named `constructor` made a contribution without facts a 500 (Object.prototype read as the
//   patient's facts): such names are now refused when the study is served.
// - Changing HYGEIA_RESEARCH_MIN_CELL makes every later count of a dimension with history a 500, for good (each
//   attempt burns the query).
//
// Each test failed before its fix (break-it review); they now pin the fixes.
import { expect } from "chai";
import { Writable } from "node:stream";
import { Wallet } from "ethers";
import { deriveTallyKeyShare, partialDecrypt, proveTallyShare } from "@hygeia/crypto";
import { partialContext, tallyShareContext } from "@hygeia/research";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { auditEventsOf, party, registryAs, synced } from "../records/world.ts";
import {
  aggregate,
  approve,
  contributor,
  irbOf,
  optIn,
  pull,
  registerStudy,
  serveStudy,
  type Contributor,
  type Irb,
  type Pull,
  type Study,
} from "./world.ts";

const K = 3;
const SEX = "aggregate:sex:female,male";
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

describe("gateway studies (break-it review): smaller defects", function () {
  let stack: TestStack;
  let irb: Irb;
  let token: string;
  let researcher: string;
  let seed = 700;
  let slug = 0;
  const logs: string[] = [];
  /** The gateway's logged cause of the internal error of request `res` (the problem's instance names it). */
  const causeOf = (res: { json: unknown }): string => {
    const id = String((res.json as { instance?: string } | undefined)?.instance ?? "")
      .split(":")
      .pop();
    const line = logs.find((l) => id !== "" && l.includes(id!) && l.includes('"internal error"'));
    if (!line) return "(no internal error logged)";
    const err = (JSON.parse(line) as { err?: { type?: string; message?: string } }).err;
    return `${err?.type}: ${err?.message}`;
  };

  async function newPatient(): Promise<Contributor> {
    const wallet = Wallet.createRandom().connect(stack.provider);
    await stack.provider.send("anvil_setBalance", [wallet.address, "0xde0b6b3a7640000"]);
    return contributor(party(wallet, await signIn(stack, wallet)), seed++);
  }

  async function newStudy(scopes: string[]): Promise<Study> {
    const study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, `breakit-misc-${slug++}`),
      { scopes },
    );
    const res = await serveStudy(stack, token, study);
    expect(res.status, res.text).to.equal(201);
    return study;
  }

  before(async function () {
    stack = await startTestStack({
      config: { research: { minCell: K }, logLevel: "error" },
      logStream: new Writable({
        write(chunk, _encoding, done) {
          logs.push(...String(chunk).split("\n").filter(Boolean));
          done();
        },
      }),
    });
    irb = await irbOf(stack, stack.accounts.irb);
    researcher = stack.accounts.researcher.address.toLowerCase();
    token = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, token, stack.accounts.researcher, "researcher");
  });
  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("records in each counted patient's audit log that its facts went into a released count", async function () {
    const study = await newStudy([SEX]); // aggregate-only: the count is all the study ever gets
    const patients: Contributor[] = [];
    for (let i = 0; i < 3; i++) {
      patients.push(await newPatient());
      await optIn(stack, patients[i]!, study, researcher, { facts: { sex: 0 } });
    }
    const before = await auditEventsOf(stack, patients[0]!.address);
    const res = await aggregate(stack, token, study, "sex");
    expect(res.status, res.text).to.equal(200);
    expect((res.json as { total: number }).total).to.equal(3);
    const after = await auditEventsOf(stack, patients[0]!.address);
    expect(
      after.slice(before.length),
      `the patient's log before and after the release: ${JSON.stringify(after.map((e) => e.type))}`,
    ).to.have.length.greaterThan(0);
  });

  it("stops serving a contribution's ciphertext to the researcher once the patient revoked", async function () {
    const study = await newStudy(["fhir:Patient"]);
    const patient = await newPatient();
    const { cid } = await optIn(stack, patient, study, researcher);
    expect(((await pull(stack, token, study.studyId)).json as Pull).contributions.map((c) => c.cid)).to.include(cid);
    await registryAs(stack, patient.wallet).revoke({
      grantee: researcher,
      scope: patient.scopes.id(`study:${study.studyId}`),
      purpose: "Research",
    });
    await synced(stack);
    expect(((await pull(stack, token, study.studyId)).json as Pull).contributions).to.deep.equal([]);
    const content = await request(stack, "GET", `/v1/studies/${study.studyId}/contributions/${cid}/content`, {
      token,
    });
    expect(content.status, "the revoked patient's ciphertext (and its size) is still served").to.be.oneOf([403, 404]);
  });

  it("keeps a study countable when its approval is presented again (or refuses another tally share)", async function () {
    const study = await newStudy(["fhir:Patient", SEX]);
    for (let i = 0; i < 3; i++) await optIn(stack, await newPatient(), study, researcher, { facts: { sex: 0 } });
    const again = deriveTallyKeyShare(study.keys.secretKey, `another label:${study.studyId}`);
    const reServe = await request(stack, "POST", "/v1/studies", {
      token,
      json: {
        studyId: study.studyId,
        approval: study.approval.jwt,
        scopes: study.scopes,
        tallyShare: {
          publicKey: b64(again.publicKey),
          proof: b64(proveTallyShare(again, tallyShareContext(study.studyId))),
        },
      },
    });
    if (reServe.status !== 201) return; // refusing a new share is a fix
    const counted = await aggregate(stack, token, { ...study, tally: again }, "sex");
    expect(
      counted.status,
      `after the share changed (201), a count answers ${counted.status}: ${causeOf(counted)}`,
    ).to.equal(200);
  });

  it("refuses to serve a study whose dimension or category is an Object.prototype name", async function () {
    const study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, `breakit-misc-${slug++}`),
      { scopes: ["fhir:Patient", "aggregate:constructor:a,b"] },
    );
    const res = await serveStudy(stack, token, study);
    expect(res.status, res.text).to.equal(400);
    expect((res.json as { code: string }).code).to.equal("INVALID_AGGREGATE_SCOPE");
  });

  it("does not release a count that includes a patient who revoked before the count was decrypted", async function () {
    const study = await newStudy([SEX]);
    const patients: Contributor[] = [];
    for (let i = 0; i < 4; i++) {
      patients.push(await newPatient());
      await optIn(stack, patients[i]!, study, researcher, { facts: { sex: 0 } });
    }
    // Step 1 while all four consent.
    const open = await request(stack, "POST", `/v1/studies/${study.studyId}/aggregates`, {
      token,
      json: { dimension: "sex" },
    });
    expect(open.status, open.text).to.equal(200);
    const query = open.json as { queryId: string; sums: string[] };
    // One revokes; the revoke is mined and indexed before the researcher asks for the count.
    const revoking = patients[3]!;
    await registryAs(stack, revoking.wallet).revoke({
      grantee: researcher,
      scope: revoking.scopes.id(`study:${study.studyId}`),
      purpose: "Research",
    });
    await synced(stack);
    const partials = query.sums.map((sum, j) => {
      const { partial, proof } = partialDecrypt(
        study.tally,
        Buffer.from(sum, "base64url"),
        partialContext(query.queryId, j),
      );
      return { partial: b64(partial), proof: b64(proof) };
    });
    const res = await request(stack, "POST", `/v1/studies/${study.studyId}/aggregates/${query.queryId}`, {
      token,
      json: { partials },
    });
    if (res.status !== 200) return; // refusing (start again) is a fix
    expect(res.json, "the count released after the revoke was mined").to.deep.include({ total: 3 });
  });

  // Last: it restarts the gateway.
  it("still counts after the operator changes the minimum cell size", async function () {
    const study = await newStudy([SEX]);
    for (let i = 0; i < 4; i++) await optIn(stack, await newPatient(), study, researcher, { facts: { sex: 0 } });
    const first = await aggregate(stack, token, study, "sex");
    expect(first.status, first.text).to.equal(200);
    stack.config.research.minCell = K + 2; // HYGEIA_RESEARCH_MIN_CELL=5, and a restart
    await stack.restartGateway();
    const second = await aggregate(stack, token, study, "sex");
    const third = await aggregate(stack, token, study, "sex");
    expect([second.status, third.status], `after k changed: ${causeOf(second)}`).to.deep.equal([200, 200]);
  });
});
