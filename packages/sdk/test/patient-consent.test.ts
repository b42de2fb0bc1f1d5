// The patient's consent and emergency grantees through the SDK, on the real stack (anvil with the contracts, Helia,
// the SQLite gateway on a socket): relayed and direct grants, the clinic's key release after a grant and its refusal
// after a revoke, the listing and FHIR export with the wallet's labels, input refusals before any signature, and
// break-glass after an emergency registration. Existing records are shared through a small RecordSharing that does
// what a wallet does over the gateway's API (own key release, unwrap, wrap to the grantee's published key).
import { expect } from "chai";
import { Wallet, type HDNodeWallet, type TypedDataDomain, type TypedDataField } from "ethers";
import { ConsentRegistryClient } from "@hygeia/chain";
import {
  decryptToBuffer,
  encryptToBuffer,
  generateDataKey,
  generateX25519KeyPair,
  unwrapKey,
  wrapKey,
  x25519KeysFromDidDocument,
  type X25519KeyPair,
} from "@hygeia/crypto";
import { IdentityAgent, ethrNetworkFromDeployment } from "@hygeia/identity";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { signIn as signInOverHttp } from "../../gateway/test/support/auth.ts";
import {
  HygeiaConnection,
  HygeiaSdkError,
  SdkInputError,
  signIn,
  type FetchLike,
  type WalletSigner,
} from "../src/index.ts";
import { derivePatientKeys } from "../src/patient/keys.ts";
import type { PatientContext, PatientKeys, RecordSharing } from "../src/patient/context.ts";
import { PatientConsent } from "../src/patient/consent.ts";
import { PatientEmergency } from "../src/patient/emergency.ts";
import { PatientClient } from "../src/patient/client.ts";

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");
const keyContext = (cid: string): string => `hygeia:record:${cid}`;

async function patientKeys(wallet: HDNodeWallet | Wallet): Promise<PatientKeys> {
  return derivePatientKeys(wallet);
}

/** The wallet, counting its signature prompts. */
function countingSigner(wallet: HDNodeWallet): WalletSigner & { prompts: number } {
  const signer = {
    prompts: 0,
    getAddress: () => wallet.getAddress(),
    signMessage: (message: string) => wallet.signMessage(message),
    signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>) {
      signer.prompts += 1;
      return wallet.signTypedData(domain, types, value);
    },
  };
  return signer;
}

/** A fetch that records the method and path of every request. */
function recordingFetch(log: string[]): FetchLike {
  return (input, init) => {
    log.push(`${init?.method ?? "GET"} ${new URL(input).pathname}`);
    return fetch(input, init);
  };
}

interface GatewayRecord {
  cid: string;
  scopeIds: Record<string, string[]>;
}

/**
 * RecordSharing as a wallet does it over the gateway: for each of the patient's records carrying one of the ids,
 * release its own wrap, unwrap the DEK, wrap it to the grantee's X25519 key from its DID document, store the wrap.
 */
class GatewaySharing implements RecordSharing {
  readonly calls: { grantee: string; scopeIds: readonly string[] }[] = [];
  readonly context: () => PatientContext;
  readonly resolver: IdentityAgent;
  constructor(context: () => PatientContext, resolver: IdentityAgent) {
    this.context = context;
    this.resolver = resolver;
  }

  async shareScopesWith(grantee: string, scopeIds: readonly string[]): Promise<number> {
    this.calls.push({ grantee, scopeIds });
    const { connection, address, keys } = this.context();
    const chainId = connection.deployment.chainId;
    const [granteeKey] = x25519KeysFromDidDocument(
      await this.resolver.resolve(`did:ethr:0x${chainId.toString(16)}:${grantee}`),
    );
    if (!granteeKey) throw new Error(`${grantee} has no published X25519 key`);
    const { records } = await connection.transport.request<{ records: GatewayRecord[] }>("GET", "/v1/records", {
      query: { limit: 100 },
    });
    const wanted = new Set(scopeIds);
    let shared = 0;
    for (const record of records) {
      const ids = record.scopeIds[address.toLowerCase()] ?? [];
      if (!ids.some((id) => wanted.has(id))) continue;
      const own = await connection.transport.request<{ wrap: string }>(
        "POST",
        `/v1/patients/${address}/records/${record.cid}/key`,
        { json: { purpose: "Treatment" } },
      );
      const dek = unwrapKey(Buffer.from(own.wrap, "base64url"), keys.encryption, keyContext(record.cid));
      await connection.transport.request("POST", `/v1/records/${record.cid}/wraps`, {
        json: {
          wraps: [{ recipient: grantee, wrap: b64url(wrapKey(dek, granteeKey.publicKey, keyContext(record.cid))) }],
        },
      });
      shared += 1;
    }
    return shared;
  }
}

