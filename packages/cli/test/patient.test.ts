// The patient's commands through the real `hygeia` binary against the real stack (anvil with the contracts, Helia,
// the SQLite gateway on a socket): --json output, exit codes, files written.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import getPort from "get-port";
import { Wallet } from "ethers";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { hygeia, oneErrorLine, stackHome, tempHome, type CliOptions } from "./support/cli.ts";

const PASSWORD = "patient password";

interface Added {
  cid: string;
  kind: string;
  resourceType?: string;
  categories: string[];
  size: number;
  wrappedTo: string[];
}

describe("hygeia patient commands (real stack)", function () {
  let stack: TestStack;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let env: Record<string, string>;
  let clinicDid: string;
  let labCid: string;
  let pdfCid: string;
  const pdf = randomBytes(300_000);
  const observation = {
    resourceType: "Observation",
    status: "final",
    code: { text: "Hemoglobin A1c" },
    valueQuantity: { value: 6.1, unit: "%" },
  };

  const run = (args: readonly string[], options: CliOptions = {}) =>
    hygeia(args, { ...options, env: { ...env, ...options.env } });

  before(async () => {
    stack = await startTestStack();
    ({ home, env } = await stackHome(stack, PASSWORD, [
      ["alice", stack.accounts.alice],
      ["clinic", stack.accounts.clinic],
    ]));
    // The grantee publishes its key too, so the patient's wallet can wrap record keys to it.
    const clinicKey = await run(["--json", "--wallet", "clinic", "did", "publish-key"]);
    expect(clinicKey.code, clinicKey.stderr).to.equal(0);
    clinicDid = clinicKey.json<{ did: string }>().did;
  });

  after(async () => {
    await stack?.close();
    await home?.dispose();
  });

  it("checks the stack with `status`", async () => {
    const status = await run(["--json", "status"]);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.json<{ chainId: number; ready: Record<string, boolean> }>()).to.include({
      chainId: stack.deployment.chainId,
    });
  });

  it("publishes the wallet's encryption key once, and sends nothing the second time", async () => {
    const first = await run(["--json", "did", "publish-key"]);
    expect(first.code, first.stderr).to.equal(0);
    const published = first.json<{
      did: string;
      changed: boolean;
      transactions: string[];
      keys: { current: boolean }[];
    }>();
    expect(published.did).to.equal(`did:ethr:0x7a69:${stack.accounts.alice.address.toLowerCase()}`);
    expect(published.changed).to.equal(true);
    expect(published.keys).to.have.length(1);

    const again = await run(["--json", "did", "publish-key"]);
    expect(again.json<{ changed: boolean; transactions: string[] }>()).to.include({ changed: false });

    const shown = await run(["--json", "did", "show"]);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.json<{ published: boolean; keys: { publicKeyBase64: string }[] }>().keys[0]!.publicKeyBase64).to.equal(
      (await run(["--json", "wallet", "export-public"])).json<{ encryptionKey: { publicKeyBase64: string } }>()
        .encryptionKey.publicKeyBase64,
    );
  });

  it("adds a FHIR resource and a PDF, encrypted, and lists them", async () => {
    const labFile = join(home.home, "a1c.json");
    await writeFile(labFile, JSON.stringify(observation));
    const lab = await run(["--json", "record", "add", labFile, "--category", "laboratory"]);
    expect(lab.code, lab.stderr).to.equal(0);
    const labAdded = lab.json<Added>();
    expect(labAdded).to.include({ kind: "fhir", resourceType: "Observation" });
    expect(labAdded.categories).to.deep.equal(["laboratory"]);
    labCid = labAdded.cid;

    const pdfFile = join(home.home, "scan.pdf");
    await writeFile(pdfFile, pdf);
    const scan = await run(["--json", "record", "add", pdfFile, "-c", "imaging"]);
    expect(scan.code, scan.stderr).to.equal(0);
    const scanAdded = scan.json<Added & { mediaType: string }>();
    expect(scanAdded).to.include({ kind: "file", mediaType: "application/pdf", size: pdf.length });
    pdfCid = scanAdded.cid;

    const listed = await run(["--json", "record", "list"]);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.json<{ records: { cid: string }[] }>().records.map((r) => r.cid)).to.have.members([labCid, pdfCid]);
    const human = await run(["record", "list"]);
    expect(human.stdout).to.match(/^CID\s+KIND\s+CATEGORIES/);
    expect(human.stdout).to.include("FHIR Observation");
  });

  it("downloads and decrypts a record to a 0600 file, byte for byte, and a FHIR record into the JSON document", async () => {
    const out = join(home.home, "scan-copy.pdf");
    const got = await run(["--json", "record", "get", pdfCid, "-o", out]);
    expect(got.code, got.stderr).to.equal(0);
    expect(Buffer.compare(await readFile(out), pdf)).to.equal(0);
    expect((await stat(out)).mode & 0o777).to.equal(0o600);

    const again = await run(["record", "get", pdfCid, "-o", out]);
    expect(again.code).to.equal(6);
    expect(oneErrorLine(again)).to.include("already exists");

    const fhir = await run(["--json", "record", "get", labCid]);
    expect(fhir.code, fhir.stderr).to.equal(0);
    expect(fhir.json<{ resource: unknown }>().resource).to.deep.equal(observation);

    const raw = await run(["record", "get", labCid]);
    expect(JSON.parse(raw.stdout)).to.deep.equal(observation);
  });

  it("refuses a file record with --json and no -o before downloading anything (exit 1, one line naming -o)", async () => {
    // Which records' ciphertexts the gateway read from IPFS while the command ran (the sealed record list is read
    // too: it is what tells a record's kind).
    const content = stack.services.content;
    const records = new Set([pdfCid, labCid]);
    const read: string[] = [];
    const get = content.get.bind(content);
    content.get = (cid, options) => {
      if (records.has(String(cid))) read.push(String(cid));
      return get(cid, options);
    };
    try {
      const refused = await run(["--json", "record", "get", pdfCid]);
      expect(refused.code).to.equal(1);
      const { error } = refused.json<{ error: { code: string; kind: string; message: string; hint: string } }>();
      expect(error).to.include({ kind: "usage" });
      expect(error.message).to.include("application/pdf");
      expect(error.hint).to.include("-o <file>");
      expect(read, "the record's ciphertext was read").to.deep.equal([]);
      // A CID the record list does not hold: nothing to tell its kind by, so nothing is downloaded either.
      const unknown = await run([
        "--json",
        "record",
        "get",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
      ]);
      expect(unknown.code).to.equal(5);
      expect(unknown.json<{ error: { code: string } }>().error.code).to.equal("RECORD_NOT_FOUND");
      expect(read).to.deep.equal([]);

      const fhir = await run(["--json", "record", "get", labCid]);
      expect(fhir.code, fhir.stderr).to.equal(0);
      expect(fhir.json<{ record: { cid: string }; resource: unknown }>().resource).to.deep.equal(observation);
      expect(read).to.deep.equal([labCid]);
    } finally {
      content.get = get;
    }
  });

  it("grants consent gaslessly, sharing the existing record of that category, and lists and exports it", async () => {
    const granted = await run([
      "--json",
      "consent",
      "grant",
      clinicDid,
      "--scope",
      "category:laboratory",
      "--purpose",
      "Treatment",
      "--expires",
      "30d",
    ]);
    expect(granted.code, granted.stderr).to.equal(0);
    const grant = granted.json<{ mode: string; shared: number; transactions: string[]; scopes: { scope: string }[] }>();
    expect(grant).to.include({ mode: "relay", shared: 1 });
    expect(grant.scopes.map((s) => s.scope)).to.deep.equal(["category:laboratory"]);

    const listed = await run(["--json", "consent", "list"]);
    expect(listed.code, listed.stderr).to.equal(0);
    const { consents } = listed.json<{
      consents: { grantee: string; scope: string; purpose: string; status: string }[];
    }>();
    expect(consents).to.have.length(1);
    expect(consents[0]).to.include({
      grantee: stack.accounts.clinic.address,
      scope: "category:laboratory",
      purpose: "Treatment",
      status: "active",
    });

    const exported = await run(["--json", "consent", "export", "--fhir"]);
    expect(exported.code, exported.stderr).to.equal(0);
    const bundle = exported.json<{ resourceType: string; entry: { resource: { resourceType: string } }[] }>();
    expect(bundle.resourceType).to.equal("Bundle");
    expect(bundle.entry.map((e) => e.resource.resourceType)).to.deep.equal(["Consent"]);
  });

  it("refuses a scope that is not canonical with exit 1 and one line, before signing anything", async () => {
    const bad = await run(["consent", "grant", clinicDid, "-s", "laboratory", "-p", "Treatment", "-e", "30d"]);
    expect(bad.code).to.equal(1);
    expect(oneErrorLine(bad)).to.include("scopes[0]");
    const missing = await run(["consent", "grant", clinicDid, "-s", "category:laboratory", "-p", "Treatment"]);
    expect(missing.code).to.equal(1);
    expect(oneErrorLine(missing)).to.include("--expires");
  });

  it("refuses a grantee that publishes no encryption key with exit 2, before signing anything", async () => {
    const before = (await run(["--json", "consent", "list"])).json<{ consents: unknown[] }>().consents.length;
    const keyless = Wallet.createRandom().address;
    const refused = await run([
      "--json",
      "consent",
      "grant",
      keyless,
      "-s",
      "category:imaging",
      "-p",
      "Treatment",
      "-e",
      "1d",
    ]);
    expect(refused.code).to.equal(2);
    expect(refused.json<{ error: { code: string } }>().error.code).to.equal("GRANTEE_HAS_NO_KEY");
    expect((await run(["--json", "consent", "list"])).json<{ consents: unknown[] }>().consents.length).to.equal(before);
  });

  it("revokes the consent: the listing is empty afterwards", async () => {
    const revoked = await run([
      "--json",
      "consent",
      "revoke",
      clinicDid,
      "-s",
      "category:laboratory",
      "-p",
      "Treatment",
    ]);
    expect(revoked.code, revoked.stderr).to.equal(0);
    expect(revoked.json<{ transactions: string[] }>().transactions).to.have.length(1);
    const listed = await run(["--json", "consent", "list"]);
    expect(listed.json<{ consents: unknown[] }>().consents).to.deep.equal([]);
  });

  it("registers an emergency grantee and lists it as ready", async () => {
    const added = await run(["--json", "emergency", "add", clinicDid, "-s", "category:allergy", "-w", "4h"]);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.json<{ windowSeconds: number }>().windowSeconds).to.equal(4 * 3600);
    const listed = await run(["--json", "emergency", "list"]);
    expect(listed.code, listed.stderr).to.equal(0);
    const { grantees } = listed.json<{ grantees: { grantee: string; status: string }[] }>();
    expect(grantees.map((g) => [g.grantee, g.status])).to.deep.equal([[stack.accounts.clinic.address, "ready"]]);
  });

  it("shows the audit trail and verifies it against the chain, pinning the gateway's verifier key", async () => {
    const shown = await run(["--json", "audit", "show"]);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.json<{ events: unknown[] }>().events.length).to.be.greaterThan(0);

    const verified = await run(["--json", "audit", "show", "--verify"]);
    expect(verified.code, verified.stderr).to.equal(0);
    const report = verified.json<{ ok: boolean; verifierKey: string; counts: { failed: number }; events: unknown[] }>();
    expect(report.ok).to.equal(true);
    expect(report.counts.failed).to.equal(0);
    const state = JSON.parse(await readFile(join(home.home, "state", "alice.json"), "utf8")) as {
      auditVerifierKeys: Record<string, string>;
    };
    expect(state.auditVerifierKeys[stack.url]).to.equal(report.verifierKey);
  });

  it("recovers keys, records and consents on a new device from the wallet secret alone", async () => {
    const device = await tempHome();
    try {
      const fresh = { ...env, HYGEIA_HOME: device.home };
      const imported = await hygeia(["--json", "wallet", "import", "phone"], {
        env: fresh,
        input: stack.accounts.alice.privateKey,
      });
      expect(imported.code, imported.stderr).to.equal(0);
      const recovered = await hygeia(["--json", "recover"], { env: fresh });
      expect(recovered.code, recovered.stderr).to.equal(0);
      type Recovered = {
        records: { cid: string }[];
        encryptionKey: { published: boolean };
        recovery: {
          anchoredVersion?: number;
          reregistered: number;
          unavailable: unknown[];
          anchor: { status: string };
        };
      };
      const result = recovered.json<Recovered>();
      expect(result.encryptionKey.published).to.equal(true);
      expect(result.records.map((r) => r.cid)).to.have.members([labCid, pdfCid]);
      expect(result.recovery.anchoredVersion).to.be.a("number");
      expect(result.recovery).to.deep.include({ reregistered: 0, unavailable: [] });

      // The gateway loses its database: the record list comes back from its anchor on chain.
      await stack.restartGateway({ forgetDatabase: true });
      const listedBefore = await hygeia(["--json", "record", "list"], { env: fresh });
      const emptyList = listedBefore.json<{ records: unknown[]; anchoredVersion: number | null }>();
      expect(emptyList.records).to.deep.equal([]);
      expect(emptyList.anchoredVersion).to.be.a("number");
      const hint = await hygeia(["record", "list"], { env: fresh });
      expect(hint.stdout).to.match(/anchored on chain \(version \d+\): run `hygeia recover`/);
      const restored = await hygeia(["--json", "recover"], { env: fresh });
      expect(restored.code, restored.stderr).to.equal(0);
      const after = restored.json<Recovered>();
      expect(after.records.map((r) => r.cid)).to.have.members([labCid, pdfCid]);
      expect(after.recovery).to.deep.include({ reregistered: 2, unavailable: [] });
      expect(after.recovery.anchor.status).to.equal("anchored");
      const human = await hygeia(["recover"], { env: fresh });
      expect(human.code, human.stderr).to.equal(0);
      expect(human.stdout).to.match(/record list on chain:\s+version \d+ found; up to date/);
      const lab = await hygeia(["--json", "record", "get", labCid], { env: fresh });
      expect(lab.code, lab.stderr).to.equal(0);
      expect(lab.json<{ resource: unknown }>().resource).to.deep.equal(observation);
    } finally {
      await device.dispose();
    }
  });

  it("exits 3 naming the chain and its URL when the chain is down", async () => {
    const url = `http://127.0.0.1:${await getPort()}`;
    const down = await run(["record", "list"], { env: { HYGEIA_RPC_URL: url } });
    expect(down.code).to.equal(3);
    expect(oneErrorLine(down)).to.match(new RegExp(`^hygeia: the chain at ${url} cannot be reached`));
  });
});
