/**
 * Break-glass under the hardened rule (issue 14): named scopes (a Merkle root), one window per
 * registration, any change closing the windows, the relayed registration / removal bound to the
 * (patient, grantee) pair's epoch (a grantee cannot block it, a change of the registration kills
 * messages signed before it, pairs are independent), and revokes that always write.
 */
import { expect } from "chai";
import {
  AbiCoder,
  Interface,
  TypedDataEncoder,
  Wallet,
  isError,
  keccak256,
  makeError,
  toUtf8Bytes,
  type HDNodeWallet,
} from "ethers";
import {
  ConsentRegistryAbi,
  ConsentRegistryClient,
  ContractRevertError,
  EMERGENCY_GRANTEE_TYPES,
  EmergencyScopesMismatchError,
  InvalidInputError,
  InvalidScopeError,
  MAX_EMERGENCY_EPOCH,
  MAX_EMERGENCY_SCOPES,
  MAX_SKIP_EPOCHS,
  Purpose,
  SignatureError,
  TrustRegistryAbi,
  WrongSignerError,
  ZERO_SCOPES_ROOT,
  buildEmergencyGranteeTypedData,
  consentDomain,
  consentRegistryInterface,
  emergencyGranteeDigest,
  emergencyScopes,
  emergencyScopesRoot,
  parseSignedEmergencyGrantee,
  recoverEmergencyGranteeSigner,
  signEmergencyGrantee,
  signedConsentToJson,
  toChainError,
  verifyEmergencyGranteeSignature,
  type Eip1193Provider,
  type SignedEmergencyGrantee,
  blindEmergencyScopes,
} from "../src/index.ts";

