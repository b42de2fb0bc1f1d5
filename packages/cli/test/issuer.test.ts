// The issuer's and governance's commands through the real `hygeia` binary against the real stack (anvil with the
// contracts, Helia, the SQLite gateway on a socket): governance accredits a new medical board on the TrustRegistry,
// the board issues a clinic accreditation to a file, and suspends, reinstates and revokes it, which the gateway
// sees when the clinic presents it.
import { expect } from "chai";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TrustRegistryClient } from "@hygeia/chain";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { hygeia, oneErrorLine, stackHome, type CliOptions, type tempHome } from "./support/cli.ts";

const PASSWORD = "issuer password";

interface StatusChangeJson {
  status: string;
  previous: string;
  changed: boolean;
  published: { url: string }[];
}

describe("hygeia issuer commands (real stack)", function () {
  let stack: TestStack;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let env: Record<string, string>;
  let boardDid: string;
  let clinicDid: string;
  let credentialFile: string;

  const run = (args: readonly string[], options: CliOptions = {}) =>
    hygeia(args, { ...options, env: { ...env, ...options.env } });

  /** A JWT's payload, decoded (no verification: the gateway verifies in the tests below). */
  const payloadOf = (jwt: string) =>
    JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;

  before(async () => {
    stack = await startTestStack();
    // A board the stack did not accredit (account 9): governance accredits it below.
    ({ home, env } = await stackHome(stack, PASSWORD, [
      ["governance", stack.accounts.governance],
      ["board", stack.local.account(9)],
      ["clinic", stack.accounts.clinic],
    ]));
    const chainDid = (address: string) =>
      `did:ethr:0x${stack.deployment.chainId.toString(16)}:${address.toLowerCase()}`;
    boardDid = chainDid(stack.local.account(9).address);
    clinicDid = chainDid(stack.accounts.clinic.address);
    credentialFile = join(home.home, "clinic.jwt");
  });

  after(async () => {
    await stack?.close();
    await home?.dispose();
  });

  it("lets governance accredit a medical board (read back from the chain), and refuses anyone else with exit 2", async () => {
    const trust = new TrustRegistryClient(stack.deployment.contracts.TrustRegistry, stack.provider);
    const board = stack.local.account(9).address;
    expect(await trust.isTrusted(board, "medical-board")).to.equal(false);

    const accredited = await run([
      "--json",
      "--wallet",
      "governance",
      "issuer",
      "accredit",
      boardDid,
      "--role",
      "medical-board",
    ]);
    expect(accredited.code, accredited.stderr).to.equal(0);
    const change = accredited.json<{
      did: string;
      role: string;
      changed: boolean;
      transaction: string;
      standing: { trusted: boolean; state: string };
    }>();
    expect(change).to.include({ role: "medical-board", changed: true });
    expect(change.did).to.equal(boardDid);
    expect(change.transaction).to.match(/^0x[0-9a-f]{64}$/);
    expect(change.standing).to.include({ trusted: true, state: "active" });
    expect(await trust.isTrusted(board, "medical-board")).to.equal(true);

    // The board is no governance: refused before anything is sent.
    const refused = await run(["--wallet", "board", "issuer", "accredit", clinicDid, "--role", "clinic"]);
    expect(refused.code).to.equal(2);
    expect(oneErrorLine(refused)).to.match(/governance/i);
    expect(await trust.isTrusted(stack.accounts.clinic.address, "clinic")).to.equal(false);
  });

  it("issues a ClinicAccreditationCredential to the clinic's address into a 0600 file, which the gateway accepts", async () => {
    const claims = join(home.home, "clinic-claims.json");
    await writeFile(
      claims,
      JSON.stringify({
        clinicName: "Harbor Virtual Clinic",
        accreditationNumber: "HB-2026-1",
        specialties: ["general-practice"],
        virtual: true,
        jurisdiction: "NL",
      }),
    );
    const expires = new Date(Date.now() + 180 * 86_400_000).toISOString().slice(0, 10);
    const args = [
      "--wallet",
      "board",
      "issuer",
      "issue",
      "--type",
      "ClinicAccreditationCredential",
      "--subject",
      stack.accounts.clinic.address,
      "--claims",
      `@${claims}`,
      "--expires",
      expires,
      "-o",
      credentialFile,
    ];
    const issued = await run(["--json", ...args]);
    expect(issued.code, issued.stderr).to.equal(0);
    const result = issued.json<{
      credential: string;
      format: string;
      type: string;
      issuer: string;
      subject: string;
      status: { format: string; index: number } | null;
      path: string;
    }>();
    expect(result).to.include({ format: "jwt", type: "ClinicAccreditationCredential", path: credentialFile });
    expect(result.issuer).to.equal(boardDid);
    expect(result.subject).to.equal(clinicDid);
    expect(result.status).to.include({ format: "bitstring" });
    expect((await readFile(credentialFile, "utf8")).trim()).to.equal(result.credential);
    expect((await stat(credentialFile)).mode & 0o777).to.equal(0o600);
    const payload = payloadOf(result.credential);
    expect(String(payload["iss"]).toLowerCase()).to.equal(boardDid);
    expect(String(payload["sub"]).toLowerCase()).to.equal(clinicDid);

    // The file is never overwritten (the old credential is what revoke takes): refused before anything is issued.
    const again = await run(args);
    expect(again.code).to.equal(6);
    expect(oneErrorLine(again)).to.include("already exists");
    expect((await readFile(credentialFile, "utf8")).trim()).to.equal(result.credential);

    const presented = await run([
      "--json",
      "--wallet",
      "clinic",
      "clinic",
      "accreditation",
      "--import",
      credentialFile,
    ]);
    expect(presented.code, presented.stderr).to.equal(0);
    expect(presented.json<{ role: string; saved: boolean }>()).to.include({ role: "clinic", saved: true });
  });

  it("suspends, reinstates and revokes the credential: the gateway refuses it while suspended, revocation is final", async () => {
    const suspended = await run(["--json", "--wallet", "board", "issuer", "suspend", credentialFile]);
    expect(suspended.code, suspended.stderr).to.equal(0);
    const suspension = suspended.json<StatusChangeJson>();
    expect(suspension).to.include({ status: "suspended", previous: "valid", changed: true });
    expect(suspension.published.length).to.be.greaterThan(0);

    // The gateway reuses a status list it fetched for statusListTtlMs: the suspension bites after that.
    await new Promise((resolve) => setTimeout(resolve, stack.config.identity.statusListTtlMs + 500));
    const refused = await run(["--wallet", "clinic", "clinic", "accreditation", "--import", credentialFile]);
    expect(refused.code).to.equal(2);
    expect(oneErrorLine(refused)).to.match(/status/);

    const reinstated = await run(["--json", "--wallet", "board", "issuer", "reinstate", credentialFile]);
    expect(reinstated.code, reinstated.stderr).to.equal(0);
    expect(reinstated.json<StatusChangeJson>()).to.include({ status: "valid", previous: "suspended", changed: true });

    const revoked = await run(["--json", "--wallet", "board", "issuer", "revoke", credentialFile]);
    expect(revoked.code, revoked.stderr).to.equal(0);
    expect(revoked.json<StatusChangeJson>()).to.include({ status: "revoked", previous: "valid", changed: true });

    const status = await run(["--json", "--wallet", "board", "issuer", "status", credentialFile]);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.json<{ status: string }>().status).to.equal("revoked");

    const final = await run(["--wallet", "board", "issuer", "suspend", credentialFile]);
    expect(final.code).to.equal(6);
    expect(oneErrorLine(final)).to.match(/revoked/);
  });
});
