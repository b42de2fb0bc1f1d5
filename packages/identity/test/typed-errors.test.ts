// Careless input to the agent's and the issuing / presenting functions gets this package's typed errors, with
// the offending field, never a raw Veramo / did-jwt / ethers error (issue 8 items 5, 12, 13).
import { expect } from "chai";
import { generateX25519KeyPair } from "@hygeia/crypto";
import {
  Bitstring,
  CredentialType,
  HolderMismatchError,
  HygeiaIdentityError,
  InvalidCredentialError,
  InvalidIdentityInputError,
  KeyNotFoundError,
  TransactionFailedError,
  UnknownClaimError,
  createPresentation,
  issueCredential,
  issueSdJwtCredential,
  issueStatusListCredential,
  presentSdJwtCredential,
  presentationRequestProblems,
  type IdentityAgent,
  type ManagedDid,
} from "../src/index.ts";
import { decodeJwt } from "../src/verify/jwt.ts";
import type { TestChain } from "./helpers/chain.ts";
import { createVerifier, startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";

const DOMAIN = "clinic.example";

async function thrown(promise: Promise<unknown>): Promise<HygeiaIdentityError> {
  try {
    await promise;
  } catch (error) {
    expect(error, String(error)).to.be.instanceOf(HygeiaIdentityError);
    return error as HygeiaIdentityError;
  }
  expect.fail("expected a typed error");
}

function fieldOf(error: HygeiaIdentityError): unknown {
  return (error as { field?: unknown }).field;
}

describe("identity: typed errors for careless input", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;
  const stranger = "did:ethr:0x7a69:0x000000000000000000000000000000000000dEaD";

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  const identity = () => subjects(patient.did, patient.did, patient.did).PatientIdentityCredential;
  const issue = (extra: Record<string, unknown>) =>
    issueCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: identity(),
      ...extra,
    });
  const sdJwt = () =>
    agent.signingPublicJwk(patient.did).then((holderPublicJwk) =>
      issueSdJwtCredential(agent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: identity(),
        holderPublicJwk,
      }),
    );
  const challenge = "c".repeat(24);

  describe("validity period (validFrom / validUntil)", function () {
    it("accepts ISO 8601 strings and Dates", async function () {
      const fromString = decodeJwt(await issue({ validFrom: "2026-01-01", validUntil: "2030-06-01T12:00:00Z" }));
      expect(fromString.payload.nbf).to.equal(Date.parse("2026-01-01T00:00:00Z") / 1000);
      expect(fromString.payload.exp).to.equal(Date.parse("2030-06-01T12:00:00Z") / 1000);
      const withOffset = decodeJwt(await issue({ validUntil: "2030-06-01T14:00:00+02:00" }));
      expect(withOffset.payload.exp).to.equal(Date.parse("2030-06-01T12:00:00Z") / 1000);
      const fromDate = decodeJwt(await issue({ validUntil: new Date("2030-06-01T12:00:00Z") }));
      expect(fromDate.payload.exp).to.equal(Date.parse("2030-06-01T12:00:00Z") / 1000);
      const sd = await issueSdJwtCredential(agent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: identity(),
        holderPublicJwk: await agent.signingPublicJwk(patient.did),
        validUntil: "2030-06-01T12:00:00Z",
      });
      expect(decodeJwt(sd.split("~")[0]).payload.exp).to.equal(Date.parse("2030-06-01T12:00:00Z") / 1000);
    });

    it("refuses unparseable, non-calendar, zone-less and numeric times, naming the field", async function () {
      for (const [field, value] of [
        ["validUntil", "next year"],
        ["validUntil", "2030-02-30"],
        ["validUntil", "2030-01-01T12:00:00"],
        ["validUntil", new Date("nonsense")],
        ["validUntil", 1_900_000_000],
        ["validFrom", "01/02/2030"],
        ["validFrom", { year: 2030 }],
      ] as const) {
        const error = await thrown(issue({ [field]: value }));
        expect(error, String(value)).to.be.instanceOf(InvalidIdentityInputError);
        expect(fieldOf(error)).to.equal(field);
      }
      const numeric = await thrown(issue({ validUntil: 1_900_000_000 }));
      expect(numeric.message).to.contain("new Date(seconds * 1000)");
    });

    it("refuses validUntil at or before validFrom (JWT and SD-JWT)", async function () {
      const error = await thrown(issue({ validFrom: "2030-01-01", validUntil: "2029-12-31T23:59:59Z" }));
      expect(fieldOf(error)).to.equal("validUntil");
      const sdError = await thrown(
        issueSdJwtCredential(agent, {
          issuer: issuers.identity.did,
          type: CredentialType.PatientIdentity,
          subject: identity(),
          holderPublicJwk: await agent.signingPublicJwk(patient.did),
          validFrom: "2030-01-01",
          validUntil: "2030-01-01",
        }),
      );
      expect(fieldOf(sdError)).to.equal("validUntil");
    });
  });

  describe("DIDs the agent does not hold, and credentials that are not credentials", function () {
    it("an issuer or holder DID the agent does not hold: KeyNotFoundError naming the field", async function () {
      const issuerError = await thrown(issue({ issuer: stranger }));
      expect(issuerError).to.be.instanceOf(KeyNotFoundError);
      expect(fieldOf(issuerError)).to.equal("issuer");
      const holderError = await thrown(
        createPresentation(agent, { holder: stranger, credentials: [await issue({})], challenge, domain: DOMAIN }),
      );
      expect(holderError).to.be.instanceOf(KeyNotFoundError);
      expect(fieldOf(holderError)).to.equal("holder");
      const sdHolderError = await thrown(
        presentSdJwtCredential(agent, {
          holder: stranger,
          credential: await sdJwt(),
          disclose: ["givenName"],
          challenge,
          domain: DOMAIN,
        }),
      );
      expect(fieldOf(sdHolderError)).to.equal("holder");
      const sdIssuerError = await thrown(
        issueSdJwtCredential(agent, {
          issuer: stranger,
          type: CredentialType.PatientIdentity,
          subject: identity(),
          holderPublicJwk: await agent.signingPublicJwk(patient.did),
        }),
      );
      expect(fieldOf(sdIssuerError)).to.equal("issuer");
      const listError = await thrown(
        issueStatusListCredential(agent, {
          issuer: stranger,
          url: "https://gw.example/status/1",
          purpose: "revocation",
          list: new Bitstring(),
        }),
      );
      expect(fieldOf(listError)).to.equal("issuer");
    });

    it("a garbage credential: InvalidCredentialError naming the field", async function () {
      for (const garbage of ["not a jwt", "a.b.c", 42, `${Buffer.from("{}").toString("base64url")}.e30.sig`]) {
        const error = await thrown(
          createPresentation(agent, {
            holder: patient.did,
            credentials: [await issue({}), garbage as string],
            challenge,
            domain: DOMAIN,
          }),
        );
        expect(error, String(garbage)).to.be.instanceOf(InvalidCredentialError);
        expect(fieldOf(error)).to.equal("credentials[1]");
      }
      for (const garbage of ["not an sd-jwt", "a.b.c~garbage~", await issue({})]) {
        const error = await thrown(
          presentSdJwtCredential(agent, {
            holder: patient.did,
            credential: garbage,
            disclose: [],
            challenge,
            domain: DOMAIN,
          }),
        );
        expect(error).to.be.instanceOf(InvalidCredentialError);
        expect(fieldOf(error)).to.equal("credential");
      }
    });

    it("the agent's own entry points: bad arguments, did:key on-chain writes, an owner without gas", async function () {
      const cases: Array<[Promise<unknown>, string]> = [
        [agent.createDid({ method: "web" as "ethr" }), "method"],
        [agent.importEthrDid(42 as unknown as string), "privateKeyHex"],
        [agent.addDelegate(patient.did, "0x123"), "delegate"],
        [agent.addDelegate(patient.did, testChain.wallet(5).address, { validitySeconds: -1 }), "validitySeconds"],
        [agent.publishEncryptionKey(patient.did, new Uint8Array(31)), "publicKey"],
        [agent.signJwt(patient.did, "payload" as unknown as Record<string, unknown>), "payload"],
        [agent.getDid("not a did"), "did"],
      ];
      for (const [call, field] of cases) {
        const error = await thrown(call);
        expect(error, field).to.be.instanceOf(InvalidIdentityInputError);
        expect(fieldOf(error)).to.equal(field);
      }
      const notHeld = await thrown(agent.signJwt(stranger, {}));
      expect(notHeld).to.be.instanceOf(KeyNotFoundError);
      expect(fieldOf(notHeld)).to.equal("did");
      const keyDid = await agent.createDid({ method: "key" });
      const onChain = await thrown(agent.publishEncryptionKey(keyDid.did, generateX25519KeyPair().publicKey));
      expect(fieldOf(onChain)).to.equal("did");
      const broke = await agent.createDid(); // never funded
      const noGas = await thrown(agent.publishEncryptionKey(broke.did, generateX25519KeyPair().publicKey));
      expect(noGas).to.be.instanceOf(TransactionFailedError);
      expect(noGas.message).to.contain("cannot pay for gas");
    });
  });

  describe("challenges (item 12)", function () {
    it("a verifier says what is wrong with each field of a presentation request", async function () {
      const { verifier } = createVerifier(testChain, agent);
      const result = await verifier.verifyPresentation("x.y.z", {
        challenge: "short",
        domain: "",
        credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName", "ssn"] }],
      });
      expect(result.ok).to.equal(false);
      const reason = result.checks.find((c) => c.name === "format")!.reason;
      expect(reason).to.contain("challenge: too short: 5 characters, at least 16");
      expect(reason).to.contain("domain: missing");
      expect(reason).to.contain('credentials[0].claims: PatientIdentityCredential has no claim "ssn"');
      expect(
        presentationRequestProblems({ challenge, domain: DOMAIN, credentials: [{ type: "Passport" }] }),
      ).to.deep.equal(['credentials[0].type: "Passport" is not a Hygeia credential type']);
      expect(presentationRequestProblems({ challenge, domain: DOMAIN, credentials: [] })).to.deep.equal([]);
    });

    it("a holder cannot answer a challenge shorter than 16 characters (typed error with the minimum)", async function () {
      const error = await thrown(
        createPresentation(agent, {
          holder: patient.did,
          credentials: [await issue({})],
          challenge: "1234",
          domain: DOMAIN,
        }),
      );
      expect(error).to.be.instanceOf(InvalidIdentityInputError);
      expect(fieldOf(error)).to.equal("challenge");
      expect(error.message).to.contain("at least 16");
      const sdError = await thrown(
        presentSdJwtCredential(agent, {
          holder: patient.did,
          credential: await sdJwt(),
          disclose: ["givenName"],
          challenge,
          domain: "",
        }),
      );
      expect(fieldOf(sdError)).to.equal("domain");
    });
  });

  describe("claim names (item 13)", function () {
    it("disclosing a claim the SD-JWT does not have throws UnknownClaimError naming it and what is disclosable", async function () {
      const error = await thrown(
        presentSdJwtCredential(agent, {
          holder: patient.did,
          credential: await sdJwt(),
          disclose: ["givenName", "ssn", "bloodType"],
          challenge,
          domain: DOMAIN,
        }),
      );
      expect(error).to.be.instanceOf(UnknownClaimError);
      expect(error.code).to.equal("UNKNOWN_CLAIM");
      const unknownClaim = error as UnknownClaimError;
      expect(unknownClaim.field).to.equal("disclose");
      expect(unknownClaim.unknownClaims).to.deep.equal(["ssn", "bloodType"]);
      expect(unknownClaim.disclosable).to.have.members(["givenName", "familyName", "birthDate"]);
      expect(error.message).to.contain('"ssn"').and.to.contain("disclosable: ");
    });
  });

  describe("holder binding, checked before anything is signed", function () {
    it("presentSdJwtCredential refuses a holder (another DID of the agent) that is not the credential's subject, naming both DIDs", async function () {
      const other = await agent.createDid({ alias: "other" });
      const error = await thrown(
        presentSdJwtCredential(agent, {
          holder: other.did,
          credential: await sdJwt(),
          disclose: ["givenName"],
          challenge,
          domain: DOMAIN,
        }),
      );
      expect(error).to.be.instanceOf(HolderMismatchError);
      expect(error.code).to.equal("HOLDER_MISMATCH");
      const mismatch = error as HolderMismatchError;
      expect([mismatch.field, mismatch.holder, mismatch.subject]).to.deep.equal(["holder", other.did, patient.did]);
      expect(error.message).to.contain(other.did).and.to.contain(patient.did);
    });

    it("presentSdJwtCredential refuses an SD-JWT bound (cnf) to another key than the holder's signing key", async function () {
      const other = await agent.createDid({ alias: "other key" });
      const boundElsewhere = await issueSdJwtCredential(agent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: identity(),
        holderPublicJwk: await agent.signingPublicJwk(other.did),
      });
      const error = await thrown(
        presentSdJwtCredential(agent, {
          holder: patient.did,
          credential: boundElsewhere,
          disclose: ["givenName"],
          challenge,
          domain: DOMAIN,
        }),
      );
      expect(error).to.be.instanceOf(HolderMismatchError);
      expect(fieldOf(error)).to.equal("holder");
      expect(error.message).to.contain("bound (cnf) to another key").and.to.contain(patient.did);
    });

    it("createPresentation refuses a JWT VC whose subject is not the holder, naming credentials[i] and both DIDs", async function () {
      const other = await agent.createDid({ alias: "other holder" });
      const own = await issueCredential(agent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: { ...identity(), id: other.did },
      });
      const error = await thrown(
        createPresentation(agent, {
          holder: other.did,
          credentials: [own, await issue({})],
          challenge,
          domain: DOMAIN,
        }),
      );
      expect(error).to.be.instanceOf(HolderMismatchError);
      const mismatch = error as HolderMismatchError;
      expect([mismatch.field, mismatch.holder, mismatch.subject]).to.deep.equal([
        "credentials[1]",
        other.did,
        patient.did,
      ]);
      expect(error.message).to.contain(other.did).and.to.contain(patient.did);
      // The holder's own credential alone is fine.
      expect(
        await createPresentation(agent, { holder: other.did, credentials: [own], challenge, domain: DOMAIN }),
      ).to.be.a("string");
    });
  });
});
