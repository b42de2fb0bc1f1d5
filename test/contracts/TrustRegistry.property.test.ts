// Model-based property test of TrustRegistry windows: random accredit / revoke / time advances
// (sometimes by a non-governance caller), checked against a JS model, with isTrustedAt probed
// at every boundary of every window, inside revoked periods and at random times.
//
// The model states the rules directly: per (issuer, role) an append-only list of windows
// [from, until); a new window starts no earlier than the last one's until, or no earlier than now
// when the last one was revoked; a revocation stamps now on every window not yet ended or revoked;
// a time is trusted when some window contains it and was not revoked at or before it.
import { expect } from "chai";
import fc from "fast-check";
import { network } from "hardhat";
import { type TrustRegistry, as, deploy as deployContract, namedSigners } from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const NUM_RUNS = 80;
const GAS = { gasLimit: 500_000 };
const ROLES = [ethers.id("hygeia.role.irb"), ethers.id("hygeia.role.insurer"), ethers.ZeroHash];

async function deploy() {
  const s = await namedSigners(ethers, ["governance", "i0", "i1", "stranger"]);
  const trust = await deployContract<TrustRegistry>(ethers, "TrustRegistry", [s.governance.address]);
  return { trust, governance: s.governance, issuers: [s.i0.address, s.i1.address], stranger: s.stranger };
}

const issuerArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 1 }), weight: 9 },
  { arbitrary: fc.constant(2), weight: 1 },
);
const roleArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 1 }), weight: 9 },
  { arbitrary: fc.constant(2), weight: 1 },
);
const byStrangerArb = fc.oneof(
  { arbitrary: fc.constant(false), weight: 9 },
  { arbitrary: fc.constant(true), weight: 1 },
);
const stepArb = fc.integer({ min: 1, max: 20 });

const opArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("accredit" as const),
      i: issuerArb,
      r: roleArb,
      // From relative to now, or to the earliest start the history allows (a renewal).
      anchor: fc.constantFrom("now" as const, "earliest" as const),
      fromDt: fc.integer({ min: -100, max: 150 }),
      length: fc.oneof(
        { arbitrary: fc.integer({ min: -20, max: 300 }), weight: 1 },
        { arbitrary: fc.integer({ min: 301, max: 3000 }), weight: 2 },
      ),
      untilNow: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
      byStranger: byStrangerArb,
      step: stepArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("revoke" as const),
      i: issuerArb,
      r: roleArb,
      byStranger: byStrangerArb,
      step: stepArb,
      // Sometimes revoke exactly one second before, or exactly at, the record's validUntil.
      atEdge: fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.constantFrom(-1, 0), weight: 1 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), dt: fc.integer({ min: 1, max: 200 }) }) },
);

// Extra isTrustedAt probes, relative to now.
const probesArb = fc.array(fc.integer({ min: -600, max: 600 }), { maxLength: 4 });

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

interface Rec {
  from: number;
  until: number;
  revokedAt: number;
}

type Outcome = { ok: true; event: string; args: unknown[] } | { ok: false; error: string; args: unknown[] };

/** Some window contains `at` and was not revoked at or before it. */
function trustedAt(history: readonly Rec[], at: number): boolean {
  return history.some((w) => w.from <= at && at < w.until && (w.revokedAt === 0 || at < w.revokedAt));
}

/**
 * The earliest start of a new window: now if the last window was revoked, else its end; and never before now
 * once any window was revoked (backdating into a gap could reach into a revoked period).
 */
function earliestStart(history: readonly Rec[], now: number): number | null {
  const last = history.at(-1);
  if (last === undefined) return null;
  if (last.revokedAt !== 0) return now;
  const everRevoked = history.some((w) => w.revokedAt !== 0);
  return everRevoked ? Math.max(last.until, now) : last.until;
}

