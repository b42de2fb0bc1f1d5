import { expect } from "chai";
import { network } from "hardhat";
import { DAY, type TrustRegistry, as, deploy as deployContract, namedSigners } from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const ROLE = {
  MEDICAL_BOARD: ethers.id("hygeia.role.medical-board"),
  CLINIC: ethers.id("hygeia.role.clinic"),
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
      expect(await trust.CLINIC()).to.equal(ROLE.CLINIC);
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

  describe("history (append-only windows)", function () {
    it("re-accrediting a revoked issuer with its original validFrom reverts WindowOverlapsHistory(validFrom, now)", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      const from = now - DAY;
      await asGov.accredit(issuer.address, ROLE.CLINIC, from, now + 30 * DAY);
      const revokedAt = now + 100;
      await time.setNextBlockTimestamp(revokedAt);
      await asGov.revokeAccreditation(issuer.address, ROLE.CLINIC);
      const t = revokedAt + 50;
      await time.setNextBlockTimestamp(t);
      await expect(asGov.accredit(issuer.address, ROLE.CLINIC, from, now + 60 * DAY))
        .to.be.revertedWithCustomError(trust, "WindowOverlapsHistory")
        .withArgs(from, t);
      // Starting one second before now is refused too; the revoked period stays untrusted.
      await time.setNextBlockTimestamp(t + 1);
      await expect(asGov.accredit(issuer.address, ROLE.CLINIC, t, now + 60 * DAY))
        .to.be.revertedWithCustomError(trust, "WindowOverlapsHistory")
        .withArgs(t, t + 1);
      expect(await trust.isTrustedAt(issuer.address, ROLE.CLINIC, revokedAt)).to.equal(false);
      expect(await trust.accreditationCount(issuer.address, ROLE.CLINIC)).to.equal(1n);
    });

    it("after a revocation, a later short window does not open a gap to backdate into the revoked period", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const t0 = await time.latest();
      await asGov.accredit(issuer.address, ROLE.CLINIC, t0, t0 + 1000);
      await time.setNextBlockTimestamp(t0 + 500);
      await asGov.revokeAccreditation(issuer.address, ROLE.CLINIC);
      await time.setNextBlockTimestamp(t0 + 501);
      await asGov.accredit(issuer.address, ROLE.CLINIC, t0 + 501, t0 + 502);
      // At t0 + 900 the short window has ended; starting the next at its end would reach back over t0 + 700.
      await time.setNextBlockTimestamp(t0 + 900);
      await expect(asGov.accredit(issuer.address, ROLE.CLINIC, t0 + 502, t0 + 5000))
        .to.be.revertedWithCustomError(trust, "WindowOverlapsHistory")
        .withArgs(t0 + 502, t0 + 900);
      await time.setNextBlockTimestamp(t0 + 901);
      await asGov.accredit(issuer.address, ROLE.CLINIC, t0 + 901, t0 + 5000);
      expect(await trust.isTrustedAt(issuer.address, ROLE.CLINIC, t0 + 700)).to.equal(false);
      expect(await trust.isTrustedAt(issuer.address, ROLE.CLINIC, t0 + 901)).to.equal(true);
      expect(await trust.isTrustedAt(issuer.address, ROLE.CLINIC, t0 + 499)).to.equal(true);
    });

    it("re-accrediting from now keeps the revoked period untrusted and the old window trusted", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      const from = now - 10 * DAY;
      const until = now + 30 * DAY;
      await asGov.accredit(issuer.address, ROLE.CLINIC, from, until);
      const revokedAt = now + 100;
      await time.setNextBlockTimestamp(revokedAt);
      await asGov.revokeAccreditation(issuer.address, ROLE.CLINIC);
      const again = revokedAt + DAY;
      await time.setNextBlockTimestamp(again);
      await expect(asGov.accredit(issuer.address, ROLE.CLINIC, again, again + 30 * DAY))
        .to.emit(trust, "IssuerAccredited")
        .withArgs(issuer.address, ROLE.CLINIC, again, again + 30 * DAY);
      const at = (t: number) => trust.isTrustedAt(issuer.address, ROLE.CLINIC, t);
      // Old window, before the revocation: still trusted (credentials issued then stay valid at issuance).
      expect(await at(from)).to.equal(true);
      expect(await at(revokedAt - 1)).to.equal(true);
      // The revoked period: never trusted again.
      expect(await at(revokedAt)).to.equal(false);
      expect(await at(again - 1)).to.equal(false);
      // The new window.
      expect(await at(again)).to.equal(true);
      expect(await at(until)).to.equal(true);
      expect(await at(again + 30 * DAY)).to.equal(false);
      expect(await trust.isTrusted(issuer.address, ROLE.CLINIC)).to.equal(true);
      expect(await trust.accreditationOf(issuer.address, ROLE.CLINIC)).to.deep.equal([
        BigInt(again),
        BigInt(again + 30 * DAY),
        0n,
      ]);
    });

    it("renewal: a window starting at the previous validUntil is appended; an overlapping one is refused", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      const until = now + 100 * DAY;
      await asGov.accredit(issuer.address, ROLE.IRB, now - DAY, until);
      await expect(asGov.accredit(issuer.address, ROLE.IRB, until - 1, until + 365 * DAY))
        .to.be.revertedWithCustomError(trust, "WindowOverlapsHistory")
        .withArgs(until - 1, until);
      await expect(asGov.accredit(issuer.address, ROLE.IRB, until, until + 365 * DAY))
        .to.emit(trust, "IssuerAccredited")
        .withArgs(issuer.address, ROLE.IRB, until, until + 365 * DAY);
      const at = (t: number) => trust.isTrustedAt(issuer.address, ROLE.IRB, t);
      expect(await at(until - 1)).to.equal(true);
      expect(await at(until)).to.equal(true);
      expect(await at(until + 365 * DAY - 1)).to.equal(true);
      expect(await at(until + 365 * DAY)).to.equal(false);
      // A gap is allowed (untrusted in between).
      await asGov.accredit(issuer.address, ROLE.IRB, until + 400 * DAY, until + 500 * DAY);
      expect(await at(until + 380 * DAY)).to.equal(false);
      expect(await at(until + 450 * DAY)).to.equal(true);
      expect(await trust.accreditationCount(issuer.address, ROLE.IRB)).to.equal(3n);
    });

    it("after an expired (not revoked) window, the next must still start at or after its validUntil", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.INSURER, now - DAY, now + 100);
      await time.increaseTo(now + 1000);
      await expect(asGov.accredit(issuer.address, ROLE.INSURER, now, now + DAY))
        .to.be.revertedWithCustomError(trust, "WindowOverlapsHistory")
        .withArgs(now, now + 100);
      // Backdating into the gap after the old window is fine (no revocation there).
      await asGov.accredit(issuer.address, ROLE.INSURER, now + 100, now + DAY);
      expect(await trust.isTrustedAt(issuer.address, ROLE.INSURER, now + 500)).to.equal(true);
    });

    it("revokeAccreditation revokes future windows too, none of which ever becomes trusted", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.MEDICAL_BOARD, now - DAY, now + DAY);
      await asGov.accredit(issuer.address, ROLE.MEDICAL_BOARD, now + DAY, now + 10 * DAY);
      await asGov.accredit(issuer.address, ROLE.MEDICAL_BOARD, now + 20 * DAY, now + 30 * DAY);
      const t = now + 100;
      await time.setNextBlockTimestamp(t);
      await expect(asGov.revokeAccreditation(issuer.address, ROLE.MEDICAL_BOARD))
        .to.emit(trust, "AccreditationRevoked")
        .withArgs(issuer.address, ROLE.MEDICAL_BOARD, t);
      for (let i = 0; i < 3; i++)
        expect((await trust.accreditationAt(issuer.address, ROLE.MEDICAL_BOARD, i))[2]).to.equal(BigInt(t));
      const at = (x: number) => trust.isTrustedAt(issuer.address, ROLE.MEDICAL_BOARD, x);
      expect(await at(t - 1)).to.equal(true);
      expect(await at(t)).to.equal(false);
      expect(await at(now + 5 * DAY)).to.equal(false);
      expect(await at(now + 25 * DAY)).to.equal(false);
      await time.increaseTo(now + 25 * DAY);
      expect(await trust.isTrusted(issuer.address, ROLE.MEDICAL_BOARD)).to.equal(false);
    });

    it("revokeAccreditation leaves expired windows and earlier revocations as they were", async function () {
      const { trust, asGov, issuer } = await loadFixture(deploy);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.IRB, now - DAY, now + 100);
      await time.increaseTo(now + 200);
      await asGov.accredit(issuer.address, ROLE.IRB, now + 200, now + DAY);
      const r1 = now + 300;
      await time.setNextBlockTimestamp(r1);
      await asGov.revokeAccreditation(issuer.address, ROLE.IRB);
      const again = r1 + 10;
      await time.setNextBlockTimestamp(again);
      await asGov.accredit(issuer.address, ROLE.IRB, again, again + DAY);
      const r2 = again + 50;
      await time.setNextBlockTimestamp(r2);
      await asGov.revokeAccreditation(issuer.address, ROLE.IRB);
      expect(await trust.accreditationAt(issuer.address, ROLE.IRB, 0)).to.deep.equal([
        BigInt(now - DAY),
        BigInt(now + 100),
        0n,
      ]);
      expect(await trust.accreditationAt(issuer.address, ROLE.IRB, 1)).to.deep.equal([
        BigInt(now + 200),
        BigInt(now + DAY),
        BigInt(r1),
      ]);
      expect(await trust.accreditationAt(issuer.address, ROLE.IRB, 2)).to.deep.equal([
        BigInt(again),
        BigInt(again + DAY),
        BigInt(r2),
      ]);
    });

    it("accreditationCount / accreditationAt list the windows in order; NoSuchWindow(index) past the end", async function () {
      const { trust, asGov, issuer, other } = await loadFixture(deploy);
      expect(await trust.accreditationCount(issuer.address, ROLE.IRB)).to.equal(0n);
      await expect(trust.accreditationAt(issuer.address, ROLE.IRB, 0))
        .to.be.revertedWithCustomError(trust, "NoSuchWindow")
        .withArgs(0);
      const now = await time.latest();
      await asGov.accredit(issuer.address, ROLE.IRB, now, now + DAY);
      await asGov.accredit(issuer.address, ROLE.IRB, now + DAY, now + 2 * DAY);
      expect(await trust.accreditationCount(issuer.address, ROLE.IRB)).to.equal(2n);
      expect(await trust.accreditationAt(issuer.address, ROLE.IRB, 0)).to.deep.equal([
        BigInt(now),
        BigInt(now + DAY),
        0n,
      ]);
      expect(await trust.accreditationAt(issuer.address, ROLE.IRB, 1)).to.deep.equal([
        BigInt(now + DAY),
        BigInt(now + 2 * DAY),
        0n,
      ]);
      // accreditationOf is the latest window.
      expect(await trust.accreditationOf(issuer.address, ROLE.IRB)).to.deep.equal([
        BigInt(now + DAY),
        BigInt(now + 2 * DAY),
        0n,
      ]);
      await expect(trust.accreditationAt(issuer.address, ROLE.IRB, 2))
        .to.be.revertedWithCustomError(trust, "NoSuchWindow")
        .withArgs(2);
      await expect(trust.accreditationAt(issuer.address, ROLE.IRB, 2n ** 256n - 1n))
        .to.be.revertedWithCustomError(trust, "NoSuchWindow")
        .withArgs(2n ** 256n - 1n);
      // Per (issuer, role).
      expect(await trust.accreditationCount(issuer.address, ROLE.INSURER)).to.equal(0n);
      expect(await trust.accreditationCount(other.address, ROLE.IRB)).to.equal(0n);
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

    it("renounceOwnership reverts RenounceOwnershipDisabled, for the owner too; the owner is unchanged", async function () {
      const { trust, asGov, governance, other } = await loadFixture(deploy);
      await expect(asGov.renounceOwnership()).to.be.revertedWithCustomError(trust, "RenounceOwnershipDisabled");
      await expect(as(trust, other).renounceOwnership()).to.be.revertedWithCustomError(
        trust,
        "RenounceOwnershipDisabled",
      );
      expect(await trust.owner()).to.equal(governance.address);
      expect(await trust.pendingOwner()).to.equal(ethers.ZeroAddress);
    });

    it("only the owner starts a transfer", async function () {
      const { trust, other } = await loadFixture(deploy);
      await expect(as(trust, other).transferOwnership(other.address))
        .to.be.revertedWithCustomError(trust, "OwnableUnauthorizedAccount")
        .withArgs(other.address);
    });
  });
});
