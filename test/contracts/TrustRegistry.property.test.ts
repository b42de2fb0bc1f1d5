// Model-based property test of TrustRegistry windows: random accredit / revoke / time advances
// (sometimes by a non-governance caller), checked against a JS model, with isTrustedAt probed
// at every boundary of every record.
import { expect } from "chai";
import fc from "fast-check";
import { network } from "hardhat";
import { type TrustRegistry, as, deploy as deployContract, namedSigners } from "./helpers/contracts.ts";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const NUM_RUNS = 60;
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
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("accredit" as const),
      i: issuerArb,
      r: roleArb,
      fromDt: fc.integer({ min: -100, max: 150 }),
      length: fc.integer({ min: -20, max: 300 }),
      untilNow: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
      byStranger: byStrangerArb,
      step: stepArb,
    }),
  },
  {
    weight: 3,
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

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

interface Rec {
  from: number;
  until: number;
  revokedAt: number;
}

type Outcome = { ok: true; event: string; args: unknown[] } | { ok: false; error: string; args: unknown[] };

function trustedAt(rec: Rec | undefined, at: number): boolean {
  if (rec === undefined) return false;
  return rec.from <= at && at < rec.until && (rec.revokedAt === 0 || at < rec.revokedAt);
}

describe("TrustRegistry (model-based property test)", function () {
  this.timeout(300_000);

  it(`matches the model over ${NUM_RUNS} random sequences`, async function () {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 3, maxLength: 20 }), async (ops: Op[]) => {
        const { trust, governance, issuers, stranger } = await loadFixture(deploy);
        const records = new Map<string, Rec>();
        let now = await time.latest();
        const issuer = (i: number) => (i === 2 ? ethers.ZeroAddress : issuers[i]!);

        async function check(iss: string, role: string): Promise<void> {
          const rec = records.get(`${iss}|${role}`);
          expect(await trust.accreditationOf(iss, role)).to.deep.equal(
            rec ? [BigInt(rec.from), BigInt(rec.until), BigInt(rec.revokedAt)] : [0n, 0n, 0n],
          );
          expect(await trust.isTrusted(iss, role)).to.equal(
            rec !== undefined && rec.revokedAt === 0 && trustedAt(rec, now),
          );
          const probes = rec
            ? [rec.from - 1, rec.from, rec.until - 1, rec.until, rec.revokedAt - 1, rec.revokedAt, now]
            : [now, 0];
          for (const at of probes.filter((t) => t >= 0)) {
            expect(await trust.isTrustedAt(iss, role, at)).to.equal(trustedAt(rec, at), `at ${at}`);
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
          const edge = op.kind === "revoke" && op.atEdge !== null ? (records.get(key)?.until ?? 0) + op.atEdge : 0;
          const ts = edge > now ? edge : now + op.step;
          await time.setNextBlockTimestamp(ts);
          const caller = op.byStranger ? stranger : governance;
          let outcome: Outcome;
          let send: () => Promise<unknown>;
          if (op.kind === "accredit") {
            const from = ts + op.fromDt;
            const until = op.untilNow ? ts : from + op.length;
            send = () => as(trust, caller).accredit(iss, role, from, until, GAS);
            if (op.byStranger) outcome = { ok: false, error: "OwnableUnauthorizedAccount", args: [stranger.address] };
            else if (iss === ethers.ZeroAddress) outcome = { ok: false, error: "ZeroAddress", args: [] };
            else if (role === ethers.ZeroHash) outcome = { ok: false, error: "ZeroRole", args: [] };
            else if (until <= from || until <= ts) outcome = { ok: false, error: "InvalidWindow", args: [from, until] };
            else {
              records.set(key, { from, until, revokedAt: 0 });
              outcome = { ok: true, event: "IssuerAccredited", args: [iss, role, from, until] };
            }
          } else {
            send = () => as(trust, caller).revokeAccreditation(iss, role, GAS);
            const rec = records.get(key);
            if (op.byStranger) outcome = { ok: false, error: "OwnableUnauthorizedAccount", args: [stranger.address] };
            else if (rec === undefined || rec.revokedAt !== 0 || rec.until <= ts)
              outcome = { ok: false, error: "NotAccredited", args: [iss, role] };
            else {
              rec.revokedAt = ts;
              outcome = { ok: true, event: "AccreditationRevoked", args: [iss, role, ts] };
            }
          }
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
      }),
      {
        numRuns: NUM_RUNS,
        ...(process.env.HYGEIA_FC_SEED
          ? { seed: Number(process.env.HYGEIA_FC_SEED), path: process.env.HYGEIA_FC_PATH, endOnFailure: true }
          : {}),
      },
    );
  });
});
