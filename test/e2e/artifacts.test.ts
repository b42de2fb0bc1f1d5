// The ABIs and bytecode that @hygeia/chain ships must be those of the contracts in this tree.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { contractNames, readArtifact, renderArtifactModule } from "../../scripts/export-artifacts.ts";

describe("generated contract artifacts", () => {
  for (const name of contractNames) {
    it(`packages/chain/src/generated/${name}.ts matches the compiled contract`, () => {
      const committed = readFileSync(join("packages/chain/src/generated", `${name}.ts`), "utf8");
      expect(
        committed === renderArtifactModule(name, readArtifact(name)),
        "run: npx hardhat build && node scripts/export-artifacts.ts",
      ).to.equal(true);
    });
  }
});
