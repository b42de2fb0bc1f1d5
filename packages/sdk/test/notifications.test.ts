// Access notifications as served by GET /v1/events: a well-formed `access` event's data becomes a typed notification;
// anything else (not JSON, a field of the wrong type, a missing event) is skipped, never thrown into the caller's UI.
// The stream is read from a real HTTP server here; the gateway's own stream runs in the web page's browser test
// (packages/web/test/patient-dashboard.test.ts).
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import {
  MAX_EVENT_CHARS,
  parseAccessNotification,
  watchAccessNotifications,
  type AccessNotification,
} from "../src/patient/notifications.ts";
import { GatewayTransport } from "../src/transport.ts";
import { UnexpectedResponseError } from "../src/errors.ts";

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

  describe("the stream", function () {
    let server: Server;
    let url: string;
    let write: (res: ServerResponse) => void;
    before(async function () {
      server = createServer((req, res) => {
        if (req.url !== "/v1/events" || req.headers.authorization !== "Bearer t") {
          res.writeHead(401, { "content-type": "application/problem+json" });
          res.end(
            JSON.stringify({
              type: "urn:hygeia:problem:unauthenticated",
              status: 401,
              code: "UNAUTHENTICATED",
              detail: "no session",
            }),
          );
          return;
        }
        res.writeHead(200, { "content-type": "text/event-stream" });
        write(res);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(function () {
      server.closeAllConnections();
      server.close();
    });

    it("hands on each access event, skips the rest, says when connected, and ends with the stream", async function () {
      write = (res) => {
        res.write(": connected\nretry: 5000\n\n");
        res.write(`id: 41\nevent: access\ndata: ${JSON.stringify(served)}\n\n`);
        res.write("event: access\ndata: {not json}\n\n");
        res.write(`event: other\ndata: ${JSON.stringify(served)}\n\n: heartbeat\n\n`);
        res.end();
      };
      const seen: AccessNotification[] = [];
      let connected = 0;
      await watchAccessNotifications(new GatewayTransport({ url, token: "t" }), {
        onNotification: (notification) => seen.push(notification),
        onConnected: () => connected++,
      });
      expect(connected).to.equal(1);
      expect(seen.map((notification) => notification.index)).to.deep.equal([41]);
    });

    it("refuses an event longer than it buffers, handing on nothing of it", async function () {
      write = (res) => res.write(`event: access\ndata: ${"x".repeat(MAX_EVENT_CHARS + 10)}`); // and never ends it
      const seen: AccessNotification[] = [];
      const error = await watchAccessNotifications(new GatewayTransport({ url, token: "t" }), {
        onNotification: (notification) => seen.push(notification),
      }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(UnexpectedResponseError);
      expect(seen).to.deep.equal([]);
    });

    it("throws the gateway's refusal before the stream opens, and resolves when the caller aborts", async function () {
      const refused = await watchAccessNotifications(new GatewayTransport({ url, token: "wrong" }), {
        onNotification: () => undefined,
      }).catch((e: unknown) => e);
      expect((refused as { code?: string }).code).to.equal("UNAUTHENTICATED");
      write = (res) => res.write(": connected\n\n"); // stays open
      const controller = new AbortController();
      const watching = watchAccessNotifications(new GatewayTransport({ url, token: "t" }), {
        onNotification: () => undefined,
        onConnected: () => controller.abort(),
        signal: controller.signal,
      });
      expect(await watching).to.equal(undefined);
    });
  });
});
