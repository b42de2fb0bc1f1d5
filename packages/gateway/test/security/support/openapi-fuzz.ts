// Requests generated from the gateway's own OpenAPI document (fast-check, deterministic by seed).
//
// For each operation: `validArbitrary` builds values that follow the route's schemas (patterns, enums, bounds),
// and `malformedRequests` breaks them in the ways a hostile or careless client does: a field dropped, added or
// of the wrong type, huge or odd strings, extreme numbers, deep nesting, JSON that does not parse, a content
// type the route does not take, path and query parameters with traversal, encodings and control characters,
// and junk credentials. `adversarialRequests` keeps to the schema (so the handler itself runs) with edge
// values. The generator knows nothing of the routes' semantics: only the document.
import fc from "fast-check";
import type { RawRequest } from "./http.ts";

export type JsonSchema = Record<string, unknown>;

export interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** OpenAPI path template, e.g. /v1/records/{cid}. */
  path: string;
  id: string;
  parameters: Parameter[];
  /** Media types the request body accepts, with their schema. */
  body: { contentType: string; schema: JsonSchema }[];
  secured: boolean;
}

const METHODS = ["get", "put", "post", "delete", "patch"] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Resolves local `$ref`s (`#/components/schemas/...`) one level at a time, on demand. */
export function resolver(doc: Record<string, unknown>): (schema: unknown) => JsonSchema {
  return function resolve(schema: unknown): JsonSchema {
    let current: unknown = schema;
    for (let hops = 0; hops < 16 && isRecord(current) && typeof current.$ref === "string"; hops++) {
      const ref: string = current.$ref;
      if (!ref.startsWith("#/")) return {};
      let target: unknown = doc;
      for (const part of ref.slice(2).split("/")) {
        target = isRecord(target) ? target[part.replaceAll("~1", "/").replaceAll("~0", "~")] : undefined;
      }
      current = target;
    }
    return isRecord(current) ? current : {};
  };
}

export function operationsOf(doc: Record<string, unknown>): Operation[] {
  const resolve = resolver(doc);
  const paths = isRecord(doc.paths) ? doc.paths : {};
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isRecord(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!isRecord(op)) continue;
      const params = [
        ...(Array.isArray(item.parameters) ? item.parameters : []),
        ...(Array.isArray(op.parameters) ? op.parameters : []),
      ].map((p) => resolve(p));
      const parameters: Parameter[] = params.map((p) => ({
        name: String(p.name),
        in: p.in as Parameter["in"],
        required: p.required === true || p.in === "path",
        schema: resolve(p.schema ?? {}),
      }));
      const body: Operation["body"] = [];
      const requestBody = resolve(op.requestBody);
      if (isRecord(requestBody.content)) {
        for (const [contentType, media] of Object.entries(requestBody.content)) {
          body.push({ contentType, schema: resolve(isRecord(media) ? media.schema : {}) });
        }
      }
      const secured = Array.isArray(op.security) ? op.security.length > 0 : Array.isArray(doc.security);
      out.push({
        method: method.toUpperCase(),
        path,
        id: typeof op.operationId === "string" ? op.operationId : `${method} ${path}`,
        parameters,
        body,
        secured,
      });
    }
  }
  return out;
}

/** Values that follow the schema (as far as a generator can without a solver), small and bounded. */
export function validArbitrary(
  schema: JsonSchema,
  resolve: (s: unknown) => JsonSchema,
  depth = 0,
): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  const examples = Array.isArray(s.examples) ? s.examples : s.example !== undefined ? [s.example] : [];
  const generated = generatedArbitrary(s, resolve, depth);
  return examples.length > 0 ? fc.oneof(fc.constantFrom(...examples), generated) : generated;
}

