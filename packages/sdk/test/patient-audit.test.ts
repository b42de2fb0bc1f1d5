// The patient's audit log through the SDK, on the real stack (anvil with the contracts, Helia, the SQLite gateway on a
// socket). The gateway anchors only when the test says so (`app.audit.anchorNow()`), so which events are anchored is
// known. A permit and a deny verify against the anchors read from the chain; events newer than the last anchor are
// pending, not trusted; an event altered on its way (a fetch wrapper rewriting the gateway's answer) or withheld is an
// integrity failure in the report, and verifyOrThrow throws IntegrityError.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import type { HDNodeWallet } from "ethers";
import { encryptToBuffer, generateDataKey, generateX25519KeyPair, wrapKey, type X25519KeyPair } from "@hygeia/crypto";
import { verifierKeyOf } from "@hygeia/audit";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { signIn as signInOverHttp } from "../../gateway/test/support/auth.ts";
import { derivePatientKeys } from "../src/patient/keys.ts";
import { HygeiaConnection, IntegrityError, signIn, type FetchLike } from "../src/index.ts";
import type { PatientContext, RecordSharing } from "../src/patient/context.ts";
import { PatientConsent } from "../src/patient/consent.ts";
import { AuditIntegrityError, PatientAudit } from "../src/patient/audit.ts";

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");
const keyContext = (cid: string): string => `hygeia:record:${cid}`;

/** Records are wrapped to the clinic at upload here, so a grant needs no sharing. */
const noSharing: RecordSharing = { shareScopesWith: () => Promise.resolve(0) };

/** A fetch that lets `rewrite` change the JSON of GET /v1/audit/events answers (a man in the middle, or a lying gateway). */
function rewritingFetch(rewrite: (page: { events: { index: number; event: string }[] }) => void): FetchLike {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (new URL(input).pathname !== "/v1/audit/events" || !res.ok) return res;
    const page = (await res.json()) as { events: { index: number; event: string }[] };
    rewrite(page);
    return new Response(JSON.stringify(page), { status: 200, headers: { "content-type": "application/json" } });
  };
}

