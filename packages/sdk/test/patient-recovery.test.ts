// Recovery without gateway state (promise 6) on the real stack (anvil with the contracts, Helia on disk, the SQLite
// gateway on a socket): every record-list update is anchored on chain (a sealed pointer, ERC-1056 attribute of the
// wallet's derived anchor identity, relayed by the gateway); the gateway then loses its whole database and restarts
// over the same chain and IPFS data; a new device with nothing but the wallet recovers the list from the chain,
// registers the records again (wrapped to the grantee whose consent still covers them) and reads every one.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { decryptToBuffer, generateDataKey, unwrapKey, wrapKey } from "@hygeia/crypto";
import { manifestAnchorIdentity, readManifestAnchor } from "@hygeia/chain";
import { parseCid, recordKeyContext } from "@hygeia/storage";
import { Wallet, hexlify } from "ethers";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import type { ConnectOptions } from "../src/connection.ts";
import type { HygeiaSdkError } from "../src/errors.ts";
import { GatewayProblemError } from "../src/errors.ts";
import type { FetchLike } from "../src/transport.ts";
import { PatientClient } from "../src/patient/client.ts";
import { readAll, type AddedRecord } from "../src/patient/records.ts";
import { rejection } from "./support/settle.ts";

const observation = { resourceType: "Observation", status: "final", code: { text: "HbA1c" } };

