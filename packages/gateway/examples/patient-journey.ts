// A patient's journey through a gateway, end to end over HTTP: sign in (SIWE), encrypt and upload a record,
// register it with key wraps (the clinic's X25519 key read from its DID document), relay a gasless grant, the
// clinic releases the key and decrypts, then the patient verifies its audit events against the chain's anchors
// (the gateway README's samples). Starts its own chain, IPFS node, database and gateway in a temp dir.
// Run: node packages/gateway/examples/patient-journey.ts
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalDeployment, writeDeployment } from "@hygeia/chain";
import { buildGateway, closeServices, createServices, defaultConfig } from "@hygeia/gateway";

// Setup: anvil with Hygeia deployed (account #1 is the gateway's relayer and anchor key, authorized on
// AuditAnchor), the gateway on a free port of 127.0.0.1 with its data in a temp dir.
const local = await startLocalDeployment({ gatewayAccounts: [1], accounts: 6 });
const { deployment, provider, rpcUrl } = local;
const [gatewayWallet, alice, clinic] = [local.account(1), local.account(2), local.account(4)];
const dir = await mkdtemp(join(tmpdir(), "hygeia-gateway-example-"));
await writeDeployment(join(dir, "deployment.json"), deployment);
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const address = probe.address();
    probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
  });
});
const base = defaultConfig();
const config = {
  ...base,
  port,
  dataDir: join(dir, "gateway"),
  publicUrl: `http://127.0.0.1:${port}`,
  logLevel: "silent" as const,
  chain: {
    ...base.chain,
    rpcUrl,
    deploymentFile: join(dir, "deployment.json"),
    confirmations: 0, // a local chain: a mined grant counts at once (default 2 blocks)
    pollIntervalMs: 200,
    relayerKey: gatewayWallet.privateKey,
    anchorKey: gatewayWallet.privateKey,
  },
  audit: { ...base.audit, anchorEveryMs: 500, origin: "hygeia.example/gateway" },
};
const services = await createServices(config, { heliaListen: [] });
const app = await buildGateway(config, services);
await app.listen({ host: "127.0.0.1", port });
const gateway = config.publicUrl;

