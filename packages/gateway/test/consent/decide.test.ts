// The relay's pure pre-gas decisions, tested directly: parse + signature, deadline, version / epoch, batch slots,
// and how a send failure is answered.
import { expect } from "chai";
import { Wallet, hexlify, randomBytes } from "ethers";
import {
  ContractRevertError,
  InsufficientFundsError,
  ZERO_SCOPES_ROOT,
  consentDomain,
  signEmergencyGrantee,
  signGrant,
  signRevoke,
  signedConsentToJson,
} from "@hygeia/chain";
import { BadRequestError, ConflictError, DependencyUnavailableError, GatewayError } from "../../src/errors.ts";
import {
  decideRelay,
  parseRelayItem,
  relayFailure,
  requireDistinctSlots,
  type ParsedRelay,
} from "../../src/plugins/consent/relay.ts";

const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const domain = consentDomain(31337, REGISTRY);
const NOW_MS = Date.UTC(2026, 11, 1, 2, 0, 0);
const NOW = Math.floor(NOW_MS / 1000);

describe("gateway consent relay decisions (pure)", function () {
  const patient = Wallet.createRandom();
  const grantee = Wallet.createRandom().address;
  const scope = hexlify(randomBytes(32));

  async function grant(overrides: { version?: number; deadline?: number; expiry?: number } = {}) {
    const signed = await signGrant(patient, domain, {
      patient: patient.address,
      grantee,
      scope,
      purpose: 1,
      expiry: overrides.expiry ?? NOW + 86_400,
      version: overrides.version ?? 2,
      deadline: overrides.deadline ?? NOW + 600,
    });
    return parseRelayItem("grant", domain, signedConsentToJson(signed), "body.signed");
  }

  async function emergency(maxDuration: number, epoch: number, deadline: number) {
    const signed = await signEmergencyGrantee(patient, domain, {
      patient: patient.address,
      grantee,
      maxDuration,
      scopesRoot: maxDuration === 0 ? ZERO_SCOPES_ROOT : scope,
      epoch,
      deadline,
    });
    return parseRelayItem("emergency-grantee", domain, signedConsentToJson(signed), "body.signed");
  }

  function refusal(error: GatewayError | undefined): { code: string; status: number } {
    expect(error, "a refusal").to.be.instanceOf(GatewayError);
    return { code: error!.code, status: error!.status };
  }

  it("parses a signed grant to its lowercase patient and grantee", async function () {
    const item = await grant();
    expect(item).to.include({ kind: "grant", patient: patient.address.toLowerCase(), grantee: grantee.toLowerCase() });
  });

  it("refuses a signature by another account, or a message changed after signing, as INVALID_SIGNATURE", async function () {
    const json = signedConsentToJson(
      await signGrant(patient, domain, {
        patient: patient.address,
        grantee,
        scope,
        purpose: 1,
        expiry: NOW + 86_400,
        version: 0,
        deadline: NOW + 600,
      }),
    );
    const other = Wallet.createRandom().address;
    for (const changed of [
      { ...json, patient: other },
      { ...json, version: 1 },
      { ...json, grantee: other },
    ]) {
      const attempt = () => parseRelayItem("grant", domain, changed, "body.signed");
      expect(attempt).to.throw(BadRequestError).with.property("code", "INVALID_SIGNATURE");
    }
    // Signed in another registry's domain (another chain or contract): it would never verify on this one.
    const foreign = consentDomain(1, REGISTRY);
    expect(() => parseRelayItem("grant", foreign, json, "body.signed"))
      .to.throw(BadRequestError)
      .with.property("code", "INVALID_SIGNATURE");
  });

  it("refuses a malformed field as INVALID_INPUT naming it", function () {
    const attempt = () =>
      parseRelayItem("revoke", domain, { patient: patient.address, grantee: "0x0" }, "body.signed.3");
    expect(attempt)
      .to.throw(BadRequestError)
      .with.property("field")
      .that.matches(/^body\.signed\.3\./);
  });

  it("lets through a message whose version is the slot's and whose deadline lies ahead", async function () {
    expect(decideRelay(await grant({ version: 2 }), { version: 2 }, NOW_MS, "body.signed")).to.equal(undefined);
  });

  it("refuses a version other than the slot's as 409 STALE_VERSION, with both versions", async function () {
    const error = decideRelay(await grant({ version: 2 }), { version: 3 }, NOW_MS, "body.signed");
    expect(refusal(error)).to.deep.equal({ code: "STALE_VERSION", status: 409 });
    expect(error!.extensions).to.include({ current: 3, signed: 2 });
  });

  it("refuses a deadline at or before now as 400 SIGNATURE_EXPIRED, and an expiry in the past as INVALID_INPUT", async function () {
    expect(refusal(decideRelay(await grant({ deadline: NOW }), { version: 2 }, NOW_MS, "body.signed"))).to.deep.equal({
      code: "SIGNATURE_EXPIRED",
      status: 400,
    });
    const expired = decideRelay(await grant({ expiry: NOW - 1 }), { version: 2 }, NOW_MS, "body.signed");
    expect(refusal(expired)).to.deep.equal({ code: "INVALID_INPUT", status: 400 });
    expect(expired!.field).to.equal("body.signed.expiry");
  });

  it("checks an emergency registration's epoch: below the pair's is stale, more than 1000 above too far", async function () {
    expect(decideRelay(await emergency(3600, 4, NOW + 60), { epoch: 4 }, NOW_MS, "body.signed")).to.equal(undefined);
    expect(decideRelay(await emergency(3600, 9, NOW + 60), { epoch: 4 }, NOW_MS, "body.signed")).to.equal(undefined);
    expect(refusal(decideRelay(await emergency(3600, 3, NOW + 60), { epoch: 4 }, NOW_MS, "f"))).to.deep.equal({
      code: "STALE_EPOCH",
      status: 409,
    });
    expect(refusal(decideRelay(await emergency(3600, 1005, NOW + 60), { epoch: 4 }, NOW_MS, "f"))).to.deep.equal({
      code: "EPOCH_TOO_FAR_AHEAD",
      status: 400,
    });
  });

  it("relays a removal whose deadline is now (the patient's way out), not one already past", async function () {
    expect(decideRelay(await emergency(0, 0, NOW), { epoch: 0 }, NOW_MS, "body.signed")).to.equal(undefined);
    expect(refusal(decideRelay(await emergency(0, 0, NOW - 1), { epoch: 0 }, NOW_MS, "f")).code).to.equal(
      "SIGNATURE_EXPIRED",
    );
  });

  it("refuses a batch with two messages for one slot, a grant and a revoke of it included", async function () {
    const revoke = parseRelayItem(
      "revoke",
      domain,
      signedConsentToJson(
        await signRevoke(patient, domain, {
          patient: patient.address,
          grantee,
          scope,
          purpose: 1,
          version: 2,
          deadline: NOW + 600,
        }),
      ),
      "body.signed",
    );
    const items: ParsedRelay[] = [await grant(), revoke];
    expect(() => requireDistinctSlots(items))
      .to.throw(BadRequestError)
      .with.property("field", "body.signed.1");
    expect(() => requireDistinctSlots([items[0]!])).not.to.throw();
  });

  it("answers the contract's refusals with the relay's codes and a relayer that cannot pay as 503 chain", function () {
    const stale = relayFailure(
      new ContractRevertError("ConsentRegistry.grantBySig", "StaleVersion", { current: 3n, signed: 2n }, "0x"),
      "f",
    );
    expect(stale).to.be.instanceOf(ConflictError).with.property("code", "STALE_VERSION");
    const expired = relayFailure(
      new ContractRevertError("ConsentRegistry.grantBySig", "SignatureExpired", {}, "0x"),
      "f",
    );
    expect(expired).to.be.instanceOf(BadRequestError).with.property("code", "SIGNATURE_EXPIRED");
    const other = new ContractRevertError("ConsentRegistry.grantBySig", "VersionOverflow", {}, "0x");
    expect(relayFailure(other, "f")).to.equal(other); // problems.ts: 409 CONTRACT_REVERT with errorName
    const broke = relayFailure(new InsufficientFundsError("ConsentRegistry.grantBySig", grantee), "f");
    expect(broke).to.be.instanceOf(DependencyUnavailableError).with.property("dependency", "chain");
  });
});
