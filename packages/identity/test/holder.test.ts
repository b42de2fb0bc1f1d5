// A wallet without an IdentityAgent (the browser's case): a HolderKey over the patient's own key, DIDs resolved
// and trust read on the chain (createChainVerifier), and the clinic answered with answerClinic. Real anvil, real
// contracts; the clinic side is the agent's, as in mutual.test.ts.
import { expect } from "chai";
import { Wallet } from "ethers";
import {
  CachedDidResolver,
  CredentialType,
  HolderKeyError,
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
  verifyWithPublicKey,
  type HolderKey,
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

  it("refuses, before anything is sent, what a break-it review found accepted or crashing", async function () {
    const holder = privateKeyHolderKey(patientWallet.privateKey, patientDid);
    const other = Wallet.createRandom();
    const otherKey = privateKeyHolderKey(other.privateKey, `${ethrDidPrefix(testChain.network)}:${other.address}`);
    const insurance = await issueCredential(clinicAgent, {
      issuer: issuers.insurer.did,
      type: CredentialType.HealthInsurance,
      subject: subjects(patientDid, clinic.did.did, clinic.did.did).HealthInsuranceCredential,
    });
    const params = { credentials: [insurance], challenge: "c".repeat(32), domain: clinic.did.did };
    // A HolderKey whose sign() returns garbage, another key's signature, or throws: HOLDER_KEY_FAILED, no token.
    const signers: [string, HolderKey["sign"]][] = [
      ["garbage", async () => "a.b"],
      ["a number", async () => 42 as unknown as string],
      ["nothing", async () => ""],
      ["another key's signature", (text) => otherKey.sign(text)],
      ["a throw", async () => Promise.reject(new Error("user rejected; secret=hunter2"))],
    ];
    for (const [what, sign] of signers) {
      const refused = await caught(signPresentation({ ...holder, did: holder.did, sign }, params));
      expect(refused, what).to.be.instanceOf(HolderKeyError);
      expect(refused, what).to.include({ code: "HOLDER_KEY_FAILED" });
      expect(String((refused as Error).message), what).to.not.include("hunter2"); // the signer's text: cause only
    }
    // A presentation larger than any verifier reads is refused before the wallet is asked to sign.
    let signed = 0;
    const counting: HolderKey = { ...holder, did: holder.did, sign: (text) => (signed++, holder.sign(text)) };
    const huge = Array.from({ length: Math.ceil((256 * 1024) / insurance.length) }, () => insurance);
    expect(await caught(signPresentation(counting, { ...params, credentials: huge }))).to.include({
      code: "INVALID_INPUT",
      field: "credentials",
    });
    expect(signed).to.equal(0);

    // answerClinic: every SD-JWT's binding is checked before any is signed; bad disclose lists and key sources typed.
    const verified = {
      ok: true,
      checks: [],
      holder: clinic.did.did,
      disclosed: {},
      clinic: { did: clinic.did.did, clinicName: "x", accreditationNumber: "y", virtual: false },
    };
    const request = {
      challenge: "c".repeat(32),
      domain: clinic.did.did,
      credentials: [{ type: CredentialType.PatientIdentity }],
    };
    const issue = async (bound: HolderKey) =>
      issueSdJwtCredential(clinicAgent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: subjects(patientDid, clinic.did.did, clinic.did.did).PatientIdentityCredential,
        holderPublicJwk: await bound.publicJwk(),
      });
    const mine = await issue(holder);
    const notMine = await issue(otherKey);
    for (const credentials of [
      [
        { sdJwt: mine, disclose: ["givenName"] },
        { sdJwt: notMine, disclose: ["givenName"] },
      ],
      [
        { sdJwt: notMine, disclose: ["givenName"] },
        { sdJwt: mine, disclose: ["givenName"] },
      ],
    ]) {
      signed = 0;
      const refused = await caught(
        answerClinic({ holder: counting, resolver, clinic: verified, request, credentials }),
      );
      expect(refused).to.include({ code: "HOLDER_MISMATCH" });
      expect((refused as { field: string }).field).to.match(/^credentials\[[01]\]\.sdJwt$/);
      expect(signed, "nothing signed").to.equal(0);
    }
    const answer = (extra: object) =>
      caught(
        answerClinic({
          holder,
          resolver,
          clinic: verified,
          request,
          credentials: [{ sdJwt: mine, disclose: ["givenName"] }],
          ...extra,
        } as never),
      );
    expect(
      await caught(
        answerClinic({
          holder,
          resolver,
          clinic: verified,
          request,
          credentials: [{ sdJwt: mine, disclose: [5] as never }],
        }),
      ),
    ).to.include({ code: "INVALID_INPUT", field: "credentials[0].disclose" });
    expect(await answer({ encryptionKeys: async () => null })).to.include({ field: "encryptionKeys" });
    expect(await answer({ encryptionKeys: async () => [{ id: "k", publicKey: new Uint8Array(31) }] })).to.include({
      field: "encryptionKeys",
    });
    expect(await answer({ encryptionKeys: undefined, resolver: { resolve: async () => null } })).to.include({
      field: "resolver",
    });

    // A DID URL or another form is not a holder's DID; a compressed public key verifies as the uncompressed one.
    for (const did of [
      `${patientDid}#controller`,
      `${patientDid}?versionId=1`,
      `did:ethr:a:b:${patientWallet.address}`,
    ])
      expect(() => privateKeyHolderKey(patientWallet.privateKey, did), did).to.throw(InvalidIdentityInputError);
    const signature = Buffer.from(await holder.sign("text"), "base64url");
    const compressed = Buffer.from(patientWallet.signingKey.compressedPublicKey.slice(2), "hex");
    expect(verifyWithPublicKey(compressed, "text", signature)).to.equal(true);
    expect(verifyWithPublicKey(Uint8Array.of(0, ...compressed), "text", signature)).to.equal(false);
    // createChainVerifier checks the network as the agent does.
    expect(() =>
      createChainVerifier({
        trustRegistry: testChain.deployment.contracts.TrustRegistry,
        resolver,
        provider: testChain.provider,
        network: { ...testChain.network, chainId: "abc" as never },
      }),
    ).to.throw(InvalidIdentityInputError, /chainId/);
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
