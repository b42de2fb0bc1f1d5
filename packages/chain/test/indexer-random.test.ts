/**
 * Randomized differential test: thousands of random consent operations on anvil, then the
 * indexer's isAllowed is compared with the contract's own isAllowed view for every key at the
 * same block and block time. Seeded; set HYGEIA_TEST_SEED to replay a failure.
 */
import { expect } from "chai";
import { Interface, type HDNodeWallet, type JsonRpcProvider } from "ethers";
import {
  ConsentIndexer,
  ConsentRegistryAbi,
  ConsentRegistryClient,
  ZERO_SCOPES_ROOT,
  emergencyScopes,
  keyParts,
  consentKey,
  type EmergencyScopes,
  type Purpose,
} from "../src/index.ts";
import { latestTimestamp, mine, startTestChain, type TestChain } from "./support/chain.ts";
import { scopesOf } from "./support/scopes.ts";

const SEED = Number(process.env["HYGEIA_TEST_SEED"] ?? Date.now() % 2 ** 31);
const TARGET_OPERATIONS = 4_000;
const WAVE = 60;
const ROUNDS = 6;

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iface = new Interface(ConsentRegistryAbi);

/** Signs locally with a tracked nonce and sends the raw transaction: one RPC per operation. */
class Sender {
  private nonce = 0;
  readonly hashes: string[] = [];
  /** Sent, and not yet seen with a receipt. */
  private unmined: string[] = [];
  readonly wallet: HDNodeWallet;
  private readonly provider: JsonRpcProvider;
  private readonly to: string;
  constructor(wallet: HDNodeWallet, provider: JsonRpcProvider, to: string) {
    this.wallet = wallet;
    this.provider = provider;
    this.to = to;
  }
  async init(): Promise<void> {
    this.nonce = await this.provider.getTransactionCount(this.wallet.address, "latest");
    this.unmined = [];
  }
  /**
   * anvil answers eth_sendRawTransaction before it has mined; wait until every transaction sent has a
   * receipt. Not "until the account's nonce count has caught up": anvil's miner executes a block into
   * its state (which eth_getTransactionCount reads) before it stores the block, and stores the block
   * and its receipts together. In between, the count says mined while eth_blockNumber still names the
   * block before, and an evm_revert (which does not wait for the miner) can land before the block is
   * stored, after which the miner stores it above the reverted head: the head then jumps blocks ahead
   * of what the test read. Under heavy load that window is wide enough to hit.
   */
  async mined(): Promise<void> {
    for (const hash of this.unmined) {
      while (!(await this.provider.send("eth_getTransactionReceipt", [hash]))) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    this.unmined = [];
  }

  async send(method: string, args: unknown[], gasLimit: bigint): Promise<void> {
    const raw = await this.wallet.signTransaction({
      to: this.to,
      data: iface.encodeFunctionData(method, args),
      nonce: this.nonce++,
      gasLimit, // explicit: no estimation, so a (rare) revert is mined instead of thrown
      maxFeePerGas: 100_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
      chainId: 31337n,
      type: 2,
    });
    const hash = (await this.provider.send("eth_sendRawTransaction", [raw])) as string;
    this.hashes.push(hash);
    this.unmined.push(hash);
  }
}

describe("ConsentIndexer randomized against the contract (anvil)", function () {
  this.timeout(120_000);
  let t: TestChain;

  before(async () => {
    t = await startTestChain();
  });
  after(async () => t?.stop());

  it(`agrees with ConsentRegistry.isAllowed on every key after ${TARGET_OPERATIONS}+ random operations (seed ${SEED})`, async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
    const address = t.deployment.contracts.ConsentRegistry;
    const registry = new ConsentRegistryClient(address, t.provider);

    const patients = [2, 3, 4, 5].map((i) => new Sender(t.signer(i), t.provider, address));
    const grantees = [6, 7, 8].map((i) => new Sender(t.signer(i), t.provider, address));
    await Promise.all([...patients, ...grantees].map((s) => s.init()));
    // Each patient's keyed ids of the same four scopes: the ids differ from patient to patient.
    const canonical = ["fhir:Observation", "category:laboratory", "category:mental-health", "study:cohort-7"];
    const idsByPatient = new Map(patients.map((p) => [p.wallet.address, scopesOf(p.wallet).ids(canonical)]));
    const scopesOfPatient = (patient: string): string[] => idsByPatient.get(patient)!;
    const grantable: Purpose[] = [1, 2, 4, 5];
    const keys = patients.flatMap((p) =>
      grantees.flatMap((g) =>
        scopesOfPatient(p.wallet.address).flatMap((s) =>
          ([1, 2, 3, 4, 5] as Purpose[]).map((purpose) => consentKey(p.wallet.address, g.wallet.address, s, purpose)),
        ),
      ),
    );

    // A rough model, only to keep generated operations valid (revoke what exists, break glass
    // where registered). Correctness is judged against the contract, never against this model.
    const expiryOf = new Map<string, bigint>();
    /** pair → the registration: its duration, scopes, and (roughly) when its single window opened. */
    interface Registration {
      duration: number;
      tree: EmergencyScopes;
      openedAt: number | undefined;
    }
    const emergencyWindow = new Map<string, Registration>();
    const emergencyOps = { registrations: 0, removals: 0, breakGlass: 0, repeatedBreakGlass: 0, emergencyRevokes: 0 };
    /** A change of the registration closes every Emergency slot of the pair. */
    const closeWindows = (pair: string) => {
      for (const [key, expiry] of expiryOf) {
        const k = keyParts(key);
        if (k.purpose === 3 && `${k.patient}|${k.grantee}` === pair && expiry !== 0n) expiryOf.set(key, 0n);
      }
    };
    let chainTime = await latestTimestamp(t.provider);

    const exact = new ConsentIndexer({
      provider: t.provider,
      address,
      startBlock: t.deployment.deployedAt.block,
      confirmations: 0,
      reorgWindow: 16,
    });
    // The confirmed indexer polls while operations are being sent.
    const confirmed = new ConsentIndexer({
      provider: t.provider,
      address,
      startBlock: t.deployment.deployedAt.block,
      confirmations: 2,
      pollIntervalMs: 25,
    });
    let operations = 0;
    let transactions = 0;
    let allowedSeen = 0;
    let deniedSeen = 0;
    const reorgsSeen = { exact: 0, confirmed: 0 };
    for (const [name, indexer] of [
      ["exact", exact],
      ["confirmed", confirmed],
    ] as const) {
      indexer.on("reorg", () => reorgsSeen[name]++);
      indexer.on("resync", () => reorgsSeen[name]++);
    }
    await confirmed.start();
    try {
      async function compare(round: number): Promise<void> {
        const block = await t.provider.getBlockNumber();
        const time = (await t.provider.getBlock(block))!.timestamp;
        expect((await exact.sync()).syncedBlock).to.equal(block);
        expect((await confirmed.sync()).syncedBlock).to.equal(block);
        const onChain = await Promise.all(keys.map((key) => registry.isAllowed(keyParts(key), block)));
        // Fail closed before confirmation: the confirmed indexer never allows what the chain denies.
        keys.forEach((key, i) => {
          const k = keyParts(key);
          const chain = onChain[i]!;
          const indexed = exact.isAllowed(k.patient, k.grantee, k.scope, k.purpose, time);
          expect(indexed, `seed ${SEED} round ${round} block ${block} key ${key}`).to.equal(chain);
          if (chain) allowedSeen++;
          else deniedSeen++;
          if (confirmed.isAllowed(k.patient, k.grantee, k.scope, k.purpose, time))
            expect(chain, `seed ${SEED}: unconfirmed allow ${key}`).to.equal(true);
        });
        // Once two empty blocks bury the last operation, the confirmed indexer agrees exactly.
        await mine(t.provider, 2);
        expect((await confirmed.sync()).confirmedBlock).to.equal(block);
        keys.forEach((key, i) => {
          const k = keyParts(key);
          expect(
            confirmed.isAllowed(k.patient, k.grantee, k.scope, k.purpose, time),
            `seed ${SEED} round ${round} confirmed ${key}`,
          ).to.equal(onChain[i]);
        });
      }

      /** One wave of random operations, sent concurrently, then (sometimes) a time jump. */
      async function wave(): Promise<void> {
        chainTime = await latestTimestamp(t.provider);
        const sends: Promise<void>[] = [];
        const breakGlassPairs = new Set<string>();
        const touchedEmergency = new Set<string>();
        for (let n = 0; n < WAVE; n++) {
          const roll = random();
          const patient = pick(patients);
          const p = patient.wallet.address;
          if (roll < 0.2) {
            // grant (new or re-grant with another expiry)
            const g = pick(grantees).wallet.address;
            const s = pick(scopesOfPatient(p));
            const purpose = pick(grantable);
            const expiry = BigInt(chainTime + between(60, 3000));
            sends.push(patient.send("grant", [g, s, purpose, expiry], 200_000n));
            expiryOf.set(consentKey(p, g, s, purpose), expiry);
            operations++;
          } else if (roll < 0.35) {
            // grantBatch of 5..15 items, duplicates allowed
            const items = Array.from(
              { length: between(5, 15) },
              () =>
                [
                  pick(grantees).wallet.address,
                  pick(scopesOfPatient(p)),
                  pick(grantable),
                  BigInt(chainTime + between(60, 3000)),
                ] as const,
            );
            sends.push(
              patient.send(
                "grantBatch",
                [items.map((i) => i[0]), items.map((i) => i[1]), items.map((i) => i[2]), items.map((i) => i[3])],
                2_000_000n,
              ),
            );
            for (const [g, s, purpose, expiry] of items) expiryOf.set(consentKey(p, g, s, purpose), expiry);
            operations += items.length;
          } else if (roll < 0.6) {
            // revoke something this patient holds (Emergency slots included: that also removes the grantee)
            const held = [...expiryOf].filter(
              ([key, expiry]) => expiry !== 0n && keyParts(key).patient === p.toLowerCase(),
            );
            const candidates = held.filter(([key]) => {
              const k = keyParts(key);
              return (
                !breakGlassPairs.has(key) && !(k.purpose === 3 && breakGlassPairs.has(`${k.patient}|${k.grantee}`))
              );
            });
            if (candidates.length === 0) continue;
            const [key] = pick(candidates);
            const k = keyParts(key);
            if (k.purpose === 3) {
              const pair = `${k.patient}|${k.grantee}`;
              touchedEmergency.add(pair);
              closeWindows(pair);
              emergencyWindow.delete(pair);
              emergencyOps.emergencyRevokes++;
            }
            sends.push(patient.send("revoke", [k.grantee, k.scope, k.purpose], 200_000n));
            expiryOf.set(key, 0n);
            operations++;
          } else if (roll < 0.65) {
            // revoke a slot whatever its state (never written, expired, revoked): it always writes
            const g = pick(grantees).wallet.address;
            const pair = `${p.toLowerCase()}|${g.toLowerCase()}`;
            const purpose = pick([1, 2, 3, 4, 5] as Purpose[]);
            if (purpose === 3 && breakGlassPairs.has(pair)) continue;
            const s = pick(scopesOfPatient(p));
            const key = consentKey(p, g, s, purpose);
            if (breakGlassPairs.has(key)) continue;
            if (purpose === 3) {
              touchedEmergency.add(pair);
              closeWindows(pair);
              emergencyWindow.delete(pair);
              emergencyOps.emergencyRevokes++;
            }
            sends.push(patient.send("revoke", [g, s, purpose], 200_000n));
            expiryOf.set(key, 0n);
            operations++;
          } else if (roll < 0.75) {
            // register (a random subset of the scopes, a random window) or remove a break-glass grantee
            const g = pick(grantees).wallet.address;
            const pair = `${p.toLowerCase()}|${g.toLowerCase()}`;
            if (breakGlassPairs.has(pair)) continue;
            closeWindows(pair);
            touchedEmergency.add(pair);
            if (random() < 0.2) {
              sends.push(patient.send("setEmergencyGrantee", [g, 0, ZERO_SCOPES_ROOT], 150_000n));
              emergencyWindow.delete(pair);
              emergencyOps.removals++;
            } else {
              const named = scopesOfPatient(p).filter(() => random() < 0.6);
              const tree = emergencyScopes(named.length > 0 ? named : [pick(scopesOfPatient(p))]);
              const duration = between(60, 3600);
              sends.push(patient.send("setEmergencyGrantee", [g, duration, tree.root], 150_000n));
              emergencyWindow.set(pair, { duration, tree, openedAt: undefined });
              emergencyOps.registrations++;
            }
            operations++;
          } else if (roll < 0.9) {
            // break the glass on a registered scope, by a grantee not re-registered in this wave, while
            // its single window is unopened or (by the model's clock) still open; half the time on a
            // scope already open (the contract writes nothing and emits the same version again), and
            // one to three times in a row
            const grantee = pick(grantees);
            const pair = `${p.toLowerCase()}|${grantee.wallet.address.toLowerCase()}`;
            const registration = emergencyWindow.get(pair);
            if (!registration || touchedEmergency.has(pair)) continue;
            if (registration.openedAt !== undefined && chainTime + 5 >= registration.openedAt + registration.duration)
              continue;
            const open = registration.tree.scopeIds.filter(
              (id) => (expiryOf.get(consentKey(p, grantee.wallet.address, id, 3)) ?? 0n) > BigInt(chainTime),
            );
            const s = open.length > 0 && random() < 0.5 ? pick(open) : pick(registration.tree.scopeIds);
            const key = consentKey(p, grantee.wallet.address, s, 3);
            let alreadyOpen = open.includes(s);
            for (let times = between(1, 3); times > 0; times--) {
              sends.push(grantee.send("breakGlass", [p, s, registration.tree.proof(s)], 200_000n));
              if (alreadyOpen) emergencyOps.repeatedBreakGlass++;
              alreadyOpen = true;
              emergencyOps.breakGlass++;
              operations++;
            }
            breakGlassPairs.add(pair);
            breakGlassPairs.add(key);
            registration.openedAt ??= chainTime;
            expiryOf.set(key, BigInt(registration.openedAt + registration.duration));
          } else {
            // change the expiry of an existing grant (shorten or extend)
            const held = [...expiryOf].filter(
              ([key, expiry]) =>
                expiry !== 0n && keyParts(key).patient === p.toLowerCase() && keyParts(key).purpose !== 3,
            );
            if (held.length === 0) continue;
            const [key] = pick(held);
            const k = keyParts(key);
            const expiry = BigInt(chainTime + between(60, 3000));
            sends.push(patient.send("grant", [k.grantee, k.scope, k.purpose, expiry], 200_000n));
            expiryOf.set(key, expiry);
            operations++;
          }
        }
        transactions += sends.length;
        await Promise.all(sends);
        await Promise.all([...patients, ...grantees].map((sender) => sender.mined()));
        // Time moves on between waves, so grants expire in between.
        if (random() < 0.5) {
          await t.provider.send("evm_increaseTime", [between(30, 1500)]);
          await mine(t.provider, 1);
          operations++;
        }
      }

      /** A wave the indexers see, then lose to a reorg (evm_revert); the model forgets it too. */
      async function orphanedWave(): Promise<void> {
        const snapshot = (await t.provider.send("evm_snapshot", [])) as string;
        const saved = {
          expiryOf: new Map(expiryOf),
          emergencyWindow: new Map([...emergencyWindow].map(([pair, r]) => [pair, { ...r }])),
          operations,
          transactions,
        };
        const sent = [...patients, ...grantees].map((sender) => sender.hashes.length);
        await wave();
        await exact.sync();
        await confirmed.sync();
        expect(await t.provider.send("evm_revert", [snapshot])).to.equal(true);
        expiryOf.clear();
        for (const [k, v] of saved.expiryOf) expiryOf.set(k, v);
        emergencyWindow.clear();
        for (const [k, v] of saved.emergencyWindow) emergencyWindow.set(k, v);
        ({ operations, transactions } = saved);
        [...patients, ...grantees].forEach((sender, i) => sender.hashes.splice(sent[i]!));
        await Promise.all([...patients, ...grantees].map((sender) => sender.init()));
      }

      for (let round = 1; round <= ROUNDS; round++) {
        if (round % 2 === 0) await orphanedWave();
        while (operations < (TARGET_OPERATIONS * round) / ROUNDS) await wave();
        await compare(round);
      }
    } finally {
      await confirmed.stop();
    }

    // The whole table, versions included, matches the contract's slots.
    const head = await t.provider.getBlockNumber();
    await exact.sync();
    const entries = new Map(
      exact
        .checkpoint()
        .entries.map(([p, g, s, purpose, expiry, version]) => [
          consentKey(p, g, s, purpose as Purpose),
          { expiry: BigInt(expiry), version },
        ]),
    );
    const slots = await Promise.all(keys.map((key) => registry.consentOf(keyParts(key), head)));
    keys.forEach((key, i) => {
      const slot = slots[i]!;
      expect(entries.get(key) ?? { expiry: 0n, version: 0 }, `seed ${SEED} slot ${key}`).to.deep.equal(slot);
    });

    const receipts = await Promise.all(
      [...patients, ...grantees].flatMap((s) => s.hashes).map((hash) => t.provider.getTransactionReceipt(hash)),
    );
    const succeeded = receipts.filter((r) => r?.status === 1).length;
    expect(operations).to.be.at.least(TARGET_OPERATIONS);
    expect(succeeded / transactions, `seed ${SEED}: most generated operations must be valid`).to.be.above(0.95);
    expect(reorgsSeen.exact, "reorgs were followed").to.be.at.least(ROUNDS >> 1);
    expect(reorgsSeen.confirmed, "reorgs were followed").to.be.at.least(ROUNDS >> 1);
    expect(allowedSeen, "the comparison saw allowed keys").to.be.above(50);
    expect(deniedSeen, "the comparison saw denied keys").to.be.above(50);
    expect(emergencyOps.registrations, "registrations were generated").to.be.above(20);
    expect(emergencyOps.removals, "removals were generated").to.be.above(3);
    expect(emergencyOps.breakGlass, "break-glass calls were generated").to.be.above(20);
    expect(emergencyOps.repeatedBreakGlass, "break-glass calls on open scopes were generated").to.be.above(20);
    expect(emergencyOps.emergencyRevokes, "purpose-3 revokes were generated").to.be.above(3);
    console.log(
      `      ${operations} operations in ${transactions} transactions (${succeeded} succeeded), ${head} blocks, ` +
        `reorgs followed ${reorgsSeen.exact}/${reorgsSeen.confirmed}, emergency ${JSON.stringify(emergencyOps)}, seed ${SEED}`,
    );
  });
});
