// The consent relay on the real stack: patients without ETH sign EIP-712 messages, the gateway's relayer
// sends them, the indexer lists the result; every refusal happens before gas is spent.
import { expect } from "chai";
import { Wallet, hexlify, randomBytes, type HDNodeWallet } from "ethers";
import {
  ConsentRegistryClient,
  emergencyScopes,
  signEmergencyGrantee,
  signGrant,
  signConsentAddressLink,
  signRevoke,
  signedConsentToJson,
} from "@hygeia/chain";
import { decodeAuditEvent } from "@hygeia/audit";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { signIn } from "../support/auth.ts";
import { RELAY_WINDOW_MS } from "../../src/plugins/consent/relay.ts";
import { didEthr } from "../../src/fhir/consent.ts";
import { fhirR4Validator } from "./fhir-validator.ts";

interface Listed {
  consentAddress: string;
  grantee: string;
  scope: string;
  purpose: number;
  purposeLabel: string;
  expiry: number;
  version: number;
}

describe("gateway consent relay: signed messages relayed without the patient's ETH", function () {
  let stack: TestStack;
  let registry: ConsentRegistryClient;
  let patient: HDNodeWallet;
  let token: string;
  let clinic: string;
  let clinic2: string;

  const now = () => Math.floor(Date.now() / 1000);
  const scopeId = () => hexlify(randomBytes(32));

  before(async function () {
    // The relayer's account also anchors the audit log: no anchoring during the tests, so that its nonce and
    // balance move only when a relay is sent.
    stack = await startTestStack({ config: { audit: { anchorEveryEvents: 1_000_000, anchorEveryMs: 86_400_000 } } });
    registry = new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, stack.provider);
    patient = Wallet.createRandom(); // no ETH, never connected to a provider
    token = await signIn(stack, patient);
    clinic = stack.accounts.clinic.address;
    clinic2 = stack.accounts.clinic2.address;
  });

  after(async function () {
    await stack?.close();
  });

  async function signedGrant(signer: HDNodeWallet, grantee: string, scope: string, patientAddress = signer.address) {
    const { domain, message } = await registry.nextGrantTypedData({
      patient: patientAddress,
      grantee,
      scope,
      purpose: "Treatment",
      expiry: now() + 30 * 86_400,
      deadline: now() + 600,
    });
    return signedConsentToJson(await signGrant(signer, domain, { ...message, patient: patientAddress }));
  }

  async function signedRevoke(signer: HDNodeWallet, grantee: string, scope: string) {
    const { domain, message } = await registry.nextRevokeTypedData({
      patient: signer.address,
      grantee,
      scope,
      purpose: "Treatment",
      deadline: now() + 600,
    });
    return signedConsentToJson(await signRevoke(signer, domain, { ...message, patient: signer.address }));
  }

  async function listed(): Promise<Listed[]> {
    await stack.services.chain.indexer.sync();
    const res = await request(stack, "GET", "/v1/consents", { token });
    expect(res.status, res.text).to.equal(200);
    return (res.json as { consents: Listed[] }).consents;
  }

  async function relayerState() {
    const address = stack.accounts.gateway.address;
    return {
      nonce: await stack.provider.getTransactionCount(address, "pending"),
      balance: await stack.provider.getBalance(address),
    };
  }

  it("relays a grant signed by a patient with no ETH, answers the mined receipt, and lists it from the indexer", async function () {
    expect(await stack.provider.getBalance(patient.address)).to.equal(0n);
    const scope = scopeId();
    const res = await request(stack, "POST", "/v1/consents/grants?wait=receipt", {
      token,
      json: { signed: await signedGrant(patient, clinic, scope) },
    });
    expect(res.status, res.text).to.equal(200);
    const body = res.json as { hash: string; blockNumber: number; status: string; consentAddress: string };
    expect(body.status).to.equal("mined");
    expect(body.hash).to.match(/^0x[0-9a-f]{64}$/);
    expect(body.consentAddress).to.equal(patient.address.toLowerCase());
    const receipt = await stack.provider.getTransactionReceipt(body.hash);
    expect(receipt?.blockNumber).to.equal(body.blockNumber);
    expect(receipt?.from.toLowerCase()).to.equal(stack.accounts.gateway.address.toLowerCase());
    expect(await registry.isAllowed({ patient: patient.address, grantee: clinic, scope, purpose: 1 })).to.equal(true);

    const consents = await listed();
    expect(consents).to.deep.include({
      consentAddress: patient.address.toLowerCase(),
      grantee: clinic.toLowerCase(),
      scope,
      purpose: 1,
      purposeLabel: "Treatment",
      expiry: consents.find((c) => c.scope === scope)!.expiry,
      version: 1,
    });

    // The relay is on the patient's audit log, with the transaction, before the answer left.
    const rows = await stack.services.store.auditOf(patient.address.toLowerCase(), { limit: 100 });
    const events = rows.map((row) => decodeAuditEvent(row.event));
    const mined = events.findIndex((e) => e.type === "consent_relayed" && e.tx === body.hash && e.scope === scope);
    expect(mined).to.be.at.least(0);
    expect(events[mined]!.reason).to.equal("GRANT_RELAYED");
    // ... and the intent to send it was durable before it was sent: a gateway killed while the transaction is
    // being mined still leaves the patient an event.
    const submitted = events.findIndex((e) => e.reason === "GRANT_SUBMITTED" && e.scope === scope);
    expect(submitted).to.be.at.least(0).and.below(mined);
    expect(events[submitted]!.tx).to.equal(undefined);
  });

  it("relays a batch of grants in one request, each mined", async function () {
    const a = scopeId();
    const b = scopeId();
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token,
      json: { signed: [await signedGrant(patient, clinic, a), await signedGrant(patient, clinic2, b)], wait: true },
    });
    expect(res.status, res.text).to.equal(200);
    const { results } = res.json as { results: { status: string; hash: string; grantee: string }[] };
    expect(results.map((r) => r.status)).to.deep.equal(["mined", "mined"]);
    expect(results.map((r) => r.grantee)).to.deep.equal([clinic.toLowerCase(), clinic2.toLowerCase()]);
    expect(await registry.isAllowed({ patient: patient.address, grantee: clinic2, scope: b, purpose: 1 })).to.equal(
      true,
    );
  });

  it("relays a revoke: the consent leaves the listing", async function () {
    const scope = scopeId();
    expect(
      (
        await request(stack, "POST", "/v1/consents/grants", {
          token,
          json: { signed: await signedGrant(patient, clinic, scope) },
        })
      ).status,
    ).to.equal(200);
    expect((await listed()).some((c) => c.scope === scope)).to.equal(true);
    const res = await request(stack, "POST", "/v1/consents/revokes", {
      token,
      json: { signed: await signedRevoke(patient, clinic, scope) },
    });
    expect(res.status, res.text).to.equal(200);
    expect((res.json as { kind: string }).kind).to.equal("revoke");
    expect((await listed()).some((c) => c.scope === scope)).to.equal(false);
  });

  /** Runs `body` with anvil's automine off (transactions wait in the pool until `stack.mine()`), then restores it. */
  async function withoutAutomine<T>(body: () => Promise<T>): Promise<T> {
    await stack.provider.send("evm_setAutomine", [false]);
    try {
      return await body();
    } finally {
      await stack.provider.send("evm_setAutomine", [true]);
    }
  }

  /** The relayer's transactions waiting in anvil's pool. */
  async function pooled(): Promise<{ hash: string; input: string; nonce: string }[]> {
    const content = (await stack.provider.send("txpool_content", [])) as {
      pending: Record<string, Record<string, { hash: string; input: string; nonce: string }>>;
    };
    const gateway = stack.accounts.gateway.address.toLowerCase();
    const entry = Object.entries(content.pending).find(([from]) => from.toLowerCase() === gateway);
    return entry ? Object.values(entry[1]) : [];
  }

  async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("sends one transaction for six concurrent posts of one signed grant: the other five get 409 RELAY_IN_PROGRESS, nothing sent", async function () {
    const scope = scopeId();
    const json = await signedGrant(patient, clinic, scope);
    const before = await relayerState();
    await withoutAutomine(async () => {
      // The first copy's transaction waits in the pool until mined below, so all six overlap for certain.
      const answers = Array.from({ length: 6 }, () =>
        request(stack, "POST", "/v1/consents/grants", { token, json: { signed: json } }),
      );
      const refused: Awaited<(typeof answers)[number]>[] = [];
      const pending = answers.map((answer) => answer.then((res) => (res.status === 409 && refused.push(res), res)));
      // Without the guard every copy passes its simulation and is sent: stop waiting as soon as a second one is.
      await until(async () => {
        const inPool = (await pooled()).length;
        return (refused.length === 5 && inPool === 1) || inPool > 1;
      }, "five refusals and one transaction");
      const sent = await pooled();
      await stack.mine(); // settle whatever was sent before asserting
      const statuses = (await Promise.all(pending)).map((res) => res.status);
      expect(sent).to.have.length(1);
      for (const res of refused) {
        const problem = expectProblem(res, 409, "RELAY_IN_PROGRESS");
        expect(problem.detail).to.match(/being mined; retry after it settles/);
      }
      expect(statuses.filter((status) => status === 200)).to.have.length(1);
    });
    const after = await relayerState();
    expect(after.nonce).to.equal(before.nonce + 1);
    expect(await registry.isAllowed({ patient: patient.address, grantee: clinic, scope, purpose: 1 })).to.equal(true);
    // The slot is free again once mined: the next version relays.
    const next = await request(stack, "POST", "/v1/consents/revokes", {
      token,
      json: { signed: await signedRevoke(patient, clinic, scope) },
    });
    expect(next.status, next.text).to.equal(200);
  });

  it("answers a relayed transaction that was mined as a revert with 409 RELAYED_BUT_REVERTED and its hash, not as nothing sent", async function () {
    const scope = scopeId();
    const json = await signedGrant(patient, clinic, scope);
    const before = await relayerState();
    const res = await withoutAutomine(async () => {
      const answer = request(stack, "POST", "/v1/consents/grants", { token, json: { signed: json } });
      await until(async () => (await pooled()).length === 1, "the relayer's transaction in the pool");
      const [relayed] = await pooled();
      // Someone else sends the same signed grant with a higher tip: mined first, it makes the relayer's stale.
      const fees = await stack.provider.getFeeData();
      const front = await stack.accounts.alice.sendTransaction({
        to: stack.deployment.contracts.ConsentRegistry,
        data: relayed!.input,
        gasLimit: 500_000n,
        maxPriorityFeePerGas: (fees.maxPriorityFeePerGas ?? 1n) * 100n,
        maxFeePerGas: (fees.maxFeePerGas ?? 1n) * 100n,
      });
      await stack.mine();
      expect((await front.wait())?.status).to.equal(1);
      return { res: await answer, hash: relayed!.hash };
    });
    const problem = expectProblem(res.res, 409, "RELAYED_BUT_REVERTED");
    expect(problem.hash).to.equal(res.hash.toLowerCase());
    const receipt = await stack.provider.getTransactionReceipt(res.hash);
    expect(receipt?.status).to.equal(0);
    expect((await relayerState()).nonce).to.equal(before.nonce + 1);
  });

  it("refuses a stale version with 409 STALE_VERSION before spending gas (relayer nonce and balance unchanged)", async function () {
    const scope = scopeId();
    const first = await signedGrant(patient, clinic, scope);
    const stale = await signedGrant(patient, clinic, scope); // signed for the same version as `first`
    expect((await request(stack, "POST", "/v1/consents/grants", { token, json: { signed: first } })).status).to.equal(
      200,
    );
    const before = await relayerState();
    const res = await request(stack, "POST", "/v1/consents/grants", { token, json: { signed: stale } });
    const problem = expectProblem(res, 409, "STALE_VERSION");
    expect(problem).to.include({ current: 1, signed: 0 });
    expect(await relayerState()).to.deep.equal(before);
  });

  it("refuses an expired deadline with 400 SIGNATURE_EXPIRED before spending gas", async function () {
    const domain = await registry.domain();
    const signed = await signGrant(patient, domain, {
      patient: patient.address,
      grantee: clinic,
      scope: scopeId(),
      purpose: 1,
      expiry: now() + 86_400,
      version: 0,
      deadline: now() - 5,
    });
    const before = await relayerState();
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token,
      json: { signed: signedConsentToJson(signed) },
    });
    expectProblem(res, 400, "SIGNATURE_EXPIRED");
    expect(await relayerState()).to.deep.equal(before);
  });

  it("refuses a message signed by another account than the patient it names with 400 INVALID_SIGNATURE", async function () {
    const other = Wallet.createRandom();
    const json = await signedGrant(other, clinic, scopeId());
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token,
      json: { signed: { ...json, patient: patient.address } }, // other's signature, the patient's name
    });
    expectProblem(res, 400, "INVALID_SIGNATURE");
  });

  it("checks a whole batch before sending any of it: one stale item refuses all, two items for one slot too", async function () {
    const goodScope = scopeId();
    const staleScope = scopeId();
    const stale = await signedGrant(patient, clinic2, staleScope);
    expect(
      (
        await request(stack, "POST", "/v1/consents/grants", {
          token,
          json: { signed: await signedGrant(patient, clinic2, staleScope) },
        })
      ).status,
    ).to.equal(200);
    const good = await signedGrant(patient, clinic, goodScope);
    const before = await relayerState();
    expectProblem(
      await request(stack, "POST", "/v1/consents/grants", { token, json: { signed: [good, stale] } }),
      409,
      "STALE_VERSION",
    );
    const twice = await request(stack, "POST", "/v1/consents/grants", { token, json: { signed: [good, good] } });
    expect(expectProblem(twice, 400, "DUPLICATE_SLOT").field).to.equal("body.signed.1");
    expect(await relayerState()).to.deep.equal(before);
    expect(
      await registry.isAllowed({ patient: patient.address, grantee: clinic, scope: goodScope, purpose: 1 }),
    ).to.equal(false);
  });

  it("relays a pairwise consent account's grant for any signed-in session, on that account's quota", async function () {
    const account = Wallet.createRandom(); // a consent account: not the session's address
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token,
      json: { signed: await signedGrant(account, clinic, scopeId()) },
    });
    expect(res.status, res.text).to.equal(200);
    expect((res.json as { consentAddress: string }).consentAddress).to.equal(account.address.toLowerCase());
  });

  it("lists a linked consent account's consents with the main address's, and logs its relays on the main patient's log", async function () {
    const account = Wallet.createRandom();
    const grantee = stack.accounts.researcher.address;
    const link = await signConsentAddressLink(patient, account, { grantee }, await registry.domain());
    const linked = await request(stack, "PUT", "/v1/consent-links", { token, json: link });
    expect(linked.status, linked.text).to.equal(200);
    const scope = scopeId();
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token,
      json: { signed: await signedGrant(account, grantee, scope) },
    });
    expect(res.status, res.text).to.equal(200);
    const hash = (res.json as { hash: string }).hash;

    const consents = await listed();
    expect(consents.find((c) => c.scope === scope)).to.include({
      consentAddress: account.address.toLowerCase(),
      grantee: grantee.toLowerCase(),
    });
    const rows = await stack.services.store.auditOf(patient.address.toLowerCase(), { limit: 1000 });
    const event = rows.map((row) => decodeAuditEvent(row.event)).find((e) => e.tx === hash);
    expect(event).to.include({
      type: "consent_relayed",
      patient: patient.address.toLowerCase(),
      consentAddress: account.address.toLowerCase(),
    });
  });

  it("logs a linked consent account's relay on the link's main patient even when another session relays it", async function () {
    const account = Wallet.createRandom();
    const grantee = stack.accounts.clinic2.address;
    const link = await signConsentAddressLink(patient, account, { grantee }, await registry.domain());
    const linked = await request(stack, "PUT", "/v1/consent-links", { token, json: link });
    expect(linked.status, linked.text).to.equal(200);
    const helper = Wallet.createRandom(); // another signed-in wallet relays the consent account's grant
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token: await signIn(stack, helper),
      json: { signed: await signedGrant(account, grantee, scopeId()) },
    });
    expect(res.status, res.text).to.equal(200);
    const hash = (res.json as { hash: string }).hash;

    const rows = await stack.services.store.auditOf(patient.address.toLowerCase(), { limit: 1000 });
    const event = rows.map((row) => decodeAuditEvent(row.event)).find((e) => e.tx === hash);
    expect(event).to.include({
      type: "consent_relayed",
      patient: patient.address.toLowerCase(),
      actor: helper.address.toLowerCase(),
      consentAddress: account.address.toLowerCase(),
    });
    // Nothing of it on the relaying session's log, nor on the consent account's own.
    for (const other of [helper.address, account.address]) {
      const rest = await stack.services.store.auditOf(other.toLowerCase(), { limit: 1000 });
      expect(rest.map((row) => decodeAuditEvent(row.event)).some((e) => e.tx === hash)).to.equal(false);
    }
  });

  it("relays an emergency grantee registration", async function () {
    const card = emergencyScopes([scopeId(), scopeId()]);
    const { domain, message } = await registry.nextEmergencyGranteeTypedData({
      patient: patient.address,
      grantee: clinic2,
      maxDurationSeconds: 3600,
      scopes: card.scopeIds,
      deadline: now() + 600,
    });
    const signed = await signEmergencyGrantee(patient, domain, { ...message, patient: patient.address });
    const res = await request(stack, "POST", "/v1/consents/emergency-grantees", {
      token,
      json: { signed: signedConsentToJson(signed) },
    });
    expect(res.status, res.text).to.equal(200);
    const registration = await registry.emergencyGranteeOf(patient.address, clinic2);
    expect(registration.maxDurationSeconds).to.equal(3600);
    expect(registration.scopesRoot).to.equal(card.root.toLowerCase());
  });

  it("exports the live consents as a FHIR R4 Bundle of Consent that the official R4 schema accepts", async function () {
    const validator = fhirR4Validator();
    const live = await listed();
    const res = await request(stack, "GET", "/v1/consents/fhir", { token });
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get("content-type")).to.match(/^application\/fhir\+json/);
    const bundle = JSON.parse(res.text) as { resourceType: string; type: string; entry: { resource: unknown }[] };
    expect(bundle).to.include({ resourceType: "Bundle", type: "collection" });
    expect(bundle.entry).to.have.length(live.length).and.to.have.length.above(0);
    expect(validator.validate(bundle)).to.deep.equal([]);
    for (const entry of bundle.entry) expect(validator.validate(entry.resource)).to.deep.equal([]);
    const patientDid = didEthr(stack.deployment.chainId, patient.address);
    expect(bundle.entry.every((e) => JSON.stringify(e).includes(patientDid))).to.equal(true);
  });

  it("answers 429 RELAY_QUOTA_EXCEEDED with Retry-After once the patient's daily relays are spent", async function () {
    const spent = Wallet.createRandom();
    const limit = stack.config.limits.relayPerDay;
    const windowStart = Math.floor(Date.now() / RELAY_WINDOW_MS) * RELAY_WINDOW_MS;
    while (await stack.services.store.takeRelayQuota(spent.address.toLowerCase(), windowStart, limit));
    const before = await relayerState();
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token,
      json: { signed: await signedGrant(spent, clinic, scopeId()) },
    });
    const problem = expectProblem(res, 429, "RELAY_QUOTA_EXCEEDED");
    expect(problem).to.include({ quota: "patient", limit });
    expect(Number(res.headers.get("retry-after"))).to.be.within(1, 86_400);
    expect(await relayerState()).to.deep.equal(before);
  });

  it("counts relays per session too: a session whose daily relays are spent gets 429 for any patient's message", async function () {
    const relaying = Wallet.createRandom();
    const relayingToken = await signIn(stack, relaying);
    const limit = stack.config.limits.relayPerDay;
    const windowStart = Math.floor(Date.now() / RELAY_WINDOW_MS) * RELAY_WINDOW_MS;
    const key = `session:${relaying.address.toLowerCase()}`;
    while (await stack.services.store.takeRelayQuota(key, windowStart, limit));
    const res = await request(stack, "POST", "/v1/consents/grants", {
      token: relayingToken,
      json: { signed: await signedGrant(Wallet.createRandom(), clinic, scopeId()) },
    });
    expect(expectProblem(res, 429, "RELAY_QUOTA_EXCEEDED")).to.include({ quota: "session" });
  });

  it("answers 503 naming the chain relayer when the gateway has no relayer key, before reading anything", async function () {
    const json = await signedGrant(patient, clinic, scopeId());
    const relayer = stack.services.chain.relayer;
    stack.services.chain.relayer = null; // as built without HYGEIA_RELAYER_KEY
    try {
      const res = await request(stack, "POST", "/v1/consents/grants", { token, json: { signed: json } });
      expect(expectProblem(res, 503, "RELAYER_NOT_CONFIGURED")).to.include({ dependency: "chain" });
    } finally {
      stack.services.chain.relayer = relayer;
    }
  });

  it("refuses to relay without a session (401) and answers schema-invalid messages with 400", async function () {
    const json = await signedGrant(patient, clinic, scopeId());
    expectProblem(await request(stack, "POST", "/v1/consents/grants", { json: { signed: json } }), 401);
    expectProblem(await request(stack, "POST", "/v1/consents/revokes", { json: { signed: "junk" } }), 401);
    expectProblem(
      await request(stack, "POST", "/v1/consents/grants", { token, json: { signed: { ...json, scope: "lab" } } }),
      400,
      "INVALID_REQUEST",
    );
    expectProblem(
      await request(stack, "POST", "/v1/consents/grants", { token, json: { signed: [] } }),
      400,
      "INVALID_REQUEST",
    );
    expectProblem(await request(stack, "GET", "/v1/consents"), 401);
  });

  it("documents every consent route in the OpenAPI document with its operation id, schemas and refusals", async function () {
    const res = await request(stack, "GET", "/openapi.json");
    expect(res.status).to.equal(200);
    const paths = (res.json as { paths: Record<string, Record<string, { operationId?: string; responses?: object }>> })
      .paths;
    const operations = {
      "/v1/consents/grants": ["post", "relayGrants"],
      "/v1/consents/revokes": ["post", "relayRevokes"],
      "/v1/consents/emergency-grantees": ["post", "relayEmergencyGrantees"],
      "/v1/consents": ["get", "listConsents"],
      "/v1/consents/fhir": ["get", "exportConsentsFhir"],
    } as const;
    for (const [path, [method, operationId]] of Object.entries(operations)) {
      const operation = paths[path]?.[method];
      expect(operation?.operationId, path).to.equal(operationId);
      expect(operation?.responses).to.have.property("200");
      expect(operation?.responses).to.have.property("401");
    }
  });
});
