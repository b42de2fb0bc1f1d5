// The consent batch relay on the real stack: a patient without ETH signs ONE ConsentBatch for several grants and
// revokes, the gateway's relayer sends it as one transaction; every refusal happens before gas is spent.
import { expect } from "chai";
import { Wallet, hexlify, randomBytes, type HDNodeWallet } from "ethers";
import {
  ConsentRegistryClient,
  signConsentAddressLink,
  signConsentBatch,
  signedConsentBatchToJson,
  type GrantParams,
  type RevokeParams,
} from "@hygeia/chain";
import { decodeAuditEvent } from "@hygeia/audit";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { signIn } from "../support/auth.ts";
import { MAX_RELAY_BATCH, RELAY_WINDOW_MS, decideBatch, parseRelayBatch } from "../../src/plugins/consent/relay.ts";

const BATCHES = "/v1/consents/batches";

describe("gateway consent batch relay: one signature, one transaction, checked before gas", function () {
  let stack: TestStack;
  let registry: ConsentRegistryClient;
  let patient: HDNodeWallet;
  let token: string;
  let clinic: string;
  let clinic2: string;

  const now = () => Math.floor(Date.now() / 1000);
  const scopeId = () => hexlify(randomBytes(32));
  const grantOf = (grantee: string, scope: string): GrantParams => ({
    grantee,
    scope,
    purpose: "Treatment",
    expiry: now() + 30 * 86_400,
  });
  const revokeOf = (grantee: string, scope: string): RevokeParams => ({ grantee, scope, purpose: "Treatment" });

  before(async function () {
    // No anchoring during the tests: the relayer's nonce and balance move only when a relay is sent.
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

  /** A ConsentBatch signed by `signer` for its current versions, as JSON (what a wallet posts). */
  async function signedBatch(
    signer: HDNodeWallet,
    grants: GrantParams[],
    revokes: RevokeParams[] = [],
    deadline = now() + 600,
  ) {
    const { domain, message } = await registry.nextConsentBatchTypedData({
      patient: signer.address,
      grants,
      revokes,
      deadline,
    });
    return signedConsentBatchToJson(await signConsentBatch(signer, domain, { ...message, patient: signer.address }));
  }

  async function relayerState() {
    const address = stack.accounts.gateway.address;
    return {
      nonce: await stack.provider.getTransactionCount(address, "pending"),
      balance: await stack.provider.getBalance(address),
    };
  }

  const allowed = (scope: string, grantee = clinic, who = patient.address) =>
    registry.isAllowed({ patient: who, grantee, scope, purpose: 1 });

  it("relays a batch of grants and revokes under one signature in ONE transaction, audited per item", async function () {
    const [a, b, c] = [scopeId(), scopeId(), scopeId()];
    const first = await request(stack, "POST", BATCHES, {
      token,
      json: { signed: await signedBatch(patient, [grantOf(clinic2, c)]) },
    });
    expect(first.status, first.text).to.equal(200);
    const before = await relayerState();
    const signed = await signedBatch(patient, [grantOf(clinic, a), grantOf(clinic, b)], [revokeOf(clinic2, c)]);
    const res = await request(stack, "POST", `${BATCHES}?wait=receipt`, { token, json: { signed } });
    expect(res.status, res.text).to.equal(200);
    const body = res.json as { kind: string; hash: string; blockNumber: number; status: string; grants: number };
    expect(body).to.include({
      kind: "consent-batch",
      consentAddress: patient.address.toLowerCase(),
      grants: 2,
      revokes: 1,
      status: "mined",
    });
    expect((await relayerState()).nonce).to.equal(before.nonce + 1); // one transaction for three changes
    const receipt = await stack.provider.getTransactionReceipt(body.hash);
    expect(receipt?.blockNumber).to.equal(body.blockNumber);
    expect(receipt?.from.toLowerCase()).to.equal(stack.accounts.gateway.address.toLowerCase());
    expect(await allowed(a)).to.equal(true);
    expect(await allowed(b)).to.equal(true);
    expect(await allowed(c, clinic2)).to.equal(false);

    // Each item is on the patient's audit log, submitted before the transaction and relayed with its hash.
    const rows = await stack.services.store.auditOf(patient.address.toLowerCase(), { limit: 1000 });
    const events = rows.map((row) => decodeAuditEvent(row.event));
    for (const [scope, reason] of [
      [a, "GRANT"],
      [b, "GRANT"],
      [c, "REVOKE"],
    ] as const) {
      const mined = events.findIndex((e) => e.tx === body.hash && e.scope === scope);
      expect(mined, scope).to.be.at.least(0);
      expect(events[mined]!.reason).to.equal(`${reason}_RELAYED`);
      const submitted = events.findIndex((e) => e.reason === `${reason}_SUBMITTED` && e.scope === scope);
      expect(submitted).to.be.at.least(0).and.below(mined);
    }
  });

  it("refuses a stale item with 409 STALE_VERSION naming it, before spending gas, and applies nothing", async function () {
    const [a, b] = [scopeId(), scopeId()];
    const stale = await signedBatch(patient, [grantOf(clinic, a), grantOf(clinic, b)]);
    // Something writes b's slot after the batch was signed.
    const single = await request(stack, "POST", BATCHES, {
      token,
      json: { signed: await signedBatch(patient, [grantOf(clinic, b)]) },
    });
    expect(single.status, single.text).to.equal(200);
    const before = await relayerState();
    const problem = expectProblem(
      await request(stack, "POST", BATCHES, { token, json: { signed: stale } }),
      409,
      "STALE_VERSION",
    );
    expect(problem).to.include({ current: 1, signed: 0, item: "body.signed.grants.1" });
    expect(await relayerState()).to.deep.equal(before);
    expect(await allowed(a)).to.equal(false);
  });

  it("a replayed batch is refused with 409 STALE_VERSION and costs nothing", async function () {
    const signed = await signedBatch(patient, [grantOf(clinic, scopeId())], [revokeOf(clinic2, scopeId())]);
    expect((await request(stack, "POST", BATCHES, { token, json: { signed } })).status).to.equal(200);
    const before = await relayerState();
    expectProblem(await request(stack, "POST", BATCHES, { token, json: { signed } }), 409, "STALE_VERSION");
    expect(await relayerState()).to.deep.equal(before);
  });

  it("accepts a slot named twice with chained versions (grant, then revoke), refuses unchained ones", async function () {
    const scope = scopeId();
    const chained = await signedBatch(patient, [grantOf(clinic, scope)], [revokeOf(clinic, scope)]);
    expect(chained.revokes[0]!.version).to.equal(1);
    const res = await request(stack, "POST", BATCHES, { token, json: { signed: chained } });
    expect(res.status, res.text).to.equal(200);
    expect(await registry.consentOf({ patient: patient.address, grantee: clinic, scope, purpose: 1 })).to.deep.equal({
      expiry: 0n,
      version: 2,
    });
    // Both items signed for the slot's version now: the second would be stale when it applies.
    const { domain, message } = await registry.nextConsentBatchTypedData({
      patient: patient.address,
      grants: [grantOf(clinic, scope)],
      deadline: now() + 600,
    });
    const unchained = await signConsentBatch(patient, domain, {
      patient: patient.address,
      grants: [message.grants[0]!],
      revokes: [{ ...revokeOf(clinic, scope), version: message.grants[0]!.version }],
      deadline: message.deadline,
    });
    const problem = expectProblem(
      await request(stack, "POST", BATCHES, { token, json: { signed: signedConsentBatchToJson(unchained) } }),
      409,
      "STALE_VERSION",
    );
    expect(problem).to.include({ current: 3, signed: 2, item: "body.signed.revokes.0" });
  });

  it("refuses an expired deadline (400 SIGNATURE_EXPIRED) and a past expiry (400 INVALID_INPUT naming the item)", async function () {
    const before = await relayerState();
    const late = await signConsentBatch(patient, await registry.domain(), {
      patient: patient.address,
      grants: [{ ...grantOf(clinic, scopeId()), version: 0 }],
      deadline: now() - 5,
    });
    expectProblem(
      await request(stack, "POST", BATCHES, { token, json: { signed: signedConsentBatchToJson(late) } }),
      400,
      "SIGNATURE_EXPIRED",
    );
    const past = await signConsentBatch(patient, await registry.domain(), {
      patient: patient.address,
      grants: [
        { ...grantOf(clinic, scopeId()), version: 0 },
        { ...grantOf(clinic, scopeId()), expiry: now() - 60, version: 0 },
      ],
      deadline: now() + 600,
    });
    const problem = expectProblem(
      await request(stack, "POST", BATCHES, { token, json: { signed: signedConsentBatchToJson(past) } }),
      400,
      "INVALID_INPUT",
    );
    expect(problem.field).to.equal("body.signed.grants.1.expiry");
    expect(await relayerState()).to.deep.equal(before);
  });

  it("refuses a batch signed by another account, or tampered after signing, with 400 INVALID_SIGNATURE", async function () {
    const before = await relayerState();
    const other = Wallet.createRandom();
    const byOther = await signedBatch(other, [grantOf(clinic, scopeId())]);
    expectProblem(
      await request(stack, "POST", BATCHES, { token, json: { signed: { ...byOther, patient: patient.address } } }),
      400,
      "INVALID_SIGNATURE",
    );
    const signed = await signedBatch(patient, [grantOf(clinic, scopeId()), grantOf(clinic2, scopeId())]);
    const tampered = [
      { ...signed, grants: [signed.grants[1]!, signed.grants[0]!] }, // reordered
      { ...signed, grants: [{ ...signed.grants[0]!, grantee: clinic2 }, signed.grants[1]!] },
      { ...signed, grants: signed.grants.slice(0, 1) }, // an item dropped
      { ...signed, deadline: String(Number(signed.deadline) + 1) },
    ];
    for (const json of tampered)
      expectProblem(await request(stack, "POST", BATCHES, { token, json: { signed: json } }), 400, "INVALID_SIGNATURE");
    expect(await relayerState()).to.deep.equal(before);
  });

  it("relays a linked consent account's batch for any session and logs it on the link's main patient", async function () {
    const account = Wallet.createRandom();
    const grantee = stack.accounts.researcher.address;
    const link = await signConsentAddressLink(patient, account, { grantee }, await registry.domain());
    const linked = await request(stack, "PUT", "/v1/consent-links", { token, json: link });
    expect(linked.status, linked.text).to.equal(200);
    const helper = Wallet.createRandom();
    const scope = scopeId();
    const res = await request(stack, "POST", BATCHES, {
      token: await signIn(stack, helper),
      json: { signed: await signedBatch(account, [grantOf(grantee, scope)]) },
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
      scope,
    });
  });

  it("counts every item against the patient's daily quota: 429 when the batch does not fit, nothing sent", async function () {
    const spent = Wallet.createRandom();
    const limit = stack.config.limits.relayPerDay;
    const windowStart = Math.floor(Date.now() / RELAY_WINDOW_MS) * RELAY_WINDOW_MS;
    // Leave room for one relay only.
    for (let i = 0; i < limit - 1; i++)
      expect(await stack.services.store.takeRelayQuota(spent.address.toLowerCase(), windowStart, limit)).to.equal(true);
    const before = await relayerState();
    const res = await request(stack, "POST", BATCHES, {
      token,
      json: { signed: await signedBatch(spent, [grantOf(clinic, scopeId()), grantOf(clinic, scopeId())]) },
    });
    const problem = expectProblem(res, 429, "RELAY_QUOTA_EXCEEDED");
    expect(problem).to.include({ quota: "patient", limit });
    expect(Number(res.headers.get("retry-after"))).to.be.within(1, 86_400);
    expect(await relayerState()).to.deep.equal(before);
  });

  it("refuses a batch writing a slot whose relay is being mined with 409 RELAY_IN_PROGRESS: one transaction for concurrent posts", async function () {
    const signed = await signedBatch(patient, [grantOf(clinic, scopeId()), grantOf(clinic, scopeId())]);
    const before = await relayerState();
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => request(stack, "POST", BATCHES, { token, json: { signed } })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 200)).to.have.length(1);
    for (const answer of answers.filter((a) => a.status !== 200))
      expect(["RELAY_IN_PROGRESS", "STALE_VERSION"]).to.include(expectProblem(answer, 409).code);
    expect((await relayerState()).nonce).to.equal(before.nonce + 1);
  });

  it("answers 400 for an empty batch, too many items, or a malformed one; 401 without a session; 503 without a relayer", async function () {
    const signed = await signedBatch(patient, [grantOf(clinic, scopeId())]);
    expectProblem(await request(stack, "POST", BATCHES, { json: { signed } }), 401);
    expectProblem(
      await request(stack, "POST", BATCHES, { token, json: { signed: { ...signed, grants: [], revokes: [] } } }),
      400,
      "INVALID_INPUT",
    );
    expectProblem(
      await request(stack, "POST", BATCHES, {
        token,
        json: { signed: { ...signed, grants: [{ ...signed.grants[0]!, deadline: "1" }] } },
      }),
      400,
      "INVALID_REQUEST",
    );
    const many = {
      ...signed,
      grants: Array.from({ length: MAX_RELAY_BATCH }, () => signed.grants[0]!),
      revokes: [{ grantee: clinic, scope: scopeId(), purpose: 1, version: 0 }],
    };
    const tooMany = expectProblem(
      await request(stack, "POST", BATCHES, { token, json: { signed: many } }),
      400,
      "INVALID_INPUT",
    );
    expect(tooMany.detail).to.match(new RegExp(`at most ${MAX_RELAY_BATCH}`));
    const relayer = stack.services.chain.relayer;
    stack.services.chain.relayer = null;
    try {
      const res = await request(stack, "POST", BATCHES, { token, json: { signed } });
      expect(expectProblem(res, 503, "RELAYER_NOT_CONFIGURED")).to.include({ dependency: "chain" });
    } finally {
      stack.services.chain.relayer = relayer;
    }
  });

  it("documents the batch route in the OpenAPI document", async function () {
    const res = await request(stack, "GET", "/openapi.json");
    const operation = (
      res.json as { paths: Record<string, Record<string, { operationId?: string; responses?: object }>> }
    ).paths[BATCHES]?.["post"];
    expect(operation?.operationId).to.equal("relayConsentBatch");
    for (const status of ["200", "400", "401", "409", "429", "503"])
      expect(operation?.responses).to.have.property(status);
  });

  it("decideBatch: the pure pre-gas decision counts the batch's own writes of a slot", async function () {
    const domain = await registry.domain();
    const scope = scopeId();
    const signed = signedConsentBatchToJson(
      await signConsentBatch(patient, domain, {
        patient: patient.address,
        grants: [{ ...grantOf(clinic, scope), version: 4 }],
        revokes: [{ ...revokeOf(clinic, scope), version: 5 }],
        deadline: now() + 600,
      }),
    );
    const batch = parseRelayBatch(domain, signed, "body.signed");
    const key = `consent:${patient.address.toLowerCase()}:${clinic.toLowerCase()}:${scope}:1`;
    expect(decideBatch(batch, new Map([[key, 4]]), Date.now(), "body.signed")).to.equal(undefined);
    expect(decideBatch(batch, new Map([[key, 3]]), Date.now(), "body.signed")).to.include({ code: "STALE_VERSION" });
    expect(decideBatch(batch, new Map([[key, 4]]), (now() + 601) * 1000, "body.signed")).to.include({
      code: "SIGNATURE_EXPIRED",
    });
  });
});
