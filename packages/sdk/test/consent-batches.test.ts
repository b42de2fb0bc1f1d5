// Relayed consent of more than MAX_RELAY_BATCH (32) scopes through the SDK, on the real stack (anvil with the
// contracts, Helia, the SQLite gateway over HTTP): one wallet signature per 32 scopes, every slot on chain, and the
// partly applied path (a later batch fails after an earlier one was mined), made to fail for real reasons: the
// wallet declines the second prompt (an ethers ACTION_REJECTED, what a browser wallet's "Reject" gives), or the
// gateway's daily relay quota runs out between the batches. The wallet is the only thing wrapped: it counts the
// ConsentBatch prompts and can decline one; the gateway and the chain are never stubbed.
import { expect } from "chai";
import { Wallet, makeError, type HDNodeWallet, type TypedDataDomain, type TypedDataField } from "ethers";
import { CONSENT_CATEGORIES, ConsentRegistryClient, FHIR_R4_RESOURCE_TYPES } from "@hygeia/chain";
import { generateX25519KeyPair, unwrapKey, type X25519KeyPair } from "@hygeia/crypto";
import { IdentityAgent, ethrNetworkFromDeployment } from "@hygeia/identity";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { signIn as signInOverHttp } from "../../gateway/test/support/auth.ts";
import {
  ConsentPartlyAppliedError,
  HygeiaSdkError,
  MAX_RELAY_BATCH,
  PatientClient,
  SdkInputError,
  type ConsentScope,
  type WalletSigner,
} from "../src/index.ts";

/** The scope vocabulary in a fixed order: the consent categories, then the FHIR R4 resource types. */
const VOCABULARY = [
  ...CONSENT_CATEGORIES.map((c) => `category:${c}`),
  ...FHIR_R4_RESOURCE_TYPES.map((t) => `fhir:${t}`),
];
/** `n` distinct canonical scopes. */
const scopes = (n: number): string[] => VOCABULARY.slice(0, n);

/** What one ConsentBatch prompt asked the wallet to sign. */
interface Prompt {
  grants: number;
  revokes: number;
  declined: boolean;
}

/**
 * The patient's wallet, counting its ConsentBatch prompts; `declinePrompt(n)` makes it refuse the n-th ConsentBatch
 * prompt from now the way ethers reports a wallet's "Reject" (ACTION_REJECTED). Sign-in and key derivation pass.
 */
class PromptingWallet implements WalletSigner {
  readonly prompts: Prompt[] = [];
  readonly #wallet: HDNodeWallet;
  #declineAt: number | undefined;
  constructor(wallet: HDNodeWallet) {
    this.#wallet = wallet;
  }
  declinePrompt(n: number): void {
    this.#declineAt = this.prompts.length + n;
  }
  getAddress(): Promise<string> {
    return this.#wallet.getAddress();
  }
  signMessage(message: string): Promise<string> {
    return this.#wallet.signMessage(message);
  }
  async signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    if ("ConsentBatch" in types) {
      const prompt = {
        grants: (value["grants"] as unknown[]).length,
        revokes: (value["revokes"] as unknown[]).length,
        declined: this.prompts.length + 1 === this.#declineAt,
      };
      this.prompts.push(prompt);
      if (prompt.declined)
        throw makeError("user rejected action", "ACTION_REJECTED", { action: "signTypedData", reason: "rejected" });
    }
    return this.#wallet.signTypedData(domain, types, value);
  }
}

