// The web pages (packages/web, built by Vite) at `/`: the patient's wallet page. Served as static files with a
// content security policy of their own: the API's (`default-src 'none'`) would block the page's scripts; this one
// allows the page's own scripts and styles, WebAssembly (libsodium), and connections to the gateway and the chain's
// RPC URL only. `GET /config.json` tells the page that URL. None of these routes is in the OpenAPI document: they are
// the pages, not the API.
import { access } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import fastifyStatic from "@fastify/static";
import { WEB_DIST_DIR } from "@hygeia/web/dist";
import { GatewayError } from "../errors.ts";

export interface WebPluginOptions {
  /** The built pages (default: @hygeia/web's dist directory). */
  dir?: string;
}

/** The pages' content security policy, given the chain URL they may call. */
export function webContentSecurityPolicy(rpcUrl: string | null): string {
  const connect = ["'self'", ...(rpcUrl === null ? [] : [new URL(rpcUrl).origin])];
  return [
    "default-src 'none'",
    // 'wasm-unsafe-eval': libsodium compiles its WebAssembly; no eval of JavaScript.
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect.join(" ")}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The pages' addresses (answered WEB_NOT_BUILT when the pages are not built). */
const PAGES = ["/", "/index.html", "/clinic.html"];

const NOT_BUILT_MESSAGE = "the web pages are not built: run `npm run build -w @hygeia/web` (npm start does it)";

async function web(app: FastifyInstance, options: WebPluginOptions): Promise<void> {
  const dir = options.dir ?? WEB_DIST_DIR;
  const rpcUrl = app.config.web.rpcUrl;
  const policy = webContentSecurityPolicy(rpcUrl);

  app.get("/config.json", { schema: { hide: true } }, async (_request, reply) => {
    void reply.header("cache-control", "no-store");
    return { rpcUrl };
  });

  const built = await access(join(dir, "index.html")).then(
    () => true,
    () => false,
  );
  if (!built) {
    for (const page of PAGES)
      app.get(page, { schema: { hide: true } }, async () => {
        throw new GatewayError("WEB_NOT_BUILT", 404, NOT_BUILT_MESSAGE);
      });
    return;
  }
  const assets = join(dir, "assets");
  await app.register(fastifyStatic, {
    root: dir,
    prefix: "/",
    // Files are looked up per request, so a rebuild of the pages (npm test next to npm start) is served at once; a
    // path that names no file falls through to the API's JSON 404 (callNotFound), traversal included.
    wildcard: true,
    index: ["index.html"],
    schemaHide: true,
    setHeaders(reply, path) {
      // Given to writeHead, so it wins over the API's policy that the security hook set on the raw response.
      void reply.header("content-security-policy", policy);
      // Vite names assets by content hash: cache them for good; the page itself is checked on every visit.
      void reply.header("cache-control", path.startsWith(assets) ? "public, max-age=31536000, immutable" : "no-cache");
    },
  });
}

export const webPlugin = fp(web, { name: "hygeia-web", dependencies: ["hygeia-security"] });
