import { expect } from "chai";
import { network } from "hardhat";
import { DAY, type TrustRegistry, as, deploy as deployContract, namedSigners } from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const ROLE = {
  MEDICAL_BOARD: ethers.id("hygeia.role.medical-board"),
  IRB: ethers.id("hygeia.role.irb"),
  INSURER: ethers.id("hygeia.role.insurer"),
  IDENTITY_ISSUER: ethers.id("hygeia.role.identity-issuer"),
};

async function deploy() {
  const { governance, issuer, other, newGovernance } = await namedSigners(ethers, [
    "governance",
    "issuer",
    "other",
    "newGovernance",
  ]);
  const trust = await deployContract<TrustRegistry>(ethers, "TrustRegistry", [governance.address]);
  return { trust, asGov: as(trust, governance), governance, issuer, other, newGovernance };
}

describe("TrustRegistry", function () {
  describe("deployment and roles", function () {
    it("sets the governance owner and exposes the role constants", async function () {
      const { trust, governance } = await loadFixture(deploy);
      expect(await trust.owner()).to.equal(governance.address);
      expect(await trust.pendingOwner()).to.equal(ethers.ZeroAddress);
      expect(await trust.MEDICAL_BOARD()).to.equal(ROLE.MEDICAL_BOARD);
      expect(await trust.IRB()).to.equal(ROLE.IRB);
      expect(await trust.INSURER()).to.equal(ROLE.INSURER);
      expect(await trust.IDENTITY_ISSUER()).to.equal(ROLE.IDENTITY_ISSUER);
    });

    it("rejects a zero governance address", async function () {
      const factory = await ethers.getContractFactory("TrustRegistry");
      await expect(factory.deploy(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(factory, "OwnableInvalidOwner")
        .withArgs(ethers.ZeroAddress);
    });
  });

  describe("accredit", function () {
    it("stores the window, emits IssuerAccredited, trusts inside it", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      const from = now - DAY;
      const until = now + 365 * DAY;
      await expect(asGov.accredit(issuer.address, ROLE.MEDICAL_BOARD, from, until))
        .to.emit(trust, "IssuerAccredited")
        .withArgs(issuer.address, ROLE.MEDICAL_BOARD, from, until);
      expect(await trust.accreditationOf(issuer.address, ROLE.MEDICAL_BOARD)).to.deep.equal([
        BigInt(from),
        BigInt(until),
        0n,
      ]);
      expect(await trust.isTrusted(issuer.address, ROLE.MEDICAL_BOARD)).to.equal(true);
      // Per role.
      expect(await trust.isTrusted(issuer.address, ROLE.IRB)).to.equal(false);
    });

    it("accepts any non-zero role", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const custom = ethers.id("hygeia.role.custom");
      await asGov.accredit(issuer.address, custom, 0, (await time.latest()) + DAY);
      expect(await trust.isTrusted(issuer.address, custom)).to.equal(true);
    });

    it("a future window is not trusted yet", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.IRB, now + 100, now + 200);
      expect(await trust.isTrusted(issuer.address, ROLE.IRB)).to.equal(false);
      await time.increaseTo(now + 100);
      expect(await trust.isTrusted(issuer.address, ROLE.IRB)).to.equal(true);
      await time.increaseTo(now + 199);
      expect(await trust.isTrusted(issuer.address, ROLE.IRB)).to.equal(true);
      await time.increaseTo(now + 200);
      expect(await trust.isTrusted(issuer.address, ROLE.IRB)).to.equal(false);
    });

    it("overwrites an earlier accreditation, including a revoked one", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.INSURER, 0, now + DAY);
      await asGov.revokeAccreditation(issuer.address, ROLE.INSURER);
      expect(await trust.isTrusted(issuer.address, ROLE.INSURER)).to.equal(false);
      await expect(asGov.accredit(issuer.address, ROLE.INSURER, now, now + 2 * DAY))
        .to.emit(trust, "IssuerAccredited")
        .withArgs(issuer.address, ROLE.INSURER, now, now + 2 * DAY);
      expect(await trust.accreditationOf(issuer.address, ROLE.INSURER)).to.deep.equal([
        BigInt(now),
        BigInt(now + 2 * DAY),
        0n,
      ]);
      expect(await trust.isTrusted(issuer.address, ROLE.INSURER)).to.equal(true);
    });

    it("reverts ZeroAddress, ZeroRole", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const until = (await time.latest()) + DAY;
      await expect(asGov.accredit(ethers.ZeroAddress, ROLE.IRB, 0, until)).to.be.revertedWithCustomError(
        trust,
        "ZeroAddress",
      );
      await expect(asGov.accredit(issuer.address, ethers.ZeroHash, 0, until)).to.be.revertedWithCustomError(
        trust,
        "ZeroRole",
      );
    });

    it("reverts InvalidWindow unless validUntil > validFrom and validUntil > now", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const t = (await time.latest()) + 100;
      const cases: Array<[number, number]> = [
        [t + 10, t + 10], // empty
        [t + 10, t + 5], // reversed
        [0, t], // ends now (checked at the next block's timestamp t)
        [0, t - 50], // already over
        [0, 0],
      ];
      for (const [from, until] of cases) {
        await time.setNextBlockTimestamp(t);
        await expect(asGov.accredit(issuer.address, ROLE.IRB, from, until))
          .to.be.revertedWithCustomError(trust, "InvalidWindow")
          .withArgs(from, until);
      }
      await time.setNextBlockTimestamp(t);
      await expect(asGov.accredit(issuer.address, ROLE.IRB, 0, t + 1)).to.emit(trust, "IssuerAccredited");
    });

    it("is governance only (OwnableUnauthorizedAccount)", async function () {
      const { trust, issuer, other } = await loadFixture(deploy);
      const until = (await time.latest()) + DAY;
      await expect(as(trust, other).accredit(issuer.address, ROLE.IRB, 0, until))
        .to.be.revertedWithCustomError(trust, "OwnableUnauthorizedAccount")
        .withArgs(other.address);
      await expect(as(trust, issuer).accredit(issuer.address, ROLE.IRB, 0, until))
        .to.be.revertedWithCustomError(trust, "OwnableUnauthorizedAccount")
        .withArgs(issuer.address);
    });
  });

  describe("revokeAccreditation", function () {
    it("sets revokedAt = now, emits AccreditationRevoked, stops trust", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.MEDICAL_BOARD, now - DAY, now + DAY);
      const t = now + 100;
      await time.setNextBlockTimestamp(t);
      await expect(asGov.revokeAccreditation(issuer.address, ROLE.MEDICAL_BOARD))
        .to.emit(trust, "AccreditationRevoked")
        .withArgs(issuer.address, ROLE.MEDICAL_BOARD, t);
      expect(await trust.accreditationOf(issuer.address, ROLE.MEDICAL_BOARD)).to.deep.equal([
        BigInt(now - DAY),
        BigInt(now + DAY),
        BigInt(t),
      ]);
      expect(await trust.isTrusted(issuer.address, ROLE.MEDICAL_BOARD)).to.equal(false);
    });

    it("reverts NotAccredited when there is no record, it is revoked, or it has expired", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      await expect(asGov.revokeAccreditation(issuer.address, ROLE.IRB))
        .to.be.revertedWithCustomError(trust, "NotAccredited")
        .withArgs(issuer.address, ROLE.IRB);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.IRB, 0, now + 100);
      await asGov.revokeAccreditation(issuer.address, ROLE.IRB);
      await expect(asGov.revokeAccreditation(issuer.address, ROLE.IRB))
        .to.be.revertedWithCustomError(trust, "NotAccredited")
        .withArgs(issuer.address, ROLE.IRB);
      await asGov.accredit(issuer.address, ROLE.INSURER, 0, now + 100);
      await time.setNextBlockTimestamp(now + 100);
      await expect(asGov.revokeAccreditation(issuer.address, ROLE.INSURER))
        .to.be.revertedWithCustomError(trust, "NotAccredited")
        .withArgs(issuer.address, ROLE.INSURER);
    });

    it("may cancel a not-yet-valid accreditation, which then never becomes trusted", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.IRB, now + 1000, now + 2000);
      await asGov.revokeAccreditation(issuer.address, ROLE.IRB);
      await time.increaseTo(now + 1500);
      expect(await trust.isTrusted(issuer.address, ROLE.IRB)).to.equal(false);
      expect(await trust.isTrustedAt(issuer.address, ROLE.IRB, now + 1500)).to.equal(false);
    });

    it("is governance only", async function () {
      const { trust, asGov, issuer, other } = await loadFixture(deploy);
      await asGov.accredit(issuer.address, ROLE.IRB, 0, (await time.latest()) + DAY);
      await expect(as(trust, other).revokeAccreditation(issuer.address, ROLE.IRB))
        .to.be.revertedWithCustomError(trust, "OwnableUnauthorizedAccount")
        .withArgs(other.address);
    });
  });

  describe("isTrustedAt boundaries", function () {
    it("validFrom <= at < validUntil, and at < revokedAt once revoked", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      const from = now - 1000;
      const until = now + 1000;
      await asGov.accredit(issuer.address, ROLE.MEDICAL_BOARD, from, until);
      const at = (t: number) => trust.isTrustedAt(issuer.address, ROLE.MEDICAL_BOARD, t);
      expect(await at(from - 1)).to.equal(false);
      expect(await at(from)).to.equal(true);
      expect(await at(until - 1)).to.equal(true);
      expect(await at(until)).to.equal(false);
      expect(await at(0)).to.equal(false);

      const revokedAt = now + 10;
      await time.setNextBlockTimestamp(revokedAt);
      await asGov.revokeAccreditation(issuer.address, ROLE.MEDICAL_BOARD);
      expect(await at(from)).to.equal(true);
      expect(await at(revokedAt - 1)).to.equal(true);
      expect(await at(revokedAt)).to.equal(false);
      expect(await at(until - 1)).to.equal(false);
      // A credential issued before the revocation still verifies as "trusted at issuance";
      // the issuer is no longer trusted now.
      expect(await trust.isTrusted(issuer.address, ROLE.MEDICAL_BOARD)).to.equal(false);
    });

    it("is false for unknown issuers and roles at any time", async function () {
      const { trust, issuer } = await loadFixture(deploy);
      for (const t of [0, 1, 2 ** 32, 2n ** 64n - 1n]) {
        expect(await trust.isTrustedAt(issuer.address, ROLE.IRB, t)).to.equal(false);
      }
      expect(await trust.isTrusted(issuer.address, ROLE.IRB)).to.equal(false);
      expect(await trust.accreditationOf(issuer.address, ROLE.IRB)).to.deep.equal([0n, 0n, 0n]);
    });
  });

  describe("governance (Ownable2Step)", function () {
    it("transfers in two steps: pending until accepted by the new owner", async function () {
      const { trust, asGov, governance, newGovernance, other, issuer } = await loadFixture(deploy);
      await expect(asGov.transferOwnership(newGovernance.address))
        .to.emit(trust, "OwnershipTransferStarted")
        .withArgs(governance.address, newGovernance.address);
      expect(await trust.owner()).to.equal(governance.address);
      expect(await trust.pendingOwner()).to.equal(newGovernance.address);
      // Only the pending owner can accept.
      await expect(as(trust, other).acceptOwnership())
        .to.be.revertedWithCustomError(trust, "OwnableUnauthorizedAccount")
        .withArgs(other.address);
      await expect(as(trust, newGovernance).acceptOwnership())
        .to.emit(trust, "OwnershipTransferred")
        .withArgs(governance.address, newGovernance.address);
      expect(await trust.owner()).to.equal(newGovernance.address);
      expect(await trust.pendingOwner()).to.equal(ethers.ZeroAddress);
      const until = (await time.latest()) + DAY;
      await expect(asGov.accredit(issuer.address, ROLE.IRB, 0, until))
        .to.be.revertedWithCustomError(trust, "OwnableUnauthorizedAccount")
        .withArgs(governance.address);
      await expect(as(trust, newGovernance).accredit(issuer.address, ROLE.IRB, 0, until)).to.emit(
        trust,
        "IssuerAccredited",
      );
    });

    it("only the owner starts a transfer", async function () {
      const { trust, other } = await loadFixture(deploy);
      await expect(as(trust, other).transferOwnership(other.address))
        .to.be.revertedWithCustomError(trust, "OwnableUnauthorizedAccount")
        .withArgs(other.address);
    });
  });
});
