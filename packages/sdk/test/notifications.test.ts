// Access notifications as served by GET /v1/events: a well-formed `access` event's data becomes a typed notification;
// anything else (not JSON, a field of the wrong type, a missing event) is skipped, never thrown into the caller's UI.
// The live stream itself runs in the web page's browser test (packages/web/test/patient-dashboard.test.ts).
import { expect } from "chai";
import { parseAccessNotification } from "../src/patient/notifications.ts";

const served = {
  patient: "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
  log: "hygeia.test/gateway",
  index: 41,
  newGrantee: true,
  emergency: false,
  event: {
    type: "key_release",
    decision: "permit",
    actor: "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
    patient: "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    reason: "CONSENT_GRANTED",
    record: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    purpose: 1,
    time: 1767225600000,
  },
};

describe("sdk access notifications", function () {
  it("reads a served access event into a typed notification", function () {
    const notification = parseAccessNotification(JSON.stringify(served))!;
    expect(notification.index).to.equal(41);
    expect(notification.newGrantee).to.equal(true);
    expect(notification.event.decision).to.equal("permit");
    expect(notification.event.purpose).to.equal(1);
    expect(notification.event.time.toISOString()).to.equal("2026-01-01T00:00:00.000Z");
  });

  it("skips what is not a notification", function () {
    const broken = [
      "not json",
      "null",
      JSON.stringify({ ...served, index: "41" }),
      JSON.stringify({ ...served, newGrantee: "yes" }),
      JSON.stringify({ ...served, event: { ...served.event, decision: "maybe" } }),
      JSON.stringify({ ...served, event: { ...served.event, time: "yesterday" } }),
      JSON.stringify({ ...served, event: undefined }),
    ];
    for (const data of broken) expect(parseAccessNotification(data), data).to.equal(undefined);
  });
});
