import { expect } from "chai";
import { JsonRpcProvider, zeroPadValue } from "ethers";
import {
  ConsentRegistryClient,
  InvalidInputError,
  ScanAbortedError,
  ScanLimitError,
  consentAccountFor,
  findConsentAccounts,
} from "../src/index.ts";
import { startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { startRpcProxy, type RpcProxy } from "./support/rpc-proxy.ts";
import { rejection, within } from "./support/settle.ts";
import { relayGrant, seedOf } from "./support/consent-accounts.ts";
import { testScopeKey } from "./support/scopes.ts";

interface RawLog {
  address: string;
  topics: string[];
  blockNumber: string;
  [field: string]: unknown;
}
interface LogFilter {
  address?: string;
  topics?: (string | string[] | null)[];
  fromBlock?: string;
  toBlock?: string;
}

const scopeKey = testScopeKey("recovery patient");

describe("consent accounts: recovery without telling the node, bounded against a hostile node", function () {
  this.timeout(120_000);
  let t: TestChain;
  let registry: string;
  let relayer: ConsentRegistryClient;
  let template: RawLog;
  const seed = seedOf("private recovery");
  const account = (index: number) => consentAccountFor(seed, index, scopeKey);
  const clinicA = walletAt(3).address;
  const clinicB = walletAt(4).address;
  const topicOf = (address: string) => zeroPadValue(address, 32).toLowerCase();

  /** A proxy in front of anvil and a provider through it that sends one request per HTTP call. */
  async function throughProxy<T>(run: (provider: JsonRpcProvider, proxy: RpcProxy) => Promise<T>): Promise<T> {
    const proxy = await startRpcProxy(t.chain.rpcUrl);
    const provider = new JsonRpcProvider(proxy.url, undefined, {
      cacheTimeout: -1,
      staticNetwork: true,
      batchMaxCount: 1,
    });
    try {
      return await run(provider, proxy);
    } finally {
      provider.destroy();
      await proxy.close();
    }
  }

  /** A copy of a real ConsentGranted log, now naming `patient` in block `block`. */
  function forgedLog(patient: string, block: number, overrides: Partial<RawLog> = {}): RawLog {
    const topics = [...template.topics];
    topics[1] = topicOf(patient);
    return { ...template, topics, blockNumber: `0x${block.toString(16)}`, ...overrides };
  }

  before(async () => {
    t = await startTestChain();
    registry = t.deployment.contracts.ConsentRegistry;
    relayer = new ConsentRegistryClient(registry, t.signer(9));
    // Accounts 0, 1 and 3 are used; 2 is not. Another patient's account uses the registry too.
    await relayGrant(relayer, account(0).account, clinicA, account(0).scopes.id("category:laboratory"));
    await relayGrant(relayer, account(1).account, clinicB, account(1).scopes.id("category:imaging"));
    await relayGrant(relayer, account(3).account, clinicA, account(3).scopes.id("category:allergy"));
    const other = consentAccountFor(seedOf("someone else"), 0, scopeKey);
    await relayGrant(relayer, other.account, clinicA, other.scopes.id("category:allergy"));
    const logs = (await t.provider.send("eth_getLogs", [{ address: registry, fromBlock: "0x0" }])) as RawLog[];
    template = logs[0]!;
  });
  after(async () => {
    await t?.stop();
  });

  it("by default no eth_getLogs filter names a derived address: the node is asked for the registry's consent events only", async () => {
    await throughProxy(async (provider, proxy) => {
      const scan = await findConsentAccounts(provider, seed, { registry, gapLimit: 3 });
      expect(scan.accounts.map((a) => a.index)).to.deep.equal([0, 1, 3]);
      expect(scan.accounts[1]!.grantees).to.deep.equal([clinicB]);
      expect(scan.nextIndex).to.equal(4);
      const filters = proxy.requests
        .filter((r) => r.method === "eth_getLogs")
        .map((r) => (r.params as LogFilter[])[0]!);
      expect(filters).to.have.length.greaterThan(0);
      const sent = JSON.stringify(proxy.requests).toLowerCase();
      for (let index = 0; index < 10; index++) {
        expect(sent, `account ${index}`).not.to.include(account(index).address.slice(2).toLowerCase());
      }
      for (const filter of filters) {
        expect(filter.address?.toLowerCase()).to.equal(registry.toLowerCase());
        expect(filter.topics).to.have.length(1); // the event topics, no patient topic
      }
    });
  });

  it("with revealAddressesToNode the filter names the derived addresses (the opt-in the docs warn about), same accounts", async () => {
    await throughProxy(async (provider, proxy) => {
      const scan = await findConsentAccounts(provider, seed, { registry, gapLimit: 3, revealAddressesToNode: true });
      expect(scan.accounts.map((a) => a.index)).to.deep.equal([0, 1, 3]);
      const sent = JSON.stringify(proxy.requests).toLowerCase();
      expect(sent).to.include(account(0).address.slice(2).toLowerCase());
    });
  });

  it("stops with ScanLimitError (maxAccounts) when a node keeps forging events for the last address it was asked about", async () => {
    await throughProxy(async (provider, proxy) => {
      proxy.rules.set("eth_getLogs", {
        rewrite: (result, params) => {
          const filter = (params as LogFilter[])[0]!;
          const asked = filter.topics?.[1];
          const last = Array.isArray(asked) ? asked[asked.length - 1]! : undefined;
          if (last === undefined) return result;
          const patient = `0x${last.slice(-40)}`;
          return [...(result as RawLog[]), forgedLog(patient, Number(filter.fromBlock))];
        },
      });
      const error = await within(
        rejection(
          findConsentAccounts(provider, seed, { registry, gapLimit: 5, maxAccounts: 50, revealAddressesToNode: true }),
        ),
        60_000,
        "the forged scan",
      );
      expect(error).to.be.instanceOf(ScanLimitError).with.property("field", "maxAccounts");
      expect(error).to.have.property("code", "SCAN_LIMIT_EXCEEDED");
      // Every call checks at least one new account, so maxAccounts bounds the calls too.
      expect(proxy.requests.filter((r) => r.method === "eth_getLogs").length).to.be.at.most(50);
    });
  });

  it("drops forged logs from outside the block window asked or from another contract", async () => {
    await throughProxy(async (provider, proxy) => {
      const head = await t.provider.getBlockNumber();
      proxy.rules.set("eth_getLogs", {
        rewrite: (result) => [
          ...(result as RawLog[]),
          forgedLog(account(2).address, head + 1000), // a block after the window
          forgedLog(account(4).address, head, { address: walletAt(8).address }), // another contract
        ],
      });
      for (const revealAddressesToNode of [false, true]) {
        const scan = await findConsentAccounts(provider, seed, { registry, gapLimit: 3, revealAddressesToNode });
        expect(
          scan.accounts.map((a) => a.index),
          String(revealAddressesToNode),
        ).to.deep.equal([0, 1, 3]);
      }
    });
  });

  it("refuses up front a block range needing more than maxBlockWindows eth_getLogs calls (a forged head of 2^40)", async () => {
    await throughProxy(async (provider, proxy) => {
      proxy.rules.set("eth_blockNumber", { rewrite: () => "0x10000000000" });
      const error = await within(
        rejection(findConsentAccounts(provider, seed, { registry })),
        30_000,
        "the scan under a forged head",
      );
      expect(error).to.be.instanceOf(ScanLimitError).with.property("field", "maxBlockWindows");
      expect(proxy.seen).not.to.include("eth_getLogs");
    });
    const small = await rejection(
      findConsentAccounts(t.provider, seed, { registry, maxBlockRange: 1, maxBlockWindows: 2 }),
    );
    expect(small).to.be.instanceOf(ScanLimitError).with.property("field", "maxBlockWindows");
  });

  it("stops with ScanAbortedError when its signal aborts, before asking or between requests", async () => {
    const aborted = await rejection(findConsentAccounts(t.provider, seed, { registry, signal: AbortSignal.abort() }));
    expect(aborted).to.be.instanceOf(ScanAbortedError).with.property("code", "SCAN_ABORTED");
    await throughProxy(async (provider, proxy) => {
      proxy.rules.set("eth_getLogs", { delayMs: 100 });
      const error = await within(
        rejection(
          findConsentAccounts(provider, seed, { registry, maxBlockRange: 1, signal: AbortSignal.timeout(300) }),
        ),
        30_000,
        "the aborted scan",
      );
      expect(error).to.be.instanceOf(ScanAbortedError);
      expect((error as Error).cause).to.have.property("name", "TimeoutError");
    });
  });

  it("stops with ScanAbortedError while a request is in flight, not only after the node answers or times out", async () => {
    await throughProxy(async (provider, proxy) => {
      proxy.rules.set("eth_getLogs", { hang: true }); // each request would wait readTimeoutMs (60 s here)
      const started = Date.now();
      const error = await within(
        rejection(
          findConsentAccounts(provider, seed, { registry, readTimeoutMs: 60_000, signal: AbortSignal.timeout(300) }),
        ),
        10_000,
        "the scan aborted during eth_getLogs",
      );
      expect(error).to.be.instanceOf(ScanAbortedError);
      expect((error as Error).cause).to.have.property("name", "TimeoutError");
      expect(Date.now() - started).to.be.below(10_000);
      const client = new ConsentRegistryClient(registry, provider, { readTimeoutMs: 60_000 });
      const listing = await within(
        rejection(client.consentEventsOf(clinicA, { fromBlock: 0, signal: AbortSignal.timeout(300) })),
        10_000,
        "consentEventsOf aborted during eth_getLogs",
      );
      expect(listing).to.be.instanceOf(ScanAbortedError);
    });
  });

  it("counts knownAddresses as used, so nextIndex is past an account that is linked but has no grant yet", async () => {
    const scan = await findConsentAccounts(t.provider, seed, {
      registry,
      gapLimit: 2,
      knownAddresses: [account(4).address],
    });
    expect(scan.accounts.map((a) => a.index)).to.deep.equal([0, 1, 3, 4]);
    expect(scan.accounts[3]!.events).to.deep.equal([]);
    expect(scan.nextIndex).to.equal(5);
  });

  it("refuses bad scan bounds and options with the field named", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ registry, maxAccounts: 0 }, "maxAccounts"],
      [{ registry, gapLimit: 20, maxAccounts: 19 }, "maxAccounts"],
      [{ registry, maxBlockWindows: 0 }, "maxBlockWindows"],
      [{ registry, signal: "soon" }, "signal"],
      [{ registry, revealAddressesToNode: "yes" }, "revealAddressesToNode"],
      [{ registry, knownAddresses: "0x12" }, "knownAddresses"],
      [{ registry, knownAddresses: ["0x12"] }, "knownAddresses[0]"],
    ];
    for (const [options, field] of cases) {
      const error = await rejection(findConsentAccounts(t.provider, seed, options));
      expect(error, field).to.be.instanceOf(InvalidInputError).with.property("field", field);
    }
  });
});
