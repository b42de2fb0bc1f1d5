// Fails unless every contract (interfaces aside) has at least the given line coverage in the
// lcov report that `hardhat test mocha --coverage` writes to coverage/lcov.info.
import { readFileSync } from "node:fs";

const threshold = Number(process.argv[2] ?? "95");
if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) {
  console.error("usage: node scripts/check-coverage.ts <percent 0-100>");
  process.exit(2);
}

let report: string;
try {
  report = readFileSync("coverage/lcov.info", "utf8");
} catch {
  console.error("check-coverage: coverage/lcov.info is missing; run `hardhat test mocha --coverage` first");
  process.exit(1);
}

const files = report.split("end_of_record").flatMap((record) => {
  const file = /^SF:(.+)$/m.exec(record)?.[1];
  const hit = Number(/^LH:(\d+)$/m.exec(record)?.[1]);
  const found = Number(/^LF:(\d+)$/m.exec(record)?.[1]);
  return file && Number.isFinite(hit) && found > 0 ? [{ file, hit, found }] : [];
});
const contracts = files.filter(({ file }) => file.startsWith("contracts/") && !file.includes("/interfaces/"));
if (contracts.length === 0) {
  console.error("check-coverage: no contract found in coverage/lcov.info");
  process.exit(1);
}

let ok = true;
for (const { file, hit, found } of contracts) {
  const percent = (100 * hit) / found;
  const pass = percent >= threshold;
  ok &&= pass;
  console.log(`${pass ? "ok  " : "LOW "} ${percent.toFixed(2).padStart(6)}%  ${hit}/${found} lines  ${file}`);
}
process.exit(ok ? 0 : 1);
