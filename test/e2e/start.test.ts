// `npm start` as a user runs it: the local chain comes up, contracts are deployed, the gateway answers,
// Ctrl-C stops everything without orphans (the gateway first, its audit batch anchored), and the next
// start reuses the same chain state, deployment and gateway data. One start per data dir; failures say
// why in one line; blocks come without transactions; the banner tells each demo account's on-chain
// standing as the contracts report it.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { expect } from "chai";
import { Contract, HDNodeWallet, JsonRpcProvider, hexlify, id, randomBytes } from "ethers";
import {
  AuditAnchorClient,
  ConsentRegistryAbi,
  LOCAL_MNEMONIC,
  TrustRegistryAbi,
  anvilBinaryPath,
  readDeployment,
  startLocalChain,
} from "@hygeia/chain";
import { signIn } from "../../packages/gateway/test/support/auth.ts";
import { request } from "../../packages/gateway/test/support/http.ts";

/** The --json line (a subset of its fields). */
interface StackInfo {
  rpcUrl: string;
  chainId: number;
  blockTime: number;
  deploymentFile: string;
  lockFile: string;
  pid: number;
  anvilPid: number;
  gatewayUrl: string;
  gatewayDataDir: string;
  contracts: Record<string, string>;
  accounts: {
    index: number;
    role: string;
    address: string;
    onChain: {
      owns: string[];
      gateway: boolean;
      accreditations: { role: string; trusted: boolean; revokedAt: number }[];
    };
  }[];
}

/** The --json line, complete (it may arrive in several chunks). */
const JSON_LINE = /^(\{.*\})\n/m;

type StackProcess = ChildProcessByStdio<null, Readable, Readable>;

interface Run {
  child: StackProcess;
  /** stdout and stderr as received so far. */
  output: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts scripts/start.ts; the gateway on a free port unless `args` name one (8787 may be taken where tests run).
 * `detached` runs it in a process group of its own, as a terminal runs a foreground command (for a group Ctrl-C).
 */
function run(args: string[], env: NodeJS.ProcessEnv = process.env, detached = false): Run {
  const gatewayPort = args.includes("--gateway-port") ? [] : ["--gateway-port", "0"];
  const child = spawn(process.execPath, ["scripts/start.ts", ...gatewayPort, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
    detached,
  });
  let output = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, stderr: () => stderr, exited };
}

