// Review of issue 16's fixes, finding 1 (memory / CPU) and 4 (a failed list cached): what one credential or one
// verification can make the status checker fetch, hold and wait for. The list verifier is stubbed (the edge of
// the unit: signatures are covered by the chain-backed tests); lists, cache, URL policy and timers are real.
import { expect } from "chai";
import { gzipSync } from "node:zlib";
import {
  Bitstring,
  CredentialVerifier,
  InvalidIdentityInputError,
  InvalidStatusListError,
  MAX_STATUS_LIST_BYTES,
  MIN_STATUS_LIST_BITS,
  StatusListChecker,
  statusEntry,
  type AnyVerifiedStatusList,
  type StatusListCheckerOptions,
} from "../src/index.ts";

const X = "did:ethr:0x7a69:0x1111111111111111111111111111111111111111";
const Y = "did:ethr:0x7a69:0x2222222222222222222222222222222222222222";
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A list as the verifier would hand it over: issued by `issuer` now, valid for a day. */
function verifiedList(issuer: string, bits = MIN_STATUS_LIST_BITS): AnyVerifiedStatusList {
  return {
    format: "bitstring",
    issuer,
    purpose: "revocation",
    list: new Bitstring(bits),
    issuedAt: nowSeconds(),
    validUntil: nowSeconds() + 86_400,
  };
}

function checker(options: Partial<StatusListCheckerOptions> & { lists?: (url: string) => AnyVerifiedStatusList }) {
  const fetched: string[] = [];
  const lists = options.lists ?? (() => verifiedList(X));
  const instance = new StatusListChecker({
    fetcher: async (url) => {
      fetched.push(url);
      return url;
    },
    verifier: async (jwt) => lists(jwt),
    ...options,
  });
  return { checker: instance, fetched };
}

describe("identity review: status list bounds (finding 1)", function () {
  it("fails a credential with two revocation entries before fetching anything", async function () {
    const { checker: c, fetched } = checker({});
    const result = await c.check(X, [
      statusEntry("https://status.example/a", "revocation", 1),
      statusEntry("https://status.example/b", "revocation", 2),
    ]);
    expect(result).to.include({ pass: false, code: "TOO_MANY_STATUS_ENTRIES" });
    expect(fetched).to.deep.equal([]);
  });

  it("checks one revocation and one suspension entry of a credential", async function () {
    const { checker: c, fetched } = checker({
      lists: (url) => ({ ...verifiedList(X), purpose: url.includes("susp") ? "suspension" : "revocation" }),
    });
    const result = await c.check(X, [
      statusEntry("https://status.example/rev", "revocation", 1),
      statusEntry("https://status.example/susp", "suspension", 1),
    ]);
    expect(result).to.include({ pass: true });
    expect(fetched).to.have.length(2);
  });

  it("refuses more distinct lists than maxListsPerVerification in one verification, fetching none of them", async function () {
    const { checker: c, fetched } = checker({ maxListsPerVerification: 3 });
    const budget = c.budget();
    for (const i of [1, 2, 3])
      expect(await c.check(X, [statusEntry(`https://status.example/${i}`, "revocation", 0)], budget)).to.include({
        pass: true,
      });
    const fourth = await c.check(X, [statusEntry("https://status.example/4", "revocation", 0)], budget);
    expect(fourth).to.include({ pass: false, code: "TOO_MANY_STATUS_LISTS" });
    expect(fetched).to.have.length(3);
    // The same lists again in this verification are no new lists; another verification has its own budget.
    expect(await c.check(X, [statusEntry("https://status.example/1", "revocation", 0)], budget)).to.include({
      pass: true,
    });
    expect(await c.check(X, [statusEntry("https://status.example/4", "revocation", 0)])).to.include({ pass: true });
  });

  it("bounds the list cache by bytes, not only by count", async function () {
    const bits = MAX_STATUS_LIST_BYTES * 8;
    const { checker: c } = checker({ cacheBytes: 5 * 1024 * 1024, lists: () => verifiedList(X, bits) });
    for (let i = 0; i < 10; i++)
      expect(await c.check(X, [statusEntry(`https://status.example/${i}`, "revocation", 0)])).to.include({
        pass: true,
      });
    expect(c.cacheBytes).to.be.at.most(5 * 1024 * 1024);
    expect(c.cacheSize).to.equal(2);
  });

  it("inflates a W3C minimum (16 KiB) and a 2 MiB list but refuses one inflating beyond 2 MiB", function () {
    expect(MAX_STATUS_LIST_BYTES).to.equal(2 * 1024 * 1024);
    expect(Bitstring.decode(new Bitstring().encode()).length).to.equal(MIN_STATUS_LIST_BITS);
    expect(Bitstring.decode(new Bitstring(MAX_STATUS_LIST_BYTES * 8).encode()).length).to.equal(
      MAX_STATUS_LIST_BYTES * 8,
    );
    const tooBig = `u${gzipSync(new Uint8Array(MAX_STATUS_LIST_BYTES + 1)).toString("base64url")}`;
    expect(() => Bitstring.decode(tooBig)).to.throw(InvalidStatusListError);
  });

  it("shares one fetch among concurrent checks of one URL", async function () {
    let fetches = 0;
    const c = new StatusListChecker({
      fetcher: async (url) => {
        fetches++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return url;
      },
      verifier: async () => verifiedList(X),
    });
    const entry = statusEntry("https://status.example/shared", "revocation", 3);
    const results = await Promise.all(Array.from({ length: 5 }, () => c.check(X, [entry])));
    expect(results.every((r) => r.pass)).to.equal(true);
    expect(fetches).to.equal(1);
  });

  it("ends the status checks of a verification at its deadline and aborts the fetch", async function () {
    let signal: AbortSignal | undefined;
    const c = new StatusListChecker({
      fetcher: (_url, options) => {
        signal = options?.signal;
        return new Promise<string>(() => {}); // a host that never answers
      },
      verifier: async () => verifiedList(X),
      deadlineMs: 200,
    });
    const started = Date.now();
    const result = await c.check(X, [statusEntry("https://status.example/slow", "revocation", 0)]);
    expect(result).to.include({ pass: false, code: "STATUS_LIST_UNAVAILABLE" });
    expect(result.reason).to.equal("status checks ran past their deadline");
    expect(Date.now() - started).to.be.below(5_000);
    expect(signal?.aborted).to.equal(true);
  });
});

