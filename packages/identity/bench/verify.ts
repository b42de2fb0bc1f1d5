// bench:verify: verification throughput of JWT VCs (ES256K) on one core, against a real local chain.
// Prints ONE JSON line on stdout; progress goes to stderr.
//   vc_verify_per_s               our full verifyCredential (signature, validity, schema, status, issuer trust),
//                                 with DID documents, status lists and trust answers served from cache
//   native_secp256k1_verify_per_s node:crypto ES256K verify of the same signatures (the ceiling)
//   noble_secp256k1_verify_per_s  @noble/curves verify of the same signatures
//   veramo_verify_per_s           Veramo's own verifyCredential on the same credentials (the anchor)
// Method: after a warm-up, ROUNDS rounds; each round measures the four methods one after the other for
// MEASURE_MS / ROUNDS each; every figure is the median of its rounds. Interleaving keeps the ratios fair on a
// machine whose load changes during the run (measured back to back, one method could get a quiet minute and the
// next a busy one).
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { HDNodeWallet, JsonRpcProvider, NonceManager } from "ethers";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { LOCAL_MNEMONIC, TrustRegistryClient, TrustRole, deployHygeia, startLocalChain } from "@hygeia/chain";
import {
  Bitstring,
  CredentialType,
  CredentialVerifier,
  IdentityAgent,
  IssuerTrust,
  ethrDidPrefix,
  ethrNetworkFromDeployment,
  issueCredential,
  issueStatusListCredential,
  statusEntry,
} from "../src/index.ts";
import { veramoOf } from "../src/did/internal.ts";

