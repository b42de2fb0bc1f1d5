/**
 * README code samples, checked so docs cannot rot.
 *
 * Rules (enforced by readme-examples.test.ts):
 * 1. Every fenced TypeScript / JavaScript block in a project markdown file is preceded (ignoring blank lines)
 *    by a marker `<!-- example: <path>#<region> -->`, the path relative to the markdown file's folder.
 * 2. The block equals that region of the file: the lines between `// #region <name>` and
 *    `// #endregion <name>`, dedented by their common indentation. Nothing may be elided.
 * 3. The file is an example program (`examples/*.ts`) that the test runs; it asserts its own outcomes.
 * So a sample shows code that really ran, with the results it really got.
 *
 * Written by hand rather than with a doc-testing library: those (e.g. embedme, markdown-doctest) either copy
 * files into markdown without checking, or run fragments without the setup they need; we want both checks.
 */

/** A fenced code block of a markdown file. */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word, lowercased ("ts", "sh", ""). */
  readonly lang: string;
  readonly content: string;
  /** The `path#region` of the marker before the block, if any. */
  readonly marker: { readonly path: string; readonly region: string } | undefined;
}

/** Languages whose blocks must be examples that run. */
export const CHECKED_LANGUAGES: ReadonlySet<string> = new Set([
  "ts",
  "typescript",
  "tsx",
  "js",
  "javascript",
  "mjs",
  "mts",
]);

const MARKER = /^<!--\s*example:\s*([^#\s]+)#([\w.-]+)\s*-->$/;
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;

/** The fenced code blocks of a markdown text (CommonMark fences: ``` or ~~~, closed by a fence at least as long). */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split("\n");
  const blocks: CodeBlock[] = [];
  let pendingMarker: CodeBlock["marker"];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const marker = MARKER.exec(line.trim());
    if (marker) {
      pendingMarker = { path: marker[1] ?? "", region: marker[2] ?? "" };
      continue;
    }
    const open = FENCE.exec(line);
    if (!open) {
      if (line.trim() !== "") pendingMarker = undefined; // a marker applies only to the next block
      continue;
    }
    const fence = open[2] ?? "```";
    const indent = (open[1] ?? "").length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const candidate = lines[j] ?? "";
      const close = FENCE.exec(candidate);
      if (close && (close[2] ?? "")[0] === fence[0] && (close[2] ?? "").length >= fence.length && !close[3]) break;
      body.push(candidate.slice(Math.min(indent, leadingSpaces(candidate))));
    }
    blocks.push({ line: i + 1, lang: (open[3] ?? "").toLowerCase(), content: body.join("\n"), marker: pendingMarker });
    pendingMarker = undefined;
    i = j;
  }
  return blocks;
}

/** The named `// #region` of a source text, dedented; undefined when the region is missing or not closed. */
export function sourceRegion(source: string, name: string): string | undefined {
  const lines = source.split("\n");
  const isMarker = (line: string, word: "region" | "endregion") => {
    const match = /^\s*\/\/\s*#(region|endregion)\b\s*(\S*)\s*$/.exec(line);
    return match !== null && match[1] === word && (match[2] === name || (word === "endregion" && match[2] === ""));
  };
  const start = lines.findIndex((line) => isMarker(line, "region"));
  if (start < 0) return undefined;
  const end = lines.findIndex((line, index) => index > start && isMarker(line, "endregion"));
  if (end < 0) return undefined;
  // Nested markers of other regions are not part of what the reader sees.
  const body = lines.slice(start + 1, end).filter((line) => !/^\s*\/\/\s*#(end)?region\b/.test(line));
  return dedent(body).join("\n");
}

function leadingSpaces(line: string): number {
  return line.length - line.trimStart().length;
}

function dedent(lines: readonly string[]): string[] {
  const indents = lines.filter((line) => line.trim() !== "").map(leadingSpaces);
  const common = indents.length === 0 ? 0 : Math.min(...indents);
  return lines.map((line) => line.slice(Math.min(common, leadingSpaces(line))).trimEnd());
}

/** Normalized for comparison: trailing spaces and leading/trailing blank lines do not count. */
export function normalizeSample(text: string): string {
  return text
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .replace(/^\n+/, "")
    .replace(/\n+$/, "");
}

/** What is wrong with one checked block, or undefined when it is a faithful copy of its region. */
export function sampleProblem(block: CodeBlock, readSource: (path: string) => string | undefined): string | undefined {
  if (!CHECKED_LANGUAGES.has(block.lang)) return undefined;
  if (!block.marker)
    return `line ${block.line}: a \`${block.lang}\` block without <!-- example: examples/<file>.ts#<region> --> before it`;
  const source = readSource(block.marker.path);
  if (source === undefined) return `line ${block.line}: ${block.marker.path} does not exist`;
  const region = sourceRegion(source, block.marker.region);
  if (region === undefined)
    return `line ${block.line}: ${block.marker.path} has no region "${block.marker.region}" (// #region ${block.marker.region} … // #endregion ${block.marker.region})`;
  if (normalizeSample(region) !== normalizeSample(block.content))
    return `line ${block.line}: differs from ${block.marker.path}#${block.marker.region}\n${firstDifference(
      normalizeSample(block.content),
      normalizeSample(region),
    )}`;
  return undefined;
}

function firstDifference(readme: string, source: string): string {
  const a = readme.split("\n");
  const b = source.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i])
      return `  first difference at sample line ${i + 1}:\n  README: ${a[i] ?? "(end)"}\n  source: ${b[i] ?? "(end)"}`;
  }
  return "";
}
