// IssuerClient against the real stack (anvil with the contracts, Helia, the SQLite gateway on a socket):
// governance accredits and de-accredits issuers in the TrustRegistry (read back from the chain), a signer that is
// not governance is refused before sending, accredited issuers issue JWT and SD-JWT credentials with status entries,
// and revoke / suspend / reinstate reach @hygeia/identity's verifier through the lists published at the gateway.
import { expect } from "chai";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HDNodeWallet } from "ethers";
import { TrustRegistryClient } from "@hygeia/chain";
import {
  CredentialType,
  IdentityAgent,
  MemoryChallengeStore,
  createAgentVerifier,
  ethrNetworkFromDeployment,
  presentSdJwtCredential,
  type CredentialVerifier,
} from "@hygeia/identity";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { HygeiaConnection, HygeiaSdkError, ServiceUnreachableError, type FetchLike } from "../src/index.ts";
import {
  IssuerClient,
  IssuerStateFile,
  NotGovernanceError,
  type IssuedCredential,
  type IssuerState,
} from "../src/issuer/index.ts";

const DOMAIN = "clinic.example";

function clinicClaims(name = "Asclepius Virtual Clinic") {
  return {
    clinicName: name,
    accreditationNumber: "MB-2026-0042",
    specialties: ["cardiology"],
    virtual: true,
    jurisdiction: "EU",
  };
}

const insuranceClaims = { insurerName: "Acme Health", memberId: "M-1234", planName: "Gold" };