function generatedArbitrary(s: JsonSchema, resolve: (x: unknown) => JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (depth > 6) return fc.constant(null);
  if ("const" in s) return fc.constant(s.const);
  if (Array.isArray(s.enum) && s.enum.length > 0) return fc.constantFrom(...(s.enum as unknown[]));
  for (const key of ["anyOf", "oneOf"] as const) {
    const options = s[key];
    if (Array.isArray(options) && options.length > 0) {
      return fc.oneof(...options.map((o) => validArbitrary(resolve(o), resolve, depth + 1)));
    }
  }
  if (Array.isArray(s.allOf) && s.allOf.length > 0) {
    const merged = Object.assign({}, ...s.allOf.map((o) => resolve(o))) as JsonSchema;
    return validArbitrary(merged, resolve, depth + 1);
  }
  const type = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === "string" ? [s.type] : [];
  if (type.length > 1) {
    return fc.oneof(...type.map((t) => generatedArbitrary({ ...s, type: t }, resolve, depth)));
  }
  const num = (key: string): number | undefined => (typeof s[key] === "number" ? (s[key] as number) : undefined);
  switch (type[0]) {
    case "string": {
      if (typeof s.pattern === "string") {
        let regex: RegExp;
        try {
          regex = new RegExp(s.pattern, "u");
        } catch {
          regex = new RegExp(s.pattern);
        }
        return fc.stringMatching(regex, { size: "small" }).filter((v) => v.length <= (num("maxLength") ?? 4096));
      }
      if (s.format === "uri") return fc.webUrl();
      if (s.format === "date-time") return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
      const minLength = num("minLength") ?? 0;
      const maxLength = Math.max(minLength, Math.min(num("maxLength") ?? 48, 256));
      return fc.string({ minLength, maxLength, unit: "grapheme" });
    }
    case "integer":
      return fc.integer({
        min: Math.max(num("minimum") ?? -(2 ** 31), Number.MIN_SAFE_INTEGER),
        max: Math.min(num("maximum") ?? 2 ** 31, Number.MAX_SAFE_INTEGER),
      });
    case "number":
      return fc.double({
        min: num("minimum") ?? -1e9,
        max: num("maximum") ?? 1e9,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const items = resolve(s.items ?? {});
      const minLength = num("minItems") ?? 0;
      const maxLength = Math.max(minLength, Math.min(num("maxItems") ?? 3, 4));
      return fc.array(validArbitrary(items, resolve, depth + 1), { minLength, maxLength });
    }
    case "object":
    default: {
      if (type[0] !== "object" && !isRecord(s.properties)) return fc.jsonValue({ maxDepth: 2 });
      const properties = isRecord(s.properties) ? s.properties : {};
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, value] of Object.entries(properties))
        model[key] = validArbitrary(resolve(value), resolve, depth + 1);
      const fixed = fc.record(model, { requiredKeys: required.filter((k) => k in model) });
      const extraSchema = isRecord(s.patternProperties)
        ? Object.entries(s.patternProperties)[0]
        : isRecord(s.additionalProperties)
          ? [".*", s.additionalProperties]
          : undefined;
      if (!extraSchema) return fixed;
      const [pattern, valueSchema] = extraSchema as [string, unknown];
      const names =
        isRecord(s.propertyNames) && typeof s.propertyNames.pattern === "string" ? s.propertyNames.pattern : pattern;
      const keys = fc.stringMatching(new RegExp(names), { size: "small" });
      return fc
        .tuple(
          fixed,
          fc.dictionary(keys, validArbitrary(resolve(valueSchema), resolve, depth + 1), { minKeys: 1, maxKeys: 2 }),
        )
        .map(([a, b]) => ({ ...b, ...a }));
    }
  }
}

function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** JSON values of every type and the usual trouble: huge, odd, control and lone-surrogate strings, extreme numbers. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(-1, 0, -0, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, Number.MIN_VALUE),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 64 }),
  fc.constantFrom(
    "",
    " ",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2f%2e%2e%2f",
    "\u0000",
    "a\u0000b",
    "\r\nX-Injected: 1",
    "\ud800",
    "<script>alert(1)</script>",
    "' OR '1'='1' --",
    "0x",
    `0x${"g".repeat(40)}`,
    `0x${"f".repeat(41)}`,
    "bafy",
    "QmInvalid",
    "undefined",
    "NaN",
    "-1",
    "1e400",
    "x".repeat(65_536),
    "é".repeat(20_000),
  ),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  fc.constantFrom(nested(64), nested(2_000)),
);

