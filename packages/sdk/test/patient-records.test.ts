// The patient's records through PatientClient against the real stack (anvil with the contracts, Helia, the SQLite
// gateway on a socket): keys from the wallet, the X25519 key in the DID document, FHIR resources, Bundles and a
// 5 MB file encrypted here and streamed up with progress, the sealed manifest as the record list, a second device
// with the same wallet, sharing with a grantee that releases and decrypts through the gateway, new versions with
// new keys after a revoke, key rotation, and refusals that send nothing.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { ConsentRegistryClient, signGrant, signRevoke, signedConsentToJson } from "@hygeia/chain";
import { decryptToBuffer, unwrapKey } from "@hygeia/crypto";
import { parseCid, recordKeyContext } from "@hygeia/storage";
import { Wallet, type HDNodeWallet } from "ethers";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import type { ConnectOptions } from "../src/connection.ts";
import { GatewayProblemError } from "../src/errors.ts";
import type { Progress } from "../src/progress.ts";
import { PatientClient } from "../src/patient/client.ts";
import { readAll, type PatientRecord } from "../src/patient/records.ts";
import { createWallet } from "../src/wallet.ts";
import { rejection } from "./support/settle.ts";

const observation = {
  resourceType: "Observation",
  status: "final",
  code: { text: "HbA1c" },
  valueQuantity: { value: 7.2, unit: "%" },
};
const bundle = {
  resourceType: "Bundle",
  type: "collection",
  entry: [
    { resource: { resourceType: "Condition", code: { text: "Type 2 diabetes" } } },
    {
      resource: {
        resourceType: "MedicationStatement",
        status: "active",
        medicationCodeableConcept: { text: "Metformin" },
      },
    },
  ],
};

