// README code samples cannot rot: every TypeScript block in the project's markdown is a verbatim region of an
// example program, and every example program runs to completion with its own assertions (rules in
// code-samples.ts).
import { execFile } from "node:child_process";
import { existsSync, globSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { codeBlocks, normalizeSample, sampleProblem, sourceRegion, type CodeBlock } from "./code-samples.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const IGNORED = ["node_modules/**", "**/node_modules/**", ".tools/**", ".hygeia/**", "coverage/**", "artifacts/**"];
const markdownFiles = globSync(["*.md", "docs/**/*.md", "packages/*/*.md", "packages/*/docs/**/*.md"], {
  cwd: root,
  exclude: IGNORED,
}).sort();
const examplePrograms = globSync(["examples/*.ts", "packages/*/examples/*.ts"], { cwd: root, exclude: IGNORED }).sort();

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

describe("README samples: the checker", () => {
  const program = [
    'import { strict as assert } from "node:assert";',
    "// #region add",
    "const sum = 1 + 2; // 3",
    "// #endregion add",
    "function inner() {",
    "  // #region indented",
    "  if (sum > 0) {",
    "    return sum;",
    "  }",
    "  // #endregion indented",
    "}",
    "assert.equal(sum, 3);",
  ].join("\n");
  const read = (path: string) => (path === "examples/sum.ts" ? program : undefined);
  const block = (content: string, marker?: string, lang = "ts"): CodeBlock => {
    const md = `${marker ? `<!-- example: ${marker} -->\n\n` : ""}\`\`\`${lang}\n${content}\n\`\`\`\n`;
    const [only] = codeBlocks(md);
    if (!only) throw new Error("no block parsed");
    return only;
  };

  it("accepts a block that is exactly its region", () => {
    expect(sampleProblem(block("const sum = 1 + 2; // 3", "examples/sum.ts#add"), read)).to.equal(undefined);
  });

  it("dedents an indented region", () => {
    expect(sourceRegion(program, "indented")).to.equal("if (sum > 0) {\n  return sum;\n}");
    expect(sampleProblem(block("if (sum > 0) {\n  return sum;\n}", "examples/sum.ts#indented"), read)).to.equal(
      undefined,
    );
  });

  it("refuses a TypeScript block without a marker", () => {
    expect(sampleProblem(block("const sum = 1 + 2;"), read)).to.match(/without <!-- example:/);
  });

  it("refuses a block that drifted from its region, and says where", () => {
    const problem = sampleProblem(block("const sum = 1 + 3; // 4", "examples/sum.ts#add"), read);
    expect(problem).to.match(/differs from examples\/sum.ts#add/);
    expect(problem).to.include("README: const sum = 1 + 3; // 4");
  });

  it("refuses a marker naming a missing file or region", () => {
    expect(sampleProblem(block("x", "examples/gone.ts#add"), read)).to.match(/does not exist/);
    expect(sampleProblem(block("x", "examples/sum.ts#nope"), read)).to.match(/has no region "nope"/);
  });

  it("ignores shell blocks and applies a marker only to the next block", () => {
    expect(sampleProblem(block("npm test", undefined, "sh"), read)).to.equal(undefined);
    const blocks = codeBlocks(
      "<!-- example: examples/sum.ts#add -->\n\nSome prose.\n\n```ts\nconst sum = 1 + 2;\n```\n",
    );
    expect(blocks[0]?.marker).to.equal(undefined);
  });

  it("reads fences of four backticks and tildes, and ignores trailing blank lines", () => {
    const blocks = codeBlocks("````ts\nconst a = 1;\n```\nstill code\n````\n~~~sh\nls\n~~~\n");
    expect(blocks.map((b) => [b.lang, b.content])).to.deep.equal([
      ["ts", "const a = 1;\n```\nstill code"],
      ["sh", "ls"],
    ]);
    expect(normalizeSample("\n\nx  \n\n")).to.equal("x");
  });
});

describe("README samples: every TypeScript block is a region of an example program", () => {
  it("finds the project's markdown files", () => {
    expect(markdownFiles).to.include("README.md");
    expect(markdownFiles.length).to.be.greaterThan(4);
  });

  for (const file of markdownFiles) {
    it(`${file}: each ts block equals its example region`, () => {
      const folder = dirname(join(root, file));
      const problems = codeBlocks(readFileSync(join(root, file), "utf8"))
        .map((b) => sampleProblem(b, (path) => readIfExists(resolve(folder, path))))
        .filter((p): p is string => p !== undefined);
      expect(problems, `${file}:\n${problems.join("\n")}`).to.deep.equal([]);
    });
  }

  it("every marker points at an example program that this test runs", () => {
    const outside: string[] = [];
    for (const file of markdownFiles) {
      for (const b of codeBlocks(readFileSync(join(root, file), "utf8"))) {
        if (!b.marker) continue;
        const target = relative(root, resolve(dirname(join(root, file)), b.marker.path));
        if (!examplePrograms.includes(target)) outside.push(`${file}:${b.line} -> ${target}`);
      }
    }
    expect(outside, "samples must come from examples/*.ts or packages/*/examples/*.ts").to.deep.equal([]);
  });
});

describe("README samples: every example program runs and its assertions hold", function () {
  this.timeout(180_000);
  for (const program of examplePrograms) {
    it(`node ${program} exits 0`, async () => {
      const outcome = await new Promise<{ code: number | null; signal: string | null; output: string }>((done) => {
        const child = execFile(
          process.execPath,
          [program],
          { cwd: root, timeout: 150_000, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
            done({ code, signal: error?.signal ?? null, output: `${stdout}${stderr}` });
          },
        );
        child.stdin?.end();
      });
      const tail = outcome.output.split("\n").slice(-40).join("\n");
      expect(
        outcome.code,
        outcome.signal ? `killed by ${outcome.signal} (did not exit within 150 s):\n${tail}` : tail,
      ).to.equal(0);
    });
  }
});