async function caught(promise: Promise<unknown>): Promise<HygeiaSdkError> {
  const error = await promise.then(
    () => expect.fail("expected a refusal"),
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(HygeiaSdkError);
  return error as HygeiaSdkError;
}

/** Which status check failed and how, or "ok". */
function statusOutcome(result: { ok: boolean; checks: readonly { name: string; pass: boolean; code?: string }[] }) {
  if (result.ok) return "ok";
  const failed = result.checks.filter((check) => !check.pass);
  return failed.map((check) => `${check.name}:${check.code ?? "failed"}`).join(",");
}

describe("IssuerClient", function () {
  let stack: TestStack;
  let connection: HygeiaConnection;
  let governance: IssuerClient;
  let board: IssuerClient;
  /** A verifier-side agent (and the patient's wallet, for presenting the SD-JWT). */
  let agent: IdentityAgent;
  let verifier: CredentialVerifier;
  let challenges: MemoryChallengeStore;
  let insurerWallet: HDNodeWallet;
  const clients: IssuerClient[] = [];
  let dir: string;

  async function issuerFor(signer: HDNodeWallet, options: Partial<Parameters<typeof IssuerClient.connect>[0]> = {}) {
    const client = await IssuerClient.connect({ connection, signer, ...options });
    clients.push(client);
    return client;
  }

  before(async function () {
    stack = await startTestStack();
    dir = await mkdtemp(join(tmpdir(), "hygeia-issuer-test-"));
    connection = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
    });
    insurerWallet = stack.local.account(9);
    governance = await issuerFor(stack.accounts.governance);
    board = await issuerFor(stack.accounts.board); // accredited as medical-board by the stack
    agent = await IdentityAgent.create({
      network: ethrNetworkFromDeployment(stack.deployment, stack.local.rpcUrl),
      watchRegistry: false,
    });
    challenges = new MemoryChallengeStore();
    verifier = createAgentVerifier(agent, {
      trustRegistry: stack.deployment.contracts.TrustRegistry,
      statusListFetcher: async (url, options) => {
        const res = await fetch(url, { redirect: "error", ...(options?.signal ? { signal: options.signal } : {}) });
        if (!res.ok) throw new Error(`status list ${url}: ${res.status}`);
        return res.text();
      },
      statusListOrigins: [stack.url],
      statusListHttpHosts: ["127.0.0.1"],
      // Every verification fetches the lists again: what it sees is what the gateway serves now.
      statusListTtlMs: 0,
      trustCacheTtlMs: 0,
      challenges,
    });
  });

  after(async function () {
    for (const client of clients) await client.close();
    await agent?.close();
    connection?.close();
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("finds the contracts through the gateway's GET /v1/deployment when no deployment is given", async function () {
    const found = await HygeiaConnection.open({ gatewayUrl: stack.url, rpcUrl: stack.local.rpcUrl });
    try {
      expect(found.deployment.chainId).to.equal(stack.deployment.chainId);
      expect(found.deployment.governance).to.equal(stack.deployment.governance.toLowerCase());
      expect(found.deployment.contracts.TrustRegistry).to.equal(stack.deployment.contracts.TrustRegistry.toLowerCase());
    } finally {
      found.close();
    }
  });

  describe("governance", function () {
    it("accredits a medical board and de-accredits it, the standing read back from the chain", async function () {
      const newBoard = stack.accounts.clinic2;
      const chain = new TrustRegistryClient(stack.deployment.contracts.TrustRegistry, stack.provider);
      expect(await chain.isTrusted(newBoard.address, "medical-board")).to.equal(false);

      const did = `${governance.did.split(":").slice(0, 3).join(":")}:${newBoard.address}`;
      const accredited = await governance.accredit({ issuer: did, role: "medical-board" });
      expect(accredited).to.include({ issuer: newBoard.address, did, role: "medical-board", changed: true });
      expect(accredited.transaction).to.match(/^0x[0-9a-f]{64}$/);
      expect(accredited.standing).to.include({ trusted: true, state: "active", windows: 1 });
      expect(accredited.standing.validUntil! - accredited.standing.validFrom!).to.be.greaterThan(364 * 86_400);
      expect(await chain.isTrusted(newBoard.address, "medical-board")).to.equal(true);

      // Asked again without a new end: already accredited, nothing sent.
      const again = await governance.accredit({ issuer: newBoard.address, role: "medical-board" });
      expect(again).to.include({ changed: false, transaction: undefined });

      // A later end renews the open window from its end (the history rule): trusted throughout.
      const until = accredited.standing.validUntil! + 30 * 86_400;
      const renewed = await governance.accredit({ issuer: newBoard.address, role: "medical-board", validUntil: until });
      expect(renewed).to.include({ changed: true });
      expect(renewed.standing).to.include({ trusted: true, state: "active", windows: 2, validUntil: until });
      expect(renewed.standing.validFrom).to.equal(accredited.standing.validUntil);

      const standing = await governance.accreditation(newBoard.address);
      expect(standing.trustedRoles).to.deep.equal(["medical-board"]);
      expect(standing.roles.map((role) => role.role)).to.deep.equal(["medical-board"]);

      const revoked = await governance.deaccredit({ issuer: newBoard.address, role: "medical-board" });
      expect(revoked).to.include({ changed: true });
      expect(revoked.standing).to.include({ trusted: false, state: "revoked" });
      expect(revoked.standing.revokedAt).to.be.a("number");
      expect(await chain.isTrusted(newBoard.address, "medical-board")).to.equal(false);
      const after = await governance.accreditation(did);
      expect(after.trustedRoles).to.deep.equal([]);
      expect(after.roles[0]).to.include({ role: "medical-board", state: "revoked" });

      // Nothing open any more: de-accrediting again sends nothing.
      expect(await governance.deaccredit({ issuer: newBoard.address, role: "medical-board" })).to.include({
        changed: false,
      });
      // Accredited again, the new window starts after now (a revoked time never becomes trusted again).
      const back = await governance.accredit({ issuer: newBoard.address, role: "medical-board" });
      expect(back.changed).to.equal(true);
      expect(back.standing).to.include({ state: "pending", trusted: false, windows: 3 });
      expect(back.standing.validFrom!).to.be.greaterThan(revoked.standing.revokedAt!);
    });

    it("refuses a signer that is not governance before sending anything", async function () {
      const nonce = await stack.provider.getTransactionCount(stack.accounts.board.address, "pending");
      const error = await caught(board.accredit({ issuer: stack.accounts.bob.address, role: "medical-board" }));
      expect(error).to.be.instanceOf(NotGovernanceError);
      expect([error.code, error.kind]).to.deep.equal(["NOT_GOVERNANCE", "refused"]);
      expect(error.hint).to.include(stack.deployment.governance);
      const deaccredit = await caught(board.deaccredit({ issuer: stack.accounts.irb.address, role: "irb" }));
      expect(deaccredit.code).to.equal("NOT_GOVERNANCE");
      expect(await stack.provider.getTransactionCount(stack.accounts.board.address, "pending")).to.equal(nonce);
      expect((await governance.accreditation(stack.accounts.bob.address)).roles).to.deep.equal([]);
      expect((await governance.accreditation(stack.accounts.irb.address)).trustedRoles).to.deep.equal(["irb"]);
    });

    it("refuses an issuer that is not an address or a did:ethr of this chain, naming the field", async function () {
      for (const issuer of [
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "did:ethr:0x1:" + stack.accounts.bob.address,
        "bob",
      ]) {
        const error = await caught(governance.accredit({ issuer, role: "insurer" }));
        expect([error.kind, error.field], issuer).to.deep.equal(["usage", "issuer"]);
      }
      const role = await caught(
        governance.accredit({ issuer: stack.accounts.bob.address, role: "pharmacist" as "irb" }),
      );
      expect(role.field).to.equal("role");
    });
  });

  describe("issuing and status", function () {
    let jwt: IssuedCredential;
    let insurer: IssuerClient;

    before(async function () {
      await governance.accredit({ issuer: insurerWallet.address, role: "insurer" });
      insurer = await issuerFor(insurerWallet);
    });

    it("the board issues a JWT credential with revocation and suspension entries on lists the gateway serves", async function () {
      jwt = await board.issue({
        type: CredentialType.ClinicAccreditation,
        subject: stack.accounts.clinic.address,
        claims: clinicClaims(),
        expires: new Date(Date.now() + 365 * 86_400_000),
      });
      expect(jwt).to.include({ format: "jwt", type: CredentialType.ClinicAccreditation, issuer: board.did });
      expect(jwt.subject).to.match(new RegExp(`:${stack.accounts.clinic.address}$`));
      const pointer = jwt.status!;
      expect(pointer.format).to.equal("bitstring");
      if (pointer.format !== "bitstring") return;
      expect(pointer.revocation).to.match(
        new RegExp(`^${stack.url}/v1/status-lists/${board.did}/[0-9a-f]{12}-revocation-1$`),
      );
      expect(pointer.suspension).to.match(/-suspension-1$/);
      // Published before the credential was handed out.
      for (const url of [pointer.revocation, pointer.suspension]) expect((await fetch(url)).status, url).to.equal(200);

      const result = await verifier.verifyCredential(jwt.credential);
      expect(statusOutcome(result)).to.equal("ok");
      expect(result.checks.find((check) => check.name === "status")?.pass).to.equal(true);
      expect(result.credential?.status.map((entry) => entry.statusPurpose)).to.deep.equal(["revocation", "suspension"]);
    });

    it("an insurer accredited by governance issues an SD-JWT credential that the holder presents selectively", async function () {
      const alice = await agent.importEthrDid(stack.accounts.alice.privateKey);
      const sdJwt = await insurer.issue({
        type: CredentialType.HealthInsurance,
        format: "sd-jwt",
        subject: alice.did,
        claims: insuranceClaims,
        holderKey: stack.accounts.alice.signingKey.publicKey,
      });
      expect(sdJwt.format).to.equal("sd-jwt");
      expect(sdJwt.disclosable).to.have.members(["insurerName", "memberId", "planName"]);
      expect(sdJwt.status).to.include({ format: "token" });

      const request = {
        challenge: await challenges.issue(DOMAIN),
        domain: DOMAIN,
        credentials: [{ type: CredentialType.HealthInsurance, claims: ["memberId"] }],
      };
      const shown = await presentSdJwtCredential(agent, {
        holder: alice.did,
        credential: sdJwt.credential,
        disclose: ["memberId"],
        challenge: request.challenge,
        domain: request.domain,
      });
      const result = await verifier.verifyPresentation(shown, request);
      expect(statusOutcome(result)).to.equal("ok");
      expect(result.disclosed).to.deep.equal({ HealthInsuranceCredential: { memberId: "M-1234" } });

      // Revoked through the token status list the insurer publishes at the gateway.
      const change = await insurer.revoke(sdJwt);
      expect(change).to.include({ status: "revoked", previous: "valid", changed: true });
      const again = {
        ...request,
        challenge: await challenges.issue(DOMAIN),
      };
      const revoked = await verifier.verifyPresentation(
        await presentSdJwtCredential(agent, {
          holder: alice.did,
          credential: sdJwt.credential,
          disclose: ["memberId"],
          challenge: again.challenge,
          domain: again.domain,
        }),
        again,
      );
      expect(statusOutcome(revoked)).to.equal("status:REVOKED");
    });

    it("revoke: identity's verifier reports the JWT credential revoked through the gateway-published list", async function () {
      const change = await board.revoke(jwt.credential);
      expect(change).to.include({ status: "revoked", previous: "valid", changed: true });
      expect(change.published.map((list) => list.url)).to.include((jwt.status as { revocation: string }).revocation);
      expect(statusOutcome(await verifier.verifyCredential(jwt.credential))).to.equal("status:REVOKED");

      // Revocation is final: neither reinstated nor suspended; revoking again changes nothing.
      const reinstate = await caught(board.reinstate(jwt));
      expect([reinstate.code, reinstate.kind]).to.deep.equal(["CREDENTIAL_REVOKED", "conflict"]);
      expect((await caught(board.suspend(jwt))).code).to.equal("CREDENTIAL_REVOKED");
      expect(await board.revoke(jwt)).to.include({ status: "revoked", changed: false });
      expect(statusOutcome(await verifier.verifyCredential(jwt.credential))).to.equal("status:REVOKED");
    });

    it("suspend then reinstate: suspended for verifiers, then valid again", async function () {
      const issued = await board.issue({
        type: CredentialType.Researcher,
        subject: stack.accounts.researcher.address,
        claims: { name: "Dr. Rosalind Franklin", institution: "King's College" },
      });
      expect(statusOutcome(await verifier.verifyCredential(issued.credential))).to.equal("ok");

      expect(await board.suspend(issued)).to.include({ status: "suspended", previous: "valid", changed: true });
      expect(statusOutcome(await verifier.verifyCredential(issued.credential))).to.equal("status:SUSPENDED");
      expect(await board.statusOf(issued.credential)).to.include({ status: "suspended" });

      expect(await board.reinstate(issued)).to.include({ status: "valid", previous: "suspended", changed: true });
      expect(statusOutcome(await verifier.verifyCredential(issued.credential))).to.equal("ok");
      expect(await board.reinstate(issued)).to.include({ status: "valid", changed: false });
    });

    it("never hands out an index twice, and a state file picks up where the last run left off", async function () {
      const file = join(dir, "board-state.json");
      const first = await issuerFor(stack.accounts.irb, { state: new IssuerStateFile(file) });
      const approval = (studyId: string) => ({
        type: CredentialType.EthicsApproval,
        subject: stack.accounts.researcher.address,
        claims: { studyId, protocolTitle: "Cardiac outcomes", approvalNumber: `IRB-${studyId}` },
      });
      const issued: IssuedCredential[] = [];
      for (let i = 0; i < 4; i++) issued.push(await first.issue(approval(`s${i}`)));
      await first.close();

      const saved = JSON.parse(await readFile(file, "utf8")) as IssuerState;
      expect(saved.issuer).to.equal(first.did);
      expect(saved.groups).to.have.length(1);
      expect(saved.groups[0]!.allocatedCount).to.equal(4);

      // A new run (another client on the same file) revokes what the first issued, and issues more.
      const second = await issuerFor(stack.accounts.irb, { state: new IssuerStateFile(file) });
      expect(await second.revoke(issued[0]!)).to.include({ status: "revoked", changed: true });
      for (let i = 4; i < 8; i++) issued.push(await second.issue(approval(`s${i}`)));
      const indexes = issued.map((credential) => credential.status!.index);
      expect(new Set(indexes).size, `indexes ${indexes.join(", ")}`).to.equal(8);
      expect(statusOutcome(await verifier.verifyCredential(issued[0]!.credential))).to.equal("status:REVOKED");
      expect(statusOutcome(await verifier.verifyCredential(issued[7]!.credential))).to.equal("ok");

      // Another issuer's state is refused rather than mixed up.
      const foreign = await issuerFor(stack.accounts.board, { state: new IssuerStateFile(file) });
      const error = await caught(foreign.refreshStatusLists());
      expect([error.kind, error.field]).to.deep.equal(["usage", "state"]);
    });

    it("keeps a revocation whose publication failed and publishes it on the next call", async function () {
      let gatewayDown = false;
      const flaky: FetchLike = (input, init) =>
        gatewayDown && init?.method === "PUT"
          ? Promise.reject(new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }))
          : fetch(input, init);
      const client = await issuerFor(stack.accounts.board, { fetch: flaky });
      const issued = await client.issue({
        type: CredentialType.ClinicAccreditation,
        subject: stack.accounts.clinic2.address,
        claims: clinicClaims("Second Clinic"),
        expires: "2030-01-01",
      });
      gatewayDown = true;
      const error = await caught(client.revoke(issued));
      expect(error).to.be.instanceOf(ServiceUnreachableError);
      expect(error.kind).to.equal("unavailable");
      expect(await client.statusOf(issued)).to.include({ status: "revoked" });
      expect(statusOutcome(await verifier.verifyCredential(issued.credential))).to.equal("ok"); // not published yet

      gatewayDown = false;
      const published = await client.refreshStatusLists();
      expect(published.map((list) => list.url)).to.deep.equal([(issued.status as { revocation: string }).revocation]);
      expect(statusOutcome(await verifier.verifyCredential(issued.credential))).to.equal("status:REVOKED");
    });

    it("refuses to issue a type its accreditation does not cover, and bad input, before signing", async function () {
      const notInsurer = await caught(
        board.issue({
          type: CredentialType.HealthInsurance,
          subject: stack.accounts.alice.address,
          claims: insuranceClaims,
        }),
      );
      expect([notInsurer.code, notInsurer.kind]).to.deep.equal(["ISSUER_NOT_ACCREDITED", "refused"]);
      expect(notInsurer.hint).to.include("insurer");

      const sdJwtOfAccreditation = await caught(
        board.issue({
          type: CredentialType.ClinicAccreditation,
          format: "sd-jwt",
          subject: stack.accounts.clinic.address,
          claims: clinicClaims(),
        }),
      );
      expect(sdJwtOfAccreditation.field).to.equal("format");

      const wrongKey = await caught(
        insurer.issue({
          type: CredentialType.HealthInsurance,
          format: "sd-jwt",
          subject: stack.accounts.alice.address,
          claims: insuranceClaims,
          holderKey: stack.accounts.bob.signingKey.publicKey,
        }),
      );
      expect(wrongKey.field).to.equal("holderKey");

      const extraClaim = await caught(
        insurer.issue({
          type: CredentialType.HealthInsurance,
          subject: stack.accounts.alice.address,
          claims: { ...insuranceClaims, ssn: "123-45-6789" } as typeof insuranceClaims,
        }),
      );
      expect(extraClaim.field).to.equal("claims");
      expect(extraClaim.message).to.include("ssn");

      const notOurs = await caught(insurer.revoke(jwt.credential));
      expect(notOurs.field).to.equal("credential");
    });
  });
});