describe("sdk PatientConsent: relayed grants and revokes of more than 32 scopes", function () {
  let stack: TestStack;
  let agent: IdentityAgent;
  let registry: ConsentRegistryClient;
  const clinic: { address: string; keys: X25519KeyPair; token: string } = {} as never;
  const patients: PatientClient[] = [];

  before(async function () {
    // Room for several 40-scope grants and revokes a patient a day (the default is 50 relayed items); the quota
    // test lowers it for its own patient.
    stack = await startTestStack({ config: { limits: { relayPerDay: 1000 } } });
    registry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, stack.provider);
    agent = await IdentityAgent.create({
      network: ethrNetworkFromDeployment(stack.deployment, stack.local.rpcUrl),
      watchRegistry: false,
    });
    const wallet = stack.accounts.clinic;
    clinic.address = wallet.address;
    clinic.keys = generateX25519KeyPair();
    const { did } = await agent.importEthrDid(wallet.privateKey);
    await agent.publishEncryptionKey(did, clinic.keys.publicKey);
    clinic.token = await signInOverHttp(stack, wallet);
  });

  after(async function () {
    for (const patient of patients) await patient.close().catch(() => undefined);
    await agent?.close();
    await stack?.close();
  });

  /** A new patient without ETH (everything is relayed), signed in through its prompting wallet. */
  async function newPatient(): Promise<{ patient: PatientClient; wallet: PromptingWallet }> {
    const wallet = new PromptingWallet(Wallet.createRandom());
    const patient = await PatientClient.connect({
      signer: wallet,
      connection: { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment },
    });
    patients.push(patient);
    return { patient, wallet };
  }

  /** The slot as the chain holds it (Treatment). */
  const slotOf = (patient: PatientClient, scope: ConsentScope) =>
    registry.consentOf({ patient: patient.address, grantee: clinic.address, scope: scope.id, purpose: 1 });
  const slotsOf = (patient: PatientClient, list: readonly ConsentScope[]) =>
    Promise.all(list.map((s) => slotOf(patient, s)));

  /** What the gateway lists for the clinic, sorted by label: label and version. */
  async function listed(patient: PatientClient): Promise<{ scope: string | undefined; version: number }[]> {
    await stack.services.chain.indexer.sync();
    return (await patient.consent.list())
      .filter((c) => c.grantee === clinic.address.toLowerCase() && c.purpose === "Treatment")
      .map((c) => ({ scope: c.scope, version: c.version }))
      .sort((a, b) => String(a.scope).localeCompare(String(b.scope)));
  }

  /** The clinic's key release of a patient's record: the status and problem code; a released wrap must open. */
  async function release(patient: PatientClient, cid: string): Promise<{ status: number; code?: string }> {
    await stack.services.chain.indexer.sync();
    const res = await fetch(`${stack.url}/v1/patients/${patient.address}/records/${cid}/key`, {
      method: "POST",
      headers: { authorization: `Bearer ${clinic.token}`, "content-type": "application/json" },
      body: JSON.stringify({ purpose: "Treatment" }),
    });
    const body = (await res.json()) as { wrap?: string; code?: string };
    if (res.status !== 200) return { status: res.status, ...(body.code ? { code: body.code } : {}) };
    unwrapKey(Buffer.from(body.wrap!, "base64url"), clinic.keys, `hygeia:record:${cid}`); // throws if not ours
    return { status: 200 };
  }

  const labelled = (patient: PatientClient, list: readonly string[]): ConsentScope[] =>
    list.map((scope) => ({ id: patient.keys.scopes.id(scope), scope }));

  it("grants 40 scopes with one signature per 32 (two transactions), every slot live on chain and listed, the covered record shared; a revoke of all 40 works the same way", async function () {
    const { patient, wallet } = await newPatient();
    const forty = scopes(40);
    const lab = await patient.records.add(
      { resourceType: "Observation", status: "final", code: { text: "HbA1c" } },
      { categories: ["laboratory"] },
    );
    expect(await release(patient, lab.cid)).to.deep.equal({ status: 403, code: "CONSENT_REQUIRED" });

    const granted = await patient.consent.grant({
      grantee: clinic.address,
      scopes: forty,
      purpose: "Treatment",
      expires: "30d",
    });
    expect(MAX_RELAY_BATCH).to.equal(32);
    expect(wallet.prompts).to.deep.equal([
      { grants: 32, revokes: 0, declined: false },
      { grants: 8, revokes: 0, declined: false },
    ]);
    expect(granted.mode).to.equal("relay");
    expect(granted.scopes).to.deep.equal(labelled(patient, forty));
    expect(granted.transactions).to.have.length(2);
    expect(new Set(granted.transactions).size).to.equal(2);
    for (const hash of granted.transactions) {
      const receipt = await stack.provider.getTransactionReceipt(hash);
      expect(receipt?.status).to.equal(1);
      expect(receipt?.from).to.equal(stack.accounts.gateway.address); // relayed: the patient has no ETH
    }
    const expiry = BigInt(granted.expiry.getTime() / 1000);
    expect(await slotsOf(patient, granted.scopes)).to.deep.equal(forty.map(() => ({ expiry, version: 1 })));
    expect(await listed(patient)).to.deep.equal(
      [...forty].sort((a, b) => a.localeCompare(b)).map((scope) => ({ scope, version: 1 })),
    );
    expect(granted.shared).to.equal(1);
    expect(await release(patient, lab.cid)).to.deep.equal({ status: 200 });

    const revoked = await patient.consent.revoke({ grantee: clinic.address, scopes: forty, purpose: "Treatment" });
    expect(wallet.prompts.slice(2)).to.deep.equal([
      { grants: 0, revokes: 32, declined: false },
      { grants: 0, revokes: 8, declined: false },
    ]);
    expect(revoked.transactions).to.have.length(2);
    expect(revoked.scopes).to.deep.equal(granted.scopes);
    expect(await slotsOf(patient, revoked.scopes)).to.deep.equal(forty.map(() => ({ expiry: 0n, version: 2 })));
    expect(await listed(patient)).to.deep.equal([]);
    expect(await release(patient, lab.cid)).to.deep.equal({ status: 403, code: "CONSENT_REQUIRED" });
  });

  it("the wallet declining the second prompt of a 40-scope grant is ConsentPartlyAppliedError naming the 32 applied and 8 failed scopes, as the chain holds them; granting the failed ones again completes it, nothing written twice", async function () {
    const { patient, wallet } = await newPatient();
    const forty = scopes(40);
    const all = labelled(patient, forty);
    // One record covered by the first batch (category:laboratory), one only by the last (its FHIR type).
    const lastType = forty[39]!.slice("fhir:".length);
    const lab = await patient.records.add(
      { resourceType: "Observation", status: "final", code: { text: "LDL" } },
      { categories: ["laboratory"] },
    );
    const late = await patient.records.add({ resourceType: lastType }, { categories: [] });

    wallet.declinePrompt(2);
    const error = await patient.consent
      .grant({ grantee: clinic.address, scopes: forty, purpose: "Treatment", expires: "30d" })
      .catch((e: unknown) => e);
    expect(wallet.prompts).to.deep.equal([
      { grants: 32, revokes: 0, declined: false },
      { grants: 8, revokes: 0, declined: true },
    ]);
    expect(error).to.be.instanceOf(ConsentPartlyAppliedError);
    const partly = error as ConsentPartlyAppliedError;
    expect([partly.code, partly.kind]).to.deep.equal(["ACTION_REJECTED", "conflict"]);
    expect(partly.message).to.match(/^32 of 40 grants were mined; /);
    expect(partly.hint).to.match(/grant the failed scopes again/);
    expect(partly.applied).to.deep.equal(all.slice(0, 32));
    expect(partly.failed.map(({ id, scope }) => ({ id, scope }))).to.deep.equal(all.slice(32));
    for (const failed of partly.failed) {
      expect(failed.code).to.equal("ACTION_REJECTED");
      expect(failed.detail).to.match(/user rejected action/);
    }
    expect(partly.transactions).to.have.length(1);
    expect((await stack.provider.getTransactionReceipt(partly.transactions[0]!))?.status).to.equal(1);

    // The chain holds exactly what the error says: the applied slots at version 1, the failed ones never written.
    const applied = await slotsOf(patient, partly.applied);
    expect(applied.map((s) => s.version)).to.deep.equal(partly.applied.map(() => 1));
    expect(applied.every((s) => s.expiry > BigInt(Math.floor(Date.now() / 1000)))).to.equal(true);
    expect(await slotsOf(patient, partly.failed)).to.deep.equal(partly.failed.map(() => ({ expiry: 0n, version: 0 })));
    expect((await listed(patient)).map((c) => c.scope)).to.have.members(forty.slice(0, 32));

    // The applied consent covers the laboratory record: its key was wrapped to the clinic like a whole grant's.
    expect([partly.shared, partly.sharingError]).to.deep.equal([1, undefined]);
    expect(await release(patient, lab.cid)).to.deep.equal({ status: 200 });
    expect(await release(patient, late.cid)).to.deep.equal({ status: 403, code: "CONSENT_REQUIRED" });

    // The retry the hint names: the failed scopes, one prompt, one transaction; the applied slots are not rewritten.
    const retried = await patient.consent.grant({
      grantee: clinic.address,
      scopes: partly.failed.map((f) => f.scope!),
      purpose: "Treatment",
      expires: "30d",
    });
    expect(wallet.prompts.slice(2)).to.deep.equal([{ grants: 8, revokes: 0, declined: false }]);
    expect(retried.transactions).to.have.length(1);
    expect(retried.scopes).to.deep.equal(all.slice(32));
    expect(retried.shared).to.equal(1);
    expect((await slotsOf(patient, all)).map((s) => s.version)).to.deep.equal(all.map(() => 1));
    expect(await listed(patient)).to.deep.equal(
      [...forty].sort((a, b) => a.localeCompare(b)).map((scope) => ({ scope, version: 1 })),
    );
    expect(await release(patient, late.cid)).to.deep.equal({ status: 200 });
  });

  it("a partly applied grant to a grantee that publishes no key still says what stands, and that sharing the applied scopes failed", async function () {
    const { patient, wallet } = await newPatient();
    const keyless = stack.accounts.clinic2.address; // never published an X25519 key
    wallet.declinePrompt(2);
    const error = await patient.consent
      .grant({ grantee: keyless, scopes: scopes(40), purpose: "Treatment", expires: "1d" })
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConsentPartlyAppliedError);
    const partly = error as ConsentPartlyAppliedError;
    expect(partly.code).to.equal("ACTION_REJECTED"); // the batch's failure leads, the sharing one is added
    expect(partly.applied).to.have.length(32);
    expect(partly.shared).to.equal(0);
    expect(partly.sharingError).to.be.instanceOf(HygeiaSdkError);
    expect((partly.sharingError as HygeiaSdkError).code).to.equal("GRANTEE_HAS_NO_KEY");
    expect(partly.message).to.match(/sharing the applied scopes' existing records failed/);
    expect(partly.hint).to.match(/records\.shareScopesWith/);
    const onChain = await Promise.all(
      partly.applied.map((s) =>
        registry.consentOf({ patient: patient.address, grantee: keyless, scope: s.id, purpose: 1 }),
      ),
    );
    expect(onChain.every((slot) => slot.version === 1)).to.equal(true);
  });

  it("a revoke whose second batch meets the gateway's daily relay quota (429) is partly applied; once the quota allows, revoking the failed scopes completes it", async function () {
    const { patient, wallet } = await newPatient();
    const forty = scopes(40);
    const granted = await patient.consent.grant({
      grantee: clinic.address,
      scopes: forty,
      purpose: "Treatment",
      expires: "7d",
    });
    const limits = stack.config.limits;
    const generous = limits.relayPerDay;
    // 40 items relayed today: 39 left, so the revoke's first batch (32) fits and its second (8) does not.
    limits.relayPerDay = 79;
    let error: unknown;
    try {
      error = await patient.consent
        .revoke({ grantee: clinic.address, scopes: forty, purpose: "Treatment" })
        .catch((e: unknown) => e);
    } finally {
      limits.relayPerDay = generous;
    }
    expect(wallet.prompts.slice(2)).to.deep.equal([
      { grants: 0, revokes: 32, declined: false },
      { grants: 0, revokes: 8, declined: false },
    ]);
    expect(error).to.be.instanceOf(ConsentPartlyAppliedError);
    const partly = error as ConsentPartlyAppliedError;
    expect(partly.code).to.equal("RELAY_QUOTA_EXCEEDED");
    expect(partly.message).to.match(/^32 of 40 revokes were mined; /);
    expect(partly.applied).to.deep.equal(granted.scopes.slice(0, 32));
    expect(partly.failed.map(({ id, scope }) => ({ id, scope }))).to.deep.equal(granted.scopes.slice(32));
    expect(partly.failed.every((f) => f.code === "RELAY_QUOTA_EXCEEDED")).to.equal(true);
    // The gateway's refusal itself stays reachable (its kind, its hint on when to retry).
    expect(partly.cause).to.be.instanceOf(HygeiaSdkError);
    expect((partly.cause as HygeiaSdkError).kind).to.equal("rate-limited");
    expect(partly.transactions).to.have.length(1);

    const expiry = BigInt(granted.expiry.getTime() / 1000);
    expect(await slotsOf(patient, partly.applied)).to.deep.equal(
      partly.applied.map(() => ({ expiry: 0n, version: 2 })),
    );
    expect(await slotsOf(patient, partly.failed)).to.deep.equal(partly.failed.map(() => ({ expiry, version: 1 })));
    expect(await listed(patient)).to.deep.equal(
      forty
        .slice(32)
        .sort((a, b) => a.localeCompare(b))
        .map((scope) => ({ scope, version: 1 })),
    );

    const revoked = await patient.consent.revoke({
      grantee: clinic.address,
      scopes: partly.failed.map((f) => f.id), // by id, as list() gives an id it cannot label
      purpose: "Treatment",
    });
    expect(wallet.prompts.slice(4)).to.deep.equal([{ grants: 0, revokes: 8, declined: false }]);
    expect(revoked.scopes).to.deep.equal(granted.scopes.slice(32));
    expect(await slotsOf(patient, granted.scopes)).to.deep.equal(forty.map(() => ({ expiry: 0n, version: 2 })));
    expect(await listed(patient)).to.deep.equal([]);
  });

  it("the wallet declining the first prompt applies nothing: the decline itself (kind auth), not a partly applied error", async function () {
    const { patient, wallet } = await newPatient();
    wallet.declinePrompt(1);
    const error = await patient.consent
      .grant({ grantee: clinic.address, scopes: scopes(40), purpose: "Treatment", expires: "1d" })
      .catch((e: unknown) => e);
    expect(wallet.prompts).to.deep.equal([{ grants: 32, revokes: 0, declined: true }]);
    expect(error).to.be.instanceOf(HygeiaSdkError);
    expect(error).not.to.be.instanceOf(ConsentPartlyAppliedError);
    expect([(error as HygeiaSdkError).code, (error as HygeiaSdkError).kind]).to.deep.equal(["ACTION_REJECTED", "auth"]);
    expect((error as HygeiaSdkError).hint).to.match(/declined/);
    expect(
      (await slotsOf(patient, labelled(patient, scopes(40)))).every((s) => s.version === 0 && s.expiry === 0n),
    ).to.equal(true);
    expect(await listed(patient)).to.deep.equal([]);
  });

  it("exactly 32 scopes are one signature and one transaction; 33 are two (32 + 1), and re-granted slots move on one version", async function () {
    const { patient, wallet } = await newPatient();
    const one = await patient.consent.grant({
      grantee: clinic.address,
      scopes: scopes(32),
      purpose: "Treatment",
      expires: "1d",
    });
    expect(wallet.prompts).to.deep.equal([{ grants: 32, revokes: 0, declined: false }]);
    expect(one.transactions).to.have.length(1);

    const two = await patient.consent.grant({
      grantee: clinic.address,
      scopes: scopes(33),
      purpose: "Treatment",
      expires: "2d",
    });
    expect(wallet.prompts.slice(1)).to.deep.equal([
      { grants: 32, revokes: 0, declined: false },
      { grants: 1, revokes: 0, declined: false },
    ]);
    expect(two.transactions).to.have.length(2);
    const expiry = BigInt(two.expiry.getTime() / 1000);
    expect(await slotsOf(patient, two.scopes)).to.deep.equal([
      ...scopes(32).map(() => ({ expiry, version: 2 })),
      { expiry, version: 1 },
    ]);
  });

  it("signs a scope named twice once: duplicates, and an id next to its label, collapse before the batches are cut", async function () {
    const { patient, wallet } = await newPatient();
    const thirtyTwo = scopes(32);
    const withDuplicates = [
      ...thirtyTwo,
      thirtyTwo[0]!,
      patient.keys.scopes.id(thirtyTwo[1]!).toUpperCase().replace(/^0X/, "0x"), // the same slot by its id
      thirtyTwo[31]!,
    ];
    expect(withDuplicates).to.have.length(35);
    const granted = await patient.consent.grant({
      grantee: clinic.address,
      scopes: withDuplicates,
      purpose: "Treatment",
      expires: "1d",
    });
    expect(wallet.prompts).to.deep.equal([{ grants: 32, revokes: 0, declined: false }]);
    expect(granted.transactions).to.have.length(1);
    expect(granted.scopes).to.deep.equal(labelled(patient, thirtyTwo));
    expect((await slotsOf(patient, granted.scopes)).map((s) => s.version)).to.deep.equal(thirtyTwo.map(() => 1));
  });

  it("refuses an empty list, more than 256 scopes, and a bad scope in the second batch before anything is signed", async function () {
    const { patient, wallet } = await newPatient();
    const grant = { grantee: clinic.address, purpose: "Treatment" as const, expires: "1d" };
    const cases: [() => Promise<unknown>, string][] = [
      [() => patient.consent.revoke({ ...grant, scopes: [] }), "scopes"],
      [() => patient.consent.grant({ ...grant, scopes: Array<string>(257).fill("category:laboratory") }), "scopes"],
      [() => patient.consent.revoke({ ...grant, scopes: Array<string>(257).fill("category:laboratory") }), "scopes"],
      [() => patient.consent.grant({ ...grant, scopes: [...scopes(40), "fhir:observation"] }), "scopes[40]"],
      [() => patient.consent.revoke({ ...grant, scopes: [...scopes(40), "category:everything"] }), "scopes[40]"],
    ];
    for (const [call, field] of cases) {
      const error = await call().catch((e: unknown) => e);
      expect(error, field).to.be.instanceOf(SdkInputError);
      expect((error as SdkInputError).field).to.equal(field);
    }
    expect(wallet.prompts).to.deep.equal([]);
  });
});