/** Every path to a node of a JSON value (arrays by index), the root included. */
function nodePaths(
  value: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => nodePaths(v, [...prefix, i], out));
  else if (isRecord(value)) for (const [k, v] of Object.entries(value)) nodePaths(v, [...prefix, k], out);
  return out;
}

function replaceAt(value: unknown, path: (string | number)[], replacement: unknown, remove: boolean): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    const copy = [...value];
    if (remove && rest.length === 0) copy.splice(head as number, 1);
    else copy[head as number] = replaceAt(copy[head as number], rest, replacement, remove);
    return copy;
  }
  if (isRecord(value)) {
    const copy: Record<string, unknown> = { ...value };
    if (remove && rest.length === 0) delete copy[head as string];
    else copy[head as string] = replaceAt(copy[head as string], rest, replacement, remove);
    return copy;
  }
  return value;
}

/** A schema-following value broken once: one node replaced, removed, or an unknown member added. */
export function brokenValue(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      valid,
      fc.nat(),
      fc.constantFrom("replace", "remove", "extra", "wrap") as fc.Arbitrary<string>,
      hostileValue,
      fc.string({ minLength: 1, maxLength: 16 }),
    )
    .map(([value, pick, how, replacement, key]) => {
      const paths = nodePaths(value);
      const path = paths[pick % paths.length] ?? [];
      switch (how) {
        case "remove":
          return path.length === 0 ? undefined : replaceAt(value, path, undefined, true);
        case "extra":
          return isRecord(value) ? { ...value, [`${key}_extra`]: replacement } : [value, replacement];
        case "wrap":
          return replaceAt(value, path, [replacement], false);
        default:
          return replaceAt(value, path, replacement, false);
      }
    });
}

const MALFORMED_JSON = [
  "{",
  "}",
  '{"a":}',
  '{"a":1,}',
  "[1,2",
  "nul",
  "\ufeff{}",
  '{"a":"\\ud800"}',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  "\u0000",
  "{'single':'quotes'}",
  "NaN",
  "1e999999",
  '"unterminated',
  `{"a":"${"\\u0000".repeat(1000)}"}`,
  "[".repeat(100_000),
];

const BAD_CONTENT_TYPES = [
  "text/plain",
  "application/xml",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/json; charset=utf-16",
  "application/jsonx",
  "json",
  "a/b/c",
  "application/octet-stream",
  "text/event-stream",
  "*/*",
  ";",
];

const BAD_SEGMENTS = [
  "..",
  "%2e%2e",
  "..%2f..%2fetc%2fpasswd",
  "%2e%2e%2f%2e%2e%2f",
  "%00",
  "a%00b",
  "%ff%fe",
  "%",
  "%zz",
  "%0d%0aX-Injected:%201",
  "%20",
  "-1",
  "0",
  "0x",
  "0x" + "0".repeat(40),
  "0X" + "A".repeat(40),
  "bafy" + "a".repeat(55),
  "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
  "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
  "z" + "9".repeat(300),
  "a".repeat(5_000),
  encodeURIComponent("../../../../etc/passwd"),
  encodeURIComponent("é🙂\u202e"),
  "undefined",
  "null",
  "constructor",
  "__proto__",
];

const BAD_AUTH = [
  "Bearer ",
  "Bearer x",
  "Bearer hgs1.AAAA.BBBB",
  "Bearer hgs1." + "A".repeat(40) + "." + "B".repeat(43),
  "Basic dXNlcjpwYXNz",
  "bearer\tabc",
  "Bearer " + "a".repeat(8_000),
  "Bearer ../../",
  "Bearer %00",
];