describe("sdk PatientClient: keys and records", function () {
  let stack: TestStack;
  let options: ConnectOptions;
  let alice: PatientClient;
  let clinic: PatientClient;
  const added: Record<"observation" | "bundle" | "file", PatientRecord & { scopeIds: Record<string, string[]> }> =
    {} as never;
  const file = new Uint8Array(randomBytes(5 * 1024 * 1024 + 123));

  before(async function () {
    stack = await startTestStack();
    options = { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment };
    alice = await PatientClient.connect({ signer: stack.accounts.alice, connection: options });
    clinic = await PatientClient.connect({ signer: stack.accounts.clinic, connection: options });
  });
  after(async function () {
    await alice?.close();
    await clinic?.close();
    await stack?.close();
  });

  /** Grants (or revokes) `scope` of Alice's to `grantee` through the gateway's relay and waits for the indexer. */
  async function consent(action: "grant" | "revoke", grantee: string, scope: string, purpose: string = "Treatment") {
    const registry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, stack.provider);
    const now = (await stack.provider.getBlock("latest"))!.timestamp;
    const scopeId = alice.keys.scopes.id(scope);
    const base = { patient: alice.address, grantee, scope: scopeId, purpose, deadline: now + 600 };
    const signed =
      action === "grant"
        ? await (async () => {
            const { domain, message } = await registry.nextGrantTypedData({ ...base, expiry: now + 86_400 });
            return signGrant(stack.accounts.alice, domain, { ...message, patient: alice.address });
          })()
        : await (async () => {
            const { domain, message } = await registry.nextRevokeTypedData(base);
            return signRevoke(stack.accounts.alice, domain, { ...message, patient: alice.address });
          })();
    await alice.connection.transport.request("POST", `/v1/consents/${action}s`, {
      query: { wait: "receipt" },
      json: { signed: signedConsentToJson(signed) },
    });
    for (let i = 0; i < 100; i++) {
      const { consents } = await alice.connection.transport.request<{ consents: { grantee: string; scope: string }[] }>(
        "GET",
        "/v1/consents",
      );
      const listed = consents.some((c) => c.grantee === grantee.toLowerCase() && c.scope === scopeId);
      if (listed === (action === "grant")) return scopeId;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the indexer did not see the ${action}`);
  }

  /** The clinic's key release and download of one of Alice's records, decrypted with the clinic's key. */
  async function clinicReads(cid: string): Promise<Uint8Array> {
    const path = `/v1/patients/${alice.address}/records/${cid}`;
    const released = await clinic.connection.transport.request<{ wrap: string }>("POST", `${path}/key`, {
      json: { purpose: "Treatment" },
    });
    const dek = unwrapKey(
      Buffer.from(released.wrap, "base64url"),
      clinic.keys.encryption,
      recordKeyContext(parseCid(cid)),
    );
    const download = await clinic.connection.transport.download(`${path}/content`, { query: { purpose: "Treatment" } });
    return decryptToBuffer(await readAll(download.body), dek);
  }

  it("derives the same keys as the wallet's key-derivation signature and names the did:ethr", async function () {
    expect(alice.address).to.equal(stack.accounts.alice.address);
    expect(alice.did).to.equal(`did:ethr:0x${stack.deployment.chainId.toString(16)}:${alice.address.toLowerCase()}`);
    expect(alice.keyIndex).to.equal(0);
    const again = await PatientClient.connect({ signer: stack.accounts.alice, connection: options });
    try {
      expect(Buffer.from(again.keys.encryption.publicKey)).to.deep.equal(Buffer.from(alice.keys.encryption.publicKey));
      expect(again.keys.scopes.id("category:laboratory")).to.equal(alice.keys.scopes.id("category:laboratory"));
    } finally {
      await again.close();
    }
  });

  it("publishes the X25519 key in the DID document once (a second publish sends nothing), readable by anyone", async function () {
    const first = await alice.publishKey();
    expect(first.changed).to.equal(true);
    expect(first.transactions).to.have.length(1);
    const second = await alice.publishKey();
    expect(second).to.include({ changed: false });
    expect(second.transactions).to.deep.equal([]);
    const seen = await clinic.encryptionKeysOf(alice.did);
    expect(seen).to.have.length(1);
    expect(Buffer.from(seen[0]!.publicKey)).to.deep.equal(Buffer.from(alice.keys.encryption.publicKey));
    expect(seen[0]!.current).to.equal(true);
    expect(await clinic.encryptionKeysOf(stack.accounts.bob.address)).to.deep.equal([]);
    await clinic.publishKey();
  });

  it("refuses to publish for a wallet without ETH with INSUFFICIENT_FUNDS (kind refused), sending nothing", async function () {
    const poor = createWallet();
    const client = await PatientClient.connect({ signer: poor, connection: options });
    try {
      const error = await rejection(client.publishKey());
      expect(error.code).to.equal("INSUFFICIENT_FUNDS");
      expect(error.kind).to.equal("refused");
      expect(error.hint).to.include(poor.address);
      expect(await stack.provider.getTransactionCount(poor.address)).to.equal(0);
      expect(await client.publishedKeys()).to.deep.equal([]);
    } finally {
      await client.close();
    }
  });

  it("adds a FHIR Observation, a Bundle and a 5 MB file, streaming the upload with progress (total and ETA)", async function () {
    added.observation = await alice.records.add(observation, { categories: ["laboratory"] });
    expect(added.observation).to.include({
      kind: "fhir",
      resourceType: "Observation",
      mediaType: "application/fhir+json",
    });
    added.bundle = await alice.records.add(bundle, { categories: ["condition", "medication"] });
    expect(added.bundle.resourceType).to.equal("Bundle");
    const progress: Progress[] = [];
    added.file = await alice.records.add(
      { stream: new Blob([file]).stream(), size: file.byteLength, mediaType: "application/pdf" },
      { categories: ["imaging"], onProgress: (p) => progress.push(p) },
    );
    expect(added.file).to.include({ kind: "file", mediaType: "application/pdf", size: file.byteLength });
    expect(added.file.storedSize).to.be.greaterThan(file.byteLength);
    const last = progress.at(-1)!;
    expect(last.done).to.equal(true);
    expect(last.bytes).to.equal(added.file.storedSize);
    expect(last.total).to.equal(added.file.storedSize);
    expect(progress.some((p) => !p.done && p.etaSeconds !== undefined && p.bytesPerSecond > 0)).to.equal(true);
    // The gateway holds the three, each with Alice's wrap and its keyed scope ids; no grantee yet.
    const onGateway = await alice.records.gatewayRecords();
    for (const record of Object.values(added)) {
      const there = onGateway.find((r) => r.cid === record.cid)!;
      expect(there.recipients).to.deep.equal([alice.address.toLowerCase()]);
      expect(there.scopeIds[alice.address.toLowerCase()]).to.deep.equal(record.scopeIds[alice.address.toLowerCase()]);
    }
    // A Bundle is covered by its entries' types too: a grant of fhir:Condition reaches it.
    expect(added.bundle.scopeIds[alice.address.toLowerCase()]).to.include(alice.keys.scopes.id("fhir:Condition"));
  });

  it("lists the three with their metadata from the sealed manifest, newest first", async function () {
    const listed = await alice.records.list();
    expect(listed.map((r) => r.cid)).to.deep.equal([added.file.cid, added.bundle.cid, added.observation.cid]);
    const byCid = new Map(listed.map((r) => [r.cid, r]));
    expect(byCid.get(added.observation.cid)).to.deep.include({
      kind: "fhir",
      resourceType: "Observation",
      mediaType: "application/fhir+json",
      categories: ["laboratory"],
      size: new TextEncoder().encode(JSON.stringify(observation)).byteLength,
    });
    expect(byCid.get(added.bundle.cid)!.categories).to.deep.equal(["condition", "medication"]);
    expect(byCid.get(added.file.cid)).to.deep.include({
      kind: "file",
      mediaType: "application/pdf",
      categories: ["imaging"],
    });
    expect(Date.parse(byCid.get(added.file.cid)!.createdAt)).to.be.closeTo(Date.now(), 120_000);
  });

  it("gets each record back byte for byte, the large one streamed with download progress", async function () {
    expect(await alice.records.getFhir(added.observation.cid)).to.deep.equal(observation);
    expect(await alice.records.getFhir(added.bundle.cid)).to.deep.equal(bundle);
    const progress: Progress[] = [];
    const { metadata, body } = await alice.records.get(added.file.cid, { onProgress: (p) => progress.push(p) });
    expect(metadata.size).to.equal(file.byteLength);
    const bytes = await readAll(body);
    expect(Buffer.from(bytes).equals(Buffer.from(file))).to.equal(true);
    expect(progress.at(-1)).to.include({ done: true, bytes: added.file.storedSize, total: added.file.storedSize });
  });

  it("a second device with the same wallet (fresh state) lists and reads the same records", async function () {
    const phone = await PatientClient.connect({
      signer: new Wallet(stack.accounts.alice.privateKey),
      connection: options,
    });
    try {
      const listed = await phone.records.list();
      expect(listed.map((r) => r.cid).sort()).to.deep.equal(
        Object.values(added)
          .map((r) => r.cid)
          .sort(),
      );
      expect(await phone.records.getFhir(added.bundle.cid)).to.deep.equal(bundle);
      const { bytes } = await phone.records.getBytes(added.file.cid);
      expect(Buffer.from(bytes).equals(Buffer.from(file))).to.equal(true);
      // Both devices write: the manifest's compare-and-swap keeps both records.
      const fromPhone = await phone.records.add(new TextEncoder().encode("phone note"), { mediaType: "text/plain" });
      const fromLaptop = await alice.records.add(new TextEncoder().encode("laptop note"), { mediaType: "text/plain" });
      const cids = (await alice.records.list()).map((r) => r.cid);
      expect(cids).to.include.members([fromPhone.cid, fromLaptop.cid, ...Object.values(added).map((r) => r.cid)]);
    } finally {
      await phone.close();
    }
  });

  it("refuses input that is not FHIR, a Bundle entry without a resource, an empty file and a lying stream, uploading nothing", async function () {
    const before = {
      records: (await alice.records.gatewayRecords()).length,
      pointer: await alice.records.manifestPointer(),
    };
    const cases: [string, Promise<unknown>][] = [
      ["no resourceType", alice.records.add({ status: "final" } as never)],
      ["not a FHIR type", alice.records.add({ resourceType: "observation" })],
      ["unknown FHIR type", alice.records.add({ resourceType: "Observatio" })],
      ["entry without resource", alice.records.add({ resourceType: "Bundle", entry: [{ fullUrl: "urn:x" }] })],
      ["empty bytes", alice.records.add(new Uint8Array(0), { mediaType: "application/pdf" })],
      [
        "JSON bytes that are not JSON",
        alice.records.add(new TextEncoder().encode("{oops"), { mediaType: "application/fhir+json" }),
      ],
      ["unknown category", alice.records.add(observation, { categories: ["lab"] })],
      ["a string", alice.records.add("scan.pdf" as never)],
      // toISOString writes "+099999-…": one such manifest entry would make the whole record list unreadable.
      ["a year past 9999", alice.records.add(observation, { created: new Date("+099999-01-01T00:00:00Z") })],
      ["a year before 1", alice.records.add(observation, { created: new Date("-000001-01-01T00:00:00Z") })],
    ];
    for (const [name, attempt] of cases) {
      const error = await rejection(attempt);
      expect(error.kind, name).to.equal("usage");
      expect(error.code, name).to.equal("INVALID_INPUT");
      expect(error.hint, name).to.be.a("string").and.not.empty;
    }
    const lying = await rejection(
      alice.records.add({
        stream: new Blob([new Uint8Array(1000)]).stream(),
        size: 2000,
        mediaType: "application/pdf",
      }),
    );
    expect(lying).to.include({ kind: "usage", field: "size" });
    expect((await alice.records.gatewayRecords()).length).to.equal(before.records);
    expect(await alice.records.manifestPointer()).to.deep.equal(before.pointer);
  });

  it("shareScopesWith wraps covered records to a grantee, which then releases and decrypts them through the gateway", async function () {
    const laboratory = await consent("grant", clinic.address, "category:laboratory");
    // Before sharing, consent holds but the clinic has no wrap yet.
    const missing = await rejection(clinicReads(added.observation.cid));
    expect(missing).to.be.instanceOf(GatewayProblemError);
    expect(missing.code).to.equal("KEY_NOT_SHARED");
    expect(await alice.records.shareScopesWith(clinic.did, [laboratory])).to.equal(1);
    const plain = await clinicReads(added.observation.cid);
    expect(JSON.parse(new TextDecoder().decode(plain))).to.deep.equal(observation);
    // The file (imaging) is not covered: one refusal, whatever the reason.
    expect((await rejection(clinicReads(added.file.cid))).code).to.equal("CONSENT_REQUIRED");
    // The manifest remembers the recipient (so a recovery knows whom it was shared with).
    const listed = (await alice.records.list()).find((r) => r.cid === added.observation.cid)!;
    expect(listed.sharedWith.map((s) => s.keyId)).to.deep.equal([`${clinic.did}#delegate-1`]);
  });

  it("wraps a new record to current grantees at once, and a new version after a revoke gets a new key the revoked clinic cannot have", async function () {
    const second = { ...observation, valueQuantity: { value: 6.9, unit: "%" } };
    const v1 = await alice.records.add(second, { categories: ["laboratory"] });
    expect(v1.wrappedTo).to.deep.equal([clinic.address]);
    expect(JSON.parse(new TextDecoder().decode(await clinicReads(v1.cid)))).to.deep.equal(second);

    await consent("revoke", clinic.address, "category:laboratory");
    const third = { ...observation, valueQuantity: { value: 6.5, unit: "%" } };
    const v2 = await alice.records.newVersion(v1.cid, third);
    expect(v2.categories).to.deep.equal(["laboratory"]);
    expect(v2.wrappedTo).to.deep.equal([]);
    expect((await rejection(clinicReads(v2.cid))).code).to.equal("CONSENT_REQUIRED");
    // A fresh data key: the owner's releases of the two versions open to different keys.
    const deks = await Promise.all(
      [v1.cid, v2.cid].map(async (cid) => {
        const { wrap } = await alice.connection.transport.request<{ wrap: string }>(
          "POST",
          `/v1/patients/${alice.address}/records/${cid}/key`,
          { json: { purpose: "Treatment" } },
        );
        return Buffer.from(
          unwrapKey(Buffer.from(wrap, "base64url"), alice.keys.encryption, recordKeyContext(parseCid(cid))),
        );
      }),
    );
    expect(deks[0]!.equals(deks[1]!)).to.equal(false);
    expect(await alice.records.getFhir(v2.cid)).to.deep.equal(third);
  });

  it("rotates the key: the new one is published alone, records stay readable, and a new device finds the new key index", async function () {
    const rotated = await alice.rotateKey();
    expect(rotated.keyIndex).to.equal(1);
    expect(rotated.rewrapped).to.be.greaterThan(4);
    const published = await alice.publishedKeys();
    expect(published).to.have.length(1);
    expect(Buffer.from(published[0]!.publicKey)).to.deep.equal(Buffer.from(alice.keys.encryption.publicKey));
    const fresh = await PatientClient.connect({
      signer: new Wallet(stack.accounts.alice.privateKey) as Wallet | HDNodeWallet,
      connection: options,
    });
    try {
      expect(fresh.keyIndex).to.equal(1);
      expect(await fresh.records.getFhir(added.observation.cid)).to.deep.equal(observation);
      expect((await fresh.records.list()).length).to.equal((await alice.records.list()).length);
    } finally {
      await fresh.close();
    }
  });
});
