// bench:dataset (issue "Research"): how long a researcher's dataset pull takes for a study with BENCH_CONTRIBUTORS
// (default 10,000) contributors, each one's research consent checked at pull time, and how many synthetic
// patients per second the wallet's de-identification handles. Prints ONE JSON line on stdout:
//   contributors, pull_ms (median of BENCH_ROUNDS pulls), pull_per_contributor_us, deidentify_per_s, aggregate_ms
//   (both steps of one encrypted count over every contributor, median), targets_met.
// Target: 10,000 contributors pulled in <= 2 s.
//
// What is real: anvil, the deployed contracts, one on-chain Research grant per contributor (each from its own
// account), the gateway's consent indexer following them, an IRB-approved study served by the gateway, and each
// pull over HTTP (consent check per contributor, one durable dataset_pull audit event per contributor, the signed
// manifest). The fixture shortcuts, none of them inside the measured pull: contributor accounts get their gas money
// by anvil_setBalance, their grants are mined in a few large blocks (automine off while they are sent), and the
// contribution rows are written through the gateway's store interface (an upload per contributor would measure IPFS
// ingest, which bench:ingest covers; the pull never reads ciphertext).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Interface, Wallet, hexlify, toQuantity } from "ethers";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { ConsentRegistryAbi, Purpose } from "@hygeia/chain";
import { addCells, encryptFacts } from "@hygeia/crypto";
import { verifyPull } from "@hygeia/research";
import { closeAuthWorld, presentRole, signIn } from "../test/support/auth.ts";
import { request } from "../test/support/http.ts";
import { startTestStack } from "../test/support/stack.ts";
import { STUDY_SCOPES, aggregate, approve, irbOf, registerStudy, serveStudy } from "../test/studies/world.ts";

