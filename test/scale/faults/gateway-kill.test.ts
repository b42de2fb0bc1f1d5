// Fault: a gateway process killed with SIGKILL (no graceful shutdown: nothing flushed, nothing anchored at exit) while
// it streams a large upload, answers a burst of key releases, registers records and sets manifest pointers, with
// audit events recorded but not yet anchored (its HYGEIA_AUDIT_ANCHOR_MS is 45 s). Two gateways on one PostgreSQL
// database, one IPFS node and one chain; the victim is gateway 1, addressed directly (bypassing the balancer),
// restarted on the same data dir. After the restart: every release that returned a wrap has its event at the
// answered auditIndex of the victim's log, the pending events get anchored (on chain and in the served checkpoints),
// no record, manifest pointer or staged upload points at content IPFS lacks, no record lacks its wraps, the manifest
// pointer is not older than the last acknowledged one, and the patient's audit verification over both logs (the SDK)
// passes.
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { AuditAnchorClient } from "@hygeia/chain";
import { PatientClient } from "@hygeia/sdk";
import {
  TREATMENT,
  addRecord,
  anchoredSize,
  call,
  expectOk,
  keyPath,
  patientEvents,
  signIn,
  sleep,
  storeDamage,
  waitFor,
  useCluster,
} from "./helpers.ts";

const VICTIM_ANCHOR_MS = 45_000;

interface Release {
  cid: string;
  status: number;
  auditIndex?: number;
  text: string;
}

