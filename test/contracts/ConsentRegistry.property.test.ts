// Model-based property test of the consent state machine: random sequences of grant, revoke,
// grantBatch, grantBySig, revokeBySig, setEmergencyGrantee(BySig) (registrations with scope
// trees, removals; relayed at once, or signed now and relayed later by whoever holds them),
// breakGlass (proofs in and out of the tree, repeats on open scopes) and time advances (past
// windows too) over a few patients, grantees and scopes, checked step by step against a plain JS
// model.
//
// The model states the rules directly: every write bumps a slot's version; a revoke always
// writes a tombstone (purpose 3: and removes the registration); a registration allows ONE
// window, opened by the first breakGlass at now + maxDuration and never extended; breaking the
// glass again on a scope already opened under the same registration changes nothing (same
// version); any change of a registration closes the grantee's open windows. Each (patient,
// grantee) pair counts its changes in an epoch: a direct change moves it by one; a relayed
// message names an epoch and is valid only if that epoch has not been passed yet, and then moves
// the pair just past it (so a message signed ahead skips the epochs in between).
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
  scopesTree,
  signEmergencyGrantee,
  signGrant,
  signRevoke,
} from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const NUM_RUNS = 80;
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

// Emergency scope lists a patient may register: both scopes, one of them, or a root that is no
// tree of known scopes (nothing proves into it); plus the zero root (valid only for a removal).
const TREES = [scopesTree(SCOPES), scopesTree([SCOPES[0]!]), scopesTree([SCOPES[1]!])];
const TREE_SCOPES: ReadonlyArray<readonly string[]> = [SCOPES, [SCOPES[0]!], [SCOPES[1]!]];
const OPAQUE_ROOT = ethers.id("hygeia:test:not-a-tree");
/** root index: 0..2 = TREES, 3 = OPAQUE_ROOT, 4 = zero. */
const rootOf = (i: number): string => (i === 4 ? ethers.ZeroHash : i === 3 ? OPAQUE_ROOT : TREES[i]!.root);
const scopesOfRoot = (root: string): readonly string[] => {
  const i = TREES.findIndex((t) => t.root === root);
  return i < 0 ? [] : TREE_SCOPES[i]!;
};

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

const durationArb = fc.oneof(
  { arbitrary: fc.constantFrom(1, 30, 60, 600, 3000, SEVEN_DAYS), weight: 6 },
  { arbitrary: fc.constant(0), weight: 2 },
  { arbitrary: fc.constant(SEVEN_DAYS + 1), weight: 1 },
);
const rootArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 2 }), weight: 8 },
  { arbitrary: fc.constantFrom(3, 4), weight: 2 },
);
// A registration change's (duration, root): mostly a valid registration or removal, sometimes any pair.
const registrationArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      duration: fc.constantFrom(60, 600, 3000, SEVEN_DAYS),
      root: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ duration: fc.constant(0), root: fc.constant(4) }) },
  { weight: 2, arbitrary: fc.record({ duration: durationArb, root: rootArb }) },
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
      purpose: fc.oneof({ arbitrary: purposeArb, weight: 8 }, { arbitrary: fc.constant(3), weight: 1 }),
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
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.record({ kind: fc.constant("setEmergency" as const), p: patientArb, g: granteeArb, step: stepArb }),
        registrationArb,
      )
      .map(([op, r]) => ({ ...op, ...r })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.record({
          kind: fc.constant("setEmergencyBySig" as const),
          p: patientArb,
          g: granteeArb,
          // The epoch signed, relative to the pair's current one: mostly current, sometimes passed
          // already, sometimes ahead (skipping).
          epochDelta: fc.oneof(
            { arbitrary: fc.constant(0), weight: 6 },
            { arbitrary: fc.constant(-1), weight: 1 },
            { arbitrary: fc.constantFrom(1, 2), weight: 2 },
            { arbitrary: fc.constantFrom(1000, 1001), weight: 1 },
          ),
          deadlineDt: deadlineDtArb,
          wrongSigner: wrongSignerArb,
          // Held: signed now, given to someone who relays it later (relayHeld), or never.
          hold: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 2 }),
          step: stepArb,
        }),
        registrationArb,
      )
      .map(([op, r]) => ({ ...op, ...r })),
  },
  {
    // A message signed earlier (setEmergencyBySig with hold) is relayed now, perhaps again.
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("relayHeld" as const), pick: fc.nat(), step: stepArb }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("breakGlass" as const),
      reuse: fc.oneof({ arbitrary: fc.constant(null), weight: 1 }, { arbitrary: fc.nat(), weight: 9 }),
      p: patientArb,
      g: fc.integer({ min: 0, max: 1 }),
      s: scopeArb,
      // Mostly a scope of the registered tree (when there is one), else the scope s.
      inTree: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
      // Sometimes a scope already opened under the registration (a repeat).
      again: fc.boolean(),
      // honest: the proof of the scope in the registered tree; foreign: its proof in another tree.
      proof: fc.oneof(
        { arbitrary: fc.constant("honest" as const), weight: 5 },
        { arbitrary: fc.constant("foreign" as const), weight: 1 },
      ),
      step: stepArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      // Mostly seconds to minutes; sometimes past a whole emergency window (up to 8 days).
      dt: fc.oneof(
        { arbitrary: fc.integer({ min: 1, max: 2500 }), weight: 4 },
        { arbitrary: fc.integer({ min: 3000, max: 8 * 24 * 3600 }), weight: 1 },
      ),
    }),
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