describe("identity review: the verifier's status bound options", function () {
  it("refuses a bound that is not a whole number >= 1, naming the option", function () {
    const resolver = { resolve: async () => ({ id: X }) as never };
    for (const name of [
      "statusListCacheBytes",
      "statusMaxListsPerVerification",
      "statusDeadlineMs",
      "statusListMaxValiditySeconds",
    ])
      for (const value of [0, 1.5, "8"])
        expect(() => new CredentialVerifier({ resolver, [name]: value } as never), `${name}=${value}`)
          .to.throw(InvalidIdentityInputError)
          .with.property("field", name);
  });
});

describe("identity review: a list that failed a check is not reused (finding 4)", function () {
  it("vets the URL for every credential even when a list of it is cached", async function () {
    // x.example serves a list signed by Y; each issuer's lists may come only from its own origin.
    const origins = (issuer: string) => (issuer === X ? ["https://x.example"] : ["https://y.example"]);
    const { checker: c, fetched } = checker({ urlPolicy: { origins }, lists: () => verifiedList(Y) });
    const entry = statusEntry("https://x.example/lists/1", "revocation", 5);
    expect(await c.check(Y, [entry])).to.include({ pass: false, code: "STATUS_URL_NOT_ALLOWED" });
    expect(await c.check(X, [entry])).to.include({ pass: false, code: "INVALID_STATUS_LIST" });
    expect(c.cacheSize).to.equal(0); // failed the issuer check: not cached
    expect(await c.check(Y, [entry])).to.include({ pass: false, code: "STATUS_URL_NOT_ALLOWED" });
    expect(fetched).to.have.length(1);
  });

  it("does not cache a list whose purpose differs from the entry's", async function () {
    const { checker: c, fetched } = checker({ lists: () => ({ ...verifiedList(X), purpose: "suspension" }) });
    const entry = statusEntry("https://status.example/p", "revocation", 1);
    expect(await c.check(X, [entry])).to.include({ pass: false, code: "INVALID_STATUS_LIST" });
    expect(c.cacheSize).to.equal(0);
    await c.check(X, [entry]);
    expect(fetched).to.have.length(2);
  });
});
