// Review of issue 16's fixes, finding 2: a status host serving an older, still valid version of a list after a
// newer one revoked the credential. The list verifier is stubbed (the edge of the unit); the chain-backed case is
// in review-verifier-limits.test.ts.
import { expect } from "chai";
import {
  Bitstring,
  MAX_STATUS_LIST_VALIDITY_SECONDS,
  StatusListChecker,
  statusEntry,
  type VerifiedStatusList,
} from "../src/index.ts";

const X = "did:ethr:0x7a69:0x1111111111111111111111111111111111111111";
const URL_A = "https://status.example/revocation/1";

function version(issuedAt: number, revoked: boolean, validFor = 86_400): VerifiedStatusList {
  const list = new Bitstring();
  list.set(7, revoked);
  return { format: "bitstring", issuer: X, purpose: "revocation", list, issuedAt, validUntil: issuedAt + validFor };
}

describe("identity review: status list rollback (finding 2)", function () {
  const now = Math.floor(Date.now() / 1000);
  const entry = statusEntry(URL_A, "revocation", 7);

  function serving(initial: VerifiedStatusList | Omit<VerifiedStatusList, "validUntil" | "issuedAt">) {
    const state = { list: initial as VerifiedStatusList };
    const checker = new StatusListChecker({
      fetcher: async (url) => url,
      verifier: async () => state.list,
      cacheBytes: 64 * 1024, // room for about two lists: eviction must not forget the newest version
    });
    return { state, checker };
  }

  it("refuses an older version of a list after a newer one was seen, even once the cache dropped it", async function () {
    const { state, checker } = serving(version(now - 100, true));
    expect(await checker.check(X, [entry])).to.include({ pass: false, code: "REVOKED" });
    for (let i = 0; i < 5; i++)
      await checker.check(X, [statusEntry(`https://status.example/other/${i}`, "revocation", 1)]);
    checker.invalidate();
    state.list = version(now - 200, false); // v1, still within its exp
    const result = await checker.check(X, [entry]);
    expect(result).to.include({ pass: false, code: "STALE_STATUS_LIST" });
    expect(result.reason).to.equal("status list older than one already seen");
  });

  it("accepts a newer version after an older one", async function () {
    const { state, checker } = serving(version(now - 200, false));
    expect(await checker.check(X, [entry])).to.include({ pass: true });
    checker.invalidate();
    state.list = version(now - 100, true);
    expect(await checker.check(X, [entry])).to.include({ pass: false, code: "REVOKED" });
  });

  it("refuses a list without an expiry", async function () {
    const { checker } = serving({ ...version(now, false), validUntil: undefined });
    const result = await checker.check(X, [entry]);
    expect(result).to.include({ pass: false, code: "INVALID_STATUS_LIST" });
    expect(result.reason).to.equal("status list has no expiry (exp)");
  });

  it("refuses a list without an issuance time", async function () {
    const { checker } = serving({ ...version(now, false), issuedAt: undefined });
    expect(await checker.check(X, [entry])).to.include({ pass: false, code: "INVALID_STATUS_LIST" });
  });

  it("refuses a list valid for longer than maxListValiditySeconds after issuance (default 7 days)", async function () {
    expect(MAX_STATUS_LIST_VALIDITY_SECONDS).to.equal(7 * 86_400);
    const { checker } = serving(version(now, false, 8 * 86_400));
    const result = await checker.check(X, [entry]);
    expect(result).to.include({ pass: false, code: "INVALID_STATUS_LIST" });
    expect(result.reason).to.match(/valid for more than 604800 seconds/);
    const custom = new StatusListChecker({
      fetcher: async (url) => url,
      verifier: async () => version(now, false, 8 * 86_400),
      maxListValiditySeconds: 10 * 86_400,
    });
    expect(await custom.check(X, [entry])).to.include({ pass: true });
  });

  it("refuses a list issued in the future", async function () {
    const { checker } = serving(version(now + 3_600, false));
    expect(await checker.check(X, [entry])).to.include({ pass: false, code: "INVALID_STATUS_LIST" });
  });
});