/** One JSON request; throws unless 2xx. `T` is the answer's shape (the OpenAPI document at /openapi.json has them all). */
async function call<T>(method: string, path: string, token: string | null, body?: unknown): Promise<T> {
  const res = await fetch(gateway + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json: unknown = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json as T;
}

// Alice's wallet keys: her X25519 key pair and the scope key of her private scope ids, both from one
// signature (@hygeia/crypto "Key derivation", docs/private-scopes.md).
import {
  deriveConsentSecretFromWalletSignature,
  deriveKeyPairFromWalletSignature,
  deriveScopeKey,
  keyDerivationTypedDataForEthers,
} from "@hygeia/crypto";
import { PatientScopes } from "@hygeia/chain";
const kd = keyDerivationTypedDataForEthers();
const walletSignature = await alice.signTypedData(kd.domain, kd.types, kd.message);
const aliceKeys = deriveKeyPairFromWalletSignature(walletSignature, { expectedAddress: alice.address });
const consentSecret = deriveConsentSecretFromWalletSignature(walletSignature, { expectedAddress: alice.address });
const scopes = new PatientScopes(deriveScopeKey(consentSecret), alice.address);

// #region sign-in
import { SiweMessage } from "siwe";
import { getAddress, type Wallet } from "ethers";

type Nonce = { nonce: string; domain: string; uri: string; chainId: number; statement: string };

async function signIn(wallet: Pick<Wallet, "address" | "signMessage">): Promise<string> {
  const { nonce, domain, uri, chainId, statement } = await call<Nonce>("GET", "/v1/auth/nonce", null);
  const message = new SiweMessage({
    domain, // the gateway's host[:port]: a message for another domain is refused
    address: getAddress(wallet.address), // EIP-55 checksummed, or SIWE_MALFORMED
    statement,
    uri,
    version: "1",
    chainId,
    nonce, // single use, expires
    issuedAt: new Date().toISOString(),
  }).prepareMessage();
  const signature = await wallet.signMessage(message); // personal_sign
  const { token } = await call<{ token: string }>("POST", "/v1/auth/verify", null, { message, signature });
  return token; // send as `authorization: Bearer <token>`
}
// #endregion sign-in

const aliceToken = await signIn(alice);
const clinicToken = await signIn(clinic);

// The clinic publishes its X25519 encryption key in its DID document (once, at onboarding).
import { IdentityAgent, ethrNetworkFromDeployment } from "@hygeia/identity";
import { generateX25519KeyPair } from "@hygeia/crypto";
const network = ethrNetworkFromDeployment(deployment, rpcUrl);
const clinicAgent = await IdentityAgent.create({ network });
const clinicDid = (await clinicAgent.importEthrDid(clinic.privateKey)).did;
const clinicKeys = generateX25519KeyPair();
await clinicAgent.publishEncryptionKey(clinicDid, clinicKeys.publicKey);

// #region upload-and-register
import { encryptToBuffer, generateDataKey, wrapKey, x25519KeysFromDidDocument } from "@hygeia/crypto";
import { parseCid, recordKeyContext } from "@hygeia/storage";

// 1. Encrypt, then upload the ciphertext: the answer names its CID.
const observation = { resourceType: "Observation", status: "final", code: { text: "HbA1c" } };
const dek = generateDataKey();
const envelope = await encryptToBuffer(new TextEncoder().encode(JSON.stringify(observation)), dek);
const uploaded = await fetch(`${gateway}/v1/uploads`, {
  method: "PUT",
  headers: { authorization: `Bearer ${aliceToken}`, "content-type": "application/octet-stream" },
  body: envelope,
});
const { cid } = (await uploaded.json()) as { cid: string; size: number };

// 2. Wrap the data key, bound to the context hygeia:record:<cid> (so only after the upload), to each
//    recipient's X25519 key: your own, and the clinic's from its DID document (ERC-1056 did/pub/X25519/enc/base64).
const resolver = await IdentityAgent.create({ network }); // resolves DIDs; holds no key;
const [clinicKey] = x25519KeysFromDidDocument(await resolver.resolve(clinicDid));
const context = recordKeyContext(parseCid(cid)); // "hygeia:record:<cid>"
const wrap = (publicKey: Uint8Array) => Buffer.from(wrapKey(dek, publicKey, context)).toString("base64url");
const wraps = [
  { recipient: alice.address, wrap: wrap(aliceKeys.publicKey) }, // a self-wrap is required
  { recipient: clinic.address, wrap: wrap(clinicKey!.publicKey) }, // recipient: an Ethereum address
];

// 3. Register it, with its scope ids under the consent address that grants (here the main address).
const scopeIds = { [alice.address]: scopes.forRecord({ cid, resourceType: "Observation", categories: [] }) };
await call("POST", "/v1/records", aliceToken, { cid, scopeIds, wraps });
// #endregion upload-and-register
assert.match(cid, /^b/);

// #region relay-grant
import { ConsentRegistryClient, signGrant, signedConsentToJson } from "@hygeia/chain";

// A read-only client gives the EIP-712 domain and the slot's next version; the patient signs, the gateway pays.
const registry = new ConsentRegistryClient(deployment.contracts.ConsentRegistry, provider);
const now = Math.floor(Date.now() / 1000);
const { domain, message } = await registry.nextGrantTypedData({
  patient: alice.address,
  grantee: clinic.address,
  scope: scopes.id("fhir:Observation"),
  purpose: "Treatment",
  expiry: now + 30 * 86400,
  deadline: now + 600,
});
const signed = await signGrant(alice, domain, { ...message, patient: alice.address });
await call("POST", "/v1/consents/grants?wait=receipt", aliceToken, { signed: signedConsentToJson(signed) });
// The 200 means mined; GET /v1/consents lists the grant (and a release may use it) once the gateway's indexer
// has seen it with `confirmations` blocks on top (chain.confirmations; default 2, about 2 s on a live chain).
type Consents = { consents: { grantee: string }[] };
for (let i = 0; i < 100; i++) {
  const { consents } = await call<Consents>("GET", "/v1/consents", aliceToken);
  if (consents.some((c) => c.grantee === clinic.address.toLowerCase())) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
// #endregion relay-grant

// #region release
import { decryptToBuffer, unwrapKey } from "@hygeia/crypto";

// The clinic (signed in, a grantee of Alice) asks for the key under a purpose, then fetches the ciphertext.
const patientPath = `/v1/patients/${alice.address}/records/${cid}`;
const released = await call<{ wrap: string; auditIndex: number }>("POST", `${patientPath}/key`, clinicToken, {
  purpose: "Treatment",
});
const content = await fetch(`${gateway}${patientPath}/content?purpose=Treatment`, {
  headers: { authorization: `Bearer ${clinicToken}` },
});
const key = unwrapKey(Buffer.from(released.wrap, "base64url"), clinicKeys, recordKeyContext(parseCid(cid)));
const plain = await decryptToBuffer(new Uint8Array(await content.arrayBuffer()), key);
// #endregion release
assert.deepEqual(JSON.parse(new TextDecoder().decode(plain)), observation);
assert.equal(typeof released.auditIndex, "number");

// The next anchor (audit.anchorEveryMs) covers the release.
for (let i = 0; i < 100; i++) {
  const head = await call<Checkpoints>("GET", "/v1/audit/checkpoints?limit=100", null);
  const last = head.checkpoints.at(-1);
  if (last?.anchor && last.size > released.auditIndex) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}

// #region verify-audit
import { AuditAnchorClient } from "@hygeia/chain";
import { verifyAuditLog, type ServedCheckpoint, type ServedConsistency, type ServedEvent } from "@hygeia/audit";

type EventsPage = {
  events: (Omit<ServedEvent, "inclusion"> & { inclusion: ServedEvent["inclusion"] | null })[];
  next: string | null;
};
type Checkpoints = {
  origin: string;
  verifierKey: string;
  checkpoints: (ServedCheckpoint & { anchor: object | null; size: number; consistency: ServedConsistency })[];
};

// Your events (pages of up to 100), the gateway's signed heads with consistency proofs, and its key.
const events: EventsPage["events"] = [];
for (let after: string | null = null, first = true; first || after !== null; first = false) {
  const page: EventsPage = await call<EventsPage>(
    "GET",
    `/v1/audit/events?limit=100${after ? `&after=${after}` : ""}`,
    aliceToken,
  );
  events.push(...page.events);
  after = page.next;
}
const { origin, verifierKey, checkpoints } = await call<Checkpoints>("GET", "/v1/audit/checkpoints?limit=100", null);
const { gateway: gatewayAddress } = await call<{ gateway: string }>("GET", "/v1/audit/verifier-key", null);

// The anchors from the chain itself, not from the gateway: every AuditRootAnchored event of this gateway.
const anchorClient = new AuditAnchorClient(deployment.contracts.AuditAnchor, provider);
const anchors = await anchorClient.anchorsOf(gatewayAddress, { fromBlock: deployment.deployedAt.block });

const result = verifyAuditLog({
  patient: alice.address.toLowerCase(),
  gateway: gatewayAddress,
  origin,
  verifierKey,
  events: events.filter((e): e is ServedEvent => e.inclusion !== null), // newer than the last anchor: not provable yet
  checkpoints, // { note, size, rootHash }: the note is what is checked
  consistency: checkpoints.map((c) => c.consistency), // { from, to, proof }
  anchors: anchors.map((a) => ({ root: a.root, firstIndex: a.firstIndex, count: a.count })),
});
// result.ok: every event verified, every head signed, anchored and linked; result.problems says what failed.
// #endregion verify-audit
assert.equal(result.ok, true, JSON.stringify(result.problems));
assert.ok(result.events.some((e) => e.ok && e.event?.type === "key_release" && e.event.decision === "permit"));
await clinicAgent.close();
await resolver.close();
await app.close();
await closeServices(services);
await local.stop();
await rm(dir, { recursive: true, force: true });
