// Review of issue 16's fixes on the real verifier (anvil chain, real agents, real signatures): findings 1
// (status entries per credential, one credential at check-in), 2 (list rollback and lists without expiry),
// 3 (loopback http needs an opt-in) and 6 (DID resolution errors and deadline).
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { JsonRpcProvider } from "ethers";
import {
  Bitstring,
  CachedDidResolver,
  CredentialType,
  IdentityAgent,
  UnresolvableDidError,
  challengeClinic,
  createPresentation,
  issueCredential,
  issueStatusListCredential,
  statusEntry,
  verifyClinic,
  type CredentialVerification,
  type ManagedDid,
} from "../src/index.ts";
import type { TestChain } from "./helpers/chain.ts";
import { createVerifier, startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";
import { httpFetcher, publishList, recordingServer, verifierWith, type RecordingServer } from "./helpers/verifier.ts";
import { BOARD_LIST_URL, StatusHost, accreditationFor, createClinic } from "./helpers/check-in.ts";

const statusOf = (result: CredentialVerification) => result.checks.find((c) => c.name === "status");

describe("identity review: the verifier's limits on a real chain", function () {
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

  const record = (status: ReturnType<typeof statusEntry>[]) =>
    issueCredential(agent, {
      issuer: issuers.clinic.did,
      type: CredentialType.HealthRecord,
      subject: subjects(patient.did, issuers.clinic.did, patient.did).HealthRecordCredential,
      status,
    });

  it("fails a trusted issuer's credential with three revocation entries without fetching any list (finding 1)", async function () {
    const entries = [];
    for (const i of [0, 1, 2]) {
      const url = await publishList(server, agent, issuers.clinic.did, `/many/${i}`);
      entries.push(statusEntry(url, "revocation", i));
    }
    const { verifier } = verifierWith(testChain, agent, { statusListFetcher: httpFetcher });
    const hitsBefore = server.hits.length;
    const status = statusOf(await verifier.verifyCredential(await record(entries)));
    expect(status).to.include({ pass: false, code: "TOO_MANY_STATUS_ENTRIES" });
    expect(server.hits.length).to.equal(hitsBefore);
  });

  it("refuses plain http to loopback unless the host is listed in statusListHttpHosts (finding 3)", async function () {
    const url = await publishList(server, agent, issuers.clinic.did, "/loopback/1");
    const credential = await record([statusEntry(url, "revocation", 1)]);
    const hitsBefore = server.hits.length;
    const { verifier } = createVerifier(testChain, agent, { statusListFetcher: httpFetcher });
    expect(statusOf(await verifier.verifyCredential(credential))).to.include({
      pass: false,
      code: "STATUS_URL_NOT_ALLOWED",
    });
    expect(server.hits.length).to.equal(hitsBefore);
    const optedIn = verifierWith(testChain, agent, { statusListFetcher: httpFetcher }).verifier;
    expect(statusOf(await optedIn.verifyCredential(credential))).to.include({ pass: true });
  });

  it("refuses an older, still valid version of a list after the newer one revoked the credential (finding 2)", async function () {
    const url = "https://status.clinic.example/revocation/1";
    const list = new Bitstring();
    const v1 = await issueStatusListCredential(agent, { issuer: issuers.clinic.did, url, purpose: "revocation", list });
    const credential = await record([statusEntry(url, "revocation", 7)]);
    list.set(7, true);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // v2's iat is a later second
    const v2 = await issueStatusListCredential(agent, { issuer: issuers.clinic.did, url, purpose: "revocation", list });
    let served = v2;
    const { verifier } = createVerifier(testChain, agent, { statusListFetcher: async () => served });
    expect(statusOf(await verifier.verifyCredential(credential))).to.include({ pass: false, code: "REVOKED" });
    served = v1;
    verifier.invalidateStatusLists(); // as the cache TTL running out would
    const rolledBack = statusOf(await verifier.verifyCredential(credential));
    expect(rolledBack).to.include({ pass: false, code: "STALE_STATUS_LIST" });
    expect(rolledBack?.reason).to.equal("status list older than one already seen");
  });

  it("refuses a validly signed status list that has no expiry (finding 2)", async function () {
    const url = "https://status.clinic.example/revocation/no-exp";
    const credential = await record([statusEntry(url, "revocation", 7)]);
    const noExp = await agent.signJwt(issuers.clinic.did, {
      iss: issuers.clinic.did,
      jti: url,
      iat: Math.floor(Date.now() / 1000),
      vc: {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        id: url,
        type: ["VerifiableCredential", "BitstringStatusListCredential"],
        issuer: issuers.clinic.did,
        credentialSubject: {
          id: `${url}#list`,
          type: "BitstringStatusList",
          statusPurpose: "revocation",
          encodedList: new Bitstring().encode(),
        },
      },
    });
    const { verifier } = createVerifier(testChain, agent, { statusListFetcher: async () => noExp });
    const status = statusOf(await verifier.verifyCredential(credential));
    expect(status).to.include({ pass: false, code: "INVALID_STATUS_LIST" });
    expect(status?.reason).to.equal("status list has no expiry (exp)");
  });

  it("refuses a clinic presentation with more than one credential before verifying any of them (finding 1)", async function () {
    const patientAgent = await IdentityAgent.create({ network: testChain.network });
    const clinicAgent = await IdentityAgent.create({ network: testChain.network });
    try {
      const host = new StatusHost();
      await host.publish(agent, issuers.board.did, BOARD_LIST_URL);
      const wallet = await patientAgent.createDid({ alias: "wallet" });
      const clinic = await createClinic(testChain, clinicAgent);
      const { jwt: accreditation } = await accreditationFor(agent, issuers.board.did, clinic.did.did, host);
      const url = await publishList(server, clinicAgent, clinic.did.did, "/clinic-extra/1");
      const extra = await issueCredential(clinicAgent, {
        issuer: clinic.did.did,
        type: CredentialType.HealthRecord,
        subject: subjects(clinic.did.did, clinic.did.did, clinic.did.did).HealthRecordCredential,
        status: [statusEntry(url, "revocation", 1)],
      });
      let boardFetches = 0;
      const fetcher = async (u: string) => {
        if (u === BOARD_LIST_URL) boardFetches++;
        return u === BOARD_LIST_URL ? host.fetcher(u) : httpFetcher(u);
      };
      const walletVerifier = verifierWith(testChain, patientAgent, { statusListFetcher: fetcher });
      const toClinic = await challengeClinic(walletVerifier.challenges, wallet.did);
      const proof = await createPresentation(clinicAgent, {
        holder: clinic.did.did,
        credentials: [accreditation, extra],
        ...toClinic,
      });
      const hitsBefore = server.hits.length;
      const verified = await verifyClinic(walletVerifier.verifier, proof, toClinic);
      expect(verified.ok).to.equal(false);
      expect(verified.checks).to.have.length(1);
      expect(verified.checks[0]).to.include({ name: "required-credentials", pass: false });
      expect(verified.checks[0]!.reason).to.match(/exactly one credential .* got 2/);
      expect(server.hits.length - hitsBefore + boardFetches).to.equal(0);
      // The challenge was not spent: the clinic can answer it properly.
      const proper = await createPresentation(clinicAgent, {
        holder: clinic.did.did,
        credentials: [accreditation],
        ...toClinic,
      });
      expect((await verifyClinic(walletVerifier.verifier, proper, toClinic)).ok).to.equal(true);
    } finally {
      await Promise.all([patientAgent.close(), clinicAgent.close()]);
    }
  });

  describe("DID resolution failures (finding 6)", function () {
    let rpc: Server;
    let mode: "fail" | "hang" = "fail";
    let rpcUrl: string;
    before(async function () {
      rpc = createServer((_req, res) => {
        if (mode === "hang") return; // never answers
        res
          .writeHead(500, { "content-type": "application/json" })
          .end('{"error":"quota exceeded for project 4711, key SECRET_API_KEY_123"}');
      });
      await new Promise<void>((resolve) => rpc.listen(0, "127.0.0.1", resolve));
      rpcUrl = `http://127.0.0.1:${(rpc.address() as AddressInfo).port}/v3/SECRET_API_KEY_123`;
    });
    after(function () {
      rpc?.closeAllConnections();
      rpc?.close();
    });

    async function resolverOver(resolveTimeoutMs: number) {
      const network = { ...testChain.network, rpcUrl };
      const provider = new JsonRpcProvider(rpcUrl, network.chainId, { staticNetwork: true });
      const resolver = await CachedDidResolver.create({ network, provider, resolveTimeoutMs });
      return { resolver, provider };
    }

    it("gives a fixed message without the node's URL or answer; the error is only the cause", async function () {
      mode = "fail";
      const { resolver, provider } = await resolverOver(60_000);
      try {
        const error = await resolver.resolve(issuers.clinic.did).then(
          () => expect.fail("resolved"),
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(UnresolvableDidError);
        expect((error as Error).message).to.not.match(/no answer within/);
        const shown = JSON.stringify({ ...(error as object), message: (error as Error).message });
        expect(shown).to.not.include("SECRET_API_KEY_123");
        expect(shown).to.not.include("quota");
        expect(Object.keys(error as object)).to.not.include("cause");
      } finally {
        await resolver.close();
        provider.destroy();
      }
    });

    it("ends a resolution at its deadline (resolveTimeoutMs) when the node does not answer", async function () {
      mode = "hang";
      const { resolver, provider } = await resolverOver(300);
      try {
        const started = Date.now();
        const error = await resolver.resolve(issuers.clinic.did).then(
          () => expect.fail("resolved"),
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(UnresolvableDidError);
        expect((error as Error).message).to.match(/no answer within 300 ms/);
        expect(Date.now() - started).to.be.below(10_000);
      } finally {
        await resolver.close();
        provider.destroy();
      }
    });
  });
});
