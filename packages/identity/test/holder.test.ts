// A wallet without an IdentityAgent (the browser's case): a HolderKey over the patient's own key, DIDs resolved
// and trust read on the chain (createChainVerifier), and the clinic answered with answerClinic. Real anvil, real
// contracts; the clinic side is the agent's, as in mutual.test.ts.
import { expect } from "chai";
import { Wallet } from "ethers";
import {
  CachedDidResolver,
  CredentialType,
  IdentityAgent,
  InvalidIdentityInputError,
  MemoryChallengeStore,
  agentHolderKey,
  answerClinic,
  challengeClinic,
  createChainVerifier,
  createPresentation,
  decodeJwt,
  ethrDidPrefix,
  issueCredential,
  issueSdJwtCredential,
  presentSdJwt,
  privateKeyHolderKey,
  signPresentation,
  verifyCheckIn,
  verifyClinic,
  type ManagedDid,
} from "../src/index.ts";
import { startTestChain, type TestChain } from "./helpers/chain.ts";
import { BOARD_LIST_URL, StatusHost, accreditationFor, createClinic, type CheckInClinic } from "./helpers/check-in.ts";
import { createIssuers, createVerifier, subjects, type Issuers } from "./helpers/fixtures.ts";

const caught = (work: Promise<unknown>) =>
  work.then(
    () => undefined,
    (error: unknown) => error,
  );

