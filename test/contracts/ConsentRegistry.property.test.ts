// Model-based property test of the consent state machine: random sequences of grant, revoke,
// grantBySig, revokeBySig, setEmergencyGrantee, breakGlass and time advances over a few
// patients, grantees and scopes, checked step by step against a plain JS model.
import { expect } from "chai";
import type { Log } from "ethers";
import fc from "fast-check";
import { network } from "hardhat";
import {
  type Account,
  type ConsentRegistry,
  SEVEN_DAYS,
  as,
  consentDomain,
  deploy as deployContract,
  namedSigners,
  signGrant,
  signRevoke,
} from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const NUM_RUNS = 50;
const GAS = { gasLimit: 1_000_000 }; // explicit: reverting txs are mined too (no estimateGas), at a known time

async function deploy() {
  const s = await namedSigners(ethers, ["deployer", "p0", "p1", "p2", "g0", "g1", "relayer", "stranger"]);
  const consent = await deployContract<ConsentRegistry>(ethers, "ConsentRegistry");
  const domain = await consentDomain(consent, ethers);
  return {
    consent,
    domain,
    patients: [s.p0, s.p1, s.p2],
    grantees: [s.g0, s.g1],
    relayer: s.relayer,
    stranger: s.stranger,
  };
}

const SCOPES = [ethers.id("hygeia:scope:labs"), ethers.id("hygeia:scope:imaging")];

// Indices: patient 0..2; grantee 0..1 or 2 = zero address; scope 0..1 or 2 = zero scope.
const patientArb = fc.integer({ min: 0, max: 2 });
const granteeArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 1 }), weight: 9 },
  { arbitrary: fc.constant(2), weight: 1 },
);
const scopeArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 1 }), weight: 9 },
  { arbitrary: fc.constant(2), weight: 1 },
);
const purposeArb = fc.oneof(
  { arbitrary: fc.constantFrom(1, 2, 4, 5), weight: 8 },
  { arbitrary: fc.constantFrom(0, 3, 6, 255), weight: 2 },
);
const stepArb = fc.integer({ min: 1, max: 30 }); // seconds between blocks
const expiryDtArb = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 2000 }), weight: 8 },
  { arbitrary: fc.integer({ min: -20, max: 0 }), weight: 2 },
);
const versionDeltaArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 8 },
  { arbitrary: fc.constantFrom(-1, 1), weight: 1 },
);
const deadlineDtArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 600 }), weight: 8 },
  { arbitrary: fc.integer({ min: -30, max: -1 }), weight: 1 },
);
const wrongSignerArb = fc.oneof(
  { arbitrary: fc.constant(false), weight: 9 },
  { arbitrary: fc.constant(true), weight: 1 },
);

// With reuse set, an operation targets an existing slot (or, for breakGlass, a registered pair)
// picked from the model, so that sequences revisit the same keys instead of scattering.
const reuseArb = fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.nat(), weight: 6 });

const opArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("grant" as const),
      reuse: reuseArb,
      p: patientArb,
      g: granteeArb,
      s: scopeArb,
      purpose: purposeArb,
      expiryDt: expiryDtArb,
      step: stepArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("revoke" as const),
      reuse: reuseArb,
      p: patientArb,
      g: granteeArb,
      s: scopeArb,
      purpose: purposeArb,
      step: stepArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("grantBySig" as const),
      reuse: reuseArb,
      p: patientArb,
      g: granteeArb,
      s: scopeArb,
      purpose: purposeArb,
      expiryDt: expiryDtArb,
      versionDelta: versionDeltaArb,
      deadlineDt: deadlineDtArb,
      wrongSigner: wrongSignerArb,
      step: stepArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("revokeBySig" as const),
      reuse: reuseArb,
      p: patientArb,
      g: granteeArb,
      s: scopeArb,
      purpose: fc.oneof(purposeArb, fc.constant(3)),
      versionDelta: versionDeltaArb,
      deadlineDt: deadlineDtArb,
      wrongSigner: wrongSignerArb,
      step: stepArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("grantBatch" as const),
      items: fc.array(
        fc.record({
          reuse: reuseArb,
          p: fc.constant(0), // unused: the batch is sent by one patient, chosen below
          g: granteeArb,
          s: scopeArb,
          purpose: purposeArb,
          expiryDt: expiryDtArb,
        }),
        { minLength: 1, maxLength: 4 },
      ),
      p: patientArb,
      step: stepArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("setEmergency" as const),
      p: patientArb,
      g: granteeArb,
      duration: fc.constantFrom(0, 1, 60, 600, SEVEN_DAYS, SEVEN_DAYS + 1),
      step: stepArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("breakGlass" as const),
      reuse: reuseArb,
      p: patientArb,
      g: fc.integer({ min: 0, max: 1 }),
      s: scopeArb,
      step: stepArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), dt: fc.integer({ min: 1, max: 2500 }) }),
  },
  {
    // Jump to exactly one second before, or exactly at, the expiry of a live slot (the boundary).
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("toExpiry" as const),
      pick: fc.nat(),
      offset: fc.constantFrom(-1, 0),
    }),
  },
);

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

interface Slot {
  expiry: bigint;
  version: number;
}

type Outcome = { ok: true; event: string; args: unknown[] } | { ok: false; error: string; args: unknown[] };

class Model {
  readonly slots = new Map<string, Slot>();
  readonly emergency = new Map<string, number>();
  now: number;
  constructor(now: number) {
    this.now = now;
  }

  static key(p: string, g: string, s: string, purpose: number): string {
    return `${p}|${g}|${s}|${purpose}`;
  }
  slot(p: string, g: string, s: string, purpose: number): Slot {
    return this.slots.get(Model.key(p, g, s, purpose)) ?? { expiry: 0n, version: 0 };
  }
  write(p: string, g: string, s: string, purpose: number, expiry: bigint): number {
    const version = (this.slot(p, g, s, purpose).version + 1) % 2 ** 32;
    this.slots.set(Model.key(p, g, s, purpose), { expiry, version });
    return version;
  }
  isAllowed(p: string, g: string, s: string, purpose: number): boolean {
    if (purpose < 1 || purpose > 5) return false;
    return this.slot(p, g, s, purpose).expiry > BigInt(this.now);
  }

  /** grant's argument checks; null when they pass. */
  grantCheck(g: string, s: string, purpose: number, expiry: bigint, ts: number): Outcome | null {
    if (g === ethers.ZeroAddress) return { ok: false, error: "ZeroAddress", args: [] };
    if (s === ethers.ZeroHash) return { ok: false, error: "ZeroScope", args: [] };
    if (purpose < 1 || purpose > 5) return { ok: false, error: "InvalidPurpose", args: [purpose] };
    if (purpose === 3) return { ok: false, error: "EmergencyOnlyViaBreakGlass", args: [] };
    if (expiry <= BigInt(ts)) return { ok: false, error: "ExpiryInPast", args: [expiry] };
    return null;
  }
}

