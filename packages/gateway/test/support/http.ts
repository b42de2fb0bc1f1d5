// Real HTTP against a test stack: `request` sends with fetch over the socket and reads the whole answer;
// `expectProblem` checks an RFC 9457 refusal the way a client relies on it.
import { expect } from "chai";
import { PROBLEM_TYPE_PREFIX, problemType } from "../../src/problems.ts";

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as a JSON body (content-type application/json). */
  json?: unknown;
  /** A raw body (string, bytes, or a stream with `duplex: "half"` set by this helper). */
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  /** The parsed body when it is JSON (application/json, application/problem+json, …+json); undefined otherwise. */
  json: unknown;
  text: string;
}

/** Anything with the gateway's base URL (a TestStack, or `{ url }`). */
export interface HasUrl {
  url: string;
}

export async function request(
  stack: HasUrl,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: RequestInit["body"];
  if (options.json !== undefined) {
    headers["content-type"] ??= "application/json";
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) {
    body = options.body as RequestInit["body"];
  }
  const init: RequestInit & { duplex?: "half" } = { method, headers, redirect: "manual" };
  if (body !== undefined) init.body = body;
  if (options.body instanceof ReadableStream) init.duplex = "half";
  if (options.signal) init.signal = options.signal;
  const response = await fetch(stack.url + path, init);
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  let json: unknown;
  if (/[/+]json\b/.test(type) && text !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** The problem document of a response (after expectProblem). */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  field?: string;
  [extension: string]: unknown;
}

/**
 * Asserts an RFC 9457 refusal: the status, application/problem+json, `type` = urn:hygeia:problem:<code>,
 * `code` and `status` members agreeing, no stack trace or internal path in the body. Returns the problem.
 */
/** A stack frame, raw or inside a JSON string; also Node's internals and a workspace source path. */
export const STACK_FRAME = /(?:^|\n|\\n|")\s*at (?:\S+ \()?[^\s()]+:\d+:\d+\)?|node:internal|\/src\/[\w/-]+\.ts/;

export function expectProblem(res: TestResponse, status: number, code?: string): ProblemBody {
  expect(res.status, `status (body: ${res.text.slice(0, 300)})`).to.equal(status);
  expect(res.headers.get("content-type") ?? "").to.match(/^application\/problem\+json\b/);
  const problem = res.json as ProblemBody;
  expect(problem, "problem body").to.be.an("object");
  expect(problem.type)
    .to.be.a("string")
    .and.satisfy((type: string) => type.startsWith(PROBLEM_TYPE_PREFIX));
  expect(problem.status).to.equal(status);
  expect(problem.title).to.be.a("string");
  expect(problem.detail).to.be.a("string");
  expect(problem.code)
    .to.be.a("string")
    .and.match(/^[A-Z0-9_]+$/);
  expect(problem.type).to.equal(problemType(problem.code));
  if (code !== undefined) expect(problem.code, `code (detail: ${problem.detail})`).to.equal(code);
  expect(problem).not.to.have.property("stack");
  // A stack frame ("at fn (file:line:col)" or "at file:line:col" starting a line, a JSON-escaped line or a
  // string), not prose such as an identity reason's "accredited at issuance (…)".
  expect(res.text).not.to.match(STACK_FRAME);
  return problem;
}
