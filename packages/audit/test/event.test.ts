import { expect } from "chai";
import fc from "fast-check";
import { InvalidAuditEventError, decodeAuditEvent, encodeAuditEvent, type AuditEvent } from "../src/index.ts";

const base: AuditEvent = {
  v: 1,
  type: "key_release",
  decision: "permit",
  time: 1_767_225_600_000,
  seq: 0,
  gateway: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
  actor: "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
  patient: "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
  reason: "CONSENT_GRANTED",
  request: "6f1c2d0e-8a53-4b8e-9a7e-0f6d7c1b2a3e",
  record: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
  purpose: 1,
};
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function fieldOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof InvalidAuditEventError) return error.field;
    throw error;
  }
  return undefined;
}

/** RFC 8785 by the book for these events: members sorted by UTF-16 code units, each written by JSON.stringify. */
function referenceJcs(event: AuditEvent): string {
  const record = event as unknown as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(record[key])}`).join(",")}}`;
}

describe("@hygeia/audit event encoding", () => {
  it("writes, for 2,000 generated valid events, exactly the bytes of a by-the-book RFC 8785 encoding", () => {
    const hex = (length: number) => fc.stringMatching(new RegExp(`^0x[0-9a-f]{${length}}$`));
    // Every printable ASCII character but the quote and the backslash, which the request id refuses.
    const requestChar = fc.constantFrom(
      ...Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).filter((c) => c !== '"' && c !== "\\"),
    );
    const event = fc.record(
      {
        v: fc.constant(1 as const),
        type: fc.constantFrom("key_release", "access_denied", "emergency_release" as const),
        decision: fc.constantFrom("permit", "deny" as const),
        time: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        gateway: hex(40),
        actor: hex(40),
        patient: hex(40),
        reason: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,63}$/),
        request: fc.array(requestChar, { minLength: 1, maxLength: 128 }).map((chars) => chars.join("")),
        record: fc.stringMatching(/^b[a-z2-7]{1,127}$/),
        consentAddress: hex(40),
        scope: hex(64),
        tx: hex(64),
        purpose: fc.integer({ min: 1, max: 5 }),
      },
      { requiredKeys: ["v", "type", "decision", "time", "seq", "gateway", "actor", "patient", "reason", "request"] },
    );
    fc.assert(
      fc.property(event, (generated) => {
        const valid = generated as AuditEvent;
        expect(text(encodeAuditEvent(valid))).to.equal(referenceJcs(valid));
      }),
      { numRuns: 2_000 },
    );
  });

  it("writes canonical JSON: members sorted, no whitespace, the same bytes whatever the member order", () => {
    const encoded = text(encodeAuditEvent(base));
    expect(encoded).to.equal(
      '{"actor":"0x15d34aaf54267db7d7c367839aaf71a00a2c6a65","decision":"permit","gateway":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8",' +
        '"patient":"0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc","purpose":1,"reason":"CONSENT_GRANTED",' +
        '"record":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","request":"6f1c2d0e-8a53-4b8e-9a7e-0f6d7c1b2a3e",' +
        '"seq":0,"time":1767225600000,"type":"key_release","v":1}',
    );
    const reversed = Object.fromEntries(Object.entries(base).reverse()) as unknown as AuditEvent;
    expect(text(encodeAuditEvent(reversed))).to.equal(encoded);
    expect(decodeAuditEvent(encodeAuditEvent(base))).to.deep.equal(base);
  });

  it("refuses a bad member by name: uppercase address, unknown type, undefined or null optional, extra member, PHI-shaped text", () => {
    expect(fieldOf(() => encodeAuditEvent({ ...base, actor: base.actor.toUpperCase().replace("0X", "0x") }))).to.equal(
      "actor",
    );
    expect(fieldOf(() => encodeAuditEvent({ ...base, type: "read_chart" as AuditEvent["type"] }))).to.equal("type");
    expect(fieldOf(() => encodeAuditEvent({ ...base, scope: undefined }))).to.equal("scope");
    expect(fieldOf(() => encodeAuditEvent({ ...base, tx: null as unknown as string }))).to.equal("tx");
    expect(fieldOf(() => encodeAuditEvent({ ...base, diagnosis: "flu" } as AuditEvent))).to.equal("diagnosis");
    expect(fieldOf(() => encodeAuditEvent({ ...base, reason: "patient has flu" }))).to.equal("reason");
    expect(fieldOf(() => encodeAuditEvent({ ...base, purpose: 6 }))).to.equal("purpose");
    expect(fieldOf(() => encodeAuditEvent({ ...base, seq: -1 }))).to.equal("seq");
    expect(fieldOf(() => encodeAuditEvent({ ...base, request: 'a"b' }))).to.equal("request");
  });

  it("decodes strictly: whitespace, reordered members or a changed byte are refused", () => {
    const encoded = text(encodeAuditEvent(base));
    const decode = (s: string) => decodeAuditEvent(new TextEncoder().encode(s));
    expect(fieldOf(() => decode(encoded.replace(",", ", ")))).to.equal("event");
    expect(fieldOf(() => decode(JSON.stringify(Object.fromEntries(Object.entries(base).reverse()))))).to.equal("event");
    expect(fieldOf(() => decode(encoded.replace('"permit"', '"permiT"')))).to.equal("decision");
    expect(fieldOf(() => decodeAuditEvent(Uint8Array.of(0xff, 0xfe)))).to.equal("event");
  });
});
