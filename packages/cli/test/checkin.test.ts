// The patient's `hygeia checkin` through the real binary against the real stack; the clinic's desk runs in this
// process (ClinicClient, which proves the clinic through the gateway's relay while it waits). The happy path is
// in test/e2e/cli-story.test.ts; here: what the patient's command refuses, and that it refuses before showing.
import { expect } from "chai";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { CredentialType } from "@hygeia/identity";
import { ClinicClient } from "@hygeia/sdk";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential } from "../../gateway/test/support/auth.ts";
import { hygeia, oneErrorLine, tempHome } from "./support/cli.ts";

describe("hygeia checkin (the patient's side, real stack)", function () {
  let stack: TestStack;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let env: Record<string, string>;
  let unlisted: ClinicClient; // a board's accreditation (so the gateway's clinic role), no standing on the TrustRegistry
  let credentialFile: string;

  before(async function () {
    stack = await startTestStack();
    home = await tempHome();
    env = {
      HYGEIA_HOME: home.home,
      HYGEIA_PASSWORD: "patient password",
      HYGEIA_GATEWAY_URL: stack.url,
      HYGEIA_RPC_URL: stack.local.rpcUrl,
    };
    const imported = await hygeia(["--json", "wallet", "import", "alice", "--private-key"], {
      env,
      input: stack.accounts.alice.privateKey,
    });
    expect(imported.code, imported.stderr).to.equal(0);
    unlisted = await ClinicClient.connect({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
      signer: stack.accounts.clinic2,
      encryptionKeys: [generateX25519KeyPair()],
    });
    await unlisted.presentAccreditation(
      (await issueRoleCredential(stack, stack.accounts.clinic2, "clinic")).credential,
    );
    await unlisted.publishKey();
    // Any well-formed credential: the command must refuse the clinic before it looks at what it would show.
    credentialFile = join(home.home, "card.jwt");
    await writeFile(credentialFile, (await issueRoleCredential(stack, stack.accounts.alice, "researcher")).credential);
  });
  after(async function () {
    await unlisted?.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
    await home?.dispose();
  });

  it("refuses a clinic without standing on the trust registry with exit 2, and nothing reaches the clinic", async function () {
    const opened = await unlisted.checkIns.open({
      credentials: [{ type: CredentialType.Researcher, claims: ["name"] }],
    });
    const waiting = unlisted.checkIns
      .waitForAnswer(opened.id, { intervalMs: 200, timeoutMs: 20_000 })
      .catch((error: unknown) => error);
    const run = await hygeia(["checkin", opened.url, "--present", credentialFile, "--yes"], { env });
    expect(run.code, run.stderr).to.equal(2);
    // The progress note ("verifying the clinic first…") comes first; the error is the one line after it.
    const lines = run.stderr.trim().split("\n");
    expect(lines).to.have.length(2);
    expect(lines[1]).to.match(
      /^hygeia: the clinic .* was not verified, nothing was disclosed .*not accredited as clinic/,
    );
    expect(run.stderr).to.not.match(/\n\s+at /);
    expect(await waiting).to.include({ code: "CHECK_IN_TIMEOUT" }); // no answer was ever posted
    expect(await unlisted.checkIns.status(opened.id)).to.equal("open");
  });

  it("refuses a link of another gateway and a credential file that is not one, before signing in (exit 1)", async function () {
    const foreign = await hygeia(
      [
        "--json",
        "checkin",
        "http://198.51.100.7/v1/checkins/0123456789abcdef0123456789abcdef",
        "--present",
        credentialFile,
        "--yes",
      ],
      { env },
    );
    expect(foreign.code).to.equal(1);
    expect(foreign.json<{ error: { code: string } }>().error.code).to.be.a("string");
    const garbage = join(home.home, "garbage.bin");
    await writeFile(garbage, Buffer.from([0, 1, 2, 255, 254]));
    const notCredential = await hygeia(["checkin", "0123456789abcdef0123456789abcdef", "--present", garbage], { env });
    expect(notCredential.code).to.equal(1);
    expect(oneErrorLine(notCredential)).to.include("neither an SD-JWT nor a JWT credential");
  });
});