const CONTRIBUTORS = Number(process.env.BENCH_CONTRIBUTORS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TARGET_MS = 2_000;
const SEX = "aggregate:sex:female,male";
if (!Number.isInteger(CONTRIBUTORS) || CONTRIBUTORS < 1)
  throw new Error("BENCH_CONTRIBUTORS must be a positive integer");
if (!Number.isInteger(ROUNDS) || ROUNDS < 3) throw new Error("BENCH_ROUNDS must be an integer >= 3");

const log = (message: string) => process.stderr.write(`bench:dataset: ${message}\n`);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The research package's de-identification bench, in its own process (its own heap and JIT). */
function deidentifyPerSecond(): number {
  const script = join(dirname(fileURLToPath(import.meta.url)), "../../research/bench/deidentify.ts");
  const out = execFileSync(process.execPath, [script], {
    env: { ...process.env, BENCH_PATIENTS: "500", BENCH_ROUNDS: "3" },
    encoding: "utf8",
  });
  return (JSON.parse(out.trim().split("\n").at(-1)!) as { deidentify_per_s: number }).deidentify_per_s;
}

const stack = await startTestStack({ config: { chain: { pollIntervalMs: 1_000 } } });
try {
  const setupStarted = performance.now();
  const researcherWallet = stack.accounts.researcher;
  const researcher = researcherWallet.address.toLowerCase();
  const irb = await irbOf(stack, stack.accounts.irb);
  const token = await signIn(stack, researcherWallet);
  await presentRole(stack, token, researcherWallet, "researcher");
  const study = await registerStudy(stack, researcherWallet, await approve(irb, researcherWallet, "bench-2026"), {
    scopes: [...STUDY_SCOPES, SEX],
  });
  const served = await serveStudy(stack, token, study);
  if (served.status !== 201) throw new Error(`serving the study failed: ${served.text}`);
  await irb.agent.close();

  // One account per contributor, each granting the researcher Research consent for its (opaque) study scope id.
  const { provider } = stack;
  const registry = new Interface(ConsentRegistryAbi);
  const head = await provider.getBlock("latest");
  const expiry = (head?.timestamp ?? Math.floor(Date.now() / 1000)) + 30 * 86_400;
  const feeData = await provider.getFeeData();
  const maxFeePerGas = (feeData.maxFeePerGas ?? 2_000_000_000n) * 4n;
  const contributors = Array.from({ length: CONTRIBUTORS }, () => ({
    wallet: new Wallet(hexlify(randomBytes(32))),
    scopeId: hexlify(randomBytes(32)),
  }));
  log(`funding and signing ${CONTRIBUTORS} grants`);
  const CHUNK = 250;
  for (let i = 0; i < contributors.length; i += CHUNK)
    await Promise.all(
      contributors
        .slice(i, i + CHUNK)
        .map((c) => provider.send("anvil_setBalance", [c.wallet.address, toQuantity(10n ** 17n)])),
    );
  const signed = await Promise.all(
    contributors.map((c) =>
      c.wallet.signTransaction({
        type: 2,
        chainId: stack.deployment.chainId,
        nonce: 0,
        to: stack.deployment.contracts.ConsentRegistry,
        data: registry.encodeFunctionData("grant", [researcher, c.scopeId, Purpose.Research, expiry]),
        gasLimit: 150_000,
        maxFeePerGas,
        maxPriorityFeePerGas: 1_000_000_000n,
      }),
    ),
  );
  await provider.send("evm_setAutomine", [false]);
  try {
    for (let i = 0; i < signed.length; i += CHUNK)
      await Promise.all(signed.slice(i, i + CHUNK).map((tx) => provider.send("eth_sendRawTransaction", [tx])));
    for (let blocks = 0; ; blocks++) {
      const pending = (await provider.send("txpool_status", [])) as { pending: string };
      if (BigInt(pending.pending) === 0n) break;
      if (blocks > CONTRIBUTORS) throw new Error("the grants are not being mined");
      await provider.send("evm_mine", []);
    }
  } finally {
    await provider.send("evm_setAutomine", [true]);
  }
  // Every grant mined and live is checked by the pulls themselves: all CONTRIBUTORS included, none excluded.
  log(`storing ${CONTRIBUTORS} contributions`);
  // Every contributor's facts are one patient's (female), stored as is: the fixture writes rows through the store,
  // which trusts its callers; the study's running sums are written beside them as the contribution route would.
  const view = (await request(stack, "GET", `/v1/studies/${study.studyId}`, { token })).json as { tallyKey: string };
  const oneFacts = encryptFacts(Buffer.from(view.tallyKey, "base64url"), 2, 0, "bench");
  const facts = {
    sex: { cells: oneFacts.cells.map((c) => Buffer.from(c).toString("base64url")), proof: "" },
  };
  const sums = {
    sex: oneFacts.cells.map((cell) =>
      Buffer.from(addCells(Array.from({ length: CONTRIBUTORS }, () => cell))).toString("base64url"),
    ),
  };
  const now = Date.now();
  for (const [i, c] of contributors.entries()) {
    const bytes = randomBytes(64);
    const cid = CID.createV1(0x55, await sha256.digest(bytes)).toString();
    await stack.services.store.putContribution(
      {
        studyId: study.studyId,
        patient: c.wallet.address.toLowerCase(),
        cid,
        size: 64,
        consentAddress: c.wallet.address.toLowerCase(),
        scopeId: c.scopeId,
        wrap: Buffer.concat([Buffer.from([1, 1]), randomBytes(112)]).toString("base64url"),
        facts,
        createdAt: now,
      },
      i === 0 ? { version: 1, sums } : undefined,
    );
  }
  await stack.services.chain.indexer.sync();
  const setupMs = Math.round(performance.now() - setupStarted);
  log(`fixture ready in ${setupMs} ms; pulling ${ROUNDS + 1} times (the first is a warm-up)`);

  const pullMs: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const started = performance.now();
    const res = await request(stack, "POST", `/v1/studies/${study.studyId}/dataset`, { token, json: {} });
    const elapsed = performance.now() - started;
    if (res.status !== 200) throw new Error(`the pull failed: ${res.status} ${res.text}`);
    const body = res.json as {
      contributions: { cid: string; wrap: string }[];
      manifest: string;
      verifierKey: string;
      excluded: number;
    };
    if (body.contributions.length !== CONTRIBUTORS || body.excluded !== 0)
      throw new Error(`the pull has ${body.contributions.length} contributions (${body.excluded} excluded)`);
    verifyPull({ ...body, study: study.studyId, researcher });
    if (round > 0) pullMs.push(Math.round(elapsed));
  }

  const aggregateMs: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const started = performance.now();
    const res = await aggregate(stack, token, study, "sex");
    const elapsed = performance.now() - started;
    const release = res.json as { cells: Record<string, number | null> };
    if (res.status !== 200 || release.cells.female !== CONTRIBUTORS)
      throw new Error(`the aggregate failed: ${res.status} ${res.text}`);
    if (round > 0) aggregateMs.push(Math.round(elapsed));
  }

  const pull = median(pullMs);
  const deidentify = deidentifyPerSecond();
  process.stdout.write(
    `${JSON.stringify({
      contributors: CONTRIBUTORS,
      pull_ms: pull,
      pull_per_contributor_us: Math.round((pull * 1000) / CONTRIBUTORS),
      deidentify_per_s: deidentify,
      aggregate_ms: median(aggregateMs),
      target_pull_ms: TARGET_MS,
      targets_met: { pull_ms: CONTRIBUTORS < 10_000 ? null : pull <= TARGET_MS },
      rounds: ROUNDS,
      per_round_ms: pullMs,
      aggregate_per_round_ms: aggregateMs,
      setup_ms: setupMs,
    })}\n`,
  );
  await closeAuthWorld(stack);
} finally {
  await stack.close();
}
