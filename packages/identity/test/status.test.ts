import { expect } from "chai";
import {
  Bitstring,
  CredentialType,
  type IdentityAgent,
  InvalidStatusListError,
  MIN_STATUS_LIST_BITS,
  issueCredential,
  issueStatusListCredential,
  statusEntry,
  type ManagedDid,
} from "../src/index.ts";
import type { TestChain } from "./helpers/chain.ts";
import { createVerifier, startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";

describe("identity: Bitstring Status List", function () {
  describe("bitstring", function () {
    it("round-trips through gzip + multibase base64url, index 0 = left-most bit", function () {
      const list = new Bitstring();
      list.set(0, true);
      list.set(MIN_STATUS_LIST_BITS - 1, true);
      const encoded = list.encode();
      expect(encoded.startsWith("u")).to.equal(true);
      const decoded = Bitstring.decode(encoded);
      expect(decoded.bytes[0]).to.equal(0x80);
      expect(decoded.get(0)).to.equal(true);
      expect(decoded.get(1)).to.equal(false);
      expect(decoded.get(MIN_STATUS_LIST_BITS - 1)).to.equal(true);
      decoded.set(0, false);
      expect(decoded.get(0)).to.equal(false);
    });

    it("refuses lists below 16 KB, bad encodings, gzip bombs and out-of-range indexes", function () {
      expect(() => new Bitstring(8)).to.throw(InvalidStatusListError);
      expect(() => Bitstring.decode("zabc")).to.throw(InvalidStatusListError);
      expect(() => Bitstring.decode("u" + Buffer.from("not gzip").toString("base64url"))).to.throw(
        InvalidStatusListError,
      );
      const { gzipSync } = process.getBuiltinModule("node:zlib");
      const bomb = "u" + gzipSync(new Uint8Array(64 * 1024 * 1024)).toString("base64url");
      expect(() => Bitstring.decode(bomb)).to.throw(InvalidStatusListError);
      expect(() => new Bitstring().get(MIN_STATUS_LIST_BITS)).to.throw(InvalidStatusListError);
    });
  });

  describe("checking credentials", function () {
    let testChain: TestChain;
    let agent: IdentityAgent;
    let issuers: Issuers;
    let patient: ManagedDid;
    const served = new Map<string, string>();
    const revocationUrl = "https://gateway.example/status/1";
    const suspensionUrl = "https://gateway.example/status/2";
    const revocations = new Bitstring();
    const suspensions = new Bitstring();
    const fetcher = async (url: string) => {
      const jwt = served.get(url);
      if (!jwt) throw new Error(`404 ${url}`);
      return jwt;
    };

    async function publish() {
      served.set(
        revocationUrl,
        await issueStatusListCredential(agent, {
          issuer: issuers.insurer.did,
          url: revocationUrl,
          purpose: "revocation",
          list: revocations,
        }),
      );
      served.set(
        suspensionUrl,
        await issueStatusListCredential(agent, {
          issuer: issuers.insurer.did,
          url: suspensionUrl,
          purpose: "suspension",
          list: suspensions,
        }),
      );
    }

    async function insuranceWithStatus(index: number) {
      return issueCredential(agent, {
        issuer: issuers.insurer.did,
        type: CredentialType.HealthInsurance,
        subject: subjects(patient.did, patient.did, patient.did).HealthInsuranceCredential,
        status: [statusEntry(revocationUrl, "revocation", index), statusEntry(suspensionUrl, "suspension", index)],
      });
    }

    before(async function () {
      ({ testChain, agent, issuers, patient } = await startIssuerWorld());
      await publish();
    });
    after(async function () {
      await agent?.close();
      await testChain?.stop();
    });

    it("passes while the bits are clear, fails once revoked", async function () {
      const jwt = await insuranceWithStatus(41);
      const { verifier } = createVerifier(testChain, agent, { statusListFetcher: fetcher });
      expect((await verifier.verifyCredential(jwt)).ok).to.equal(true);
      revocations.set(41, true);
      await publish();
      // Cached until the TTL or an explicit invalidation.
      expect((await verifier.verifyCredential(jwt)).ok).to.equal(true);
      verifier.invalidateStatusLists();
      const result = await verifier.verifyCredential(jwt);
      expect(result.ok).to.equal(false);
      expect(result.checks.find((c) => c.name === "status")?.reason).to.equal("revoked");
    });

    it("suspension is reversible", async function () {
      const jwt = await insuranceWithStatus(7);
      const { verifier } = createVerifier(testChain, agent, { statusListFetcher: fetcher, statusListTtlMs: 0 });
      suspensions.set(7, true);
      await publish();
      const suspended = await verifier.verifyCredential(jwt);
      expect(suspended.checks.find((c) => c.name === "status")?.reason).to.equal("suspended");
      suspensions.set(7, false);
      await publish();
      expect((await verifier.verifyCredential(jwt)).ok).to.equal(true);
    });

    it("fails closed when the list cannot be fetched; fail-open is an explicit choice", async function () {
      const jwt = await insuranceWithStatus(3);
      const offline = async () => {
        throw new Error("ECONNREFUSED");
      };
      const closed = createVerifier(testChain, agent, { statusListFetcher: offline }).verifier;
      const result = await closed.verifyCredential(jwt);
      expect(result.ok).to.equal(false);
      const status = result.checks.find((c) => c.name === "status");
      expect(status?.reason).to.equal("status list could not be fetched");
      expect(status?.code).to.equal("STATUS_LIST_UNAVAILABLE");
      const open = createVerifier(testChain, agent, { statusListFetcher: offline, statusFailClosed: false }).verifier;
      const lenient = await open.verifyCredential(jwt);
      expect(lenient.ok).to.equal(true);
      expect(lenient.checks.find((c) => c.name === "status")?.reason).to.contain("fail-open");
    });

    it("rejects a status list signed by someone else than the credential's issuer", async function () {
      const jwt = await insuranceWithStatus(5);
      const forgedLists = new Map(served);
      forgedLists.set(
        revocationUrl,
        await issueStatusListCredential(agent, {
          issuer: issuers.rogue.did,
          url: revocationUrl,
          purpose: "revocation",
          list: new Bitstring(),
        }),
      );
      const { verifier } = createVerifier(testChain, agent, {
        statusListFetcher: async (url) => forgedLists.get(url)!,
      });
      const result = await verifier.verifyCredential(jwt);
      expect(result.ok).to.equal(false);
      expect(result.checks.find((c) => c.name === "status")?.reason).to.contain(
        "not issued by the credential's issuer",
      );
    });

    it("a credential with a status entry fails when no fetcher is configured", async function () {
      const jwt = await insuranceWithStatus(9);
      const { verifier } = createVerifier(testChain, agent);
      const result = await verifier.verifyCredential(jwt);
      expect(result.ok).to.equal(false);
    });
  });
});
