// A round-robin HTTP/1.1 load balancer for the scale tests: every REQUEST (not every connection) goes to the next
// backend in turn, so a client on one keep-alive connection (the SDK's fetch, the CLI) is spread over all gateways,
// which is what makes state held in one gateway's memory show. Request and response bodies are streamed both ways
// (uploads, ciphertext downloads, Server-Sent Events); X-Forwarded-For/-Proto/-Host are set as a real balancer
// sets them; a backend that cannot be reached (refused, reset before answering) is answered 502 with a
// problem+json body, as a real balancer answers when a backend is down (no health checks, no retries: a test sees
// every failure).
//
// Why it is written here: it is a test fixture of some 150 lines on node:http. Nothing in the workspace proxies HTTP,
// and the candidates on npm were weighed: `http-proxy` (1.18.1, unreleased since 2020) still needs the round-robin,
// the 502 body and the counters written around `proxy.web()`, and warns DEP0060 (util._extend) on every Node 22+
// run; `@fastify/http-proxy` / `@fastify/reply-from` can pick an upstream per request (`getUpstream`), but bring
// undici pools and a Fastify instance of their own, answer a refused backend with Fastify's error body unless
// reshaped, and need content-type parsers switched off to stream uploads. Either would be a new dependency of the
// root package for what these lines do.
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface LoadBalancer {
  /** The balancer's URL, e.g. http://127.0.0.1:40123 (no trailing slash): the gateways' public URL. */
  readonly url: string;
  /** The backends' URLs, in turn order. */
  readonly backends: readonly string[];
  /** Requests sent to each backend (502s included), by backend index. */
  counts(): number[];
  /** Requests answered 502 because the backend could not be reached, by backend index. */
  unreachable(): number[];
  /** Zeroes the counters. */
  resetCounts(): void;
  /** Points backend `index` at another URL (a gateway restarted on another port). */
  setBackend(index: number, url: string): void;
  /** Stops accepting, ends open connections (streams included) and the pooled backend sockets. */
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection and are never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase()),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) out[name] = value;
  return out;
}

export async function startLoadBalancer(backendUrls: readonly string[]): Promise<LoadBalancer> {
  if (backendUrls.length === 0) throw new Error("a load balancer needs at least one backend");
  const backends = backendUrls.map((url) => url.replace(/\/+$/, ""));
  const counts = backends.map(() => 0);
  const unreachable = backends.map(() => 0);
  let turn = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const index = turn;
    turn = (turn + 1) % backends.length;
    counts[index]! += 1;
    const target = new URL(backends[index]!);
    const client = req.socket.remoteAddress ?? "127.0.0.1";
    const previous = req.headers["x-forwarded-for"];
    const headers: OutgoingHttpHeaders = {
      ...endToEnd(req.headers),
      "x-forwarded-for": previous === undefined ? client : `${String(previous)}, ${client}`,
      "x-forwarded-proto": "http",
      ...(req.headers.host === undefined ? {} : { "x-forwarded-host": req.headers.host }),
    };
    const upstream = httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
      agent,
    });
    upstream.on("response", (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
      // Send the head at once: a Server-Sent-Events stream may not write its first event for a while.
      res.flushHeaders();
      answer.pipe(res);
      answer.on("error", () => res.destroy());
      answer.on("aborted", () => res.destroy());
    });
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      unreachable[index]! += 1;
      const body = JSON.stringify({
        type: "about:blank",
        title: "Bad Gateway",
        status: 502,
        detail: `the load balancer could not reach backend ${index} (${backends[index]}): ${error.code ?? error.message}`,
      });
      res.writeHead(502, {
        "content-type": "application/problem+json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
      // What the client still sends is not read: drop it (the connection cannot be reused mid-body).
      if (!req.complete) req.destroy();
    });
    req.pipe(upstream);
    req.on("error", () => upstream.destroy());
    // The client went away (a closed stream, an aborted download): so does the request to the backend.
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    backends,
    counts: () => [...counts],
    unreachable: () => [...unreachable],
    resetCounts() {
      counts.fill(0);
      unreachable.fill(0);
    },
    setBackend(index, url) {
      if (!Number.isInteger(index) || index < 0 || index >= backends.length)
        throw new RangeError(`no backend ${index}`);
      backends[index] = url.replace(/\/+$/, "");
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
      return closing;
    },
  };
}
