// Roles from credentials on the real stack: a board accredited on the TrustRegistry issues them, its status list
// is published at the gateway, and a revocation (status list or TrustRegistry) ends the role within one TTL.
import { expect } from "chai";
import { TransactionSender, TrustRegistryClient, TrustRole } from "@hygeia/chain";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import {
  closeAuthWorld,
  issueRoleCredential,
  presentRole,
  revokeRole,
  rolePresentation,
  sessionRoles,
  signIn,
  waitUntilRoleGone,
} from "../support/auth.ts";

/** The role_verified audit events of `address` (its own log view), as `decision:reason`. */
async function roleEvents(stack: TestStack, address: string): Promise<string[]> {
  const rows = await stack.services.store.auditOf(address.toLowerCase(), { limit: 1000 });
  return rows
    .map((row) => JSON.parse(new TextDecoder().decode(row.event)) as { type: string; decision: string; reason: string })
    .filter((event) => event.type === "role_verified")
    .map((event) => `${event.decision}:${event.reason}`);
}

describe("gateway auth: roles from credentials", function () {
  let stack: TestStack;

  before(async function () {
    stack = await startTestStack();
  });
  after(async function () {
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("attaches the clinic role to a session that presents a board-issued ClinicAccreditationCredential", async function () {
    const token = await signIn(stack, stack.accounts.clinic);
    await presentRole(stack, token, stack.accounts.clinic, "clinic");
    expect(await sessionRoles(stack, token)).to.deep.equal(["clinic"]);
    expect(await roleEvents(stack, stack.accounts.clinic.address)).to.include("permit:CLINIC_ROLE_VERIFIED");
  });

  it("attaches the researcher role for a board-issued ResearcherCredential", async function () {
    const token = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, token, stack.accounts.researcher, "researcher");
    expect(await sessionRoles(stack, token)).to.deep.equal(["researcher"]);
  });

  it("refuses a credential from an issuer nobody accredited (403, the issuer-trust check named)", async function () {
    const token = await signIn(stack, stack.accounts.clinic2);
    const issued = await issueRoleCredential(stack, stack.accounts.clinic2, "clinic", {
      issuer: stack.accounts.alice,
    });
    const vp = await rolePresentation(stack, token, stack.accounts.clinic2, issued.credential);
    const res = await request(stack, "POST", "/v1/auth/roles", { token, json: { role: "clinic", ...vp } });
    // The failed check's reason ("… not accredited … at issuance (…) and now") trips expectProblem's stack-trace
    // pattern, so check this problem member by member: same rules, no stack, no source path.
    const problem = res.json as { code: string; type: string; checks: { name: string; reason: string }[] };
    expect(res.status, res.text).to.equal(403);
    expect(res.headers.get("content-type")).to.match(/^application\/problem\+json/);
    expect(problem.code).to.equal("ROLE_CREDENTIAL_REJECTED");
    expect(problem.type).to.equal("urn:hygeia:problem:role-credential-rejected");
    expect(res.text).not.to.match(/node:internal|\/src\/[\w/-]+\.ts|"stack"/);
    expect(problem.checks.map((c) => c.name)).to.include("issuer-trust");
    expect(await sessionRoles(stack, token)).to.deep.equal([]);
  });

  it("refuses another address's credential, presented by its own holder, on this session", async function () {
    const token = await signIn(stack, stack.accounts.alice);
    const issued = await issueRoleCredential(stack, stack.accounts.clinic2, "clinic");
    // clinic2 signs the VP (a valid presentation), but the session is alice's.
    const vp = await rolePresentation(stack, token, stack.accounts.clinic2, issued.credential);
    const res = await request(stack, "POST", "/v1/auth/roles", { token, json: { role: "clinic", ...vp } });
    expectProblem(res, 403, "ROLE_HOLDER_MISMATCH");
    expect(await sessionRoles(stack, token)).to.deep.equal([]);
    expect(await roleEvents(stack, stack.accounts.alice.address)).to.include("deny:ROLE_HOLDER_MISMATCH");
  });

  it("refuses a replayed role presentation (its challenge is single use)", async function () {
    const token = await signIn(stack, stack.accounts.clinic2);
    const issued = await issueRoleCredential(stack, stack.accounts.clinic2, "clinic");
    const vp = await rolePresentation(stack, token, stack.accounts.clinic2, issued.credential);
    const first = await request(stack, "POST", "/v1/auth/roles", { token, json: { role: "clinic", ...vp } });
    expect(first.status, first.text).to.equal(200);
    const other = await signIn(stack, stack.accounts.clinic2);
    const replay = await request(stack, "POST", "/v1/auth/roles", { token: other, json: { role: "clinic", ...vp } });
    const problem = expectProblem(replay, 403, "ROLE_CREDENTIAL_REJECTED");
    expect((problem.checks as { name: string }[]).map((c) => c.name)).to.include("challenge");
  });

  it("refuses a ResearcherCredential offered for the clinic role", async function () {
    const token = await signIn(stack, stack.accounts.researcher);
    const issued = await issueRoleCredential(stack, stack.accounts.researcher, "researcher");
    const vp = await rolePresentation(stack, token, stack.accounts.researcher, issued.credential);
    const res = await request(stack, "POST", "/v1/auth/roles", { token, json: { role: "clinic", ...vp } });
    expectProblem(res, 403, "ROLE_CREDENTIAL_REJECTED");
  });

  it("refuses role routes without a session (401 NOT_SIGNED_IN)", async function () {
    expectProblem(await request(stack, "GET", "/v1/auth/roles/challenge"), 401, "NOT_SIGNED_IN");
    const res = await request(stack, "POST", "/v1/auth/roles", {
      json: { role: "clinic", challenge: "x".repeat(32), presentation: "a.b.c" },
    });
    expectProblem(res, 401, "NOT_SIGNED_IN");
  });

  it("ends the role within one status-list TTL once the board revokes the credential in its list", async function () {
    const token = await signIn(stack, stack.accounts.clinic);
    const issued = await presentRole(stack, token, stack.accounts.clinic, "clinic");
    expect(await sessionRoles(stack, token)).to.include("clinic");
    await revokeRole(stack, issued);
    const denials = async () =>
      (await roleEvents(stack, stack.accounts.clinic.address)).filter((e) => e === "deny:CLINIC_ROLE_REVOKED").length;
    const before = await denials();
    // One TTL after the revocation the role's last check is older than the TTL: the next requests re-check it.
    await new Promise((resolve) => setTimeout(resolve, stack.config.identity.statusListTtlMs));
    const concurrent = await Promise.all(Array.from({ length: 6 }, () => sessionRoles(stack, token)));
    for (const roles of concurrent) expect(roles).to.not.include("clinic");
    // Gone for good (the row deleted, not withheld), and one re-check served the concurrent requests: one event.
    const rows = await stack.services.store.sessionRoles(sessionId(token));
    expect(rows.map((r) => r.role)).to.not.include("clinic");
    expect(await denials()).to.equal(before + 1);
  });

  it("ends every role the board vouched for within one TTL once governance revokes the board's accreditation", async function () {
    const clinicToken = await signIn(stack, stack.accounts.clinic);
    await presentRole(stack, clinicToken, stack.accounts.clinic, "clinic");
    const researcherToken = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, researcherToken, stack.accounts.researcher, "researcher");
    const trust = new TrustRegistryClient(
      stack.deployment.contracts.TrustRegistry,
      new TransactionSender(stack.accounts.governance),
    );
    await trust.revokeAccreditation(stack.accounts.board.address, TrustRole.MedicalBoard);
    const { statusListTtlMs, trustCacheTtlMs } = stack.config.identity;
    const limit = statusListTtlMs + trustCacheTtlMs + 1_000;
    expect(await waitUntilRoleGone(stack, clinicToken, "clinic", limit)).to.be.at.most(limit);
    expect(await waitUntilRoleGone(stack, researcherToken, "researcher", limit)).to.be.at.most(limit);
  });
});

/** The session id behind a token: its payload is base64url(session id ‖ expiry), the id the first 16 bytes. */
function sessionId(token: string): string {
  return Buffer.from(token.split(".")[1]!, "base64url").subarray(0, 16).toString("hex");
}