const EMERGENCY_KINDS: ReadonlySet<Op["kind"]> = new Set([
  "setEmergency",
  "setEmergencyBySig",
  "relayHeld",
  "breakGlass",
  "advance",
] as const);
const isRevoke = (op: Op): op is Extract<Op, { kind: "revoke" | "revokeBySig" }> =>
  op.kind === "revoke" || op.kind === "revokeBySig";

// The same operations, dense in what the epoch rules are about: registration changes (direct,
// relayed at once, held and relayed later), break-glass and its repeats, and purpose-3 revokes.
const emergencyOpArb = fc.oneof(
  { weight: 5, arbitrary: opArb.filter((op) => EMERGENCY_KINDS.has(op.kind)) },
  { weight: 1, arbitrary: opArb.filter(isRevoke).map((op) => ({ ...op, purpose: 3 as const })) },
);

interface Slot {
  expiry: bigint;
  version: number;
  /** Emergency slots: the registration epoch that opened the window (0 otherwise). */
  epoch: number;
}

/** An emergency registration of (patient, grantee); maxDuration 0 = not registered. */
interface Registration {
  maxDuration: number;
  epoch: number;
  windowEnd: number;
  root: string;
  /** Scopes the grantee has broken the glass on under this registration. */
  opened: Set<string>;
}

/** An EmergencyGrantee message the patient signed (possibly for someone to relay later). */
interface SignedRegistration {
  p: string;
  g: string;
  maxDuration: number;
  root: string;
  epoch: number;
  deadline: number;
  wrongSigner: boolean;
  sig: { v: number; r: string; s: string };
}

/** A successful transaction's events, in order (name, then arguments), or the revert it must hit. */
type Outcome = { ok: true; events: unknown[][] } | { ok: false; error: string; args: unknown[] };

const MAX_VERSION = 2 ** 32 - 1;

class Model {
  readonly slots = new Map<string, Slot>();
  readonly registrations = new Map<string, Registration>();
  now: number;
  constructor(now: number) {
    this.now = now;
  }

