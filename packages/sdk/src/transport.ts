/**
 * One HTTP transport to a Hygeia gateway, shared by every role's client.
 *
 * Rules:
 * - Browser-safe: global `fetch`, web streams, no `node:*` import.
 * - Every refusal becomes a typed error: a problem+json answer a `GatewayProblemError` (its `code`, `kind`, `hint`),
 *   a connection that fails a `ServiceUnreachableError` naming the gateway and the URL tried, anything else an
 *   `UnexpectedResponseError`. Nothing is retried behind the caller's back: a key release is audited, and a retry
 *   is the caller's decision.
 * - The session token is sent only to this gateway's origin and never logged or put in an error.
 */
import {
  GatewayProblemError,
  ServiceUnreachableError,
  UnexpectedResponseError,
  SdkInputError,
  type GatewayProblem,
} from "./errors.ts";
import { ProgressMeter, meteredStream, type ProgressCallback } from "./progress.ts";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** A session token from `signIn` (or set later with `transport.token = …`). */
  token?: string | undefined;
  /** Give up on a request that has not answered after this long (default 30 s; uploads and downloads: no limit). */
  timeoutMs?: number;
  /** The fetch to use (default the global one). */
  fetch?: FetchLike;
  /**
   * How `upload` sends a body: `stream` (a streamed request body) or `buffer` (the bytes, read through the progress
   * meter, collected into a Blob first, then sent). Browsers stream request bodies only over HTTP/2 or 3 (Chromium
   * fails a streamed body over HTTP/1.1, which the gateway speaks, with a bare "Failed to fetch"). Default: `stream`
   * in Node, `buffer` elsewhere. With `buffer` the progress reports the reading (the encryption) and the send follows.
   */
  uploadBody?: UploadBody;
}

export type UploadBody = "stream" | "buffer";

/** Node streams request bodies over HTTP/1.1; browsers do not. */
function defaultUploadBody(): UploadBody {
  return typeof process !== "undefined" && typeof process.versions?.node === "string" ? "stream" : "buffer";
}

export interface RequestOptions {
  /** A JSON body. */
  json?: unknown;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /** Send the session token (default true when one is set). */
  auth?: boolean;
  signal?: AbortSignal;
}

export interface UploadOptions {
  /** Bytes in all, when known: enables the ETA and lets the gateway refuse an oversized body at once. */
  size?: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface DownloadOptions extends Omit<RequestOptions, "json"> {
  /** The media type asked for (default application/octet-stream; the event stream asks text/event-stream). */
  accept?: string;
}

export interface Download {
  body: ReadableStream<Uint8Array>;
  /** From Content-Length, when the gateway sent it. */
  size: number | undefined;
}

export class GatewayTransport {
  readonly url: string;
  token: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: FetchLike;
  readonly #uploadBody: UploadBody;