describe("identity: presenting without an agent (HolderKey, createChainVerifier, answerClinic)", function () {
  let testChain: TestChain;
  let clinicAgent: IdentityAgent;
  let issuers: Issuers;
  let clinic: CheckInClinic;
  let resolver: CachedDidResolver;
  const statusHost = new StatusHost();
  const patientWallet = Wallet.createRandom();
  let patientDid: string;

  before(async function () {
    testChain = await startTestChain();
    clinicAgent = await IdentityAgent.create({ network: testChain.network });
    issuers = await createIssuers(testChain, clinicAgent);
    await statusHost.publish(clinicAgent, issuers.board.did, BOARD_LIST_URL);
    clinic = await createClinic(testChain, clinicAgent);
    resolver = await CachedDidResolver.create({ network: testChain.network, provider: testChain.provider });
    patientDid = `${ethrDidPrefix(testChain.network)}:${patientWallet.address}`;
  });
  after(async function () {
    await resolver?.close();
    await clinicAgent?.close();
    await testChain?.stop();
  });

  it("privateKeyHolderKey takes a key in bytes or hex, only for the DID of its own address, and copies it", async function () {
    const hex = patientWallet.privateKey;
    const bytes = Uint8Array.from(Buffer.from(hex.slice(2), "hex"));
    const fromBytes = privateKeyHolderKey(bytes, patientDid);
    bytes.fill(0); // the caller wiping its copy does not change the holder's
    const fromHex = privateKeyHolderKey(hex.slice(2), patientDid);
    expect(await fromBytes.publicJwk()).to.deep.equal(await fromHex.publicJwk());
    expect(await fromBytes.sign("text")).to.equal(await fromHex.sign("text")); // RFC 6979: deterministic
    for (const [key, did, field] of [
      ["0x1234", patientDid, "privateKey"],
      [`0x${"00".repeat(32)}`, patientDid, "privateKey"], // zero is not a key
      [`0x${"ff".repeat(32)}`, patientDid, "privateKey"], // above the curve order
      [hex, `${ethrDidPrefix(testChain.network)}:${Wallet.createRandom().address}`, "did"],
      [hex, `did:key:z${"Q3s".padEnd(40, "x")}`, "did"],
      [hex, undefined, "did"],
    ] as const) {
      let error: unknown;
      try {
        privateKeyHolderKey(key, did as string);
      } catch (thrown) {
        error = thrown;
      }
      expect(error, `${key.slice(0, 8)} / ${did}`).to.be.instanceOf(InvalidIdentityInputError);
      expect((error as InvalidIdentityInputError).field).to.equal(field);
      expect(String((error as Error).message)).to.not.include(hex.slice(2)); // never the key in an error
    }
  });

  it("verifies the clinic and answers it with the patient's key alone, as an agent does", async function () {
    const holder = privateKeyHolderKey(patientWallet.privateKey, patientDid);
    // The wallet's side: no agent, a chain verifier over the resolver.
    const challenges = new MemoryChallengeStore();
    const verifier = createChainVerifier({
      trustRegistry: testChain.deployment.contracts.TrustRegistry,
      resolver,
      provider: testChain.provider,
      network: testChain.network,
      challenges,
      statusListFetcher: statusHost.fetcher,
      trustCacheTtlMs: 0,
    });
    const toClinic = await challengeClinic(challenges, patientDid);
    const proof = await createPresentation(clinicAgent, {
      holder: clinic.did.did,
      credentials: [(await accreditationFor(clinicAgent, issuers.board.did, clinic.did.did, statusHost)).jwt],
      ...toClinic,
    });
    const verified = await verifyClinic(verifier, proof, toClinic);
    expect(verified.checks.filter((c) => !c.pass)).to.deep.equal([]);
    expect(verified.clinic?.did).to.equal(clinic.did.did);

    // The clinic asks for an SD-JWT identity credential bound to the patient's key.
    const desk = createVerifier(testChain, clinicAgent);
    const request = {
      challenge: await desk.challenges.issue(clinic.did.did),
      domain: clinic.did.did,
      credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName"] }],
    };
    const identity = await issueSdJwtCredential(clinicAgent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: subjects(patientDid, clinic.did.did, clinic.did.did).PatientIdentityCredential,
      holderPublicJwk: await holder.publicJwk(),
    });
    const answer = await answerClinic({
      holder,
      resolver,
      clinic: verified,
      request,
      credentials: [{ sdJwt: identity, disclose: ["givenName"] }],
    });
    const opened = await verifyCheckIn(desk.verifier, answer, { request, keyPairs: clinic.keys });
    expect(opened.checks.filter((c) => !c.pass)).to.deep.equal([]);
    expect(opened.disclosed).to.deep.equal({ PatientIdentityCredential: { givenName: "Ada" } });

    // A JWT VC answer too: a presentation signed by the HolderKey verifies as the agent's does.
    const jwtRequest = {
      challenge: await desk.challenges.issue(clinic.did.did),
      domain: clinic.did.did,
      credentials: [{ type: CredentialType.HealthInsurance }],
    };
    const insurance = await issueCredential(clinicAgent, {
      issuer: issuers.insurer.did,
      type: CredentialType.HealthInsurance,
      subject: subjects(patientDid, clinic.did.did, clinic.did.did).HealthInsuranceCredential,
    });
    const jwtAnswer = await answerClinic({
      holder,
      resolver,
      clinic: verified,
      request: jwtRequest,
      credentials: [{ jwt: insurance }],
    });
    const jwtOpened = await verifyCheckIn(desk.verifier, jwtAnswer, { request: jwtRequest, keyPairs: clinic.keys });
    expect(jwtOpened.checks.filter((c) => !c.pass)).to.deep.equal([]);
    expect(jwtOpened.holder).to.equal(patientDid);
  });

  it("makes the same presentation format from an agent's key and from a private key", async function () {
    const agent = await IdentityAgent.create({ network: testChain.network, watchRegistry: false });
    try {
      const imported: ManagedDid = await agent.importEthrDid(patientWallet.privateKey, "patient");
      expect(imported.did.toLowerCase()).to.equal(patientDid.toLowerCase());
      const fromAgent = agentHolderKey(agent, imported.did);
      const fromKey = privateKeyHolderKey(patientWallet.privateKey, imported.did);
      expect(await fromAgent.publicJwk()).to.deep.equal(await fromKey.publicJwk());
      const credential = await issueCredential(clinicAgent, {
        issuer: issuers.insurer.did,
        type: CredentialType.HealthInsurance,
        subject: subjects(imported.did, clinic.did.did, clinic.did.did).HealthInsuranceCredential,
      });
      const params = { credentials: [credential], challenge: "c".repeat(32), domain: clinic.did.did };
      const [a, b] = [await signPresentation(fromAgent, params), await signPresentation(fromKey, params)];
      const [da, db] = [decodeJwt(a), decodeJwt(b)];
      expect(da.header).to.deep.equal(db.header);
      expect({ ...da.payload, nbf: 0, exp: 0 }).to.deep.equal({ ...db.payload, nbf: 0, exp: 0 });
      // Same key, RFC 6979: the same signing input gives the same signature through Veramo's KMS and noble.
      expect(await fromAgent.sign(da.signingInput)).to.equal(await fromKey.sign(da.signingInput));

      // An agent that does not hold the DID: KeyNotFoundError naming the holder, at the first use.
      const stranger = agentHolderKey(agent, `${ethrDidPrefix(testChain.network)}:${Wallet.createRandom().address}`);
      expect(await caught(stranger.sign("x"))).to.include({ code: "KEY_NOT_FOUND", field: "holder" });
      // presentSdJwt refuses a HolderKey that is not the credential's holder, naming the holder, before signing.
      const other = Wallet.createRandom();
      const otherKey = privateKeyHolderKey(other.privateKey, `${ethrDidPrefix(testChain.network)}:${other.address}`);
      const sdJwt = await issueSdJwtCredential(clinicAgent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: subjects(imported.did, clinic.did.did, clinic.did.did).PatientIdentityCredential,
        holderPublicJwk: await fromKey.publicJwk(),
      });
      const refused = await caught(
        presentSdJwt(otherKey, { credential: sdJwt, disclose: ["givenName"], challenge: "c".repeat(32), domain: "x" }),
      );
      expect(refused).to.include({ code: "HOLDER_MISMATCH", field: "holder" });
    } finally {
      await agent.close();
    }
  });
});
