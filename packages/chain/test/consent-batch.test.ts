import { expect } from "chai";
import { AbiCoder, TypedDataEncoder, concat, keccak256, solidityPacked, toUtf8Bytes } from "ethers";
import {
  CONSENT_BATCH_TYPES,
  ConsentRegistryClient,
  InvalidInputError,
  InvalidPurposeError,
  Purpose,
  SignatureError,
  WrongSignerError,
  buildConsentBatchTypedData,
  consentBatchDigest,
  consentDomain,
  parseSignedConsentBatch,
  recoverConsentBatchSigner,
  signConsentBatch,
  signedConsentBatchToJson,
  verifyConsentBatchSignature,
  type ConsentDomain,
  type Eip1193Provider,
} from "../src/index.ts";
import { latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { sid } from "./support/scopes.ts";
import { refusal, rejection, revertOf } from "./support/settle.ts";

const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const domain = consentDomain(31337, REGISTRY);
const patient = walletAt(2);
const clinic = walletAt(3);
const lab = walletAt(4);

const grants = [
  {
    grantee: clinic.address,
    scope: sid(patient, "fhir:Observation"),
    purpose: "Treatment",
    expiry: 2_000_000_000,
    version: 0,
  },
  {
    grantee: lab.address,
    scope: sid(patient, "category:laboratory"),
    purpose: "Research",
    expiry: 2_000_000_001,
    version: 3,
  },
];
const revokes = [{ grantee: clinic.address, scope: sid(patient, "fhir:Patient"), purpose: "Emergency", version: 1 }];
const baseBatch = { patient: patient.address, grants, revokes, deadline: 1_900_000_000 };

/**
 * The EIP-712 digest of a ConsentBatch written from the spec, independently of ethers' encoder: each item's struct
 * hash is keccak256(typehash ‖ its fields as 32-byte words), an array is keccak256 of its items' hashes concatenated.
 */
function referenceDigest(
  d: ConsentDomain,
  batch: {
    readonly grants: readonly {
      grantee: string;
      scope: string;
      purpose: number;
      expiry: bigint | number;
      version: number;
    }[];
    readonly revokes: readonly { grantee: string; scope: string; purpose: number; version: number }[];
    readonly deadline: bigint | number;
  },
): string {
  const abi = AbiCoder.defaultAbiCoder();
  const grantItem = "GrantItem(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version)";
  const revokeItem = "RevokeItem(address grantee,bytes32 scope,uint8 purpose,uint32 version)";
  const batchType = "ConsentBatch(GrantItem[] grants,RevokeItem[] revokes,uint256 deadline)" + grantItem + revokeItem;
  const grantHashes = batch.grants.map((g) =>
    keccak256(
      abi.encode(
        ["bytes32", "address", "bytes32", "uint8", "uint64", "uint32"],
        [keccak256(toUtf8Bytes(grantItem)), g.grantee, g.scope, g.purpose, g.expiry, g.version],
      ),
    ),
  );
  const revokeHashes = batch.revokes.map((r) =>
    keccak256(
      abi.encode(
        ["bytes32", "address", "bytes32", "uint8", "uint32"],
        [keccak256(toUtf8Bytes(revokeItem)), r.grantee, r.scope, r.purpose, r.version],
      ),
    ),
  );
  const structHash = keccak256(
    abi.encode(
      ["bytes32", "bytes32", "bytes32", "uint256"],
      [
        keccak256(toUtf8Bytes(batchType)),
        keccak256(concat(grantHashes)),
        keccak256(concat(revokeHashes)),
        batch.deadline,
      ],
    ),
  );
  return keccak256(
    solidityPacked(["bytes2", "bytes32", "bytes32"], ["0x1901", TypedDataEncoder.hashDomain(d), structHash]),
  );
}

const asNumbers = {
  grants: [
    { ...grants[0]!, purpose: 1 },
    { ...grants[1]!, purpose: 2 },
  ],
  revokes: [{ ...revokes[0]!, purpose: 3 }],
  deadline: baseBatch.deadline,
};

describe("consent batch: EIP-712 (off-chain)", () => {
  it("the type string is the contract's: ConsentBatch, then GrantItem, then RevokeItem", () => {
    const fields = Object.fromEntries(
      Object.entries(CONSENT_BATCH_TYPES).map(([name, list]) => [name, list.map((f) => ({ ...f }))]),
    );
    expect(TypedDataEncoder.from(fields).encodeType("ConsentBatch")).to.equal(
      "ConsentBatch(GrantItem[] grants,RevokeItem[] revokes,uint256 deadline)" +
        "GrantItem(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version)" +
        "RevokeItem(address grantee,bytes32 scope,uint8 purpose,uint32 version)",
    );
  });

  it("the digest equals an encoding written from the EIP-712 spec, empty lists included", () => {
    expect(consentBatchDigest(domain, baseBatch)).to.equal(referenceDigest(domain, asNumbers));
    expect(consentBatchDigest(domain, { grants, deadline: 5 })).to.equal(
      referenceDigest(domain, { grants: asNumbers.grants, revokes: [], deadline: 5 }),
    );
    expect(consentBatchDigest(domain, { revokes, deadline: 5 })).to.equal(
      referenceDigest(domain, { grants: [], revokes: asNumbers.revokes, deadline: 5 }),
    );
    // Order matters: the same items in another order are another message.
    const swapped = { ...baseBatch, grants: [grants[1]!, grants[0]!] };
    expect(consentBatchDigest(domain, swapped)).to.not.equal(consentBatchDigest(domain, baseBatch));
  });

  it("builds an eth_signTypedData_v4 payload that survives JSON (uint64 / uint256 as decimal strings)", () => {
    const payload = buildConsentBatchTypedData(domain, baseBatch);
    expect(payload.primaryType).to.equal("ConsentBatch");
    expect(Object.keys(payload.types)).to.deep.equal(["EIP712Domain", "ConsentBatch", "GrantItem", "RevokeItem"]);
    expect(payload.message.grants[0]).to.deep.equal({
      grantee: clinic.address,
      scope: grants[0]!.scope,
      purpose: 1,
      expiry: "2000000000",
      version: 0,
    });
    expect(payload.message.revokes).to.deep.equal([{ ...revokes[0], purpose: 3 }]);
    expect(payload.message.deadline).to.equal("1900000000");
    expect(payload.domain.chainId).to.equal("31337");
    const back = JSON.parse(JSON.stringify(payload)) as typeof payload;
    expect(consentBatchDigest(back.domain, back.message as never)).to.equal(consentBatchDigest(domain, baseBatch));
  });

  it("validates every item, naming it, and refuses an empty batch and an Emergency grant", () => {
    expect(refusal(() => buildConsentBatchTypedData(domain, { grants: [], revokes: [], deadline: 1 })).field).to.equal(
      "grants",
    );
    expect(refusal(() => buildConsentBatchTypedData(domain, { deadline: 1 })).message).to.match(/at least one/);
    const zero = refusal(() =>
      buildConsentBatchTypedData(domain, {
        ...baseBatch,
        grants: [grants[0]!, { ...grants[1]!, grantee: "0x" + "00".repeat(20) }],
      }),
    );
    expect(zero.field).to.equal("grants[1].grantee");
    expect(
      refusal(() => buildConsentBatchTypedData(domain, { ...baseBatch, revokes: [{ ...revokes[0]!, version: -1 }] }))
        .field,
    ).to.equal("revokes[0].version");
    const emergency = refusal(() =>
      buildConsentBatchTypedData(domain, { ...baseBatch, grants: [{ ...grants[0]!, purpose: "Emergency" }] }),
    );
    expect(emergency).to.be.instanceOf(InvalidPurposeError);
    expect(emergency.field).to.equal("grants[0].purpose");
    expect(
      refusal(() =>
        buildConsentBatchTypedData(domain, { ...baseBatch, grants: [{ ...grants[0]!, scope: "fhir:Patient" }] }),
      ).field,
    ).to.equal("grants[0].scope");
    expect(refusal(() => buildConsentBatchTypedData(domain, { ...baseBatch, grants: "x" as never })).field).to.equal(
      "grants",
    );
    expect(refusal(() => buildConsentBatchTypedData(domain, { ...baseBatch, deadline: -1 })).field).to.equal(
      "deadline",
    );
  });

  it("signs once; recovery and verification refuse any change; JSON round-trips through parseSignedConsentBatch", async () => {
    const signed = await signConsentBatch(patient, domain, baseBatch);
    expect(signed.patient).to.equal(patient.address);
    expect(recoverConsentBatchSigner(domain, signed, signed.signature)).to.equal(patient.address);
    expect(verifyConsentBatchSignature(domain, signed, signed.signature, patient.address)).to.equal(true);
    const changed = [
      { ...signed, deadline: signed.deadline + 1n },
      { ...signed, grants: [signed.grants[1]!, signed.grants[0]!] },
      { ...signed, grants: [{ ...signed.grants[0]!, version: 1 }, signed.grants[1]!] },
      { ...signed, revokes: [] },
      { ...signed, grants: signed.grants.slice(0, 1) },
    ];
    for (const m of changed)
      expect(verifyConsentBatchSignature(domain, m, signed.signature, patient.address)).to.equal(false);
    expect(verifyConsentBatchSignature(domain, signed, "0x1234", patient.address)).to.equal(false);
    expect(verifyConsentBatchSignature(domain, signed, signed.signature, clinic.address)).to.equal(false);

    const json = JSON.parse(JSON.stringify(signedConsentBatchToJson(signed))) as Record<string, unknown>;
    expect(json["deadline"]).to.equal("1900000000");
    expect(parseSignedConsentBatch(domain, json)).to.deep.equal(signed);
    expect(() => parseSignedConsentBatch(domain, { ...json, patient: clinic.address })).to.throw(
      SignatureError,
      /not made by patient/,
    );
    expect(() => parseSignedConsentBatch(domain, { ...json, grants: [] })).to.throw(SignatureError);
    expect(() => parseSignedConsentBatch(domain, null)).to.throw(InvalidInputError);
    const { signature: _omit, ...rest } = json;
    expect(parseSignedConsentBatch(domain, { ...rest, v: signed.v, r: signed.r, s: signed.s })).to.deep.equal(signed);
  });

  it("refuses another account's wallet before it is asked, and one that signs as another account", async () => {
    let prompts = 0;
    const impostor: Eip1193Provider = {
      request: async ({ params }) => {
        prompts++;
        const payload = JSON.parse((params as string[])[1]!) as ReturnType<typeof buildConsentBatchTypedData>;
        const { EIP712Domain: _domain, ...types } = payload.types;
        return clinic.signTypedData(
          payload.domain,
          Object.fromEntries(Object.entries(types).map(([k, v]) => [k, v.map((f) => ({ ...f }))])),
          payload.message,
        );
      },
    };
    expect(await rejection(signConsentBatch(clinic, domain, baseBatch))).to.be.instanceOf(WrongSignerError);
    expect(
      await rejection(signConsentBatch({ eip1193: impostor, account: clinic.address }, domain, baseBatch)),
    ).to.be.instanceOf(WrongSignerError);
    expect(prompts).to.equal(0);
    const caught = await rejection(
      signConsentBatch({ eip1193: impostor, account: patient.address }, domain, baseBatch),
    );
    expect(caught).to.be.instanceOf(WrongSignerError);
    expect((caught as Error).message).to.include(clinic.address);
    expect(prompts).to.equal(1);
  });
});

describe("consent batch against the contract (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let registry: ConsentRegistryClient;
  let wallet: Eip1193Provider;

  before(async () => {
    t = await startTestChain();
    registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(9)); // account 9 relays
    wallet = { request: ({ method, params }) => t.provider.send(method, (params ?? []) as unknown[]) };
  });
  after(async () => t?.stop());

  it("one signature (through EIP-1193) grants several scopes and revokes others; the contract checks the client's encoding", async () => {
    const now = await latestTimestamp(t.provider);
    const patientRegistry = registry.connect(t.signer(2));
    const revoked = { grantee: lab.address, scope: sid(patient, "fhir:Patient"), purpose: Purpose.Research };
    await patientRegistry.grant({ ...revoked, expiry: now + 3600 });
    const scopes = ["fhir:Observation", "category:laboratory", "category:imaging"].map((s) => sid(patient, s));
    const {
      domain: d,
      message,
      typedData,
    } = await registry.nextConsentBatchTypedData({
      patient: patient.address,
      grants: scopes.map((scope) => ({ grantee: clinic.address, scope, purpose: "Treatment", expiry: now + 3600 })),
      revokes: [revoked],
      deadline: now + 600,
    });
    expect(message.grants.map((g) => g.version)).to.deep.equal([0, 0, 0]);
    expect(message.revokes[0]!.version).to.equal(1);
    expect(typedData.primaryType).to.equal("ConsentBatch");
    expect(consentBatchDigest(d, message)).to.equal(referenceDigest(d, message));

    let prompts = 0;
    const counting: Eip1193Provider = {
      request: async (args) => {
        if (args.method === "eth_signTypedData_v4") prompts++;
        return wallet.request(args);
      },
    };
    const signed = await signConsentBatch({ eip1193: counting, account: patient.address }, d, {
      ...message,
      patient: patient.address,
    });
    expect(prompts).to.equal(1);
    const tx = await registry.consentBatchBySig(signed);
    expect(tx.events.map((e) => e.type)).to.deep.equal([
      "ConsentGranted",
      "ConsentGranted",
      "ConsentGranted",
      "ConsentRevoked",
    ]);
    for (const scope of scopes)
      expect(
        await registry.isAllowed({ patient: patient.address, grantee: clinic.address, scope, purpose: "Treatment" }),
      ).to.equal(true);
    expect(await registry.consentOf({ ...revoked, patient: patient.address })).to.deep.equal({
      expiry: 0n,
      version: 2,
    });

    // Replayed: every slot moved on.
    const replay = await revertOf(registry.consentBatchBySig(signed));
    expect(replay.errorName).to.equal("StaleVersion");
    // A tampered item (same signature) is refused by the contract.
    const tomorrow = BigInt(now + 86_400);
    const tampered = { ...signed, grants: [{ ...signed.grants[0]!, expiry: tomorrow }, ...signed.grants.slice(1)] };
    const fresh = await registry.nextConsentBatchTypedData({
      patient: patient.address,
      grants: [{ grantee: lab.address, scope: scopes[0]!, purpose: "Payment", expiry: now + 3600 }],
      deadline: now + 600,
    });
    const good = await signConsentBatch(patient, fresh.domain, { ...fresh.message, patient: patient.address });
    const forged = await revertOf(
      registry.consentBatchBySig({ ...good, grants: [{ ...good.grants[0]!, expiry: tomorrow }] }),
    );
    expect(forged.errorName).to.equal("InvalidSignature");
    expect((await revertOf(registry.consentBatchBySig(tampered))).errorName).to.equal("StaleVersion");
    await registry.consentBatchBySig(good);
  });

  it("counts a slot named twice: the second item carries version + 1, and the contract accepts it", async () => {
    const now = await latestTimestamp(t.provider);
    const scope = sid(patient, "fhir:MedicationRequest");
    const key = { grantee: clinic.address, scope, purpose: "Research" };
    const { domain: d, message } = await registry.nextConsentBatchTypedData({
      patient: patient.address,
      grants: [{ ...key, expiry: now + 3600 }],
      revokes: [key],
      deadline: now + 600,
    });
    expect(message.grants[0]!.version).to.equal(0);
    expect(message.revokes[0]!.version).to.equal(1);
    const signed = await signConsentBatch(patient, d, { ...message, patient: patient.address });
    const tx = await registry.consentBatchBySig(signed);
    expect(tx.events.map((e) => [e.type, "version" in e ? e.version : undefined])).to.deep.equal([
      ["ConsentGranted", 1],
      ["ConsentRevoked", 2],
    ]);
    expect(await registry.isAllowed({ ...key, patient: patient.address })).to.equal(false);
  });

  it("checks before sending: expiries and the deadline ahead, a signature's parts; names the bad item", async () => {
    const now = await latestTimestamp(t.provider);
    const d = await registry.domain();
    const item = {
      grantee: clinic.address,
      scope: sid(patient, "fhir:Condition"),
      purpose: Purpose.Treatment,
      expiry: now + 3600,
      version: 0,
    };
    const signed = await signConsentBatch(patient, d, {
      patient: patient.address,
      grants: [item, { ...item, purpose: Purpose.Payment, expiry: now - 10 }],
      deadline: now + 600,
    });
    expect(refusal(() => registry.consentBatchBySig(signed)).field).to.equal("grants[1].expiry");
    const late = await signConsentBatch(patient, d, { patient: patient.address, grants: [item], deadline: now - 1 });
    expect(refusal(() => registry.consentBatchBySig(late)).field).to.equal("deadline");
    expect(
      refusal(() => registry.consentBatchBySig({ ...late, deadline: BigInt(now + 600), v: 29 as 27 })).field,
    ).to.equal("v");
    const nothing = await rejection(
      registry.nextConsentBatchTypedData({ patient: patient.address, grants: [], revokes: [], deadline: now + 600 }),
    );
    expect(nothing).to.be.instanceOf(InvalidInputError);
    const bad = await rejection(
      registry.nextConsentBatchTypedData({
        patient: patient.address,
        grants: [
          { grantee: item.grantee, scope: item.scope, purpose: item.purpose, expiry: now + 3600 },
          { grantee: item.grantee, scope: item.scope, purpose: item.purpose, expiry: now - 5 },
        ],
        deadline: now + 600,
      }),
    );
    expect((bad as InvalidInputError).field).to.equal("grants[1].expiry");
  });
});
