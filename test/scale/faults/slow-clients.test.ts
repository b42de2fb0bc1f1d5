// Fault: slow clients and a flood of connections at each of 2 gateway processes (addressed directly): sockets that
// connect and send nothing, requests whose headers drip a byte every 2 s, JSON bodies that drip a byte every 2 s, and
// one client address (X-Forwarded-For from the trusted proxy, 127.0.0.1) sending requests as fast as it can with
// HYGEIA_RATE_LIMIT_PER_IP lowered to 300 a minute. The gateways' own timeouts close the slow and idle sockets
// (headers within 60 s, a JSON body within 30 s of its headers: app.ts), the flood is answered 429 problems, other
// clients (other addresses) are still served within a second, and each gateway's peak resident set (VmHWM) stays
// bounded.
import { connect, type Socket } from "node:net";
import { expect } from "chai";
import { TREATMENT, call, expectProblem, keyPath, peakRssMb, sleep, waitFor, useCluster } from "./helpers.ts";

const RATE_LIMIT_PER_IP = 300;
const IDLE = 150;
const SLOW_HEADERS = 100;
const SLOW_BODIES = 100;
const DRIP_MS = 2000;

interface Held {
  kind: "idle" | "slow headers" | "slow body";
  socket: Socket;
  openedAt: number;
  closedAt?: number;
  received: string;
  timer?: NodeJS.Timeout;
}

