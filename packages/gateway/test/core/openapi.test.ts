// The schema is the documentation: every route registered on the gateway must appear in /openapi.json with
// its tags, summary, operationId, a 2xx response schema and problem+json schemas for its refusals. This
// fails when a plugin adds a route without them, which is the point.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { request } from "../support/http.ts";

interface OpenApiOperation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  parameters?: { in: string; name: string; description?: string; schema?: unknown }[];
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string };
  servers?: { url: string }[];
  tags?: { name: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

/** Fastify's `/v1/records/:cid` is OpenAPI's `/v1/records/{cid}`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function isProblemSchema(schema: Record<string, unknown> | undefined): boolean {
  const properties = schema?.properties as Record<string, unknown> | undefined;
  return properties !== undefined && "type" in properties && "code" in properties && "detail" in properties;
}

describe("OpenAPI document", function () {
  let stack: TestStack;
  let doc: OpenApiDocument;
  before(async function () {
    stack = await startTestStack();
    const res = await request(stack, "GET", "/openapi.json");
    expect(res.status, res.text.slice(0, 300)).to.equal(200);
    doc = res.json as OpenApiDocument;
  });
  after(async function () {
    await stack?.close();
  });

  it("is OpenAPI 3.1 with the public URL as server and a bearer security scheme", function () {
    expect(doc.openapi).to.equal("3.1.0");
    expect(doc.servers?.[0]?.url).to.equal(stack.config.publicUrl);
    expect(doc.components?.securitySchemes).to.have.property("bearer");
  });

  it("documents every registered route with tags, summary, a unique operationId and a 2xx response schema", function () {
    const routes = stack.app.registeredRoutes.filter((route) => !route.hidden && route.method !== "HEAD");
    expect(routes.length).to.be.greaterThan(2);
    const operationIds = new Map<string, string>();
    const problems: string[] = [];
    for (const route of routes) {
      const name = `${route.method} ${route.url}`;
      const operation = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      if (!operation) {
        problems.push(`${name}: missing from the document`);
        continue;
      }
      if (!operation.tags?.length) problems.push(`${name}: no tags`);
      if (!operation.summary) problems.push(`${name}: no summary`);
      if (!operation.operationId) problems.push(`${name}: no operationId`);
      else if (operationIds.has(operation.operationId))
        problems.push(
          `${name}: operationId ${operation.operationId} also used by ${operationIds.get(operation.operationId)}`,
        );
      else operationIds.set(operation.operationId, name);
      const responses = Object.entries(operation.responses ?? {});
      const success = responses.filter(([status]) => /^2/.test(status));
      if (success.length === 0) problems.push(`${name}: no 2xx response`);
      for (const [status, response] of success) {
        const schemas = Object.values(response.content ?? {}).map((content) => content.schema);
        if (status !== "204" && (schemas.length === 0 || schemas.some((schema) => schema === undefined)))
          problems.push(`${name}: ${status} response without a schema`);
      }
      for (const param of route.url.match(/:([A-Za-z0-9_]+)/g) ?? []) {
        const declared = operation.parameters?.some((p) => p.in === "path" && p.name === param.slice(1));
        if (!declared) problems.push(`${name}: path parameter ${param} has no schema`);
      }
    }
    expect(problems, problems.join("\n")).to.deep.equal([]);
  });

  it("gives every JSON request and answer an example and every path parameter a description", function () {
    const hasExample = (node: unknown): boolean =>
      typeof node === "object" &&
      node !== null &&
      (("examples" in node && !Array.isArray(node)) || "example" in node || Object.values(node).some(hasExample));
    const problems: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const name = `${method.toUpperCase()} ${path}`;
        const contents: [string, unknown][] = [];
        for (const [status, response] of Object.entries(operation.responses ?? {}))
          if (/^2/.test(status))
            for (const [type, content] of Object.entries(response.content ?? {}))
              contents.push([`${status} ${type}`, content]);
        for (const [type, content] of Object.entries(operation.requestBody?.content ?? {}))
          contents.push([`body ${type}`, content]);
        for (const [what, content] of contents)
          if (/json/.test(what) && !hasExample(content)) problems.push(`${name}: ${what} has no example`);
        for (const param of operation.parameters ?? [])
          if (param.in === "path" && !param.description && !(param.schema as { description?: string })?.description)
            problems.push(`${name}: path parameter ${param.name} has no description`);
      }
    }
    expect(problems, problems.join("\n")).to.deep.equal([]);
  });

  it("documents every refusal of every route as an application/problem+json Problem", function () {
    const problems: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const name = `${method.toUpperCase()} ${path}`;
        const refusals = Object.entries(operation.responses ?? {}).filter(([status]) => /^[45]/.test(status));
        if (!refusals.some(([status]) => /^4/.test(status))) problems.push(`${name}: no 4xx problem response`);
        if (!refusals.some(([status]) => status === "429"))
          problems.push(`${name}: the rate limit's 429 is not documented`);
        for (const [status, response] of refusals) {
          const problem = response.content?.["application/problem+json"]?.schema;
          if (!isProblemSchema(problem)) problems.push(`${name}: ${status} is not an application/problem+json Problem`);
        }
      }
    }
    expect(problems, problems.join("\n")).to.deep.equal([]);
  });

  it("serves Swagger UI at /docs under its own content security policy", async function () {
    const res = await request(stack, "GET", "/docs/");
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.match(/^text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).to.match(/script-src 'self'/);
    expect(csp).not.to.match(/upgrade-insecure-requests/);
    // The page's own assets and the document it renders are served too.
    for (const path of ["/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-initializer.js", "/docs/json"])
      expect((await request(stack, "GET", path)).status, path).to.equal(200);
    const api = await request(stack, "GET", "/healthz");
    expect(api.headers.get("content-security-policy")).to.match(/default-src 'none'/);
  });
});
