// Builds the web pages (Vite) and checks the budget: the JavaScript a first visit of each page loads before it is
// usable (its entry chunk and what that imports statically, not the chunks loaded on demand) must stay within
// INITIAL_JS_BUDGET_BYTES gzipped. Prints one JSON line with the sizes; exits 1 over budget.
//   node packages/web/scripts/build.ts            (npm run build -w @hygeia/web)
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build, type Rolldown } from "vite";

const WEB_ROOT = join(import.meta.dirname, "..");
/** The bar: initial JavaScript at most 250 KB gzipped. */
export const INITIAL_JS_BUDGET_BYTES = 250 * 1024;

export interface WebBuildReport {
  /** The largest of the pages' initial JavaScript (the budget holds for each page). */
  initial_js_gzip_bytes: number;
  /** Each page's initial JavaScript, gzipped. */
  pages: Record<string, number>;
  budget_bytes: number;
  total_js_gzip_bytes: number;
  chunks: { file: string; gzip_bytes: number; initial: boolean }[];
  /** The packages that weigh most in the built JavaScript (minified bytes before gzip), largest first. */
  largest_packages: { name: string; bytes: number }[];
}

/** `node_modules/@scope/name/...` or `node_modules/name/...` → the package; the workspace's own → `@hygeia/<dir>`. */
function packageOf(moduleId: string): string {
  const path = moduleId.replaceAll("\\", "/");
  const inModules = path.lastIndexOf("node_modules/");
  if (inModules >= 0) {
    const parts = path.slice(inModules + "node_modules/".length).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const workspace = /\/packages\/([^/]+)\//.exec(path);
  return workspace ? `@hygeia/${workspace[1]}` : "(other)";
}

type OutputChunk = Rolldown.OutputChunk;

/** Builds into packages/web/dist and measures it. */
export async function buildWeb(options: { quiet?: boolean } = {}): Promise<WebBuildReport> {
  const output = await build({
    configFile: join(WEB_ROOT, "vite.config.ts"),
    root: WEB_ROOT,
    logLevel: options.quiet ? "warn" : "info",
  });
  const outputs = (Array.isArray(output) ? output : [output]).flatMap((result) =>
    "output" in result ? result.output : [],
  );
  const chunks = outputs.filter((item): item is OutputChunk => item.type === "chunk");
  const byFile = new Map(chunks.map((chunk) => [chunk.fileName, chunk]));
  // A page's initial JavaScript: its entry and, transitively, their static imports (dynamic imports load on demand).
  const staticClosure = (entry: string) => {
    const files = new Set<string>();
    const visit = (file: string) => {
      if (files.has(file)) return;
      files.add(file);
      for (const imported of byFile.get(file)?.imports ?? []) visit(imported);
    };
    visit(entry);
    return files;
  };
  const entries = chunks.filter((chunk) => chunk.isEntry);
  const closures = new Map(entries.map((entry) => [entry.name, staticClosure(entry.fileName)]));
  const initial = new Set([...closures.values()].flatMap((files) => [...files]));
  const gzipped = new Map(
    await Promise.all(
      chunks.map(
        async (chunk) =>
          [chunk.fileName, gzipSync(await readFile(join(WEB_ROOT, "dist", chunk.fileName))).length] as const,
      ),
    ),
  );
  const measured = chunks.map((chunk) => ({
    file: chunk.fileName,
    gzip_bytes: gzipped.get(chunk.fileName)!,
    initial: initial.has(chunk.fileName),
  }));
  const pages = Object.fromEntries(
    [...closures].map(([name, files]) => [name, [...files].reduce((total, file) => total + gzipped.get(file)!, 0)]),
  );
  const weights = new Map<string, number>();
  for (const chunk of chunks)
    for (const [id, info] of Object.entries(chunk.modules))
      weights.set(packageOf(id), (weights.get(packageOf(id)) ?? 0) + info.renderedLength);
  const sum = (list: typeof measured) => list.reduce((total, chunk) => total + chunk.gzip_bytes, 0);
  return {
    initial_js_gzip_bytes: Math.max(...Object.values(pages)),
    pages,
    budget_bytes: INITIAL_JS_BUDGET_BYTES,
    total_js_gzip_bytes: sum(measured),
    chunks: measured.sort((a, b) => b.gzip_bytes - a.gzip_bytes),
    largest_packages: [...weights]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, bytes]) => ({ name, bytes })),
  };
}

if (import.meta.main) {
  const report = await buildWeb({ quiet: true });
  process.stdout.write(`${JSON.stringify(report)}\n`);
  if (report.initial_js_gzip_bytes > report.budget_bytes) {
    process.stderr.write(
      `web: the initial JavaScript is ${report.initial_js_gzip_bytes} bytes gzipped, over the ${report.budget_bytes} budget\n`,
    );
    process.exitCode = 1;
  }
}