  constructor(options: TransportOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new SdkInputError(
        "gateway url",
        `"${options.url}" is not a URL`,
        "Give the gateway's URL, e.g. http://127.0.0.1:8787.",
      );
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
      throw new SdkInputError("gateway url", `must be http(s), not ${parsed.protocol}`);
    // Every route path starts with /v1: a URL ending in it would ask for /v1/v1/… and get a confusing 404.
    if (/\/v1\/*$/.test(parsed.pathname))
      throw new SdkInputError(
        "gateway url",
        `${options.url} ends with the API's /v1 path`,
        `Give the gateway's root URL without /v1, e.g. ${parsed.origin}${parsed.pathname.replace(/\/v1\/*$/, "")}.`,
      );
    this.url = parsed.origin + parsed.pathname.replace(/\/+$/, "");
    this.token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    if (options.uploadBody !== undefined && options.uploadBody !== "stream" && options.uploadBody !== "buffer")
      throw new SdkInputError("uploadBody", `must be "stream" or "buffer", not ${JSON.stringify(options.uploadBody)}`);
    this.#uploadBody = options.uploadBody ?? defaultUploadBody();
  }

  /** One JSON request; resolves to the parsed 2xx body. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (options.json !== undefined) headers["content-type"] = "application/json";
    this.#authorize(headers, options.auth);
    const res = await this.#send(method, path, options.query, {
      method,
      headers,
      ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }),
      signal: withTimeout(options.signal, this.#timeoutMs),
    });
    return (await readJson(res, `${method} ${path}`)) as T;
  }

  /** Streams `body` to `path` (PUT, application/octet-stream) and resolves to the parsed JSON answer. */
  async upload<T>(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options: UploadOptions = {},
  ): Promise<T> {
    const size = body instanceof Uint8Array ? body.byteLength : options.size;
    let stream = body instanceof Uint8Array ? streamOf(body) : body;
    if (options.onProgress) stream = meteredStream(stream, new ProgressMeter(size, options.onProgress));
    const headers: Record<string, string> = { "content-type": "application/octet-stream", accept: "application/json" };
    if (size !== undefined) headers["content-length"] = String(size);
    this.#authorize(headers, true);
    const sent: RequestInit =
      this.#uploadBody === "stream"
        ? // Node's fetch (undici) requires `duplex` for a stream body.
          ({ body: stream, duplex: "half" } as RequestInit)
        : { body: await new Response(stream).blob() };
    const res = await this.#send("PUT", path, undefined, {
      method: "PUT",
      headers,
      ...sent,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return (await readJson(res, `PUT ${path}`)) as T;
  }

  /** GET `path` as a byte stream (a 4xx/5xx is thrown as its problem before any byte is returned). */
  async download(path: string, options: DownloadOptions = {}): Promise<Download> {
    const headers: Record<string, string> = {
      accept: `${options.accept ?? "application/octet-stream"}, application/problem+json`,
    };
    this.#authorize(headers, options.auth);
    const res = await this.#send("GET", path, options.query, {
      method: "GET",
      headers,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!res.ok) await readJson(res, `GET ${path}`); // throws the problem
    if (!res.body) throw new UnexpectedResponseError(`GET ${path}`, "the answer has no body");
    const length = res.headers.get("content-length");
    return { body: res.body, size: length === null ? undefined : Number(length) };
  }

  #authorize(headers: Record<string, string>, auth: boolean | undefined): void {
    if (auth === false || this.token === undefined) return;
    headers["authorization"] = `Bearer ${this.token}`;
  }

  async #send(method: string, path: string, query: RequestOptions["query"], init: RequestInit): Promise<Response> {
    const target = this.url + path + queryString(query);
    try {
      return await this.#fetch(target, init);
    } catch (error) {
      if (init.signal?.aborted && (init.signal.reason as Error | undefined)?.name === "TimeoutError")
        throw new ServiceUnreachableError(
          "gateway",
          this.url,
          `no answer to ${method} ${path} within ${this.#timeoutMs} ms`,
          { cause: error },
        );
      if (init.signal?.aborted) throw init.signal.reason;
      throw new ServiceUnreachableError("gateway", this.url, describeFetchFailure(error), { cause: error });
    }
  }
}

function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

function queryString(query: RequestOptions["query"]): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The bytes as a stream of 256 KiB chunks, so progress moves during a large in-memory upload. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      const end = Math.min(bytes.byteLength, offset + 262_144);
      controller.enqueue(bytes.subarray(offset, end));
      offset = end;
    },
  });
}

/** A 2xx's JSON, or the typed error of anything else. */
async function readJson(res: Response, request: string): Promise<unknown> {
  const type = res.headers.get("content-type") ?? "";
  let body: unknown;
  let text = "";
  try {
    text = await res.text();
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok) {
    if (!type.includes("json") || body === undefined)
      throw new UnexpectedResponseError(request, `answered ${res.status} with ${type || "no content type"}, not JSON`);
    return body;
  }
  if (isProblem(body)) throw new GatewayProblemError(body, request);
  throw new UnexpectedResponseError(request, `answered ${res.status} ${res.statusText} without a problem document`);
}

function isProblem(body: unknown): body is GatewayProblem {
  if (typeof body !== "object" || body === null) return false;
  const { code, status, detail } = body as Record<string, unknown>;
  return typeof code === "string" && typeof status === "number" && typeof detail === "string";
}

function describeFetchFailure(error: unknown): string {
  // undici puts the system error (ECONNREFUSED, ENOTFOUND, …) on `cause`.
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === "string") return cause.code === "ECONNREFUSED" ? "connection refused" : cause.code;
  return error instanceof Error ? error.message : String(error);
}
