// Issue 16 items 3, 4 and 8: a status list counts only for its own URL; nothing is fetched for an untrusted
// issuer or a presentation that does not answer a live challenge; URLs are vetted; fetch errors are not echoed;
// a list is not used past its own expiry.
import { expect } from "chai";
import {
  Bitstring,
  CredentialType,
  createPresentation,
  issueCredential,
  statusEntry,
  type CredentialVerification,
  type IdentityAgent,
  type ManagedDid,
  type PresentationVerification,
} from "../src/index.ts";
import type { TestChain } from "./helpers/chain.ts";
import { startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";
import { httpFetcher, publishList, recordingServer, verifierWith, type RecordingServer } from "./helpers/verifier.ts";

function statusCheck(result: CredentialVerification | PresentationVerification) {
  return result.checks.find((c) => c.name === "status");
}

describe("identity: status list hardening", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;
  let server: RecordingServer;

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
    server = await recordingServer();
  });
  after(async function () {
    await server?.close();
    await agent?.close();
    await testChain?.stop();
  });

  /** Publishes `list` as `issuer`'s revocation list at `path` of the recording server; returns its URL. */
  function publish(path: string, list: Bitstring, issuer = issuers.insurer, validForSeconds?: number) {
    return publishList(server, agent, issuer.did, path, list, validForSeconds);
  }

  const insurance = (issuer: ManagedDid, url: string, index: number) =>
    issueCredential(agent, {
      issuer: issuer.did,
      type: CredentialType.HealthInsurance,
      subject: subjects(patient.did, patient.did, patient.did).HealthInsuranceCredential,
      status: [statusEntry(url, "revocation", index)],
    });

  describe("the list must be the one of the entry's URL (item 3)", function () {
    it("refuses the issuer's other, current and validly signed list served at a revoked credential's URL", async function () {
      const revoked = new Bitstring();
      revoked.set(5, true);
      const listA = await publish("/item3/a", revoked);
      await publish("/item3/b", new Bitstring()); // the same issuer's other list: bit 5 clear
      const credential = await insurance(issuers.insurer, listA, 5);
      const { verifier } = verifierWith(testChain, agent, { statusListFetcher: httpFetcher });
      expect(statusCheck(await verifier.verifyCredential(credential))?.reason).to.equal("revoked");

      server.served.set("/item3/a", server.served.get("/item3/b")!); // the status host answers with list B
      verifier.invalidateStatusLists();
      const result = await verifier.verifyCredential(credential);
      expect(result.ok).to.equal(false);
      expect(statusCheck(result)).to.include({
        pass: false,
        reason: "status list served for another URL",
        code: "INVALID_STATUS_LIST",
      });
    });

    it("refuses a list whose vc.id is the URL but whose jti names another one", async function () {
      const url = await publish("/item3/jti", new Bitstring());
      const [, payloadPart] = server.served.get("/item3/jti")!.split(".");
      const payload = JSON.parse(Buffer.from(payloadPart!, "base64url").toString()) as Record<string, unknown>;
      server.served.set(
        "/item3/jti",
        await agent.signJwt(issuers.insurer.did, { ...payload, jti: `${server.base}/item3/elsewhere` }),
      );
      const { verifier } = verifierWith(testChain, agent, { statusListFetcher: httpFetcher });
      const result = await verifier.verifyCredential(await insurance(issuers.insurer, url, 1));
      expect(statusCheck(result)?.reason).to.equal("status list served for another URL");
    });
  });

  describe("no fetch before trust, challenge and URL policy (item 4)", function () {
    it("fetches nothing for a credential of an untrusted issuer: zero hits on the status host", async function () {
      const url = await publish("/item4/rogue", new Bitstring(), issuers.rogue);
      const credential = await insurance(issuers.rogue, url, 1);
      const { verifier } = verifierWith(testChain, agent, { statusListFetcher: httpFetcher });
      const before = server.hits.length;
      const result = await verifier.verifyCredential(credential);
      expect(server.hits.length - before).to.equal(0);
      expect(result.ok).to.equal(false);
      expect(result.checks.find((c) => c.name === "issuer-trust")?.pass).to.equal(false);
      expect(statusCheck(result)).to.include({ pass: false, code: "STATUS_NOT_CHECKED" });
    });

    it("fetches nothing for a presentation answering a challenge the verifier never issued", async function () {
      const url = await publish("/item4/challenge", new Bitstring());
      const credential = await insurance(issuers.insurer, url, 1);
      const { verifier, challenges } = verifierWith(testChain, agent, { statusListFetcher: httpFetcher });
      const domain = "gateway.example";
      const invented = "never-issued-challenge-0123456789";
      const request = {
        challenge: invented,
        domain,
        credentials: [{ type: CredentialType.HealthInsurance }],
      };
      const present = (challenge: string) =>
        createPresentation(agent, { holder: patient.did, credentials: [credential], challenge, domain });
      const vp = await present(invented);
      const before = server.hits.length;
      const result = await verifier.verifyPresentation(vp, request);
      expect(server.hits.length - before).to.equal(0);
      expect(result.ok).to.equal(false);
      expect(result.checks.find((c) => c.name === "challenge")).to.include({
        pass: false,
        reason: "challenge unknown",
      });
      expect(statusCheck(result)).to.include({ pass: false, code: "STATUS_NOT_CHECKED" });

      // The same credential answering an issued challenge is checked (one fetch), and passes.
      const issued = { ...request, challenge: await challenges.issue(domain) };
      const answer = await present(issued.challenge);
      const accepted = await verifier.verifyPresentation(answer, issued);
      expect(server.hits.length - before).to.equal(1);
      expect(accepted.ok).to.equal(true);
    });

    it("refuses status URLs outside the policy without calling the fetcher", async function () {
      const asked: string[] = [];
      const fetcher = async (url: string) => {
        asked.push(url);
        throw new Error("must not be called");
      };
      const cases: Array<[string, string]> = [
        ["http://10.0.0.7/status/1", "plain http"],
        ["http://metadata.internal/latest", "plain http"],
        ["https://user:secret@status.example/1", "credentials"],
      ];
      const { verifier } = verifierWith(testChain, agent, { statusListFetcher: fetcher });
      for (const [url, why] of cases) {
        const result = await verifier.verifyCredential(await insurance(issuers.insurer, url, 1));
        expect(statusCheck(result), url).to.include({ pass: false, code: "STATUS_URL_NOT_ALLOWED" });
        expect(statusCheck(result)?.reason, url).to.contain(why);
      }
      const restricted = verifierWith(testChain, agent, {
        statusListFetcher: fetcher,
        statusListOrigins: ["https://status.gateway.example"],
      }).verifier;
      const elsewhere = await restricted.verifyCredential(
        await insurance(issuers.insurer, "https://attacker.example/list", 1),
      );
      expect(statusCheck(elsewhere)).to.include({ pass: false, code: "STATUS_URL_NOT_ALLOWED" });
      expect(asked).to.deep.equal([]);

      // An allowed origin is fetched: the configured one (or, per issuer, a function of the issuer's DID).
      const url = await publish("/item4/allowed", new Bitstring());
      const perIssuer = verifierWith(testChain, agent, {
        statusListFetcher: httpFetcher,
        statusListOrigins: (issuer) => (issuer === issuers.insurer.did ? [server.base] : []),
      }).verifier;
      expect((await perIssuer.verifyCredential(await insurance(issuers.insurer, url, 1))).ok).to.equal(true);
    });

    it("never copies the fetch error's text into the reason; the error stays available as a non-enumerable cause", async function () {
      const secret = "connect ECONNREFUSED 10.20.30.40:8443 (internal billing service)";
      const { verifier } = verifierWith(testChain, agent, {
        statusListFetcher: async () => {
          throw new Error(secret);
        },
      });
      const result = await verifier.verifyCredential(await insurance(issuers.insurer, "https://status.example/1", 1));
      const check = statusCheck(result)!;
      expect(check).to.include({
        pass: false,
        reason: "status list could not be fetched",
        code: "STATUS_LIST_UNAVAILABLE",
      });
      expect(JSON.stringify(result)).not.to.contain("ECONNREFUSED");
      expect(String((check.cause as Error).message)).to.contain("unavailable");
      expect(((check.cause as Error).cause as Error).message).to.equal(secret);
    });
  });

  describe("list lifetime (item 8)", function () {
    it("does not use a cached list after the list's own expiry, although the cache TTL has not run out", async function () {
      let offsetMs = 0;
      const clock = () => Date.now() + offsetMs;
      const url = await publish("/item8/short", new Bitstring(), issuers.insurer, 5); // expires in 5 s
      const credential = await insurance(issuers.insurer, url, 9);
      const { verifier } = verifierWith(testChain, agent, {
        statusListFetcher: httpFetcher,
        statusListTtlMs: 60_000,
        clock,
      });
      expect((await verifier.verifyCredential(credential)).ok).to.equal(true);
      const revoked = new Bitstring();
      revoked.set(9, true);
      await publish("/item8/short", revoked); // the issuer's next version: revoked, valid for a day
      offsetMs = 10_000; // past the first version's exp, well within the 60 s TTL
      const result = await verifier.verifyCredential(credential);
      expect(statusCheck(result)?.reason).to.equal("revoked");
    });
  });
});
