import { expect } from "chai";
import type { TypedDataDomain } from "ethers";
import { network } from "hardhat";
import {
  DAY,
  GRANTABLE,
  GRANT_TYPES,
  SECP256K1_N,
  PURPOSE,
  SEVEN_DAYS,
  type Account,
  type ConsentRegistry,
  BATCH_TYPES,
  as,
  consentDomain,
  consentSlot,
  deploy as deployContract,
  namedSigners,
  malleate,
  scopeOf,
  scopesTree,
  signBatch,
  signEmergencyGrantee,
  signGrant,
  signRevoke,
  type BatchMessage,
  type GrantItem,
  type RevokeItem,
} from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const MAX_UINT64 = 2n ** 64n - 1n;
const MAX_VERSION = 2n ** 32n - 1n;

async function deploy() {
  const { patient, grantee, other, relayer, medic } = await namedSigners(ethers, [
    "deployer",
    "patient",
    "grantee",
    "other",
    "relayer",
    "medic",
  ]);
  const consent = await deployContract<ConsentRegistry>(ethers, "ConsentRegistry");
  const domain = await consentDomain(consent, ethers);
  const scope = scopeOf(ethers, "patient/labs");
  const scope2 = scopeOf(ethers, "patient/imaging");
  const scope3 = scopeOf(ethers, "patient/notes");
  return {
    consent,
    asPatient: as(consent, patient),
    domain,
    patient,
    grantee,
    other,
    relayer,
    medic,
    scope,
    scope2,
    scope3,
    // The emergency scope lists of the tests: one scope (root == leaf, proof []) and three.
    one: scopesTree([scope]),
    three: scopesTree([scope, scope2, scope3]),
  };
}

type Fixture = Awaited<ReturnType<typeof deploy>>;

async function future(seconds = 30 * DAY): Promise<number> {
  return (await time.latest()) + seconds;
}

interface RegistrationMessage {
  grantee: string;
  maxDuration: number;
  scopesRoot: string;
  epoch: number;
  deadline: number;
}

/** The fields of a removal (maxDuration 0 names no scopes). */
const REMOVAL = { maxDuration: 0, scopesRoot: ethers.ZeroHash } as const;

/** An EmergencyGrantee message signed by `signer` (the patient unless said): medic, 3600 s, three scopes, epoch 0. */
async function signedRegistration(fx: Fixture, over: Partial<RegistrationMessage> = {}, signer = fx.patient) {
  const message: RegistrationMessage = {
    grantee: over.grantee ?? fx.medic.address,
    maxDuration: over.maxDuration ?? 3600,
    scopesRoot: over.scopesRoot ?? fx.three.root,
    epoch: over.epoch ?? 0,
    deadline: over.deadline ?? (await future(3600)),
  };
  return { message, sig: await signEmergencyGrantee(ethers, signer, fx.domain, message) };
}

/** setEmergencyGranteeBySig of a signed message, sent by `consent`'s runner. */
function relayRegistration(
  consent: ConsentRegistry,
  patient: string,
  m: RegistrationMessage,
  sig: { v: number; r: string; s: string },
) {
  return consent.setEmergencyGranteeBySig(
    patient,
    m.grantee,
    m.maxDuration,
    m.scopesRoot,
    m.epoch,
    m.deadline,
    sig.v,
    sig.r,
    sig.s,
  );
}

/** Asserts emergencyGranteeOf(patient, grantee): [maxDuration, windowEnd, scopesRoot, epoch]. */
async function expectRegistration(
  consent: ConsentRegistry,
  patient: string,
  grantee: string,
  expected: [bigint, bigint, string, bigint],
): Promise<void> {
  expect(await consent.emergencyGranteeOf(patient, grantee)).to.deep.equal(expected);
}

/** The epoch of (patient, grantee), by default (patient, medic). */
async function epochOf(fx: Fixture, grantee = fx.medic.address, patient = fx.patient.address): Promise<bigint> {
  return (await fx.consent.emergencyGranteeOf(patient, grantee))[3];
}

interface GrantMessage {
  grantee: string;
  scope: string;
  purpose: number;
  expiry: number | bigint;
  version: number;
  deadline: number;
}

/**
 * A Grant message signed by `signer` (the patient unless said) in `domain`: grantee, scope, Treatment, 30 days,
 * version 0, deadline in an hour; `relay()` sends it for the patient by the relayer.
 */
async function signedGrant(
  fx: Fixture,
  over: Partial<GrantMessage> = {},
  signer = fx.patient,
  domain: TypedDataDomain = fx.domain,
) {
  const message: GrantMessage = {
    grantee: over.grantee ?? fx.grantee.address,
    scope: over.scope ?? fx.scope,
    purpose: over.purpose ?? PURPOSE.Treatment,
    expiry: over.expiry ?? (await future()),
    version: over.version ?? 0,
    deadline: over.deadline ?? (await future(3600)),
  };
  const sig = await signGrant(ethers, signer, domain, message);
  const relay = () => relayGrant(as(fx.consent, fx.relayer), fx.patient.address, message, sig);
  return { message, sig, relay };
}

/** grantBySig of a signed message, sent by `consent`'s runner. */
function relayGrant(
  consent: ConsentRegistry,
  patient: string,
  m: GrantMessage,
  sig: { v: number; r: string; s: string },
) {
  return consent.grantBySig(
    patient,
    m.grantee,
    m.scope,
    m.purpose,
    m.expiry,
    m.version,
    m.deadline,
    sig.v,
    sig.r,
    sig.s,
  );
}

interface RevokeMessage {
  grantee: string;
  scope: string;
  purpose: number;
  version: number;
  deadline: number;
}

/**
 * A Revoke message signed by `signer` (the patient unless said): grantee, scope, Treatment, version 1, deadline in an
 * hour; `relay()` sends it for the patient by the relayer.
 */
async function signedRevoke(fx: Fixture, over: Partial<RevokeMessage> = {}, signer = fx.patient) {
  const message: RevokeMessage = {
    grantee: over.grantee ?? fx.grantee.address,
    scope: over.scope ?? fx.scope,
    purpose: over.purpose ?? PURPOSE.Treatment,
    version: over.version ?? 1,
    deadline: over.deadline ?? (await future(3600)),
  };
  const sig = await signRevoke(ethers, signer, fx.domain, message);
  const relay = () => relayRevoke(as(fx.consent, fx.relayer), fx.patient.address, message, sig);
  return { message, sig, relay };
}

/** revokeBySig of a signed message, sent by `consent`'s runner. */
function relayRevoke(
  consent: ConsentRegistry,
  patient: string,
  m: RevokeMessage,
  sig: { v: number; r: string; s: string },
) {
  return consent.revokeBySig(patient, m.grantee, m.scope, m.purpose, m.version, m.deadline, sig.v, sig.r, sig.s);
}

/** A grant item of a batch: grantee, scope, Treatment, 30 days, version 0 unless said. */
async function grantItem(fx: Fixture, over: Partial<GrantItem> = {}): Promise<GrantItem> {
  return {
    grantee: over.grantee ?? fx.grantee.address,
    scope: over.scope ?? fx.scope,
    purpose: over.purpose ?? PURPOSE.Treatment,
    expiry: over.expiry ?? (await future()),
    version: over.version ?? 0,
  };
}

/** A revoke item of a batch: grantee, scope, Treatment, version 1 unless said. */
function revokeItem(fx: Fixture, over: Partial<RevokeItem> = {}): RevokeItem {
  return {
    grantee: over.grantee ?? fx.grantee.address,
    scope: over.scope ?? fx.scope,
    purpose: over.purpose ?? PURPOSE.Treatment,
    version: over.version ?? 1,
  };
}

/**
 * A ConsentBatch signed by `signer` (the patient unless said), deadline in an hour unless given; `relay()` sends it
 * for the patient by the relayer.
 */
async function signedBatch(
  fx: Fixture,
  grants: GrantItem[],
  revokes: RevokeItem[],
  over: { deadline?: number; signer?: Account } = {},
) {
  const message: BatchMessage = { grants, revokes, deadline: over.deadline ?? (await future(3600)) };
  const sig = await signBatch(ethers, over.signer ?? fx.patient, fx.domain, message);
  const relay = () => relayBatch(as(fx.consent, fx.relayer), fx.patient.address, message, sig);
  return { message, sig, relay };
}

/** consentBatchBySig of a signed batch, sent by `consent`'s runner. */
function relayBatch(
  consent: ConsentRegistry,
  patient: string,
  m: BatchMessage,
  sig: { v: number; r: string; s: string },
) {
  return consent.consentBatchBySig(patient, m.grants, m.revokes, m.deadline, sig.v, sig.r, sig.s);
}