describe("sdk PatientConsent and PatientEmergency", function () {
  let stack: TestStack;
  let connection: HygeiaConnection;
  let agent: IdentityAgent;
  let alice: HDNodeWallet;
  let context: PatientContext;
  let sharing: GatewaySharing;
  const requests: string[] = [];
  const clinics: Record<
    "clinic" | "clinic2",
    { wallet: HDNodeWallet; keys: X25519KeyPair; token: string; did: string }
  > = {} as never;
  let labCid: string;
  let imagingCid: string;
  const labText = JSON.stringify({ resourceType: "Observation", status: "final", code: { text: "HbA1c" } });

  /** Encrypts, uploads and registers a record wrapped to the patient only; its ids under the patient's address. */
  async function addRecord(text: string, resourceType: string, category: string): Promise<string> {
    const dek = generateDataKey();
    const ciphertext = await encryptToBuffer(new TextEncoder().encode(text), dek);
    const { cid } = await connection.transport.upload<{ cid: string }>("/v1/uploads", ciphertext);
    await connection.transport.request("POST", "/v1/records", {
      json: {
        cid,
        scopeIds: { [alice.address]: context.keys.scopes.forRecord({ cid, resourceType, categories: [category] }) },
        wraps: [
          { recipient: alice.address, wrap: b64url(wrapKey(dek, context.keys.encryption.publicKey, keyContext(cid))) },
        ],
      },
    });
    return cid;
  }

  /** The clinic's key release of one of Alice's records: status, problem code, and the plaintext when released. */
  async function release(
    who: "clinic" | "clinic2",
    cid: string,
    purpose = "Treatment",
  ): Promise<{ status: number; code?: string; emergency?: boolean; plaintext?: string }> {
    const clinic = clinics[who];
    const path = `/v1/patients/${alice.address}/records/${cid}`;
    const res = await fetch(`${stack.url}${path}/key`, {
      method: "POST",
      headers: { authorization: `Bearer ${clinic.token}`, "content-type": "application/json" },
      body: JSON.stringify({ purpose }),
    });
    const body = (await res.json()) as { wrap?: string; code?: string; emergency?: boolean };
    if (res.status !== 200) return { status: res.status, ...(body.code ? { code: body.code } : {}) };
    const dek = unwrapKey(Buffer.from(body.wrap!, "base64url"), clinic.keys, keyContext(cid));
    const content = await fetch(`${stack.url}${path}/content?purpose=${purpose}`, {
      headers: { authorization: `Bearer ${clinic.token}` },
    });
    const plain = await decryptToBuffer(new Uint8Array(await content.arrayBuffer()), dek);
    return { status: 200, emergency: body.emergency === true, plaintext: new TextDecoder().decode(plain) };
  }

  before(async function () {
    stack = await startTestStack();
    connection = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
      fetch: recordingFetch(requests),
    });
    alice = stack.accounts.alice;
    await signIn(connection.transport, alice);
    context = { connection, signer: alice, address: alice.address, keys: await patientKeys(alice) };

    agent = await IdentityAgent.create({
      network: ethrNetworkFromDeployment(stack.deployment, stack.local.rpcUrl),
      watchRegistry: false,
    });
    for (const who of ["clinic", "clinic2"] as const) {
      const wallet = stack.accounts[who];
      const keys = generateX25519KeyPair();
      const { did } = await agent.importEthrDid(wallet.privateKey);
      await agent.publishEncryptionKey(did, keys.publicKey);
      clinics[who] = { wallet, keys, did, token: await signInOverHttp(stack, wallet) };
    }
    sharing = new GatewaySharing(() => context, agent);
    labCid = await addRecord(labText, "Observation", "laboratory");
    imagingCid = await addRecord("imaging report", "DiagnosticReport", "imaging");
  });

  after(async function () {
    connection?.close();
    await agent?.close();
    await stack?.close();
  });

  /** A read-only registry client: what the chain says, not the gateway. */
  const onChain = () => new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, stack.provider);

  it("relays a grant of two scopes under ONE signature in one transaction, shares the covered record, and the clinic's release then works", async function () {
    const signer = countingSigner(alice);
    const consent = new PatientConsent({ ...context, signer }, sharing);
    expect((await release("clinic", labCid)).code).to.equal("CONSENT_REQUIRED");
    requests.length = 0;

    const granted = await consent.grant({
      grantee: clinics.clinic.did, // a did:ethr works as well as an address
      scopes: ["category:laboratory", "fhir:Observation"],
      purpose: "Treatment",
      expires: "30d",
    });

    // One EIP-712 ConsentBatch signature for both scopes, relayed in ONE request as ONE transaction.
    expect(signer.prompts).to.equal(1);
    expect(requests.filter((r) => r.startsWith("POST /v1/consents/"))).to.deep.equal(["POST /v1/consents/batches"]);
    expect(granted).to.include({ mode: "relay", grantee: clinics.clinic.wallet.address, purpose: "Treatment" });
    expect(granted.scopes.map((s) => s.scope)).to.deep.equal(["category:laboratory", "fhir:Observation"]);
    expect(granted.scopes.map((s) => s.id)).to.deep.equal(
      context.keys.scopes.ids(["category:laboratory", "fhir:Observation"]),
    );
    expect(granted.transactions).to.have.length(1);
    for (const id of granted.scopes.map((s) => s.id))
      expect(
        await onChain().isAllowed({
          patient: alice.address,
          grantee: clinics.clinic.wallet.address,
          scope: id,
          purpose: 1,
        }),
      ).to.equal(true);
    const days = (granted.expiry.getTime() - Date.now()) / 86_400_000;
    expect(days).to.be.within(29.99, 30.01);
    // Only the laboratory Observation is covered: it was wrapped to the clinic, the imaging report was not.
    expect(granted.shared).to.equal(1);
    expect(sharing.calls.at(-1)).to.deep.equal({
      grantee: clinics.clinic.wallet.address,
      scopeIds: granted.scopes.map((s) => s.id),
    });

    // grant() returned once the gateway lists it: the release right after works and decrypts.
    expect(await release("clinic", labCid)).to.deep.equal({ status: 200, emergency: false, plaintext: labText });
    expect((await release("clinic", imagingCid)).code).to.equal("CONSENT_REQUIRED");
  });

  it("lists the grants with the wallet's labels, purpose names, expiry dates and status", async function () {
    const consent = new PatientConsent(context, sharing);
    const listed = await consent.list();
    const mine = listed.filter((c) => c.grantee === clinics.clinic.wallet.address.toLowerCase());
    expect(mine.map((c) => c.scope).sort()).to.deep.equal(["category:laboratory", "fhir:Observation"]);
    for (const c of mine) {
      expect(c).to.include({
        purpose: "Treatment",
        purposeLabel: "Treatment",
        status: "active",
        consentAddress: alice.address.toLowerCase(),
        version: 1,
      });
      expect(c.expiry).to.be.instanceOf(Date);
      expect(c.expiry.getTime()).to.be.greaterThan(Date.now() + 29 * 86_400_000);
    }
  });

  it("exports the consents as a FHIR Bundle whose provisions carry the wallet's labels", async function () {
    const consent = new PatientConsent(context, sharing);
    const bundle = await consent.exportFhir();
    expect(bundle).to.include({ resourceType: "Bundle", type: "collection" });
    const provisions = (bundle.entry ?? []).map((e) => e.resource!.provision!);
    expect(provisions).to.have.length(2);
    const observation = provisions.find((p) => p.class !== undefined)!;
    expect(observation.class).to.deep.equal([{ system: "http://hl7.org/fhir/resource-types", code: "Observation" }]);
    const laboratory = provisions.find((p) => p.code !== undefined)!;
    expect(laboratory.code).to.deep.equal([{ text: "category:laboratory" }]);
    expect(laboratory.extension?.[0]?.valueString).to.equal(context.keys.scopes.id("category:laboratory"));
    // Without labels: only the opaque ids, as the gateway exports them.
    const plain = await consent.exportFhir({ labels: false });
    expect((plain.entry ?? []).every((e) => !e.resource!.provision!.code && !e.resource!.provision!.class)).to.equal(
      true,
    );
  });

  it("revokes several scopes through the relay under ONE signature, and the clinic's next key release is refused with CONSENT_REQUIRED (403)", async function () {
    const signer = countingSigner(alice);
    const consent = new PatientConsent({ ...context, signer }, sharing);
    requests.length = 0;
    const revoked = await consent.revoke({
      grantee: clinics.clinic.wallet.address,
      scopes: ["category:laboratory", "fhir:Observation"],
      purpose: "Treatment",
    });
    expect(signer.prompts).to.equal(1);
    expect(requests.filter((r) => r.startsWith("POST /v1/consents/"))).to.deep.equal(["POST /v1/consents/batches"]);
    expect(revoked.transactions).to.have.length(1);
    for (const id of revoked.scopes.map((s) => s.id))
      expect(
        await onChain().consentOf({
          patient: alice.address,
          grantee: clinics.clinic.wallet.address,
          scope: id,
          purpose: 1,
        }),
      ).to.deep.equal({ expiry: 0n, version: 2 });
    expect(await release("clinic", labCid)).to.deep.equal({ status: 403, code: "CONSENT_REQUIRED" });
    expect(
      (await consent.list()).filter((c) => c.grantee === clinics.clinic.wallet.address.toLowerCase()),
    ).to.deep.equal([]);
  });

  it("grants and revokes in direct mode from the funded wallet, one transaction for the batch", async function () {
    const consent = new PatientConsent(context, sharing);
    const before = await stack.provider.getBalance(alice.address);
    const granted = await consent.grant({
      grantee: clinics.clinic.wallet.address,
      scopes: ["category:laboratory", "category:medication"],
      purpose: "Treatment",
      expires: new Date(Date.now() + 3 * 86_400_000),
      mode: "direct",
    });
    expect(granted.mode).to.equal("direct");
    expect(granted.transactions).to.have.length(1); // grantBatch
    const receipt = await stack.provider.getTransactionReceipt(granted.transactions[0]!);
    expect(receipt?.from).to.equal(alice.address); // the wallet sent it and paid
    expect(await stack.provider.getBalance(alice.address)).to.be.lessThan(before);
    expect(granted.shared).to.equal(1);
    expect((await release("clinic", labCid)).status).to.equal(200);

    const revoked = await consent.revoke({
      grantee: clinics.clinic.wallet.address,
      scopes: ["category:laboratory", "category:medication"],
      purpose: "Treatment",
      mode: "direct",
    });
    expect(revoked.transactions).to.have.length(2);
    expect((await release("clinic", labCid)).code).to.equal("CONSENT_REQUIRED");
  });

  it("refuses a past expiry, an unknown purpose, Emergency, a bad scope and a bad grantee before anything is signed", async function () {
    const signer = countingSigner(alice);
    const consent = new PatientConsent({ ...context, signer }, sharing);
    const base = {
      grantee: clinics.clinic.wallet.address,
      scopes: ["category:laboratory"],
      purpose: "Treatment" as const,
      expires: "30d",
    };
    requests.length = 0;
    const cases: [Record<string, unknown>, string][] = [
      [{ expires: new Date(Date.now() - 60_000) }, "expires"],
      [{ expires: "2001-01-01" }, "expires"],
      [{ expires: 20 * 365 * 86_400 }, "expires"],
      [{ expires: "soon" }, "expires"],
      [{ purpose: "Marketing" }, "purpose"],
      [{ purpose: "Emergency" }, "purpose"],
      [{ scopes: ["category:Laboratory"] }, "scopes[0]"],
      [{ scopes: [] }, "scopes"],
      [{ grantee: "did:ethr:0x1:0x15d34aaf54267db7d7c367839aaf71a00a2c6a65" }, "grantee"],
      [{ grantee: "clinic" }, "grantee"],
      [{ grantee: alice.address }, "grantee"],
      [{ mode: "carrier-pigeon" }, "mode"],
    ];
    for (const [override, field] of cases) {
      const error = await consent.grant({ ...base, ...override } as never).catch((e: unknown) => e);
      expect(error, JSON.stringify(override)).to.be.instanceOf(SdkInputError);
      expect((error as SdkInputError).kind).to.equal("usage");
      expect((error as SdkInputError).field, JSON.stringify(override)).to.equal(field);
      expect((error as SdkInputError).hint)
        .to.be.a("string")
        .and.not.equal("");
    }
    expect(signer.prompts).to.equal(0);
    expect(requests).to.deep.equal([]);
  });

  it("refuses direct mode from a wallet without ETH with a refused error that points at the relay", async function () {
    const broke = Wallet.createRandom(stack.provider);
    const consent = new PatientConsent(
      { connection, signer: broke, address: broke.address, keys: await patientKeys(broke) },
      sharing,
    );
    const error = await consent
      .grant({
        grantee: clinics.clinic.wallet.address,
        scopes: ["category:allergy"],
        purpose: "Treatment",
        expires: "1d",
        mode: "direct",
      })
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(HygeiaSdkError);
    expect([(error as HygeiaSdkError).code, (error as HygeiaSdkError).kind]).to.deep.equal([
      "INSUFFICIENT_FUNDS",
      "refused",
    ]);
    expect((error as HygeiaSdkError).hint).to.match(/relay/);
  });

  it("through the PatientClient, a grant wraps the records it covers so the clinic reads what was added before", async function () {
    const bob = await PatientClient.connect({
      signer: stack.accounts.bob,
      connection: { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment },
    });
    try {
      const added = await bob.records.add(
        { resourceType: "Observation", status: "final", code: { text: "LDL" } },
        { categories: ["laboratory"] },
      );
      const granted = await bob.consent.grant({
        grantee: clinics.clinic.wallet.address,
        scopes: ["category:laboratory"],
        purpose: "Treatment",
        expires: "1d",
      });
      expect(granted.shared).to.equal(1);
      const res = await fetch(`${stack.url}/v1/patients/${bob.address}/records/${added.cid}/key`, {
        method: "POST",
        headers: { authorization: `Bearer ${clinics.clinic.token}`, "content-type": "application/json" },
        body: JSON.stringify({ purpose: "Treatment" }),
      });
      expect(res.status).to.equal(200);
      expect((await bob.consent.list()).map((c) => c.scope)).to.deep.equal(["category:laboratory"]);
    } finally {
      await bob.close();
    }
  });

  it("registers an emergency grantee without ETH, wraps the covered record to it, and only its break-glass opens it", async function () {
    const emergency = new PatientEmergency(context, sharing);
    const er = clinics.clinic2;
    const registered = await emergency.add({ grantee: er.did, scopes: ["category:laboratory"], window: "1h" });
    expect(registered).to.include({ mode: "relay", grantee: er.wallet.address, windowSeconds: 3600, shared: 1 });
    const labId = context.keys.scopes.id("category:laboratory");
    expect(registered.card).to.have.length(2).and.to.include(labId); // the id and its blinding id
    expect(await emergency.list()).to.deep.equal([
      {
        grantee: er.wallet.address,
        windowSeconds: 3600,
        status: "ready",
        windowEnd: undefined,
        scopesRoot: registered.scopesRoot,
        epoch: 1,
      },
    ]);

    // Wrapped in advance, but nothing is released before the glass is broken.
    expect((await release("clinic2", labCid, "Emergency")).code).to.equal("CONSENT_REQUIRED");
    const registry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, er.wallet);
    await registry.breakGlass(alice.address, labId, { scopes: registered.card });
    await stack.services.chain.indexer.sync();
    expect(await release("clinic2", labCid, "Emergency")).to.deep.equal({
      status: 200,
      emergency: true,
      plaintext: labText,
    });
    expect((await release("clinic2", imagingCid, "Emergency")).code).to.equal("CONSENT_REQUIRED");
    const [open] = await emergency.list();
    expect(open?.status).to.equal("open");
    expect(open?.windowEnd?.getTime()).to.be.greaterThan(Date.now());

    // The removal (relayed) closes the window at once.
    await emergency.remove({ grantee: er.wallet.address });
    expect(await emergency.list()).to.deep.equal([]);
    await stack.services.chain.indexer.sync();
    expect((await release("clinic2", labCid, "Emergency")).code).to.equal("CONSENT_REQUIRED");
  });
});
