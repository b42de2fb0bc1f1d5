import { expect } from "chai";
import fc from "fast-check";
import {
  CHECKPOINT_FORMAT,
  ConsentTable,
  InvalidCheckpointError,
  consentKey,
  isLive,
  keyParts,
  parseCheckpoint,
  type SlotValue,
  type UndoEntry,
} from "../src/index.ts";
import { sid } from "./support/scopes.ts";

const A = "0x" + "a1".repeat(20);
const B = "0x" + "b2".repeat(20);
const CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const HASH = "0x" + "11".repeat(32);

describe("consent table", () => {
  it("keys are fixed-width, case-insensitive and reversible", () => {
    const scope = sid(A, "fhir:Observation");
    const key = consentKey(A.toUpperCase().replace("0X", "0x"), B, scope, 2);
    expect(key).to.have.length(145);
    expect(key).to.equal(consentKey(A, B, scope, 2));
    expect(keyParts(key)).to.deep.equal({ patient: A, grantee: B, scope, purpose: 2 });
  });

  it("isLive mirrors the contract: expiry strictly after the time", () => {
    expect(isLive({ expiry: 100n, version: 1 }, 99n)).to.equal(true);
    expect(isLive({ expiry: 100n, version: 1 }, 100n)).to.equal(false);
    expect(isLive({ expiry: 0n, version: 2 }, 0n)).to.equal(false);
    expect(isLive(undefined, 0n)).to.equal(false);
  });

  it("property: undoing the writes of any suffix of blocks restores the earlier table exactly", () => {
    const write = fc.record({
      key: fc.constantFrom("k1", "k2", "k3", "k4"),
      expiry: fc.bigInt({ min: 0n, max: 1000n }),
      version: fc.nat(50),
    });
    const blocks = fc.array(fc.array(write, { maxLength: 5 }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(blocks, fc.nat(), (writesPerBlock, cut) => {
        const table = new ConsentTable();
        const snapshots: Map<string, SlotValue>[] = [];
        const undo: UndoEntry[][] = [];
        for (const writes of writesPerBlock) {
          snapshots.push(new Map(table.entries()));
          undo.push(writes.map((w) => table.write(w.key, { expiry: w.expiry, version: w.version })));
        }
        const keep = cut % writesPerBlock.length;
        for (let i = undo.length - 1; i >= keep; i--) table.undo(undo[i]!);
        expect(new Map(table.entries())).to.deep.equal(snapshots[keep]);
      }),
    );
  });
});

describe("checkpoint validation", () => {
  const valid = () => ({
    format: CHECKPOINT_FORMAT,
    version: 1,
    chainId: 31337,
    contract: CONTRACT,
    startBlock: 3,
    block: { number: 40, hash: HASH },
    entries: [[A, B, sid(A, "category:laboratory"), 1, "18446744073709551615", 7]],
  });

  it("accepts a well-formed checkpoint and keeps uint64 expiries exact", () => {
    const parsed = parseCheckpoint(JSON.parse(JSON.stringify(valid())), { contract: CONTRACT, chainId: 31337 });
    expect(parsed.block).to.deep.equal({ number: 40, hash: HASH });
    expect([...parsed.slots.values()]).to.deep.equal([{ expiry: 2n ** 64n - 1n, version: 7 }]);
  });

  const cases: [string, (c: ReturnType<typeof valid>) => unknown, RegExp][] = [
    ["not an object", () => "checkpoint", /must be an object/],
    ["wrong format", (c) => ({ ...c, format: "other" }), /not a consent-index checkpoint/],
    ["future version", (c) => ({ ...c, version: 2 }), /version 1/],
    ["other chain", (c) => ({ ...c, chainId: 1 }), /chain 1, not chain 31337/],
    ["other contract", (c) => ({ ...c, contract: B }), /not 0x5FbDB/],
    ["bad hash", (c) => ({ ...c, block: { number: 40, hash: "0x12" } }), /block\.hash/],
    ["negative block", (c) => ({ ...c, block: { number: -1, hash: HASH } }), /block\.number/],
    ["block before start", (c) => ({ ...c, startBlock: 50 }), /before startBlock/],
    ["entries not an array", (c) => ({ ...c, entries: {} }), /entries must be an array/],
    ["short entry", (c) => ({ ...c, entries: [[A, B]] }), /6-element array/],
    ["bad purpose", (c) => ({ ...c, entries: [[A, B, HASH, 9, "1", 1]] }), /purpose/],
    ["numeric expiry", (c) => ({ ...c, entries: [[A, B, HASH, 1, 5, 1]] }), /expiry must be a decimal string/],
    ["expiry overflow", (c) => ({ ...c, entries: [[A, B, HASH, 1, (2n ** 64n).toString(), 1]] }), /uint64/],
    ["version overflow", (c) => ({ ...c, entries: [[A, B, HASH, 1, "1", 2 ** 32]] }), /uint32/],
    [
      "duplicate key",
      (c) => ({
        ...c,
        entries: [
          [A, B, HASH, 1, "1", 1],
          [A.toUpperCase().replace("0X", "0x"), B, HASH, 1, "2", 2],
        ],
      }),
      /repeats/,
    ],
  ];
  for (const [name, mutate, message] of cases) {
    it(`refuses: ${name}`, () => {
      expect(() => parseCheckpoint(mutate(valid()), { contract: CONTRACT, chainId: 31337 })).to.throw(
        InvalidCheckpointError,
        message,
      );
    });
  }
});