/** Percent-encodes the UTF-8 bytes (lone surrogates become U+FFFD, where encodeURIComponent would throw). */
function pct(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function encodeSegment(value: unknown): string {
  return pct(typeof value === "string" ? value : (JSON.stringify(value) ?? "x"));
}

function buildPath(op: Operation, values: Record<string, string>): string {
  return op.path.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? "x");
}

function queryString(entries: [string, string][]): string {
  if (entries.length === 0) return "";
  return "?" + entries.map(([k, v]) => `${pct(k)}=${v}`).join("&");
}

interface Base {
  path: Record<string, string>;
  query: [string, string][];
  body: unknown;
}

/** A request that follows the operation's schemas (as far as the generator can). */
function baseArbitrary(op: Operation, resolve: (s: unknown) => JsonSchema): fc.Arbitrary<Base> {
  const pathParams = op.parameters.filter((p) => p.in === "path");
  const queryParams = op.parameters.filter((p) => p.in === "query");
  const pathModel: Record<string, fc.Arbitrary<string>> = {};
  for (const p of pathParams) pathModel[p.name] = validArbitrary(p.schema, resolve).map(encodeSegment);
  const queryModel: Record<string, fc.Arbitrary<string>> = {};
  for (const p of queryParams) {
    queryModel[p.name] = validArbitrary(p.schema, resolve).map((v) => pct(typeof v === "string" ? v : String(v)));
  }
  const jsonBody = op.body.find((b) => b.contentType.includes("json"));
  return fc.record({
    path: fc.record(pathModel),
    query: fc
      .record(queryModel, { requiredKeys: queryParams.filter((p) => p.required).map((p) => p.name) })
      .map((q) => Object.entries(q) as [string, string][]),
    body: jsonBody ? validArbitrary(jsonBody.schema, resolve) : fc.constant(undefined),
  });
}

