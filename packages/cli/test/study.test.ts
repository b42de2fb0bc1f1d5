// Research studies through the real `hygeia` binary against the real stack (anvil with the contracts, Helia, the
// SQLite gateway on a socket): a researcher proves the role, registers and serves an IRB-approved study (its key
// written 0600 first), two patients opt in with FHIR files (what is shared and what not printed), the researcher
// pulls the dataset as FHIR Bulk Data NDJSON with a verified signed manifest, an opt-out drops a patient from the
// next pull, and every bad flag is one line and a non-zero exit.
import { expect } from "chai";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keccak256 } from "ethers";
import { CredentialType } from "@hygeia/identity";
import { syntheticPatient } from "@hygeia/research";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential } from "../../gateway/test/support/auth.ts";
import { IssuerClient } from "@hygeia/sdk";
import { hygeia, oneErrorLine, stackHome, type CliOptions, type tempHome } from "./support/cli.ts";

const PASSWORD = "study password";
const SCOPES = ["fhir:Condition", "fhir:Observation", "fhir:Patient"];

interface BulkManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: unknown[];
}

describe("hygeia study and dataset commands (real stack)", function () {
  let stack: TestStack;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let env: Record<string, string>;
  let studyId: string;
  let approvalFile: string;
  let protocolFile: string;

  const run = (args: readonly string[], options: CliOptions = {}) =>
    hygeia(args, { ...options, env: { ...env, ...options.env } });
  const asLab = (args: readonly string[]) => run(["--wallet", "lab", ...args]);
  const asAlice = (args: readonly string[]) => run(["--wallet", "alice", ...args]);
  const asBob = (args: readonly string[]) => run(["--wallet", "bob", ...args]);
  const ndjson = async (dir: string, type: string) =>
    (await readFile(join(dir, `${type}.ndjson`), "utf8"))
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { resourceType: string; id: string });

  before(async () => {
    stack = await startTestStack();
    ({ home, env } = await stackHome(stack, PASSWORD, [
      ["lab", stack.accounts.researcher],
      ["alice", stack.accounts.alice],
      ["bob", stack.accounts.bob],
    ]));
    protocolFile = join(home.home, "protocol.txt");
    await writeFile(protocolFile, "The outcomes protocol, version 3.\n");
    const irb = await IssuerClient.connect({
      connection: { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment },
      signer: stack.accounts.irb,
    });
    try {
      const approval = await irb.issue({
        type: CredentialType.EthicsApproval,
        subject: stack.accounts.researcher.address,
        claims: {
          studyId: "outcomes-2026",
          protocolTitle: "Outcomes 2026",
          approvalNumber: "IRB-7",
          protocolHash: keccak256(await readFile(protocolFile)),
        },
        expires: new Date(Date.now() + 365 * 86_400_000),
      });
      approvalFile = join(home.home, "approval.jwt");
      await writeFile(approvalFile, `${approval.credential}\n`);
    } finally {
      await irb.close();
    }
    const credential = (await issueRoleCredential(stack, stack.accounts.researcher, "researcher")).credential;
    await writeFile(join(home.home, "researcher.jwt"), credential);
    // The patients' records: Alice's as one JSON list in a folder, Bob's as NDJSON.
    await mkdir(join(home.home, "alice-records"));
    await writeFile(join(home.home, "alice-records", "all.json"), JSON.stringify(syntheticPatient(1).resources));
    await writeFile(
      join(home.home, "bob.ndjson"),
      syntheticPatient(2)
        .resources.map((r) => JSON.stringify(r))
        .join("\n"),
    );
  });

  after(async () => {
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
    await home?.dispose();
  });

  it("refuses to register before the session holds the researcher role, with exit 2 and nothing sent", async () => {
    const refused = await asLab([
      "study",
      "register",
      "--slug",
      "outcomes-2026",
      "--approval-file",
      approvalFile,
      "--scope",
      ...SCOPES,
      "--ends",
      "90d",
      "--protocol-file",
      protocolFile,
    ]);
    expect(refused.code, refused.stderr).to.equal(2);
    expect(oneErrorLine(refused)).to.match(/researcher role/);
    const state = await readdir(join(home.home, "state")).catch(() => [] as string[]);
    expect(state).not.to.include("studies"); // no study key written either
  });

  it("saves the researcher credential, then registers the study, writing its key 0600 first", async () => {
    const accepted = await asLab(["--json", "study", "credential", "--import", join(home.home, "researcher.jwt")]);
    expect(accepted.code, accepted.stderr).to.equal(0);
    expect(accepted.json()).to.include({ role: "researcher", saved: true });

    const registered = await asLab([
      "--json",
      "study",
      "register",
      "--slug",
      "outcomes-2026",
      "--approval-file",
      approvalFile,
      "--scope",
      ...SCOPES,
      "--ends",
      "90d",
      "--protocol-file",
      protocolFile,
    ]);
    expect(registered.code, registered.stderr).to.equal(0);
    const result = registered.json<{ studyId: string; keyFile: string; study: { title: string; scopes: string[] } }>();
    studyId = result.studyId;
    expect(studyId).to.match(/^0x[0-9a-f]{64}$/);
    expect(result.keyFile).to.equal(join(home.home, "state", "studies", `${studyId}.key.json`));
    expect((await stat(result.keyFile)).mode & 0o777).to.equal(0o600);
    expect(JSON.parse(await readFile(result.keyFile, "utf8"))).to.include({ type: "hygeia-study-key", studyId });
    expect(result.study).to.deep.include({ title: "Outcomes 2026", scopes: SCOPES });

    const listed = await asAlice(["--json", "study", "list"]);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.json<{ studies: { studyId: string }[] }>().studies.map((s) => s.studyId)).to.deep.equal([studyId]);
    const shown = await asAlice(["--json", "study", "show", studyId, "--verify"]);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.json<{ verification: { checks: string[] } }>().verification.checks).to.include("issuer-trust");
  });

  it("refuses an opt-in without --yes when there is no terminal to ask, sharing nothing", async () => {
    const refused = await asAlice(["study", "opt-in", studyId, "--fhir", join(home.home, "alice-records")]);
    expect(refused.code).to.equal(1);
    expect(oneErrorLine(refused)).to.match(/--yes/);
  });

  it("opts two patients in and prints what is shared and what is not", async () => {
    const alice = await asAlice([
      "--json",
      "study",
      "opt-in",
      studyId,
      "--fhir",
      join(home.home, "alice-records"),
      "--yes",
    ]);
    expect(alice.code, alice.stderr).to.equal(0);
    const joined = alice.json<{
      shared: number;
      report: { kept: Record<string, number>; removed: Record<string, number> };
      notShared: { resourceType: string; reason: string; why: string }[];
    }>();
    expect(joined.report.kept).to.include({ Patient: 1 });
    expect(joined.report.removed).to.have.property("Patient.name");
    expect(joined.notShared.find((n) => n.resourceType === "Encounter")).to.include({ reason: "not-requested" });

    const bob = await asBob(["study", "opt-in", studyId, "--fhir", join(home.home, "bob.ndjson"), "--yes"]);
    expect(bob.code, bob.stderr).to.equal(0);
    expect(bob.stdout).to.match(/^Shared with "Outcomes 2026"/);
    expect(bob.stdout).to.match(/Not shared:\n {2}Encounter \d+: the study does not ask for it/);
    expect(bob.stdout).to.match(/Patient\.name/);
  });

  it("pulls the dataset as Bulk Data NDJSON with both patients and no identifier of theirs", async () => {
    const out = join(home.home, "dataset");
    const pulled = await asLab(["--json", "dataset", "pull", studyId, "-o", out]);
    expect(pulled.code, pulled.stderr).to.equal(0);
    expect(pulled.json()).to.include({ contributions: 2, excluded: 0 });
    const files = (await readdir(out)).sort();
    expect(files).to.include.members(["Condition.ndjson", "Observation.ndjson", "Patient.ndjson", "manifest.json"]);
    expect(files).to.include("pull-manifest.txt");
    expect(files).not.to.include("Encounter.ndjson");
    expect(await ndjson(out, "Patient")).to.have.length(2);
    for (const file of files) expect((await stat(join(out, file))).mode & 0o777, file).to.equal(0o600);

    const manifest = JSON.parse(await readFile(join(out, "manifest.json"), "utf8")) as BulkManifest;
    expect(manifest).to.include({ requiresAccessToken: false, request: `${stack.url}/v1/studies/${studyId}/dataset` });
    expect(Number.isNaN(Date.parse(manifest.transactionTime))).to.equal(false);
    expect(manifest.error).to.deep.equal([]);
    expect(manifest.output.find((o) => o.type === "Patient")).to.include({ count: 2 });
    expect(manifest.output.map((o) => o.url.endsWith(`/${o.type}.ndjson`))).to.not.include(false);
    expect(await readFile(join(out, "pull-manifest.txt"), "utf8")).to.match(
      new RegExp(`^hygeia/dataset-pull/v1\\nstudy ${studyId}\\n`),
    );

    let everything = "";
    for (const file of files) everything += await readFile(join(out, file), "utf8");
    for (const seed of [1, 2])
      for (const identifier of syntheticPatient(seed).identifiers)
        expect(everything, identifier).not.to.contain(identifier);
  });

  it("refuses to pull into a folder that is not empty unless --force", async () => {
    const refused = await asLab(["dataset", "pull", studyId, "-o", join(home.home, "dataset")]);
    expect(refused.code).to.equal(6);
    expect(oneErrorLine(refused)).to.match(/not empty.*--force/);
  });

  it("opts a patient out: the next pull leaves them out", async () => {
    const out = await asAlice(["--json", "study", "opt-out", studyId]);
    expect(out.code, out.stderr).to.equal(0);
    expect(
      out.json<{ withdrawn: { cid: string } | null; revoked: { grantees: string[] } }>().revoked.grantees,
    ).to.have.length(1);
    const dir = join(home.home, "dataset");
    const pulled = await asLab(["--json", "dataset", "pull", studyId, "-o", dir, "--force"]);
    expect(pulled.code, pulled.stderr).to.equal(0);
    expect(pulled.json()).to.include({ contributions: 1 });
    expect(await ndjson(dir, "Patient")).to.have.length(1);
  });

  it("refuses bad flags with one line and exit 1", async () => {
    const id = studyId;
    const cases: [string[], RegExp][] = [
      [["study", "show", "0x1234"], /<study-id>/],
      [["study", "opt-in", id, "--fhir", join(home.home, "nope.json"), "--yes"], /--fhir/],
      [["study", "opt-in", id, "--fhir", protocolFile, "--yes"], /--fhir: .* is not JSON/],
      [["study", "opt-in", id, "--fhir", join(home.home, "alice-records"), "--types", "Encounter", "--yes"], /--types/],
      [
        ["study", "register", "--slug", "Bad", "--approval-file", approvalFile, "-s", "fhir:Patient", "--ends", "9d"],
        /--slug/,
      ],
      [
        ["study", "register", "--slug", "x-1", "--approval-file", approvalFile, "-s", "fhir:Nope!", "--ends", "9d"],
        /--scope/,
      ],
      [
        ["study", "register", "--slug", "x-1", "--approval-file", approvalFile, "-s", "fhir:Patient", "--ends", "soon"],
        /--ends/,
      ],
      [
        [
          "study",
          "register",
          "--slug",
          "x-1",
          "--approval-file",
          approvalFile,
          "-s",
          "fhir:Patient",
          "--ends",
          "9d",
          "--protocol-hash",
          "0x1",
        ],
        /--protocol-hash/,
      ],
      [["study", "register", "--slug", "x-1", "-s", "fhir:Patient", "--ends", "9d"], /approval-file/],
      [["dataset", "pull", id, "-o", join(home.home, "d2"), "--concurrency", "99"], /--concurrency/],
      [["dataset", "pull", id, "-o", join(home.home, "d3"), "--key-file", protocolFile], /--key-file/],
    ];
    for (const [args, pattern] of cases) {
      const wallet = args[0] === "dataset" || args[1] === "register" ? "lab" : "alice";
      const refused = await run(["--wallet", wallet, ...args]);
      expect(refused.code, `${args.join(" ")}: ${refused.stderr}`).to.equal(1);
      expect(oneErrorLine(refused), args.join(" ")).to.match(pattern);
    }
  });

  it("closes the study: the gateway stops serving it (exit 5)", async () => {
    const closed = await asLab(["--json", "study", "close", studyId]);
    expect(closed.code, closed.stderr).to.equal(0);
    const gone = await asAlice(["study", "show", studyId]);
    expect(gone.code).to.equal(5);
    expect(oneErrorLine(gone)).to.match(/STUDY_CLOSED/);
  });
});