function hold(url: string, kind: Held["kind"]): Promise<Held> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const held: Held = { kind, socket, openedAt: Date.now(), received: "" };
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => (held.received += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      held.closedAt ??= Date.now();
      clearInterval(held.timer);
    });
    socket.once("connect", () => {
      if (kind === "slow headers") {
        socket.write(`GET /healthz HTTP/1.1\r\nHost: ${hostname}\r\nX-Drip: `);
        held.timer = setInterval(() => socket.writable && socket.write("a"), DRIP_MS);
      } else if (kind === "slow body") {
        socket.write(
          `POST /v1/auth/verify HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
            `Content-Length: 1000\r\n\r\n{`,
        );
        held.timer = setInterval(() => socket.writable && socket.write(" "), DRIP_MS);
      }
      resolve(held);
    });
    socket.once("error", reject);
  });
}

describe("scale faults: slow clients, idle sockets and a request flood at 2 gateways", function () {
  const held: Held[] = [];
  const suite = useCluster({ gateways: 2, env: { HYGEIA_RATE_LIMIT_PER_IP: String(RATE_LIMIT_PER_IP) } }, 2, {
    beforeClose: () => {
      for (const h of held) {
        clearInterval(h.timer);
        h.socket.destroy();
      }
    },
  });

  it("closes slow and idle sockets by its timeouts, answers a flood with 429, serves others, stays bounded", async function () {
    this.timeout(400_000);
    const stack = suite.cluster;
    const { patientAddress, clinicToken, records } = suite.parties;
    const started = Date.now();

    // The slow and idle sockets, at each gateway.
    for (const gateway of stack.gateways) {
      const opening: Promise<Held>[] = [];
      for (let i = 0; i < IDLE; i++) opening.push(hold(gateway.url, "idle"));
      for (let i = 0; i < SLOW_HEADERS; i++) opening.push(hold(gateway.url, "slow headers"));
      for (let i = 0; i < SLOW_BODIES; i++) opening.push(hold(gateway.url, "slow body"));
      held.push(...(await Promise.all(opening)));
    }

    // The flood: one client address, 40 requests at a time, 2 × the limit at each gateway.
    const flood: Record<number, Map<string, number>> = {};
    const floodProblems: string[] = [];
    await Promise.all(
      stack.gateways.map(async (gateway) => {
        const statuses = new Map<string, number>();
        flood[gateway.index] = statuses;
        let sent = 0;
        const worker = async () => {
          while (sent < 2 * RATE_LIMIT_PER_IP) {
            sent++;
            const response = await fetch(`${gateway.url}/v1/audit/logs`, {
              headers: { "x-forwarded-for": "203.0.113.66" },
            });
            const text = await response.text();
            if (response.status === 429) {
              try {
                const problem = expectProblem(
                  { status: 429, headers: response.headers, text, json: JSON.parse(text) },
                  429,
                  "a flooded request",
                );
                statuses.set(String(problem.code), (statuses.get(String(problem.code)) ?? 0) + 1);
              } catch (error) {
                floodProblems.push(error instanceof Error ? error.message : String(error));
              }
            } else statuses.set(String(response.status), (statuses.get(String(response.status)) ?? 0) + 1);
          }
        };
        await Promise.all(Array.from({ length: 40 }, worker));
      }),
    );
    expect(floodProblems, "429 answers that are not clean problems").to.deep.equal([]);
    for (const gateway of stack.gateways) {
      const statuses = flood[gateway.index]!;
      expect(
        statuses.get("RATE_LIMITED") ?? 0,
        `gateway ${gateway.index}: ${JSON.stringify([...statuses])}`,
      ).to.be.at.least(RATE_LIMIT_PER_IP - 10);
      expect([...statuses.keys()].sort(), `gateway ${gateway.index}`).to.deep.equal(["200", "RATE_LIMITED"]);
    }

    // Other clients are served meanwhile (each its own address): releases and health, at each gateway, while the
    // slow sockets are still held open.
    const latencies: number[] = [];
    for (let round = 0; round < 5; round++)
      for (const gateway of stack.gateways) {
        const address = `198.51.100.${round * 2 + gateway.index + 1}`;
        const t0 = performance.now();
        const release = await fetch(`${gateway.url}${keyPath(patientAddress, records[0]!.cid)}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${clinicToken}`,
            "content-type": "application/json",
            "x-forwarded-for": address,
          },
          body: JSON.stringify(TREATMENT),
        });
        await release.arrayBuffer();
        latencies.push(performance.now() - t0);
        expect(release.status, `gateway ${gateway.index}: another client's release`).to.equal(200);
        const health = await call(gateway.url, "GET", "/healthz");
        expect(health.status).to.equal(200);
      }
    const openWhileServed = held.filter((h) => h.closedAt === undefined).length;
    console.log(
      `      flood answers per gateway: ${stack.gateways.map((g) => JSON.stringify(Object.fromEntries(flood[g.index]!))).join(" / ")}; ` +
        `other clients' releases served in ${Math.round(Math.max(...latencies))} ms at most, ` +
        `with ${openWhileServed} of ${held.length} slow/idle sockets still open`,
    );
    expect(Math.max(...latencies), "another client's release time (ms)").to.be.lessThan(1000);

    // The gateways close every slow body (30 s after its headers, swept every second) and every idle or slow-header
    // socket (headers within 60 s; Node checks every 30 s), without the client ending any.
    await waitFor("the slow bodies closed by the gateways", 60_000, async () =>
      held.filter((h) => h.kind === "slow body").every((h) => h.closedAt !== undefined),
    );
    await waitFor("the idle and slow-header sockets closed by the gateways", 150_000, async () =>
      held.every((h) => h.closedAt !== undefined),
    );
    for (const kind of ["idle", "slow headers", "slow body"] as const) {
      const times = held.filter((h) => h.kind === kind).map((h) => (h.closedAt! - h.openedAt) / 1000);
      console.log(
        `      ${kind}: ${times.length} sockets closed by the gateways after ${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)} s` +
          (kind === "idle"
            ? ""
            : `; answers: ${JSON.stringify([...new Set(held.filter((h) => h.kind === kind).map((h) => h.received.split("\r\n")[0] || "(none)"))])}`),
      );
    }
    // A slow body was never parsed, so nothing was done: the gateways still answer, and no 500 was sent.
    for (const h of held) expect(h.received, `${h.kind}`).not.to.match(/^HTTP\/1\.1 5\d\d/);

    // Still serving afterwards, and bounded: each gateway's peak resident set.
    for (const gateway of stack.gateways) {
      expect((await call(gateway.url, "GET", "/healthz")).status).to.equal(200);
      const peak = await peakRssMb(gateway.pid);
      console.log(`      gateway ${gateway.index} (pid ${gateway.pid}) peak RSS (VmHWM): ${peak} MiB`);
      expect(peak, `gateway ${gateway.index} VmHWM (MiB)`).to.be.a("number").and.lessThan(1024);
    }
    console.log(`      took ${Math.round((Date.now() - started) / 1000)} s`);
    await sleep(0);
  });
});
