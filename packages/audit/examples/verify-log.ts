// A patient's check of an audit log, end to end without a gateway: a log of three events, a signed
// checkpoint, an "anchor" as AuditAnchor would hold it, then verifyAuditLog. Run: node packages/audit/examples/verify-log.ts
import assert from "node:assert/strict";
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
} from "@hygeia/audit";

const patient = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const signingKey = new Uint8Array(32).fill(7); // the gateway's Ed25519 seed (audit-signing.key)
const origin = "hygeia.example/gateway";

// #region build
const log = new MerkleLog();
const events = [0, 1, 2].map((seq) => {
  const event: AuditEvent = {
    v: 1,
    type: "key_release",
    decision: "permit",
    time: 1_767_225_600_000 + seq,
    seq, // this patient's 0, 1, 2, ...: a withheld event leaves a gap
    gateway: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    actor: "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
    patient,
    reason: "CONSENT_GRANTED",
    request: `request-${seq}`,
    purpose: 1,
  };
  const bytes = encodeAuditEvent(event); // canonical JSON: the leaf data
  log.append(leafHash(bytes));
  return bytes;
});
const note = signCheckpoint(formatCheckpoint({ origin, size: log.size, rootHash: log.root() }), {
  name: origin,
  privateKey: signingKey,
});
// #endregion build

// #region verify
const hex = (bytes: Uint8Array) => `0x${toHex(bytes)}`;
const result = verifyAuditLog({
  patient,
  origin,
  verifierKey: verifierKeyOf(origin, signingKey), // GET /v1/audit/verifier-key
  events: events.map((event, index) => ({
    index,
    event,
    inclusion: { size: 3, proof: log.inclusionProof(index, 3).map(hex) },
  })),
  checkpoints: [{ note }], // GET /v1/audit/checkpoints
  consistency: [], // one head: nothing to link
  anchors: [{ root: hex(log.root()), firstIndex: 0, count: 3 }], // AuditRootAnchored, read from the chain
});
assert.equal(result.ok, true);

// The gateway withholding the middle event shows as a gap in seq.
const withheld = verifyAuditLog({
  patient,
  origin,
  verifierKey: verifierKeyOf(origin, signingKey),
  events: [0, 2].map((index) => ({
    index,
    event: events[index]!,
    inclusion: { size: 3, proof: log.inclusionProof(index, 3).map(hex) },
  })),
  checkpoints: [{ note }],
  consistency: [],
  anchors: [{ root: hex(log.root()), firstIndex: 0, count: 3 }],
});
assert.deepEqual(
  withheld.problems.map((p) => p.code),
  ["MISSING_EVENT"],
);
// #endregion verify
console.log("audit log verified; a withheld event detected");