const POOL = Number(process.env.BENCH_POOL ?? 256);
const ISSUERS = 4;
const MEASURE_MS = Number(process.env.BENCH_MS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const log = (message: string) => process.stderr.write(`bench:verify: ${message}\n`);

type Run = (i: number) => unknown | Promise<unknown>;

/** Operations per second of `run` over `ms`, in batches of 50. */
async function rate(run: Run, ms: number): Promise<number> {
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let j = 0; j < 50; j++) await run(count++ % POOL);
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

/** Median rate of each method over ROUNDS interleaved rounds, after a warm-up of each. */
async function measureInterleaved(methods: Record<string, Run>): Promise<Record<string, number>> {
  for (const run of Object.values(methods)) for (let i = 0; i < Math.min(POOL, 200); i++) await run(i);
  const rates: Record<string, number[]> = Object.fromEntries(Object.keys(methods).map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++)
    for (const [name, run] of Object.entries(methods)) rates[name]!.push(await rate(run, MEASURE_MS / ROUNDS));
  const medians: Record<string, number> = {};
  for (const [name, values] of Object.entries(rates)) {
    const sorted = [...values].sort((a, b) => a - b);
    medians[name] = Math.round(sorted[Math.floor(sorted.length / 2)]!);
    log(`${name}: ${medians[name]}/s (rounds: ${values.map(Math.round).join(", ")})`);
  }
  return medians;
}

const chain = await startLocalChain();
const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
let agent: IdentityAgent | undefined;
try {
  const governance = new NonceManager(
    HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, "m/44'/60'/0'/0/0").connect(provider),
  );
  const deployment = await deployHygeia(governance);
  const network = ethrNetworkFromDeployment(deployment, chain.rpcUrl);
  agent = await IdentityAgent.create({ network, watchRegistry: false, resolverCacheTtlMs: 3_600_000 });
  const trustRegistry = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
  const now = Math.floor(Date.now() / 1000);
  const patient = await agent.createDid();
  const issuers = [];
  for (let i = 0; i < ISSUERS; i++) {
    const issuer = await agent.createDid();
    await trustRegistry.accredit({
      issuer: issuer.ownerAddress!,
      role: TrustRole.Insurer,
      validFrom: now - 3600,
      validUntil: now + 86400,
    });
    issuers.push(issuer);
  }
  const lists = new Map<string, string>();
  for (const issuer of issuers) {
    const url = `https://gateway.example/status/${issuer.ownerAddress}`;
    lists.set(
      url,
      await issueStatusListCredential(agent, { issuer: issuer.did, url, purpose: "revocation", list: new Bitstring() }),
    );
  }
  log(`issuing ${POOL} credentials from ${ISSUERS} issuers`);
  const pool: string[] = [];
  for (let i = 0; i < POOL; i++) {
    const issuer = issuers[i % ISSUERS]!;
    pool.push(
      await issueCredential(agent, {
        issuer: issuer.did,
        type: CredentialType.HealthInsurance,
        subject: { id: patient.did, insurerName: "Acme Health", memberId: `M-${i}`, planName: "Gold" },
        validUntil: new Date(Date.now() + 86400_000),
        status: [statusEntry(`https://gateway.example/status/${issuer.ownerAddress}`, "revocation", i)],
      }),
    );
  }

  const verifier = new CredentialVerifier({
    resolver: agent.resolver,
    trust: new IssuerTrust({
      registry: new TrustRegistryClient(deployment.contracts.TrustRegistry, provider),
      didPrefix: ethrDidPrefix(network),
      cacheTtlMs: 3_600_000,
    }),
    statusListFetcher: async (url) => lists.get(url)!,
    statusListTtlMs: 3_600_000,
  });

  // Public keys and raw signatures for the primitive baselines (recovered once, like any key cache would).
  const parsed = pool.map((jwt) => {
    const [h, p, s] = jwt.split(".") as [string, string, string];
    const signature = Buffer.from(s, "base64url");
    const data = Buffer.from(`${h}.${p}`);
    const digest = sha256(data);
    const issuerAddress = (JSON.parse(Buffer.from(p, "base64url").toString()) as { iss: string }).iss
      .split(":")
      .pop()!
      .toLowerCase();
    let publicKey: Uint8Array | undefined;
    for (const recovery of [0, 1]) {
      const candidate = secp256k1.recoverPublicKey(new Uint8Array([recovery, ...signature]), digest, {
        prehash: false,
      });
      const point = secp256k1.Point.fromBytes(candidate).toBytes(false);
      const address = `0x${Buffer.from(keccak_256(point.subarray(1)))
        .subarray(12)
        .toString("hex")}`;
      if (address === issuerAddress) publicKey = point;
    }
    if (!publicKey) throw new Error("could not recover an issuer key");
    const keyObject = createPublicKey({
      key: {
        kty: "EC",
        crv: "secp256k1",
        x: Buffer.from(publicKey.subarray(1, 33)).toString("base64url"),
        y: Buffer.from(publicKey.subarray(33)).toString("base64url"),
      },
      format: "jwk",
    });
    return { data, signature, digest, publicKey, keyObject };
  });

  // Same answers first: every credential verifies with each method.
  for (const [i, jwt] of pool.entries()) {
    const ours = await verifier.verifyCredential(jwt);
    if (!ours.ok) throw new Error(`our verifier refused credential ${i}: ${JSON.stringify(ours.checks)}`);
    const veramo = await veramoOf(agent).verifyCredential({ credential: jwt });
    if (!veramo.verified) throw new Error(`Veramo refused credential ${i}`);
  }

  const measured = await measureInterleaved({
    ours: async (i) => {
      if (!(await verifier.verifyCredential(pool[i]!)).ok) throw new Error("verification failed");
    },
    native: (i) => {
      const c = parsed[i]!;
      if (!nodeVerify("sha256", c.data, { key: c.keyObject, dsaEncoding: "ieee-p1363" }, c.signature))
        throw new Error("native verify failed");
    },
    noble: (i) => {
      const c = parsed[i]!;
      if (!secp256k1.verify(c.signature, c.digest, c.publicKey, { prehash: false }))
        throw new Error("noble verify failed");
    },
    veramo: async (i) => {
      if (!(await veramoOf(agent!).verifyCredential({ credential: pool[i]! })).verified)
        throw new Error("veramo failed");
    },
  });
  const { ours: vc, native, noble, veramo } = measured as Record<"ours" | "native" | "noble" | "veramo", number>;

  process.stdout.write(
    `${JSON.stringify({
      vc_verify_per_s: vc,
      native_secp256k1_verify_per_s: native,
      noble_secp256k1_verify_per_s: noble,
      veramo_verify_per_s: veramo,
      ratio_vs_native: Number((vc / native).toFixed(3)),
      ratio_vs_veramo: Number((vc / veramo).toFixed(2)),
      targets_met: vc >= 0.8 * native && vc >= 3 * veramo,
      credentials: POOL,
      issuers: ISSUERS,
    })}\n`,
  );
} finally {
  await agent?.close();
  provider.destroy();
  await chain.stop();
}
