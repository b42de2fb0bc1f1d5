// npm run test:crash -- --iterations N [--damage M] [--seed S] [--keep]
// The long crash-consistency run: N SIGKILLs of a writer, then M damage trials (default N); prints ONE JSON line
// (the summary, see crash-suite.ts) and exits 1 if any check failed. Progress goes to stderr.
import { parseArgs } from "node:util";
import { runCrashSuite } from "./crash-suite.ts";

const { values } = parseArgs({
  options: {
    iterations: { type: "string", default: "20" },
    damage: { type: "string" },
    seed: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const kills = Number(values.iterations);
const damageTrials = Number(values.damage ?? values.iterations);
if (!Number.isSafeInteger(kills) || kills < 0 || !Number.isSafeInteger(damageTrials) || damageTrials < 0) {
  throw new Error("--iterations and --damage must be whole numbers ≥ 0");
}
const summary = await runCrashSuite({
  kills,
  damageTrials,
  seed: values.seed === undefined ? undefined : Number(values.seed),
  keep: values.keep,
  log: (line) => process.stderr.write(`${line}\n`),
});
console.log(JSON.stringify(summary));
process.exitCode = summary.failures.length === 0 ? 0 : 1;