import { advanceTime, latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { scopesOf, sid } from "./support/scopes.ts";
import { rejection, revertOf } from "./support/settle.ts";

const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const domain = consentDomain(31337, REGISTRY);
const patient = walletAt(2);
const doctor = walletAt(5);
const SCOPES = ["category:allergy", "category:medication", "fhir:Condition"];

/** The keyed ids a patient registers for `scopes` (SCOPES by default): the list on its emergency card. */
function idsOf(p: string | { address: string }, scopes: readonly string[] = SCOPES): string[] {
  return scopesOf(p).ids(scopes);
}

/** The leaf the contract hashes for a scope id: keccak256(bytes.concat(keccak256(abi.encode(id)))). */
function leaf(id: string): string {
  return keccak256(keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32"], [id])));
}

describe("emergency scopes (off-chain)", () => {
  it("a one-scope registration's root is the contract's leaf, with an empty proof", () => {
    const allergy = sid(patient, "category:allergy");
    const tree = emergencyScopes([allergy]);
    expect(tree.root).to.equal(leaf(allergy));
    expect(tree.proof(allergy)).to.deep.equal([]);
  });

  it("the root depends on the set of scopes only: order and repeats do not change it", () => {
    const ids = idsOf(patient);
    const root = emergencyScopesRoot(ids);
    expect(emergencyScopesRoot([...ids].reverse())).to.equal(root);
    // An id written in upper-case hex is the same id: a repeat.
    expect(emergencyScopesRoot([...ids, ids[0]!, `0x${ids[1]!.slice(2).toUpperCase()}`])).to.equal(root);
    expect(emergencyScopes([...ids, ids[0]!]).scopeIds).to.have.length(3);
    expect(emergencyScopesRoot(ids.slice(0, 2))).to.not.equal(root);
  });

  it("each proof verifies against the root the way OpenZeppelin's MerkleProof does", () => {
    const ids = idsOf(patient);
    const tree = emergencyScopes(ids);
    for (const scope of ids) {
      let node = leaf(scope);
      for (const sibling of tree.proof(scope)) {
        const [a, b] = BigInt(node) < BigInt(sibling) ? [node, sibling] : [sibling, node];
        node = keccak256(`0x${a.slice(2)}${b.slice(2)}`);
      }
      expect(node, scope).to.equal(tree.root);
    }
  });

  it("refuses an empty list, too many scopes, a malformed scope (naming its index) and a proof for an unlisted scope", () => {
    expect(() => emergencyScopes([])).to.throw(InvalidInputError, /scopes: name at least one scope/);
    const many = idsOf(
      patient,
      Array.from({ length: MAX_EMERGENCY_SCOPES + 1 }, (_, i) => `study:s-${i}`),
    );
    expect(() => emergencyScopes(many)).to.throw(InvalidInputError, /at most 256 distinct scopes/);
    expect(emergencyScopes(many.slice(1)).scopeIds).to.have.length(MAX_EMERGENCY_SCOPES);
    expect(() => emergencyScopes([sid(patient, "category:allergy"), "fhir:condition"]))
      .to.throw(InvalidScopeError)
      .with.property("field", "scopes[1]");
    expect(() => emergencyScopes(sid(patient, "category:allergy") as unknown as string[])).to.throw(
      InvalidInputError,
      /list/,
    );
    expect(() => emergencyScopes(idsOf(patient)).proof(sid(patient, "category:mental-health")))
      .to.throw(InvalidScopeError, /not among the registration's 3 scopes/)
      .with.property("field", "scope");
  });

  it("refuses canonical scope strings in a list and in a proof request, pointing at PatientScopes.id", () => {
    const lists: [string[], string, string][] = [
      [SCOPES, "scopes[0]", "category:allergy"],
      [[sid(patient, "category:allergy"), "category:medication"], "scopes[1]", "category:medication"],
    ];
    for (const [list, field, scope] of lists) {
      expect(() => emergencyScopes(list))
        .to.throw(InvalidScopeError, `PatientScopes.id(${JSON.stringify(scope)})`)
        .and.include({ code: "INVALID_SCOPE", field });
    }
    expect(() => emergencyScopesRoot(["category:allergy"])).to.throw(InvalidScopeError, /PatientScopes\.id/);
    expect(() => emergencyScopes(idsOf(patient)).proof("category:allergy"))
      .to.throw(InvalidScopeError, /PatientScopes\.id\("category:allergy"\)/)
      .with.property("field", "scope");
  });

  it("a blinded card adds one fresh random id, so its root is no subset of the patient's known ids", () => {
    const ids = idsOf(patient);
    const card = blindEmergencyScopes([...ids, ids[0]!]);
    expect(card).to.have.length(ids.length + 1);
    expect(card.slice(0, -1)).to.deep.equal([...ids].sort());
    const blinding = card.at(-1)!;
    expect(blinding).to.match(/^0x[0-9a-f]{64}$/);
    expect(ids).to.not.include(blinding);
    expect(blindEmergencyScopes(ids).at(-1)).to.not.equal(blinding); // fresh every time
    // An observer who knows every id (e.g. from the patient's grants) tries all subsets: none gives the root.
    const root = emergencyScopesRoot(card);
    for (let mask = 1; mask < 1 << ids.length; mask++) {
      const subset = ids.filter((_, bit) => (mask >> bit) & 1);
      expect(emergencyScopesRoot(subset)).to.not.equal(root);
    }
    const full = Array.from({ length: MAX_EMERGENCY_SCOPES }, (_, i) => sid(patient, `study:s${i}`));
    expect(() => blindEmergencyScopes(full)).to.throw(InvalidInputError, /room for the blinding id/);
    expect(blindEmergencyScopes(full.slice(1))).to.have.length(MAX_EMERGENCY_SCOPES);
  });
});

describe("EmergencyGrantee typed data (off-chain)", () => {
  const registration = {
    patient: patient.address,
    grantee: doctor.address,
    maxDuration: 3600,
    scopesRoot: emergencyScopesRoot(idsOf(patient)),
    epoch: 0,
    deadline: 1_900_000_000,
  };

  it("encodes the contract's EMERGENCY_GRANTEE_TYPEHASH string", () => {
    const fields = { EmergencyGrantee: EMERGENCY_GRANTEE_TYPES.EmergencyGrantee.map((f) => ({ ...f })) };
    expect(TypedDataEncoder.from(fields).encodeType("EmergencyGrantee")).to.equal(
      "EmergencyGrantee(address grantee,uint32 maxDuration,bytes32 scopesRoot,uint32 epoch,uint256 deadline)",
    );
  });

  it("builds a JSON-safe payload and validates the registration rules before anything is signed", () => {
    const payload = buildEmergencyGranteeTypedData(domain, registration);
    expect(payload.primaryType).to.equal("EmergencyGrantee");
    expect(payload.message).to.deep.equal({
      grantee: doctor.address,
      maxDuration: 3600,
      scopesRoot: registration.scopesRoot,
      epoch: 0,
      deadline: "1900000000",
    });
    expect(JSON.parse(JSON.stringify(payload))).to.deep.equal(payload);
    const removal = buildEmergencyGranteeTypedData(domain, {
      ...registration,
      maxDuration: 0,
      scopesRoot: ZERO_SCOPES_ROOT,
    });
    expect(removal.message.maxDuration).to.equal(0);

    const build = (change: object) => () => buildEmergencyGranteeTypedData(domain, { ...registration, ...change });
    expect(build({ maxDuration: 3_600_000 })).to.throw(InvalidInputError, /maxDuration: .*looks like milliseconds/);
    expect(build({ maxDuration: 8 * 86400 })).to.throw(InvalidInputError, /at most 604800 seconds/);
    expect(build({ scopesRoot: ZERO_SCOPES_ROOT })).to.throw(InvalidInputError, /scopesRoot: a registration must name/);
    expect(build({ maxDuration: 0 })).to.throw(InvalidInputError, /scopesRoot: a removal .* names no scopes/);
    expect(build({ grantee: ZERO_SCOPES_ROOT.slice(0, 42) })).to.throw(InvalidInputError, /grantee/);
    expect(build({ epoch: -1 })).to.throw(InvalidInputError, /epoch/);
    expect(build({ epoch: 2 ** 32 - 1 })).to.throw(InvalidInputError, /epoch: at most 4294967294/);
    expect(build({ epoch: MAX_EMERGENCY_EPOCH })().message.epoch).to.equal(2 ** 32 - 2);
    const { epoch: _epoch, ...withoutEpoch } = registration;
    expect(() => buildEmergencyGranteeTypedData(domain, { ...withoutEpoch, nonce: 0 } as never))
      .to.throw(InvalidInputError, /the \(patient, grantee\) pair's epoch now, not a nonce/)
      .with.property("field", "epoch");
  });

  it("signs, recovers, verifies and round-trips through JSON; any change breaks the signature", async () => {
    const signed = await signEmergencyGrantee(patient, domain, registration);
    expect(signed.patient).to.equal(patient.address);
    expect(recoverEmergencyGranteeSigner(domain, signed, signed.signature)).to.equal(patient.address);
    expect(verifyEmergencyGranteeSignature(domain, signed, signed.signature, patient.address)).to.equal(true);
    expect(
      verifyEmergencyGranteeSignature(domain, { ...signed, epoch: 1 }, signed.signature, patient.address),
    ).to.equal(false);
    expect(
      verifyEmergencyGranteeSignature(domain, { ...signed, maxDuration: 7200 }, signed.signature, patient.address),
    ).to.equal(false);
    expect(emergencyGranteeDigest(domain, signed)).to.equal(emergencyGranteeDigest(domain, registration));
    const json = JSON.parse(JSON.stringify(signedConsentToJson(signed))) as Record<string, unknown>;
    expect(parseSignedEmergencyGrantee(domain, json)).to.deep.equal(signed);
    expect(() => parseSignedEmergencyGrantee(domain, { ...json, patient: doctor.address })).to.throw(
      SignatureError,
      /not made by patient/,
    );
  });

  it("refuses a grantee's wallet signing the patient's registration, before prompting", async () => {
    let prompts = 0;
    const wallet: Eip1193Provider = {
      request: async () => {
        prompts++;
        return "0x";
      },
    };
    const refused = await rejection(
      signEmergencyGrantee({ eip1193: wallet, account: doctor.address }, domain, registration),
    );
    expect(refused)
      .to.be.instanceOf(WrongSignerError)
      .and.include({ expected: patient.address, actual: doctor.address });
    expect(prompts).to.equal(0);
    const viaEthers = await rejection(signEmergencyGrantee(doctor, domain, registration));
    expect(viaEthers).to.be.instanceOf(WrongSignerError);
  });
});

describe("contract errors of the hardened registries decode by name", () => {
  const consent = consentRegistryInterface;
  const trust = new Interface(TrustRegistryAbi);
  const cases: [Interface, string, unknown[], RegExp | undefined][] = [
    [consent, "ZeroScopesRoot", [], /must name its scopes/],
    [consent, "ScopeNotRegistered", [sid(patient, "category:allergy")], /not among the registration's scopes/],
    [consent, "EmergencyWindowUsed", [1_800_000_000n], /ended at 1800000000: the patient must register/],
    [consent, "StaleEpoch", [3n, 2n], /at epoch 3, the message was signed for epoch 2: .*sign again/],
    [consent, "EpochTooFarAhead", [3n, 1004n], /epoch 1004, more than 1000 above .* epoch 3: .*sign again/],
    [consent, "VersionOverflow", [], /can never be written again/],
    [trust, "WindowOverlapsHistory", [100n, 200n], /start the new window at 200 or later/],
    [trust, "NoSuchWindow", [4n], undefined],
    [trust, "RenounceOwnershipDisabled", [], /transferOwnership \+ acceptOwnership/],
  ];
  for (const [iface, name, args, hint] of cases) {
    it(`${name} becomes a ContractRevertError named ${name}${hint ? " with what to do" : ""}`, () => {
      const data = iface.encodeErrorResult(name, args);
      const raw = makeError("execution reverted", "CALL_EXCEPTION", {
        action: "estimateGas",
        data,
        reason: null,
        transaction: { to: REGISTRY, data: "0x" },
        invocation: null,
        revert: null,
      });
      expect(isError(raw, "CALL_EXCEPTION")).to.equal(true);
      const error = toChainError(raw, iface, "Test.op", REGISTRY);
      expect(error).to.be.instanceOf(ContractRevertError).and.include({ errorName: name, code: "CONTRACT_REVERT" });
      expect(Object.keys((error as ContractRevertError).args).length).to.equal(args.length);
      if (hint) expect(error.message).to.match(hint);
    });
  }
  it("every custom error of the ConsentRegistry ABI is known to the decoder (NothingToRevoke is gone)", () => {
    const names = ConsentRegistryAbi.filter((item) => item.type === "error").map((item) => item.name);
    expect(names).to.include.members([
      "ZeroScopesRoot",
      "ScopeNotRegistered",
      "EmergencyWindowUsed",
      "StaleEpoch",
      "EpochTooFarAhead",
      "VersionOverflow",
    ]);
    expect(names).to.not.include("NothingToRevoke");
    expect(names).to.not.include("StaleNonce");
  });
});

describe("break-glass and its relayed registration against the contract (anvil)", function () {
  this.timeout(90_000);
  let t: TestChain;
  let relayer: ConsentRegistryClient;
  let grantee: ConsentRegistryClient;

  before(async () => {
    t = await startTestChain();
    relayer = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(9));
    grantee = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(5));
  });
  after(async () => t?.stop());

  /** The Emergency slot of `scope` (canonical) of patient `p`: under p's keyed id. */
  const emergencyKey = (p: string, scope: string) => ({
    patient: p,
    grantee: doctor.address,
    scope: sid(p, scope),
    purpose: Purpose.Emergency,
  });

  it("the contract's EMERGENCY_GRANTEE_TYPEHASH is the one the package signs", async () => {
    expect((await relayer.contract.getFunction("EMERGENCY_GRANTEE_TYPEHASH")()) as string).to.equal(
      keccak256(
        toUtf8Bytes(
          "EmergencyGrantee(address grantee,uint32 maxDuration,bytes32 scopesRoot,uint32 epoch,uint256 deadline)",
        ),
      ),
    );
  });

  it("a patient without ETH registers and removes a grantee by signature; a grantee breaking the glass in between cannot block the removal", async () => {
    const broke = Wallet.createRandom(); // no ETH: everything it does is relayed
    expect(await t.provider.getBalance(broke.address)).to.equal(0n);
    const now = await latestTimestamp(t.provider);

    const register = await relayer.nextEmergencyGranteeTypedData({
      patient: broke.address,
      grantee: doctor.address,
      maxDurationSeconds: 3600,
      scopes: [...idsOf(broke), sid(broke, "category:allergy")],
      deadline: now + 600,
    });
    expect(register.message.epoch).to.equal(0);
    expect(register.scopes).to.deep.equal(emergencyScopes(idsOf(broke)).scopeIds);
    const signedRegistration = await signEmergencyGrantee(broke, register.domain, {
      ...register.message,
      patient: broke.address,
    });
    const set = await relayer.setEmergencyGranteeBySig(signedRegistration);
    expect(set.events).to.deep.equal([
      {
        type: "EmergencyGranteeSet",
        patient: broke.address,
        grantee: doctor.address,
        maxDuration: 3600,
        scopesRoot: emergencyScopesRoot(idsOf(broke)),
        position: set.events[0]!.position,
      },
    ]);
    expect((await relayer.emergencyGranteeOf(broke.address, doctor.address)).epoch).to.equal(1);
    const replay = await revertOf(relayer.setEmergencyGranteeBySig(signedRegistration));
    expect(replay.errorName).to.equal("StaleEpoch");
    expect(replay.args).to.deep.equal({ current: 1n, signed: 0n });

    await grantee.breakGlass(broke.address, sid(broke, "category:allergy"), { scopes: idsOf(broke) });
    expect(await relayer.isAllowed(emergencyKey(broke.address, "category:allergy"))).to.equal(true);

    // The patient signs the removal; the grantee sees it coming and breaks the glass again first.
    const removal = await relayer.nextEmergencyGranteeTypedData({
      patient: broke.address,
      grantee: doctor.address,
      maxDurationSeconds: 0,
      deadline: now + 600,
    });
    expect(removal.message).to.include({ maxDuration: 0, scopesRoot: ZERO_SCOPES_ROOT, epoch: 1 });
    const signedRemoval = await signEmergencyGrantee(broke, removal.domain, {
      ...removal.message,
      patient: broke.address,
    });
    await grantee.breakGlass(broke.address, sid(broke, "fhir:Condition"), { scopes: idsOf(broke) });
    expect(await relayer.isAllowed(emergencyKey(broke.address, "fhir:Condition"))).to.equal(true);

    const removed = await relayer.setEmergencyGranteeBySig(signedRemoval);
    expect(removed.events[0]).to.include({ type: "EmergencyGranteeSet", maxDuration: 0, scopesRoot: ZERO_SCOPES_ROOT });
    for (const scope of SCOPES) {
      expect(await relayer.isAllowed(emergencyKey(broke.address, scope)), scope).to.equal(false);
    }
    // The closed slots report expiry 0 and keep their versions.
    expect(await relayer.consentOf(emergencyKey(broke.address, "category:allergy"))).to.deep.equal({
      expiry: 0n,
      version: 1,
    });
    expect(await relayer.emergencyGranteeOf(broke.address, doctor.address)).to.deep.equal({
      maxDurationSeconds: 0,
      windowEnd: 0n,
      scopesRoot: ZERO_SCOPES_ROOT,
      epoch: 2,
    });
    const after = await revertOf(
      grantee.breakGlass(broke.address, sid(broke, "category:allergy"), { scopes: idsOf(broke) }),
    );
    expect(after.errorName).to.equal("NotEmergencyGrantee");
  });

  it("a re-registration closes the open window at once and allows exactly one new window, of the new length", async () => {
    const p = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    await p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 3600, scopes: idsOf(patient) });
    const first = await grantee.breakGlass(patient.address, sid(patient, "category:medication"), {
      scopes: idsOf(patient),
    });
    expect(first.events[0]).to.include({ version: 1 });
    const key = emergencyKey(patient.address, "category:medication");
    expect(await p.isAllowed(key)).to.equal(true);

    await p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 60, scopes: idsOf(patient) });
    expect(await p.isAllowed(key), "a change closes the window").to.equal(false);
    expect(await p.consentOf(key)).to.deep.equal({ expiry: 0n, version: 1 });

    const second = await grantee.breakGlass(patient.address, sid(patient, "category:medication"), {
      scopes: idsOf(patient),
    });
    const block = await t.provider.getBlock(second.blockNumber);
    expect(second.events[0]).to.include({ expiry: BigInt(block!.timestamp + 60), version: 2 });
    await advanceTime(t.provider, 61);
    expect(await p.isAllowed(key)).to.equal(false);
    expect(
      (
        await revertOf(
          grantee.breakGlass(patient.address, sid(patient, "category:allergy"), { scopes: idsOf(patient) }),
        )
      ).errorName,
    ).to.equal("EmergencyWindowUsed");
  });

  it("revoking an Emergency slot also removes the registration (ConsentRevoked, then EmergencyGranteeSet)", async () => {
    const p = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(3));
    const pAddress = walletAt(3).address;
    await p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 600, scopes: idsOf(pAddress) });
    await grantee.breakGlass(pAddress, sid(pAddress, "category:allergy"), { scopes: idsOf(pAddress) });
    await grantee.breakGlass(pAddress, sid(pAddress, "fhir:Condition"), { scopes: idsOf(pAddress) });
    const revoked = await p.revoke({
      grantee: doctor.address,
      scope: sid(pAddress, "category:allergy"),
      purpose: "Emergency",
    });
    expect(revoked.events.map((e) => e.type)).to.deep.equal(["ConsentRevoked", "EmergencyGranteeSet"]);
    expect(revoked.events[1]).to.include({ maxDuration: 0, scopesRoot: ZERO_SCOPES_ROOT });
    expect(await p.isAllowed(emergencyKey(pAddress, "fhir:Condition")), "the other window closes too").to.equal(false);
    expect((await p.emergencyGranteeOf(pAddress, doctor.address)).maxDurationSeconds).to.equal(0);
  });

  it("breakGlass checks the scope list against the registered root before sending anything", async () => {
    const p = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(4));
    const pAddress = walletAt(4).address;
    await p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 600, scopes: idsOf(pAddress) });
    const nonce = await t.provider.getTransactionCount(doctor.address);
    const wrongList = await rejection(
      grantee.breakGlass(pAddress, sid(pAddress, "category:allergy"), { scopes: [sid(pAddress, "category:allergy")] }),
    );
    expect(wrongList)
      .to.be.instanceOf(EmergencyScopesMismatchError)
      .and.include({
        code: "EMERGENCY_SCOPES_MISMATCH",
        field: "scopes",
        registeredRoot: emergencyScopesRoot(idsOf(pAddress)),
        computedRoot: emergencyScopesRoot([sid(pAddress, "category:allergy")]),
      });
    expect(() =>
      grantee.breakGlass(pAddress, sid(pAddress, "category:mental-health"), { scopes: idsOf(pAddress) }),
    ).to.throw(InvalidScopeError, /not among the registration's 3 scopes/);
    expect(() => grantee.breakGlass(pAddress, sid(pAddress, "category:allergy"), { proof: ["0x12"] })).to.throw(
      InvalidInputError,
      /proof\[0\]/,
    );
    expect(await t.provider.getTransactionCount(doctor.address), "nothing was sent").to.equal(nonce);
    // A proof from another list reaches the contract, which names the scope it refuses.
    const forged = await revertOf(
      grantee.breakGlass(pAddress, sid(pAddress, "category:mental-health"), {
        proof: emergencyScopes([...idsOf(pAddress), sid(pAddress, "category:mental-health")]).proof(
          sid(pAddress, "category:mental-health"),
        ),
      }),
    );
    expect(forged.errorName).to.equal("ScopeNotRegistered");
    expect(forged.args).to.deep.equal({ scope: sid(pAddress, "category:mental-health") });
  });

  it("a registration of keyed ids works end to end: the grantee breaks the glass with the patient's id list alone, without the key", async () => {
    const pWallet = walletAt(7);
    const p = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(7));
    // The patient's wallet computes the ids; the emergency card carries them and nothing else (no key, no names).
    const card = JSON.parse(JSON.stringify({ patient: pWallet.address, scopes: idsOf(pWallet) })) as {
      patient: string;
      scopes: string[];
    };
    expect(JSON.stringify(card)).to.not.match(/category|fhir|allergy|medication|Condition/);
    const set = await p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 600, scopes: card.scopes });
    expect(set.events[0]).to.include({ type: "EmergencyGranteeSet", scopesRoot: emergencyScopesRoot(card.scopes) });

    // The grantee's side: its own client and the card.
    const opened: string[] = [];
    for (const id of card.scopes) {
      const tx = await grantee.breakGlass(card.patient, id, { scopes: card.scopes });
      expect(tx.events[0]).to.include({
        type: "EmergencyAccess",
        patient: pWallet.address,
        grantee: doctor.address,
        scope: id,
        purpose: Purpose.Emergency,
      });
      opened.push(tx.events[0]!.type === "EmergencyAccess" ? tx.events[0]!.scope : "");
      const key = { patient: card.patient, grantee: doctor.address, scope: id, purpose: Purpose.Emergency };
      expect(await grantee.isAllowed(key)).to.equal(true);
    }
    // Only the patient's wallet can say what was opened.
    expect(opened.map((id) => scopesOf(pWallet).label(id))).to.deep.equal(SCOPES);
    // Another patient's id of a listed category is not on this card.
    expect(() => grantee.breakGlass(card.patient, sid(patient, "category:allergy"), { scopes: card.scopes })).to.throw(
      InvalidScopeError,
      /not among the registration's 3 scopes/,
    );
  });

  /** The patient signs `params` through the package (nextEmergencyGranteeTypedData, signEmergencyGrantee). */
  async function signed(
    wallet: Wallet | HDNodeWallet,
    params: { grantee: string; maxDurationSeconds: number; scopes?: string[]; skipEpochs?: number; deadline?: bigint },
  ): Promise<SignedEmergencyGrantee> {
    const next = await relayer.nextEmergencyGranteeTypedData({
      patient: wallet.address,
      deadline: params.deadline ?? BigInt((await latestTimestamp(t.provider)) + 600),
      ...params,
    });
    return signEmergencyGrantee(wallet, next.domain, { ...next.message, patient: wallet.address });
  }

  it("a registration the patient signed but nobody relayed is dead once the patient removes the grantee directly (review F1)", async () => {
    const p = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(6));
    const pWallet = walletAt(6);
    await p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 600, scopes: idsOf(pWallet) });
    const held = await signed(pWallet, {
      grantee: doctor.address,
      maxDurationSeconds: 7 * 86400,
      scopes: idsOf(pWallet),
    });
    expect(held.epoch).to.equal(1);
    await p.removeEmergencyGrantee(doctor.address);
    expect((await p.emergencyGranteeOf(pWallet.address, doctor.address)).epoch).to.equal(2);

    const late = await revertOf(relayer.setEmergencyGranteeBySig(held));
    expect(late.errorName).to.equal("StaleEpoch");
    expect(late.args).to.deep.equal({ current: 2n, signed: 1n });
    expect(late.message).to.match(/sign again with nextEmergencyGranteeTypedData/);
    expect((await p.emergencyGranteeOf(pWallet.address, doctor.address)).maxDurationSeconds).to.equal(0);
    const refused = await revertOf(
      grantee.breakGlass(pWallet.address, sid(pWallet, "category:allergy"), { scopes: idsOf(pWallet) }),
    );
    expect(refused.errorName).to.equal("NotEmergencyGrantee");
  });

  it("epochs are per grantee: registering another grantee never makes the removal signed for the first stale (review F3)", async () => {
    const broke = Wallet.createRandom();
    const other = walletAt(8).address;
    await relayer.setEmergencyGranteeBySig(
      await signed(broke, { grantee: doctor.address, maxDurationSeconds: 3600, scopes: idsOf(broke) }),
    );
    await relayer.setEmergencyGranteeBySig(
      await signed(broke, { grantee: other, maxDurationSeconds: 3600, scopes: idsOf(broke) }),
    );
    const removal = await signed(broke, { grantee: doctor.address, maxDurationSeconds: 0 });
    expect(removal.epoch).to.equal(1);
    // Two more changes for the other grantee, relayed before the removal.
    for (const maxDurationSeconds of [60, 0]) {
      await relayer.setEmergencyGranteeBySig(
        await signed(broke, { grantee: other, maxDurationSeconds, scopes: maxDurationSeconds ? idsOf(broke) : [] }),
      );
    }
    expect((await relayer.emergencyGranteeOf(broke.address, other)).epoch).to.equal(3);
    expect((await relayer.emergencyGranteeOf(broke.address, doctor.address)).epoch).to.equal(1);

    const removed = await relayer.setEmergencyGranteeBySig(removal);
    expect(removed.events[0]).to.include({ type: "EmergencyGranteeSet", grantee: doctor.address, maxDuration: 0 });
    expect(await relayer.emergencyGranteeOf(broke.address, doctor.address)).to.deep.equal({
      maxDurationSeconds: 0,
      windowEnd: 0n,
      scopesRoot: ZERO_SCOPES_ROOT,
      epoch: 2,
    });
  });

  it("a removal signed with skipEpochs: 1 survives one held message relayed first; without it, it would be stale", async () => {
    const broke = Wallet.createRandom();
    await relayer.setEmergencyGranteeBySig(
      await signed(broke, { grantee: doctor.address, maxDurationSeconds: 600, scopes: idsOf(broke) }),
    );
    // A change the patient signed earlier and that someone holds back (here: a longer window).
    const held = await signed(broke, { grantee: doctor.address, maxDurationSeconds: 86400, scopes: idsOf(broke) });
    const plain = await signed(broke, { grantee: doctor.address, maxDurationSeconds: 0 });
    const skipping = await signed(broke, { grantee: doctor.address, maxDurationSeconds: 0, skipEpochs: 1 });
    expect([held.epoch, plain.epoch, skipping.epoch]).to.deep.equal([1, 1, 2]);

    await relayer.setEmergencyGranteeBySig(held); // relayed just before the patient's removal
    expect((await revertOf(relayer.setEmergencyGranteeBySig(plain))).args).to.deep.equal({ current: 2n, signed: 1n });
    await relayer.setEmergencyGranteeBySig(skipping);
    expect(await relayer.emergencyGranteeOf(broke.address, doctor.address)).to.include({
      maxDurationSeconds: 0,
      epoch: 3,
    });
    // Relayed before the held message, the skipping removal kills it (the pair passes its epoch).
    const broke2 = Wallet.createRandom();
    await relayer.setEmergencyGranteeBySig(
      await signed(broke2, { grantee: doctor.address, maxDurationSeconds: 600, scopes: idsOf(broke2) }),
    );
    const held2 = await signed(broke2, { grantee: doctor.address, maxDurationSeconds: 600, scopes: idsOf(broke2) });
    await relayer.setEmergencyGranteeBySig(
      await signed(broke2, { grantee: doctor.address, maxDurationSeconds: 0, skipEpochs: 1 }),
    );
    expect((await revertOf(relayer.setEmergencyGranteeBySig(held2))).args).to.deep.equal({
      current: 3n,
      signed: 1n,
    });

    for (const skipEpochs of [-1, 1001, 1.5, "1" as unknown as number]) {
      const refused = await rejection(signed(broke, { grantee: doctor.address, maxDurationSeconds: 0, skipEpochs }));
      expect(refused, String(skipEpochs)).to.be.instanceOf(InvalidInputError).with.property("field", "skipEpochs");
    }
  });

  it("skipEpochs goes up to 1000; a message signed further ahead is refused by the contract (EpochTooFarAhead), with what to do", async () => {
    const broke = Wallet.createRandom();
    const farthest = await signed(broke, {
      grantee: doctor.address,
      maxDurationSeconds: 600,
      scopes: idsOf(broke),
      skipEpochs: MAX_SKIP_EPOCHS,
    });
    expect(farthest.epoch).to.equal(1000);
    const domain = await relayer.domain();
    const tooFar = await signEmergencyGrantee(broke, domain, { ...farthest, epoch: 1001, patient: broke.address });
    const refused = await revertOf(relayer.setEmergencyGranteeBySig(tooFar));
    expect(refused.errorName).to.equal("EpochTooFarAhead");
    expect(refused.args).to.deep.equal({ current: 0n, signed: 1001n });
    expect(refused.message).to.match(/more than 1000 above .* sign again with nextEmergencyGranteeTypedData/);
    await relayer.setEmergencyGranteeBySig(farthest);
    expect((await relayer.emergencyGranteeOf(broke.address, doctor.address)).epoch).to.equal(1001);
  });

  it("relays a removal whose deadline is 2^256 - 1 (the way out only needs a deadline not in the past); a registration keeps the 10-year bound (review F6)", async () => {
    const broke = Wallet.createRandom();
    await relayer.setEmergencyGranteeBySig(
      await signed(broke, { grantee: doctor.address, maxDurationSeconds: 600, scopes: idsOf(broke) }),
    );
    await grantee.breakGlass(broke.address, sid(broke, "category:allergy"), { scopes: idsOf(broke) });
    const never = 2n ** 256n - 1n;
    const removal = await signed(broke, { grantee: doctor.address, maxDurationSeconds: 0, deadline: never });
    expect(removal.deadline).to.equal(never);
    await relayer.setEmergencyGranteeBySig(removal);
    expect(await relayer.isAllowed(emergencyKey(broke.address, "category:allergy"))).to.equal(false);

    const tooFar = await rejection(
      signed(broke, { grantee: doctor.address, maxDurationSeconds: 600, scopes: idsOf(broke), deadline: never }),
    );
    expect(tooFar).to.be.instanceOf(InvalidInputError).with.property("field", "deadline");
    expect((tooFar as Error).message).to.match(/years ahead/);
    // A registration signed elsewhere with such a deadline is refused by the relay too.
    const domain = await relayer.domain();
    const registration = await signEmergencyGrantee(broke, domain, {
      patient: broke.address,
      grantee: doctor.address,
      maxDuration: 600,
      scopesRoot: emergencyScopesRoot(idsOf(broke)),
      epoch: 2,
      deadline: never,
    });
    expect(() => relayer.setEmergencyGranteeBySig(registration)).to.throw(InvalidInputError, /deadline: .*years ahead/);
    const expired = await signEmergencyGrantee(broke, domain, {
      patient: broke.address,
      grantee: doctor.address,
      maxDuration: 0,
      scopesRoot: ZERO_SCOPES_ROOT,
      epoch: 2,
      deadline: (await latestTimestamp(t.provider)) - 3600,
    });
    expect(() => relayer.setEmergencyGranteeBySig(expired)).to.throw(InvalidInputError, /deadline: .*in the past/);
  });

  it("the client refuses a registration without scopes, a removal via setEmergencyGrantee, and milliseconds", () => {
    const p = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    expect(() => p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 600, scopes: [] })).to.throw(
      InvalidInputError,
      /scopes/,
    );
    expect(() => p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 0, scopes: idsOf(patient) })).to.throw(
      InvalidInputError,
      /removeEmergencyGrantee/,
    );
    expect(() => p.setEmergencyGrantee(doctor.address, 600 as never)).to.throw(
      InvalidInputError,
      /maxDurationSeconds, scopes/,
    );
    expect(() =>
      p.setEmergencyGrantee(doctor.address, { maxDurationSeconds: 3_600_000, scopes: idsOf(patient) }),
    ).to.throw(InvalidInputError, /divide by 1000/);
  });
});
