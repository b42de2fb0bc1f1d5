// The CLI's framework and wallet commands, through the real binary: JSON on stdout, exit codes, one-line errors,
// keystores on disk. No stack is needed (the down-gateway case uses a port nobody listens on).
import { expect } from "chai";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import getPort from "get-port";
import { Wallet, HDNodeWallet } from "ethers";
import { deriveEncryptionKey } from "../src/sdk.ts";
import { run } from "../src/program.ts";
import { hygeia, oneErrorLine, tempHome } from "./support/cli.ts";

const PASSWORD = "correct horse battery";

interface WalletJson {
  name: string;
  address: string;
  default: boolean;
  path: string;
  hasMnemonic: boolean;
  did: string | null;
  mnemonic?: string;
}

describe("hygeia wallet", function () {
  let home: Awaited<ReturnType<typeof tempHome>>;
  let env: Record<string, string>;
  const keyWallet = Wallet.createRandom();
  const phraseWallet = Wallet.createRandom();

  before(async () => {
    home = await tempHome();
    env = { HYGEIA_HOME: home.home, HYGEIA_PASSWORD: PASSWORD };
  });
  after(() => home.dispose());

  it("creates a wallet as a 0600 scrypt keystore, makes the first one the default, and prints one JSON document", async () => {
    const created = await hygeia(["--json", "wallet", "create", "alice", "--show-mnemonic"], { env });
    expect(created.code, created.stderr).to.equal(0);
    const wallet = created.json<WalletJson>();
    expect(wallet.name).to.equal("alice");
    expect(wallet.default).to.equal(true);
    expect(wallet.hasMnemonic).to.equal(true);
    expect(wallet.path).to.equal(join(home.home, "wallets", "alice.json"));
    // The phrase printed is the wallet's: it restores the same address.
    expect(HDNodeWallet.fromPhrase(wallet.mnemonic!).address).to.equal(wallet.address);
    const info = await stat(wallet.path);
    expect(info.mode & 0o777).to.equal(0o600);
    // Web3 Secret Storage v3 (ethers writes the section as "Crypto").
    const keystore = JSON.parse(await readFile(wallet.path, "utf8")) as Record<string, { kdf?: string } | undefined>;
    expect((keystore["crypto"] ?? keystore["Crypto"])?.kdf).to.equal("scrypt");
    // Any Ethereum tool opens it with the password.
    expect((await Wallet.fromEncryptedJson(JSON.stringify(keystore), PASSWORD)).address).to.equal(wallet.address);
  });

  it("keeps the recovery phrase out of --json unless --show-mnemonic", async () => {
    const created = await hygeia(["--json", "wallet", "create", "quiet"], { env });
    expect(created.code, created.stderr).to.equal(0);
    expect(created.json<WalletJson>()).to.not.have.property("mnemonic");
    expect(created.stdout.split(/\s+/).length).to.be.lessThan(60);
  });

  it("refuses to replace an existing wallet without --force (exit 6) and replaces it with --force", async () => {
    const again = await hygeia(["wallet", "create", "alice"], { env });
    expect(again.code).to.equal(6);
    expect(oneErrorLine(again)).to.match(/already exists.*--force/);
    const forced = await hygeia(["--json", "wallet", "create", "quiet", "--force"], { env });
    expect(forced.code, forced.stderr).to.equal(0);
  });

  it("imports a private key piped on stdin and a recovery phrase from a file, to the addresses ethers derives", async () => {
    const fromStdin = await hygeia(["--json", "wallet", "import", "keyed", "--private-key"], {
      env,
      input: `${keyWallet.privateKey}\n`,
    });
    expect(fromStdin.code, fromStdin.stderr).to.equal(0);
    expect(fromStdin.json<WalletJson>()).to.include({ name: "keyed", address: keyWallet.address, hasMnemonic: false });

    const file = join(home.home, "phrase.txt");
    await writeFile(file, `  ${phraseWallet.mnemonic!.phrase.toUpperCase()}  \n`);
    const fromFile = await hygeia(["--json", "wallet", "import", "phrased", "--mnemonic", "--from-file", file], {
      env,
    });
    expect(fromFile.code, fromFile.stderr).to.equal(0);
    expect(fromFile.json<WalletJson>()).to.include({ address: phraseWallet.address, hasMnemonic: true });
  });

  it("refuses a secret of the other kind than the flag says, and an empty stdin, with exit 1", async () => {
    const mismatch = await hygeia(["wallet", "import", "x1", "--mnemonic"], { env, input: keyWallet.privateKey });
    expect(mismatch.code).to.equal(1);
    expect(oneErrorLine(mismatch)).to.include("--mnemonic was given but the secret is a private key");
    const empty = await hygeia(["wallet", "import", "x2"], { env });
    expect(empty.code).to.equal(1);
    expect(oneErrorLine(empty)).to.include("stdin was empty");
    const garbage = await hygeia(["--json", "wallet", "import", "x3"], { env, input: "not a secret at all" });
    expect(garbage.code).to.equal(1);
    expect(garbage.json<{ error: { code: string } }>().error.code).to.equal("INVALID_SECRET");
    expect(garbage.stdout).to.not.include("not a secret at all");
  });

  it("lists the wallets with the default marked, and changes the default", async () => {
    const listed = await hygeia(["--json", "wallet", "list"], { env });
    expect(listed.code, listed.stderr).to.equal(0);
    const { wallets } = listed.json<{ wallets: WalletJson[] }>();
    expect(wallets.map((w) => w.name)).to.deep.equal(["alice", "keyed", "phrased", "quiet"]);
    expect(wallets.filter((w) => w.default).map((w) => w.name)).to.deep.equal(["alice"]);

    const human = await hygeia(["wallet", "list"], { env });
    expect(human.stdout).to.match(/^NAME\s+ADDRESS\s+PHRASE\n/);
    expect(human.stdout).to.match(/alice \*\s+0x/);

    expect((await hygeia(["wallet", "default", "keyed"], { env })).code).to.equal(0);
    const shown = await hygeia(["--json", "wallet", "show"], { env });
    expect(shown.json<WalletJson>()).to.include({ name: "keyed", address: keyWallet.address, default: true });
    expect((await hygeia(["wallet", "default", "alice"], { env })).code).to.equal(0);
  });

  it("shows a wallet's did:ethr on the deployment's chain without asking a password", async () => {
    const deployment = join(home.home, "deployment.json");
    await writeFile(
      deployment,
      JSON.stringify({
        chainId: 31337,
        deployedAt: { block: 1, blockHash: `0x${"00".repeat(32)}` },
        deployer: keyWallet.address,
        governance: keyWallet.address,
        contracts: {
          EthereumDIDRegistry: keyWallet.address,
          ConsentRegistry: keyWallet.address,
          TrustRegistry: keyWallet.address,
          AuditAnchor: keyWallet.address,
        },
      }),
    );
    const shown = await hygeia(["--json", "--deployment", deployment, "wallet", "show", "keyed"], {
      env: { HYGEIA_HOME: home.home },
    });
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.json<WalletJson>().did).to.equal(`did:ethr:0x7a69:${keyWallet.address.toLowerCase()}`);
  });

  it("exports the X25519 public key the SDK derives from the wallet's signature", async () => {
    const exported = await hygeia(["--json", "wallet", "export-public", "keyed"], { env });
    expect(exported.code, exported.stderr).to.equal(0);
    const expected = await deriveEncryptionKey(keyWallet, 0);
    expect(exported.json<{ encryptionKey: { publicKeyBase64: string } }>().encryptionKey.publicKeyBase64).to.equal(
      Buffer.from(expected.publicKey).toString("base64"),
    );
  });

  it("lets only one of two concurrent creates of one name win; the other exits 6 and no key is lost", async () => {
    const [a, b] = await Promise.all([
      hygeia(["--json", "wallet", "create", "twin", "--show-mnemonic"], { env }),
      hygeia(["--json", "wallet", "create", "twin", "--show-mnemonic"], { env }),
    ]);
    expect([a.code, b.code].sort()).to.deep.equal([0, 6]);
    const winner = (a.code === 0 ? a : b).json<WalletJson>();
    const loser = (a.code === 0 ? b : a).json<{ error: { code: string } }>();
    expect(loser.error.code).to.equal("WALLET_EXISTS");
    const saved = JSON.parse(await readFile(join(home.home, "wallets", "twin.json"), "utf8")) as { address: string };
    expect(`0x${saved.address}`.toLowerCase()).to.equal(winner.address.toLowerCase());
  });

  it("names the path when the home or an output path cannot be used (exit 1, one line, nothing downloaded)", async () => {
    const file = join(home.home, "not-a-folder");
    await writeFile(file, "x");
    const homeIsFile = await hygeia(["wallet", "list"], { env: { ...env, HYGEIA_HOME: file } });
    expect(homeIsFile.code).to.equal(1);
    expect(oneErrorLine(homeIsFile)).to.include(file);
    const noFolder = await hygeia(
      ["record", "get", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "-o", join(file, "x.json")],
      {
        env,
      },
    );
    expect(noFolder.code).to.equal(1);
    expect(oneErrorLine(noFolder)).to.include("does not exist");
  });

  it("exits 4 with one line naming the wallet on a wrong password", async () => {
    const wrong = await hygeia(["wallet", "export-public", "alice"], {
      env: { ...env, HYGEIA_PASSWORD: "not the password" },
    });
    expect(wrong.code).to.equal(4);
    expect(oneErrorLine(wrong)).to.match(/^hygeia: wrong password for wallet "alice" — /);
    const json = await hygeia(["--json", "wallet", "export-public", "alice"], {
      env: { ...env, HYGEIA_PASSWORD: "not the password" },
    });
    expect(json.code).to.equal(4);
    expect(json.json<{ error: { code: string; kind: string } }>().error).to.include({
      code: "WRONG_PASSWORD",
      kind: "auth",
    });
  });

  it("asks for HYGEIA_PASSWORD when there is no terminal to prompt on (exit 1)", async () => {
    const noPassword = await hygeia(["wallet", "export-public", "alice"], { env: { HYGEIA_HOME: home.home } });
    expect(noPassword.code).to.equal(1);
    expect(oneErrorLine(noPassword)).to.include("HYGEIA_PASSWORD");
  });

  it("lists every readable wallet beside a damaged keystore, which only the commands using it refuse (exit 7)", async () => {
    const other = await tempHome();
    try {
      const env2 = { HYGEIA_HOME: other.home, HYGEIA_PASSWORD: PASSWORD };
      for (const [name, wallet] of [
        ["alice", keyWallet],
        ["bob", phraseWallet],
      ] as const) {
        const imported = await hygeia(["--json", "wallet", "import", name, "--private-key"], {
          env: env2,
          input: wallet.privateKey,
        });
        expect(imported.code, imported.stderr).to.equal(0);
      }
      // A keystore cut off mid-write (a full disk, a bad copy), and one that is JSON but holds no key.
      const dir = join(other.home, "wallets");
      const whole = await readFile(join(dir, "bob.json"), "utf8");
      const truncated = join(dir, "broken.json");
      await writeFile(truncated, whole.slice(0, whole.length / 2), { mode: 0o600 });
      const keyless = join(dir, "keyless.json");
      await writeFile(keyless, JSON.stringify({ address: keyWallet.address.slice(2), version: 3 }), { mode: 0o600 });

      const listed = await hygeia(["--json", "wallet", "list"], { env: env2 });
      expect(listed.code, listed.stderr).to.equal(0);
      const { wallets } = listed.json<{ wallets: (WalletJson & { damaged?: string })[] }>();
      expect(wallets.map((w) => w.name)).to.deep.equal(["alice", "bob", "broken", "keyless"]);
      expect(wallets[0]).to.include({ address: keyWallet.address, default: true });
      expect(wallets[0]).to.not.have.property("damaged");
      expect(wallets[1]).to.include({ address: phraseWallet.address, default: false });
      expect(wallets[2]).to.include({ path: truncated, default: false });
      expect(wallets[2]!.damaged).to.match(/not JSON/);
      expect(wallets[3]).to.include({ path: keyless });
      expect(wallets[3]!.damaged).to.match(/no encrypted key/);

      const human = await hygeia(["wallet", "list"], { env: env2 });
      expect(human.code, human.stderr).to.equal(0);
      expect(human.stdout).to.match(/alice \*\s+0x/);
      expect(human.stdout).to.match(/broken\s+damaged: not JSON/);
      expect(human.stdout).to.include(truncated);

      // The default and any other healthy wallet keep working.
      const shown = await hygeia(["--json", "wallet", "show"], { env: env2 });
      expect(shown.code, shown.stderr).to.equal(0);
      expect(shown.json<WalletJson>()).to.include({ name: "alice" });
      const exported = await hygeia(["--json", "wallet", "export-public", "bob"], { env: env2 });
      expect(exported.code, exported.stderr).to.equal(0);
      expect(exported.json<WalletJson>().address).to.equal(phraseWallet.address);

      // Using the damaged one: exit 7 naming the file, and it is never made the default.
      const show = await hygeia(["wallet", "show", "broken"], { env: env2 });
      expect(show.code).to.equal(7);
      expect(oneErrorLine(show)).to.include(truncated);
      const unlock = await hygeia(["--json", "--wallet", "keyless", "wallet", "export-public"], { env: env2 });
      expect(unlock.code).to.equal(7);
      const error = unlock.json<{ error: { code: string; kind: string; message: string } }>().error;
      expect(error).to.include({ code: "KEYSTORE_INVALID", kind: "integrity" });
      expect(error.message).to.include(keyless);
      const marked = await hygeia(["wallet", "default", "broken"], { env: env2 });
      expect(marked.code).to.equal(7);
      expect(oneErrorLine(marked)).to.include(truncated);
      expect((await hygeia(["--json", "wallet", "show"], { env: env2 })).json<WalletJson>().name).to.equal("alice");

      // Repaired by importing the wallet again over it.
      const repaired = await hygeia(["--json", "wallet", "import", "broken", "--private-key", "--force"], {
        env: env2,
        input: phraseWallet.privateKey,
      });
      expect(repaired.code, repaired.stderr).to.equal(0);
      const relisted = await hygeia(["--json", "wallet", "list"], { env: env2 });
      expect(
        relisted.json<{ wallets: { name: string; damaged?: string }[] }>().wallets.filter((w) => w.damaged),
      ).to.have.length(1);
    } finally {
      await other.dispose();
    }
  });

  it("refuses a wallet name that is not a safe file name, and a wallet that does not exist (exit 1, 5)", async () => {
    const bad = await hygeia(["wallet", "create", "../evil"], { env });
    expect(bad.code).to.equal(1);
    expect(oneErrorLine(bad)).to.include("not a valid name");
    const missing = await hygeia(["wallet", "show", "nobody"], { env });
    expect(missing.code).to.equal(5);
    expect(oneErrorLine(missing)).to.include('no wallet named "nobody"');
  });
});

