// A study that only counts, through the real `hygeia` binary on the real stack (k = 3): the researcher registers it
// with an aggregate scope and the study key, three patients opt in with `--fact`, and `dataset aggregate` prints the
// count the gateway released; bad flags are one line and a non-zero exit.
import { expect } from "chai";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keccak256 } from "ethers";
import { CredentialType } from "@hygeia/identity";
import { syntheticPatient } from "@hygeia/research";
import { IssuerClient } from "@hygeia/sdk";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential } from "../../gateway/test/support/auth.ts";
import { hygeia, oneErrorLine, stackHome, type CliOptions, type tempHome } from "./support/cli.ts";

const PASSWORD = "count password";
const SITE = "aggregate:site:north,south";

describe("hygeia dataset aggregate (real stack)", function () {
  let stack: TestStack;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let env: Record<string, string>;
  let studyId: string;

  const run = (args: readonly string[], options: CliOptions = {}) =>
    hygeia(args, { ...options, env: { ...env, ...options.env } });

  before(async () => {
    stack = await startTestStack({ config: { research: { minCell: 3 } } });
    ({ home, env } = await stackHome(stack, PASSWORD, [
      ["lab", stack.accounts.researcher],
      ["alice", stack.accounts.alice],
      ["bob", stack.accounts.bob],
      ["carol", stack.accounts.clinic2],
    ]));
    const protocolFile = join(home.home, "protocol.txt");
    await writeFile(protocolFile, "The site count protocol.\n");
    const irb = await IssuerClient.connect({
      connection: { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment },
      signer: stack.accounts.irb,
    });
    try {
      const approval = await irb.issue({
        type: CredentialType.EthicsApproval,
        subject: stack.accounts.researcher.address,
        claims: {
          studyId: "sites-2026",
          protocolTitle: "Sites 2026",
          approvalNumber: "IRB-9",
          protocolHash: keccak256(await readFile(protocolFile)),
        },
        expires: new Date(Date.now() + 365 * 86_400_000),
      });
      await writeFile(join(home.home, "approval.jwt"), `${approval.credential}\n`);
    } finally {
      await irb.close();
    }
    await writeFile(
      join(home.home, "researcher.jwt"),
      (await issueRoleCredential(stack, stack.accounts.researcher, "researcher")).credential,
    );
    await writeFile(join(home.home, "records.json"), JSON.stringify(syntheticPatient(3).resources));
    expect(
      (await run(["--wallet", "lab", "study", "credential", "--import", join(home.home, "researcher.jwt")])).code,
    ).to.equal(0);
    const registered = await run([
      "--wallet",
      "lab",
      "--json",
      "study",
      "register",
      "--slug",
      "sites-2026",
      "--approval-file",
      join(home.home, "approval.jwt"),
      "--scope",
      SITE,
      "--ends",
      "90d",
      "--protocol-file",
      protocolFile,
    ]);
    expect(registered.code, registered.stderr).to.equal(0);
    studyId = registered.json<{ studyId: string }>().studyId;
  });

  after(async () => {
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
    await home?.dispose();
  });

  it("opts patients in with --fact, sharing no record, and prints what is counted", async () => {
    for (const wallet of ["alice", "bob", "carol"]) {
      const joined = await run([
        "--wallet",
        wallet,
        "study",
        "opt-in",
        studyId,
        "--fhir",
        join(home.home, "records.json"),
        "--fact",
        "site=north",
        "--yes",
      ]);
      expect(joined.code, joined.stderr).to.equal(0);
      expect(joined.stdout).to.match(/de-identified: 0 records/);
      expect(joined.stdout).to.match(/Counted \(encrypted[^)]*\): site north/);
    }
  });

  it("prints the count the gateway released", async () => {
    const counted = await run(["--wallet", "lab", "--json", "dataset", "aggregate", studyId, "--dimension", "site"]);
    expect(counted.code, counted.stderr).to.equal(0);
    expect(counted.json()).to.deep.equal({ dimension: "site", cells: { north: 3, south: 0 }, total: 3, k: 3 });
    const text = await run(["--wallet", "lab", "dataset", "aggregate", studyId, "-d", "site"]);
    expect(text.stdout).to.match(/north: 3\n {2}south: 0\n {2}total: 3/);
  });

  it("prints a protocol document's hash, the protocolHash an approval names", async () => {
    await writeFile(join(home.home, "p.txt"), "a protocol\n");
    const printed = await run(["--json", "study", "protocol-hash", join(home.home, "p.txt")]);
    expect(printed.code, printed.stderr).to.equal(0);
    expect(printed.json()).to.deep.equal({ protocolHash: keccak256(new TextEncoder().encode("a protocol\n")) });
  });

  it("refuses bad flags with one line and exit 1, and a dimension the study does not count", async () => {
    const missing = await run([
      "--wallet",
      "alice",
      "study",
      "opt-in",
      studyId,
      "--fhir",
      join(home.home, "records.json"),
      "--yes",
    ]);
    expect(missing.code).to.equal(1);
    expect(oneErrorLine(missing)).to.match(/--fact/);
    const badFact = await run(["--wallet", "alice", "study", "opt-in", studyId, "--fhir", "x.json", "--fact", "site"]);
    expect(badFact.code).to.equal(1);
    expect(oneErrorLine(badFact)).to.match(/--fact/);
    const badDimension = await run(["--wallet", "lab", "dataset", "aggregate", studyId, "-d", "Site!"]);
    expect(badDimension.code).to.equal(1);
    expect(oneErrorLine(badDimension)).to.match(/--dimension/);
    const unknown = await run(["--wallet", "lab", "dataset", "aggregate", studyId, "-d", "sex"]);
    expect(unknown.code).not.to.equal(0);
    expect(oneErrorLine(unknown)).to.match(/counts only site/);
  });
});