describe("ConsentRegistry (model-based property test)", function () {
  this.timeout(300_000);

  const stats = new Map<string, number>();
  after(function () {
    if (process.env.HYGEIA_PROPERTY_STATS === "1") console.log(Object.fromEntries([...stats].sort()));
  });

  it(`matches the model over ${NUM_RUNS} random sequences of operations`, async function () {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops: Op[]) => {
        const fx = await loadFixture(deploy);
        const { consent, domain } = fx;
        const model = new Model(await time.latest());
        const pAddr = (i: number) => fx.patients[i]!.address;
        const gAddr = (i: number) => (i === 2 ? ethers.ZeroAddress : fx.grantees[i]!.address);
        const scope = (i: number) => (i === 2 ? ethers.ZeroHash : SCOPES[i]!);

        /** The (patient index, grantee, scope, purpose) an operation targets. */
        function target(op: { reuse: number | null; p: number; g: number; s: number; purpose: number }) {
          const keys = [...model.slots.keys()].sort();
          const key = op.reuse === null ? undefined : keys[op.reuse % Math.max(1, keys.length)];
          if (key === undefined)
            return { pi: op.p, p: pAddr(op.p), g: gAddr(op.g), s: scope(op.s), purpose: op.purpose };
          const [p, g, s, purpose] = key.split("|") as [string, string, string, string];
          return { pi: fx.patients.findIndex((a) => a.address === p), p, g, s, purpose: Number(purpose) };
        }

        async function send(outcome: Outcome, tx: () => Promise<unknown>): Promise<void> {
          const label = outcome.ok ? `ok ${outcome.event}` : outcome.error;
          stats.set(label, (stats.get(label) ?? 0) + 1);
          if (outcome.ok)
            await expect(tx())
              .to.emit(consent, outcome.event)
              .withArgs(...outcome.args);
          else
            await expect(tx())
              .to.be.revertedWithCustomError(consent, outcome.error)
              .withArgs(...outcome.args);
        }

        async function checkSlot(p: string, g: string, s: string, purpose: number): Promise<void> {
          const m = model.slot(p, g, s, purpose);
          expect(await consent.consentOf(p, g, s, purpose)).to.deep.equal([m.expiry, BigInt(m.version)]);
          expect(await consent.isAllowed(p, g, s, purpose)).to.equal(model.isAllowed(p, g, s, purpose));
        }

        for (const op of ops) {
          if (op.kind === "advance") {
            await time.increase(op.dt);
            model.now += op.dt;
            expect(await time.latest()).to.equal(model.now);
            continue;
          }
          if (op.kind === "toExpiry") {
            const live = [...model.slots.entries()]
              .filter(([, v]) => v.expiry + BigInt(op.offset) > BigInt(model.now))
              .map(([k]) => k)
              .sort();
            const key = live[op.pick % Math.max(1, live.length)];
            if (key !== undefined) {
              const [p, g, s, purpose] = key.split("|") as [string, string, string, string];
              const target = Number(model.slot(p, g, s, Number(purpose)).expiry) + op.offset;
              await time.increaseTo(target);
              model.now = target;
              await checkSlot(p, g, s, Number(purpose));
            }
            continue;
          }
          const ts = model.now + op.step;
          await time.setNextBlockTimestamp(ts);
          const touched: Array<[string, string, string, number]> = [];

          switch (op.kind) {
            case "grant": {
              const { pi, p, g, s, purpose } = target(op);
              const expiry = BigInt(ts + op.expiryDt);
              let outcome = model.grantCheck(g, s, purpose, expiry, ts);
              if (outcome === null) {
                const version = model.write(p, g, s, purpose, expiry);
                outcome = { ok: true, event: "ConsentGranted", args: [p, g, s, purpose, expiry, version] };
              }
              await send(outcome, () => as(consent, fx.patients[pi]!).grant(g, s, purpose, expiry, GAS));
              touched.push([p, g, s, purpose]);
              break;
            }
            case "revoke": {
              const { pi, p, g, s, purpose } = target(op);
              let outcome: Outcome;
              if (model.slot(p, g, s, purpose).expiry === 0n) {
                outcome = { ok: false, error: "NothingToRevoke", args: [] };
              } else {
                const version = model.write(p, g, s, purpose, 0n);
                outcome = { ok: true, event: "ConsentRevoked", args: [p, g, s, purpose, version] };
              }
              await send(outcome, () => as(consent, fx.patients[pi]!).revoke(g, s, purpose, GAS));
              touched.push([p, g, s, purpose]);
              break;
            }
            case "grantBySig": {
              const { pi, p, g, s, purpose } = target(op);
              const expiry = BigInt(ts + op.expiryDt);
              const current = model.slot(p, g, s, purpose).version;
              const version = Math.max(0, current + op.versionDelta);
              const deadline = ts + op.deadlineDt;
              const signer: Account = op.wrongSigner ? fx.stranger : fx.patients[pi]!;
              const message = { grantee: g, scope: s, purpose: purpose, expiry, version, deadline };
              const sig = await signGrant(ethers, signer, domain, message);
              let outcome: Outcome | null = null;
              if (ts > deadline) outcome = { ok: false, error: "SignatureExpired", args: [deadline] };
              outcome ??= model.grantCheck(g, s, purpose, expiry, ts);
              if (outcome === null && version !== current)
                outcome = { ok: false, error: "StaleVersion", args: [current, version] };
              if (outcome === null && op.wrongSigner) outcome = { ok: false, error: "InvalidSignature", args: [] };
              if (outcome === null) {
                const next = model.write(p, g, s, purpose, expiry);
                outcome = { ok: true, event: "ConsentGranted", args: [p, g, s, purpose, expiry, next] };
              }
              await send(outcome, () =>
                as(consent, fx.relayer).grantBySig(
                  p,
                  g,
                  s,
                  purpose,
                  expiry,
                  version,
                  deadline,
                  sig.v,
                  sig.r,
                  sig.s,
                  GAS,
                ),
              );
              touched.push([p, g, s, purpose]);
              break;
            }
            case "revokeBySig": {
              const { pi, p, g, s, purpose } = target(op);
              const current = model.slot(p, g, s, purpose);
              const version = Math.max(0, current.version + op.versionDelta);
              const deadline = ts + op.deadlineDt;
              const signer: Account = op.wrongSigner ? fx.stranger : fx.patients[pi]!;
              const sig = await signRevoke(ethers, signer, domain, {
                grantee: g,
                scope: s,
                purpose: purpose,
                version,
                deadline,
              });
              let outcome: Outcome;
              if (ts > deadline) outcome = { ok: false, error: "SignatureExpired", args: [deadline] };
              else if (version !== current.version)
                outcome = { ok: false, error: "StaleVersion", args: [current.version, version] };
              else if (op.wrongSigner) outcome = { ok: false, error: "InvalidSignature", args: [] };
              else if (current.expiry === 0n) outcome = { ok: false, error: "NothingToRevoke", args: [] };
              else {
                const next = model.write(p, g, s, purpose, 0n);
                outcome = { ok: true, event: "ConsentRevoked", args: [p, g, s, purpose, next] };
              }
              await send(outcome, () =>
                as(consent, fx.relayer).revokeBySig(p, g, s, purpose, version, deadline, sig.v, sig.r, sig.s, GAS),
              );
              touched.push([p, g, s, purpose]);
              break;
            }
            case "grantBatch": {
              // Items reuse keys of the sending patient (if any), else random keys.
              const p = pAddr(op.p);
              const own = [...model.slots.keys()].filter((k) => k.startsWith(`${p}|`)).sort();
              const items = op.items.map((it) => {
                const key = it.reuse === null ? undefined : own[it.reuse % Math.max(1, own.length)];
                const [, g, s, purpose] = key?.split("|") ?? [];
                return {
                  g: g ?? gAddr(it.g),
                  s: s ?? scope(it.s),
                  purpose: purpose === undefined ? it.purpose : Number(purpose),
                  expiry: BigInt(ts + it.expiryDt),
                };
              });
              // All-or-nothing: the first failing item decides; otherwise apply in order.
              let failure: Outcome | null = null;
              for (const it of items) failure ??= model.grantCheck(it.g, it.s, it.purpose, it.expiry, ts);
              const send_ = () =>
                as(consent, fx.patients[op.p]!).grantBatch(
                  items.map((it) => it.g),
                  items.map((it) => it.s),
                  items.map((it) => it.purpose),
                  items.map((it) => it.expiry),
                  GAS,
                );
              if (failure) {
                await send(failure, send_);
              } else {
                const events = items.map((it) => [
                  p,
                  it.g,
                  it.s,
                  it.purpose,
                  it.expiry,
                  model.write(p, it.g, it.s, it.purpose, it.expiry),
                ]);
                stats.set("ok grantBatch", (stats.get("ok grantBatch") ?? 0) + 1);
                const receipt = await (await send_()).wait();
                const logs = receipt!.logs.map((log: Log) => {
                  const e = consent.interface.parseLog(log);
                  return [e?.name, ...(e?.args.toArray() ?? [])];
                });
                const big = (x: unknown) => (typeof x === "number" ? BigInt(x) : x);
                expect(logs).to.deep.equal(events.map((e) => ["ConsentGranted", ...e.map(big)]));
              }
              for (const it of items) touched.push([p, it.g, it.s, it.purpose]);
              break;
            }
            case "setEmergency": {
              const [p, g] = [pAddr(op.p), gAddr(op.g)];
              let outcome: Outcome;
              if (g === ethers.ZeroAddress) outcome = { ok: false, error: "ZeroAddress", args: [] };
              else if (op.duration > SEVEN_DAYS) outcome = { ok: false, error: "InvalidDuration", args: [] };
              else {
                model.emergency.set(`${p}|${g}`, op.duration);
                outcome = { ok: true, event: "EmergencyGranteeSet", args: [p, g, op.duration] };
              }
              await send(outcome, () => as(consent, fx.patients[op.p]!).setEmergencyGrantee(g, op.duration, GAS));
              if (g !== ethers.ZeroAddress)
                expect(await consent.emergencyGranteeOf(p, g)).to.equal(BigInt(model.emergency.get(`${p}|${g}`) ?? 0));
              break;
            }
            case "breakGlass": {
              const pairs = [...model.emergency.entries()]
                .filter(([, d]) => d > 0)
                .map(([k]) => k)
                .sort();
              const pair = op.reuse === null ? undefined : pairs[op.reuse % Math.max(1, pairs.length)];
              const gi = pair === undefined ? op.g : fx.grantees.findIndex((a) => a.address === pair.split("|")[1]);
              const p = pair === undefined ? pAddr(op.p) : pair.split("|")[0]!;
              const [g, s] = [gAddr(gi), scope(op.s)];
              const duration = model.emergency.get(`${p}|${g}`) ?? 0;
              let outcome: Outcome;
              if (duration === 0) outcome = { ok: false, error: "NotEmergencyGrantee", args: [p, g] };
              else if (s === ethers.ZeroHash) outcome = { ok: false, error: "ZeroScope", args: [] };
              else {
                const expiry = BigInt(ts + duration);
                const version = model.write(p, g, s, 3, expiry);
                outcome = { ok: true, event: "EmergencyAccess", args: [p, g, s, expiry, version] };
              }
              await send(outcome, () => as(consent, fx.grantees[gi]!).breakGlass(p, s, GAS));
              touched.push([p, g, s, 3]);
              break;
            }
          }
          // Every transaction above was mined at ts, whether it reverted or not.
          model.now = ts;
          expect(await time.latest()).to.equal(ts);
          for (const key of touched) await checkSlot(...key);
        }

        // Finally compare every key over the small universe.
        for (let p = 0; p < 3; p++)
          for (let g = 0; g < 2; g++)
            for (let s = 0; s < 2; s++)
              for (let purpose = 1; purpose <= 5; purpose++) await checkSlot(pAddr(p), gAddr(g), scope(s), purpose);
      }),
      {
        numRuns: NUM_RUNS,
        // Replay a reported failure: HYGEIA_FC_SEED=<seed> HYGEIA_FC_PATH=<path>.
        ...(process.env.HYGEIA_FC_SEED
          ? { seed: Number(process.env.HYGEIA_FC_SEED), path: process.env.HYGEIA_FC_PATH, endOnFailure: true }
          : {}),
      },
    );
  });
});