describe("TrustRegistry (model-based property test)", function () {
  this.timeout(300_000);

  const stats = new Map<string, number>();
  after(function () {
    if (process.env.HYGEIA_PROPERTY_STATS === "1") console.log(Object.fromEntries([...stats].sort()));
  });

  it(`matches the model over ${NUM_RUNS} random sequences`, async function () {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 3, maxLength: 20 }),
        probesArb,
        async (ops: Op[], extra: number[]) => {
          const { trust, governance, issuers, stranger } = await loadFixture(deploy);
          const histories = new Map<string, Rec[]>();
          let now = await time.latest();
          const issuer = (i: number) => (i === 2 ? ethers.ZeroAddress : issuers[i]!);
          const historyOf = (key: string): Rec[] => histories.get(key) ?? [];

          async function check(iss: string, role: string): Promise<void> {
            const history = historyOf(`${iss}|${role}`);
            const last = history.at(-1);
            expect(await trust.accreditationOf(iss, role)).to.deep.equal(
              last ? [BigInt(last.from), BigInt(last.until), BigInt(last.revokedAt)] : [0n, 0n, 0n],
            );
            expect(await trust.accreditationCount(iss, role)).to.equal(BigInt(history.length));
            for (const [i, w] of history.entries())
              expect(await trust.accreditationAt(iss, role, i)).to.deep.equal([
                BigInt(w.from),
                BigInt(w.until),
                BigInt(w.revokedAt),
              ]);
            await expect(trust.accreditationAt(iss, role, history.length))
              .to.be.revertedWithCustomError(trust, "NoSuchWindow")
              .withArgs(history.length);
            expect(await trust.isTrusted(iss, role)).to.equal(trustedAt(history, now));
            // Every boundary, the middle of every revoked period (inside a window after its
            // revocation, and the gap up to the next window), now, 0 and a few random times.
            const probes = [now, 0, ...extra.map((d) => now + d)];
            for (const [i, w] of history.entries()) {
              probes.push(w.from - 1, w.from, w.until - 1, w.until);
              if (w.revokedAt !== 0) {
                probes.push(w.revokedAt - 1, w.revokedAt, Math.floor((w.revokedAt + w.until) / 2));
                const next = history[i + 1];
                if (next !== undefined) probes.push(Math.floor((w.revokedAt + next.from) / 2), next.from - 1);
              }
            }
            for (const at of probes.filter((t) => t >= 0)) {
              expect(await trust.isTrustedAt(iss, role, at)).to.equal(trustedAt(history, at), `at ${at}`);
            }
          }

          for (const op of ops) {
            if (op.kind === "advance") {
              await time.increase(op.dt);
              now += op.dt;
              continue;
            }
            const [iss, role] = [issuer(op.i), ROLES[op.r]!];
            const key = `${iss}|${role}`;
            const history = historyOf(key);
            const lastUntil = history.at(-1)?.until ?? 0;
            const edge = op.kind === "revoke" && op.atEdge !== null ? lastUntil + op.atEdge : 0;
            const ts = edge > now ? edge : now + op.step;
            await time.setNextBlockTimestamp(ts);
            const caller = op.byStranger ? stranger : governance;
            let outcome: Outcome;
            let send: () => Promise<unknown>;
            if (op.kind === "accredit") {
              const base = op.anchor === "earliest" ? (earliestStart(history, ts) ?? ts) : ts;
              const from = Math.max(0, base + op.fromDt);
              const until = op.untilNow ? ts : from + op.length;
              send = () => as(trust, caller).accredit(iss, role, from, Math.max(0, until), GAS);
              const earliest = earliestStart(history, ts);
              if (op.byStranger) outcome = { ok: false, error: "OwnableUnauthorizedAccount", args: [stranger.address] };
              else if (iss === ethers.ZeroAddress) outcome = { ok: false, error: "ZeroAddress", args: [] };
              else if (role === ethers.ZeroHash) outcome = { ok: false, error: "ZeroRole", args: [] };
              else if (until <= from || until <= ts)
                outcome = { ok: false, error: "InvalidWindow", args: [from, Math.max(0, until)] };
              else if (earliest !== null && from < earliest)
                outcome = { ok: false, error: "WindowOverlapsHistory", args: [from, earliest] };
              else {
                histories.set(key, [...history, { from, until, revokedAt: 0 }]);
                outcome = { ok: true, event: "IssuerAccredited", args: [iss, role, from, until] };
              }
            } else {
              send = () => as(trust, caller).revokeAccreditation(iss, role, GAS);
              const open = history.filter((w) => w.revokedAt === 0 && w.until > ts);
              if (op.byStranger) outcome = { ok: false, error: "OwnableUnauthorizedAccount", args: [stranger.address] };
              else if (open.length === 0) outcome = { ok: false, error: "NotAccredited", args: [iss, role] };
              else {
                for (const w of open) w.revokedAt = ts;
                outcome = { ok: true, event: "AccreditationRevoked", args: [iss, role, ts] };
              }
            }
            stats.set(
              outcome.ok ? outcome.event : outcome.error,
              (stats.get(outcome.ok ? outcome.event : outcome.error) ?? 0) + 1,
            );
            if (outcome.ok)
              await expect(send())
                .to.emit(trust, outcome.event)
                .withArgs(...outcome.args);
            else
              await expect(send())
                .to.be.revertedWithCustomError(trust, outcome.error)
                .withArgs(...outcome.args);
            now = ts;
            expect(await time.latest()).to.equal(now);
            await check(iss, role);
          }
          for (const i of [0, 1]) for (const r of [0, 1]) await check(issuer(i), ROLES[r]!);
        },
      ),
      {
        numRuns: NUM_RUNS,
        ...(process.env.HYGEIA_FC_SEED
          ? { seed: Number(process.env.HYGEIA_FC_SEED), path: process.env.HYGEIA_FC_PATH, endOnFailure: true }
          : {}),
      },
    );
  });
});
