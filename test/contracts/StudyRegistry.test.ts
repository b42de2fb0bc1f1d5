import { expect } from "chai";
import { network } from "hardhat";
import {
  DAY,
  type StudyRegistry,
  type TrustRegistry,
  as,
  deploy as deployContract,
  namedSigners,
} from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const IRB = ethers.id("hygeia.role.irb");
const CLINIC = ethers.id("hygeia.role.clinic");
const scopeHash = (scope: string) => ethers.id(scope);
/** Scope hashes sorted ascending, as register() requires. */
const sortedScopes = (...scopes: string[]) => scopes.map(scopeHash).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));

async function deploy() {
  const { governance, researcher, irb, otherIrb, clinic, other } = await namedSigners(ethers, [
    "governance",
    "researcher",
    "irb",
    "otherIrb",
    "clinic",
    "other",
  ]);
  const trust = await deployContract<TrustRegistry>(ethers, "TrustRegistry", [governance.address]);
  const studies = await deployContract<StudyRegistry>(ethers, "StudyRegistry", [await trust.getAddress()]);
  const now = await time.latest();
  await as(trust, governance).accredit(irb.address, IRB, 0, now + 365 * DAY);
  await as(trust, governance).accredit(clinic.address, CLINIC, 0, now + 365 * DAY);
  const registration = {
    salt: ethers.id("diabetes-2026"),
    protocolHash: ethers.id("protocol v1"),
    approvalHash: ethers.id("ethics approval credential"),
    irb: irb.address,
    encryptionKey: ethers.id("x25519 public key"),
    endsAt: BigInt(now + 90 * DAY),
    scopes: sortedScopes("fhir:Observation", "category:laboratory"),
  };
  /** What register() names the study: keccak256(abi.encode(researcher, salt)). */
  const studyId = ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(["address", "bytes32"], [researcher.address, registration.salt]),
  );
  return {
    trust,
    studies,
    studyId,
    asResearcher: as(studies, researcher),
    asGov: as(trust, governance),
    registration,
    governance,
    researcher,
    irb,
    otherIrb,
    clinic,
    other,
  };
}

async function registered() {
  const fx = await deploy();
  await fx.asResearcher.register(fx.registration);
  return fx;
}

