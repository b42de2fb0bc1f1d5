// Issue 16, informational findings: what a JWT says twice must agree; an ethics approval ends; one signed
// content has one accepted spelling of its base64url, and a dedupe key shared by its high-S twin.
import { expect } from "chai";
import {
  CredentialType,
  issueCredential,
  signedContentDigest,
  type CredentialVerification,
  type IdentityAgent,
  type ManagedDid,
} from "../src/index.ts";
import type { TestChain } from "./helpers/chain.ts";
import { createVerifier, startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";

const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe("identity: verifier, informational findings", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  const format = (result: CredentialVerification) => result.checks.find((c) => c.name === "format");

  /** A JWT VC signed by the insurer whose vc object says `vcFields` besides iss / sub. */
  async function signedWith(vcFields: { issuer?: unknown; subjectId?: string }) {
    const subject = subjects(patient.did, patient.did, patient.did).HealthInsuranceCredential;
    const now = Math.floor(Date.now() / 1000);
    return agent.signJwt(issuers.insurer.did, {
      iss: issuers.insurer.did,
      sub: patient.did,
      nbf: now - 10,
      vc: {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        type: ["VerifiableCredential", CredentialType.HealthInsurance],
        ...(vcFields.issuer !== undefined ? { issuer: vcFields.issuer } : {}),
        credentialSubject: { ...subject, id: vcFields.subjectId },
      },
    });
  }

  it("accepts vc.issuer and credentialSubject.id that repeat iss and sub", async function () {
    const { verifier } = createVerifier(testChain, agent);
    const same = await signedWith({ issuer: { id: issuers.insurer.did }, subjectId: patient.did });
    const result = await verifier.verifyCredential(same);
    expect(result.ok, JSON.stringify(result.checks)).to.equal(true);
  });

  it("refuses a vc.issuer that differs from iss instead of overriding it", async function () {
    const { verifier } = createVerifier(testChain, agent);
    for (const issuer of [issuers.identity.did, { id: issuers.identity.did }]) {
      const result = await verifier.verifyCredential(await signedWith({ issuer }));
      expect(result.ok).to.equal(false);
      expect(format(result)?.reason).to.contain("vc.issuer differs from iss");
    }
  });

  it("refuses a credentialSubject.id that differs from sub instead of overriding it", async function () {
    const { verifier } = createVerifier(testChain, agent);
    const other = await agent.createDid();
    const result = await verifier.verifyCredential(await signedWith({ subjectId: other.did }));
    expect(result.ok).to.equal(false);
    expect(format(result)?.reason).to.contain("vc.credentialSubject.id differs from sub");
  });

  it("fails an EthicsApproval whose approvedUntil has passed, passes one still running", async function () {
    const { verifier } = createVerifier(testChain, agent);
    const base = subjects(patient.did, patient.did, patient.did).EthicsApprovalCredential;
    const issue = (approvedUntil: string) =>
      issueCredential(agent, {
        issuer: issuers.irb.did,
        type: CredentialType.EthicsApproval,
        subject: { ...base, approvedUntil },
      });
    const ended = await verifier.verifyCredential(await issue("2020-01-31"));
    expect(ended.ok).to.equal(false);
    expect(ended.checks.find((c) => c.name === "expiry" && !c.pass)?.reason).to.equal(
      "ethics approval ended on 2020-01-31",
    );
    const running = await verifier.verifyCredential(await issue("2099-12-31"));
    expect(running.ok, JSON.stringify(running.checks)).to.equal(true);
  });

  it("refuses a JWT whose signature is spelled with non-zero trailing base64url bits", async function () {
    const { verifier } = createVerifier(testChain, agent);
    const jwt = await issueCredential(agent, {
      issuer: issuers.insurer.did,
      type: CredentialType.HealthInsurance,
      subject: subjects(patient.did, patient.did, patient.did).HealthInsuranceCredential,
    });
    expect((await verifier.verifyCredential(jwt)).ok).to.equal(true);
    // 64 bytes are 86 characters whose last one carries 4 unused bits: flip one, the bytes stay the same.
    const last = jwt.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = `${jwt.slice(0, -1)}${alphabet[alphabet.indexOf(last) ^ 1]}`;
    expect(Buffer.from(twin.split(".")[2]!, "base64url")).to.deep.equal(Buffer.from(jwt.split(".")[2]!, "base64url"));
    const result = await verifier.verifyCredential(twin);
    expect(result.ok).to.equal(false);
    expect(format(result)?.reason).to.contain("not canonical base64url");
  });

  it("gives the high-S twin of a JWT the same signedContentDigest (the key to deduplicate on)", async function () {
    const jwt = await issueCredential(agent, {
      issuer: issuers.insurer.did,
      type: CredentialType.HealthInsurance,
      subject: subjects(patient.did, patient.did, patient.did).HealthInsuranceCredential,
    });
    const [h, p, s] = jwt.split(".") as [string, string, string];
    const signature = Buffer.from(s, "base64url");
    const highS = CURVE_ORDER - BigInt(`0x${signature.subarray(32).toString("hex")}`);
    const twin = `${h}.${p}.${Buffer.concat([signature.subarray(0, 32), Buffer.from(highS.toString(16).padStart(64, "0"), "hex")]).toString("base64url")}`;
    expect(twin).not.to.equal(jwt);
    expect(signedContentDigest(twin)).to.equal(signedContentDigest(jwt));
  });
});
