// The refusal every hostile request must get: a 4xx RFC 9457 problem from the gateway's table, never a 5xx,
// never a stack trace. Shared by the security tests (matrix, hostile input, fuzz).
import { expect } from "chai";

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** Stack frames as V8 prints them ("    at fn (file:1:2)") or a bare "at file:1:2". */
const STACK_LINE = /(^|\\n|\n)\s*at\s+\S.*(:\d+:\d+|\(native\)|<anonymous>)/;

export function hasStackLine(text: string): boolean {
  return STACK_LINE.test(text) || /node:internal|\/node_modules\/|\.ts:\d+:\d+/.test(text);
}

/** Asserts a 4xx problem+json with a `urn:hygeia:problem:` type, the given status or code when named, no stack. */
export function expectClientProblem(
  res: RawResponse,
  expected: { status?: number; code?: string | readonly string[] } = {},
  what = "",
): Record<string, unknown> {
  const label = what ? `${what}: ` : "";
  expect(res.status, `${label}status (body ${res.text.slice(0, 300)})`).to.be.within(400, 499);
  if (expected.status !== undefined) {
    expect(res.status, `${label}status (body ${res.text.slice(0, 300)})`).to.equal(expected.status);
  }
  expect(res.headers.get("content-type") ?? "", `${label}content-type`).to.match(/^application\/problem\+json/);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  expect(body.type, `${label}problem type`).to.be.a("string");
  expect(body.type as string, `${label}problem type`).to.match(/^urn:hygeia:problem:[a-z0-9-]+$/);
  expect(body.status, `${label}problem status`).to.equal(res.status);
  if (expected.code !== undefined) {
    const codes = typeof expected.code === "string" ? [expected.code] : expected.code;
    expect(codes, `${label}problem code (body ${res.text.slice(0, 300)})`).to.include(body.code);
  }
  expect(hasStackLine(res.text), `${label}stack trace in ${res.text.slice(0, 300)}`).to.equal(false);
  return body;
}
