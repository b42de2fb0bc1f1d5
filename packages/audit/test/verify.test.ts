import { expect } from "chai";
import fc from "fast-check";
import {
  MerkleLog,
  encodeAuditEvent,
  formatCheckpoint,
  leafHash,
  signCheckpoint,
  toHex,
  verifierKeyOf,
  verifyAuditLog,
  type AuditEvent,
  type VerifyAuditLogInput,
} from "../src/index.ts";

const ORIGIN = "hygeia.test/audit";
const SEED = new Uint8Array(32).fill(5);
const KEY = verifierKeyOf(ORIGIN, SEED);
const GATEWAY = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const ALICE = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const BOB = "0x90f79bf6eb2c4f870365e785982e1f101e93b906";
const hex = (bytes: Uint8Array) => `0x${toHex(bytes)}`;

/** A log of `count` events alternating Alice and Bob (every third is Bob's), with per-patient seq. */
function makeEvents(count: number, salt = ""): Uint8Array[] {
  const seqs = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const patient = i % 3 === 2 ? BOB : ALICE;
    const seq = seqs.get(patient) ?? 0;
    seqs.set(patient, seq + 1);
    const event: AuditEvent = {
      v: 1,
      type: i % 5 === 0 ? "access_denied" : "key_release",
      decision: i % 5 === 0 ? "deny" : "permit",
      time: 1_767_225_600_000 + i,
      seq,
      gateway: GATEWAY,
      actor: "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
      patient,
      reason: i % 5 === 0 ? "NO_CONSENT" : "CONSENT_GRANTED",
      request: `req-${i}${salt}`,
    };
    return encodeAuditEvent(event);
  });
}

/** What an honest gateway serves Alice: her events proven against the last head, all heads, their links. */
function serve(events: Uint8Array[], headSizes: number[], patient = ALICE): VerifyAuditLogInput {
  const log = new MerkleLog();
  for (const event of events) log.append(leafHash(event));
  const last = headSizes[headSizes.length - 1]!;
  const mine = events
    .map((event, index) => ({ event, index }))
    .filter(({ event, index }) => index < last && JSON.parse(new TextDecoder().decode(event)).patient === patient);
  return {
    patient,
    verifierKey: KEY,
    origin: ORIGIN,
    events: mine.map(({ event, index }) => ({
      index,
      event,
      inclusion: { size: last, proof: log.inclusionProof(index, last).map(hex) },
    })),
    checkpoints: headSizes.map((size) => ({
      note: signCheckpoint(formatCheckpoint({ origin: ORIGIN, size, rootHash: log.root(size) }), {
        name: ORIGIN,
        privateKey: SEED,
      }),
      size,
      rootHash: hex(log.root(size)),
    })),
    consistency: headSizes
      .slice(1)
      .map((to, i) => ({ from: headSizes[i]!, to, proof: log.consistencyProof(headSizes[i]!, to).map(hex) })),
    anchors: headSizes.map((size, i) => ({
      root: hex(log.root(size)),
      firstIndex: i === 0 ? 0 : headSizes[i - 1]!,
      count: size - (i === 0 ? 0 : headSizes[i - 1]!),
    })),
  };
}

const codes = (input: VerifyAuditLogInput) => verifyAuditLog(input).problems.map((p) => p.code);

