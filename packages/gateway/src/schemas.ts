// Schemas every plugin shares: the problem document every refusal answers with, and the common value
// shapes (addresses, bytes32 ids, CIDs, times). Route schemas use these so the OpenAPI document says the
// same thing everywhere, and `problemResponses` gives each route its documented refusals.
import { Type } from "typebox";
import { PROBLEM_TYPE_PREFIX } from "./problems.ts";

/** An Ethereum address, any case on input (the gateway lowercases it at the edge). */
export const AddressSchema = Type.String({
  pattern: "^0x[0-9a-fA-F]{40}$",
  description: "An Ethereum address (0x + 40 hex digits); answers always use lowercase.",
  examples: ["0x70997970c51812dc3a010c7d01b50e0d17dc79c8"],
});

/** A bytes32 value (a scope id, a hash), 0x + 64 hex. */
export const Bytes32Schema = Type.String({
  pattern: "^0x[0-9a-fA-F]{64}$",
  description: "32 bytes as 0x + 64 hex digits (an opaque scope id or a hash); answers use lowercase.",
  examples: ["0x5c3b1d2e9a1f0c4b7d6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"],
});

/**
 * A CID as text: CIDv1 base32 (b…) or CIDv0 (Qm…). Only the shape is checked here; handlers parse it fully
 * with @hygeia/storage `parseCid` (INVALID_CID when it is not a real CID).
 */
export const CidSchema = Type.String({
  minLength: 8,
  maxLength: 200,
  pattern: "^(b[a-z2-7]+|Qm[1-9A-HJ-NP-Za-km-z]{44})$",
  description: "A content identifier (CIDv1 base32, as the gateway answers; CIDv0 accepted on input).",
  examples: ["bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"],
});

/** Unix time in milliseconds. */
export const UnixMsSchema = Type.Integer({
  minimum: 0,
  description: "Unix time in milliseconds.",
  examples: [1_767_225_600_000],
});

/** Unix time in seconds, as the chain keeps it (expiries, deadlines). */
export const UnixSecondsSchema = Type.Integer({
  minimum: 0,
  description: "Unix time in seconds (as on chain).",
  examples: [1_767_225_600],
});

/** A route's `security` for routes that need a session: `schema: { security: BEARER_SECURITY, ... }`. */
export const BEARER_SECURITY = [{ bearer: [] as string[] }];

/** The RFC 9457 problem document every refusal answers with (`application/problem+json`). */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({
      description: `Stable URI of the problem: ${PROBLEM_TYPE_PREFIX}<code in kebab case>. Branch on this or on \`code\`.`,
      examples: [`${PROBLEM_TYPE_PREFIX}invalid-request`],
    }),
    title: Type.String({ description: "Short summary of the status.", examples: ["Bad request"] }),
    status: Type.Integer({ minimum: 400, maximum: 599, description: "The HTTP status.", examples: [400] }),
    detail: Type.String({
      description: "What went wrong and what to do, for a human; never a stack trace.",
      examples: ["body.cid must match pattern"],
    }),
    instance: Type.Optional(
      Type.String({
        description: "urn:hygeia:request:<request id>: quote it to the operator to find the request in the logs.",
        examples: ["urn:hygeia:request:6f1c2d0e-8a53-4b8e-9a7e-0f6d7c1b2a3e"],
      }),
    ),
    code: Type.String({
      pattern: "^[A-Z0-9_]+$",
      description: "Stable UPPER_SNAKE code of the problem.",
      examples: ["INVALID_REQUEST"],
    }),
    field: Type.Optional(
      Type.String({ description: "The input to blame, e.g. body.wraps.2.recipient.", examples: ["body.cid"] }),
    ),
    dependency: Type.Optional(
      Type.String({
        description: "On 503: the part that could not vouch for the answer (chain, indexer, ipfs, database, …).",
        examples: ["indexer"],
      }),
    ),
    retryAfter: Type.Optional(
      Type.Integer({ minimum: 0, description: "Seconds to wait before retrying (also the Retry-After header)." }),
    ),
  },
  {
    additionalProperties: true,
    title: "Problem",
    description: "RFC 9457 problem details; extension members depend on the code.",
  },
);

const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: "The request is malformed or fails validation.",
  401: "Not signed in, or the session is expired or revoked.",
  403: "Signed in, but not allowed.",
  404: "No such resource (that this caller may know about).",
  409: "Conflict with the current state.",
  410: "No longer served (a study closed or withdrawn).",
  413: "The body is too large.",
  415: "The content type is not accepted.",
  429: "Too many requests: wait Retry-After seconds.",
  500: "Internal error.",
  503: "A dependency (chain, indexer, IPFS, database) cannot vouch for the answer: refused, fail closed.",
};

/** A route response documented as `application/problem+json` (what the error handler sends). */
export interface ProblemResponse {
  description: string;
  content: { "application/problem+json": { schema: typeof ProblemSchema } };
}

/**
 * Problem responses for the given statuses, to spread into a route's `response`:
 * `response: { 200: Answer, ...problemResponses(400, 401, 503) }`.
 */
export function problemResponses(...statuses: number[]): Record<number, ProblemResponse> {
  const out: Record<number, ProblemResponse> = {};
  for (const status of statuses) {
    out[status] = {
      description: STATUS_DESCRIPTIONS[status] ?? "A refusal (problem details).",
      content: { "application/problem+json": { schema: ProblemSchema } },
    };
  }
  return out;
}
