/**
 * A loopback JSON-RPC proxy in front of anvil that misbehaves on chosen methods: never answers
 * (a stalled node), answers with a JSON-RPC error, or tells the test when it answered. A batch is
 * treated by its first method that has a rule.
 */
import { EventEmitter } from "node:events";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface ProxyRule {
  /** Never answer (the connection stays open). */
  hang?: boolean;
  /** Answer every request of the batch with this JSON-RPC error instead of forwarding. */
  error?: { code: number; message: string };
  /** Forward, but only after this many milliseconds. */
  delayMs?: number;
  /**
   * Forward, then replace the answer's `result` with what this returns (a node that forges or drops data);
   * `params` are the request's. Single requests only (not batches).
   */
  rewrite?: (result: unknown, params: unknown) => unknown;
  /** How many batches the rule applies to; unlimited when left out. */
  times?: number;
}

export interface RpcProxy {
  readonly url: string;
  /** Rules by JSON-RPC method; change them at any time. */
  readonly rules: Map<string, ProxyRule>;
  /** Emits `answered` with the batch's methods after each forwarded answer. */
  readonly events: EventEmitter;
  /** Methods received, in order. */
  readonly seen: string[];
  /** Requests received (method and params), in order: what the node learns. */
  readonly requests: { method: string; params: unknown }[];
  close(): Promise<void>;
}

interface RpcPayload {
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

export async function startRpcProxy(target: string): Promise<RpcProxy> {
  const upstream = new URL(target);
  const rules = new Map<string, ProxyRule>();
  const events = new EventEmitter();
  const seen: string[] = [];
  const requests: { method: string; params: unknown }[] = [];
  const sockets = new Set<Socket>();

  const handle = (body: string, res: ServerResponse) => {
    let payloads: RpcPayload[] = [];
    let batch = false;
    try {
      const parsed = JSON.parse(body) as RpcPayload | RpcPayload[];
      batch = Array.isArray(parsed);
      payloads = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      // forwarded as is; anvil answers the parse error
    }
    const methods = payloads.map((p) => String(p.method));
    seen.push(...methods);
    requests.push(...payloads.map((p) => ({ method: String(p.method), params: p.params })));
    let rule: ProxyRule | undefined;
    for (const method of methods) {
      const candidate = rules.get(method);
      if (candidate && (candidate.times === undefined || candidate.times > 0)) {
        if (candidate.times !== undefined) candidate.times--;
        rule = candidate;
        break;
      }
    }
    if (rule?.hang) return; // the client waits until it gives up
    if (rule?.error) {
      const answers = payloads.map((p) => ({ jsonrpc: "2.0", id: p.id, error: rule.error }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(batch ? answers : answers[0]));
      return;
    }
    const rewrite = !batch && rule?.rewrite ? { rule: rule.rewrite, params: payloads[0]?.params } : undefined;
    if (rule?.delayMs) setTimeout(() => forward(body, res, methods, rewrite), rule.delayMs);
    else forward(body, res, methods, rewrite);
  };

  const forward = (
    body: string,
    res: ServerResponse,
    methods: string[],
    rewrite?: { rule: NonNullable<ProxyRule["rewrite"]>; params: unknown },
  ) => {
    const upstreamRequest = request(
      { hostname: upstream.hostname, port: upstream.port, path: upstream.pathname, method: "POST" },
      (answer: IncomingMessage) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          let out = Buffer.concat(chunks);
          if (rewrite) {
            const answerJson = JSON.parse(out.toString("utf8")) as { result?: unknown };
            answerJson.result = rewrite.rule(answerJson.result, rewrite.params);
            out = Buffer.from(JSON.stringify(answerJson));
          }
          res.writeHead(answer.statusCode ?? 200, { "content-type": "application/json" });
          res.end(out, () => events.emit("answered", methods));
        });
      },
    );
    upstreamRequest.on("error", () => res.destroy());
    upstreamRequest.setHeader("content-type", "application/json");
    upstreamRequest.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => handle(Buffer.concat(chunks).toString("utf8"), res));
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    rules,
    events,
    seen,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
