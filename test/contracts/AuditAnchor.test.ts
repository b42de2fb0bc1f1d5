import { expect } from "chai";
import { network } from "hardhat";
import { type AuditAnchor, as, deploy as deployContract, namedSigners } from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { loadFixture } = networkHelpers;

const root = (label: string) => ethers.id(`audit-root:${label}`);

async function deploy() {
  const { governance, gateway, gateway2, other, newGovernance } = await namedSigners(ethers, [
    "governance",
    "gateway",
    "gateway2",
    "other",
    "newGovernance",
  ]);
  const audit = await deployContract<AuditAnchor>(ethers, "AuditAnchor", [governance.address]);
  return { audit, asGov: as(audit, governance), governance, gateway, gateway2, other, newGovernance };
}

async function withGateway() {
  const fx = await deploy();
  await fx.asGov.setGateway(fx.gateway.address, true);
  return { ...fx, asGateway: as(fx.audit, fx.gateway) };
}

describe("AuditAnchor", function () {
  describe("deployment", function () {
    it("sets the governance owner; unknown gateways are unauthorized with zero counters", async function () {
      const { audit, governance, gateway } = await loadFixture(deploy);
      expect(await audit.owner()).to.equal(governance.address);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([false, 0n, 0n]);
    });

    it("rejects a zero governance address", async function () {
      const factory = await ethers.getContractFactory("AuditAnchor");
      await expect(factory.deploy(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(factory, "OwnableInvalidOwner")
        .withArgs(ethers.ZeroAddress);
    });
  });

  describe("setGateway", function () {
    it("authorizes and de-authorizes with GatewaySet events", async function () {
      const { audit, asGov, gateway } = await loadFixture(deploy);
      await expect(asGov.setGateway(gateway.address, true))
        .to.emit(audit, "GatewaySet")
        .withArgs(gateway.address, true);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([true, 0n, 0n]);
      await expect(asGov.setGateway(gateway.address, false))
        .to.emit(audit, "GatewaySet")
        .withArgs(gateway.address, false);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([false, 0n, 0n]);
    });

    it("reverts ZeroAddress", async function () {
      const { audit, asGov } = await loadFixture(deploy);
      await expect(asGov.setGateway(ethers.ZeroAddress, true)).to.be.revertedWithCustomError(audit, "ZeroAddress");
    });

    it("is governance only (OwnableUnauthorizedAccount)", async function () {
      const { audit, gateway, other } = await loadFixture(deploy);
      await expect(as(audit, other).setGateway(gateway.address, true))
        .to.be.revertedWithCustomError(audit, "OwnableUnauthorizedAccount")
        .withArgs(other.address);
      await expect(as(audit, gateway).setGateway(gateway.address, true))
        .to.be.revertedWithCustomError(audit, "OwnableUnauthorizedAccount")
        .withArgs(gateway.address);
    });

    it("keeps the counters across de-authorization and re-authorization", async function () {
      const { audit, asGov, asGateway, gateway } = await loadFixture(withGateway);
      await asGateway.anchor(root("a"), 0, 10);
      await asGov.setGateway(gateway.address, false);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([false, 10n, 1n]);
      await expect(asGateway.anchor(root("b"), 10, 5))
        .to.be.revertedWithCustomError(audit, "NotGateway")
        .withArgs(gateway.address);
      await asGov.setGateway(gateway.address, true);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([true, 10n, 1n]);
      await expect(asGateway.anchor(root("b"), 10, 5))
        .to.emit(audit, "AuditRootAnchored")
        .withArgs(root("b"), gateway.address, 10, 5, 1);
      // Authorizing an already authorized gateway keeps its counters too.
      await asGov.setGateway(gateway.address, true);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([true, 15n, 2n]);
    });
  });

  describe("anchor", function () {
    it("anchors contiguous batches, emitting the zero-based batch number", async function () {
      const { audit, asGateway, gateway } = await loadFixture(withGateway);
      await expect(asGateway.anchor(root("0"), 0, 64))
        .to.emit(audit, "AuditRootAnchored")
        .withArgs(root("0"), gateway.address, 0, 64, 0);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([true, 64n, 1n]);
      await expect(asGateway.anchor(root("1"), 64, 1))
        .to.emit(audit, "AuditRootAnchored")
        .withArgs(root("1"), gateway.address, 64, 1, 1);
      await expect(asGateway.anchor(root("2"), 65, 2 ** 32 - 1))
        .to.emit(audit, "AuditRootAnchored")
        .withArgs(root("2"), gateway.address, 65, 2 ** 32 - 1, 2);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([true, 65n + 2n ** 32n - 1n, 3n]);
    });

    it("roots are found by their indexed topic", async function () {
      const { audit, asGateway, gateway } = await loadFixture(withGateway);
      await asGateway.anchor(root("x"), 0, 3);
      await asGateway.anchor(root("y"), 3, 4);
      const logs = await audit.queryFilter(audit.filters.AuditRootAnchored!(root("y")));
      expect(logs.length).to.equal(1);
      const parsed = audit.interface.parseLog(logs[0]!);
      expect(parsed?.args.toArray()).to.deep.equal([root("y"), gateway.address, 3n, 4n, 1n]);
    });

    it("keeps gateways independent", async function () {
      const { audit, asGov, asGateway, gateway2 } = await loadFixture(withGateway);
      await asGov.setGateway(gateway2.address, true);
      await asGateway.anchor(root("g1"), 0, 10);
      await expect(as(audit, gateway2).anchor(root("g2"), 0, 3))
        .to.emit(audit, "AuditRootAnchored")
        .withArgs(root("g2"), gateway2.address, 0, 3, 0);
      expect(await audit.gatewayOf(gateway2.address)).to.deep.equal([true, 3n, 1n]);
    });

    it("reverts NotGateway for an unauthorized caller (even governance)", async function () {
      const { audit, asGov, other, governance } = await loadFixture(withGateway);
      await expect(as(audit, other).anchor(root("z"), 0, 1))
        .to.be.revertedWithCustomError(audit, "NotGateway")
        .withArgs(other.address);
      await expect(asGov.anchor(root("z"), 0, 1))
        .to.be.revertedWithCustomError(audit, "NotGateway")
        .withArgs(governance.address);
    });

    it("reverts ZeroRoot and EmptyBatch", async function () {
      const { audit, asGateway } = await loadFixture(withGateway);
      await expect(asGateway.anchor(ethers.ZeroHash, 0, 1)).to.be.revertedWithCustomError(audit, "ZeroRoot");
      await expect(asGateway.anchor(root("e"), 0, 0)).to.be.revertedWithCustomError(audit, "EmptyBatch");
    });

    it("reverts NonContiguous(expected, given) on gaps and overlaps", async function () {
      const { audit, asGateway } = await loadFixture(withGateway);
      await expect(asGateway.anchor(root("gap"), 1, 5))
        .to.be.revertedWithCustomError(audit, "NonContiguous")
        .withArgs(0, 1);
      await asGateway.anchor(root("ok"), 0, 5);
      await expect(asGateway.anchor(root("overlap"), 4, 5))
        .to.be.revertedWithCustomError(audit, "NonContiguous")
        .withArgs(5, 4);
      await expect(asGateway.anchor(root("skip"), 6, 5))
        .to.be.revertedWithCustomError(audit, "NonContiguous")
        .withArgs(5, 6);
    });

    it("stops (checked arithmetic, panic 0x11) instead of wrapping nextIndex or batches", async function () {
      const { audit, asGateway, gateway } = await loadFixture(withGateway);
      // Reaching the limits takes 2^32 transactions, so write the packed slot directly:
      // _gateways is slot 2 (after Ownable._owner and Ownable2Step._pendingOwner);
      // layout: authorized (byte 0) | nextIndex (bytes 1..8) | batches (bytes 9..12).
      const slot = ethers.keccak256(
        ethers.AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [gateway.address, 2]),
      );
      const pack = (next: bigint, batches: bigint) => ethers.toBeHex(1n | (next << 8n) | (batches << 72n), 32);
      const max64 = 2n ** 64n - 1n;
      await networkHelpers.setStorageAt(await audit.getAddress(), slot, pack(max64 - 9n, 7n));
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([true, max64 - 9n, 7n]);
      await expect(asGateway.anchor(root("end"), max64 - 9n, 10)).to.be.revertedWithPanic(0x11);
      await expect(asGateway.anchor(root("end"), max64 - 9n, 9))
        .to.emit(audit, "AuditRootAnchored")
        .withArgs(root("end"), gateway.address, max64 - 9n, 9, 7);
      expect(await audit.gatewayOf(gateway.address)).to.deep.equal([true, max64, 8n]);

      await networkHelpers.setStorageAt(await audit.getAddress(), slot, pack(100n, 2n ** 32n - 1n));
      await expect(asGateway.anchor(root("last"), 100, 1)).to.be.revertedWithPanic(0x11);
    });
  });

  describe("governance (Ownable2Step)", function () {
    it("transfers ownership in two steps", async function () {
      const { audit, asGov, governance, newGovernance, gateway } = await loadFixture(deploy);
      await expect(asGov.transferOwnership(newGovernance.address))
        .to.emit(audit, "OwnershipTransferStarted")
        .withArgs(governance.address, newGovernance.address);
      expect(await audit.owner()).to.equal(governance.address);
      expect(await audit.pendingOwner()).to.equal(newGovernance.address);
      await expect(as(audit, newGovernance).acceptOwnership())
        .to.emit(audit, "OwnershipTransferred")
        .withArgs(governance.address, newGovernance.address);
      await expect(asGov.setGateway(gateway.address, true))
        .to.be.revertedWithCustomError(audit, "OwnableUnauthorizedAccount")
        .withArgs(governance.address);
      await expect(as(audit, newGovernance).setGateway(gateway.address, true)).to.emit(audit, "GatewaySet");
    });

    it("renounceOwnership reverts RenounceOwnershipDisabled, for the owner too; the owner is unchanged", async function () {
      const { audit, asGov, governance, other } = await loadFixture(deploy);
      await expect(asGov.renounceOwnership()).to.be.revertedWithCustomError(audit, "RenounceOwnershipDisabled");
      await expect(as(audit, other).renounceOwnership()).to.be.revertedWithCustomError(
        audit,
        "RenounceOwnershipDisabled",
      );
      expect(await audit.owner()).to.equal(governance.address);
      expect(await audit.pendingOwner()).to.equal(ethers.ZeroAddress);
    });
  });
});
