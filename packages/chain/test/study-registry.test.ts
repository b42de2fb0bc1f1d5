import { expect } from "chai";
import { hexlify, keccak256, randomBytes, toUtf8Bytes } from "ethers";
import {
  InvalidInputError,
  StudyRegistryClient,
  TrustRegistryClient,
  scopeHash,
  studyDetailsHash,
  studyIdFor,
  studySalt,
} from "../src/index.ts";
import { latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { refusal, revertOf } from "./support/settle.ts";

describe("StudyRegistryClient (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let address: string;
  const researcher = walletAt(5);
  const irb = walletAt(6);
  const stranger = walletAt(7);
  const bytes32 = () => hexlify(randomBytes(32));

  before(async () => {
    t = await startTestChain();
    address = t.deployment.contracts.StudyRegistry!; // deployHygeia deploys it against its TrustRegistry
    const now = await latestTimestamp(t.provider);
    await new TrustRegistryClient(t.deployment.contracts.TrustRegistry, t.signer(0)).accredit({
      issuer: irb.address,
      role: "irb",
      validFrom: now - 10,
      validUntil: now + 86_400 * 365,
    });
  });
  after(async () => t?.stop());

  it("registers, reads the study and its details (checked against the stored hash), and closes", async () => {
    const studies = new StudyRegistryClient(address, t.signer(5));
    const now = await latestTimestamp(t.provider);
    const registration = {
      salt: studySalt("diabetes-2026"),
      protocolHash: bytes32(),
      approvalHash: bytes32(),
      irb: irb.address,
      encryptionKey: randomBytes(32),
      endsAt: now + 86_400 * 90,
      scopes: ["fhir:Observation", "category:laboratory", "fhir:Observation"],
    };
    const outcome = await studies.register(registration);
    const studyId = studyIdFor(researcher.address, registration.salt);
    expect(outcome.events[0]).to.include({
      type: "StudyRegistered",
      studyId: studyId,
      researcher: researcher.address,
    });
    const state = await studies.studyOf(studyId);
    expect(state).to.include({
      researcher: researcher.address,
      irb: irb.address,
      closed: false,
      endsAt: BigInt(registration.endsAt),
    });
    expect(await studies.isOpen(studyId)).to.equal(true);
    const details = await studies.details(studyId);
    const expectedScopes = [scopeHash("category:laboratory"), scopeHash("fhir:Observation")].sort((a, b) =>
      BigInt(a) < BigInt(b) ? -1 : 1,
    );
    expect(details).to.deep.include({
      studyId: studyId,
      protocolHash: registration.protocolHash.toLowerCase(),
      encryptionKey: hexlify(registration.encryptionKey),
      scopeHashes: expectedScopes,
    });
    expect(studyDetailsHash(details!)).to.equal(state!.detailsHash);

    const closed = await studies.close(studyId);
    expect(closed.events[0]).to.include({ type: "StudyClosed", studyId: studyId, by: researcher.address });
    expect(await studies.isOpen(studyId)).to.equal(false);
    expect(await studies.studyOf(bytes32())).to.equal(null);
    expect(await studies.details(bytes32())).to.equal(null);
  });

  it("typed reverts: an IRB not accredited now, a stranger closing, an id taken", async () => {
    const studies = new StudyRegistryClient(address, t.signer(5));
    const now = await latestTimestamp(t.provider);
    const base = {
      salt: bytes32(),
      protocolHash: bytes32(),
      approvalHash: bytes32(),
      irb: stranger.address,
      encryptionKey: bytes32(),
      endsAt: now + 86_400,
      scopes: ["fhir:Condition"],
    };
    const notTrusted = await revertOf(studies.register(base));
    expect(notTrusted.errorName).to.equal("IrbNotTrusted");
    await studies.register({ ...base, irb: irb.address });
    expect((await revertOf(studies.register({ ...base, irb: irb.address }))).errorName).to.equal("StudyExists");
    const asStranger = new StudyRegistryClient(address, t.signer(7));
    expect((await revertOf(asStranger.close(studyIdFor(researcher.address, base.salt)))).errorName).to.equal(
      "NotStudyController",
    );
  });

  it("refuses bad input before sending anything", () => {
    const studies = new StudyRegistryClient(address, t.signer(5));
    const good = {
      salt: bytes32(),
      protocolHash: bytes32(),
      approvalHash: bytes32(),
      irb: irb.address,
      encryptionKey: bytes32(),
      endsAt: 2_000_000_000,
      scopes: ["fhir:Observation"],
    };
    for (const bad of [
      { salt: "0x12" },
      { protocolHash: "0x12" },
      { irb: "0x" + "00".repeat(20) },
      { encryptionKey: new Uint8Array(16) },
      { endsAt: -1 },
      { scopes: [] },
      { scopes: Array.from({ length: 33 }, (_, i) => `fhir:T${i}`) },
      { scopes: ["has space"] },
    ])
      refusal(() => studies.register({ ...good, ...bad } as typeof good));
    expect(studySalt("diabetes-2026")).to.equal(keccak256(toUtf8Bytes("diabetes-2026")));
    for (const bad of ["", "-x", "Diabetes", "0x12", "a".repeat(65)])
      expect(() => studySalt(bad)).to.throw(InvalidInputError);
  });
});
