// What a developer new to the project ran into from the READMEs alone: verifier options accepted at construction
// and failing every verification later, internal error text in a check reason, schema messages that do not name
// the property, a field name for an argument nobody indexed.
import { expect } from "chai";
import {
  CredentialType,
  CredentialVerifier,
  InvalidIdentityInputError,
  IssuerTrust,
  SchemaViolationError,
  createAgentVerifier,
  ethrDidPrefix,
  issueCredential,
  subjectViolations,
  type IdentityAgent,
  type ManagedDid,
} from "../src/index.ts";
import type { TrustRegistryClient } from "@hygeia/chain";
import type { TestChain } from "./helpers/chain.ts";
import { startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";

/** Text that must never reach a check reason: what an RPC or library error may carry. */
const SECRET = "https://user:s3cret@rpc.internal/v3/KEY at /srv/hygeia/node_modules/x.js:1:1";

describe("identity: what a newcomer ran into", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  describe("createAgentVerifier validates every option at construction", function () {
    const cases: [string, Record<string, unknown>, string][] = [
      ["statusListOrigins as one string", { statusListOrigins: "http://127.0.0.1:1" }, "statusListOrigins"],
      ["statusListOrigins with a number", { statusListOrigins: [42] }, "statusListOrigins[0]"],
      ["statusListOrigins with a path", { statusListOrigins: ["https://a.example/lists"] }, "statusListOrigins[0]"],
      ["statusListOrigins not a URL", { statusListOrigins: ["status.example"] }, "statusListOrigins[0]"],
      ["statusListHttpHosts as one string", { statusListHttpHosts: "status.internal" }, "statusListHttpHosts"],
      ["statusListHttpHosts with a scheme", { statusListHttpHosts: ["http://a.internal"] }, "statusListHttpHosts[0]"],
      ["statusListHttpHosts with a port", { statusListHttpHosts: ["a.internal:8080"] }, "statusListHttpHosts[0]"],
      ["statusListTtlMs negative", { statusListTtlMs: -1 }, "statusListTtlMs"],
      ["statusListTtlMs NaN", { statusListTtlMs: Number.NaN }, "statusListTtlMs"],
      ["statusListTtlMs as a string", { statusListTtlMs: "60000" }, "statusListTtlMs"],
      ["statusFailClosed as a string", { statusFailClosed: "false" }, "statusFailClosed"],
      ["maxCachedStatusLists 0", { maxCachedStatusLists: 0 }, "maxCachedStatusLists"],
      ["clockSkewSeconds Infinity", { clockSkewSeconds: Number.POSITIVE_INFINITY }, "clockSkewSeconds"],
      ["clockSkewSeconds in ms", { clockSkewSeconds: 60_000 }, "clockSkewSeconds"],
      ["clock not a function", { clock: 1_700_000_000_000 }, "clock"],
      ["challenges without consume", { challenges: { issue: async () => "c" } }, "challenges"],
      ["statusListFetcher not a function", { statusListFetcher: "https://status.example" }, "statusListFetcher"],
      ["trustCacheTtlMs negative", { trustCacheTtlMs: -5 }, "trustCacheTtlMs"],
      ["trustCacheTtlMs fractional", { trustCacheTtlMs: 1.5 }, "trustCacheTtlMs"],
    ];
    for (const [label, options, field] of cases) {
      it(`refuses ${label}, naming ${field}`, function () {
        let error: unknown;
        try {
          createAgentVerifier(agent, { trustRegistry: testChain.deployment.contracts.TrustRegistry, ...options });
        } catch (e) {
          error = e;
        }
        expect(error).to.be.instanceOf(InvalidIdentityInputError);
        expect((error as InvalidIdentityInputError).field).to.equal(field);
        expect((error as InvalidIdentityInputError).code).to.equal("INVALID_INPUT");
      });
    }

    it("accepts every valid form (origins array or function, hosts, zero TTLs)", function () {
      for (const options of [
        {
          statusListOrigins: ["https://status.example", "http://127.0.0.1:8080/"],
          statusListHttpHosts: ["a.internal"],
        },
        { statusListOrigins: (issuer: string) => (issuer ? ["https://status.example"] : undefined) },
        { statusListTtlMs: 0, trustCacheTtlMs: 0, clockSkewSeconds: 0, statusFailClosed: false },
        { statusListHttpHosts: ["[::1]", "localhost"], maxCachedStatusLists: 1 },
      ])
        createAgentVerifier(agent, { trustRegistry: testChain.deployment.contracts.TrustRegistry, ...options });
    });

    it("IssuerTrust refuses a negative cacheTtlMs", function () {
      expect(
        () =>
          new IssuerTrust({
            registry: { isTrusted: async () => true, isTrustedAt: async () => true } as unknown as TrustRegistryClient,
            didPrefix: ethrDidPrefix(testChain.network),
            cacheTtlMs: -1,
          }),
      ).to.throw(InvalidIdentityInputError, "cacheTtlMs");
    });
  });

  describe("internal errors stay out of check reasons", function () {
    const throwingRegistry = {
      isTrusted: async () => {
        throw new Error(SECRET);
      },
      isTrustedAt: async () => {
        throw new Error(SECRET);
      },
    } as unknown as TrustRegistryClient;

    it("a trust registry that cannot be read fails issuer-trust with a fixed reason, a code and a hidden cause", async function () {
      const trust = new IssuerTrust({ registry: throwingRegistry, didPrefix: ethrDidPrefix(testChain.network) });
      const verifier = new CredentialVerifier({ resolver: agent.resolver, trust });
      const jwt = await issueCredential(agent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: subjects(patient.did, patient.did, patient.did).PatientIdentityCredential,
      });
      const result = await verifier.verifyCredential(jwt);
      expect(result.ok).to.equal(false);
      const check = result.checks.find((c) => c.name === "issuer-trust")!;
      expect(check.pass).to.equal(false);
      expect(check.code).to.equal("TRUST_REGISTRY_UNAVAILABLE");
      expect(check.reason).to.not.contain("s3cret");
      expect((check.cause as Error).message).to.equal(SECRET);
      expect(JSON.stringify(result)).to.not.contain("s3cret");
    });

    it("an exception inside a verification is a failed check with a fixed reason, code INTERNAL_ERROR, cause kept for logs", async function () {
      // A trust implementation that throws instead of answering (IssuerTrust itself never does).
      const explosive = {
        check: async () => {
          throw new TypeError(SECRET);
        },
        checkNow: async () => {
          throw new TypeError(SECRET);
        },
      } as unknown as IssuerTrust;
      const verifier = new CredentialVerifier({ resolver: agent.resolver, trust: explosive });
      const jwt = await issueCredential(agent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: subjects(patient.did, patient.did, patient.did).PatientIdentityCredential,
      });
      const credential = await verifier.verifyCredential(jwt);
      expect(credential.ok).to.equal(false);
      const failed = credential.checks.filter((c) => !c.pass);
      expect(failed.map((c) => c.code)).to.deep.equal(["INTERNAL_ERROR"]);
      expect(failed[0]!.cause).to.be.instanceOf(TypeError);
      expect(JSON.stringify(credential)).to.not.contain("s3cret");

      const request = {
        get challenge(): string {
          throw new TypeError(SECRET);
        },
        domain: "clinic.example",
        credentials: [],
      };
      const presentation = await verifier.verifyPresentation("x.y.z", request);
      expect(presentation.ok).to.equal(false);
      expect(presentation.checks.map((c) => [c.name, c.pass, c.code])).to.deep.equal([
        ["format", false, "INTERNAL_ERROR"],
      ]);
      expect(presentation.checks[0]!.reason).to.not.contain("s3cret");
      expect(presentation.checks[0]!.cause).to.be.instanceOf(TypeError);
      expect(JSON.stringify(presentation)).to.not.contain("s3cret");
    });
  });

  describe("schema violations name what to fix", function () {
    it("names an additional property (ajv's params.additionalProperty)", async function () {
      const error = await issueCredential(agent, {
        issuer: issuers.insurer.did,
        type: CredentialType.HealthInsurance,
        subject: { id: patient.did, insurerName: "A", memberId: "1", planName: "G", ssn: "x" } as never,
      }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(SchemaViolationError);
      expect((error as SchemaViolationError).violations).to.deep.equal([
        'credentialSubject must NOT have additional property "ssn" (remove it)',
      ]);
    });

    it("names a missing property, and the allowed values of an enum or const", function () {
      expect(
        subjectViolations(CredentialType.HealthInsurance, { id: patient.did, insurerName: "A", memberId: "1" }),
      ).to.deep.equal(['credentialSubject must have required property "planName"']);
      const record = subjects(patient.did, patient.did, patient.did).HealthRecordCredential;
      const violations = subjectViolations(CredentialType.HealthRecord, {
        ...record,
        fhirVersion: "5",
        fhirBundle: { resourceType: "Bundle", type: "list" },
      });
      expect(violations).to.include('credentialSubject/fhirVersion must be "4.0.1"');
      expect(violations).to.include(
        'credentialSubject/fhirBundle/type must be one of "collection", "document", "searchset"',
      );
    });

    it("shortens a presenter-chosen property name", function () {
      const [violation] = subjectViolations(CredentialType.HealthInsurance, {
        id: patient.did,
        insurerName: "A",
        memberId: "1",
        planName: "G",
        ["x".repeat(5000)]: 1,
      });
      expect(violation!.length).to.be.below(200);
    });
  });
});