describe("@hygeia/audit verifyAuditLog", () => {
  const events = makeEvents(60);
  const heads = [10, 25, 60];

  it("accepts an honest log: every event of the patient included, heads signed, anchored and consistent", () => {
    const result = verifyAuditLog(serve(events, heads));
    expect(result.problems).to.deep.equal([]);
    expect(result.ok).to.equal(true);
    expect(result.events).to.have.length(40);
    expect(result.events.every((e) => e.ok)).to.equal(true);
    expect(result.heads.map((h) => [h.size, h.signed, h.anchored])).to.deep.equal([
      [10, true, true],
      [25, true, true],
      [60, true, true],
    ]);
  });

  it("detects a tampered event (one byte of the served JSON changed) as TAMPERED_EVENT at its index", () => {
    const input = serve(events, heads);
    const served = input.events[4]!;
    const changed = new TextDecoder().decode(served.event as Uint8Array).replace("CONSENT_GRANTED", "CONSENT_GRANTEE");
    const result = verifyAuditLog({
      ...input,
      events: input.events.map((e, i) => (i === 4 ? { ...e, event: changed } : e)),
    });
    expect(result.ok).to.equal(false);
    expect(result.problems).to.deep.include({
      code: "TAMPERED_EVENT",
      index: served.index,
      message: result.problems[0]!.message,
    });
    expect(result.events.find((e) => e.index === served.index)?.reason).to.equal("TAMPERED_EVENT");
  });

  it("detects a dropped event (one of the patient's events withheld) as MISSING_EVENT by the gap in seq", () => {
    const input = serve(events, heads);
    const dropped = input.events[7]!;
    const result = verifyAuditLog({ ...input, events: input.events.filter((e) => e !== dropped) });
    expect(result.ok).to.equal(false);
    expect(codes({ ...input, events: input.events.filter((e) => e !== dropped) })).to.deep.equal(["MISSING_EVENT"]);
    expect(result.problems[0]!.message).to.contain("seq 7");
  });

  it("detects the newest events withheld only through indexes the patient learned elsewhere (knownIndexes)", () => {
    const input = serve(events, heads);
    const truncated = { ...input, events: input.events.slice(0, -2) };
    expect(codes(truncated)).to.deep.equal([]);
    const newest = input.events[input.events.length - 1]!.index;
    expect(codes({ ...truncated, knownIndexes: [newest] })).to.deep.equal(["MISSING_EVENT"]);
  });

  it("detects a forked log: a second history sharing a prefix, its head signed by the same key, fails consistency", () => {
    const honest = serve(events, heads);
    // Events 30.. rewritten (a different request id): the same first 25 events, another tree after.
    const forked = [...events.slice(0, 30), ...makeEvents(60, "-forged").slice(30)];
    const fork = serve(forked, heads);
    // The gateway shows the anchored heads 10 and 25 (shared) but the forked head 60 with the fork's proof.
    const mixed: VerifyAuditLogInput = {
      ...honest,
      checkpoints: [honest.checkpoints[0]!, honest.checkpoints[1]!, fork.checkpoints[2]!],
      consistency: [honest.consistency[0]!, fork.consistency[1]!],
      events: fork.events,
      anchors: honest.anchors,
    };
    const result = verifyAuditLog(mixed);
    expect(result.ok).to.equal(false);
    expect(result.problems.map((p) => p.code)).to.include("ANCHOR_MISMATCH");
    // Without the chain's word, the signed fork alone still fails once both heads of size 60 are seen.
    const twoHeads = verifyAuditLog({
      ...mixed,
      anchors: [],
      checkpoints: [...mixed.checkpoints, honest.checkpoints[2]!],
      requireAnchored: false,
    });
    expect(twoHeads.problems.map((p) => p.code)).to.include("BAD_CONSISTENCY");
    // A consistency proof taken from another tree does not link the honest heads.
    const wrongProof = verifyAuditLog({
      ...honest,
      consistency: [
        honest.consistency[0]!,
        { ...fork.consistency[1]!, proof: serve(makeEvents(60, "x"), heads).consistency[1]!.proof },
      ],
    });
    expect(wrongProof.problems.map((p) => p.code)).to.deep.equal(["BAD_CONSISTENCY"]);
  });

  it("refuses heads that are unsigned or signed by another key (BAD_SIGNATURE) and events proven only against them", () => {
    const input = serve(events, heads);
    const otherKey = verifierKeyOf(ORIGIN, new Uint8Array(32).fill(6));
    const result = verifyAuditLog({ ...input, verifierKey: otherKey, anchors: [] });
    expect(result.ok).to.equal(false);
    expect(new Set(result.problems.map((p) => p.code))).to.deep.equal(new Set(["BAD_SIGNATURE", "BAD_INCLUSION"]));
  });

  it("reports UNANCHORED_HEAD when the proving head has no anchor (unless requireAnchored is false), and ANCHOR_MISMATCH for gaps between anchors", () => {
    const input = serve(events, heads);
    const lastUnanchored = { ...input, anchors: input.anchors.slice(0, 2) };
    expect(new Set(codes(lastUnanchored))).to.deep.equal(new Set(["UNANCHORED_HEAD"]));
    expect(codes({ ...lastUnanchored, requireAnchored: false })).to.deep.equal([]);
    const gap = { ...input, anchors: [input.anchors[0]!, input.anchors[2]!] };
    expect(codes(gap)).to.include("ANCHOR_MISMATCH");
  });

  it("refuses another patient's event served as the caller's, and a malformed proof, naming each", () => {
    const input = serve(events, heads);
    expect(codes({ ...input, gateway: GATEWAY })).to.deep.equal([]);
    expect(new Set(codes({ ...input, gateway: BOB }))).to.deep.equal(new Set(["TAMPERED_EVENT"]));
    const bobs = serve(events, heads, BOB).events[0]!;
    expect(codes({ ...input, events: [...input.events, bobs] })).to.deep.equal(["TAMPERED_EVENT"]);
    const short = input.events.map((e, i) =>
      i === 0 ? { ...e, inclusion: { ...e.inclusion, proof: e.inclusion.proof.slice(1) } } : e,
    );
    expect(codes({ ...input, events: short })).to.deep.equal(["BAD_INCLUSION"]);
    const unknownHead = input.events.map((e, i) => (i === 0 ? { ...e, inclusion: { ...e.inclusion, size: 59 } } : e));
    expect(codes({ ...input, events: unknownHead })).to.deep.equal(["BAD_INCLUSION"]);
  });

  it("property: never throws on whatever a server sends (any JSON-ish entries), and never says ok for garbage", () => {
    const honest = serve(events, heads);
    const entry = fc.oneof(
      fc.anything(),
      fc.record({ index: fc.anything(), event: fc.anything(), inclusion: fc.anything() }),
    );
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 4 }),
        fc.array(fc.oneof(fc.anything(), fc.record({ note: fc.string(), size: fc.anything() })), { maxLength: 3 }),
        fc.array(fc.oneof(fc.anything(), fc.record({ from: fc.nat(70), to: fc.nat(70), proof: fc.anything() })), {
          maxLength: 3,
        }),
        fc.array(
          fc.oneof(fc.anything(), fc.record({ root: fc.anything(), firstIndex: fc.anything(), count: fc.anything() })),
          { maxLength: 3 },
        ),
        (badEvents, badCheckpoints, badLinks, badAnchors) => {
          const result = verifyAuditLog({
            ...honest,
            events: [...honest.events, ...badEvents] as never,
            checkpoints: [...honest.checkpoints, ...badCheckpoints] as never,
            consistency: [...honest.consistency, ...badLinks] as never,
            anchors: [...honest.anchors, ...badAnchors] as never,
          });
          if (badEvents.length > 0) expect(result.ok).to.equal(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});