describe("ConsentRegistry", function () {
  describe("deployment", function () {
    it("exposes the EIP-712 domain (name, version, chain id, address)", async function () {
      const { consent } = await loadFixture(deploy);
      const d = await consent.eip712Domain();
      const { chainId } = await ethers.provider.getNetwork();
      expect(d.name).to.equal("Hygeia ConsentRegistry");
      expect(d.version).to.equal("1");
      expect(d.chainId).to.equal(chainId);
      expect(d.verifyingContract).to.equal(await consent.getAddress());
    });

    it("exposes DOMAIN_SEPARATOR and the Grant / Revoke typehashes clients sign against", async function () {
      const { consent, domain } = await loadFixture(deploy);
      expect(await consent.DOMAIN_SEPARATOR()).to.equal(ethers.TypedDataEncoder.hashDomain(domain));
      expect(await consent.GRANT_TYPEHASH()).to.equal(
        ethers.id("Grant(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version,uint256 deadline)"),
      );
      expect(await consent.REVOKE_TYPEHASH()).to.equal(
        ethers.id("Revoke(address grantee,bytes32 scope,uint8 purpose,uint32 version,uint256 deadline)"),
      );
      expect(await consent.EMERGENCY_GRANTEE_TYPEHASH()).to.equal(
        ethers.id(
          "EmergencyGrantee(address grantee,uint32 maxDuration,bytes32 scopesRoot,uint32 epoch,uint256 deadline)",
        ),
      );
    });

    it("starts empty", async function () {
      const { consent, patient, grantee, scope } = await loadFixture(deploy);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        0n,
        0n,
      ]);
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.equal(false);
      await expectRegistration(consent, patient.address, grantee.address, [0n, 0n, ethers.ZeroHash, 0n]);
    });
  });

  describe("grant", function () {
    it("records expiry and version 1, emits ConsentGranted, allows", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const expiry = await future();
      await expect(asPatient.grant(grantee.address, scope, PURPOSE.Treatment, expiry))
        .to.emit(consent, "ConsentGranted")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Treatment, expiry, 1);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        BigInt(expiry),
        1n,
      ]);
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.equal(true);
    });

    it("accepts every non-emergency purpose", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const expiry = await future();
      for (const purpose of GRANTABLE) {
        await expect(asPatient.grant(grantee.address, scope, purpose, expiry))
          .to.emit(consent, "ConsentGranted")
          .withArgs(patient.address, grantee.address, scope, purpose, expiry, 1);
        expect(await consent.isAllowed(patient.address, grantee.address, scope, purpose)).to.equal(true);
      }
    });

    it("re-granting an active grant changes the expiry and bumps the version", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const e1 = await future(10 * DAY);
      const e2 = await future(2 * DAY);
      await asPatient.grant(grantee.address, scope, PURPOSE.Research, e1);
      await expect(asPatient.grant(grantee.address, scope, PURPOSE.Research, e2))
        .to.emit(consent, "ConsentGranted")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Research, e2, 2);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Research)).to.deep.equal([
        BigInt(e2),
        2n,
      ]);
    });

    it("accepts the largest uint64 expiry", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, MAX_UINT64);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        MAX_UINT64,
        1n,
      ]);
    });

    it("keys on (patient, grantee, scope, purpose): each component isolates the grant", async function () {
      const { consent, asPatient, patient, grantee, other, scope, scope2 } = await loadFixture(deploy);
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, await future());
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.equal(true);
      expect(await consent.isAllowed(other.address, grantee.address, scope, PURPOSE.Treatment)).to.equal(false);
      expect(await consent.isAllowed(patient.address, other.address, scope, PURPOSE.Treatment)).to.equal(false);
      expect(await consent.isAllowed(patient.address, grantee.address, scope2, PURPOSE.Treatment)).to.equal(false);
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Research)).to.equal(false);
    });

    it("reverts ZeroAddress for a zero grantee (checked first)", async function () {
      const { consent, asPatient, scope } = await loadFixture(deploy);
      await expect(
        asPatient.grant(ethers.ZeroAddress, scope, PURPOSE.Treatment, await future()),
      ).to.be.revertedWithCustomError(consent, "ZeroAddress");
      await expect(asPatient.grant(ethers.ZeroAddress, ethers.ZeroHash, 0, 0)).to.be.revertedWithCustomError(
        consent,
        "ZeroAddress",
      );
    });

    it("reverts ZeroScope for a zero scope", async function () {
      const { consent, asPatient, grantee } = await loadFixture(deploy);
      await expect(
        asPatient.grant(grantee.address, ethers.ZeroHash, PURPOSE.Treatment, await future()),
      ).to.be.revertedWithCustomError(consent, "ZeroScope");
      await expect(asPatient.grant(grantee.address, ethers.ZeroHash, 0, 0)).to.be.revertedWithCustomError(
        consent,
        "ZeroScope",
      );
    });

    for (const purpose of [0, 6, 7, 128, 255]) {
      it(`reverts InvalidPurpose(${purpose})`, async function () {
        const { consent, asPatient, grantee, scope } = await loadFixture(deploy);
        await expect(asPatient.grant(grantee.address, scope, purpose, await future()))
          .to.be.revertedWithCustomError(consent, "InvalidPurpose")
          .withArgs(purpose);
        // Purpose is checked before the expiry.
        await expect(asPatient.grant(grantee.address, scope, purpose, 0))
          .to.be.revertedWithCustomError(consent, "InvalidPurpose")
          .withArgs(purpose);
      });
    }

    it("reverts EmergencyOnlyViaBreakGlass for purpose 3", async function () {
      const { consent, asPatient, grantee, scope } = await loadFixture(deploy);
      await expect(
        asPatient.grant(grantee.address, scope, PURPOSE.Emergency, await future()),
      ).to.be.revertedWithCustomError(consent, "EmergencyOnlyViaBreakGlass");
    });

    it("reverts ExpiryInPast when expiry <= block.timestamp, accepts now + 1", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const t = (await time.latest()) + 100;
      await time.setNextBlockTimestamp(t);
      await expect(asPatient.grant(grantee.address, scope, PURPOSE.Treatment, t))
        .to.be.revertedWithCustomError(consent, "ExpiryInPast")
        .withArgs(t);
      await expect(asPatient.grant(grantee.address, scope, PURPOSE.Treatment, 1))
        .to.be.revertedWithCustomError(consent, "ExpiryInPast")
        .withArgs(1);
      await expect(asPatient.grant(grantee.address, scope, PURPOSE.Treatment, 0))
        .to.be.revertedWithCustomError(consent, "ExpiryInPast")
        .withArgs(0);
      const t2 = (await time.latest()) + 100;
      await time.setNextBlockTimestamp(t2);
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, t2 + 1);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        BigInt(t2 + 1),
        1n,
      ]);
    });

    it("rejects malformed calldata (dirty high bits) like the ABI decoder", async function () {
      const { consent, patient, grantee, scope } = await loadFixture(deploy);
      const selector = consent.interface.getFunction("grant")!.selector;
      const coder = ethers.AbiCoder.defaultAbiCoder();
      const expiry = BigInt(await future());
      const bad = [
        [BigInt(grantee.address) | (1n << 160n), scope, 1n, expiry],
        [BigInt(grantee.address), scope, 257n, expiry],
        [BigInt(grantee.address), scope, 1n, expiry | (1n << 64n)],
      ];
      for (const args of bad) {
        const data = selector + coder.encode(["uint256", "bytes32", "uint256", "uint256"], args).slice(2);
        await expect(patient.sendTransaction({ to: await consent.getAddress(), data })).to.be.revertedWithoutReason(
          ethers,
        );
      }
    });
  });

  describe("storage layout", function () {
    it("one slot per keccak256(abi.encode(patient, grantee, scope, purpose)): expiry | version << 64", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const expiry = await future();
      await asPatient.grant(grantee.address, scope, PURPOSE.Research, expiry);
      await asPatient.grant(grantee.address, scope, PURPOSE.Research, expiry + 1);
      const slot = consentSlot(ethers, patient.address, grantee.address, scope, PURPOSE.Research);
      const raw = BigInt(await ethers.provider.getStorage(await consent.getAddress(), slot));
      expect(raw).to.equal(BigInt(expiry + 1) | (2n << 64n));
      await asPatient.revoke(grantee.address, scope, PURPOSE.Research);
      expect(BigInt(await ethers.provider.getStorage(await consent.getAddress(), slot))).to.equal(3n << 64n);
    });

    it("an Emergency slot also holds its registration's epoch (bits 96..127)", async function () {
      const { consent, asPatient, patient, medic, scope, one } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root); // epoch 2
      await as(consent, medic).breakGlass(patient.address, scope, []);
      const [, windowEnd] = await consent.emergencyGranteeOf(patient.address, medic.address);
      const slot = consentSlot(ethers, patient.address, medic.address, scope, PURPOSE.Emergency);
      const raw = BigInt(await ethers.provider.getStorage(await consent.getAddress(), slot));
      expect(raw).to.equal(windowEnd | (1n << 64n) | (2n << 96n));
    });
  });

  describe("registration epochs never wrap", function () {
    /** Slot of `_emergencyGrantees[patient][grantee]` (state slot 3, after `_consents`): maxDuration | epoch << 32 | windowEnd << 64. */
    function registrationSlot(patient: string, grantee: string): string {
      const coder = ethers.AbiCoder.defaultAbiCoder();
      const inner = ethers.keccak256(coder.encode(["address", "uint256"], [patient, 3]));
      return ethers.keccak256(coder.encode(["address", "bytes32"], [grantee, inner]));
    }

    it("the registration slot holds maxDuration | epoch << 32 | windowEnd << 64", async function () {
      const { consent, asPatient, patient, medic, scope, one } = await loadFixture(deploy);
      const slot = registrationSlot(patient.address, medic.address);
      const address = await consent.getAddress();
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      expect(BigInt(await ethers.provider.getStorage(address, slot))).to.equal(600n | (1n << 32n));
      await as(consent, medic).breakGlass(patient.address, scope, []);
      const [, windowEnd] = await consent.emergencyGranteeOf(patient.address, medic.address);
      expect(BigInt(await ethers.provider.getStorage(address, slot))).to.equal(600n | (1n << 32n) | (windowEnd << 64n));
    });

    it("a registration at epoch 2^32 - 1 reverts (checked arithmetic, panic 0x11) instead of reviving old windows", async function () {
      const { consent, asPatient, patient, medic, one } = await loadFixture(deploy);
      const slot = registrationSlot(patient.address, medic.address);
      const address = await consent.getAddress();
      const raw = 600n | (MAX_VERSION << 32n);
      await networkHelpers.setStorageAt(address, slot, ethers.toBeHex(raw, 32));
      await expect(asPatient.setEmergencyGrantee(medic.address, 600, one.root)).to.be.revertedWithPanic(0x11);
      await expect(asPatient.setEmergencyGrantee(medic.address, 0, ethers.ZeroHash)).to.be.revertedWithPanic(0x11);
      expect(BigInt(await ethers.provider.getStorage(address, slot))).to.equal(raw);
    });

    it("a relayed message for epoch 2^32 - 1 reverts (panic 0x11) and changes nothing: set in storage", async function () {
      const fx = await loadFixture(deploy);
      const slot = registrationSlot(fx.patient.address, fx.medic.address);
      const rootSlot = ethers.toBeHex(BigInt(slot) + 1n, 32);
      const address = await fx.consent.getAddress();
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 600, fx.one.root);
      const raw = 600n | (MAX_VERSION << 32n);
      await networkHelpers.setStorageAt(address, slot, ethers.toBeHex(raw, 32));
      expect(await epochOf(fx)).to.equal(MAX_VERSION);
      for (const over of [REMOVAL, { maxDuration: 60, scopesRoot: fx.three.root }]) {
        const m = await signedRegistration(fx, { ...over, epoch: Number(MAX_VERSION) });
        await expect(
          relayRegistration(as(fx.consent, fx.relayer), fx.patient.address, m.message, m.sig),
        ).to.be.revertedWithPanic(0x11);
      }
      expect(BigInt(await ethers.provider.getStorage(address, slot))).to.equal(raw);
      expect(await ethers.provider.getStorage(address, rootSlot)).to.equal(fx.one.root);
    });

    it("a relayed message more than 1000 epochs ahead reverts EpochTooFarAhead: no signature can push a pair to 2^32 - 1", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 600, fx.one.root); // epoch 1
      await as(fx.consent, fx.medic).breakGlass(fx.patient.address, fx.scope, []);
      const before = await fx.consent.emergencyGranteeOf(fx.patient.address, fx.medic.address);
      for (const epoch of [Number(MAX_VERSION), Number(MAX_VERSION) - 1, 1 + 1001]) {
        const far = await signedRegistration(fx, { ...REMOVAL, epoch });
        await expect(relayRegistration(fx.consent, fx.patient.address, far.message, far.sig))
          .to.be.revertedWithCustomError(fx.consent, "EpochTooFarAhead")
          .withArgs(1, epoch);
      }
      expect(await fx.consent.emergencyGranteeOf(fx.patient.address, fx.medic.address)).to.deep.equal(before);
      // Exactly 1000 ahead is the furthest skip; it moves the pair to 1002 and ends the open window.
      const furthest = await signedRegistration(fx, { ...REMOVAL, epoch: 1 + 1000 });
      await expect(relayRegistration(fx.consent, fx.patient.address, furthest.message, furthest.sig)).to.emit(
        fx.consent,
        "EmergencyGranteeSet",
      );
      expect(await epochOf(fx)).to.equal(1002n);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.medic.address, fx.scope, PURPOSE.Emergency)).to.equal(
        false,
      );
    });
  });

  describe("versions never wrap (VersionOverflow)", function () {
    /** Sets the raw slot of (patient, grantee, scope, purpose) to version 2^32 - 1 with `expiry`. */
    async function atMaxVersion(
      fx: Awaited<ReturnType<typeof deploy>>,
      grantee: string,
      purpose: number,
      expiry = 0n,
    ): Promise<{ raw: bigint; read: () => Promise<bigint> }> {
      const address = await fx.consent.getAddress();
      const slot = consentSlot(ethers, fx.patient.address, grantee, fx.scope, purpose);
      const raw = (MAX_VERSION << 64n) | expiry;
      await networkHelpers.setStorageAt(address, slot, ethers.toBeHex(raw, 32));
      return { raw, read: async () => BigInt(await ethers.provider.getStorage(address, slot)) };
    }

    it("the slot computed from the layout is the one the contract reads", async function () {
      const fx = await loadFixture(deploy);
      await atMaxVersion(fx, fx.grantee.address, PURPOSE.Treatment, 5n);
      expect(
        await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope, PURPOSE.Treatment),
      ).to.deep.equal([5n, MAX_VERSION]);
    });

    it("a write at version 2^32 - 2 still succeeds and reaches 2^32 - 1", async function () {
      const fx = await loadFixture(deploy);
      const address = await fx.consent.getAddress();
      const slot = consentSlot(ethers, fx.patient.address, fx.grantee.address, fx.scope, PURPOSE.Treatment);
      await networkHelpers.setStorageAt(address, slot, ethers.toBeHex((MAX_VERSION - 1n) << 64n, 32));
      const expiry = await future();
      await expect(fx.asPatient.grant(fx.grantee.address, fx.scope, PURPOSE.Treatment, expiry))
        .to.emit(fx.consent, "ConsentGranted")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, PURPOSE.Treatment, expiry, MAX_VERSION);
    });

    it("grant, grantBatch and grantBySig revert VersionOverflow at 2^32 - 1 and leave the slot as it was", async function () {
      const fx = await loadFixture(deploy);
      const { raw, read } = await atMaxVersion(fx, fx.grantee.address, PURPOSE.Treatment, 5n);
      const expiry = await future();
      await expect(
        fx.asPatient.grant(fx.grantee.address, fx.scope, PURPOSE.Treatment, expiry),
      ).to.be.revertedWithCustomError(fx.consent, "VersionOverflow");
      expect(await read()).to.equal(raw);
      await expect(
        fx.asPatient.grantBatch([fx.grantee.address], [fx.scope], [PURPOSE.Treatment], [expiry]),
      ).to.be.revertedWithCustomError(fx.consent, "VersionOverflow");
      // A batch whose earlier items are fine is reverted as a whole.
      await expect(
        fx.asPatient.grantBatch(
          [fx.other.address, fx.grantee.address],
          [fx.scope, fx.scope],
          [PURPOSE.Treatment, PURPOSE.Treatment],
          [expiry, expiry],
        ),
      ).to.be.revertedWithCustomError(fx.consent, "VersionOverflow");
      expect(await fx.consent.consentOf(fx.patient.address, fx.other.address, fx.scope, 1)).to.deep.equal([0n, 0n]);
      expect(await read()).to.equal(raw);
      const message = {
        grantee: fx.grantee.address,
        scope: fx.scope,
        purpose: PURPOSE.Treatment,
        expiry,
        version: Number(MAX_VERSION),
        deadline: await future(3600),
      };
      const sig = await signGrant(ethers, fx.patient, fx.domain, message);
      await expect(relayGrant(fx.consent, fx.patient.address, message, sig)).to.be.revertedWithCustomError(
        fx.consent,
        "VersionOverflow",
      );
      expect(await read()).to.equal(raw);
    });

    for (const purpose of [PURPOSE.Treatment, PURPOSE.Emergency]) {
      it(`revoke and revokeBySig (purpose ${purpose}) revert VersionOverflow at 2^32 - 1 and leave the slot`, async function () {
        const fx = await loadFixture(deploy);
        if (purpose === PURPOSE.Emergency) await fx.asPatient.setEmergencyGrantee(fx.medic.address, 600, fx.one.root);
        const grantee = purpose === PURPOSE.Emergency ? fx.medic.address : fx.grantee.address;
        const { raw, read } = await atMaxVersion(fx, grantee, purpose, 5n);
        await expect(fx.asPatient.revoke(grantee, fx.scope, purpose)).to.be.revertedWithCustomError(
          fx.consent,
          "VersionOverflow",
        );
        expect(await read()).to.equal(raw);
        const m = { grantee, scope: fx.scope, purpose, version: Number(MAX_VERSION), deadline: await future(3600) };
        const sig = await signRevoke(ethers, fx.patient, fx.domain, m);
        await expect(relayRevoke(fx.consent, fx.patient.address, m, sig)).to.be.revertedWithCustomError(
          fx.consent,
          "VersionOverflow",
        );
        expect(await read()).to.equal(raw);
        if (purpose === PURPOSE.Emergency)
          await expectRegistration(fx.consent, fx.patient.address, grantee, [600n, 0n, fx.one.root, 1n]);
      });
    }

    it("breakGlass reverts VersionOverflow at 2^32 - 1, leaves the slot and does not open the window", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 600, fx.one.root);
      const { raw, read } = await atMaxVersion(fx, fx.medic.address, PURPOSE.Emergency);
      await expect(as(fx.consent, fx.medic).breakGlass(fx.patient.address, fx.scope, [])).to.be.revertedWithCustomError(
        fx.consent,
        "VersionOverflow",
      );
      expect(await read()).to.equal(raw);
      await expectRegistration(fx.consent, fx.patient.address, fx.medic.address, [600n, 0n, fx.one.root, 1n]);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.medic.address, fx.scope, PURPOSE.Emergency)).to.equal(
        false,
      );
    });
  });

  describe("isAllowed over time", function () {
    it("is true strictly before expiry and false from expiry on", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const expiry = await future(3600);
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, expiry);
      const allowed = () => consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Treatment);
      expect(await allowed()).to.equal(true);
      await time.increaseTo(expiry - 1);
      expect(await allowed()).to.equal(true);
      await time.increaseTo(expiry);
      expect(await allowed()).to.equal(false);
      await time.increase(DAY);
      expect(await allowed()).to.equal(false);
      // The raw slot still holds the expired grant.
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        BigInt(expiry),
        1n,
      ]);
    });

    it("returns false (never reverts) for invalid purposes", async function () {
      const { consent, patient, grantee, scope } = await loadFixture(deploy);
      for (const purpose of [0, 6, 200, 255]) {
        expect(await consent.isAllowed(patient.address, grantee.address, scope, purpose)).to.equal(false);
        expect(await consent.consentOf(patient.address, grantee.address, scope, purpose)).to.deep.equal([0n, 0n]);
      }
      expect(await consent.isAllowed(ethers.ZeroAddress, ethers.ZeroAddress, ethers.ZeroHash, 1)).to.equal(false);
    });
  });

  describe("revoke", function () {
    it("writes a tombstone (expiry 0, version + 1), emits ConsentRevoked, disallows", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      await asPatient.grant(grantee.address, scope, PURPOSE.Payment, await future());
      await expect(asPatient.revoke(grantee.address, scope, PURPOSE.Payment))
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Payment, 2);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Payment)).to.deep.equal([0n, 2n]);
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Payment)).to.equal(false);
    });

    it("revoking a never-granted slot writes a tombstone with version 1 (cancels signatures for version 0)", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      await expect(asPatient.revoke(grantee.address, scope, PURPOSE.Treatment))
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Treatment, 1);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        0n,
        1n,
      ]);
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.equal(false);
    });

    it("revoking a tombstone bumps the version again", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, await future());
      await asPatient.revoke(grantee.address, scope, PURPOSE.Treatment);
      await expect(asPatient.revoke(grantee.address, scope, PURPOSE.Treatment))
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Treatment, 3);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        0n,
        3n,
      ]);
    });

    it("reverts ZeroAddress, ZeroScope, InvalidPurpose (in that order) for a key no write can target", async function () {
      const { consent, asPatient, grantee, scope } = await loadFixture(deploy);
      await expect(asPatient.revoke(ethers.ZeroAddress, scope, 1)).to.be.revertedWithCustomError(
        consent,
        "ZeroAddress",
      );
      await expect(asPatient.revoke(ethers.ZeroAddress, ethers.ZeroHash, 0)).to.be.revertedWithCustomError(
        consent,
        "ZeroAddress",
      );
      await expect(asPatient.revoke(grantee.address, ethers.ZeroHash, 1)).to.be.revertedWithCustomError(
        consent,
        "ZeroScope",
      );
      await expect(asPatient.revoke(grantee.address, ethers.ZeroHash, 0)).to.be.revertedWithCustomError(
        consent,
        "ZeroScope",
      );
      for (const purpose of [0, 6, 255]) {
        await expect(asPatient.revoke(grantee.address, scope, purpose))
          .to.be.revertedWithCustomError(consent, "InvalidPurpose")
          .withArgs(purpose);
      }
    });

    it("only the patient's own slot: another account's revoke writes its own slot, not the patient's", async function () {
      const { consent, asPatient, patient, grantee, other, scope } = await loadFixture(deploy);
      const expiry = await future();
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, expiry);
      await expect(as(consent, other).revoke(grantee.address, scope, PURPOSE.Treatment))
        .to.emit(consent, "ConsentRevoked")
        .withArgs(other.address, grantee.address, scope, PURPOSE.Treatment, 1);
      await expect(as(consent, grantee).revoke(grantee.address, scope, PURPOSE.Treatment))
        .to.emit(consent, "ConsentRevoked")
        .withArgs(grantee.address, grantee.address, scope, PURPOSE.Treatment, 1);
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.equal(true);
      expect(await consent.consentOf(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.deep.equal([
        BigInt(expiry),
        1n,
      ]);
    });

    it("may revoke an expired (not yet revoked) grant", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const expiry = await future(60);
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, expiry);
      await time.increaseTo(expiry + 10);
      await expect(asPatient.revoke(grantee.address, scope, PURPOSE.Treatment))
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Treatment, 2);
    });

    it("a re-grant after a revoke continues the version sequence", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      await asPatient.grant(grantee.address, scope, PURPOSE.Treatment, await future());
      await asPatient.revoke(grantee.address, scope, PURPOSE.Treatment);
      const expiry = await future();
      await expect(asPatient.grant(grantee.address, scope, PURPOSE.Treatment, expiry))
        .to.emit(consent, "ConsentGranted")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Treatment, expiry, 3);
      expect(await consent.isAllowed(patient.address, grantee.address, scope, PURPOSE.Treatment)).to.equal(true);
    });
  });

  describe("grantBatch", function () {
    async function batchOf(n: number) {
      const grantees = Array.from({ length: n }, () => ethers.Wallet.createRandom().address);
      const scopes = Array.from({ length: n }, (_, i) => scopeOf(ethers, `batch/${i}`));
      const purposes = Array.from({ length: n }, (_, i) => GRANTABLE[i % GRANTABLE.length]!);
      const base = await future();
      const expiries = Array.from({ length: n }, (_, i) => base + i);
      return { grantees, scopes, purposes, expiries };
    }

    it("grants every item and emits one ConsentGranted per item", async function () {
      const { consent, asPatient, patient } = await loadFixture(deploy);
      const b = await batchOf(5);
      const tx = asPatient.grantBatch(b.grantees, b.scopes, b.purposes, b.expiries);
      for (let i = 0; i < 5; i++) {
        await expect(tx)
          .to.emit(consent, "ConsentGranted")
          .withArgs(patient.address, b.grantees[i], b.scopes[i], b.purposes[i], b.expiries[i], 1);
      }
      const receipt = await (await tx).wait();
      expect(receipt!.logs.length).to.equal(5);
      for (let i = 0; i < 5; i++) {
        expect(await consent.consentOf(patient.address, b.grantees[i], b.scopes[i], b.purposes[i])).to.deep.equal([
          BigInt(b.expiries[i]!),
          1n,
        ]);
        expect(await consent.isAllowed(patient.address, b.grantees[i], b.scopes[i], b.purposes[i])).to.equal(true);
      }
    });

    it("a single-item batch equals grant", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const expiry = await future();
      await expect(asPatient.grantBatch([grantee.address], [scope], [PURPOSE.Research], [expiry]))
        .to.emit(consent, "ConsentGranted")
        .withArgs(patient.address, grantee.address, scope, PURPOSE.Research, expiry, 1);
    });

    it("a key repeated in a batch is granted twice (later expiry wins, version 2)", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      const e1 = await future(DAY);
      const e2 = await future(2 * DAY);
      await asPatient.grantBatch([grantee.address, grantee.address], [scope, scope], [1, 1], [e2, e1]);
      expect(await consent.consentOf(patient.address, grantee.address, scope, 1)).to.deep.equal([BigInt(e1), 2n]);
    });

    it("re-grants existing slots (versions continue)", async function () {
      const { consent, asPatient, patient, grantee, scope } = await loadFixture(deploy);
      await asPatient.grant(grantee.address, scope, 1, await future());
      await asPatient.revoke(grantee.address, scope, 1);
      const e = await future();
      await expect(asPatient.grantBatch([grantee.address], [scope], [1], [e]))
        .to.emit(consent, "ConsentGranted")
        .withArgs(patient.address, grantee.address, scope, 1, e, 3);
    });

    it("reverts LengthMismatch when any array length differs", async function () {
      const { consent, asPatient } = await loadFixture(deploy);
      const b = await batchOf(3);
      const cases = [
        [b.grantees.slice(0, 2), b.scopes, b.purposes, b.expiries],
        [b.grantees, b.scopes.slice(0, 2), b.purposes, b.expiries],
        [b.grantees, b.scopes, b.purposes.slice(0, 2), b.expiries],
        [b.grantees, b.scopes, b.purposes, b.expiries.slice(0, 2)],
        [[], b.scopes, b.purposes, b.expiries],
        [b.grantees, b.scopes, b.purposes, []],
      ] as const;
      for (const [g, s, p, e] of cases) {
        await expect(asPatient.grantBatch(g, s, p, e)).to.be.revertedWithCustomError(consent, "LengthMismatch");
      }
    });

    it("reverts EmptyBatch for four empty arrays", async function () {
      const { consent, asPatient } = await loadFixture(deploy);
      await expect(asPatient.grantBatch([], [], [], [])).to.be.revertedWithCustomError(consent, "EmptyBatch");
    });

    it("reverts with the precise error of the first invalid item and writes nothing", async function () {
      const { consent, asPatient, patient } = await loadFixture(deploy);
      const now = await time.latest();
      const cases: Array<{
        index: number;
        field: "g" | "s" | "p" | "e";
        value: string | number;
        error: string;
        args?: unknown[];
      }> = [
        { index: 0, field: "g", value: ethers.ZeroAddress, error: "ZeroAddress" },
        { index: 2, field: "s", value: ethers.ZeroHash, error: "ZeroScope" },
        { index: 1, field: "p", value: 0, error: "InvalidPurpose", args: [0] },
        { index: 3, field: "p", value: 9, error: "InvalidPurpose", args: [9] },
        { index: 3, field: "p", value: PURPOSE.Emergency, error: "EmergencyOnlyViaBreakGlass" },
        { index: 2, field: "e", value: now - 5, error: "ExpiryInPast", args: [now - 5] },
        { index: 1, field: "e", value: 0, error: "ExpiryInPast", args: [0] },
      ];
      for (const c of cases) {
        const b = await batchOf(4);
        if (c.field === "g") b.grantees[c.index] = c.value as string;
        if (c.field === "s") b.scopes[c.index] = c.value as string;
        if (c.field === "p") b.purposes[c.index] = c.value as 1;
        if (c.field === "e") b.expiries[c.index] = c.value as number;
        const call = asPatient.grantBatch(b.grantees, b.scopes, b.purposes, b.expiries);
        if (c.args)
          await expect(call)
            .to.be.revertedWithCustomError(consent, c.error)
            .withArgs(...c.args);
        else await expect(call).to.be.revertedWithCustomError(consent, c.error);
        // Atomic: the valid items before the bad one were not kept.
        expect(await consent.consentOf(patient.address, b.grantees[0], b.scopes[0], b.purposes[0])).to.deep.equal([
          0n,
          0n,
        ]);
      }
    });

    it("expiry boundary: expiry == block.timestamp reverts ExpiryInPast, + 1 is accepted", async function () {
      const { consent, asPatient, patient } = await loadFixture(deploy);
      const g = ethers.Wallet.createRandom().address;
      const s = ethers.id("boundary");
      const t = (await time.latest()) + 100;
      await time.setNextBlockTimestamp(t);
      await expect(asPatient.grantBatch([g, g], [s, s], [1, 1], [t + 1, t]))
        .to.be.revertedWithCustomError(consent, "ExpiryInPast")
        .withArgs(t);
      await time.setNextBlockTimestamp(t + 1);
      await asPatient.grantBatch([g], [s], [1], [t + 2]);
      expect(await consent.consentOf(patient.address, g, s, 1)).to.deep.equal([BigInt(t + 2), 1n]);
    });

    it("reports the checks in grant's order within one item", async function () {
      const { consent, asPatient } = await loadFixture(deploy);
      await expect(
        asPatient.grantBatch([ethers.ZeroAddress], [ethers.ZeroHash], [0], [0]),
      ).to.be.revertedWithCustomError(consent, "ZeroAddress");
      await expect(
        asPatient.grantBatch([ethers.Wallet.createRandom().address], [ethers.ZeroHash], [0], [0]),
      ).to.be.revertedWithCustomError(consent, "ZeroScope");
      await expect(
        asPatient.grantBatch([ethers.Wallet.createRandom().address], [ethers.id("x")], [3], [0]),
      ).to.be.revertedWithCustomError(consent, "EmergencyOnlyViaBreakGlass");
    });

    it("accepts expiry 2^64 - 1 and rejects dirty (out-of-range) elements without data", async function () {
      const { consent, asPatient, patient } = await loadFixture(deploy);
      const g = ethers.Wallet.createRandom().address;
      const s = ethers.id("edge");
      await asPatient.grantBatch([g], [s], [1], [MAX_UINT64]);
      expect(await consent.consentOf(patient.address, g, s, 1)).to.deep.equal([MAX_UINT64, 1n]);

      const selector = consent.interface.getFunction("grantBatch")!.selector;
      const coder = ethers.AbiCoder.defaultAbiCoder();
      const expiry = BigInt(await future());
      const types = ["uint256[]", "bytes32[]", "uint256[]", "uint256[]"];
      const dirty = [
        [[BigInt(g) | (1n << 160n)], [s], [1n], [expiry]],
        [[BigInt(g)], [s], [256n + 1n], [expiry]],
        [[BigInt(g)], [s], [1n], [expiry + (1n << 64n)]],
      ];
      for (const args of dirty) {
        const data = selector + coder.encode(types, args).slice(2);
        await expect(patient.sendTransaction({ to: await consent.getAddress(), data })).to.be.revertedWithoutReason(
          ethers,
        );
      }
    });
  });

  describe("grantBySig", function () {
    it("a relayer submits the patient's signed grant", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedGrant(fx);
      const relayed = as(fx.consent, fx.relayer);
      await expect(relayGrant(relayed, fx.patient.address, message, sig))
        .to.emit(fx.consent, "ConsentGranted")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, PURPOSE.Treatment, message.expiry, 1);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.equal(true);
    });

    it("a replayed signature reverts StaleVersion(current, signed)", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedGrant(fx);
      const relayed = as(fx.consent, fx.relayer);
      await relayGrant(relayed, fx.patient.address, message, sig);
      await expect(relayGrant(relayed, fx.patient.address, message, sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(1, 0);
    });

    it("a signature for a future version reverts StaleVersion", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedGrant(fx, { version: 1 });
      await expect(relayGrant(fx.consent, fx.patient.address, message, sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(0, 1);
    });

    it("chains: each signature names the current version (1, then 2 after a revoke...)", async function () {
      const fx = await loadFixture(deploy);
      const first = await signedGrant(fx);
      await relayGrant(fx.consent, fx.patient.address, first.message, first.sig);
      const second = await signedGrant(fx, { version: 1, expiry: await future(5 * DAY) });
      await expect(relayGrant(fx.consent, fx.patient.address, second.message, second.sig))
        .to.emit(fx.consent, "ConsentGranted")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, 1, second.message.expiry, 2);
      await fx.asPatient.revoke(fx.grantee.address, fx.scope, 1);
      // The version-1 signature cannot be replayed after the revoke.
      await expect(relayGrant(fx.consent, fx.patient.address, second.message, second.sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(3, 1);
      const third = await signedGrant(fx, { version: 3 });
      await expect(relayGrant(fx.consent, fx.patient.address, third.message, third.sig))
        .to.emit(fx.consent, "ConsentGranted")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, 1, third.message.expiry, 4);
    });

    it("reverts SignatureExpired(deadline) once block.timestamp > deadline; deadline == now is fine", async function () {
      const fx = await loadFixture(deploy);
      const t = (await time.latest()) + 50;
      const late = await signedGrant(fx, { deadline: t - 1 });
      await time.setNextBlockTimestamp(t);
      await expect(relayGrant(fx.consent, fx.patient.address, late.message, late.sig))
        .to.be.revertedWithCustomError(fx.consent, "SignatureExpired")
        .withArgs(t - 1);
      const t2 = (await time.latest()) + 50;
      const onTime = await signedGrant(fx, { deadline: t2 });
      await time.setNextBlockTimestamp(t2);
      await expect(relayGrant(fx.consent, fx.patient.address, onTime.message, onTime.sig)).to.emit(
        fx.consent,
        "ConsentGranted",
      );
    });

    it("reverts InvalidSignature for a signature by someone else", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedGrant(fx, {}, fx.other);
      await expect(relayGrant(fx.consent, fx.patient.address, message, sig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      // ...and the signer cannot claim it for themselves on the patient's slot either: it is their own slot.
      await expect(relayGrant(fx.consent, fx.other.address, message, sig))
        .to.emit(fx.consent, "ConsentGranted")
        .withArgs(fx.other.address, fx.grantee.address, fx.scope, 1, message.expiry, 1);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.equal(false);
    });

    it("reverts InvalidSignature for patient = address(0)", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedGrant(fx);
      await expect(relayGrant(fx.consent, ethers.ZeroAddress, message, sig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      await expect(
        relayGrant(fx.consent, ethers.ZeroAddress, message, { v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash }),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
    });

    it("reverts InvalidSignature when any signed field is changed", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedGrant(fx);
      const tampered = [
        { ...message, grantee: fx.other.address },
        { ...message, scope: fx.scope2 },
        { ...message, purpose: PURPOSE.Research },
        { ...message, expiry: BigInt(message.expiry) + 1n },
        { ...message, deadline: message.deadline + 1 },
      ];
      for (const m of tampered) {
        await expect(relayGrant(fx.consent, fx.patient.address, m, sig)).to.be.revertedWithCustomError(
          fx.consent,
          "InvalidSignature",
        );
      }
    });

    it("reverts InvalidSignature for another chain id or another verifying contract", async function () {
      const fx = await loadFixture(deploy);
      const otherChain = await signedGrant(fx, {}, fx.patient, { ...fx.domain, chainId: 1n });
      await expect(
        relayGrant(fx.consent, fx.patient.address, otherChain.message, otherChain.sig),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      const twin = await deployContract<ConsentRegistry>(ethers, "ConsentRegistry");
      const otherContract = await signedGrant(fx, {}, fx.patient, await consentDomain(twin, ethers));
      await expect(
        relayGrant(fx.consent, fx.patient.address, otherContract.message, otherContract.sig),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      // The same signature is valid on the contract it names.
      await expect(relayGrant(twin, fx.patient.address, otherContract.message, otherContract.sig)).to.emit(
        twin,
        "ConsentGranted",
      );
      const otherName = await signedGrant(fx, {}, fx.patient, { ...fx.domain, name: "Hygeia ConsentRegistry v2" });
      await expect(
        relayGrant(fx.consent, fx.patient.address, otherName.message, otherName.sig),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
    });

    it("rejects the malleable (high-s) twin of a valid signature and bad v", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedGrant(fx);
      const high = malleate(sig);
      // The twin recovers to the same address with a raw ecrecover, but OZ ECDSA refuses it.
      const digest = ethers.TypedDataEncoder.hash(fx.domain, GRANT_TYPES, message);
      expect(ethers.recoverAddress(digest, sig)).to.equal(fx.patient.address);
      expect(BigInt(high.s) > SECP256K1_N / 2n).to.equal(true);
      await expect(relayGrant(fx.consent, fx.patient.address, message, high)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      for (const v of [0, 1, 26, 29]) {
        await expect(relayGrant(fx.consent, fx.patient.address, message, { ...sig, v })).to.be.revertedWithCustomError(
          fx.consent,
          "InvalidSignature",
        );
      }
      // The original still works.
      await expect(relayGrant(fx.consent, fx.patient.address, message, sig)).to.emit(fx.consent, "ConsentGranted");
    });

    it("a Revoke signature cannot be used as a Grant", async function () {
      const fx = await loadFixture(deploy);
      const deadline = await future(3600);
      const rsig = await signRevoke(ethers, fx.patient, fx.domain, {
        grantee: fx.grantee.address,
        scope: fx.scope,
        purpose: 1,
        version: 0,
        deadline,
      });
      const m = {
        grantee: fx.grantee.address,
        scope: fx.scope,
        purpose: 1,
        expiry: await future(),
        version: 0,
        deadline,
      };
      await expect(relayGrant(fx.consent, fx.patient.address, m, rsig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
    });

    it("applies grant's argument checks (before version and signature)", async function () {
      const fx = await loadFixture(deploy);
      const bad = { v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const base = {
        grantee: fx.grantee.address,
        scope: fx.scope,
        purpose: 1,
        expiry: await future(),
        version: 7,
        deadline: await future(60),
      };
      await expect(
        relayGrant(fx.consent, fx.patient.address, { ...base, grantee: ethers.ZeroAddress }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroAddress");
      await expect(
        relayGrant(fx.consent, fx.patient.address, { ...base, scope: ethers.ZeroHash }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroScope");
      await expect(relayGrant(fx.consent, fx.patient.address, { ...base, purpose: 6 }, bad))
        .to.be.revertedWithCustomError(fx.consent, "InvalidPurpose")
        .withArgs(6);
      await expect(
        relayGrant(fx.consent, fx.patient.address, { ...base, purpose: 3 }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "EmergencyOnlyViaBreakGlass");
      await expect(relayGrant(fx.consent, fx.patient.address, { ...base, expiry: 5 }, bad))
        .to.be.revertedWithCustomError(fx.consent, "ExpiryInPast")
        .withArgs(5);
      // The deadline is checked first of all.
      await expect(relayGrant(fx.consent, fx.patient.address, { ...base, purpose: 3, deadline: 1 }, bad))
        .to.be.revertedWithCustomError(fx.consent, "SignatureExpired")
        .withArgs(1);
      // Then the version, then the signature.
      await expect(relayGrant(fx.consent, fx.patient.address, base, bad))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(0, 7);
      await expect(
        relayGrant(fx.consent, fx.patient.address, { ...base, version: 0 }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
    });
  });

  describe("revokeBySig", function () {
    it("a relayer submits the patient's signed revoke", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.grant(fx.grantee.address, fx.scope, 1, await future());
      const { message, sig } = await signedRevoke(fx);
      await expect(relayRevoke(as(fx.consent, fx.relayer), fx.patient.address, message, sig))
        .to.emit(fx.consent, "ConsentRevoked")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, 1, 2);
      expect(await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.deep.equal([0n, 2n]);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.equal(false);
    });

    it("replay reverts StaleVersion; a stale revoke cannot undo a later re-grant", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.grant(fx.grantee.address, fx.scope, 1, await future());
      const { message, sig } = await signedRevoke(fx);
      await relayRevoke(fx.consent, fx.patient.address, message, sig);
      await expect(relayRevoke(fx.consent, fx.patient.address, message, sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(2, 1);
      await fx.asPatient.grant(fx.grantee.address, fx.scope, 1, await future());
      await expect(relayRevoke(fx.consent, fx.patient.address, message, sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(3, 1);
    });

    it("a signed revoke of an empty or tombstoned slot writes a tombstone with a bumped version", async function () {
      const fx = await loadFixture(deploy);
      const never = await signedRevoke(fx, { version: 0 });
      await expect(relayRevoke(fx.consent, fx.patient.address, never.message, never.sig))
        .to.emit(fx.consent, "ConsentRevoked")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, 1, 1);
      const again = await signedRevoke(fx, { version: 1 });
      await expect(relayRevoke(fx.consent, fx.patient.address, again.message, again.sig))
        .to.emit(fx.consent, "ConsentRevoked")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, 1, 2);
      expect(await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.deep.equal([0n, 2n]);
    });

    it("checks the key (ZeroAddress, ZeroScope, InvalidPurpose) after the deadline, before version and signature", async function () {
      const fx = await loadFixture(deploy);
      const bad = { v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const base = {
        grantee: fx.grantee.address,
        scope: fx.scope,
        purpose: 1,
        version: 7,
        deadline: await future(60),
      };
      await expect(
        relayRevoke(fx.consent, fx.patient.address, { ...base, grantee: ethers.ZeroAddress, deadline: 1 }, bad),
      )
        .to.be.revertedWithCustomError(fx.consent, "SignatureExpired")
        .withArgs(1);
      await expect(
        relayRevoke(
          fx.consent,
          fx.patient.address,
          { ...base, grantee: ethers.ZeroAddress, scope: ethers.ZeroHash },
          bad,
        ),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroAddress");
      await expect(
        relayRevoke(fx.consent, fx.patient.address, { ...base, scope: ethers.ZeroHash, purpose: 0 }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroScope");
      await expect(relayRevoke(fx.consent, fx.patient.address, { ...base, purpose: 6 }, bad))
        .to.be.revertedWithCustomError(fx.consent, "InvalidPurpose")
        .withArgs(6);
      await expect(relayRevoke(fx.consent, fx.patient.address, base, bad))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(0, 7);
      await expect(
        relayRevoke(fx.consent, fx.patient.address, { ...base, version: 0 }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
    });

    it("checks deadline, then version, then signature", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.grant(fx.grantee.address, fx.scope, 1, await future());
      const t = (await time.latest()) + 20;
      const late = await signedRevoke(fx, { deadline: t - 1, version: 9 }, fx.other);
      await time.setNextBlockTimestamp(t);
      await expect(relayRevoke(fx.consent, fx.patient.address, late.message, late.sig))
        .to.be.revertedWithCustomError(fx.consent, "SignatureExpired")
        .withArgs(t - 1);
      const stale = await signedRevoke(fx, { version: 9 }, fx.other);
      await expect(relayRevoke(fx.consent, fx.patient.address, stale.message, stale.sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(1, 9);
      const wrong = await signedRevoke(fx, {}, fx.other);
      await expect(relayRevoke(fx.consent, fx.patient.address, wrong.message, wrong.sig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      const ok = await signedRevoke(fx);
      await expect(
        relayRevoke(fx.consent, fx.patient.address, ok.message, malleate(ok.sig)),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      const t2 = (await time.latest()) + 20;
      const onTime = await signedRevoke(fx, { deadline: t2 });
      await time.setNextBlockTimestamp(t2);
      await expect(relayRevoke(fx.consent, fx.patient.address, onTime.message, onTime.sig)).to.emit(
        fx.consent,
        "ConsentRevoked",
      );
    });

    it("a Grant signature cannot be used as a Revoke", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.grant(fx.grantee.address, fx.scope, 1, await future());
      const deadline = await future(3600);
      const gsig = await signGrant(ethers, fx.patient, fx.domain, {
        grantee: fx.grantee.address,
        scope: fx.scope,
        purpose: 1,
        expiry: 0,
        version: 1,
        deadline,
      });
      const m = { grantee: fx.grantee.address, scope: fx.scope, purpose: 1, version: 1, deadline };
      await expect(relayRevoke(fx.consent, fx.patient.address, m, gsig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
    });
  });

  describe("emergency registration", function () {
    it("setEmergencyGrantee registers (duration, scopes root), re-registers and removes, with events", async function () {
      const { consent, asPatient, patient, medic, one, three } = await loadFixture(deploy);
      await expect(asPatient.setEmergencyGrantee(medic.address, 3600, one.root))
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, 3600, one.root);
      await expectRegistration(consent, patient.address, medic.address, [3600n, 0n, one.root, 1n]);
      await expect(asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS, three.root))
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, SEVEN_DAYS, three.root);
      await expectRegistration(consent, patient.address, medic.address, [BigInt(SEVEN_DAYS), 0n, three.root, 2n]);
      await expect(asPatient.setEmergencyGrantee(medic.address, 0, ethers.ZeroHash))
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, 0, ethers.ZeroHash);
      // Every direct change, the removal too, moves the pair's epoch by one.
      await expectRegistration(consent, patient.address, medic.address, [0n, 0n, ethers.ZeroHash, 3n]);
    });

    it("setEmergencyGrantee reverts ZeroAddress, InvalidDuration, ZeroScopesRoot, ScopeNotRegistered(root), in that order", async function () {
      const { consent, asPatient, medic, one } = await loadFixture(deploy);
      await expect(
        asPatient.setEmergencyGrantee(ethers.ZeroAddress, SEVEN_DAYS + 1, ethers.ZeroHash),
      ).to.be.revertedWithCustomError(consent, "ZeroAddress");
      await expect(
        asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS + 1, one.root),
      ).to.be.revertedWithCustomError(consent, "InvalidDuration");
      await expect(
        asPatient.setEmergencyGrantee(medic.address, 2 ** 32 - 1, ethers.ZeroHash),
      ).to.be.revertedWithCustomError(consent, "InvalidDuration");
      // A registration must name its scopes.
      await expect(asPatient.setEmergencyGrantee(medic.address, 60, ethers.ZeroHash)).to.be.revertedWithCustomError(
        consent,
        "ZeroScopesRoot",
      );
      // A removal that names scopes is refused rather than ignored.
      await expect(asPatient.setEmergencyGrantee(medic.address, 0, one.root))
        .to.be.revertedWithCustomError(consent, "ScopeNotRegistered")
        .withArgs(one.root);
      // 7 days exactly is allowed.
      await expect(asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS, one.root)).to.emit(
        consent,
        "EmergencyGranteeSet",
      );
    });
  });

  describe("breakGlass", function () {
    it("opens Emergency access until now + maxDuration, emits EmergencyAccess only", async function () {
      const { consent, asPatient, patient, medic, scope, one } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 3600, one.root);
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      // A one-scope tree: root == leaf, empty proof.
      const tx = as(consent, medic).breakGlass(patient.address, scope, []);
      await expect(tx)
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope, t + 3600, 1);
      await expect(tx).not.to.emit(consent, "ConsentGranted");
      const receipt = await (await tx).wait();
      expect(receipt!.logs.length).to.equal(1);
      expect(await consent.consentOf(patient.address, medic.address, scope, PURPOSE.Emergency)).to.deep.equal([
        BigInt(t + 3600),
        1n,
      ]);
      await expectRegistration(consent, patient.address, medic.address, [3600n, BigInt(t + 3600), one.root, 1n]);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(true);
      // Only Emergency: no other purpose opens.
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Treatment)).to.equal(false);
      await time.increaseTo(t + 3599);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(true);
      await time.increaseTo(t + 3600);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(false);
    });

    it("breaking the glass again inside the window adds scopes with the same expiry and never extends it", async function () {
      const { consent, asPatient, patient, medic, scope, scope2, scope3, three } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS, three.root);
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      const end = t + SEVEN_DAYS;
      await time.setNextBlockTimestamp(t + DAY);
      // The scope is already open in this window: same expiry, same version.
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope, end, 1);
      await expect(as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2)))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope2, end, 1);
      await time.setNextBlockTimestamp(end - 1);
      await expect(as(consent, medic).breakGlass(patient.address, scope3, three.proof(scope3)))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope3, end, 1);
      for (const s of [scope, scope2, scope3])
        expect((await consent.consentOf(patient.address, medic.address, s, PURPOSE.Emergency))[0]).to.equal(
          BigInt(end),
        );
      await time.increaseTo(end);
      for (const s of [scope, scope2, scope3])
        expect(await consent.isAllowed(patient.address, medic.address, s, PURPOSE.Emergency)).to.equal(false);
    });

    it("after the window ends, reverts EmergencyWindowUsed(windowEnd) until the patient registers again", async function () {
      const { consent, asPatient, patient, medic, scope, scope2, three } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 600, three.root);
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      await time.setNextBlockTimestamp(t + 600);
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.be.revertedWithCustomError(consent, "EmergencyWindowUsed")
        .withArgs(t + 600);
      // Also for a scope not broken yet, and much later.
      await time.increase(30 * DAY);
      await expect(as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2)))
        .to.be.revertedWithCustomError(consent, "EmergencyWindowUsed")
        .withArgs(t + 600);
      // A new registration allows a new window (with its own duration).
      await asPatient.setEmergencyGrantee(medic.address, 60, three.root);
      const t2 = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t2);
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope, t2 + 60, 2);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(true);
    });

    it("reverts ScopeNotRegistered(scope) for a scope outside the registered tree", async function () {
      const { consent, asPatient, patient, medic, other, scope, scope2, one, three } = await loadFixture(deploy);
      const outside = scopeOf(ethers, "patient/genome");
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      // One-scope registration: any other scope, with or without a proof.
      for (const [s, proof] of [
        [scope2, []],
        [scope2, three.proof(scope2)],
        [outside, three.proof(scope)],
      ] as const) {
        await expect(as(consent, medic).breakGlass(patient.address, s, [...proof]))
          .to.be.revertedWithCustomError(consent, "ScopeNotRegistered")
          .withArgs(s);
      }
      // The right scope with a wrong (non-empty) proof fails too.
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.be.revertedWithCustomError(consent, "ScopeNotRegistered")
        .withArgs(scope);
      await asPatient.setEmergencyGrantee(medic.address, 600, three.root);
      await expect(as(consent, medic).breakGlass(patient.address, outside, three.proof(scope)))
        .to.be.revertedWithCustomError(consent, "ScopeNotRegistered")
        .withArgs(outside);
      // A proof for another position in the tree does not prove the scope.
      await expect(as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope)))
        .to.be.revertedWithCustomError(consent, "ScopeNotRegistered")
        .withArgs(scope2);
      // The root (an inner node) is no leaf: leaves are double hashed.
      await expect(as(consent, medic).breakGlass(patient.address, three.root, []))
        .to.be.revertedWithCustomError(consent, "ScopeNotRegistered")
        .withArgs(three.root);
      // Nothing was opened by the failures.
      await expectRegistration(consent, patient.address, medic.address, [600n, 0n, three.root, 2n]);
      // The registration is per grantee: another patient's tree means nothing here.
      await as(consent, other).setEmergencyGrantee(medic.address, 600, scopesTree([outside]).root);
      await expect(as(consent, medic).breakGlass(patient.address, outside, []))
        .to.be.revertedWithCustomError(consent, "ScopeNotRegistered")
        .withArgs(outside);
    });

    it("reverts NotEmergencyGrantee for unregistered callers, other patients, and after removal", async function () {
      const { consent, asPatient, patient, medic, other, scope, one } = await loadFixture(deploy);
      await expect(as(consent, medic).breakGlass(patient.address, scope, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, medic.address);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await expect(as(consent, other).breakGlass(patient.address, scope, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, other.address);
      // Registration is per patient.
      await expect(as(consent, medic).breakGlass(other.address, scope, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(other.address, medic.address);
      await expect(as(consent, medic).breakGlass(ethers.ZeroAddress, scope, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(ethers.ZeroAddress, medic.address);
      await as(consent, medic).breakGlass(patient.address, scope, []);
      await asPatient.setEmergencyGrantee(medic.address, 0, ethers.ZeroHash);
      // Checked first: before the zero scope and the proof.
      await expect(as(consent, medic).breakGlass(patient.address, ethers.ZeroHash, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, medic.address);
    });

    it("reverts ZeroScope for a registered grantee with a zero scope (before the proof)", async function () {
      const { consent, asPatient, patient, medic, one } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await expect(as(consent, medic).breakGlass(patient.address, ethers.ZeroHash, [])).to.be.revertedWithCustomError(
        consent,
        "ZeroScope",
      );
    });

    it("re-registering (e.g. lowering maxDuration) closes the open window at once", async function () {
      const { consent, asPatient, patient, medic, scope, scope2, three } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS, three.root);
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      await as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2));
      const [expiry] = await consent.consentOf(patient.address, medic.address, scope, PURPOSE.Emergency);
      expect(expiry > 0n).to.equal(true);
      await asPatient.setEmergencyGrantee(medic.address, 60, three.root);
      for (const s of [scope, scope2]) {
        expect(await consent.isAllowed(patient.address, medic.address, s, PURPOSE.Emergency)).to.equal(false);
        // Reported as closed; the version stays (a tombstone-like read).
        expect(await consent.consentOf(patient.address, medic.address, s, PURPOSE.Emergency)).to.deep.equal([0n, 1n]);
      }
      await expectRegistration(consent, patient.address, medic.address, [60n, 0n, three.root, 2n]);
      // The new registration's window is at most the new duration.
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope, t + 60, 2);
      // scope2's old window does not come back with the new epoch.
      expect(await consent.isAllowed(patient.address, medic.address, scope2, PURPOSE.Emergency)).to.equal(false);
    });

    it("removing the grantee closes an already open window at once", async function () {
      const { consent, asPatient, patient, medic, scope, one } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await as(consent, medic).breakGlass(patient.address, scope, []);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(true);
      await asPatient.setEmergencyGrantee(medic.address, 0, ethers.ZeroHash);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(false);
      expect(await consent.consentOf(patient.address, medic.address, scope, PURPOSE.Emergency)).to.deep.equal([0n, 1n]);
    });

    it("closes only the patient's windows of that grantee", async function () {
      const { consent, asPatient, patient, medic, other, scope, one } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await asPatient.setEmergencyGrantee(other.address, 600, one.root);
      await as(consent, medic).breakGlass(patient.address, scope, []);
      await as(consent, other).breakGlass(patient.address, scope, []);
      await asPatient.setEmergencyGrantee(medic.address, 0, ethers.ZeroHash);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(false);
      expect(await consent.isAllowed(patient.address, other.address, scope, PURPOSE.Emergency)).to.equal(true);
    });
  });

  describe("the patient's way out of emergency access", function () {
    it("revoke(grantee, scope, 3) tombstones the slot and ends the registration: no further break-glass", async function () {
      const { consent, asPatient, patient, medic, scope, scope2, three } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS, three.root);
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      await as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2));
      const tx = asPatient.revoke(medic.address, scope, PURPOSE.Emergency);
      await expect(tx)
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, medic.address, scope, PURPOSE.Emergency, 2);
      await expect(tx)
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, 0, ethers.ZeroHash);
      // ConsentRevoked comes first, then the removal.
      const names = (await (await tx).wait())!.logs.map(
        (l: Parameters<typeof consent.interface.parseLog>[0]) => consent.interface.parseLog(l)?.name,
      );
      expect(names).to.deep.equal(["ConsentRevoked", "EmergencyGranteeSet"]);
      expect(await consent.consentOf(patient.address, medic.address, scope, PURPOSE.Emergency)).to.deep.equal([0n, 2n]);
      // Every scope of the grantee is closed, not only the one named.
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(false);
      expect(await consent.isAllowed(patient.address, medic.address, scope2, PURPOSE.Emergency)).to.equal(false);
      await expectRegistration(consent, patient.address, medic.address, [0n, 0n, ethers.ZeroHash, 2n]);
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, medic.address);
    });

    it("revoke(grantee, scope, 3) of a never-broken slot also removes the registration", async function () {
      const { consent, asPatient, patient, medic, scope, one } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await expect(asPatient.revoke(medic.address, scope, PURPOSE.Emergency))
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, medic.address, scope, PURPOSE.Emergency, 1);
      await expect(as(consent, medic).breakGlass(patient.address, scope, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, medic.address);
    });

    it("revokeBySig(grantee, scope, 3) does the same by relay", async function () {
      const { consent, asPatient, patient, medic, relayer, scope, one, domain } = await loadFixture(deploy);
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await as(consent, medic).breakGlass(patient.address, scope, []);
      const m = { grantee: medic.address, scope, purpose: PURPOSE.Emergency, version: 1, deadline: await future(60) };
      const sig = await signRevoke(ethers, patient, domain, m);
      const tx = relayRevoke(as(consent, relayer), patient.address, m, sig);
      await expect(tx)
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, medic.address, scope, PURPOSE.Emergency, 2);
      await expect(tx)
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, 0, ethers.ZeroHash);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(false);
      await expect(as(consent, medic).breakGlass(patient.address, scope, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, medic.address);
    });

    it("a grantee breaking the glass between the patient's signing and the relay of a removal cannot stop it", async function () {
      const fx = await loadFixture(deploy);
      const { consent, asPatient, patient, medic, relayer, scope, scope2, scope3, three } = fx;
      await asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS, three.root); // epoch 1
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      // The patient (no ETH) signs the removal for the pair's current epoch...
      const removal = await signedRegistration(fx, { ...REMOVAL, epoch: 1 });
      // ...the grantee sees it and front-runs with every break-glass it can make...
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      await as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2));
      await as(consent, medic).breakGlass(patient.address, scope3, three.proof(scope3));
      // ...none of which moves the pair's epoch or makes the removal fail.
      expect(await epochOf(fx)).to.equal(1n);
      await expect(relayRegistration(as(consent, relayer), patient.address, removal.message, removal.sig))
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, 0, ethers.ZeroHash);
      expect(await epochOf(fx)).to.equal(2n);
      for (const s of [scope, scope2, scope3])
        expect(await consent.isAllowed(patient.address, medic.address, s, PURPOSE.Emergency)).to.equal(false);
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, medic.address);
    });

    it("a relayed Revoke(grantee, scope, 3, v) of an open slot lands although the grantee breaks the glass on it again and again", async function () {
      const fx = await loadFixture(deploy);
      const { consent, asPatient, patient, medic, scope, one } = fx;
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await as(consent, medic).breakGlass(patient.address, scope, []);
      const [, windowEnd] = await consent.emergencyGranteeOf(patient.address, medic.address);
      const revoke = await signedRevoke(fx, { grantee: medic.address, scope, purpose: PURPOSE.Emergency, version: 1 });
      // The grantee sees the signed revoke and front-runs it with break-glass calls on the open slot.
      for (let i = 0; i < 3; i++)
        await expect(as(consent, medic).breakGlass(patient.address, scope, []))
          .to.emit(consent, "EmergencyAccess")
          .withArgs(patient.address, medic.address, scope, windowEnd, 1);
      await expect(revoke.relay())
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, medic.address, scope, PURPOSE.Emergency, 2);
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(false);
      await expectRegistration(consent, patient.address, medic.address, [0n, 0n, ethers.ZeroHash, 2n]);
    });
  });

  describe("a repeated break-glass on an open scope writes nothing", function () {
    it("within the window, breaking the glass again on the same scope emits EmergencyAccess with the same version and leaves the slot unchanged", async function () {
      const fx = await loadFixture(deploy);
      const { consent, asPatient, patient, medic, scope, three } = fx;
      await asPatient.setEmergencyGrantee(medic.address, 3600, three.root);
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      const slot = consentSlot(ethers, patient.address, medic.address, scope, PURPOSE.Emergency);
      const address = await consent.getAddress();
      const raw = BigInt(await ethers.provider.getStorage(address, slot));
      expect(raw).to.equal(BigInt(t + 3600) | (1n << 64n) | (1n << 96n));
      for (const dt of [1, 2, 1800, 3599]) {
        await time.setNextBlockTimestamp(t + dt);
        const tx = as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
        await expect(tx)
          .to.emit(consent, "EmergencyAccess")
          .withArgs(patient.address, medic.address, scope, t + 3600, 1);
        expect((await (await tx).wait())!.logs.length).to.equal(1);
        expect(BigInt(await ethers.provider.getStorage(address, slot))).to.equal(raw);
      }
      expect(await consent.consentOf(patient.address, medic.address, scope, PURPOSE.Emergency)).to.deep.equal([
        BigInt(t + 3600),
        1n,
      ]);
      await expectRegistration(consent, patient.address, medic.address, [3600n, BigInt(t + 3600), three.root, 1n]);
      // Once the window has ended it is EmergencyWindowUsed as before, not a silent no-op.
      await time.setNextBlockTimestamp(t + 3600);
      await expect(as(consent, medic).breakGlass(patient.address, scope, three.proof(scope)))
        .to.be.revertedWithCustomError(consent, "EmergencyWindowUsed")
        .withArgs(t + 3600);
    });

    it("a patient's relayed Revoke(grantee, scope, 3, v) signed before the repeats still succeeds", async function () {
      const fx = await loadFixture(deploy);
      const { consent, asPatient, patient, medic, scope, scope2, three } = fx;
      await asPatient.setEmergencyGrantee(medic.address, SEVEN_DAYS, three.root);
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      await as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2));
      const revoke = await signedRevoke(fx, { grantee: medic.address, scope: scope2, purpose: 3, version: 1 });
      for (const s of [scope2, scope, scope2]) await as(consent, medic).breakGlass(patient.address, s, three.proof(s));
      const tx = revoke.relay();
      await expect(tx)
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, medic.address, scope2, PURPOSE.Emergency, 2);
      await expect(tx)
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, 0, ethers.ZeroHash);
      for (const s of [scope, scope2])
        expect(await consent.isAllowed(patient.address, medic.address, s, PURPOSE.Emergency)).to.equal(false);
    });

    it("opening a second scope in the window still writes it and bumps that scope's version", async function () {
      const fx = await loadFixture(deploy);
      const { consent, asPatient, patient, medic, scope, scope2, three } = fx;
      await asPatient.setEmergencyGrantee(medic.address, 3600, three.root);
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      await as(consent, medic).breakGlass(patient.address, scope, three.proof(scope));
      const slot2 = consentSlot(ethers, patient.address, medic.address, scope2, PURPOSE.Emergency);
      const address = await consent.getAddress();
      expect(BigInt(await ethers.provider.getStorage(address, slot2))).to.equal(0n);
      await expect(as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2)))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope2, t + 3600, 1);
      expect(BigInt(await ethers.provider.getStorage(address, slot2))).to.equal(
        BigInt(t + 3600) | (1n << 64n) | (1n << 96n),
      );
      expect(await consent.isAllowed(patient.address, medic.address, scope2, PURPOSE.Emergency)).to.equal(true);
      // And from then on scope2 is an open scope too: a repeat keeps its version.
      await expect(as(consent, medic).breakGlass(patient.address, scope2, three.proof(scope2)))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope2, t + 3600, 1);
    });

    it("after a re-registration, breaking the glass on a slot of the old epoch bumps its version, even at the same expiry", async function () {
      const fx = await loadFixture(deploy);
      const { consent, asPatient, patient, medic, scope, one } = fx;
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root); // epoch 1
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      await as(consent, medic).breakGlass(patient.address, scope, []); // window [t, t + 600), version 1
      await time.setNextBlockTimestamp(t + 100);
      await asPatient.setEmergencyGrantee(medic.address, 300, one.root); // epoch 2, closes the window
      // The new window ends exactly when the old one did: only the epoch tells the old slot apart.
      await time.setNextBlockTimestamp(t + 300);
      await expect(as(consent, medic).breakGlass(patient.address, scope, []))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope, t + 600, 2);
      const slot = consentSlot(ethers, patient.address, medic.address, scope, PURPOSE.Emergency);
      expect(BigInt(await ethers.provider.getStorage(await consent.getAddress(), slot))).to.equal(
        BigInt(t + 600) | (2n << 64n) | (2n << 96n),
      );
      expect(await consent.isAllowed(patient.address, medic.address, scope, PURPOSE.Emergency)).to.equal(true);
      // A repeat in the new window keeps version 2.
      await expect(as(consent, medic).breakGlass(patient.address, scope, []))
        .to.emit(consent, "EmergencyAccess")
        .withArgs(patient.address, medic.address, scope, t + 600, 2);
    });
  });

  describe("setEmergencyGranteeBySig", function () {
    it("a relayer submits the patient's signed registration; the pair's epoch moves past the signed one", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedRegistration(fx);
      await expect(relayRegistration(as(fx.consent, fx.relayer), fx.patient.address, message, sig))
        .to.emit(fx.consent, "EmergencyGranteeSet")
        .withArgs(fx.patient.address, fx.medic.address, 3600, fx.three.root);
      await expectRegistration(fx.consent, fx.patient.address, fx.medic.address, [3600n, 0n, fx.three.root, 1n]);
      // The registration works like a direct one.
      await expect(
        as(fx.consent, fx.medic).breakGlass(fx.patient.address, fx.scope2, fx.three.proof(fx.scope2)),
      ).to.emit(fx.consent, "EmergencyAccess");
      // Epochs are per (patient, grantee).
      expect(await epochOf(fx, fx.other.address)).to.equal(0n);
      expect(await epochOf(fx, fx.medic.address, fx.other.address)).to.equal(0n);
    });

    it("replay of a used signature reverts StaleEpoch(current, signed); a higher epoch is accepted and skips", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig } = await signedRegistration(fx);
      await relayRegistration(fx.consent, fx.patient.address, message, sig);
      await expect(relayRegistration(fx.consent, fx.patient.address, message, sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleEpoch")
        .withArgs(1, 0);
      const ahead = await signedRegistration(fx, { ...REMOVAL, epoch: 5 });
      await expect(relayRegistration(fx.consent, fx.patient.address, ahead.message, ahead.sig))
        .to.emit(fx.consent, "EmergencyGranteeSet")
        .withArgs(fx.patient.address, fx.medic.address, 0, ethers.ZeroHash);
      expect(await epochOf(fx)).to.equal(6n);
      // Everything signed for the skipped epochs is dead.
      for (const epoch of [1, 3, 5]) {
        const skipped = await signedRegistration(fx, { epoch });
        await expect(relayRegistration(fx.consent, fx.patient.address, skipped.message, skipped.sig))
          .to.be.revertedWithCustomError(fx.consent, "StaleEpoch")
          .withArgs(6, epoch);
      }
      // The current epoch itself is fine.
      const next = await signedRegistration(fx, { epoch: 6 });
      await expect(relayRegistration(fx.consent, fx.patient.address, next.message, next.sig)).to.emit(
        fx.consent,
        "EmergencyGranteeSet",
      );
      expect(await epochOf(fx)).to.equal(7n);
    });

    it("reverts InvalidSignature for another signer, a tampered field, the high-s twin or another type", async function () {
      const fx = await loadFixture(deploy);
      const wrong = await signedRegistration(fx, {}, fx.other);
      await expect(
        relayRegistration(fx.consent, fx.patient.address, wrong.message, wrong.sig),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      const { message, sig } = await signedRegistration(fx);
      for (const m of [
        { ...message, grantee: fx.other.address },
        { ...message, maxDuration: 3601 },
        { ...message, scopesRoot: fx.one.root },
        { ...message, epoch: 1 },
        { ...message, deadline: message.deadline + 1 },
      ]) {
        await expect(relayRegistration(fx.consent, fx.patient.address, m, sig)).to.be.revertedWithCustomError(
          fx.consent,
          "InvalidSignature",
        );
      }
      await expect(
        relayRegistration(fx.consent, fx.patient.address, message, malleate(sig)),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      await expect(relayRegistration(fx.consent, ethers.ZeroAddress, message, sig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      // A Revoke signature over the same numbers is no EmergencyGrantee signature.
      const rsig = await signRevoke(ethers, fx.patient, fx.domain, {
        grantee: message.grantee,
        scope: fx.three.root,
        purpose: 3,
        version: 0,
        deadline: message.deadline,
      });
      await expect(relayRegistration(fx.consent, fx.patient.address, message, rsig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      // Failed attempts do not move the epoch.
      expect(await epochOf(fx)).to.equal(0n);
      await expect(relayRegistration(fx.consent, fx.patient.address, message, sig)).to.emit(
        fx.consent,
        "EmergencyGranteeSet",
      );
    });

    it("checks, in order: SignatureExpired, the registration checks, StaleEpoch, InvalidSignature", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 60, fx.one.root);
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 60, fx.one.root); // epoch 2
      const bad = { v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const t = (await time.latest()) + 20;
      const late = await signedRegistration(fx, { deadline: t - 1, epoch: 1 });
      await time.setNextBlockTimestamp(t);
      await expect(
        relayRegistration(fx.consent, fx.patient.address, { ...late.message, grantee: ethers.ZeroAddress }, bad),
      )
        .to.be.revertedWithCustomError(fx.consent, "SignatureExpired")
        .withArgs(t - 1);
      // A stale epoch (1 < 2) and a bad signature: the registration checks come first.
      const base = {
        grantee: fx.medic.address,
        maxDuration: 60,
        scopesRoot: fx.one.root,
        epoch: 1,
        deadline: await future(60),
      };
      await expect(
        relayRegistration(fx.consent, fx.patient.address, { ...base, grantee: ethers.ZeroAddress }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroAddress");
      await expect(
        relayRegistration(fx.consent, fx.patient.address, { ...base, maxDuration: SEVEN_DAYS + 1 }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidDuration");
      await expect(
        relayRegistration(fx.consent, fx.patient.address, { ...base, scopesRoot: ethers.ZeroHash }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroScopesRoot");
      await expect(relayRegistration(fx.consent, fx.patient.address, { ...base, maxDuration: 0 }, bad))
        .to.be.revertedWithCustomError(fx.consent, "ScopeNotRegistered")
        .withArgs(fx.one.root);
      await expect(relayRegistration(fx.consent, fx.patient.address, base, bad))
        .to.be.revertedWithCustomError(fx.consent, "StaleEpoch")
        .withArgs(2, 1);
      for (const epoch of [2, 9])
        await expect(
          relayRegistration(fx.consent, fx.patient.address, { ...base, epoch }, bad),
        ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      // deadline == now is still valid.
      const t2 = (await time.latest()) + 20;
      const onTime = await signedRegistration(fx, { deadline: t2, epoch: 2 });
      await time.setNextBlockTimestamp(t2);
      await expect(relayRegistration(fx.consent, fx.patient.address, onTime.message, onTime.sig)).to.emit(
        fx.consent,
        "EmergencyGranteeSet",
      );
    });
  });

  describe("the pair's epoch: every change of a registration voids the messages signed before it", function () {
    // F1: a relayed registration the patient signed but nobody relayed must not outlive a removal the
    // patient made another way (directly, by revoke(..., 3), or by a relayed revokeBySig(..., 3)).
    const removals: ReadonlyArray<{ name: string; remove: (fx: Fixture) => Promise<unknown> }> = [
      {
        name: "removes the grantee directly (setEmergencyGrantee(grantee, 0, 0))",
        remove: (fx) => fx.asPatient.setEmergencyGrantee(fx.medic.address, 0, ethers.ZeroHash),
      },
      {
        name: "revokes an Emergency slot directly (revoke(grantee, scope, 3))",
        remove: (fx) => fx.asPatient.revoke(fx.medic.address, fx.scope, PURPOSE.Emergency),
      },
      {
        name: "revokes an Emergency slot by relay (revokeBySig(grantee, scope, 3, v))",
        remove: async (fx) => {
          const [, version] = await fx.consent.consentOf(
            fx.patient.address,
            fx.medic.address,
            fx.scope,
            PURPOSE.Emergency,
          );
          const revoke = await signedRevoke(fx, {
            grantee: fx.medic.address,
            scope: fx.scope,
            purpose: PURPOSE.Emergency,
            version: Number(version),
          });
          return revoke.relay();
        },
      },
    ];
    for (const { name, remove } of removals) {
      it(`a relayed registration signed for epoch e and held back reverts StaleEpoch after the patient ${name}`, async function () {
        const fx = await loadFixture(deploy);
        const first = await signedRegistration(fx, { epoch: 0 });
        await relayRegistration(fx.consent, fx.patient.address, first.message, first.sig); // epoch 1
        await as(fx.consent, fx.medic).breakGlass(fx.patient.address, fx.scope, fx.three.proof(fx.scope));
        // The patient signs a 7-day update for epoch 1; the grantee's clinic keeps it back.
        const held = await signedRegistration(fx, { maxDuration: SEVEN_DAYS, epoch: 1 });
        await remove(fx);
        expect(await epochOf(fx)).to.equal(2n);
        await expect(relayRegistration(fx.consent, fx.patient.address, held.message, held.sig))
          .to.be.revertedWithCustomError(fx.consent, "StaleEpoch")
          .withArgs(2, 1);
        // The removal stands: no registration, nothing open, no new break-glass.
        await expectRegistration(fx.consent, fx.patient.address, fx.medic.address, [0n, 0n, ethers.ZeroHash, 2n]);
        expect(await fx.consent.isAllowed(fx.patient.address, fx.medic.address, fx.scope, PURPOSE.Emergency)).to.equal(
          false,
        );
        await expect(as(fx.consent, fx.medic).breakGlass(fx.patient.address, fx.scope, fx.three.proof(fx.scope)))
          .to.be.revertedWithCustomError(fx.consent, "NotEmergencyGrantee")
          .withArgs(fx.patient.address, fx.medic.address);
      });
    }

    it("a direct re-registration also voids a held message for the earlier epoch", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 60, fx.one.root); // epoch 1
      const held = await signedRegistration(fx, { maxDuration: SEVEN_DAYS, epoch: 1 });
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 120, fx.one.root); // epoch 2
      await expect(relayRegistration(fx.consent, fx.patient.address, held.message, held.sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleEpoch")
        .withArgs(2, 1);
      await expectRegistration(fx.consent, fx.patient.address, fx.medic.address, [120n, 0n, fx.one.root, 2n]);
    });

    it("messages for two grantees are independent: relaying 'register G2' never makes 'remove G1' stale", async function () {
      const fx = await loadFixture(deploy);
      const [g1, g2] = [fx.medic.address, fx.other.address];
      const registerG1 = await signedRegistration(fx, { grantee: g1, epoch: 0 });
      await relayRegistration(fx.consent, fx.patient.address, registerG1.message, registerG1.sig); // G1 epoch 1
      // The patient signs the removal of G1 for G1's epoch 1, and (later) registrations of G2 for
      // G2's epochs 0 and 1: the same numbers, another pair.
      const removeG1 = await signedRegistration(fx, { ...REMOVAL, grantee: g1, epoch: 1 });
      const registerG2 = await signedRegistration(fx, { grantee: g2, epoch: 0 });
      const updateG2 = await signedRegistration(fx, { grantee: g2, maxDuration: SEVEN_DAYS, epoch: 1 });
      for (const m of [registerG2, updateG2])
        await expect(relayRegistration(fx.consent, fx.patient.address, m.message, m.sig)).to.emit(
          fx.consent,
          "EmergencyGranteeSet",
        );
      // Direct changes of G2 do not touch G1 either.
      await fx.asPatient.setEmergencyGrantee(g2, 60, fx.one.root);
      await fx.asPatient.revoke(g2, fx.scope, PURPOSE.Emergency);
      expect(await epochOf(fx, g2)).to.equal(4n);
      expect(await epochOf(fx, g1)).to.equal(1n);
      await expect(relayRegistration(fx.consent, fx.patient.address, removeG1.message, removeG1.sig))
        .to.emit(fx.consent, "EmergencyGranteeSet")
        .withArgs(fx.patient.address, g1, 0, ethers.ZeroHash);
      await expectRegistration(fx.consent, fx.patient.address, g1, [0n, 0n, ethers.ZeroHash, 2n]);
      // And the other way round: removing G1 left G2's registration and epoch alone.
      expect(await epochOf(fx, g2)).to.equal(4n);
    });

    it("a removal signed for current + 1 succeeds whether or not the held message for current lands first; the held one is dead afterwards", async function () {
      const fx = await loadFixture(deploy);
      const first = await signedRegistration(fx, { epoch: 0 });
      await relayRegistration(fx.consent, fx.patient.address, first.message, first.sig); // epoch 1
      await as(fx.consent, fx.medic).breakGlass(fx.patient.address, fx.scope, fx.three.proof(fx.scope));
      const held = await signedRegistration(fx, { maxDuration: SEVEN_DAYS, epoch: 1 }); // kept back by the clinic
      // The patient's wallet signs its removal one past every message it signed for this grantee.
      const removal = await signedRegistration(fx, { ...REMOVAL, epoch: 2 });
      const removed = async (epoch: bigint) => {
        await expectRegistration(fx.consent, fx.patient.address, fx.medic.address, [0n, 0n, ethers.ZeroHash, epoch]);
        expect(await fx.consent.isAllowed(fx.patient.address, fx.medic.address, fx.scope, PURPOSE.Emergency)).to.equal(
          false,
        );
        await expect(as(fx.consent, fx.medic).breakGlass(fx.patient.address, fx.scope, fx.three.proof(fx.scope)))
          .to.be.revertedWithCustomError(fx.consent, "NotEmergencyGrantee")
          .withArgs(fx.patient.address, fx.medic.address);
      };
      const snapshot: string = await ethers.provider.send("evm_snapshot", []);
      // Order 1: the held update lands first (a fresh 7-day registration at epoch 2)...
      await expect(relayRegistration(fx.consent, fx.patient.address, held.message, held.sig))
        .to.emit(fx.consent, "EmergencyGranteeSet")
        .withArgs(fx.patient.address, fx.medic.address, SEVEN_DAYS, fx.three.root);
      expect(await epochOf(fx)).to.equal(2n);
      // ...and the removal still lands and closes everything.
      await expect(relayRegistration(fx.consent, fx.patient.address, removal.message, removal.sig))
        .to.emit(fx.consent, "EmergencyGranteeSet")
        .withArgs(fx.patient.address, fx.medic.address, 0, ethers.ZeroHash);
      await removed(3n);
      await expect(relayRegistration(fx.consent, fx.patient.address, held.message, held.sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleEpoch")
        .withArgs(3, 1);
      expect(await ethers.provider.send("evm_revert", [snapshot])).to.equal(true);
      // Order 2: the removal first (skipping epoch 1); the held update can never be relayed.
      expect(await epochOf(fx)).to.equal(1n);
      await expect(relayRegistration(fx.consent, fx.patient.address, removal.message, removal.sig))
        .to.emit(fx.consent, "EmergencyGranteeSet")
        .withArgs(fx.patient.address, fx.medic.address, 0, ethers.ZeroHash);
      await expect(relayRegistration(fx.consent, fx.patient.address, held.message, held.sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleEpoch")
        .withArgs(3, 1);
      await removed(3n);
    });
  });

  describe("cancelling an outstanding Grant signature (revoke always writes)", function () {
    async function grantSig(fx: Fixture, version: number) {
      return (await signedGrant(fx, { purpose: PURPOSE.Research, version })).relay;
    }

    async function relayedRevoke(fx: Fixture, version: number) {
      return (await signedRevoke(fx, { purpose: PURPOSE.Research, version, deadline: await future(60) })).relay();
    }

    it("a revoke of a never-granted slot makes a Grant signature for version 0 fail StaleVersion", async function () {
      const fx = await loadFixture(deploy);
      const relay = await grantSig(fx, 0);
      await fx.asPatient.revoke(fx.grantee.address, fx.scope, PURPOSE.Research);
      await expect(relay()).to.be.revertedWithCustomError(fx.consent, "StaleVersion").withArgs(1, 0);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.grantee.address, fx.scope, PURPOSE.Research)).to.equal(
        false,
      );
    });

    it("a relayed revoke of a never-granted slot does the same (gasless cancel)", async function () {
      const fx = await loadFixture(deploy);
      const relay = await grantSig(fx, 0);
      await relayedRevoke(fx, 0);
      await expect(relay()).to.be.revertedWithCustomError(fx.consent, "StaleVersion").withArgs(1, 0);
    });

    it("a revoke of a tombstone makes a Grant signature for the tombstone's version fail, directly or relayed", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.grant(fx.grantee.address, fx.scope, PURPOSE.Research, await future());
      await fx.asPatient.revoke(fx.grantee.address, fx.scope, PURPOSE.Research); // tombstone, version 2
      const relay2 = await grantSig(fx, 2);
      await fx.asPatient.revoke(fx.grantee.address, fx.scope, PURPOSE.Research);
      await expect(relay2()).to.be.revertedWithCustomError(fx.consent, "StaleVersion").withArgs(3, 2);
      const relay3 = await grantSig(fx, 3);
      await relayedRevoke(fx, 3);
      await expect(relay3()).to.be.revertedWithCustomError(fx.consent, "StaleVersion").withArgs(4, 3);
      expect(
        await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope, PURPOSE.Research),
      ).to.deep.equal([0n, 4n]);
    });
  });

  describe("consentBatchBySig", function () {
    it("grants only: one signature writes every grant, one ConsentGranted each, relayed by anyone", async function () {
      const fx = await loadFixture(deploy);
      const grants = [
        await grantItem(fx),
        await grantItem(fx, { scope: fx.scope2, purpose: PURPOSE.Research }),
        await grantItem(fx, { grantee: fx.other.address, scope: fx.scope3, purpose: PURPOSE.PublicHealth }),
      ];
      const { relay } = await signedBatch(fx, grants, []);
      const tx = relay();
      for (const g of grants)
        await expect(tx)
          .to.emit(fx.consent, "ConsentGranted")
          .withArgs(fx.patient.address, g.grantee, g.scope, g.purpose, g.expiry, 1);
      const receipt = await (await tx).wait();
      expect(receipt!.logs.length).to.equal(3);
      for (const g of grants) {
        expect(await fx.consent.consentOf(fx.patient.address, g.grantee, g.scope, g.purpose)).to.deep.equal([
          BigInt(g.expiry),
          1n,
        ]);
        expect(await fx.consent.isAllowed(fx.patient.address, g.grantee, g.scope, g.purpose)).to.equal(true);
      }
    });

    it("revokes only: tombstones every slot (granted or not), one ConsentRevoked each", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.grant(fx.grantee.address, fx.scope, PURPOSE.Treatment, await future());
      await fx.asPatient.grant(fx.grantee.address, fx.scope2, PURPOSE.Treatment, await future());
      const revokes = [
        revokeItem(fx),
        revokeItem(fx, { scope: fx.scope2 }),
        revokeItem(fx, { scope: fx.scope3, version: 0 }), // never granted: cancels Grant signatures for version 0
      ];
      const { relay } = await signedBatch(fx, [], revokes);
      const tx = relay();
      for (const r of revokes)
        await expect(tx)
          .to.emit(fx.consent, "ConsentRevoked")
          .withArgs(fx.patient.address, r.grantee, r.scope, r.purpose, r.version + 1);
      for (const r of revokes) {
        expect(await fx.consent.consentOf(fx.patient.address, r.grantee, r.scope, r.purpose)).to.deep.equal([
          0n,
          BigInt(r.version + 1),
        ]);
      }
    });

    it("mixed: grants apply first, then revokes; a revoke of a slot the batch grants has the last word", async function () {
      const fx = await loadFixture(deploy);
      await fx.asPatient.grant(fx.other.address, fx.scope, PURPOSE.Research, await future());
      const grants = [await grantItem(fx), await grantItem(fx, { scope: fx.scope2 })];
      const revokes = [
        revokeItem(fx, { grantee: fx.other.address, purpose: PURPOSE.Research, version: 1 }),
        revokeItem(fx, { scope: fx.scope2, version: 1 }), // the version the grant above leaves
      ];
      const { relay } = await signedBatch(fx, grants, revokes);
      const tx = relay();
      const receipt = await (await tx).wait();
      const names = receipt!.logs.map(
        (l: Parameters<typeof fx.consent.interface.parseLog>[0]) => fx.consent.interface.parseLog(l)?.name,
      );
      expect(names).to.deep.equal(["ConsentGranted", "ConsentGranted", "ConsentRevoked", "ConsentRevoked"]);
      await expect(tx)
        .to.emit(fx.consent, "ConsentRevoked")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope2, PURPOSE.Treatment, 2);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.equal(true);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.grantee.address, fx.scope2, 1)).to.equal(false);
      expect(await fx.consent.isAllowed(fx.patient.address, fx.other.address, fx.scope, 2)).to.equal(false);
      expect(await fx.consent.consentOf(fx.patient.address, fx.other.address, fx.scope, 2)).to.deep.equal([0n, 2n]);
    });

    it("a slot named twice needs its bumped version the second time (later expiry wins)", async function () {
      const fx = await loadFixture(deploy);
      const later = await future(60 * DAY);
      const twice = await signedBatch(
        fx,
        [await grantItem(fx), await grantItem(fx, { expiry: later, version: 1 })],
        [],
      );
      await expect(twice.relay())
        .to.emit(fx.consent, "ConsentGranted")
        .withArgs(fx.patient.address, fx.grantee.address, fx.scope, 1, later, 2);
      expect(await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.deep.equal([
        BigInt(later),
        2n,
      ]);
      // Both items signed for the slot's current version: the second is stale once the first is written.
      const same = await signedBatch(
        fx,
        [await grantItem(fx, { version: 2 }), await grantItem(fx, { version: 2 })],
        [],
      );
      await expect(same.relay()).to.be.revertedWithCustomError(fx.consent, "StaleVersion").withArgs(3, 2);
    });

    it("an Emergency revoke item tombstones the slot and ends the grantee's registration", async function () {
      const fx = await loadFixture(deploy);
      const { consent, asPatient, patient, medic, scope, one } = fx;
      await asPatient.setEmergencyGrantee(medic.address, 600, one.root);
      await as(consent, medic).breakGlass(patient.address, scope, []);
      const { relay } = await signedBatch(
        fx,
        [],
        [revokeItem(fx, { grantee: medic.address, purpose: PURPOSE.Emergency })],
      );
      const tx = relay();
      await expect(tx)
        .to.emit(consent, "ConsentRevoked")
        .withArgs(patient.address, medic.address, scope, PURPOSE.Emergency, 2);
      await expect(tx)
        .to.emit(consent, "EmergencyGranteeSet")
        .withArgs(patient.address, medic.address, 0, ethers.ZeroHash);
      await expectRegistration(consent, patient.address, medic.address, [0n, 0n, ethers.ZeroHash, 2n]);
      await expect(as(consent, medic).breakGlass(patient.address, scope, []))
        .to.be.revertedWithCustomError(consent, "NotEmergencyGrantee")
        .withArgs(patient.address, medic.address);
    });

    it("a replayed batch reverts StaleVersion (every item's slot moved on)", async function () {
      const fx = await loadFixture(deploy);
      const { message, sig, relay } = await signedBatch(
        fx,
        [await grantItem(fx)],
        [revokeItem(fx, { scope: fx.scope2, version: 0 })],
      );
      await relay();
      await expect(relay()).to.be.revertedWithCustomError(fx.consent, "StaleVersion").withArgs(1, 0);
      // From another relayer too, and after the patient revokes the granted slot.
      await fx.asPatient.revoke(fx.grantee.address, fx.scope, PURPOSE.Treatment);
      await expect(relayBatch(as(fx.consent, fx.other), fx.patient.address, message, sig))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(2, 0);
    });

    it("reverts SignatureExpired(deadline) once block.timestamp > deadline; deadline == now is fine", async function () {
      const fx = await loadFixture(deploy);
      const t = (await time.latest()) + 50;
      const late = await signedBatch(fx, [await grantItem(fx)], [], { deadline: t - 1 });
      await time.setNextBlockTimestamp(t);
      await expect(late.relay())
        .to.be.revertedWithCustomError(fx.consent, "SignatureExpired")
        .withArgs(t - 1);
      const t2 = (await time.latest()) + 50;
      const onTime = await signedBatch(fx, [await grantItem(fx)], [], { deadline: t2 });
      await time.setNextBlockTimestamp(t2);
      await expect(onTime.relay()).to.emit(fx.consent, "ConsentGranted");
    });

    it("reverts EmptyBatch for two empty lists (after the deadline)", async function () {
      const fx = await loadFixture(deploy);
      const bad = { v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      await expect(
        relayBatch(fx.consent, fx.patient.address, { grants: [], revokes: [], deadline: await future(60) }, bad),
      ).to.be.revertedWithCustomError(fx.consent, "EmptyBatch");
      await expect(relayBatch(fx.consent, fx.patient.address, { grants: [], revokes: [], deadline: 1 }, bad))
        .to.be.revertedWithCustomError(fx.consent, "SignatureExpired")
        .withArgs(1);
    });

    it("a grant item gets grant's checks, in grant's order, before version and signature", async function () {
      const fx = await loadFixture(deploy);
      const bad = { v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const deadline = await future(60);
      const ok = await grantItem(fx, { version: 7 });
      const send = (item: GrantItem) =>
        relayBatch(fx.consent, fx.patient.address, { grants: [ok, item], revokes: [], deadline }, bad);
      const base = await grantItem(fx, { scope: fx.scope2 });
      // The first item's stale version comes before the second item's checks.
      await expect(send({ ...base, grantee: ethers.ZeroAddress }))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(0, 7);
      ok.version = 0;
      await expect(
        send({ ...base, grantee: ethers.ZeroAddress, scope: ethers.ZeroHash }),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroAddress");
      await expect(send({ ...base, scope: ethers.ZeroHash, purpose: 0 })).to.be.revertedWithCustomError(
        fx.consent,
        "ZeroScope",
      );
      for (const purpose of [0, 6, 255])
        await expect(send({ ...base, purpose }))
          .to.be.revertedWithCustomError(fx.consent, "InvalidPurpose")
          .withArgs(purpose);
      await expect(send({ ...base, purpose: PURPOSE.Emergency, expiry: 0 })).to.be.revertedWithCustomError(
        fx.consent,
        "EmergencyOnlyViaBreakGlass",
      );
      const now = await time.latest();
      await expect(send({ ...base, expiry: now + 1 }))
        .to.be.revertedWithCustomError(fx.consent, "ExpiryInPast")
        .withArgs(now + 1); // mined at now + 1: expiry == block.timestamp is past
      await expect(send({ ...base, version: 3 }))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(0, 3);
      await expect(send(base)).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      // Nothing of the reverted batches stands.
      expect(await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.deep.equal([0n, 0n]);
    });

    it("a revoke item gets revokeBySig's checks (ZeroAddress, ZeroScope, InvalidPurpose, StaleVersion), after the grants", async function () {
      const fx = await loadFixture(deploy);
      const bad = { v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const deadline = await future(60);
      const grant = await grantItem(fx);
      const send = (item: RevokeItem, grants = [grant]) =>
        relayBatch(fx.consent, fx.patient.address, { grants, revokes: [item], deadline }, bad);
      const base = revokeItem(fx, { scope: fx.scope2, version: 0 });
      await expect(
        send({ ...base, grantee: ethers.ZeroAddress, scope: ethers.ZeroHash }),
      ).to.be.revertedWithCustomError(fx.consent, "ZeroAddress");
      await expect(send({ ...base, scope: ethers.ZeroHash, purpose: 0 })).to.be.revertedWithCustomError(
        fx.consent,
        "ZeroScope",
      );
      for (const purpose of [0, 6])
        await expect(send({ ...base, purpose }))
          .to.be.revertedWithCustomError(fx.consent, "InvalidPurpose")
          .withArgs(purpose);
      // A bad grant is reported before any revoke.
      await expect(send({ ...base, purpose: 0 }, [{ ...grant, scope: ethers.ZeroHash }])).to.be.revertedWithCustomError(
        fx.consent,
        "ZeroScope",
      );
      await expect(send({ ...base, version: 4 }))
        .to.be.revertedWithCustomError(fx.consent, "StaleVersion")
        .withArgs(0, 4);
      await expect(send(base)).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
    });

    it("reverts VersionOverflow for an item at version 2^32 - 1 (grant, revoke, Emergency revoke) and writes nothing", async function () {
      const fx = await loadFixture(deploy);
      const address = await fx.consent.getAddress();
      await fx.asPatient.setEmergencyGrantee(fx.medic.address, 600, fx.one.root);
      const raw = (MAX_VERSION << 64n) | 5n;
      for (const [grantee, purpose] of [
        [fx.grantee.address, PURPOSE.Treatment],
        [fx.medic.address, PURPOSE.Emergency],
      ] as const) {
        const slot = consentSlot(ethers, fx.patient.address, grantee, fx.scope, purpose);
        await networkHelpers.setStorageAt(address, slot, ethers.toBeHex(raw, 32));
      }
      const fresh = await grantItem(fx, { scope: fx.scope2 });
      const cases: [GrantItem[], RevokeItem[]][] = [
        [[fresh, await grantItem(fx, { version: Number(MAX_VERSION) })], []],
        [[fresh], [revokeItem(fx, { version: Number(MAX_VERSION) })]],
        [
          [fresh],
          [revokeItem(fx, { grantee: fx.medic.address, purpose: PURPOSE.Emergency, version: Number(MAX_VERSION) })],
        ],
      ];
      for (const [grants, revokes] of cases) {
        const { relay } = await signedBatch(fx, grants, revokes);
        await expect(relay()).to.be.revertedWithCustomError(fx.consent, "VersionOverflow");
      }
      expect(await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope2, 1)).to.deep.equal([0n, 0n]);
      expect(await fx.consent.consentOf(fx.patient.address, fx.grantee.address, fx.scope, 1)).to.deep.equal([
        5n,
        MAX_VERSION,
      ]);
      await expectRegistration(fx.consent, fx.patient.address, fx.medic.address, [600n, 0n, fx.one.root, 1n]);
    });

    it("reverts InvalidSignature for another signer, patient 0, the high-s twin, another chain", async function () {
      const fx = await loadFixture(deploy);
      const grants = [await grantItem(fx)];
      const byOther = await signedBatch(fx, grants, [], { signer: fx.other });
      await expect(byOther.relay()).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      // The signer can only use it for their own slots.
      await expect(relayBatch(fx.consent, fx.other.address, byOther.message, byOther.sig))
        .to.emit(fx.consent, "ConsentGranted")
        .withArgs(fx.other.address, fx.grantee.address, fx.scope, 1, grants[0]!.expiry, 1);
      const { message, sig } = await signedBatch(fx, grants, []);
      await expect(relayBatch(fx.consent, ethers.ZeroAddress, message, sig)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      await expect(relayBatch(fx.consent, fx.patient.address, message, malleate(sig))).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      const otherChain = await signBatch(ethers, fx.patient, { ...fx.domain, chainId: 1n }, message);
      await expect(relayBatch(fx.consent, fx.patient.address, message, otherChain)).to.be.revertedWithCustomError(
        fx.consent,
        "InvalidSignature",
      );
      await expect(relayBatch(fx.consent, fx.patient.address, message, sig)).to.emit(fx.consent, "ConsentGranted");
    });

    it("reverts InvalidSignature for a tampered item, reordered, moved, dropped or added items, or a changed deadline", async function () {
      const fx = await loadFixture(deploy);
      const g1 = await grantItem(fx);
      const g2 = await grantItem(fx, { scope: fx.scope2, purpose: PURPOSE.Research });
      const r1 = revokeItem(fx, { scope: fx.scope3, version: 0 });
      const r2 = revokeItem(fx, { grantee: fx.other.address, scope: fx.scope2, version: 0 });
      const { message, sig } = await signedBatch(fx, [g1, g2], [r1, r2]);
      const tampered: BatchMessage[] = [
        { ...message, grants: [{ ...g1, grantee: fx.other.address }, g2] },
        { ...message, grants: [g1, { ...g2, scope: fx.scope3 }] },
        { ...message, grants: [{ ...g1, purpose: PURPOSE.Payment }, g2] },
        { ...message, grants: [{ ...g1, expiry: BigInt(g1.expiry) + 1n }, g2] },
        { ...message, revokes: [r1, { ...r2, purpose: PURPOSE.Research }] },
        { ...message, revokes: [{ ...r1, grantee: fx.medic.address }, r2] },
        { ...message, grants: [g2, g1] },
        { ...message, revokes: [r2, r1] },
        { ...message, grants: [g1] },
        { ...message, revokes: [r1] },
        { ...message, grants: [g1, g2, await grantItem(fx, { scope: fx.scope3, purpose: PURPOSE.Payment })] },
        { ...message, deadline: BigInt(message.deadline) + 1n },
        { ...message, deadline: BigInt(message.deadline) - 1n },
      ];
      for (const m of tampered)
        await expect(relayBatch(fx.consent, fx.patient.address, m, sig)).to.be.revertedWithCustomError(
          fx.consent,
          "InvalidSignature",
        );
      // A grant item moved to the revokes (same slot, same version) is another message too.
      const asRevoke = await signedBatch(fx, [], [revokeItem(fx, { version: 0 })]);
      await expect(
        relayBatch(fx.consent, fx.patient.address, { ...asRevoke.message, revokes: [], grants: [g1] }, asRevoke.sig),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      await expect(relayBatch(fx.consent, fx.patient.address, message, sig)).to.emit(fx.consent, "ConsentGranted");
    });

    it("a single Grant or Revoke signature cannot pass as a batch, nor a batch as either", async function () {
      const fx = await loadFixture(deploy);
      const deadline = await future(3600);
      const item = await grantItem(fx);
      const gsig = await signGrant(ethers, fx.patient, fx.domain, { ...item, deadline });
      await expect(
        relayBatch(fx.consent, fx.patient.address, { grants: [item], revokes: [], deadline }, gsig),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      const rsig = await signRevoke(ethers, fx.patient, fx.domain, { ...revokeItem(fx, { version: 0 }), deadline });
      await expect(
        relayBatch(
          fx.consent,
          fx.patient.address,
          { grants: [], revokes: [revokeItem(fx, { version: 0 })], deadline },
          rsig,
        ),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
      const batch = await signedBatch(fx, [item], [], { deadline });
      await expect(
        relayGrant(fx.consent, fx.patient.address, { ...item, deadline }, batch.sig),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
    });

    it("signs what ethers' EIP-712 encoder hashes: the type string lists GrantItem, then RevokeItem", async function () {
      const fx = await loadFixture(deploy);
      expect(ethers.TypedDataEncoder.from(BATCH_TYPES).encodeType("ConsentBatch")).to.equal(
        "ConsentBatch(GrantItem[] grants,RevokeItem[] revokes,uint256 deadline)" +
          "GrantItem(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version)" +
          "RevokeItem(address grantee,bytes32 scope,uint8 purpose,uint32 version)",
      );
      // The signature the contract accepts is the one over ethers' digest.
      const { message, sig, relay } = await signedBatch(
        fx,
        [await grantItem(fx)],
        [revokeItem(fx, { scope: fx.scope2, version: 0 })],
      );
      const digest = ethers.TypedDataEncoder.hash(fx.domain, BATCH_TYPES, message);
      expect(ethers.recoverAddress(digest, sig)).to.equal(fx.patient.address);
      await expect(relay()).to.emit(fx.consent, "ConsentRevoked");
    });

    it("rejects malformed calldata (dirty high bits in an item) like the ABI decoder", async function () {
      const fx = await loadFixture(deploy);
      const fn = fx.consent.interface.getFunction("consentBatchBySig")!;
      const coder = ethers.AbiCoder.defaultAbiCoder();
      const g = BigInt(fx.grantee.address);
      const expiry = BigInt(await future());
      const deadline = BigInt(await future(60));
      const grantT = "tuple(uint256,bytes32,uint256,uint256,uint256)[]";
      const revokeT = "tuple(uint256,bytes32,uint256,uint256)[]";
      const encode = (grants: bigint[][], revokes: bigint[][]) =>
        fn.selector +
        coder
          .encode(
            ["address", grantT, revokeT, "uint256", "uint8", "bytes32", "bytes32"],
            [
              fx.patient.address,
              grants.map((x) => [x[0], ethers.toBeHex(x[1]!, 32), x[2], x[3], x[4]]),
              revokes.map((x) => [x[0], ethers.toBeHex(x[1]!, 32), x[2], x[3]]),
              deadline,
              27,
              ethers.ZeroHash,
              ethers.ZeroHash,
            ],
          )
          .slice(2);
      const scope = BigInt(fx.scope);
      const dirty = [
        encode([[g | (1n << 160n), scope, 1n, expiry, 0n]], []),
        encode([[g, scope, 257n, expiry, 0n]], []),
        encode([[g, scope, 1n, expiry | (1n << 64n), 0n]], []),
        encode([[g, scope, 1n, expiry, 1n << 32n]], []),
        encode([], [[g | (1n << 160n), scope, 1n, 0n]]),
        encode([], [[g, scope, 257n, 0n]]),
        encode([], [[g, scope, 1n, 1n << 32n]]),
      ];
      for (const data of dirty)
        await expect(
          fx.patient.sendTransaction({ to: await fx.consent.getAddress(), data }),
        ).to.be.revertedWithoutReason(ethers);
      // The same encoding with clean words reaches the signature check.
      await expect(
        fx.patient.sendTransaction({
          to: await fx.consent.getAddress(),
          data: encode([[g, scope, 1n, expiry, 0n]], []),
        }),
      ).to.be.revertedWithCustomError(fx.consent, "InvalidSignature");
    });
  });
});
