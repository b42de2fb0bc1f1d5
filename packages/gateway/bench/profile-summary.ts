// Where the gateway's CPU time goes, from a --cpu-prof profile (BENCH_PROFILE=1 npm run bench:gateway keeps
// them): node profile-summary.ts <file.cpuprofile> [top]. Prints self time by package / file and by function.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) throw new Error("usage: node profile-summary.ts <file.cpuprofile> [top]");
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
// Percentages are of the active time: idle (waiting for requests, e.g. while the load generator starts) and the
// profiler's own start are left out.
const inactive = (node: ProfileNode) =>
  ["(idle)", "(program)"].includes(node.callFrame.functionName) || node.callFrame.url === "node:inspector";
const total = [...selfUs].reduce((sum, [id, us]) => (inactive(byId.get(id)!) ? sum : sum + us), 0);

/** node_modules/<package> or the workspace file; "(native)" for V8 / Node internals. */
function area(url: string): string {
  if (url === "") return "(native / V8)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  const workspace = /packages\/([^/]+\/src\/.*)$/.exec(url);
  if (workspace) return workspace[1]!;
  if (url.startsWith("node:")) return url;
  return url;
}

const areas = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  if (inactive(node)) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  areas.set(area(url), (areas.get(area(url)) ?? 0) + us);
  const name = `${functionName || "(anonymous)"} ${area(url)}:${lineNumber + 1}`;
  functions.set(name, (functions.get(name) ?? 0) + us);
}
// Inclusive time of the workspace's own functions (each counted once per sample, however deep it recurs).
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const inclusive = new Map<string, number>();
profile.samples.forEach((id, i) => {
  if (inactive(byId.get(id)!)) return;
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const { functionName, url, lineNumber } = byId.get(at)!.callFrame;
    if (!/\/packages\/[^/]+\/src\//.test(url)) continue;
    const name = `${functionName || "(anonymous)"} ${area(url)}:${lineNumber + 1}`;
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
});

const show = (title: string, map: Map<string, number>) => {
  console.log(`\n${title} (of ${(total / 1e6).toFixed(2)} s active)`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
};
show("self time by area", areas);
show("self time by function", functions);
show("inclusive time of the workspace's functions", inclusive);