describe("scale faults: kill -9 of a gateway mid-upload, mid-burst, with unanchored audit events", function () {
  const suite = useCluster(
    {
      gateways: 2,
      env: (i): Record<string, string> => (i === 1 ? { HYGEIA_AUDIT_ANCHOR_MS: String(VICTIM_ANCHOR_MS) } : {}),
    },
    6,
  );

  it("loses no acknowledged release's event, anchors the pending batch after the restart, leaves no half-written row", async function () {
    this.timeout(300_000);
    const stack = suite.cluster;
    const victim = stack.gateways[1]!;
    const { patientAddress, clinicAddress, patientToken, clinicToken, records } = suite.parties;
    const startedAt = Date.now();

    // (a) A large upload streamed slowly to the victim: 64 KiB every 20 ms (about 3 MiB/s), 200 MiB in all: far more
    // than will be sent before the kill.
    let uploadSent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(7);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await sleep(20);
        uploadSent += chunk.length;
        controller.enqueue(chunk);
        if (uploadSent >= 200 * 1024 * 1024) controller.close();
      },
    });
    const upload = fetch(`${victim.url}/v1/uploads`, {
      method: "PUT",
      headers: { authorization: `Bearer ${patientToken}`, "content-type": "application/octet-stream" },
      body,
      duplex: "half",
    } as RequestInit).then(
      async (response) => ({ status: response.status, text: await response.text() }),
      (error: unknown) => ({ error }),
    );

    // (b) A burst of key releases at the victim, 12 at a time, until the victim goes away.
    let stop = false;
    const releases: Release[] = [];
    let releaseErrors = 0;
    const releaser = async (worker: number) => {
      for (let n = worker; !stop; n++) {
        const cid = records[n % records.length]!.cid;
        try {
          const answer = await call(victim.url, "POST", keyPath(patientAddress, cid), {
            token: clinicToken,
            json: TREATMENT,
          });
          const json = answer.json as { auditIndex?: number } | undefined;
          releases.push({ cid, status: answer.status, auditIndex: json?.auditIndex, text: answer.text.slice(0, 300) });
        } catch {
          releaseErrors++;
          return;
        }
      }
    };
    // Record registrations at the victim (upload, then register with wraps), 2 at a time, by another patient.
    const bob = stack.accounts.bob;
    const bobAddress = bob.address.toLowerCase();
    const bobToken = await signIn(stack.url, bob);
    let registered = 0;
    let registerErrors = 0;
    const registrar = async () => {
      while (!stop) {
        try {
          await addRecord(victim.url, bobToken, bobAddress, clinicAddress, 16 * 1024);
          registered++;
        } catch {
          registerErrors++;
          return;
        }
      }
    };
    // Manifest pointer updates at the victim (upload the sealed bytes, then compare-and-set the pointer), by bob.
    let manifests = 0;
    let manifestErrors = 0;
    let pointer = (expectOk(await call(victim.url, "GET", "/v1/manifest", { token: bobToken }), 200, "GET /v1/manifest")
      .cid ?? null) as string | null;
    const manifester = async () => {
      while (!stop) {
        try {
          const sealed = expectOk(
            await call(victim.url, "PUT", "/v1/uploads", { token: bobToken, body: randomBytes(2048) }),
            201,
            "upload of a manifest",
          );
          const set = await call(victim.url, "PUT", "/v1/manifest", {
            token: bobToken,
            json: { expected: pointer, cid: sealed.cid },
          });
          expectOk(set, 200, "PUT /v1/manifest");
          pointer = String(sealed.cid);
          manifests++;
        } catch {
          manifestErrors++;
          return;
        }
      }
    };
    const workers = [manifester(), ...Array.from({ length: 12 }, (_, i) => releaser(i)), registrar(), registrar()];

    await waitFor("100 releases, 2 registrations and 8 MiB of the upload", 60_000, async () => {
      if (registerErrors > 0 || manifestErrors > 0) throw new Error(`a registration or manifest update failed`);
      return releases.filter((r) => r.status === 200).length >= 100 && registered >= 2 && uploadSent >= 8 * 1024 * 1024;
    });
    // (c) The victim's events are recorded but not anchored (its anchor timer is 30 s and a batch is 4096 events).
    const answered = releases.filter((r) => r.status === 200);
    const highest = Math.max(...answered.map((r) => r.auditIndex!));
    const anchoredBefore = await anchoredSize(stack.gateways[0]!.url, victim.origin);
    expect(anchoredBefore, "the victim's log anchored before the kill").to.be.lessThan(highest + 1);

    const exit = await victim.kill("SIGKILL");
    expect(exit.signal).to.equal("SIGKILL");
    const killedAt = Date.now();
    await Promise.all(workers);
    stop = true;
    const uploadOutcome = await upload;
    expect(uploadOutcome, "the upload was answered: it was not cut by the kill").to.have.property("error");

    const ok = releases.filter((r) => r.status === 200);
    const other = releases.filter((r) => r.status !== 200);
    console.log(
      `      before the kill (${killedAt - startedAt} ms): ${ok.length} releases answered 200, ` +
        `${other.length} other answers, ${releaseErrors} cut; ${registered} records registered, ` +
        `${registerErrors} registrations cut; ${manifests} manifest pointers set, ${manifestErrors} cut; ${(uploadSent / 1048576).toFixed(1)} MiB of the upload sent; ` +
        `victim log anchored at ${anchoredBefore}, highest answered auditIndex ${highest}`,
    );
    expect(other.map((r) => `${r.status} ${r.text}`)).to.deep.equal([]);
    expect(releaseErrors, "releases in flight at the kill").to.be.greaterThan(0);

    await victim.restart();
    const restartedAt = Date.now();

    // Every release that returned a wrap has its event at its auditIndex in the victim's log, about that record.
    const events = await patientEvents(stack.gateways[0]!.url, patientToken, victim.origin);
    const byIndex = new Map(events.map((event) => [event.index, event.parsed]));
    const lost = ok.filter((release) => {
      const event = byIndex.get(release.auditIndex!);
      return (
        event === undefined ||
        event.record !== release.cid ||
        event.actor !== clinicAddress ||
        event.decision !== "permit" ||
        event.patient !== patientAddress
      );
    });
    expect(lost, "acknowledged releases without their event").to.deep.equal([]);
    expect(new Set(ok.map((r) => r.auditIndex)).size, "distinct audit indexes").to.equal(ok.length);

    // The pending batch gets anchored by the restarted victim: the served checkpoints and the chain both cover it.
    const size = Math.max(...events.map((event) => event.index)) + 1;
    await waitFor(`the victim's log anchored up to ${size}`, VICTIM_ANCHOR_MS + 60_000, async () => {
      return (await anchoredSize(victim.url, victim.origin)) >= size;
    });
    const anchors = await new AuditAnchorClient(
      stack.local.deployment.contracts.AuditAnchor,
      stack.local.provider,
    ).anchorsOf(victim.account.address, { fromBlock: stack.local.deployment.deployedAt.block });
    const onChain = anchors.reduce((top, a) => Math.max(top, Number(a.firstIndex) + Number(a.count)), 0);
    expect(onChain, "AuditAnchor covers the victim's log").to.be.at.least(size);
    console.log(
      `      after the restart: ${events.length} of the patient's events in the victim's log, anchored on chain up ` +
        `to ${onChain} within ${Date.now() - restartedAt} ms of the restart`,
    );

    // No half-written row: every record has wraps, and every record / manifest / staged upload is pinned in IPFS;
    // the manifest pointer is the last one acknowledged, or one set by a request the kill cut (never an older one).
    const after = expectOk(await call(victim.url, "GET", "/v1/manifest", { token: bobToken }), 200, "GET /v1/manifest");
    expect(Number(after.version), "bob's manifest version after the restart").to.be.within(manifests, manifests + 1);
    expect(await storeDamage(stack), "rows pointing at nothing, records without wraps").to.deep.equal([]);

    // The victim serves again: a new record through it, released through it.
    const fresh = await addRecord(victim.url, patientToken, patientAddress, clinicAddress);
    const own = await call(victim.url, "POST", keyPath(patientAddress, fresh.cid), {
      token: patientToken,
      json: TREATMENT,
    });
    expectOk(own, 200, "the owner's release of a record registered after the restart");

    // The patient's audit verification over both logs, through the SDK (anchors read from the chain).
    const patient = await PatientClient.connect({
      signer: suite.parties.patient,
      connection: { gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl },
    });
    let report = await patient.audit.verify();
    for (let i = 0; i < 300 && (report.counts.pending > 0 || !report.ok); i++) {
      await sleep(300);
      report = await patient.audit.verify();
    }
    expect(report.problems, "audit problems").to.deep.equal([]);
    expect(report.ok).to.equal(true);
    expect(report.counts.failed).to.equal(0);
    expect(report.counts.pending).to.equal(0);
    expect(report.counts.verified).to.be.at.least(ok.length);
  });
});