describe("hygeia usage and service errors", function () {
  it("exits 1 with one line on an unknown command and an unknown flag", async () => {
    const command = await hygeia(["frobnicate"]);
    expect(command.code).to.equal(1);
    expect(oneErrorLine(command)).to.include("unknown command 'frobnicate'");
    const flag = await hygeia(["wallet", "list", "--frobnicate"]);
    expect(flag.code).to.equal(1);
    expect(oneErrorLine(flag)).to.include("unknown option '--frobnicate'");
  });

  it("with --json, a usage error is one JSON error document on stdout and exit 1", async () => {
    const flag = await hygeia(["--json", "wallet", "list", "--frobnicate"]);
    expect(flag.code).to.equal(1);
    expect(flag.json<{ error: { kind: string; message: string; hint: string } }>().error).to.include({
      kind: "usage",
      message: "unknown option '--frobnicate'",
    });
    expect(flag.stderr).to.equal("");
  });

  it("exits 3 with one line naming the gateway and the URL tried when the gateway is down", async () => {
    const port = await getPort();
    const url = `http://127.0.0.1:${port}`;
    const down = await hygeia(["--gateway", url, "status"]);
    expect(down.code).to.equal(3);
    expect(oneErrorLine(down)).to.match(
      new RegExp(`^hygeia: the gateway at ${url} cannot be reached: connection refused — `),
    );
    const json = await hygeia(["--json", "--gateway", url, "status"]);
    expect(json.code).to.equal(3);
    expect(json.json<{ error: { code: string; kind: string } }>().error).to.include({
      code: "SERVICE_UNREACHABLE",
      kind: "unavailable",
    });
  });

  it("prints a stack trace only with --verbose", async () => {
    const port = await getPort();
    const verbose = await hygeia(["--verbose", "--gateway", `http://127.0.0.1:${port}`, "status"]);
    expect(verbose.code).to.equal(3);
    expect(verbose.stderr).to.match(/\n\s+at /);
  });

  it("has examples in the --help of every command", async () => {
    const program = (await import("../src/program.ts")).buildProgram(
      { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
      {},
    );
    const paths: string[][] = [[]];
    const walk = (command: typeof program, path: string[]) => {
      for (const sub of command.commands) {
        if (sub.name() === "help") continue;
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(program, []);
    expect(paths.length).to.be.greaterThan(5);
    for (const path of paths) {
      let out = "";
      const sink = { write: (text: string) => ((out += text), true) } as unknown as NodeJS.WritableStream;
      const code = await run([...path, "--help"], { stdout: sink, stderr: sink, stdin: process.stdin }, {});
      expect(code, path.join(" ")).to.equal(0);
      expect(out, `hygeia ${path.join(" ")} --help`).to.include("Examples:");
      expect(out).to.include("$ hygeia");
    }
  });
});
