// What the gateway benchmarks share: plain HTTP to a gateway, Sign-In with Ethereum over its routes, a record
// uploaded and registered with wraps, polling the key route, free ports and a process's CPU time.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { SiweMessage } from "siwe";
import { hexlify, type HDNodeWallet } from "ethers";
import { generateDataKey, wrapKey } from "@hygeia/crypto";

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; the text itself when it is not JSON; undefined when empty. */
  json: unknown;
}

/**
 * One request, its whole body read (bench:gateway, bench:scale and the scale fault tests). A network failure (a
 * killed gateway, a closed socket) rejects.
 */
export async function http(
  base: string,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: Uint8Array; contentType?: string; signal?: AbortSignal } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | Uint8Array | undefined;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.body) {
    headers["content-type"] = options.contentType ?? "application/octet-stream";
    body = options.body;
  }
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export function expectStatus(answer: HttpAnswer, status: number, what: string): Record<string, unknown> {
  if (answer.status !== status)
    throw new Error(`${what}: expected ${status}, got ${answer.status}: ${JSON.stringify(answer.json)}`);
  return answer.json as Record<string, unknown>;
}

/** Sign-In with Ethereum through the gateway's routes; returns the session token. */
export async function signIn(base: string, wallet: HDNodeWallet): Promise<string> {
  const nonce = expectStatus(await http(base, "GET", "/v1/auth/nonce"), 200, "GET /v1/auth/nonce");
  const message = new SiweMessage({
    domain: String(nonce.domain),
    address: wallet.address,
    statement: typeof nonce.statement === "string" ? nonce.statement : undefined,
    uri: String(nonce.uri),
    version: "1",
    chainId: Number(nonce.chainId),
    nonce: String(nonce.nonce),
    issuedAt: new Date().toISOString(),
  }).prepareMessage();
  const signature = await wallet.signMessage(message);
  const verified = expectStatus(
    await http(base, "POST", "/v1/auth/verify", { json: { message, signature } }),
    200,
    "POST /v1/auth/verify",
  );
  return String(verified.token);
}

export interface BenchRecord {
  cid: string;
  scopeId: string;
}

/** Uploads a small ciphertext and registers it with wraps to the patient and the clinic, under one scope id. */
export async function addRecord(
  base: string,
  token: string,
  patient: string,
  clinic: string,
  keys: { patient: Uint8Array; clinic: Uint8Array },
): Promise<BenchRecord> {
  const upload = expectStatus(
    await http(base, "PUT", "/v1/uploads", { token, body: randomBytes(4096) }),
    201,
    "PUT /v1/uploads",
  );
  const cid = String(upload.cid);
  const scopeId = hexlify(randomBytes(32));
  const dek = generateDataKey();
  const context = `hygeia:record:${cid}`;
  const wrap = (publicKey: Uint8Array) => Buffer.from(wrapKey(dek, publicKey, context)).toString("base64url");
  const answer = await http(base, "POST", "/v1/records", {
    token,
    json: {
      cid,
      scopeIds: { [patient]: [scopeId] },
      wraps: [
        { recipient: patient, wrap: wrap(keys.patient) },
        { recipient: clinic, wrap: wrap(keys.clinic) },
      ],
    },
  });
  expectStatus(answer, 201, "POST /v1/records");
  return { cid, scopeId };
}

export const keyPath = (patient: string, cid: string) => `/v1/patients/${patient}/records/${cid}/key`;
export const PURPOSE_BODY = JSON.stringify({ purpose: "Treatment" });

/** Polls `path` until it answers `status`; resolves with the time (performance.now) of that answer. */
export async function pollUntil(base: string, token: string, path: string, status: number, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  let releasesAfter = 0;
  for (;;) {
    const response = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: PURPOSE_BODY,
    });
    await response.arrayBuffer();
    const at = performance.now();
    if (response.status === status) return { at, releasesAfter };
    if (response.status === 200) releasesAfter++;
    else if (response.status !== 403) throw new Error(`${path} answered ${response.status} while polling`);
    if (at > deadline) throw new Error(`${path} did not answer ${status} within ${timeoutMs} ms`);
  }
}

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU milliseconds (user + system) process `pid` has used so far; undefined where /proc is not there. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) start after the last ')'; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
