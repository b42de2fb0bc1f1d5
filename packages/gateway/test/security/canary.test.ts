// The zero-knowledge promise, checked on disk: after an end-to-end run (upload, grant, release, content read,
// audit) with canary plaintexts and known DEKs, no canary, no DEK, no wallet secret (X25519 keys, scope key)
// and no session token appears anywhere under the gateway's data dir (SQLite database and WAL, blockstore,
// keys), raw or as hex, base64 or base64url. A control file with a known marker proves the scan finds things.
import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { decryptToBuffer, unwrapKey } from "@hygeia/crypto";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { send } from "./support/http.ts";
import { scanDirectory, type Secret } from "./support/scan.ts";
import { signInWith } from "./support/siwe.ts";
import {
  actor,
  addRecord,
  askKey,
  chainNow,
  patientKeys,
  registryAs,
  seal,
  wrapContext,
  type Actor,
  type SealedRecord,
} from "./support/world.ts";

describe("security: the gateway's storage holds no plaintext and no key (canary scan)", function () {
  let stack: TestStack;
  let root: string;
  let alice: Actor;
  let clinic: Actor;
  const secrets: Secret[] = [];
  const records: { cid: string; sealed: SealedRecord; canary: string }[] = [];

  before(async function () {
    this.timeout(180_000);
    stack = await startTestStack({ keepDataDir: true });
    root = dirname(stack.dataDir);
    alice = actor(stack.accounts.alice, await signInWith(stack.url, stack.accounts.alice));
    clinic = actor(stack.accounts.clinic, await signInWith(stack.url, stack.accounts.clinic));
    const keys = patientKeys(alice.address);
    const laboratory = keys.scopes.id("category:laboratory");

    // Three records, each a FHIR Observation carrying a unique canary, each under its own DEK.
    for (let i = 0; i < 3; i++) {
      const canary = `CANARY-${randomUUID()}`;
      const sealed = await seal(
        JSON.stringify({ resourceType: "Observation", status: "final", note: [{ text: canary }], valueString: canary }),
      );
      const cid = await addRecord(
        stack,
        alice,
        sealed,
        (c) => keys.scopes.forRecord({ cid: c, resourceType: "Observation", categories: ["laboratory"] }),
        [clinic],
      );
      records.push({ cid, sealed, canary });
      secrets.push({ label: `canary ${i}`, bytes: new TextEncoder().encode(canary) });
      secrets.push({ label: `DEK ${i}`, bytes: sealed.dek });
    }
    secrets.push(
      { label: "alice X25519 secret key", bytes: alice.keys.secretKey },
      { label: "clinic X25519 secret key", bytes: clinic.keys.secretKey },
      { label: "alice scope key", bytes: keys.scopeKey },
      { label: "alice session token", bytes: new TextEncoder().encode(alice.token) },
      { label: "clinic session token", bytes: new TextEncoder().encode(clinic.token) },
    );

    await registryAs(stack, stack.accounts.alice).grant({
      grantee: clinic.address,
      scope: laboratory,
      purpose: "Treatment",
      expiry: (await chainNow(stack)) + 86_400,
    });
    await stack.services.chain.indexer.sync();
  });

  after(async function () {
    await stack?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("runs the whole flow: the clinic gets its wrap, unwraps the known DEK and decrypts the canary", async function () {
    for (const { cid, sealed, canary } of records) {
      const res = await askKey(stack, clinic.token, alice.address, cid, "Treatment");
      expect(res.status, res.text).to.equal(200);
      const { wrap } = JSON.parse(res.text) as { wrap: string };
      const dek = unwrapKey(Buffer.from(wrap, "base64url"), clinic.keys, wrapContext(cid));
      expect(Buffer.from(dek).equals(Buffer.from(sealed.dek))).to.equal(true);
      const content = await fetch(
        `${stack.url}/v1/patients/${alice.address}/records/${cid}/content?purpose=Treatment`,
        {
          headers: { authorization: `Bearer ${clinic.token}` },
        },
      );
      expect(content.status).to.equal(200);
      const plaintext = await decryptToBuffer(new Uint8Array(await content.arrayBuffer()), dek);
      expect(new TextDecoder().decode(plaintext)).to.contain(canary);
    }
    // A deny, the patient's audit view, a checkpoint: everything the log writes.
    const denied = await askKey(
      stack,
      await signInWith(stack.url, stack.accounts.clinic2),
      alice.address,
      records[0]!.cid,
      "Treatment",
    );
    expect(denied.status).to.equal(403);
    const audit = await send(stack.url, { method: "GET", path: "/v1/audit/events", token: alice.token });
    expect(audit.status, audit.text).to.equal(200);
    await stack.app.audit.anchorNow();
  });

  it("finds no canary, DEK, wallet secret or session token in any file under the data dir, running or closed", async function () {
    this.timeout(120_000);
    // The control: markers written on purpose, in three of the encodings, must be found.
    const controls: Secret[] = [
      { label: "control raw", bytes: randomBytes(32) },
      { label: "control hex", bytes: randomBytes(32) },
      { label: "control base64url", bytes: randomBytes(32) },
    ];
    const controlDir = join(stack.dataDir, "control");
    await mkdir(controlDir, { recursive: true });
    await writeFile(
      join(controlDir, "marker.bin"),
      Buffer.concat([
        randomBytes(7),
        Buffer.from(controls[0]!.bytes),
        Buffer.from(`\n${Buffer.from(controls[1]!.bytes).toString("hex")}\n`),
        // Behind one stray byte, so the base64url run starts mid-group.
        Buffer.from(Buffer.concat([Buffer.from([0x42]), Buffer.from(controls[2]!.bytes)]).toString("base64url")),
      ]),
    );

    // And the blockstore is scanned: a record's ciphertext (which it must hold) is found there.
    const stored: Secret = { label: "control ciphertext", bytes: records[0]!.sealed.ciphertext.subarray(40, 104) };
    const running = await scanDirectory(root, [...secrets, ...controls, stored]);
    await stack.close();
    const closed = await scanDirectory(root, [...secrets, ...controls, stored]);
    console.log(
      `canary scan: ${running.files} files (${running.bytes} bytes) running, ${closed.files} files (${closed.bytes} bytes) closed, ${secrets.length} secrets`,
    );
    for (const scan of [running, closed]) {
      const found = new Set(scan.findings.map((f) => f.secret));
      for (const control of [...controls, stored])
        expect(found, `the scan finds ${control.label}`).to.include(control.label);
      const leaks = scan.findings.filter((f) => !f.secret.startsWith("control"));
      expect(leaks, JSON.stringify(leaks, null, 2)).to.deep.equal([]);
    }
    expect(running.files, "files scanned").to.be.greaterThan(3);
  });
});
