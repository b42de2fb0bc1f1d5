// A clinic's commands through the real `hygeia` binary against the real stack (anvil with the contracts, Helia, the
// SQLite gateway on a socket): the accreditation a medical board issued accepted and saved (one from an issuer that
// is no board refused), a patient's records fetched and decrypted under the consent the patient granted with the
// CLI (the others refused), and a check-in: answered by a patient's wallet, or timing out.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TransactionSender, TrustRegistryClient, TrustRole } from "@hygeia/chain";
import { CredentialType, IdentityAgent, ethrNetworkFromDeployment, issueSdJwtCredential } from "@hygeia/identity";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential } from "../../gateway/test/support/auth.ts";
import { IssuerClient, answerCheckIn, readCheckIn, verifyCheckInClinic } from "@hygeia/sdk";
import { GatewayTransport, signIn } from "../src/sdk.ts";
import { hygeia, oneErrorLine, stackHome, type CliOptions, type tempHome } from "./support/cli.ts";

const PASSWORD = "clinic password";

interface Fetched {
  patient: string;
  purpose: string;
  readable: { cid: string; path: string; bytes: number; resourceType?: string }[];
  refused: { cid: string; code: string; message: string; hint: string }[];
}

describe("hygeia clinic commands (real stack)", function () {
  let stack: TestStack;
  let home: Awaited<ReturnType<typeof tempHome>>;
  let env: Record<string, string>;
  let accreditation: string; // by the stack's medical board, to the clinic
  let forged: string; // "by" bob, who is accredited for nothing
  let clinicDid: string;

  const run = (args: readonly string[], options: CliOptions = {}) =>
    hygeia(args, { ...options, env: { ...env, ...options.env } });
  const asClinic = (args: readonly string[], options: CliOptions = {}) => run(["--wallet", "clinic", ...args], options);
  const asAlice = (args: readonly string[], options: CliOptions = {}) => run(["--wallet", "alice", ...args], options);

  before(async () => {
    stack = await startTestStack();
    ({ home, env } = await stackHome(stack, PASSWORD, [
      ["alice", stack.accounts.alice],
      ["clinic", stack.accounts.clinic],
    ]));
    // The clinic publishes its key, so the patient's wallet can wrap record keys (and seal check-ins) to it.
    const published = await asClinic(["--json", "did", "publish-key"]);
    expect(published.code, published.stderr).to.equal(0);
    clinicDid = published.json<{ did: string }>().did;

    // The stack's medical board issues the clinic's accreditation (the issuer commands have their own test).
    const board = await IssuerClient.connect({
      connection: { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl, deployment: stack.deployment },
      signer: stack.accounts.board,
    });
    try {
      accreditation = (
        await board.issue({
          type: CredentialType.ClinicAccreditation,
          subject: stack.accounts.clinic.address,
          claims: {
            clinicName: "Harbor Virtual Clinic",
            accreditationNumber: "HB-2026-7",
            specialties: ["general-practice"],
            virtual: true,
            jurisdiction: "NL",
          },
          expires: new Date(Date.now() + 180 * 86_400_000),
        })
      ).credential;
    } finally {
      await board.close();
    }
    forged = (await issueRoleCredential(stack, stack.accounts.clinic, "clinic", { issuer: stack.accounts.bob }))
      .credential;
  });

  after(async () => {
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
    await home?.dispose();
  });

  describe("accreditation", () => {
    it("refuses a credential from an issuer that is not an accredited medical board with exit 2, saving nothing", async () => {
      const file = join(home.home, "forged.jwt");
      await writeFile(file, forged);
      const refused = await asClinic(["clinic", "accreditation", "--import", file]);
      expect(refused.code).to.equal(2);
      expect(oneErrorLine(refused)).to.match(/issuer-trust.*medical board/);
      await stat(join(home.home, "state", "clinic.json")).then(
        async () =>
          expect(JSON.parse(await readFile(join(home.home, "state", "clinic.json"), "utf8"))).to.not.have.property(
            "accreditation",
          ),
        () => undefined, // no state file at all: nothing saved either
      );
    });

    it("presents the board's credential, gets the clinic role and saves the credential for later commands", async () => {
      const file = join(home.home, "clinic.jwt");
      await writeFile(file, `${accreditation}\n`);
      const accepted = await asClinic(["--json", "clinic", "accreditation", "--import", file]);
      expect(accepted.code, accepted.stderr).to.equal(0);
      const granted = accepted.json<{ did: string; role: string; issuer: string; saved: boolean; claims: object }>();
      expect(granted).to.include({ role: "clinic", saved: true });
      expect(granted.did).to.equal(clinicDid);
      expect(granted.issuer).to.equal(`did:ethr:0x7a69:${stack.accounts.board.address.toLowerCase()}`);
      expect(granted.claims).to.include({ clinicName: "Harbor Virtual Clinic" });
      const state = JSON.parse(await readFile(join(home.home, "state", "clinic.json"), "utf8")) as {
        accreditation?: string;
      };
      expect(state.accreditation).to.equal(accreditation);
    });

    it("prints a wallet's DID in one form in every command: the SDK's didOf (chain id in hex, address lowercase)", async () => {
      const clinic = stack.accounts.clinic.address;
      const expected = `did:ethr:0x7a69:${clinic.toLowerCase()}`;
      expect(clinicDid).to.equal(expected); // did publish-key
      const outputs = {
        "wallet show": await asClinic(["--json", "wallet", "show"]),
        "wallet export-public": await asClinic(["--json", "wallet", "export-public"]),
        "clinic accreditation": await asClinic(["--json", "clinic", "accreditation"]),
        "issuer standing": await asClinic(["--json", "issuer", "standing", clinic]),
      };
      for (const [command, output] of Object.entries(outputs)) {
        expect(output.code, `${command}: ${output.stderr}`).to.equal(0);
        expect(output.json<{ did: string }>().did, command).to.equal(expected);
      }
      // Addresses: EIP-55, as wallets give them.
      expect(outputs["wallet show"].json<{ address: string }>().address).to.equal(clinic);
      expect(outputs["clinic accreditation"].json<{ address: string }>().address).to.equal(clinic);
      expect(outputs["issuer standing"].json<{ issuer: string }>().issuer).to.equal(clinic);
      // The same DID in human output.
      const human = await asClinic(["clinic", "accreditation"]);
      expect(human.code, human.stderr).to.equal(0);
      expect(human.stdout).to.include(expected);
      expect(human.stdout).to.include(`did:ethr:0x7a69:${stack.accounts.board.address.toLowerCase()}`);
    });
  });

  describe("fetch", () => {
    const observation = {
      resourceType: "Observation",
      status: "final",
      code: { text: "Hemoglobin A1c" },
      valueQuantity: { value: 6.1, unit: "%" },
    };
    const report = randomBytes(200_000); // a laboratory PDF: covered by the consent
    const scan = randomBytes(50_000); // imaging: not covered
    let labCid: string;
    let reportCid: string;
    let scanCid: string;
    let labFile: string;
    /** The patient as a did:ethr (the first fetch takes the address). */
    const aliceDid = () => `did:ethr:0x7a69:${stack.accounts.alice.address.toLowerCase()}`;

    before(async () => {
      labFile = join(home.home, "a1c.json");
      await writeFile(labFile, JSON.stringify(observation));
      const reportFile = join(home.home, "report.pdf");
      await writeFile(reportFile, report);
      const scanFile = join(home.home, "scan.pdf");
      await writeFile(scanFile, scan);
      const cids: string[] = [];
      for (const [file, category] of [
        [labFile, "laboratory"],
        [reportFile, "laboratory"],
        [scanFile, "imaging"],
      ] as const) {
        const added = await asAlice(["--json", "record", "add", file, "--category", category]);
        expect(added.code, added.stderr).to.equal(0);
        cids.push(added.json<{ cid: string }>().cid);
      }
      [labCid, reportCid, scanCid] = cids as [string, string, string];
      const granted = await asAlice([
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
      expect(granted.json<{ shared: number }>().shared).to.equal(2);
    });

    it("downloads and decrypts every record the consent covers into 0600 files, byte for byte", async () => {
      const dir = join(home.home, "records");
      const fetched = await asClinic([
        "--json",
        "clinic",
        "fetch",
        stack.accounts.alice.address,
        "--purpose",
        "Treatment",
        "-o",
        dir,
      ]);
      expect(fetched.code, fetched.stderr).to.equal(0);
      expect(fetched.stderr).to.equal("");
      const result = fetched.json<Fetched>();
      expect(result.refused).to.deep.equal([]);
      expect(result.readable.map((r) => r.cid)).to.have.members([labCid, reportCid]);
      const lab = result.readable.find((r) => r.cid === labCid)!;
      expect(lab).to.include({ path: join(dir, `${labCid}.json`), resourceType: "Observation" });
      expect(Buffer.compare(await readFile(lab.path), await readFile(labFile))).to.equal(0);
      const pdf = result.readable.find((r) => r.cid === reportCid)!;
      expect(pdf).to.include({ path: join(dir, `${reportCid}.bin`), bytes: report.length });
      expect(Buffer.compare(await readFile(pdf.path), report)).to.equal(0);
      for (const name of await readdir(dir)) expect((await stat(join(dir, name))).mode & 0o777).to.equal(0o600);
      expect(await readdir(dir)).to.have.length(2);
    });

    it("reports a record the consent does not cover as refused, and exits 2 with one line when nothing is readable", async () => {
      const dir = join(home.home, "asked");
      const some = await asClinic(["--json", "clinic", "fetch", aliceDid(), "--cid", labCid, scanCid, "-o", dir]);
      expect(some.code, some.stderr).to.equal(0);
      const result = some.json<Fetched>();
      expect(result.readable.map((r) => r.cid)).to.deep.equal([labCid]);
      expect(result.refused.map((r) => [r.cid, r.code])).to.deep.equal([[scanCid, "CONSENT_REQUIRED"]]);
      expect(await readdir(dir)).to.deep.equal([`${labCid}.json`]);

      const none = await asClinic(["clinic", "fetch", aliceDid(), "--cid", scanCid, "-o", join(home.home, "none")]);
      expect(none.code).to.equal(2);
      expect(oneErrorLine(none)).to.match(/consent/i);
      await stat(join(home.home, "none")).then(
        () => expect.fail("no directory is made when nothing could be read"),
        () => undefined,
      );
    });
  });

  describe("checkin", () => {
    it("prints the link (no QR code without a terminal) and gives up after --timeout with one error line", async () => {
      const started = Date.now();
      const waited = await asClinic([
        "clinic",
        "checkin",
        "--ask",
        "PatientIdentityCredential:givenName,birthDate",
        "--timeout",
        "2",
      ]);
      expect(waited.code).to.equal(5);
      const lines = waited.stderr.split("\n").filter((line) => line !== "");
      expect(lines[0]).to.match(new RegExp(`^check-in link: ${stack.url}/v1/checkins/[0-9a-f]{32}$`));
      expect(lines[1]).to.match(/^Waiting for the patient/);
      expect(lines).to.have.length(3);
      expect(lines[2]).to.match(/^hygeia: no answer from the patient within 2 s .* — .*--timeout/);
      expect(waited.stdout).to.equal("");
      expect(Date.now() - started).to.be.lessThan(30_000);
    });

    it("refuses an unknown credential type to ask for with exit 1", async () => {
      const bad = await asClinic(["clinic", "checkin", "--ask", "Passport:number"]);
      expect(bad.code).to.equal(1);
      expect(oneErrorLine(bad)).to.include("--ask");
    });

    it("checks a patient in: the wallet verifies the clinic through the relay, and only the claims asked for come back", async () => {
      // The clinic's own standing on the TrustRegistry (the wallet checks it) and an identity issuer.
      const trust = new TrustRegistryClient(
        stack.deployment.contracts.TrustRegistry,
        new TransactionSender(stack.accounts.governance),
      );
      const now = Math.floor(Date.now() / 1000);
      for (const [issuer, role] of [
        [stack.accounts.clinic.address, TrustRole.Clinic],
        [stack.accounts.bob.address, TrustRole.IdentityIssuer],
      ] as const)
        await trust.accredit({ issuer, role, validFrom: now - 60, validUntil: now + 86_400 });

      const network = ethrNetworkFromDeployment(stack.deployment, stack.local.rpcUrl);
      const patientAgent = await IdentityAgent.create({ network, watchRegistry: false });
      const issuerAgent = await IdentityAgent.create({ network, watchRegistry: false });
      try {
        const alice = await patientAgent.importEthrDid(stack.accounts.alice.privateKey, "alice");
        const idIssuer = await issuerAgent.importEthrDid(stack.accounts.bob.privateKey, "identity-issuer");
        const identity = await issueSdJwtCredential(issuerAgent, {
          issuer: idIssuer.did,
          type: CredentialType.PatientIdentity,
          subject: { id: alice.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" },
          holderPublicJwk: await patientAgent.signingPublicJwk(alice.did),
        });
        const patient = new GatewayTransport({ url: stack.url });
        await signIn(patient, stack.accounts.alice);
        const wallet = { agent: patientAgent, did: alice.did, trustRegistry: stack.deployment.contracts.TrustRegistry };

        let answering: Promise<unknown> | undefined;
        const checkedIn = await asClinic(
          ["--json", "clinic", "checkin", "-a", "PatientIdentityCredential:givenName,birthDate", "--timeout", "60"],
          {
            onStderr: (stderr) => {
              const link = /check-in link: (\S+)/.exec(stderr)?.[1];
              if (link === undefined || answering !== undefined) return;
              answering = (async () => {
                const checkIn = await readCheckIn(patient, link);
                const clinic = await verifyCheckInClinic({ wallet, checkIn, transport: patient });
                return answerCheckIn({
                  transport: patient,
                  wallet,
                  checkIn,
                  clinic,
                  credentials: [{ sdJwt: identity }],
                });
              })().catch((error: unknown) => error);
            },
          },
        );
        const answered = await answering;
        expect(answered, String(answered)).to.not.be.instanceOf(Error);
        expect(checkedIn.code, checkedIn.stderr).to.equal(0);
        const result = checkedIn.json<{
          ok: boolean;
          disclosed: Record<string, Record<string, unknown>>;
          patient: { did: string };
        }>();
        expect(result.ok).to.equal(true);
        expect(result.disclosed).to.deep.equal({
          PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
        });
        expect(checkedIn.stdout).to.not.include("Lovelace");
        expect(result.patient.did).to.equal(`did:ethr:0x7a69:${stack.accounts.alice.address.toLowerCase()}`);
      } finally {
        await patientAgent.close();
        await issuerAgent.close();
      }
    });
  });
});
