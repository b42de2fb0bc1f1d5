// The repository documents itself: every relative link in its Markdown resolves to a file inside the
// repository, and nothing points at the workspace's design notes outside it (a standalone clone
// has no ../shared/ARCHITECTURE.md; the design of record is docs/architecture.md).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { expect } from "chai";

const ROOT = resolve(import.meta.dirname, "../..");

/** Tracked and new (not ignored) files of the working tree. */
function repoFiles(): string[] {
  const output = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return output.split("\n").filter((path) => path && existsSync(join(ROOT, path)));
}

/** Targets of inline Markdown links and images, `[text](target)`, outside code fences. */
function markdownLinks(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, "");
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => match[1]!);
}

describe("documentation links", () => {
  const files = repoFiles();

  it("resolves every relative link in the Markdown files to a file inside the repository", () => {
    const broken: string[] = [];
    for (const file of files.filter((path) => path.endsWith(".md"))) {
      for (const target of markdownLinks(readFileSync(join(ROOT, file), "utf8"))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue; // URLs, in-page anchors
        const path = resolve(ROOT, dirname(file), decodeURIComponent(target.split("#")[0]!));
        const inside = !relative(ROOT, path).startsWith("..");
        if (!inside || !existsSync(path))
          broken.push(`${file}: ${target}${inside ? " (missing)" : " (outside the repo)"}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it("has no reference to the design notes outside the repository (../shared, ARCHITECTURE.md)", () => {
    const offending: string[] = [];
    for (const file of files) {
      if (!/\.(md|ts|sol|sh|json|ya?ml)$/.test(file) || file === "package-lock.json") continue;
      if (file === "test/e2e/docs-links.test.ts") continue; // names them to look for them
      readFileSync(join(ROOT, file), "utf8")
        .split("\n")
        .forEach((line, index) => {
          if (/\.\.\/shared\/|ARCHITECTURE\.md/.test(line)) offending.push(`${file}:${index + 1}: ${line.trim()}`);
        });
    }
    expect(offending).to.deep.equal([]);
  });

  it("has the design of record in the repository, linked from the README", () => {
    expect(existsSync(join(ROOT, "docs/architecture.md"))).to.equal(true);
    expect(markdownLinks(readFileSync(join(ROOT, "README.md"), "utf8"))).to.include("docs/architecture.md");
  });
});
