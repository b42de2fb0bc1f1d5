// The check-in decisions, directly: a check-in's state, and who reads its answer.
import { expect } from "chai";
import { checkInStatus, mayReadAnswer } from "../../src/plugins/checkin/decide.ts";
import type { Role, Session } from "../../src/auth/session.ts";

const CLINIC = "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65";
const session = (address: string, roles: Role[]): Session => ({
  id: "00".repeat(16),
  address,
  roles: new Set(roles),
  expiresAt: 2_000,
});

describe("gateway check-in: decisions (unit)", function () {
  it("is open until it expires, answered once completed (even after its expiry)", function () {
    expect(checkInStatus({ expiresAt: 1_000, completedAt: null }, 999)).to.equal("open");
    expect(checkInStatus({ expiresAt: 1_000, completedAt: null }, 1_000)).to.equal("expired");
    expect(checkInStatus({ expiresAt: 1_000, completedAt: 900 }, 5_000)).to.equal("answered");
  });

  it("shows the answer only to the opening clinic while it holds the clinic role", function () {
    expect(mayReadAnswer(session(CLINIC, ["clinic"]), { clinic: CLINIC })).to.equal(true);
    expect(mayReadAnswer(session(CLINIC, []), { clinic: CLINIC })).to.equal(false);
    expect(mayReadAnswer(session(CLINIC, ["researcher"]), { clinic: CLINIC })).to.equal(false);
    expect(mayReadAnswer(session("0x" + "11".repeat(20), ["clinic"]), { clinic: CLINIC })).to.equal(false);
    expect(mayReadAnswer(null, { clinic: CLINIC })).to.equal(false);
  });
});
