import { expect } from "chai";
import { AbiCoder, Signature, TypedDataEncoder, concat, keccak256, toUtf8Bytes } from "ethers";
import {
  ConsentRegistryClient,
  ContractRevertError,
  GRANT_TYPES,
  InvalidInputError,
  InvalidPurposeError,
  InvalidScopeError,
  Purpose,
  REVOKE_TYPES,
  SignatureError,
  buildGrantTypedData,
  buildRevokeTypedData,
  consentDomain,
  grantDigest,
  parseSignedGrant,
  parseSignedRevoke,
  recoverGrantSigner,
  signGrant,
  signRevoke,
  signedConsentToJson,
  splitSignature,
  verifyGrantSignature,
  verifyRevokeSignature,
  WrongSignerError,
  type Eip1193Provider,
} from "../src/index.ts";
import { latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { sid } from "./support/scopes.ts";

const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const domain = consentDomain(31337, REGISTRY);
const patient = walletAt(2);
const clinic = walletAt(3);
const baseGrant = {
  patient: patient.address,
  grantee: clinic.address,
  scope: sid(patient, "fhir:Observation"),
  purpose: "Treatment",
  expiry: 2_000_000_000,
  version: 0,
  deadline: 1_900_000_000,
};

/** Same address with the case of its first letter flipped: an invalid EIP-55 checksum. */
function badChecksum(address: string): string {
  const i = address.slice(2).search(/[a-fA-F]/) + 2;
  const c = address[i]!;
  return address.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + address.slice(i + 1);
}

describe("eip712 (off-chain)", () => {
  it("types hash to the contract's typehash strings", () => {
    const grant = TypedDataEncoder.from({ Grant: GRANT_TYPES.Grant.map((f) => ({ ...f })) }).encodeType("Grant");
    const revoke = TypedDataEncoder.from({ Revoke: REVOKE_TYPES.Revoke.map((f) => ({ ...f })) }).encodeType("Revoke");
    expect(grant).to.equal(
      "Grant(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version,uint256 deadline)",
    );
    expect(revoke).to.equal("Revoke(address grantee,bytes32 scope,uint8 purpose,uint32 version,uint256 deadline)");
  });

  it("builds a complete eth_signTypedData_v4 payload that survives JSON", () => {
    const payload = buildGrantTypedData(domain, baseGrant);
    expect(payload.primaryType).to.equal("Grant");
    expect(payload.domain).to.deep.equal({
      name: "Hygeia ConsentRegistry",
      version: "1",
      chainId: "31337", // a decimal string: exact for any uint64 chain id
      verifyingContract: REGISTRY,
    });
    expect(payload.types.EIP712Domain.map((f) => f.name)).to.deep.equal([
      "name",
      "version",
      "chainId",
      "verifyingContract",
    ]);
    expect(payload.message).to.deep.equal({
      grantee: clinic.address,
      scope: sid(patient, "fhir:Observation"),
      purpose: 1,
      expiry: "2000000000",
      version: 0,
      deadline: "1900000000",
    });
    expect(JSON.parse(JSON.stringify(payload))).to.deep.equal(payload);
    const revoke = buildRevokeTypedData(domain, { ...baseGrant, purpose: Purpose.Emergency });
    expect(revoke.primaryType).to.equal("Revoke");
    expect(revoke.message).to.not.have.property("expiry");
    expect(revoke.message.purpose).to.equal(3);
  });

  it("keeps a chain id above 2^53 exact in the domain, the eth_signTypedData_v4 payload and the digest", async () => {
    const big = 2n ** 53n + 1n; // 9007199254740993: Number() would round it to 2^53
    const exact = consentDomain(big, REGISTRY);
    expect(exact.chainId).to.equal(big);
    expect(consentDomain("9007199254740993", REGISTRY).chainId).to.equal(big);
    expect(() => consentDomain(2 ** 53 + 2, REGISTRY)).to.throw(InvalidInputError, /chainId/); // an unsafe number
    const payload = buildGrantTypedData(exact, baseGrant);
    expect(payload.domain.chainId).to.equal("9007199254740993");
    expect(JSON.stringify(payload)).to.include('"chainId":"9007199254740993"');

    // The digest is ethers' TypedDataEncoder with the bigint, and an independent encoding of EIP-712 by hand.
    const digest = grantDigest(exact, baseGrant);
    const message = { ...baseGrant, purpose: 1 };
    const fields = { Grant: GRANT_TYPES.Grant.map((f) => ({ ...f })) };
    expect(digest).to.equal(TypedDataEncoder.hash({ ...exact }, fields, message));
    const abi = AbiCoder.defaultAbiCoder();
    const domainSeparator = keccak256(
      abi.encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [
          keccak256(toUtf8Bytes("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")),
          keccak256(toUtf8Bytes("Hygeia ConsentRegistry")),
          keccak256(toUtf8Bytes("1")),
          big,
          REGISTRY,
        ],
      ),
    );
    const structHash = keccak256(
      abi.encode(
        ["bytes32", "address", "bytes32", "uint8", "uint64", "uint32", "uint256"],
        [
          keccak256(
            toUtf8Bytes(
              "Grant(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version,uint256 deadline)",
            ),
          ),
          clinic.address,
          sid(patient, "fhir:Observation"),
          1,
          baseGrant.expiry,
          baseGrant.version,
          baseGrant.deadline,
        ],
      ),
    );
    expect(digest).to.equal(keccak256(concat(["0x1901", domainSeparator, structHash])));
    expect(digest).to.not.equal(grantDigest(consentDomain(2n ** 53n, REGISTRY), baseGrant));

    // What a wallet receives over EIP-1193 names the exact chain, and its signature recovers under it.
    let sent = "";
    const wallet: Eip1193Provider = {
      request: async ({ params }) => {
        sent = (params as string[])[1]!;
        const json = JSON.parse(sent) as ReturnType<typeof buildGrantTypedData>;
        return patient.signTypedData(json.domain, fields, json.message);
      },
    };
    const signed = await signGrant({ eip1193: wallet, account: patient.address }, exact, baseGrant);
    expect(sent).to.include('"chainId":"9007199254740993"');
    expect(recoverGrantSigner(exact, signed, signed.signature)).to.equal(patient.address);
    expect(
      verifyGrantSignature(consentDomain(2n ** 53n, REGISTRY), signed, signed.signature, patient.address),
    ).to.equal(false);
  });

  it("validates every field with typed errors", () => {
    expect(() => consentDomain(0, REGISTRY)).to.throw(InvalidInputError, /chainId/);
    expect(() => consentDomain(1, "0x1234")).to.throw(InvalidInputError, /verifyingContract/);
    expect(() => buildGrantTypedData(domain, { ...baseGrant, grantee: "0x" + "00".repeat(20) })).to.throw(
      InvalidInputError,
      /zero address/,
    );
    expect(() => buildGrantTypedData(domain, { ...baseGrant, grantee: badChecksum(clinic.address) })).to.throw(
      InvalidInputError,
      /checksum/,
    );
    expect(() => buildGrantTypedData(domain, { ...baseGrant, scope: "fhir:observation" })).to.throw(InvalidScopeError);
    expect(() => buildGrantTypedData(domain, { ...baseGrant, purpose: "Emergency" })).to.throw(InvalidPurposeError);
    expect(() => buildGrantTypedData(domain, { ...baseGrant, expiry: 2n ** 64n })).to.throw(
      InvalidInputError,
      /expiry.*uint64/,
    );
    expect(() => buildGrantTypedData(domain, { ...baseGrant, expiry: -1 })).to.throw(InvalidInputError, /expiry/);
    expect(() => buildGrantTypedData(domain, { ...baseGrant, version: 2 ** 32 })).to.throw(
      InvalidInputError,
      /version.*uint32/,
    );
    expect(() => buildGrantTypedData(domain, { ...baseGrant, version: 1.5 })).to.throw(InvalidInputError, /version/);
    expect(() => buildGrantTypedData(domain, { ...baseGrant, deadline: "0x10" })).to.throw(
      InvalidInputError,
      /deadline/,
    );
    expect(buildGrantTypedData(domain, { ...baseGrant, expiry: (2n ** 64n - 1n).toString() }).message.expiry).to.equal(
      "18446744073709551615",
    );
  });

  it("refuses a canonical scope string in a grant or revoke, pointing at PatientScopes.id, before the wallet is asked", async () => {
    let prompts = 0;
    const wallet: Eip1193Provider = {
      request: async () => {
        prompts++;
        return expect.fail("the wallet must not be asked to sign");
      },
    };
    const canonical = { ...baseGrant, scope: "fhir:Observation" };
    const attempts = [
      signGrant(patient, domain, canonical),
      signGrant({ eip1193: wallet, account: patient.address }, domain, canonical),
      signRevoke({ eip1193: wallet, account: patient.address }, domain, canonical),
    ];
    for (const attempt of attempts) {
      const error = await attempt.then(
        () => expect.fail("a grant naming a canonical scope must be refused"),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(InvalidScopeError).and.include({ code: "INVALID_SCOPE", field: "scope" });
      expect((error as Error).message).to.include('PatientScopes.id("fhir:Observation")');
    }
    expect(prompts, "the wallet is not asked to sign").to.equal(0);
    expect(() => buildGrantTypedData(domain, canonical)).to.throw(InvalidScopeError, /PatientScopes\.id/);
    expect(() => grantDigest(domain, canonical)).to.throw(InvalidScopeError, /PatientScopes\.id/);
    // A signed grant received as JSON naming a canonical scope is refused too.
    const json = signedConsentToJson(await signGrant(patient, domain, baseGrant));
    expect(() => parseSignedGrant(domain, { ...json, scope: "fhir:Observation" })).to.throw(
      InvalidScopeError,
      /PatientScopes\.id/,
    );
  });

  it("signs with an ethers Signer; recovery and verification reject any change", async () => {
    const signed = await signGrant(patient, domain, baseGrant);
    expect(signed.patient).to.equal(patient.address);
    expect(signed.v === 27 || signed.v === 28).to.equal(true);
    expect(recoverGrantSigner(domain, signed, signed.signature)).to.equal(patient.address);
    expect(verifyGrantSignature(domain, signed, signed.signature, patient.address)).to.equal(true);
    expect(verifyGrantSignature(domain, signed, { r: signed.r, s: signed.s, v: signed.v }, patient.address)).to.equal(
      true,
    );
    expect(verifyGrantSignature(domain, signed, signed.signature, clinic.address)).to.equal(false);
    expect(
      verifyGrantSignature(domain, { ...signed, expiry: signed.expiry + 1n }, signed.signature, patient.address),
    ).to.equal(false);
    expect(verifyGrantSignature(domain, { ...signed, version: 1 }, signed.signature, patient.address)).to.equal(false);
    expect(verifyGrantSignature(consentDomain(1, REGISTRY), signed, signed.signature, patient.address)).to.equal(false);
    expect(verifyGrantSignature(domain, signed, "0x1234", patient.address)).to.equal(false);
    const revoke = await signRevoke(patient, domain, baseGrant);
    expect(verifyRevokeSignature(domain, revoke, revoke.signature, patient.address)).to.equal(true);
    expect(verifyGrantSignature(domain, baseGrant, revoke.signature, patient.address)).to.equal(false);
  });

  it("refuses high-s (malleable) signatures", async () => {
    const signed = await signGrant(patient, domain, baseGrant);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = "0x" + (n - BigInt(signed.s)).toString(16).padStart(64, "0");
    const flipped = { r: signed.r, s: highS, v: signed.v === 27 ? 28 : 27 };
    expect(() => splitSignature(flipped)).to.throw(SignatureError);
    expect(verifyGrantSignature(domain, signed, flipped, patient.address)).to.equal(false);
  });

  it("parses a signed grant/revoke received as JSON and checks its signer", async () => {
    const signed = await signGrant(patient, domain, baseGrant);
    const json = JSON.parse(JSON.stringify(signedConsentToJson(signed))) as unknown;
    expect(parseSignedGrant(domain, json)).to.deep.equal(signed);
    expect(() => parseSignedGrant(domain, { ...(json as object), patient: clinic.address })).to.throw(
      SignatureError,
      /not made by patient/,
    );
    expect(() => parseSignedGrant(domain, { ...(json as object), expiry: "abc" })).to.throw(
      InvalidInputError,
      /expiry/,
    );
    expect(() => parseSignedGrant(domain, "nope")).to.throw(InvalidInputError);
    const revoke = await signRevoke(patient, domain, baseGrant);
    const { signature: _omit, ...vrs } = signedConsentToJson(revoke);
    expect(parseSignedRevoke(domain, vrs)).to.deep.equal(revoke);
  });

  it("an EIP-1193 wallet that signs with another account is caught", async () => {
    const impostor: Eip1193Provider = {
      request: async ({ method, params }) => {
        expect(method).to.equal("eth_signTypedData_v4");
        const payload = JSON.parse((params as string[])[1]!) as ReturnType<typeof buildGrantTypedData>;
        return clinic.signTypedData(
          payload.domain,
          { Grant: GRANT_TYPES.Grant.map((f) => ({ ...f })) },
          payload.message,
        );
      },
    };
    try {
      await signGrant({ eip1193: impostor, account: patient.address }, domain, baseGrant);
      expect.fail("should throw");
    } catch (error) {
      expect(error).to.be.instanceOf(SignatureError);
      expect((error as Error).message).to.include(clinic.address);
    }
    const silly: Eip1193Provider = { request: async () => ({ not: "a signature" }) };
    await signGrant({ eip1193: silly, account: patient.address }, domain, baseGrant).then(
      () => expect.fail("should throw"),
      (error: unknown) => expect(error).to.be.instanceOf(SignatureError),
    );
  });
});

describe("eip712: the signer must be the patient the consent is for", () => {
  it("refuses a clinic's wallet signing a patient's grant or revoke, naming both accounts, before signing", async () => {
    let asked = 0;
    const counting = new Proxy(clinic, {
      get: (target, name, receiver) =>
        name === "signTypedData"
          ? (...args: Parameters<typeof clinic.signTypedData>) => (asked++, target.signTypedData(...args))
          : Reflect.get(target, name, receiver),
    });
    for (const attempt of [signGrant(counting, domain, baseGrant), signRevoke(counting, domain, baseGrant)]) {
      const error = await attempt.then(
        () => expect.fail("a clinic's signature for the patient must be refused"),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(WrongSignerError).and.to.be.instanceOf(SignatureError);
      expect(error).to.include({ code: "WRONG_SIGNER", expected: patient.address, actual: clinic.address });
      expect((error as Error).message)
        .to.include(patient.address)
        .and.include(clinic.address);
    }
    expect(asked, "the wallet is not asked to sign").to.equal(0);
  });

  it("accepts the patient's own wallet, and needs the patient named", async () => {
    const signed = await signGrant(patient, domain, baseGrant);
    expect(signed.patient).to.equal(patient.address);
    const { patient: _omitted, ...unnamed } = baseGrant;
    await signGrant(patient, domain, unnamed as typeof baseGrant).then(
      () => expect.fail("should refuse"),
      (error: unknown) =>
        expect(error)
          .to.be.instanceOf(InvalidInputError)
          .and.match(/patient: name the patient/),
    );
  });

  it("refuses a private key passed as the signer without showing it, and an object that cannot sign, with typed errors", async () => {
    const asKey = await signGrant(patient.privateKey as never, domain, baseGrant).then(
      () => expect.fail("should refuse"),
      (error: unknown) => error as Error,
    );
    expect(asKey).to.be.instanceOf(InvalidInputError).with.property("field", "signer");
    expect(asKey.message).to.match(/66-character string/);
    expect(asKey.message).to.not.include(patient.privateKey.slice(2, 18));
    for (const bad of [{ privateKey: patient.privateKey }, { eip1193: {}, account: patient.address }]) {
      const error = await signRevoke(bad as never, domain, { ...baseGrant, version: 1 }).then(
        () => expect.fail("should refuse"),
        (caught: unknown) => caught,
      );
      expect(error).to.be.instanceOf(InvalidInputError).with.property("field", "signer");
    }
  });

  it("refuses an EIP-1193 account that is not the patient before prompting, and a wallet that signs as another", async () => {
    let prompts = 0;
    const wallet: Eip1193Provider = {
      request: async ({ params }) => {
        prompts++;
        const payload = JSON.parse((params as string[])[1]!) as ReturnType<typeof buildGrantTypedData>;
        return clinic.signTypedData(
          payload.domain,
          { Grant: GRANT_TYPES.Grant.map((f) => ({ ...f })) },
          payload.message,
        );
      },
    };
    const wrongAccount = await signGrant({ eip1193: wallet, account: clinic.address }, domain, baseGrant).catch(
      (e: unknown) => e,
    );
    expect(wrongAccount).to.be.instanceOf(WrongSignerError).and.include({ actual: clinic.address });
    expect(prompts).to.equal(0);
    // The wallet was asked for the patient's account but signed with the clinic's.
    const impostor = await signGrant({ eip1193: wallet, account: patient.address }, domain, baseGrant).catch(
      (e: unknown) => e,
    );
    expect(impostor)
      .to.be.instanceOf(WrongSignerError)
      .and.include({ expected: patient.address, actual: clinic.address });
    expect(prompts).to.equal(1);
  });
});

describe("eip712 against the contract (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let registry: ConsentRegistryClient;
  let wallet: Eip1193Provider;

  before(async () => {
    t = await startTestChain();
    registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(9)); // account 9 relays
    // anvil's dev accounts are unlocked: eth_signTypedData_v4 through the node is a real EIP-1193 wallet.
    wallet = { request: ({ method, params }) => t.provider.send(method, (params ?? []) as unknown[]) };
  });
  after(async () => t?.stop());

  it("the domain matches the contract's DOMAIN_SEPARATOR", async () => {
    const d = await registry.domain();
    expect(d.chainId).to.equal(31337n);
    const onChain = (await registry.contract.getFunction("DOMAIN_SEPARATOR")()) as string;
    expect(TypedDataEncoder.hashDomain(d)).to.equal(onChain);
    expect((await registry.contract.getFunction("GRANT_TYPEHASH")()) as string).to.equal(
      keccak256(
        toUtf8Bytes("Grant(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version,uint256 deadline)"),
      ),
    );
  });

  it("an ethers Signer and an EIP-1193 wallet produce signatures recovering to the patient", async () => {
    const d = await registry.domain();
    const viaEthers = await signGrant(patient, d, baseGrant);
    const viaWallet = await signGrant({ eip1193: wallet, account: patient.address }, d, baseGrant);
    expect(viaWallet.patient).to.equal(patient.address);
    expect(recoverGrantSigner(d, viaWallet, viaWallet.signature)).to.equal(patient.address);
    // RFC 6979 signatures are deterministic: both paths sign the very same digest.
    expect(viaWallet.signature).to.equal(viaEthers.signature);
    expect(Signature.from(viaWallet.signature).serialized).to.equal(viaWallet.signature);
    expect(grantDigest(d, viaWallet)).to.equal(grantDigest(d, baseGrant));
  });

  it("the contract accepts a relayed grant and revoke signed through EIP-1193, and refuses replays", async () => {
    const now = await latestTimestamp(t.provider);
    const key = {
      patient: patient.address,
      grantee: clinic.address,
      scope: sid(patient, "category:laboratory"),
      purpose: Purpose.Research,
    };
    const {
      domain: d,
      message,
      typedData,
    } = await registry.nextGrantTypedData({ ...key, expiry: now + 3600, deadline: now + 600 });
    expect(message.version).to.equal(0);
    expect(typedData.message.expiry).to.equal(String(now + 3600));
    // The clinic's wallet (through the node, EIP-1193) cannot sign the patient's grant.
    const byClinic = await signGrant({ eip1193: wallet, account: clinic.address }, d, {
      ...message,
      patient: key.patient,
    }).catch((e: unknown) => e);
    expect(byClinic).to.be.instanceOf(WrongSignerError);
    const signed = await signGrant({ eip1193: wallet, account: patient.address }, d, {
      ...message,
      patient: key.patient,
    });

    const granted = await registry.grantBySig(signed);
    expect(granted.events).to.have.length(1);
    expect(granted.events[0]).to.include({
      type: "ConsentGranted",
      patient: patient.address,
      grantee: clinic.address,
      version: 1,
    });
    expect(await registry.isAllowed(key)).to.equal(true);

    const replay = await registry.grantBySig(signed).catch((error: unknown) => error);
    expect(replay).to.be.instanceOf(ContractRevertError);
    expect((replay as ContractRevertError).errorName).to.equal("StaleVersion");
    expect((replay as ContractRevertError).args).to.deep.equal({ current: 1n, signed: 0n });

    const revokeData = await registry.nextRevokeTypedData({ ...key, deadline: now + 600 });
    expect(revokeData.message.version).to.equal(1);
    const revoke = await signRevoke(patient, revokeData.domain, { ...revokeData.message, patient: revokeData.patient });
    const revoked = await registry.revokeBySig(revoke);
    expect(revoked.events[0]).to.include({ type: "ConsentRevoked", version: 2 });
    expect(await registry.isAllowed(key)).to.equal(false);
    expect(await registry.consentOf(key)).to.deep.equal({ expiry: 0n, version: 2 });
  });

  it("the contract refuses a signature by someone else and an expired deadline", async () => {
    const now = await latestTimestamp(t.provider);
    const d = await registry.domain();
    const message = {
      grantee: clinic.address,
      scope: sid(patient, "fhir:Patient"),
      purpose: Purpose.Payment,
      expiry: now + 3600,
      version: 0,
      deadline: now + 600,
    };
    // A clinic signing a grant that names itself as the patient: a valid signature, of the wrong account.
    const byClinic = await signGrant(clinic, d, { ...message, patient: clinic.address });
    const forged = await registry.grantBySig({ ...byClinic, patient: patient.address }).catch((e: unknown) => e);
    expect(forged).to.be.instanceOf(ContractRevertError);
    expect((forged as ContractRevertError).errorName).to.equal("InvalidSignature");

    const late = await signGrant(patient, d, { ...message, patient: patient.address, deadline: now - 1 });
    // The client refuses it before sending; with a clock an hour behind, the contract refuses it.
    expect(() => registry.grantBySig(late)).to.throw(InvalidInputError, /deadline: .* is in the past/);
    const behind = new ConsentRegistryClient(registry.address, t.signer(9), { clock: () => (now - 3600) * 1000 });
    const expired = await behind.grantBySig(late).catch((e: unknown) => e);
    expect((expired as ContractRevertError).errorName).to.equal("SignatureExpired");
    expect((expired as ContractRevertError).args["deadline"]).to.equal(BigInt(now - 1));
  });
});
