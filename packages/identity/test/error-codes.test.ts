// Every error class of the package has its own stable code, so callers can branch on `code` alone (STYLE.md).
import { expect } from "chai";
import * as identity from "../src/index.ts";
import { HygeiaIdentityError } from "../src/index.ts";

/** One instance of each exported error class, built with plausible arguments. */
const samples: Record<string, () => HygeiaIdentityError> = {
  InvalidIdentityInputError: () => new identity.InvalidIdentityInputError("field", "bad"),
  UnknownDidError: () => new identity.UnknownDidError("did:web:x", "unsupported"),
  UnresolvableDidError: () => new identity.UnresolvableDidError("did:ethr:0x1:0x0", "notFound"),
  KeyNotFoundError: () => new identity.KeyNotFoundError("no key", { field: "issuer" }),
  SchemaViolationError: () => new identity.SchemaViolationError("PatientIdentityCredential", ["x"]),
  IdentityChainUnavailableError: () => new identity.IdentityChainUnavailableError("down"),
  WrongChainError: () => new identity.WrongChainError("http://127.0.0.1:8545", 31337, 1),
  RegistryNotFoundError: () => new identity.RegistryNotFoundError(`0x${"12".repeat(20)}`, 31337),
  TransactionFailedError: () => new identity.TransactionFailedError(undefined, "nothing sent"),
  StatusListUnavailableError: () => new identity.StatusListUnavailableError("https://x", "404"),
  InvalidStatusListError: () => new identity.InvalidStatusListError("bad list"),
  InvalidCredentialError: () => new identity.InvalidCredentialError("not a credential", { field: "credential" }),
  ClinicNotTrustedError: () =>
    new identity.ClinicNotTrustedError({ ok: false, checks: [], holder: undefined, disclosed: {}, clinic: undefined }),
  AgentClosedError: () => new identity.AgentClosedError("resolve", false),
  WrongSecretBoxKeyError: () => new identity.WrongSecretBoxKeyError("/tmp/x.db"),
  DatabaseBusyError: () => new identity.DatabaseBusyError("/tmp/x.db", 10),
  DatabaseError: () => new identity.DatabaseError("/tmp/x.db", "disk full"),
  UnknownClaimError: () => new identity.UnknownClaimError("disclose", ["ssn"], ["givenName"]),
  HolderKeyError: () => new identity.HolderKeyError("did:ethr:0x7a69:0x1", "failed to sign"),
  HolderMismatchError: () =>
    new identity.HolderMismatchError("holder", "did:ethr:0x7a69:0x1", "did:ethr:0x7a69:0x2", "another subject"),
  NoEncryptionKeyError: () => new identity.NoEncryptionKeyError("clinic", "did:ethr:0x7a69:0x1"),
  ChallengeStoreFullError: () => new identity.ChallengeStoreFullError(100_000),
};

describe("identity: error codes", function () {
  it("every exported error class has a code no other class uses", function () {
    const exported = Object.entries(identity).filter(
      ([, value]) =>
        typeof value === "function" &&
        value.prototype instanceof HygeiaIdentityError &&
        (value as unknown) !== HygeiaIdentityError,
    );
    expect(exported.map(([name]) => name).sort()).to.deep.equal(Object.keys(samples).sort());
    const byCode = new Map<string, string[]>();
    for (const [name, make] of Object.entries(samples)) {
      const error = make();
      expect(error.name).to.equal(name);
      byCode.set(error.code, [...(byCode.get(error.code) ?? []), name]);
    }
    const shared = [...byCode].filter(([, names]) => names.length > 1);
    expect(shared, "codes shared by several classes").to.deep.equal([]);
  });

  it("a check-in refused for an untrusted clinic is told apart from an invalid credential by its code", function () {
    expect(samples.ClinicNotTrustedError!().code).to.equal("CLINIC_NOT_TRUSTED");
    expect(samples.InvalidCredentialError!().code).to.equal("INVALID_CREDENTIAL");
  });
});