describe("sdk PatientAudit", function () {
  let stack: TestStack;
  let alice: HDNodeWallet;
  let context: PatientContext;
  let audit: PatientAudit;
  let clinic: { wallet: HDNodeWallet; keys: X25519KeyPair; token: string };
  const opened: HygeiaConnection[] = [];
  let releasedIndex: number;
  let deniedIndex: number;

  async function connect(fetchLike?: FetchLike): Promise<HygeiaConnection> {
    const connection = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
      ...(fetchLike ? { fetch: fetchLike } : {}),
    });
    opened.push(connection);
    await signIn(connection.transport, alice);
    return connection;
  }

  /** A record of Alice's wrapped to herself and the clinic; its ids name `category`. */
  async function addRecord(category: string): Promise<string> {
    const dek = generateDataKey();
    const ciphertext = await encryptToBuffer(new TextEncoder().encode(`a ${category} record`), dek);
    const { transport } = context.connection;
    const { cid } = await transport.upload<{ cid: string }>("/v1/uploads", ciphertext);
    const wrap = (key: Uint8Array) => b64url(wrapKey(dek, key, keyContext(cid)));
    await transport.request("POST", "/v1/records", {
      json: {
        cid,
        scopeIds: {
          [alice.address]: context.keys.scopes.forRecord({ cid, resourceType: "Observation", categories: [category] }),
        },
        wraps: [
          { recipient: alice.address, wrap: wrap(context.keys.encryption.publicKey) },
          { recipient: clinic.wallet.address, wrap: wrap(clinic.keys.publicKey) },
        ],
      },
    });
    return cid;
  }

  async function clinicAsks(cid: string): Promise<{ status: number; auditIndex?: number }> {
    const res = await fetch(`${stack.url}/v1/patients/${alice.address}/records/${cid}/key`, {
      method: "POST",
      headers: { authorization: `Bearer ${clinic.token}`, "content-type": "application/json" },
      body: JSON.stringify({ purpose: "Treatment" }),
    });
    const body = (await res.json()) as { auditIndex?: number };
    return { status: res.status, ...(body.auditIndex === undefined ? {} : { auditIndex: body.auditIndex }) };
  }

  before(async function () {
    // Anchoring only on demand: the tests decide which events an anchor covers.
    stack = await startTestStack({ config: { audit: { anchorEveryMs: 86_400_000, anchorEveryEvents: 1_000_000 } } });
    alice = stack.accounts.alice;
    const keys = await derivePatientKeys(alice);
    clinic = {
      wallet: stack.accounts.clinic,
      keys: generateX25519KeyPair(),
      token: await signInOverHttp(stack, stack.accounts.clinic),
    };
    const connection = await connect();
    context = { connection, signer: alice, address: alice.address, keys };
    audit = new PatientAudit(context, noSharing);

    // The log: two uploads, a relayed grant of the laboratory category, a permitted release, a denied one.
    const lab = await addRecord("laboratory");
    const imaging = await addRecord("imaging");
    await new PatientConsent(context, noSharing).grant({
      grantee: clinic.wallet.address,
      scopes: ["category:laboratory"],
      purpose: "Treatment",
      expires: "7d",
    });
    const permitted = await clinicAsks(lab);
    expect(permitted.status).to.equal(200);
    releasedIndex = permitted.auditIndex!;
    const denied = await clinicAsks(imaging);
    expect(denied.status).to.equal(403);
    await stack.app.audit.anchorNow();
    const { events } = await audit.events({ limit: 100 });
    deniedIndex = events.find((e) => e.type === "access_denied")!.index;
  });

  after(async function () {
    for (const connection of opened) connection.close();
    await stack?.close();
  });

  it("verifies every anchored event of a log with a permit and a deny against the anchors on chain", async function () {
    const report = await audit.verify({ knownIndexes: [releasedIndex] });
    expect(report.problems).to.deep.equal([]);
    expect(report.ok).to.equal(true);
    expect(report.counts).to.deep.equal({ verified: report.events.length, failed: 0, pending: 0 });
    expect(report.events.every((e) => e.verified === true)).to.equal(true);
    expect(report.anchoredSize).to.be.greaterThan(Math.max(releasedIndex, deniedIndex));
    expect(report.patient).to.equal(alice.address.toLowerCase());

    const permit = report.events.find((e) => e.index === releasedIndex)!;
    expect(permit).to.include({
      type: "key_release",
      decision: "permit",
      reason: "CONSENT_GRANTED",
      grantee: clinic.wallet.address.toLowerCase(),
      scope: "category:laboratory", // the wallet labels the id the release used
      purpose: "Treatment",
      emergency: false,
      verified: true,
    });
    expect(permit.time).to.be.instanceOf(Date);
    const deny = report.events.find((e) => e.index === deniedIndex)!;
    expect(deny).to.include({
      type: "access_denied",
      decision: "deny",
      grantee: clinic.wallet.address.toLowerCase(),
      verified: true,
    });
    expect(report.events.map((e) => e.type)).to.include.members(["record_added", "consent_relayed"]);
    expect(report.events.map((e) => e.seq)).to.deep.equal(report.events.map((_, i) => i));
    expect(audit.pinnedVerifierKey).to.equal(report.verifierKey);
  });

  it("reports events newer than the last anchor as pending, and verifies them after the next anchor", async function () {
    const imagingDenied = await clinicAsks(await addRecord("vital-signs"));
    expect(imagingDenied.status).to.equal(403);
    const before = await audit.verifyOrThrow(); // pending is not a failure
    const pending = before.events.filter((e) => e.verified === "pending");
    expect(pending.map((e) => e.type)).to.deep.equal(["record_added", "access_denied"]);
    expect(before.counts.pending).to.equal(2);
    expect(before.ok).to.equal(true);

    await stack.app.audit.anchorNow();
    const after = await audit.verify();
    expect(after.counts).to.deep.equal({ verified: after.events.length, failed: 0, pending: 0 });
    expect(after.ok).to.equal(true);
  });

  it("reports an event altered on its way as an integrity failure, and verifyOrThrow throws IntegrityError", async function () {
    // The deny is rewritten into a permit: still a canonical event, but not the one the anchored head includes.
    const tampered = new PatientAudit(
      {
        ...context,
        connection: await connect(
          rewritingFetch((page) => {
            for (const e of page.events)
              if (e.index === deniedIndex) e.event = e.event.replace('"decision":"deny"', '"decision":"permit"');
          }),
        ),
      },
      noSharing,
    );
    const report = await tampered.verify();
    expect(report.ok).to.equal(false);
    const altered = report.events.find((e) => e.index === deniedIndex)!;
    expect(altered).to.include({ verified: false, problem: "TAMPERED_EVENT", decision: "permit" });
    expect(report.problems).to.deep.include.members([
      {
        code: "TAMPERED_EVENT",
        kind: "integrity",
        log: "hygeia.test/gateway",
        message: `event ${deniedIndex} is not the event the head of size ${report.anchoredSize} includes`,
        index: deniedIndex,
      },
    ]);
    expect(report.counts.failed).to.equal(1);
    expect(report.events.filter((e) => e.verified === true)).to.have.length(report.events.length - 1);

    const error = await tampered.verifyOrThrow().catch((e: unknown) => e);
    expect(error).to.be.instanceOf(AuditIntegrityError).and.instanceOf(IntegrityError);
    expect((error as AuditIntegrityError).kind).to.equal("integrity");
    expect((error as AuditIntegrityError).code).to.equal("AUDIT_VERIFICATION_FAILED");
    expect((error as AuditIntegrityError).report.problems.map((p) => p.code)).to.deep.equal(["TAMPERED_EVENT"]);
    expect((error as AuditIntegrityError).hint).to.match(/operator/);
  });

  it("reports an event the gateway withholds as MISSING_EVENT", async function () {
    const withholding = new PatientAudit(
      {
        ...context,
        connection: await connect(
          rewritingFetch((page) => {
            page.events = page.events.filter((e) => e.index !== deniedIndex);
          }),
        ),
      },
      noSharing,
    );
    const report = await withholding.verify({ knownIndexes: [deniedIndex] });
    expect(report.ok).to.equal(false);
    expect(report.problems.map((p) => p.code)).to.deep.equal(["MISSING_EVENT", "MISSING_EVENT"]); // the seq gap, the known index
    expect(report.events.some((e) => e.index === deniedIndex)).to.equal(false);
  });

  it("checks the checkpoints against a pinned verifier key, and names a gateway that serves another", async function () {
    const other = verifierKeyOf("hygeia.test/gateway", randomBytes(32));
    const report = await audit.verify({ verifierKey: other });
    expect(report.ok).to.equal(false);
    expect(report.verifierKey).to.equal(other);
    const codes = new Set(report.problems.map((p) => p.code));
    expect([...codes]).to.include.members(["VERIFIER_KEY_CHANGED", "BAD_SIGNATURE"]);
    // The events still prove against the roots anchored on chain (the trust root); the checkpoints' signatures
    // do not, and the report says so rather than passing.
    expect(report.counts.failed).to.equal(0);
  });

  it("pages through the patient's events with a cursor", async function () {
    const first = await audit.events({ limit: 2 });
    expect(first.events).to.have.length(2);
    expect(first.next).to.be.a("string");
    const second = await audit.events({ limit: 2, after: first.next! });
    expect(second.events[0]!.index).to.be.greaterThan(first.events[1]!.index);
    expect(first.events[0]).to.include({ type: "record_added", decision: "permit", seq: 0 });
    const error = await audit.events({ limit: 1000 }).catch((e: unknown) => e);
    expect((error as { field?: string }).field).to.equal("limit");
  });
});
