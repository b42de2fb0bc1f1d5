// Behaviour, not timing: a 256 MiB record streams through encrypt + decrypt without being held in memory.
// Each run is a fresh child process (fixtures/stream-memory.ts) so the RSS baseline is clean.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";

const SIZE = 256 * 1024 * 1024;
const MAX_RSS_GROWTH = 100 * 1024 * 1024;
const script = fileURLToPath(new URL("fixtures/stream-memory.ts", import.meta.url));

interface MemoryReport {
  mode: string;
  bytes: number;
  intact: boolean;
  peakRssGrowthBytes: number;
}

async function run(mode: "node" | "web"): Promise<MemoryReport> {
  const { stdout } = await promisify(execFile)(process.execPath, [script, mode, String(SIZE)]);
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as MemoryReport;
}

describe("streaming memory bound", function () {
  this.timeout(120_000);

  for (const mode of ["node", "web"] as const) {
    it(`256 MiB through ${mode} streams (encrypt -> decrypt) grows RSS by < 100 MB`, async function () {
      const report = await run(mode);
      expect(report.bytes).to.equal(SIZE);
      expect(report.intact, "plaintext out equals plaintext in").to.equal(true);
      const growthMb = (report.peakRssGrowthBytes / 1e6).toFixed(1);
      expect(report.peakRssGrowthBytes, `peak RSS growth ${growthMb} MB`).to.be.below(MAX_RSS_GROWTH);
    });
  }
});
