// A raw HTTP client for hostile requests: any method, path, header and body bytes, exactly as given (the
// shared test/support/http.ts helper shapes requests properly; these must not be). Bounded in time, and a
// stream response (SSE) is cut after its headers.
import type { RawResponse } from "./problem.ts";

export interface RawRequest {
  method: string;
  /** Path and query, sent as written (already encoded by the caller). */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  token?: string;
  timeoutMs?: number;
}

export async function send(baseUrl: string, request: RawRequest): Promise<RawResponse> {
  const headers: Record<string, string> = { ...request.headers };
  if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
  const response = await fetch(baseUrl + request.path, {
    method: request.method,
    headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    redirect: "manual",
    signal: AbortSignal.timeout(request.timeoutMs ?? 20_000),
  });
  const type = response.headers.get("content-type") ?? "";
  if (type.startsWith("text/event-stream") || type.startsWith("application/octet-stream")) {
    // A live stream: the status and headers are the answer; stop reading.
    await response.body?.cancel().catch(() => undefined);
    return { status: response.status, headers: response.headers, text: "" };
  }
  return { status: response.status, headers: response.headers, text: await response.text() };
}

export function json(value: unknown): { headers: Record<string, string>; body: string } {
  return { headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}