describe("sdk PatientRecords: recovery from the chain anchor after the gateway lost its database", function () {
  let stack: TestStack;
  let options: ConnectOptions;
  let alice: PatientClient;
  let clinic: PatientClient;
  let lab: AddedRecord;
  let scan: AddedRecord;
  let firstManifest: string;
  const scanBytes = new Uint8Array(randomBytes(300_000));

  before(async function () {
    stack = await startTestStack();
    options = { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment };
    alice = await PatientClient.connect({ signer: stack.accounts.alice, connection: options });
    clinic = await PatientClient.connect({ signer: stack.accounts.clinic, connection: options });
    await clinic.publishKey();
  });
  after(async function () {
    await alice?.close().catch(() => undefined);
    await clinic?.close().catch(() => undefined);
    await stack?.close();
  });

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

  /** Bob registers `cid` as his own record (his wrap, his scope id): the refusal. */
  async function takeOver(cid: string): Promise<HygeiaSdkError> {
    const bob = await PatientClient.connect({ signer: stack.accounts.bob, connection: options });
    try {
      const wrap = wrapKey(generateDataKey(), bob.keys.encryption.publicKey, recordKeyContext(parseCid(cid)));
      return await rejection(
        bob.connection.transport.request("POST", "/v1/records", {
          json: {
            cid,
            scopeIds: { [bob.address.toLowerCase()]: [hexlify(randomBytes(32))] },
            wraps: [{ recipient: bob.address, wrap: Buffer.from(wrap).toString("base64url") }],
          },
        }),
      );
    } finally {
      await bob.close();
    }
  }

  it("anchors each record-list version on chain, sealed: no CID and no patient address in clear", async function () {
    expect(await alice.records.anchored()).to.equal(undefined);
    lab = await alice.records.add(observation, { categories: ["laboratory"] });
    expect(lab.anchor).to.deep.include({ status: "anchored", version: 1 });
    firstManifest = (await alice.records.manifestPointer()).cid!;
    scan = await alice.records.add(scanBytes, { mediaType: "application/dicom", categories: ["imaging"] });
    expect(scan.anchor).to.deep.include({ status: "anchored", version: 2 });
    const pointer = await alice.records.manifestPointer();
    expect(await alice.records.anchored()).to.deep.equal({ version: 2, cid: pointer.cid });
    // Nothing to do when the chain holds the newest version.
    expect(await alice.records.anchor()).to.deep.equal({ status: "current", version: 2 });

    const identity = manifestAnchorIdentity(alice.keys.anchor.accountKey);
    expect(identity).to.not.equal(alice.address);
    const raw = await readManifestAnchor(stack.provider, stack.deployment.contracts.EthereumDIDRegistry, identity);
    const onChain = hexlify(raw!.value).toLowerCase();
    expect(onChain).to.not.include(hexlify(parseCid(pointer.cid!).bytes).slice(2).toLowerCase());
    expect(onChain).to.not.include(alice.address.slice(2).toLowerCase());
  });

  it("the gateway serves a sealed manifest by CID to a signed-in wallet, and nothing else by that route", async function () {
    const pointer = await alice.records.manifestPointer();
    const download = await clinic.connection.transport.download(`/v1/manifests/${pointer.cid}`);
    const sealed = await readAll(download.body);
    expect(Buffer.from(sealed.subarray(0, 4)).toString()).to.equal("HYGM");
    // A record's ciphertext is pinned too, but it is no manifest.
    const notManifest = await rejection(clinic.connection.transport.download(`/v1/manifests/${lab.cid}`));
    expect(notManifest).to.be.instanceOf(GatewayProblemError);
    expect(notManifest.code).to.equal("MANIFEST_NOT_FOUND");
  });

  it("after the gateway lost its database, a new device recovers every record from the wallet alone", async function () {
    await alice.consent.grant({
      grantee: clinic.address,
      scopes: ["category:laboratory"],
      purpose: "Treatment",
      expires: "30d",
    });
    expect(JSON.parse(new TextDecoder().decode(await clinicReads(lab.cid)))).to.deep.equal(observation);
    // Sharing the existing record noted the clinic in the list: a third version, anchored too.
    const before = (await alice.records.anchored())!.version;
    expect(before).to.equal(3);
    await alice.close();
    await clinic.close();

    await stack.restartGateway({ forgetDatabase: true });

    const phone = await PatientClient.connect({
      signer: new Wallet(stack.accounts.alice.privateKey),
      connection: options,
    });
    alice = phone;
    clinic = await PatientClient.connect({ signer: stack.accounts.clinic, connection: options });
    expect(await phone.records.list()).to.deep.equal([]); // the gateway forgot the pointer…
    expect((await phone.records.anchored())?.version).to.equal(before); // …the chain did not
    // A CID the patient does not hold at this gateway: not found, not a consent refusal.
    expect((await rejection(phone.records.get(lab.cid))).code).to.equal("RECORD_NOT_FOUND");
    // Before Alice recovers, Bob (who knows the CID) cannot register her record as his: the gateway's receipt
    // of her registration outlived its database.
    expect((await takeOver(lab.cid)).code).to.equal("UPLOAD_NOT_STAGED");

    const report = await phone.records.recover();
    expect(report).to.deep.include({
      anchoredVersion: before,
      listed: 2,
      relisted: 2,
      reregistered: 2,
      unavailable: [],
    });
    // The recovered list continues the anchored versions (the gateway's count started again at 0).
    expect(report.anchor).to.deep.include({ status: "anchored", version: before + 1 });
    expect((await phone.records.manifestPointer()).version).to.equal(1);

    const listed = await phone.records.list();
    expect(listed.map((record) => record.cid).sort()).to.deep.equal([lab.cid, scan.cid].sort());
    expect(await phone.records.getFhir(lab.cid)).to.deep.equal(observation);
    const { bytes } = await phone.records.getBytes(scan.cid);
    expect(Buffer.from(bytes).equals(Buffer.from(scanBytes))).to.equal(true);

    // The consent is on chain: the clinic's wrap came back with the record, the other record stays refused.
    expect(JSON.parse(new TextDecoder().decode(await clinicReads(lab.cid)))).to.deep.equal(observation);
    expect((await rejection(clinicReads(scan.cid))).code).to.equal("CONSENT_REQUIRED");
  });

  it("a second recovery changes nothing, and records added afterwards are anchored past the recovered version", async function () {
    const again = await alice.records.recover();
    expect(again).to.deep.include({ anchoredVersion: 4, listed: 2, relisted: 0, reregistered: 0, unavailable: [] });
    expect(again.anchor).to.deep.equal({ status: "current", version: 4 });
    const note = await alice.records.add(new TextEncoder().encode("after recovery"), { mediaType: "text/plain" });
    expect(note.anchor).to.deep.include({ status: "anchored", version: 5 });
  });

  it("another wallet cannot take over a record by registering its CID once the owner recovered it either", async function () {
    expect((await takeOver(lab.cid)).code).to.equal("UPLOAD_NOT_STAGED");
    expect(await alice.records.getFhir(lab.cid)).to.deep.equal(observation);
  });

  it("a device that adds a record after the gateway lost its database, without recovering, keeps the earlier records", async function () {
    await alice.close();
    await clinic.close();
    await stack.restartGateway({ forgetDatabase: true });
    clinic = await PatientClient.connect({ signer: stack.accounts.clinic, connection: options });
    const tablet = await PatientClient.connect({
      signer: new Wallet(stack.accounts.alice.privateKey),
      connection: options,
    });
    alice = tablet;
    const before = (await tablet.records.anchored())!;
    const fresh = await tablet.records.add(new TextEncoder().encode("added on the tablet"), {
      mediaType: "text/plain",
    });
    // The chain held a list this gateway had lost: merged and registered again before the new one was anchored.
    expect(fresh.anchor.status).to.equal("anchored");
    expect(fresh.anchor.version).to.be.above(before.version);
    const cids = (await tablet.records.list()).map((record) => record.cid);
    expect(cids).to.include.members([lab.cid, scan.cid, fresh.cid]);
    expect(await tablet.records.getFhir(lab.cid)).to.deep.equal(observation);
    expect((await tablet.records.anchored())!.version).to.equal(fresh.anchor.version);
  });

  it("refuses an older genuine record list served for the anchored CID (a rollback), naming it", async function () {
    // A gateway that answers the anchored manifest's CID with the patient's first, older list.
    const anchored = (await alice.records.anchored())!;
    const older = await readAll((await alice.connection.transport.download(`/v1/manifests/${firstManifest}`)).body);
    const rollback: FetchLike = async (input, init) => {
      if (input.endsWith(`/v1/manifests/${anchored.cid}`))
        return new Response(older, { status: 200, headers: { "content-type": "application/octet-stream" } });
      return fetch(input, init);
    };
    const victim = await PatientClient.connect({
      signer: new Wallet(stack.accounts.alice.privateKey),
      connection: { ...options, fetch: rollback },
    });
    try {
      const refused = await rejection(victim.records.recover());
      expect(refused.code).to.equal("ANCHORED_MANIFEST_MISMATCH");
      expect(refused.kind).to.equal("integrity");
    } finally {
      await victim.close();
    }
  });

  it("an add whose anchor could not be read after a database loss is merged by the next one, dropping nothing", async function () {
    // The tablet's chain node fails on demand (a proxy in front of anvil).
    let failing = false;
    const proxy = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        if (failing) {
          response.writeHead(502).end("node down");
          return;
        }
        fetch(stack.local.rpcUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: Buffer.concat(chunks),
        })
          .then(async (answer) =>
            response.writeHead(answer.status, { "content-type": "application/json" }).end(await answer.text()),
          )
          .catch(() => response.writeHead(502).end());
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const rpcUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const listedBefore = (await alice.records.list()).map((record) => record.cid);
      await alice.close();
      await clinic.close();
      await stack.restartGateway({ forgetDatabase: true });
      clinic = await PatientClient.connect({ signer: stack.accounts.clinic, connection: options });
      const tablet = await PatientClient.connect({
        signer: new Wallet(stack.accounts.alice.privateKey),
        connection: { ...options, rpcUrl, timeoutMs: 5_000 },
      });
      alice = tablet;
      failing = true;
      const second = await tablet.records.add(new TextEncoder().encode("while the node was down"), {
        mediaType: "text/plain",
      });
      expect(second.anchor.status).to.equal("failed");
      failing = false;
      const third = await tablet.records.add(new TextEncoder().encode("once it was back"), { mediaType: "text/plain" });
      expect(third.anchor.status).to.equal("anchored");

      const laptop = await PatientClient.connect({
        signer: new Wallet(stack.accounts.alice.privateKey),
        connection: options,
      });
      try {
        await laptop.records.recover();
        const cids = (await laptop.records.list()).map((record) => record.cid);
        expect(cids).to.include.members([...listedBefore, second.cid, third.cid]);
      } finally {
        await laptop.close();
      }
    } finally {
      failing = false;
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