describe("StudyRegistry", function () {
  describe("deployment", function () {
    it("keeps the TrustRegistry and asks for its IRB role", async function () {
      const { trust, studies } = await loadFixture(deploy);
      expect(await studies.trustRegistry()).to.equal(await trust.getAddress());
      expect(await studies.IRB_ROLE()).to.equal(await trust.IRB());
      expect(await studies.MAX_SCOPES()).to.equal(32n);
    });

    it("rejects a zero TrustRegistry address", async function () {
      const factory = await ethers.getContractFactory("StudyRegistry");
      await expect(factory.deploy(ethers.ZeroAddress)).to.be.revertedWithCustomError(factory, "ZeroAddress");
    });
  });

  describe("register", function () {
    it("stores the study, emits its details, and detailsHash binds them", async function () {
      const { studies, asResearcher, registration: r, researcher, irb, studyId } = await loadFixture(deploy);
      const tx = asResearcher.register(r);
      await expect(tx)
        .to.emit(studies, "StudyRegistered")
        .withArgs(
          studyId,
          researcher.address,
          irb.address,
          r.protocolHash,
          r.approvalHash,
          r.encryptionKey,
          r.endsAt,
          r.scopes,
        );
      const at = BigInt(await time.latest());
      const expectedHash = ethers.keccak256(
        ethers.AbiCoder.defaultAbiCoder().encode(
          ["bytes32", "bytes32", "bytes32", "bytes32[]"],
          [r.protocolHash, r.approvalHash, r.encryptionKey, r.scopes],
        ),
      );
      expect(await studies.detailsHashOf(r.protocolHash, r.approvalHash, r.encryptionKey, r.scopes)).to.equal(
        expectedHash,
      );
      expect(await studies.studyOf(studyId)).to.deep.equal([
        researcher.address,
        r.endsAt,
        false,
        irb.address,
        at,
        expectedHash,
      ]);
      expect(await studies.isOpen(studyId)).to.equal(true);
    });

    it("accepts up to MAX_SCOPES scopes", async function () {
      const { asResearcher, registration, studies, studyId } = await loadFixture(deploy);
      const scopes = sortedScopes(...Array.from({ length: 32 }, (_, i) => `fhir:Type${i}`));
      await asResearcher.register({ ...registration, scopes });
      expect(await studies.isOpen(studyId)).to.equal(true);
    });

    it("ids are the researcher's own: the same salt again reverts StudyExists, another sender's copy gets another id", async function () {
      const { studies, asResearcher, registration, other, researcher, studyId } = await loadFixture(registered);
      expect(await studies.studyIdOf(researcher.address, registration.salt)).to.equal(studyId);
      await asResearcher.close(studyId);
      await expect(asResearcher.register(registration))
        .to.be.revertedWithCustomError(studies, "StudyExists")
        .withArgs(studyId);
      // A front-runner copying the pending registration registers a study of its own, not this one.
      const copied = ethers.keccak256(
        ethers.AbiCoder.defaultAbiCoder().encode(["address", "bytes32"], [other.address, registration.salt]),
      );
      await expect(as(studies, other).register(registration))
        .to.emit(studies, "StudyRegistered")
        .withArgs(copied, other.address, anyValue(), anyValue(), anyValue(), anyValue(), anyValue(), anyValue());
      expect((await studies.studyOf(studyId))[0]).to.not.equal(other.address);
    });

    it("reverts EndTooFar beyond ten years, IrbIsResearcher for a self-approved study", async function () {
      const { studies, asResearcher, registration, researcher, asGov } = await loadFixture(deploy);
      const latest = BigInt(await time.latest()) + 1n + 3650n * BigInt(DAY);
      await time.setNextBlockTimestamp(latest - 3650n * BigInt(DAY));
      await expect(asResearcher.register({ ...registration, endsAt: latest + 1n }))
        .to.be.revertedWithCustomError(studies, "EndTooFar")
        .withArgs(latest + 1n, latest);
      await asGov.accredit(researcher.address, IRB, 0, (await time.latest()) + DAY);
      await expect(asResearcher.register({ ...registration, irb: researcher.address }))
        .to.be.revertedWithCustomError(studies, "IrbIsResearcher")
        .withArgs(researcher.address);
    });

    it("a study whose IRB loses its accreditation is no longer open", async function () {
      const { studies, asGov, irb, studyId } = await loadFixture(registered);
      expect(await studies.isOpen(studyId)).to.equal(true);
      await asGov.revokeAccreditation(irb.address, IRB);
      expect(await studies.isOpen(studyId)).to.equal(false);
    });

    it("reverts ZeroHash for a zero protocol or approval hash, ZeroKey for a zero key", async function () {
      const { studies, asResearcher, registration } = await loadFixture(deploy);
      for (const field of ["protocolHash", "approvalHash"] as const)
        await expect(
          asResearcher.register({ ...registration, [field]: ethers.ZeroHash }),
        ).to.be.revertedWithCustomError(studies, "ZeroHash");
      await expect(
        asResearcher.register({ ...registration, encryptionKey: ethers.ZeroHash }),
      ).to.be.revertedWithCustomError(studies, "ZeroKey");
    });

    it("reverts InvalidScopes for none, a zero hash, a duplicate or a wrong order; TooManyScopes above 32", async function () {
      const { studies, asResearcher, registration } = await loadFixture(deploy);
      const [a, b] = sortedScopes("fhir:Observation", "category:laboratory") as [string, string];
      for (const scopes of [[], [ethers.ZeroHash], [ethers.ZeroHash, a], [a, a], [b, a]])
        await expect(asResearcher.register({ ...registration, scopes })).to.be.revertedWithCustomError(
          studies,
          "InvalidScopes",
        );
      const tooMany = sortedScopes(...Array.from({ length: 33 }, (_, i) => `fhir:Type${i}`));
      await expect(asResearcher.register({ ...registration, scopes: tooMany }))
        .to.be.revertedWithCustomError(studies, "TooManyScopes")
        .withArgs(33n, 32n);
    });

    it("reverts EndNotInFuture for an end date now or past", async function () {
      const { studies, asResearcher, registration } = await loadFixture(deploy);
      const next = BigInt((await time.latest()) + 1);
      await time.setNextBlockTimestamp(next);
      await expect(asResearcher.register({ ...registration, endsAt: next }))
        .to.be.revertedWithCustomError(studies, "EndNotInFuture")
        .withArgs(next, next);
      await expect(asResearcher.register({ ...registration, endsAt: 1n })).to.be.revertedWithCustomError(
        studies,
        "EndNotInFuture",
      );
    });

    it("reverts ZeroAddress for no IRB, IrbNotTrusted for an issuer without the IRB role now", async function () {
      const { studies, trust, asGov, asResearcher, registration, otherIrb, clinic, irb } = await loadFixture(deploy);
      await expect(asResearcher.register({ ...registration, irb: ethers.ZeroAddress })).to.be.revertedWithCustomError(
        studies,
        "ZeroAddress",
      );
      // Never accredited; accredited, but as a clinic.
      for (const issuer of [otherIrb.address, clinic.address])
        await expect(asResearcher.register({ ...registration, irb: issuer }))
          .to.be.revertedWithCustomError(studies, "IrbNotTrusted")
          .withArgs(issuer);
      // Accredited only from tomorrow.
      const now = await time.latest();
      await asGov.accredit(otherIrb.address, IRB, now + DAY, now + 2 * DAY);
      await expect(asResearcher.register({ ...registration, irb: otherIrb.address }))
        .to.be.revertedWithCustomError(studies, "IrbNotTrusted")
        .withArgs(otherIrb.address);
      // Accreditation revoked.
      await asGov.revokeAccreditation(irb.address, IRB);
      expect(await trust.isTrusted(irb.address, IRB)).to.equal(false);
      await expect(asResearcher.register(registration))
        .to.be.revertedWithCustomError(studies, "IrbNotTrusted")
        .withArgs(irb.address);
    });
  });

  describe("close", function () {
    it("the researcher closes: StudyClosed, closed for good, no longer open", async function () {
      const { studies, asResearcher, researcher, studyId } = await loadFixture(registered);
      const tx = asResearcher.close(studyId);
      await expect(tx).to.emit(studies, "StudyClosed").withArgs(studyId, researcher.address, anyTime());
      expect((await studies.studyOf(studyId))[2]).to.equal(true);
      expect(await studies.isOpen(studyId)).to.equal(false);
      await expect(asResearcher.close(studyId))
        .to.be.revertedWithCustomError(studies, "StudyAlreadyClosed")
        .withArgs(studyId);
    });

    it("the approving IRB closes too; nobody else does", async function () {
      const { studies, irb, otherIrb, other, studyId } = await loadFixture(registered);
      for (const signer of [other, otherIrb])
        await expect(as(studies, signer).close(studyId))
          .to.be.revertedWithCustomError(studies, "NotStudyController")
          .withArgs(signer.address);
      await expect(as(studies, irb).close(studyId))
        .to.emit(studies, "StudyClosed")
        .withArgs(studyId, irb.address, anyTime());
    });

    it("reverts UnknownStudy for an id never registered", async function () {
      const { studies, asResearcher } = await loadFixture(registered);
      const unknown = ethers.id("study:unknown");
      await expect(asResearcher.close(unknown))
        .to.be.revertedWithCustomError(studies, "UnknownStudy")
        .withArgs(unknown);
    });

    it("a study past its end date is not open, and can still be closed", async function () {
      const { studies, asResearcher, registration, studyId } = await loadFixture(registered);
      await time.increaseTo(registration.endsAt - 1n);
      expect(await studies.isOpen(studyId)).to.equal(true);
      await time.increaseTo(registration.endsAt);
      expect(await studies.isOpen(studyId)).to.equal(false);
      await asResearcher.close(studyId);
      expect((await studies.studyOf(studyId))[2]).to.equal(true);
    });
  });

  describe("views", function () {
    it("an unknown id: an empty study, not open", async function () {
      const { studies } = await loadFixture(deploy);
      const unknown = ethers.id("nothing");
      expect(await studies.isOpen(unknown)).to.equal(false);
      expect(await studies.studyOf(unknown)).to.deep.equal([
        ethers.ZeroAddress,
        0n,
        false,
        ethers.ZeroAddress,
        0n,
        ethers.ZeroHash,
      ]);
    });
  });
});

/** Any value (checked elsewhere). */
function anyValue() {
  return () => true;
}

/** Any block time (the close's timestamp is the block's). */
function anyTime() {
  return (value: bigint) => value > 0n;
}