/** Resolves once `pattern` appears in the output; rejects if the process exits first or after 60 s. */
function waitFor(started: Run, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(started.output());
      if (match) {
        clearTimeout(timer);
        started.child.stdout.off("data", check);
        started.child.stderr.off("data", check);
        resolve(match);
      }
    };
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within 60 s:\n${started.output()}`)), 60_000);
    started.child.stdout.on("data", check);
    started.child.stderr.on("data", check);
    void started.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`start exited with ${code} before ${pattern}:\n${started.output()}`));
    });
    check();
  });
}

/** Starts a stack with --json and resolves with its description once it is ready. */
async function startStack(dataDir: string, extra: string[] = [], detached = false): Promise<Run & { info: StackInfo }> {
  const started = run(["--port", "0", "--data-dir", dataDir, "--json", ...extra], process.env, detached);
  const [, line] = await waitFor(started, JSON_LINE);
  return { ...started, info: JSON.parse(line!) as StackInfo };
}

/** Starts a stack printing its banner and resolves once the banner is complete. */
async function startWithBanner(dataDir: string, env?: NodeJS.ProcessEnv): Promise<Run> {
  const started = run(["--port", "0", "--data-dir", dataDir], env);
  await waitFor(started, /Press Ctrl-C to stop/);
  return started;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopStack(started: Run): Promise<number | null> {
  started.child.kill("SIGINT");
  return started.exited;
}

function provider(rpcUrl: string): JsonRpcProvider {
  return new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
}

function demoWallet(index: number): HDNodeWallet {
  return HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
}

/** Pids of processes whose command line mentions `dir` (Linux /proc). */
function anvilsUsing(dir: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return cmdline.includes("anvil") && cmdline.includes(dir);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("npm start (local stack)", function () {
  this.timeout(120_000);
  let dataDir: string;
  const running: Run[] = [];

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "hygeia-start-"));
  });
  afterEach(async () => {
    for (const started of running.splice(0)) {
      if (started.child.exitCode === null && started.child.signalCode === null) await stopStack(started);
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it("deploys, persists chain state across a Ctrl-C restart, and leaves no process or lock behind", async () => {
    const first = await startStack(dataDir);
    running.push(first);
    const deployment = await readDeployment(first.info.deploymentFile);
    expect(first.info.contracts).to.deep.equal(deployment.contracts);
    expect(existsSync(first.info.lockFile)).to.equal(true);

    const rpc = provider(first.info.rpcUrl);
    for (const address of Object.values(deployment.contracts)) {
      expect(await rpc.getCode(address)).to.not.equal("0x");
    }
    const trust = new Contract(deployment.contracts.TrustRegistry, TrustRegistryAbi, rpc);
    expect(await trust.getFunction("isTrusted")(demoWallet(7).address, id("hygeia.role.medical-board"))).to.equal(true);

    // A patient grants consent; it must survive the restart.
    const alice = demoWallet(2).connect(rpc);
    const clinic = demoWallet(4).address;
    // Any opaque 32-byte scope id will do: this checks that a grant survives the restart, not what it covers. A real
    // one is the patient's keyed id (PatientScopes.id); a public hash such as keccak256("fhir:Observation") is what
    // the chain must never hold, since anyone can compute it and read the scope off the chain.
    const scope = hexlify(randomBytes(32));
    const expiry = BigInt(Math.floor(Date.now() / 1000) + 86_400);
    const consent = new Contract(deployment.contracts.ConsentRegistry, ConsentRegistryAbi, alice);
    await (await consent.getFunction("grant")(clinic, scope, 1, expiry)).wait();
    rpc.destroy();

    expect(await stopStack(first)).to.equal(0);
    expect(first.stderr()).to.contain(`stopped; chain state saved in ${join(dataDir, "chain-state.json")}`);
    expect(isRunning(first.info.anvilPid), "anvil must not outlive npm start").to.equal(false);
    expect(existsSync(join(dataDir, "chain-state.json"))).to.equal(true);
    expect(existsSync(first.info.lockFile), "the lock is released on exit").to.equal(false);

    // A deployment file from before StudyRegistry existed: the restart keeps its contracts and adds the new one.
    const { StudyRegistry: _added, ...older } = deployment.contracts;
    await writeFile(
      join(dataDir, "deployment.json"),
      JSON.stringify({ ...deployment, contracts: older }, null, 2) + "\n",
    );

    const second = await startStack(dataDir);
    running.push(second);
    expect(second.output()).to.contain("reusing the deployment");
    expect(second.output()).to.contain("deployed StudyRegistry");
    expect(second.info.contracts).to.include(older);
    const upgraded = (await readDeployment(join(dataDir, "deployment.json"))).contracts.StudyRegistry;
    expect(second.info.contracts.StudyRegistry).to.equal(upgraded);
    const rpc2 = provider(second.info.rpcUrl);
    const consent2 = new Contract(deployment.contracts.ConsentRegistry, ConsentRegistryAbi, rpc2);
    expect(await consent2.getFunction("isAllowed")(alice.address, clinic, scope, 1)).to.equal(true);
    expect(await rpc2.getCode(upgraded!)).to.not.equal("0x");
    rpc2.destroy();
    expect(await stopStack(second)).to.equal(0);
    expect(isRunning(second.info.anvilPid)).to.equal(false);
    expect(JSON.parse(await readFile(join(dataDir, "deployment.json"), "utf8")).chainId).to.equal(31337);
  });

  it("brings up the gateway (/readyz names each part ready, /docs, /openapi.json); a Ctrl-C restart keeps its sessions and its audit log, anchored at the stop", async () => {
    const first = await startStack(dataDir);
    running.push(first);
    const gateway = { url: first.info.gatewayUrl };
    expect(gateway.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.info.gatewayDataDir).to.equal(join(dataDir, "gateway"));

    // Ready once its parts answer (the indexer may still be catching up for a moment after the start).
    let ready = await request(gateway, "GET", "/readyz");
    for (let i = 0; i < 50 && ready.status !== 200; i++) {
      await sleep(200);
      ready = await request(gateway, "GET", "/readyz");
    }
    expect(ready.status, ready.text).to.equal(200);
    for (const part of ["chain", "indexer", "ipfs", "database"]) {
      expect((ready.json as { checks: Record<string, { ready: boolean }> }).checks[part], part).to.include({
        ready: true,
      });
    }
    const docs = await fetch(`${gateway.url}/docs`);
    expect(docs.status).to.equal(200);
    expect(await docs.text()).to.match(/swagger/i);
    const openapi = await request(gateway, "GET", "/openapi.json");
    expect(openapi.status).to.equal(200);
    expect((openapi.json as { openapi: string }).openapi).to.match(/^3\.1\./);

    // Alice signs in; Bob asks for a key of hers he has no consent for: a deny event in her audit log.
    const alice = demoWallet(2);
    const aliceToken = await signIn(gateway, alice);
    const bobToken = await signIn(gateway, demoWallet(3));
    const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    const denied = await request(gateway, "POST", `/v1/patients/${alice.address.toLowerCase()}/records/${cid}/key`, {
      token: bobToken,
      json: { purpose: "Treatment" },
    });
    expect(denied.status, denied.text).to.equal(403);
    const before = await request(gateway, "GET", "/v1/audit/events", { token: aliceToken });
    expect(before.status, before.text).to.equal(200);
    type Entry = { index: number; seq: number; event: string };
    const logged = (json: unknown) =>
      (json as { events: Entry[] }).events.map(({ index, seq, event }) => ({ index, seq, event }));
    const eventsBefore = logged(before.json);
    expect(eventsBefore.map((entry) => JSON.parse(entry.event) as unknown)).to.have.length(1);
    expect(JSON.parse(eventsBefore[0]!.event)).to.include({ type: "access_denied", decision: "deny" });

    expect(await stopStack(first)).to.equal(0);
    const stopped = first.stderr();
    expect(stopped).to.contain("stopping the gateway");
    expect(stopped.indexOf("stopped the gateway"), "the gateway stops before the chain").to.be.greaterThan(-1);
    expect(stopped.indexOf("stopped the gateway")).to.be.lessThan(stopped.indexOf("stopping the local chain"));

    const second = await startStack(dataDir);
    running.push(second);
    expect(second.output()).to.contain("reusing the deployment");
    const again = { url: second.info.gatewayUrl };
    // The session made before the restart is still valid: the session key and the sessions table survived.
    const session = await request(again, "GET", "/v1/auth/session", { token: aliceToken });
    expect(session.status, session.text).to.equal(200);
    expect((session.json as { address: string }).address).to.equal(alice.address.toLowerCase());
    // So is the audit log, and its head was anchored on chain when the first start stopped.
    const after = await request(again, "GET", "/v1/audit/events", { token: aliceToken });
    expect(after.status, after.text).to.equal(200);
    expect(logged(after.json), "the same events, byte for byte").to.deep.equal(eventsBefore);
    const checkpoints = await request(again, "GET", "/v1/audit/checkpoints");
    expect(checkpoints.status, checkpoints.text).to.equal(200);
    const heads = (checkpoints.json as { checkpoints: { size: number; anchor: unknown }[] }).checkpoints;
    expect(
      heads.some((head) => head.size >= 1 && head.anchor !== null),
      `an anchored head covering the deny event: ${checkpoints.text}`,
    ).to.equal(true);
    expect(await stopStack(second)).to.equal(0);
  });

  it("a terminal Ctrl-C (SIGINT to the whole process group) stops the gateway first, anchoring its audit head on the chain, then saves the chain state (exit 0)", async () => {
    const first = await startStack(dataDir, [], true);
    running.push(first);
    const gateway = { url: first.info.gatewayUrl };
    let ready = await request(gateway, "GET", "/readyz");
    for (let i = 0; i < 50 && ready.status !== 200; i++) {
      await sleep(200);
      ready = await request(gateway, "GET", "/readyz");
    }
    expect(ready.status, ready.text).to.equal(200);
    // Bob asks for a key of Alice's he has no consent for: a deny event, pending in the audit batch.
    const alice = demoWallet(2).address.toLowerCase();
    const bobToken = await signIn(gateway, demoWallet(3));
    const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    const denied = await request(gateway, "POST", `/v1/patients/${alice}/records/${cid}/key`, {
      token: bobToken,
      json: { purpose: "Treatment" },
    });
    expect(denied.status, denied.text).to.equal(403);
    const status = await request(gateway, "GET", "/readyz");
    const size = (status.json as { checks: { audit: { size: number } } }).checks.audit.size;
    expect(size).to.be.greaterThan(0);

    process.kill(-first.child.pid!, "SIGINT"); // what a terminal's Ctrl-C does: the whole foreground group
    expect(await first.exited, first.output()).to.equal(0);
    const stopped = first.stderr();
    expect(stopped).to.contain(`stopped; chain state saved in ${join(dataDir, "chain-state.json")}`);
    expect(stopped).to.not.contain("NOT updated");
    expect(stopped).to.not.contain("audit batch not anchored");
    expect(stopped.indexOf("stopped the gateway")).to.be.lessThan(stopped.indexOf("stopping the local chain"));
    expect(isRunning(first.info.anvilPid), "anvil must not outlive npm start").to.equal(false);

    // The saved chain itself (not a new stack, whose gateway would anchor a missed head at start) holds the anchor.
    const chain = await startLocalChain({ stateFile: join(dataDir, "chain-state.json") });
    try {
      const rpc = provider(chain.rpcUrl);
      const anchors = new AuditAnchorClient(first.info.contracts["AuditAnchor"]!, rpc);
      const { nextIndex } = await anchors.gatewayOf(demoWallet(1).address);
      rpc.destroy();
      expect(nextIndex, "the gateway account's nextIndex equals the audit size").to.equal(BigInt(size));
    } finally {
      await chain.stop();
    }
  });

  it("prints each demo account's part and its on-chain standing as read back from the contracts, and next steps", async () => {
    const { npm_node_execpath: _, ...outsideNpm } = process.env;
    const first = await startWithBanner(dataDir, outsideNpm);
    running.push(first);
    const banner = first.output();
    const line = (index: number) => {
      const match = new RegExp(`^  #${index} .*\\n +on-chain: (.*)$`, "m").exec(banner);
      expect(match, `no lines for account #${index} in:\n${banner}`).to.not.equal(null);
      return match![0];
    };
    expect(line(0)).to.contain("governance").and.contain(demoWallet(0).address).and.contain(demoWallet(0).privateKey);
    expect(line(0)).to.match(/owner \(governance\) of TrustRegistry and AuditAnchor/);
    expect(line(0)).to.match(/TrustRegistry: identity-issuer until \d{4}-\d\d-\d\d/);
    expect(line(1)).to.contain("authorized gateway of AuditAnchor");
    expect(line(2))
      .to.contain("patient Alice")
      .and.match(/on-chain: none$/);
    for (const clinic of [4, 5]) {
      // Clinics issue health records under the clinic role; only the board (#7) may accredit clinics.
      expect(line(clinic))
        .to.match(/clinic/)
        .and.match(/TrustRegistry: clinic until/)
        .and.not.match(/medical-board/);
    }
    expect(line(7))
      .to.contain("medical board")
      .and.match(/TrustRegistry: medical-board until/);
    expect(line(8))
      .to.contain("IRB")
      .and.match(/TrustRegistry: irb until/);
    expect(line(9))
      .to.contain("insurer")
      .and.match(/TrustRegistry: insurer until/);
    expect(banner).to.contain("a block every 1 s");
    expect(banner).to.contain("Next steps:");
    expect(banner).to.contain(`readDeployment("${join(dataDir, "deployment.json")}")`);
    expect(banner).to.contain("docs/architecture.md");
    if (existsSync("packages/chain/examples/consent.ts")) {
      expect(banner).to.match(/^ {6}node packages\/chain\/examples\/consent\.ts$/m);
    }
    expect(existsSync("docs/architecture.md"), "the banner points at a file that exists").to.equal(true);
    expect(banner, "the human banner has no machine line").to.not.match(/^\{/m);
    // What the roles need is said as it is: clinics are on the registry themselves (check-in's standing check).
    expect(banner).to.not.contain("clinics and researchers need no registry entry");
    expect(banner.replace(/\n/g, " ")).to.contain(
      "A clinic needs both: a ClinicAccreditationCredential from the medical board, and its own accreditation as " +
        "clinic on the TrustRegistry (#4 and #5 above), which a patient's wallet checks at check-in.",
    );
    expect(banner, "no exposure warning on loopback").to.not.contain("WARNING");

    // Governance revokes the insurer behind the script's back: the next banner must say so.
    const rpcUrl = /chain {7}(http:\/\/\S+)/.exec(banner)![1]!;
    const rpc = provider(rpcUrl);
    const deployment = await readDeployment(join(dataDir, "deployment.json"));
    const trust = new Contract(deployment.contracts.TrustRegistry, TrustRegistryAbi, demoWallet(0).connect(rpc));
    await (await trust.getFunction("revokeAccreditation")(demoWallet(9).address, id("hygeia.role.insurer"))).wait();
    rpc.destroy();
    expect(await stopStack(first)).to.equal(0);

    const second = await startStack(dataDir);
    running.push(second);
    const insurer = second.info.accounts[9]!;
    expect(insurer.role).to.equal("insurer");
    expect(insurer.onChain.accreditations).to.have.length(1);
    expect(insurer.onChain.accreditations[0]).to.include({ role: "insurer", trusted: false });
    expect(insurer.onChain.accreditations[0]!.revokedAt).to.be.greaterThan(0);
    expect(second.info.accounts[7]!.onChain.accreditations[0]).to.include({ role: "medical-board", trusted: true });
    expect(second.info.accounts[5]!.onChain.accreditations.map((a) => [a.role, a.trusted])).to.deep.equal([
      ["clinic", true],
    ]);
    expect(second.info.accounts[0]!.onChain.owns).to.deep.equal(["TrustRegistry", "AuditAnchor"]);
    expect(second.info.accounts[1]!.onChain.gateway).to.equal(true);
    expect(second.info.accounts[2]!.onChain).to.deep.equal({ owns: [], gateway: false, accreditations: [] });
    await stopStack(second);
    // Under `npm start` on a host whose own node is older than 24, examples are run with the repo's Node 24.
    const oldNode = join(dataDir, "old-node");
    await writeFile(oldNode, "#!/bin/sh\necho v20.20.2\n", { mode: 0o755 });
    const third = await startWithBanner(dataDir, { ...process.env, npm_node_execpath: oldNode });
    running.push(third);
    expect(third.output()).to.match(/#9 insurer .*\n +on-chain: TrustRegistry: insurer REVOKED on \d{4}-\d\d-\d\d$/m);
    if (existsSync("packages/chain/examples/consent.ts")) {
      expect(third.output()).to.match(/^ {6}node_modules\/\.bin\/node packages\/chain\/examples\/consent\.ts$/m);
    }
  });

  it("mines a block every second with no transactions, and only on demand with --block-time 0", async () => {
    const interval = await startStack(dataDir);
    running.push(interval);
    expect(interval.info.blockTime).to.equal(1);
    const rpc = provider(interval.info.rpcUrl);
    const before = await rpc.getBlockNumber();
    await sleep(3_200);
    expect(await rpc.getBlockNumber()).to.be.at.least(before + 2);
    rpc.destroy();
    expect(await stopStack(interval)).to.equal(0);

    const onDemand = await startStack(dataDir, ["--block-time", "0"]);
    running.push(onDemand);
    const rpc0 = provider(onDemand.info.rpcUrl);
    const still = await rpc0.getBlockNumber();
    await sleep(2_200);
    expect(await rpc0.getBlockNumber()).to.equal(still);
    rpc0.destroy();
  });

  it("refuses a second start on the same data dir in one line naming the holder, and leaves the first running", async () => {
    const first = await startStack(dataDir);
    running.push(first);
    const lockBefore = await readFile(first.info.lockFile, "utf8");

    const second = run(["--port", "0", "--data-dir", dataDir]);
    expect(await second.exited).to.equal(3);
    const message = second.stderr().trim();
    expect(message.split("\n")).to.have.length(1);
    expect(message).to.contain(`pid ${first.info.pid}`).and.contain(first.info.rpcUrl);
    expect(message).to.contain(`kill -INT ${first.info.pid}`);
    expect(second.output()).to.not.contain("stopping").and.not.contain("state saved");

    expect(await readFile(first.info.lockFile, "utf8")).to.equal(lockBefore);
    const rpc = provider(first.info.rpcUrl);
    expect(await rpc.getBlockNumber()).to.be.a("number");
    rpc.destroy();
  });

  it("lets exactly one of two starts at once on one data dir run; it exits 1 when its chain dies", async () => {
    const both = [
      run(["--port", "0", "--data-dir", dataDir, "--json"]),
      run(["--port", "0", "--data-dir", dataDir, "--json"]),
    ];
    running.push(...both);
    const outcomes = await Promise.all(
      both.map((started) =>
        Promise.race([
          waitFor(started, JSON_LINE).then((match) => ({ started, info: JSON.parse(match[1]!) as StackInfo })),
          started.exited.then((code) => ({ started, code })),
        ]),
      ),
    );
    const winners = outcomes.filter((outcome) => "info" in outcome);
    const losers = outcomes.filter((outcome) => "code" in outcome);
    expect(winners, outcomes.map((outcome) => outcome.started.output()).join("\n---\n")).to.have.length(1);
    expect(losers[0]).to.include({ code: 3 });
    const winner = winners[0]!;
    expect(losers[0]!.started.stderr()).to.contain(`pid ${winner.info.pid}`);

    // anvil dies under it: the start says so and exits non-zero, releasing the lock.
    process.kill(winner.info.anvilPid, "SIGKILL");
    expect(await winner.started.exited).to.equal(1);
    expect(winner.started.stderr()).to.contain(`the local chain (anvil pid ${winner.info.anvilPid}) exited on its own`);
    expect(winner.started.stderr()).to.contain("was NOT updated").and.not.contain("state saved");
    expect(existsSync(winner.info.lockFile)).to.equal(false);
  });

  it("exits 1 with a one-line reason when the port is taken, and claims no saved state", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const started = run(["--port", String(port), "--data-dir", dataDir]);
      expect(await started.exited).to.equal(1);
      expect(started.stderr().trim()).to.equal(
        `start: port ${port} on 127.0.0.1 is already in use; choose another with --port N (0 picks a free one)`,
      );
      expect(started.output()).to.not.contain("Press Ctrl-C");
    } finally {
      server.close();
    }
    expect(existsSync(join(dataDir, "stack.lock")), "the lock is released").to.equal(false);
    expect(existsSync(join(dataDir, "chain-state.json"))).to.equal(false);
  });

  it("exits 1 with a one-line reason when the gateway's port is taken, and stops the chain it started", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const started = run(["--port", "0", "--gateway-port", String(port), "--data-dir", dataDir]);
      running.push(started);
      expect(await started.exited).to.equal(1);
      expect(started.stderr()).to.contain(
        `start: port ${port} on 127.0.0.1 (the gateway) is already in use; choose another with --gateway-port N (0 picks a free one)\n`,
      );
      expect(started.output()).to.not.contain("Press Ctrl-C");
    } finally {
      server.close();
    }
    expect(anvilsUsing(dataDir), "no anvil left running on the data dir").to.deep.equal([]);
    expect(existsSync(join(dataDir, "stack.lock")), "the lock is released").to.equal(false);
  });

  it("stops cleanly (and stops anvil) when Ctrl-C comes the moment the lock is taken, while anvil starts", async () => {
    // The signal lands before or after the real handlers are installed; both must end the same way (a signal
    // that came before them is remembered). Several rounds, because the window is narrow.
    for (let round = 0; round < 4; round++) {
      const started = run(["--port", "0", "--data-dir", dataDir]);
      running.push(started);
      while (!existsSync(join(dataDir, "stack.lock"))) await sleep(1);
      started.child.kill("SIGINT");
      expect(await started.exited, `round ${round}:\n${started.output()}`).to.equal(0);
      expect(started.stderr()).to.contain("stopping the local chain");
      expect(anvilsUsing(dataDir), "no anvil left running on the data dir").to.deep.equal([]);
      expect(existsSync(join(dataDir, "stack.lock"))).to.equal(false);
    }
  });

  /** An anvil that takes 3 s before it starts (like one loading a large state file), for start-up races. */
  async function slowAnvilEnv(): Promise<NodeJS.ProcessEnv> {
    const script = join(dataDir, "slow-anvil.sh");
    const real = JSON.stringify(anvilBinaryPath());
    await writeFile(script, `#!/usr/bin/env bash\nsleep 3\nexec ${real} "$@"\n`, { mode: 0o755 });
    return { ...process.env, HYGEIA_ANVIL_BIN: script };
  }

  it("a second Ctrl-C while anvil is still starting stops anvil too (exit 130)", async () => {
    const started = run(["--port", "0", "--data-dir", dataDir], await slowAnvilEnv());
    running.push(started);
    const lockFile = join(dataDir, "stack.lock");
    while (!existsSync(lockFile)) await sleep(2);
    await sleep(300); // anvil is spawned, and still 2.7 s from listening
    expect(anvilsUsing(dataDir)).to.have.length(1);
    started.child.kill("SIGINT");
    await sleep(100);
    started.child.kill("SIGINT");
    expect(await started.exited).to.equal(130);
    // Gone at once, not only when the orphan would have died of a closed pipe after its slow start.
    for (let i = 0; i < 20 && anvilsUsing(dataDir).length > 0; i++) await sleep(50);
    expect(anvilsUsing(dataDir), "no anvil left running on the data dir").to.deep.equal([]);
  });

  it("a kill -9 during start-up leaves a lock that names the spawned anvil, so no second start joins it", async () => {
    const env = await slowAnvilEnv();
    const started = run(["--port", "0", "--data-dir", dataDir], env);
    running.push(started);
    const lockFile = join(dataDir, "stack.lock");
    while (!existsSync(lockFile)) await sleep(2);
    await sleep(300); // anvil is spawned, and still 2.7 s from listening
    const anvilPid = (JSON.parse(readFileSync(lockFile, "utf8")) as { anvilPid?: number }).anvilPid;
    expect(anvilPid, "anvil's pid is recorded before it listens").to.be.a("number");
    expect(anvilsUsing(dataDir)).to.deep.equal([anvilPid]);
    started.child.kill("SIGKILL");
    await started.exited;
    try {
      const second = run(["--port", "0", "--data-dir", dataDir]);
      running.push(second);
      expect(await second.exited).to.equal(3);
      expect(second.stderr()).to.contain(`in use by anvil pid ${anvilPid}`);
    } finally {
      for (const pid of anvilsUsing(dataDir)) process.kill(pid, "SIGKILL");
    }
  });

  it("says in one line what to do about a corrupt chain state file, a corrupt deployment file, or a data dir that is a file", async () => {
    await writeFile(join(dataDir, "chain-state.json"), '{"block": ');
    const state = run(["--port", "0", "--data-dir", dataDir]);
    running.push(state);
    expect(await state.exited).to.equal(1);
    expect(state.stderr()).to.match(
      /^start: the chain state in .*chain-state\.json cannot be loaded \(.*\); move it away, or start with --fresh to discard it\n$/,
    );

    await rm(join(dataDir, "chain-state.json"));
    await writeFile(join(dataDir, "deployment.json"), "nope");
    const deployment = run(["--port", "0", "--data-dir", dataDir]);
    running.push(deployment);
    expect(await deployment.exited).to.equal(1);
    expect(deployment.stderr()).to.contain("is not valid JSON; move it away, or start with --fresh");

    const file = join(dataDir, "a-file");
    await writeFile(file, "not a directory");
    const notDir = run(["--port", "0", "--data-dir", file]);
    running.push(notDir);
    expect(await notDir.exited).to.equal(1);
    expect(notDir.stderr()).to.equal(`start: --data-dir ${file} is a file, not a directory; name a directory\n`);
  });

  it("--host 0.0.0.0 warns that the public test keys control the demo accounts, and prints a URL this machine can connect to", async () => {
    const exposed = run(["--port", "0", "--host", "0.0.0.0", "--data-dir", dataDir]);
    running.push(exposed);
    await waitFor(exposed, /Press Ctrl-C to stop/);
    const warning =
      /^start: WARNING: --host 0\.0\.0\.0 makes the chain reachable from other machines on port (\d+)\. .*$/m;
    const [line, port] = warning.exec(exposed.stderr()) ?? [];
    expect(line, exposed.stderr()).to.be.a("string");
    expect(line).to.contain("PUBLIC test mnemonic").and.contain("anyone who can reach the port controls them");
    const banner = exposed.output();
    expect(banner).to.match(new RegExp(`^  chain {7}http://127\\.0\\.0\\.1:${port} \\(chain id`, "m"));
    expect(banner).to.contain(
      `listening on every interface (--host 0.0.0.0): http://127.0.0.1:${port} from this machine`,
    );
    expect(banner).to.not.contain("http://0.0.0.0");
    expect(banner.split("\n").filter((l) => l.startsWith("WARNING: --host 0.0.0.0"))).to.have.length(1);
    const rpc = provider(`http://127.0.0.1:${port}`);
    expect(await rpc.getBlockNumber()).to.be.greaterThan(0);
    rpc.destroy();
    const lock = JSON.parse(await readFile(join(dataDir, "stack.lock"), "utf8")) as { rpcUrl?: string };
    expect(lock.rpcUrl).to.equal(`http://127.0.0.1:${port}`);
    expect(await stopStack(exposed)).to.equal(0);

    const json = await startStack(dataDir, ["--host", "0.0.0.0"]);
    running.push(json);
    expect(json.info.rpcUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(json.info).to.include({ host: "0.0.0.0", exposed: true });
    expect(json.stderr()).to.contain("start: WARNING: --host 0.0.0.0");
  });

  it("rejects unknown flags and a bad --block-time with usage and exit code 2", async () => {
    const unknown = run(["--prot", "1"]);
    expect(await unknown.exited).to.equal(2);
    expect(unknown.stderr()).to.match(/Unknown option '--prot'/);
    expect(unknown.stderr()).to.contain("usage: npm start");

    const fractional = run(["--block-time", "0.5", "--data-dir", dataDir]);
    expect(await fractional.exited).to.equal(2);
    expect(fractional.stderr()).to.contain(
      '--block-time must be whole seconds 0-3600 (0 = a block per transaction), got "0.5"',
    );

    const milliseconds = run(["--block-time", "1000", "--data-dir", dataDir]);
    expect(await milliseconds.exited).to.equal(2);
    expect(milliseconds.stderr()).to.contain("--block-time: 1000 looks like milliseconds: divide by 1000");

    // Beyond the 3600 s range too: named as milliseconds, not only as out of range.
    const beyond = run(["--block-time", "5000", "--data-dir", dataDir]);
    expect(await beyond.exited).to.equal(2);
    expect(beyond.stderr()).to.contain(
      "--block-time: expected seconds from 0 to 3600, got 5000; 5000 looks like milliseconds: divide by 1000 (5 s)",
    );
    expect(beyond.stderr()).to.contain("usage: npm start");
  });
});
