// The shared transport against a real HTTP server on loopback: every answer that is not a 2xx JSON becomes the
// typed error a caller acts on, a gateway that does not answer is named with its URL, uploads stream with progress.
import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  GatewayProblemError,
  GatewayTransport,
  ProgressMeter,
  SdkInputError,
  ServiceUnreachableError,
  UnexpectedResponseError,
  type Progress,
} from "../src/index.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

async function serve(handler: Handler): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function problem(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { "content-type": "application/problem+json" });
  res.end(JSON.stringify({ type: "urn:hygeia:problem:x", title: "t", status, ...body }));
}

describe("sdk transport", function () {
  let server: Server;
  let url: string;
  let lastRequest: { headers: IncomingMessage["headers"]; body: Buffer; url: string | undefined } | undefined;
  let respond: Handler = (_req, res) => res.end();

  before(async function () {
    ({ server, url } = await serve((req, res, body) => {
      lastRequest = { headers: req.headers, body, url: req.url };
      respond(req, res, body);
    }));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("sends the JSON body and the bearer token, and returns the parsed answer", async function () {
    respond = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ ok: 1 }));
    };
    const transport = new GatewayTransport({ url: `${url}/`, token: "hgs1.a.b" });
    const answer = await transport.request<{ ok: number }>("POST", "/v1/x", {
      json: { a: 1 },
      query: { limit: 5, after: undefined },
    });
    expect(answer).to.deep.equal({ ok: 1 });
    expect(lastRequest!.headers.authorization).to.equal("Bearer hgs1.a.b");
    expect(lastRequest!.url).to.equal("/v1/x?limit=5");
    expect(JSON.parse(lastRequest!.body.toString())).to.deep.equal({ a: 1 });
  });

  it("leaves the token off a request marked auth: false", async function () {
    respond = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    };
    await new GatewayTransport({ url, token: "hgs1.a.b" }).request("GET", "/v1/auth/nonce", { auth: false });
    expect(lastRequest!.headers.authorization).to.equal(undefined);
  });

  const cases: [number, string, string][] = [
    [400, "INVALID_REQUEST", "usage"],
    [401, "TOKEN_EXPIRED", "auth"],
    [403, "CONSENT_REQUIRED", "refused"],
    [404, "ROUTE_NOT_FOUND", "not-found"],
    [409, "RELAY_IN_PROGRESS", "conflict"],
    [429, "RATE_LIMITED", "rate-limited"],
    [503, "INDEXER_STALE", "unavailable"],
    [500, "INTERNAL", "internal"],
  ];
  for (const [status, code, kind] of cases) {
    it(`turns a ${status} ${code} problem into a GatewayProblemError of kind ${kind} with a hint`, async function () {
      respond = (_req, res) =>
        problem(res, status, { code, detail: "because", instance: "urn:hygeia:request:1", field: "body.x" });
      const error = await new GatewayTransport({ url }).request("GET", "/v1/y").catch((e: unknown) => e);
      expect(error).to.be.instanceOf(GatewayProblemError);
      const typed = error as GatewayProblemError;
      expect([typed.code, typed.kind, typed.status, typed.instance]).to.deep.equal([
        code,
        kind,
        status,
        "urn:hygeia:request:1",
      ]);
      expect(typed.message).to.equal("GET /v1/y: because (" + code + ")");
      expect(typed.hint).to.be.a("string").and.not.equal("");
    });
  }

  it("keeps a 503's dependency and a 429's retryAfter", async function () {
    respond = (_req, res) => problem(res, 503, { code: "CHAIN_UNAVAILABLE", detail: "d", dependency: "chain" });
    const unavailable = (await new GatewayTransport({ url })
      .request("GET", "/")
      .catch((e: unknown) => e)) as GatewayProblemError;
    expect(unavailable.dependency).to.equal("chain");
    expect(unavailable.hint).to.include("chain");
    respond = (_req, res) => problem(res, 429, { code: "RATE_LIMITED", detail: "d", retryAfter: 7 });
    const limited = (await new GatewayTransport({ url })
      .request("GET", "/")
      .catch((e: unknown) => e)) as GatewayProblemError;
    expect(limited.retryAfter).to.equal(7);
    expect(limited.hint).to.include("7 seconds");
  });

  it("refuses an answer that is not the gateway's (HTML error page, non-JSON 200)", async function () {
    respond = (_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
    };
    const proxy = await new GatewayTransport({ url }).request("GET", "/v1/z").catch((e: unknown) => e);
    expect(proxy).to.be.instanceOf(UnexpectedResponseError);
    respond = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("hello");
    };
    const plain = await new GatewayTransport({ url }).request("GET", "/v1/z").catch((e: unknown) => e);
    expect(plain).to.be.instanceOf(UnexpectedResponseError);
    expect((plain as UnexpectedResponseError).kind).to.equal("unavailable");
  });

  it("names the gateway and the URL tried when nothing listens there", async function () {
    const closed = await serve(() => undefined);
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const error = await new GatewayTransport({ url: closed.url }).request("GET", "/healthz").catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ServiceUnreachableError);
    const typed = error as ServiceUnreachableError;
    expect([typed.service, typed.url, typed.kind]).to.deep.equal(["gateway", closed.url, "unavailable"]);
    expect(typed.message).to.include(closed.url).and.include("connection refused");
  });

  it("gives up on a gateway that does not answer within the timeout, naming it", async function () {
    respond = () => undefined; // never answers
    const started = Date.now();
    const error = await new GatewayTransport({ url, timeoutMs: 200 }).request("GET", "/slow").catch((e: unknown) => e);
    expect(Date.now() - started).to.be.below(5000);
    expect(error).to.be.instanceOf(ServiceUnreachableError);
    expect((error as Error).message).to.include("within 200 ms");
  });

  it("streams an upload with its length, reporting progress up to the total", async function () {
    respond = (_req, res, body) => {
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ size: body.length }));
    };
    const bytes = new Uint8Array(3 * 262_144 + 5).map((_, i) => i % 251);
    const reports: Progress[] = [];
    const answer = await new GatewayTransport({ url, token: "t" }).upload<{ size: number }>("/v1/uploads", bytes, {
      onProgress: (p) => reports.push(p),
    });
    expect(answer.size).to.equal(bytes.length);
    expect(lastRequest!.headers["content-length"]).to.equal(String(bytes.length));
    expect(lastRequest!.headers["content-type"]).to.equal("application/octet-stream");
    expect(Buffer.compare(lastRequest!.body, Buffer.from(bytes))).to.equal(0);
    const last = reports.at(-1)!;
    expect([last.bytes, last.total, last.done, last.etaSeconds]).to.deep.equal([bytes.length, bytes.length, true, 0]);
  });

  it("sends an upload as one buffered body in `buffer` mode (browsers over HTTP/1.1), progress up to the total", async function () {
    respond = (_req, res, body) => {
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ size: body.length }));
    };
    const bytes = new Uint8Array(2 * 262_144 + 7).map((_, i) => (i * 7) % 251);
    const reports: Progress[] = [];
    const sent: RequestInit[] = [];
    const transport = new GatewayTransport({
      url,
      token: "t",
      uploadBody: "buffer",
      fetch: (input, init) => {
        sent.push(init!);
        return fetch(input, init);
      },
    });
    const answer = await transport.upload<{ size: number }>("/v1/uploads", bytes, {
      onProgress: (p) => reports.push(p),
    });
    expect(answer.size).to.equal(bytes.length);
    expect(sent[0]!.body).to.be.instanceOf(Blob); // not a stream: no `duplex`, which HTTP/1.1 in a browser refuses
    expect(Buffer.compare(lastRequest!.body, Buffer.from(bytes))).to.equal(0);
    expect(reports.at(-1)!.bytes).to.equal(bytes.length);
    expect(() => new GatewayTransport({ url, uploadBody: "chunked" as "stream" })).to.throw(
      SdkInputError,
      /uploadBody/,
    );
  });

  it("throws a download's problem before any byte, and streams a good one with its size", async function () {
    respond = (_req, res) => problem(res, 403, { code: "CONSENT_REQUIRED", detail: "no consent" });
    const refused = await new GatewayTransport({ url }).download("/v1/c").catch((e: unknown) => e);
    expect((refused as GatewayProblemError).code).to.equal("CONSENT_REQUIRED");
    respond = (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "4" });
      res.end(Buffer.from([1, 2, 3, 4]));
    };
    const download = await new GatewayTransport({ url }).download("/v1/c");
    expect(download.size).to.equal(4);
    expect([...new Uint8Array(await new Response(download.body).arrayBuffer())]).to.deep.equal([1, 2, 3, 4]);
  });

  it("refuses a gateway URL ending in /v1, pointing at its root", function () {
    let error: unknown;
    try {
      new GatewayTransport({ url: "http://127.0.0.1:8787/v1/" });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(SdkInputError);
    expect((error as SdkInputError).hint).to.include("http://127.0.0.1:8787.");
    expect(new GatewayTransport({ url: "http://127.0.0.1:8787/hygeia/" }).url).to.equal("http://127.0.0.1:8787/hygeia");
  });

  it("refuses a gateway URL that is not http(s)", function () {
    expect(() => new GatewayTransport({ url: "ftp://x" })).to.throw(SdkInputError, /http/);
    expect(() => new GatewayTransport({ url: "not a url" })).to.throw(SdkInputError, /not a URL/);
  });
});

describe("sdk progress meter", function () {
  it("reports rate and ETA from its clock, at most every interval, and always at the end", function () {
    let now = 0;
    const seen: Progress[] = [];
    const meter = new ProgressMeter(1000, (p) => seen.push(p), { now: () => now, intervalMs: 100 });
    now = 50;
    meter.add(100); // reported: the first report is due at once
    now = 60;
    meter.add(100); // within the interval: not reported
    now = 1000;
    meter.add(300);
    meter.finish();
    expect(seen.map((p) => p.bytes)).to.deep.equal([100, 500, 500]);
    expect(seen[1]!.bytesPerSecond).to.equal(500); // 500 bytes in 1 s
    expect(seen[1]!.etaSeconds).to.equal(1); // 500 left at 500 B/s
    expect(seen[2]!.done).to.equal(true);
  });

  it("has no ETA when the total is unknown", function () {
    const seen: Progress[] = [];
    let now = 0;
    const meter = new ProgressMeter(undefined, (p) => seen.push(p), { now: () => now });
    now = 1000;
    meter.add(10);
    expect(seen[0]!.etaSeconds).to.equal(undefined);
    expect(seen[0]!.total).to.equal(undefined);
  });
});
