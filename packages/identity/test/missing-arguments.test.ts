// Entry points given undefined (or null) where an object, a store or a DID is required throw
// InvalidIdentityInputError naming the argument, never a TypeError from inside ("cannot read properties of
// undefined"). No chain is needed: every case is refused before the agent would reach it.
import { expect } from "chai";
import {
  CredentialType,
  CredentialVerifier,
  IdentityAgent,
  InvalidIdentityInputError,
  IssuerTrust,
  MemoryChallengeStore,
  SqliteChallengeStore,
  StatusListChecker,
  answerVerifiedClinic,
  challengeClinic,
  createAgentVerifier,
  createPresentation,
  issueCredential,
  issueSdJwtCredential,
  issueStatusListCredential,
  presentSdJwtCredential,
  statusEntry,
  subjectClaimNames,
  verifyClinic,
  type ClinicVerification,
} from "../src/index.ts";

const network = { chainId: 31337, rpcUrl: "http://127.0.0.1:9", registry: `0x${"11".repeat(20)}` };
const none = undefined as never;

describe("identity: missing arguments are typed errors naming the field", function () {
  let agent: IdentityAgent;
  let did: string;

  before(async function () {
    agent = await IdentityAgent.create({ network, watchRegistry: false });
    did = (await agent.createDid()).did;
  });
  after(async function () {
    await agent?.close();
  });

  const verified = (): ClinicVerification => ({
    ok: true,
    checks: [],
    holder: "did:ethr:0x7a69:0x0000000000000000000000000000000000000001",
    disclosed: {},
    clinic: {
      did: "did:ethr:0x7a69:0x0000000000000000000000000000000000000001",
      clinicName: "C",
      accreditationNumber: "1",
      virtual: true,
    },
  });

  const cases: Array<[string, () => unknown, string]> = [
    // check-in
    ["challengeClinic(undefined, did)", () => challengeClinic(none, did), "challenges"],
    ["challengeClinic(store, undefined)", () => challengeClinic(new MemoryChallengeStore(), none), "patientDid"],
    ["verifyClinic(undefined, …)", () => verifyClinic(none, "vp", { challenge: "c", domain: did }), "verifier"],
    [
      "verifyClinic(verifier, vp, undefined)",
      () => verifyClinic(new CredentialVerifier({ resolver: agent.resolver }), "vp", none),
      "challenge",
    ],
    ["answerVerifiedClinic(undefined, params)", () => answerVerifiedClinic(none, none), "agent"],
    ["answerVerifiedClinic(agent, undefined)", () => answerVerifiedClinic(agent, none), "params"],
    ["answerVerifiedClinic(agent, {})", () => answerVerifiedClinic(agent, {} as never), "clinic"],
    [
      "answerVerifiedClinic without request",
      () => answerVerifiedClinic(agent, { patient: did, clinic: verified(), request: none, credentials: [] }),
      "request",
    ],
    [
      "answerVerifiedClinic with an undefined credential",
      () =>
        answerVerifiedClinic(agent, {
          patient: did,
          clinic: verified(),
          request: { challenge: "c".repeat(32), domain: verified().clinic!.did, credentials: [] },
          credentials: [none],
        }),
      "credentials[0]",
    ],
    // verifier wiring and challenges
    ["createAgentVerifier(undefined, options)", () => createAgentVerifier(none, none), "agent"],
    ["createAgentVerifier(agent, undefined)", () => createAgentVerifier(agent, none), "options"],
    ["createAgentVerifier(agent, {})", () => createAgentVerifier(agent, {} as never), "trustRegistry"],
    ["new CredentialVerifier(undefined)", () => new CredentialVerifier(none), "options"],
    ["new CredentialVerifier({})", () => new CredentialVerifier({} as never), "resolver"],
    ["new IssuerTrust(undefined)", () => new IssuerTrust(none), "options"],
    ["new MemoryChallengeStore(null)", () => new MemoryChallengeStore(null as never), "options"],
    ["MemoryChallengeStore.issue(undefined)", () => new MemoryChallengeStore().issue(none), "domain"],
    ["MemoryChallengeStore.issue(domain, -1)", () => new MemoryChallengeStore().issue("clinic", -1), "ttlSeconds"],
    ["MemoryChallengeStore.consume(undefined, …)", () => new MemoryChallengeStore().consume(none, "d"), "challenge"],
    ["new SqliteChallengeStore(undefined)", () => new SqliteChallengeStore(none), "path"],
    ["SqliteChallengeStore.issue(undefined)", () => new SqliteChallengeStore(":memory:").issue(none), "domain"],
    [
      "SqliteChallengeStore.consume(c, undefined)",
      () => new SqliteChallengeStore(":memory:").consume("c", none),
      "domain",
    ],
    // status lists
    ["statusEntry(undefined, …)", () => statusEntry(none, "revocation", 1), "listUrl"],
    ["statusEntry(url, undefined, 1)", () => statusEntry("https://x.example/l", none, 1), "purpose"],
    ["issueStatusListCredential(undefined, …)", () => issueStatusListCredential(none, {} as never), "agent"],
    ["issueStatusListCredential(agent, undefined)", () => issueStatusListCredential(agent, none), "params"],
    ["new StatusListChecker(undefined)", () => new StatusListChecker(none), "options"],
    ["new StatusListChecker({})", () => new StatusListChecker({} as never), "fetcher"],
    [
      "StatusListChecker.check(issuer, undefined)",
      () => new StatusListChecker({ fetcher: async () => "", verifier: none }).check(did, none),
      "verifier",
    ],
    // credentials
    ["issueCredential(undefined, params)", () => issueCredential(none, {} as never), "agent"],
    ["issueCredential(agent, undefined)", () => issueCredential(agent, none), "params"],
    ["issueCredential(agent, {})", () => issueCredential(agent, {} as never), "type"],
    [
      "issueCredential without subject",
      () => issueCredential(agent, { issuer: did, type: CredentialType.PatientIdentity, subject: none }),
      "subject",
    ],
    ["createPresentation(undefined, params)", () => createPresentation(none, {} as never), "agent"],
    ["createPresentation(agent, undefined)", () => createPresentation(agent, none), "params"],
    ["issueSdJwtCredential(agent, undefined)", () => issueSdJwtCredential(agent, none), "params"],
    ["presentSdJwtCredential(agent, undefined)", () => presentSdJwtCredential(agent, none), "params"],
    ["subjectClaimNames(undefined)", () => subjectClaimNames(none), "type"],
    // the agent
    ["IdentityAgent.create({})", () => IdentityAgent.create({} as never), "network"],
    ["agent.createDid(null)", () => agent.createDid(null as never), "options"],
    ["agent.addDelegate(did, address, null)", () => agent.addDelegate(did, network.registry, null as never), "options"],
    [
      "agent.publishEncryptionKey(did, key, null)",
      () => agent.publishEncryptionKey(did, new Uint8Array(32).fill(9), null as never),
      "options",
    ],
  ];

  for (const [label, call, field] of cases)
    it(`${label}: InvalidIdentityInputError naming ${field}`, async function () {
      const error = await Promise.resolve()
        .then(call)
        .then(
          () => expect.fail("expected a typed error"),
          (caught: unknown) => caught,
        );
      expect(error, String(error)).to.be.instanceOf(InvalidIdentityInputError);
      expect((error as InvalidIdentityInputError).field).to.equal(field);
      expect((error as Error).message).to.not.match(/cannot read|undefined \(reading|is not iterable/i);
    });
});