function withBody(op: Operation, body: unknown): Pick<RawRequest, "headers" | "body"> {
  const bodied = op.body.length > 0 || op.method === "POST" || op.method === "PUT";
  if (!bodied || body === undefined) return {};
  const json = op.body.find((b) => b.contentType.includes("json"));
  if (json || op.body.length === 0)
    return { headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  // A binary route (uploads): a small octet body.
  return {
    headers: { "content-type": op.body[0]!.contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

export interface FuzzOptions {
  /** A valid session token: sent on about half the requests, so handlers behind the session check run too. */
  token?: string;
}

/** Malformed requests for one operation: every kind of breakage, each request broken in at least one place. */
export function malformedRequests(
  op: Operation,
  doc: Record<string, unknown>,
  options: FuzzOptions = {},
): fc.Arbitrary<RawRequest> {
  const resolve = resolver(doc);
  const base = baseArbitrary(op, resolve);
  const tokenArb =
    options.token === undefined
      ? fc.constant(undefined)
      : fc.option(fc.constant(options.token), { freq: 2, nil: undefined });
  const pathNames = op.parameters.filter((p) => p.in === "path").map((p) => p.name);
  const queryNames = op.parameters.filter((p) => p.in === "query").map((p) => p.name);
  const jsonBody = op.body.find((b) => b.contentType.includes("json"));
  const kinds: fc.Arbitrary<RawRequest>[] = [];
  const finish = (b: Base, token: string | undefined, extra: Partial<RawRequest> = {}): RawRequest => ({
    method: op.method,
    path: buildPath(op, b.path) + queryString(b.query),
    ...withBody(op, b.body),
    ...(token === undefined ? {} : { token }),
    ...extra,
  });

  if (jsonBody) {
    const bodySchemaValid = validArbitrary(jsonBody.schema, resolve);
    // A body broken once (the schema must refuse it), or a body of another type altogether.
    kinds.push(
      fc.tuple(base, brokenValue(bodySchemaValid), tokenArb).map(([b, body, token]) => finish({ ...b, body }, token)),
      fc.tuple(base, hostileValue, tokenArb).map(([b, body, token]) => finish({ ...b, body }, token)),
      // JSON that does not parse.
      fc
        .tuple(base, fc.constantFrom(...MALFORMED_JSON), tokenArb)
        .map(([b, text, token]) => finish(b, token, { headers: { "content-type": "application/json" }, body: text })),
      // A content type the route does not take, or none.
      fc.tuple(base, fc.constantFrom(...BAD_CONTENT_TYPES, ""), tokenArb).map(([b, type, token]) =>
        finish(b, token, {
          headers: type === "" ? {} : { "content-type": type },
          body: JSON.stringify(b.body ?? {}),
        }),
      ),
    );
  } else if (op.body.length > 0) {
    // A binary route: wrong content types, JSON where bytes are expected, an empty body.
    kinds.push(
      fc
        .tuple(
          base,
          fc.constantFrom(...BAD_CONTENT_TYPES.filter((t) => t !== op.body[0]!.contentType), "application/json"),
          tokenArb,
        )
        .map(([b, type, token]) => finish(b, token, { headers: { "content-type": type }, body: '{"a":1}' })),
      fc
        .tuple(base, fc.uint8Array({ maxLength: 256 }), tokenArb)
        .map(([b, bytes, token]) =>
          finish(b, token, { headers: { "content-type": op.body[0]!.contentType }, body: bytes }),
        ),
    );
  } else if (op.method === "GET" || op.method === "DELETE") {
    // A body where none belongs.
    kinds.push(
      fc
        .tuple(base, fc.constantFrom(...MALFORMED_JSON.slice(0, 6)), tokenArb)
        .map(([b, text, token]) =>
          finish(
            b,
            token,
            op.method === "GET"
              ? { headers: { "content-type": "application/json" } }
              : { headers: { "content-type": "application/json" }, body: text },
          ),
        ),
    );
  }
  if (pathNames.length > 0) {
    kinds.push(
      fc
        .tuple(
          base,
          fc.constantFrom(...pathNames),
          fc.oneof(fc.constantFrom(...BAD_SEGMENTS), hostileValue.map(encodeSegment)),
          tokenArb,
        )
        .map(([b, name, segment, token]) => finish({ ...b, path: { ...b.path, [name]: segment } }, token)),
    );
  }
  // Query parameters: wrong types, unknown names, repeats, huge values.
  kinds.push(
    fc
      .tuple(
        base,
        fc.constantFrom(...queryNames, "unknown", "__proto__", "limit", "after"),
        fc.oneof(
          fc.constantFrom("", "-1", "1e309", "NaN", "true", "[]", "%00", "a".repeat(10_000)),
          hostileValue.map(encodeSegment),
        ),
        fc.boolean(),
        tokenArb,
      )
      .map(([b, name, value, repeat, token]) =>
        finish(
          { ...b, query: [...b.query, [name, value], ...(repeat ? ([[name, value]] as [string, string][]) : [])] },
          token,
        ),
      ),
  );
  // Junk credentials on an otherwise valid request.
  kinds.push(
    fc.tuple(base, fc.constantFrom(...BAD_AUTH)).map(([b, auth]) => {
      const r = finish(b, undefined);
      return { ...r, headers: { ...r.headers, authorization: auth } };
    }),
  );
  return fc.oneof(...kinds);
}

/** Requests that follow the schemas, with a session on most: they reach the handlers' own checks. */
export function adversarialRequests(
  op: Operation,
  doc: Record<string, unknown>,
  options: FuzzOptions = {},
): fc.Arbitrary<RawRequest> {
  const resolve = resolver(doc);
  const tokenArb =
    options.token === undefined
      ? fc.constant(undefined)
      : fc.option(fc.constant(options.token), { freq: 4, nil: undefined });
  return fc.tuple(baseArbitrary(op, resolve), tokenArb).map(([b, token]) => ({
    method: op.method,
    path: buildPath(op, b.path) + queryString(b.query),
    ...withBody(op, b.body),
    ...(token === undefined ? {} : { token }),
  }));
}