  static key(p: string, g: string, s: string, purpose: number): string {
    return `${p}|${g}|${s}|${purpose}`;
  }
  slot(p: string, g: string, s: string, purpose: number): Slot {
    return this.slots.get(Model.key(p, g, s, purpose)) ?? { expiry: 0n, version: 0, epoch: 0 };
  }
  /** Every write bumps the version (never past 2^32 - 1: unreachable here, so a model error). */
  write(p: string, g: string, s: string, purpose: number, expiry: bigint, epoch = 0): number {
    const version = this.slot(p, g, s, purpose).version + 1;
    if (version > MAX_VERSION) throw new Error("model: version overflow");
    this.slots.set(Model.key(p, g, s, purpose), { expiry, version, epoch });
    return version;
  }
  registration(p: string, g: string): Registration {
    return (
      this.registrations.get(`${p}|${g}`) ?? {
        maxDuration: 0,
        epoch: 0,
        windowEnd: 0,
        root: ethers.ZeroHash,
        opened: new Set(),
      }
    );
  }
  /**
   * A new registration (or a removal, maxDuration 0) at `epoch` (a direct change: the next one):
   * no window yet, nothing opened.
   */
  register(p: string, g: string, maxDuration: number, root: string, epoch = this.registration(p, g).epoch + 1): void {
    this.registrations.set(`${p}|${g}`, { maxDuration, epoch, windowEnd: 0, root, opened: new Set() });
  }
  /** A relayed registration message at time ts: valid while its epoch has not been passed. */
  relayRegistration(m: SignedRegistration, ts: number): Outcome {
    const current = this.registration(m.p, m.g).epoch;
    if (ts > m.deadline) return { ok: false, error: "SignatureExpired", args: [m.deadline] };
    const check = this.registrationCheck(m.g, m.maxDuration, m.root);
    if (check !== null) return check;
    if (m.epoch < current) return { ok: false, error: "StaleEpoch", args: [current, m.epoch] };
    if (m.epoch > current + 1000) return { ok: false, error: "EpochTooFarAhead", args: [current, m.epoch] };
    if (m.wrongSigner) return { ok: false, error: "InvalidSignature", args: [] };
    this.register(m.p, m.g, m.maxDuration, m.root, m.epoch + 1);
    return { ok: true, events: [["EmergencyGranteeSet", m.p, m.g, m.maxDuration, m.root]] };
  }
  /** The expiry a slot grants: an Emergency window counts only under the registration that opened it. */
  expiryOf(p: string, g: string, s: string, purpose: number): bigint {
    const slot = this.slot(p, g, s, purpose);
    if (purpose !== 3) return slot.expiry;
    const reg = this.registration(p, g);
    return reg.maxDuration > 0 && slot.epoch === reg.epoch ? slot.expiry : 0n;
  }
  isAllowed(p: string, g: string, s: string, purpose: number): boolean {
    if (purpose < 1 || purpose > 5) return false;
    return this.expiryOf(p, g, s, purpose) > BigInt(this.now);
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

  /** revoke's key checks; null when they pass. */
  revokeCheck(g: string, s: string, purpose: number): Outcome | null {
    if (g === ethers.ZeroAddress) return { ok: false, error: "ZeroAddress", args: [] };
    if (s === ethers.ZeroHash) return { ok: false, error: "ZeroScope", args: [] };
    if (purpose < 1 || purpose > 5) return { ok: false, error: "InvalidPurpose", args: [purpose] };
    return null;
  }

  /** A revoke that passed its checks: always a tombstone; purpose 3 also removes the registration. */
  revoke(p: string, g: string, s: string, purpose: number): Outcome {
    const version = this.write(p, g, s, purpose, 0n);
    const events: unknown[][] = [["ConsentRevoked", p, g, s, purpose, version]];
    if (purpose === 3) {
      this.register(p, g, 0, ethers.ZeroHash);
      events.push(["EmergencyGranteeSet", p, g, 0, ethers.ZeroHash]);
    }
    return { ok: true, events };
  }

  /** setEmergencyGrantee's checks; null when they pass. */
  registrationCheck(g: string, maxDuration: number, root: string): Outcome | null {
    if (g === ethers.ZeroAddress) return { ok: false, error: "ZeroAddress", args: [] };
    if (maxDuration > SEVEN_DAYS) return { ok: false, error: "InvalidDuration", args: [] };
    if (maxDuration > 0 && root === ethers.ZeroHash) return { ok: false, error: "ZeroScopesRoot", args: [] };
    if (maxDuration === 0 && root !== ethers.ZeroHash) return { ok: false, error: "ScopeNotRegistered", args: [root] };
    return null;
  }
}

describe("ConsentRegistry (model-based property test)", function () {
  this.timeout(300_000);

  const stats = new Map<string, number>();
  after(function () {
    if (process.env.HYGEIA_PROPERTY_STATS === "1") console.log(Object.fromEntries([...stats].sort()));
  });

  /** Runs `ops` on a fresh deployment, checking every step against the model. */
  async function run(ops: Op[]): Promise<void> {
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
      if (key === undefined) return { pi: op.p, p: pAddr(op.p), g: gAddr(op.g), s: scope(op.s), purpose: op.purpose };
      const [p, g, s, purpose] = key.split("|") as [string, string, string, string];
      return { pi: fx.patients.findIndex((a) => a.address === p), p, g, s, purpose: Number(purpose) };
    }

    const big = (x: unknown) => (typeof x === "number" ? BigInt(x) : x);

    /** Sends; a success must emit exactly the model's events, in order; a failure its error. */
    async function send(outcome: Outcome, tx: () => Promise<{ wait: () => Promise<unknown> }>): Promise<void> {
      const label = outcome.ok ? `ok ${outcome.events.map((e) => e[0]).join("+")}` : outcome.error;
      stats.set(label, (stats.get(label) ?? 0) + 1);
      if (outcome.ok) {
        const receipt = (await (await tx()).wait()) as { logs: Log[] };
        const logs = receipt.logs.map((log: Log) => {
          const e = consent.interface.parseLog(log);
          return [e?.name, ...(e?.args.toArray() ?? [])];
        });
        expect(logs).to.deep.equal(outcome.events.map((e) => e.map(big)));
      } else
        await expect(tx())
          .to.be.revertedWithCustomError(consent, outcome.error)
          .withArgs(...outcome.args);
    }

    async function checkSlot(p: string, g: string, s: string, purpose: number): Promise<void> {
      const m = model.slot(p, g, s, purpose);
      expect(await consent.consentOf(p, g, s, purpose)).to.deep.equal([
        model.expiryOf(p, g, s, purpose),
        BigInt(m.version),
      ]);
      expect(await consent.isAllowed(p, g, s, purpose)).to.equal(model.isAllowed(p, g, s, purpose));
    }

    async function checkRegistration(p: string, g: string): Promise<void> {
      const r = model.registration(p, g);
      expect(await consent.emergencyGranteeOf(p, g)).to.deep.equal([
        BigInt(r.maxDuration),
        BigInt(r.windowEnd),
        r.root,
        BigInt(r.epoch),
      ]);
    }

    /** After a registration change, every Emergency slot of the pair is re-checked (closed or not). */
    async function checkEmergencySlots(p: string, g: string): Promise<void> {
      for (const s of SCOPES) await checkSlot(p, g, s, 3);
      await checkRegistration(p, g);
    }

    /** Messages the patients signed and gave away: relayed later (perhaps more than once) or never. */
    const held: SignedRegistration[] = [];

    /** The patient of `op` (or a stranger) signs a message for the pair's epoch + op.epochDelta. */
    async function signRegistration(
      op: Extract<Op, { kind: "setEmergencyBySig" }>,
      deadline: number,
    ): Promise<SignedRegistration> {
      const [p, g, root] = [pAddr(op.p), gAddr(op.g), rootOf(op.root)];
      const epoch = Math.max(0, model.registration(p, g).epoch + op.epochDelta);
      const signer: Account = op.wrongSigner ? fx.stranger : fx.patients[op.p]!;
      const message = { grantee: g, maxDuration: op.duration, scopesRoot: root, epoch, deadline };
      const sig = await signEmergencyGrantee(ethers, signer, domain, message);
      return { p, g, maxDuration: op.duration, root, epoch, deadline, wrongSigner: op.wrongSigner, sig };
    }

    /** The relayer sends a signed message at ts; the model's outcome decides what must happen. */
    async function relay(m: SignedRegistration, ts: number, how: string): Promise<void> {
      const before = model.registration(m.p, m.g).epoch;
      const outcome = model.relayRegistration(m, ts);
      const label = `${how}: ${outcome.ok ? (m.epoch > before ? "ok, skipping" : "ok") : outcome.error}`;
      stats.set(label, (stats.get(label) ?? 0) + 1);
      await send(outcome, () =>
        as(consent, fx.relayer).setEmergencyGranteeBySig(
          m.p,
          m.g,
          m.maxDuration,
          m.root,
          m.epoch,
          m.deadline,
          m.sig.v,
          m.sig.r,
          m.sig.s,
          GAS,
        ),
      );
    }

    for (const op of ops) {
      if (op.kind === "setEmergencyBySig" && op.hold) {
        // Signed now, nothing sent; held messages get longer deadlines (some still expire).
        held.push(await signRegistration(op, model.now + 10 * op.deadlineDt));
        continue;
      }
      if (op.kind === "relayHeld" && held.length === 0) continue;
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
      const pairs: Array<[string, string]> = [];

      switch (op.kind) {
        case "grant": {
          const { pi, p, g, s, purpose } = target(op);
          const expiry = BigInt(ts + op.expiryDt);
          let outcome = model.grantCheck(g, s, purpose, expiry, ts);
          if (outcome === null) {
            const version = model.write(p, g, s, purpose, expiry);
            outcome = { ok: true, events: [["ConsentGranted", p, g, s, purpose, expiry, version]] };
          }
          await send(outcome, () => as(consent, fx.patients[pi]!).grant(g, s, purpose, expiry, GAS));
          touched.push([p, g, s, purpose]);
          break;
        }
        case "revoke": {
          const { pi, p, g, s, purpose } = target(op);
          const outcome = model.revokeCheck(g, s, purpose) ?? model.revoke(p, g, s, purpose);
          await send(outcome, () => as(consent, fx.patients[pi]!).revoke(g, s, purpose, GAS));
          touched.push([p, g, s, purpose]);
          if (purpose === 3 && g !== ethers.ZeroAddress) pairs.push([p, g]);
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
            outcome = { ok: true, events: [["ConsentGranted", p, g, s, purpose, expiry, next]] };
          }
          await send(outcome, () =>
            as(consent, fx.relayer).grantBySig(p, g, s, purpose, expiry, version, deadline, sig.v, sig.r, sig.s, GAS),
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
          let outcome: Outcome | null = null;
          if (ts > deadline) outcome = { ok: false, error: "SignatureExpired", args: [deadline] };
          outcome ??= model.revokeCheck(g, s, purpose);
          if (outcome === null && version !== current.version)
            outcome = { ok: false, error: "StaleVersion", args: [current.version, version] };
          if (outcome === null && op.wrongSigner) outcome = { ok: false, error: "InvalidSignature", args: [] };
          outcome ??= model.revoke(p, g, s, purpose);
          if (purpose === 3 && g !== ethers.ZeroAddress) pairs.push([p, g]);
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
          const outcome: Outcome = failure ?? {
            ok: true,
            events: items.map((it) => [
              "ConsentGranted",
              p,
              it.g,
              it.s,
              it.purpose,
              it.expiry,
              model.write(p, it.g, it.s, it.purpose, it.expiry),
            ]),
          };
          await send(outcome, send_);
          for (const it of items) touched.push([p, it.g, it.s, it.purpose]);
          break;
        }
        case "setEmergency": {
          const [p, g, root] = [pAddr(op.p), gAddr(op.g), rootOf(op.root)];
          let outcome = model.registrationCheck(g, op.duration, root);
          if (outcome === null) {
            model.register(p, g, op.duration, root);
            outcome = { ok: true, events: [["EmergencyGranteeSet", p, g, op.duration, root]] };
          }
          await send(outcome, () => as(consent, fx.patients[op.p]!).setEmergencyGrantee(g, op.duration, root, GAS));
          if (g !== ethers.ZeroAddress) pairs.push([p, g]);
          break;
        }
        case "setEmergencyBySig": {
          const m = await signRegistration(op, ts + op.deadlineDt);
          await relay(m, ts, "relayed at once");
          if (m.g !== ethers.ZeroAddress) pairs.push([m.p, m.g]);
          break;
        }
        case "relayHeld": {
          const m = held[op.pick % held.length]!;
          await relay(m, ts, "relayed later");
          if (m.g !== ethers.ZeroAddress) pairs.push([m.p, m.g]);
          break;
        }
        case "breakGlass": {
          // With reuse, a pair the model has registered; else random indices.
          const registered = [...model.registrations.entries()]
            .filter(([, r]) => r.maxDuration > 0)
            .map(([k]) => k)
            .sort();
          const pair = op.reuse === null ? undefined : registered[op.reuse % Math.max(1, registered.length)];
          const gi = pair === undefined ? op.g : fx.grantees.findIndex((a) => a.address === pair.split("|")[1]);
          const p = pair === undefined ? pAddr(op.p) : pair.split("|")[0]!;
          const g = gAddr(gi);
          const reg = model.registration(p, g);
          const inTree = scopesOfRoot(reg.root);
          const opened = [...reg.opened].sort();
          const s =
            op.again && opened.length > 0
              ? opened[op.s % opened.length]!
              : op.inTree && inTree.length > 0
                ? inTree[op.s % inTree.length]!
                : scope(op.s);
          // The proof: of s in the registered tree (honest), or of s in another tree (foreign).
          const own = TREES.find((t) => t.root === reg.root);
          const foreign = TREES.find((t) => t.root !== reg.root)!;
          const proof = op.proof === "honest" && own !== undefined ? own.proof(s) : foreign.proof(s);
          const provable = op.proof === "honest" && scopesOfRoot(reg.root).includes(s);
          let outcome: Outcome;
          if (reg.maxDuration === 0) outcome = { ok: false, error: "NotEmergencyGrantee", args: [p, g] };
          else if (s === ethers.ZeroHash) outcome = { ok: false, error: "ZeroScope", args: [] };
          else if (!provable) outcome = { ok: false, error: "ScopeNotRegistered", args: [s] };
          else if (reg.windowEnd !== 0 && reg.windowEnd <= ts)
            outcome = { ok: false, error: "EmergencyWindowUsed", args: [reg.windowEnd] };
          else {
            // The first call opens the one window; later ones reuse its end. A scope opened
            // under this registration already is not written again (its version stays).
            if (reg.windowEnd === 0) reg.windowEnd = ts + reg.maxDuration;
            model.registrations.set(`${p}|${g}`, reg);
            const version = reg.opened.has(s)
              ? model.slot(p, g, s, 3).version
              : model.write(p, g, s, 3, BigInt(reg.windowEnd), reg.epoch);
            if (reg.opened.has(s)) stats.set("breakGlass repeat", (stats.get("breakGlass repeat") ?? 0) + 1);
            reg.opened.add(s);
            outcome = { ok: true, events: [["EmergencyAccess", p, g, s, reg.windowEnd, version]] };
          }
          await send(outcome, () => as(consent, fx.grantees[gi]!).breakGlass(p, s, proof, GAS));
          touched.push([p, g, s, 3]);
          pairs.push([p, g]);
          break;
        }
      }
      // Every transaction above was mined at ts, whether it reverted or not.
      model.now = ts;
      expect(await time.latest()).to.equal(ts);
      for (const key of touched) await checkSlot(...key);
      for (const [p, g] of pairs) await checkEmergencySlots(p, g);
    }

    // Finally compare every key over the small universe.
    for (let p = 0; p < 3; p++)
      for (let g = 0; g < 2; g++)
        for (let s = 0; s < 2; s++)
          for (let purpose = 1; purpose <= 5; purpose++) await checkSlot(pAddr(p), gAddr(g), scope(s), purpose);
    for (let p = 0; p < 3; p++) for (let g = 0; g < 2; g++) await checkRegistration(pAddr(p), gAddr(g));
  }

  const options = {
    numRuns: NUM_RUNS,
    // Replay a reported failure: HYGEIA_FC_SEED=<seed> HYGEIA_FC_PATH=<path>.
    ...(process.env.HYGEIA_FC_SEED
      ? { seed: Number(process.env.HYGEIA_FC_SEED), path: process.env.HYGEIA_FC_PATH, endOnFailure: true }
      : {}),
  };

  it(`matches the model over ${NUM_RUNS} random sequences of operations`, async function () {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 30 }), run), options);
  });

  it(`matches the model over ${NUM_RUNS} random sequences of emergency operations (held relayed registrations, repeated break-glass, purpose-3 revokes)`, async function () {
    await fc.assert(fc.asyncProperty(fc.array(emergencyOpArb, { minLength: 5, maxLength: 30 }), run), options);
  });
});
