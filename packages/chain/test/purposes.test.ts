import { expect } from "chai";
import {
  InvalidPurposeError,
  PURPOSES,
  Purpose,
  isGrantablePurpose,
  parseGrantablePurpose,
  parsePurpose,
  purposeLabel,
  purposeName,
} from "../src/index.ts";

describe("purposes", () => {
  it("match the contract's numbering", () => {
    expect(Purpose).to.deep.equal({ Treatment: 1, Research: 2, Emergency: 3, Payment: 4, PublicHealth: 5 });
    expect(PURPOSES).to.deep.equal([1, 2, 3, 4, 5]);
  });

  it("parse numbers, decimal strings, bigints and names in any case or separator style", () => {
    expect(parsePurpose(1)).to.equal(1);
    expect(parsePurpose(5n)).to.equal(5);
    expect(parsePurpose("2")).to.equal(2);
    expect(parsePurpose("Treatment")).to.equal(1);
    expect(parsePurpose("research")).to.equal(2);
    expect(parsePurpose("public-health")).to.equal(5);
    expect(parsePurpose("PUBLIC_HEALTH")).to.equal(5);
    expect(parsePurpose("Public Health")).to.equal(5);
  });

  for (const bad of [
    0,
    6,
    1.5,
    -1,
    "0",
    "6",
    "01",
    " 1",
    "",
    "treat",
    "emergency!",
    null,
    undefined,
    {},
    256n,
    Number.NaN,
  ]) {
    it(`refuse ${typeof bad === "bigint" ? `${bad}n` : (JSON.stringify(bad) ?? String(bad))} with InvalidPurposeError`, () => {
      expect(() => parsePurpose(bad)).to.throw(InvalidPurposeError, /unknown purpose.*1 Treatment/);
    });
  }

  it("names the field in the error", () => {
    try {
      parsePurpose(9, "items[3].purpose");
      expect.fail("should throw");
    } catch (error) {
      expect(error).to.be.instanceOf(InvalidPurposeError);
      expect((error as InvalidPurposeError).field).to.equal("items[3].purpose");
      expect((error as InvalidPurposeError).code).to.equal("INVALID_PURPOSE");
    }
  });

  it("Emergency is not grantable directly (break-glass only)", () => {
    expect(isGrantablePurpose(3)).to.equal(false);
    expect(isGrantablePurpose(4)).to.equal(true);
    expect(() => parseGrantablePurpose("Emergency")).to.throw(InvalidPurposeError, /break the glass/);
    expect(parseGrantablePurpose("payment")).to.equal(4);
  });

  it("has display names and labels", () => {
    expect(purposeName(5)).to.equal("PublicHealth");
    expect(purposeLabel(3)).to.equal("Emergency (break-glass)");
    expect(PURPOSES.map((p) => parsePurpose(purposeName(p)))).to.deep.equal([...PURPOSES]);
  });
});
