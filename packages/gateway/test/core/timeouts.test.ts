// Connections are bounded: a JSON body dripped slowly is cut off (slowloris), and a graceful close is not held open by
// keep-alive connections that were busy when it began.
import { connect, type Socket } from "node:net";
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";

/** Sends the request head, then one body byte every `everyMs`; resolves with the ms until the server closed it. */
function drip(url: string, path: string, everyMs: number, limitMs: number): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
      );
    });
    const timer = setInterval(() => socket.write("{"), everyMs);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`the connection was still open after ${limitMs} ms`));
    }, limitMs);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(Date.now() - started);
    });
  });
}

describe("gateway connection bounds", function () {
  this.timeout(180_000);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack({
      bodyTimeoutMs: 1_000,
      // A slow route: its requests are still busy when close() begins.
      plugins: [
        async (app) => {
          app.get("/test/slow", { schema: { hide: true } }, async () => {
            await new Promise((resolve) => setTimeout(resolve, 300));
            return { ok: true };
          });
        },
      ],
    });
  });
  after(async () => {
    await stack?.close();
  });

  it("drops a connection whose JSON body drips in slower than the body timeout (no session needed)", async () => {
    const heldMs = await drip(stack.url, "/v1/auth/verify", 200, 10_000);
    expect(heldMs).to.be.within(900, 5_000);
  });

  it("answers normally when the body arrives in time", async () => {
    const res = await fetch(`${stack.url}/v1/auth/verify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "x", signature: "0x00" }),
    });
    expect(res.status).to.equal(400);
  });

  it("closes within its bound while keep-alive connections that were busy at close() stay open on the client", async () => {
    // Keep-alive connections from fetch's pool: busy when close() begins, idle right after their answers.
    const inFlight = Array.from({ length: 20 }, () =>
      fetch(`${stack.url}/test/slow`).then(
        (r) => r.status,
        () => "refused",
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await stack.app.close();
    const statuses = await Promise.all(inFlight);
    expect(Date.now() - started).to.be.below(10_000);
    // Every request got an answer (200, or 503 once closing) or its connection was refused while closing.
    for (const status of statuses) expect([200, 503, "refused"]).to.include(status);
  });
});
