// The scale tests' load balancer (support/balancer.ts) on its own, against small node:http backends: per-request
// round robin over one keep-alive connection, bodies streamed both ways (an upload, a Server-Sent-Events stream
// that must reach the client before the backend ends it), X-Forwarded-For, and a 502 problem+json for a backend
// that refuses the connection. A second or so: the cluster story relies on each of these.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { startLoadBalancer, type LoadBalancer } from "./support/balancer.ts";

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

describe("scale: the round-robin load balancer", function () {
  const servers: Server[] = [];
  let balancer: LoadBalancer;
  let releaseSecondEvent: () => void = () => {};
  const secondEventAllowed = new Promise<void>((resolve) => (releaseSecondEvent = resolve));

  before(async function () {
    const urls: string[] = [];
    for (const name of ["a", "b"]) {
      const server = createServer((req, res) => {
        if (req.url === "/events") {
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
          res.write(`event: hello\ndata: ${name}\n\n`);
          void secondEventAllowed.then(() => res.end(`event: bye\ndata: ${name}\n\n`));
          return;
        }
        let size = 0;
        req.on("data", (chunk: Buffer) => (size += chunk.length));
        req.on("end", () => {
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify({ backend: name, size, forwardedFor: req.headers["x-forwarded-for"] ?? null }));
        });
      });
      servers.push(server);
      urls.push(await listen(server));
    }
    // A third backend that is down: its port was free a moment ago and nothing listens on it now.
    const down = createServer();
    const downUrl = await listen(down);
    await new Promise((resolve) => down.close(resolve));
    balancer = await startLoadBalancer([...urls, downUrl]);
  });
  after(async function () {
    releaseSecondEvent();
    await balancer?.close();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it("sends each request to the next backend in turn, sets X-Forwarded-For, answers 502 problem+json for one down", async function () {
    balancer.resetCounts();
    const answers: { status: number; type: string | null; body: Record<string, unknown> }[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${balancer.url}/echo`);
      answers.push({
        status: response.status,
        type: response.headers.get("content-type"),
        body: (await response.json()) as Record<string, unknown>,
      });
    }
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 502, 200, 200, 502]);
    expect(answers.map((a) => a.body.backend ?? null)).to.deep.equal(["a", "b", null, "a", "b", null]);
    expect(answers[0]!.body.forwardedFor).to.equal("127.0.0.1");
    expect(answers[2]!.type).to.equal("application/problem+json");
    expect(answers[2]!.body).to.include({ status: 502, title: "Bad Gateway" });
    expect(balancer.counts()).to.deep.equal([2, 2, 2]);
    expect(balancer.unreachable()).to.deep.equal([0, 0, 2]);
  });

  it("streams an upload to the backend", async function () {
    balancer.resetCounts();
    const chunk = new Uint8Array(256 * 1024).fill(7);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 16) return controller.close();
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${balancer.url}/upload`, { method: "PUT", body, duplex: "half" } as RequestInit);
    expect(((await response.json()) as { size: number }).size).to.equal(16 * chunk.length);
  });

  it("passes a Server-Sent-Events stream through as it is written, not when it ends", async function () {
    balancer.resetCounts();
    const response = await fetch(`${balancer.url}/events`);
    expect(response.headers.get("content-type")).to.equal("text/event-stream");
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    // The backend ends the stream only after the first event was read here: a buffering proxy would hang.
    while (!text.includes("\n\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).to.match(/^event: hello\ndata: [ab]\n\n$/);
    releaseSecondEvent();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).to.match(/event: bye\ndata: [ab]\n\n$/);
  });
});
