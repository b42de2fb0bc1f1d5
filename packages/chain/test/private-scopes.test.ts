// Keyed scope ids (PatientScopes) and pairwise consent accounts (consentAccount): committed vectors, checked against
// our code (ethers' computeHmac, HDNodeWallet) AND against a reference written from docs/private-scopes.md with
// node:crypto (createHmac; BIP-32 hardened steps by hand), which shares no code with ours. The scope key and seed are
// the wallet vectors of packages/crypto/test/consent-secret.test.ts (Hardhat account #0's key-derivation signature).
import { createECDH, randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { expect } from "chai";
import { computeAddress, hexlify } from "ethers";
import {
  CONSENT_CATEGORIES,
  FHIR_R4_RESOURCE_TYPES,
  InvalidInputError,
  InvalidScopeError,
  PatientScopes,
  SCOPE_ID_DOMAIN,
  consentAccount,
  consentAccountFor,
  consentAccountPath,
  findConsentAccounts,
  parseScope,
  scopesForRecord,
} from "../src/index.ts";
import { deriveConsentSecretFromKeystoreSecret, deriveScopeKey } from "@hygeia/crypto";
import { testScopeKey } from "./support/scopes.ts";
import { thrown } from "./support/settle.ts";
import { referenceHardenedKey, referenceScopeId } from "../../../test/reference/private-scopes.ts";

// --- Vectors (also in docs/private-scopes.md, "Test vectors") -----------------------------------------------------

const SCOPE_KEY = "51fb897b58c5b39446fdc7533f4bd197d3af600348ff9f60434428e27ae03b80";
const CONSENT_ACCOUNT_SEED =
  "90ef54f8180fd730ecc067d0166830881fb5a5fca8920d5dfae2221746703a2f" +
  "8c406f4548f1cbc4bab810fc4a318bec5e99ed85d2a911e0da97fcc5fc5d15b6";
const PATIENT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"; // the wallet's own address
const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

/** Consent accounts m/7424'/i' of the seed: private key and address. */
const ACCOUNTS = [
  {
    index: 0,
    privateKey: "0x692e3b10194c9e954315336701469d08d3ade691fb15a906d915af6edf4a2a4a",
    address: "0x32Dce9e1fA8D9d4Aff88FD53eFbc397F7dCE6217",
  },
  {
    index: 1,
    privateKey: "0xf3a0c09ca33ee72c98cb3c77ef62dbc69e686d5d15be0b8c6e3ddf3069ce0eef",
    address: "0x53BeE8b67103cE56866C2B8708D746228bDE721F",
  },
];

/** Keyed ids under SCOPE_KEY, per consent address (the patient's own, and consent account 0). */
const IDS: Record<string, Record<string, string>> = {
  [PATIENT]: {
    "category:substance-use": "0xa77c0d12b8e2c65924e56d9a4fc7964744fe4ba7cfb40e575e55ca1eeb1c130d",
    "fhir:Observation": "0xac7f4e4fedc664f5f92aae8c0fb2cc8857e044c0c6cc344a1c280c3a7a35d636",
    [`record:${CID}`]: "0x171dd74a50fdd17e433450cb133c7e8550b880b66999fa54675823afc3b2043f",
    "study:diabetes-2026": "0x591ae68d6d153d67aa079ee2c96f45adbed575a25b55249124eefb45842c8475",
  },
  [ACCOUNTS[0]!.address]: {
    "category:substance-use": "0x8a3c29655563b0693b53805c7407722623665f1b72a9a61b8e98bebb027d1dd3",
    "fhir:Observation": "0x615a848e66d099ffa6fae082a7378cc14f63a808cdc478bd468506b854b575b5",
    [`record:${CID}`]: "0x7ebeaa3d66eeffd295daf0d238e5d96419438e2c82c241321f07db19ed5cbe8c",
    "study:diabetes-2026": "0x059d51a8a9895f4c08f5b6b5752cf13de1139135526ff06605fcebda8cfa031e",
  },
};

// --- Reference: the spec in node:crypto ----------------------------------------------------------------------------

const key = (): Uint8Array => Uint8Array.from(Buffer.from(SCOPE_KEY, "hex"));

function publicKeyOf(privateKey: string): string {
  const ecdh = createECDH("secp256k1");
  ecdh.setPrivateKey(Buffer.from(privateKey.slice(2), "hex"));
  return "0x" + ecdh.getPublicKey("hex", "uncompressed");
}

describe("private scopes: keyed scope ids and consent accounts", () => {
  describe("vectors", () => {
    it("the domain label is the documented string", () => {
      expect(SCOPE_ID_DOMAIN).to.equal("hygeia/scope-id/v1");
    });

    for (const [address, table] of Object.entries(IDS)) {
      it(`PatientScopes.id gives the vector ids under ${address}, and so does the node:crypto reference`, () => {
        const scopes = new PatientScopes(key(), address);
        for (const [canonical, id] of Object.entries(table)) {
          expect(scopes.id(canonical), canonical).to.equal(id);
          expect(referenceScopeId(SCOPE_KEY, address, canonical), canonical).to.equal(id);
        }
      });
    }

    it("consent accounts m/7424'/i' of the seed are the vector's keys, by ethers and by a hand-written BIP-32", () => {
      for (const { index, privateKey, address } of ACCOUNTS) {
        expect(consentAccountPath(index)).to.equal(`m/7424'/${index}'`);
        const account = consentAccount(Uint8Array.from(Buffer.from(CONSENT_ACCOUNT_SEED, "hex")), index);
        expect(account.privateKey).to.equal(privateKey);
        expect(account.address).to.equal(address);
        expect(referenceHardenedKey(Buffer.from(CONSENT_ACCOUNT_SEED, "hex"), [7424, index])).to.equal(privateKey);
        expect(computeAddress(publicKeyOf(privateKey))).to.equal(address);
      }
    });
  });

  describe("ids", () => {
    it("the same key on a new device (fresh bytes, fresh object, address in any case) gives the same ids", () => {
      const restored = new PatientScopes(Uint8Array.from(Buffer.from(SCOPE_KEY, "hex")), PATIENT.toLowerCase());
      for (const [canonical, id] of Object.entries(IDS[PATIENT]!)) expect(restored.id(canonical)).to.equal(id);
      expect(restored.consentAddress).to.equal(PATIENT);
    });

    it("two patients get unrelated ids for one category (even at one address)", () => {
      const other = new PatientScopes(Uint8Array.from(randomBytes(32)), PATIENT);
      const ours = new PatientScopes(key(), PATIENT);
      for (const category of CONSENT_CATEGORIES) {
        expect(other.id(`category:${category}`)).not.to.equal(ours.id(`category:${category}`));
      }
    });

    it("one patient's two consent addresses give different ids for every scope, and forAddress is that same key", () => {
      const own = new PatientScopes(key(), PATIENT);
      const pairwise = own.forAddress(ACCOUNTS[0]!.address);
      expect(pairwise.consentAddress).to.equal(ACCOUNTS[0]!.address);
      for (const canonical of Object.keys(IDS[PATIENT]!)) {
        expect(pairwise.id(canonical)).to.equal(IDS[ACCOUNTS[0]!.address]![canonical]);
        expect(pairwise.id(canonical)).not.to.equal(own.id(canonical));
      }
    });

    it("gives lowercase 0x + 64 hex, one id per canonical scope, and takes a parsed Scope as its string", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      const all = [
        ...FHIR_R4_RESOURCE_TYPES.map((t) => `fhir:${t}`),
        ...CONSENT_CATEGORIES.map((c) => `category:${c}`),
      ];
      const ids = scopes.ids(all);
      for (const id of ids) expect(id).to.match(/^0x[0-9a-f]{64}$/);
      expect(new Set(ids).size).to.equal(all.length);
      expect(scopes.id(parseScope("fhir:Observation"))).to.equal(IDS[PATIENT]!["fhir:Observation"]);
    });

    it("copies the key: changing the caller's buffer afterwards changes no id", () => {
      const bytes = key();
      const scopes = new PatientScopes(bytes, PATIENT);
      bytes.fill(0);
      expect(scopes.id("fhir:Observation")).to.equal(IDS[PATIENT]!["fhir:Observation"]);
    });

    it("refuses what is not a canonical scope with InvalidScopeError", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      for (const bad of ["fhir:observation", "category:labs", "0x" + "11".repeat(32), "", 42, null, undefined, {}]) {
        expect(() => scopes.id(bad as string), String(bad)).to.throw(InvalidScopeError);
      }
      expect(() => scopes.ids("fhir:Observation" as unknown as string[])).to.throw(InvalidInputError, /scopes/);
      const error = thrown(() => scopes.ids(["fhir:Observation", "fhir:observation"]));
      expect(error).to.be.instanceOf(InvalidScopeError);
      expect((error as InvalidScopeError).field).to.equal("scopes[1]");
    });
  });

  describe("forRecord", () => {
    it("lists the ids of the record, its FHIR type and its categories, in that order, without duplicates", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      const record = { cid: CID, resourceType: "Observation", categories: ["laboratory", "laboratory", "vital-signs"] };
      const ids = scopes.forRecord(record);
      expect(ids).to.deep.equal([
        IDS[PATIENT]![`record:${CID}`],
        IDS[PATIENT]!["fhir:Observation"],
        scopes.id("category:laboratory"),
        scopes.id("category:vital-signs"),
      ]);
      expect(ids).to.deep.equal(scopes.ids(scopesForRecord(record)));
      expect(scopes.forRecord({ categories: ["substance-use"] })).to.deep.equal([
        IDS[PATIENT]!["category:substance-use"],
      ]);
      expect(scopes.forRecord({})).to.deep.equal([]);
    });

    it("refuses a record with a bad FHIR type or category", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      expect(() => scopes.forRecord({ resourceType: "observation" })).to.throw(
        InvalidScopeError,
        /use fhir:Observation/,
      );
      expect(() => scopes.forRecord({ categories: ["labs"] })).to.throw(InvalidScopeError, /unknown category/);
    });

    it("names a bad category by its place in the record (categories[i]), and a scope prefix where a bare value belongs", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      const prefixed = thrown(() => scopes.forRecord({ categories: ["laboratory", "category:imaging"] }));
      expect(prefixed).to.be.instanceOf(InvalidScopeError);
      expect((prefixed as InvalidScopeError).field).to.equal("categories[1]");
      expect((prefixed as Error).message).to.match(/has the scope prefix.*"imaging"/);
      const unknown = thrown(() => scopes.forRecord({ categories: ["labs"] }));
      expect((unknown as InvalidScopeError).field).to.equal("categories[0]");
      const type = thrown(() => scopes.forRecord({ resourceType: "fhir:Observation" }));
      expect((type as InvalidScopeError).field).to.equal("resourceType");
      expect((type as Error).message).to.match(/"Observation"/);
      const notList = thrown(() => scopes.forRecord({ categories: "laboratory" as unknown as string[] }));
      expect((notList as InvalidScopeError).field).to.equal("categories");
      expect(thrown(() => scopes.forRecord(null as never)))
        .to.be.instanceOf(InvalidInputError)
        .with.property("field", "record");
    });
  });

  describe("label", () => {
    it("recovers every FHIR type and category, and known CIDs and studies", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      for (const type of FHIR_R4_RESOURCE_TYPES)
        expect(scopes.label(scopes.id(`fhir:${type}`))).to.equal(`fhir:${type}`);
      for (const category of CONSENT_CATEGORIES) {
        expect(scopes.label(scopes.id(`category:${category}`))).to.equal(`category:${category}`);
      }
      const known = { cids: [CID], studies: ["diabetes-2026"] };
      expect(scopes.label(IDS[PATIENT]![`record:${CID}`]!, known)).to.equal(`record:${CID}`);
      expect(scopes.label(IDS[PATIENT]!["study:diabetes-2026"]!, known)).to.equal("study:diabetes-2026");
      expect(scopes.label(IDS[PATIENT]!["category:substance-use"]!.toUpperCase().replace("0X", "0x"))).to.equal(
        "category:substance-use",
      );
    });

    it("returns undefined for a foreign id, another patient's id, another consent address's id and an unknown CID", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      const otherPatient = new PatientScopes(testScopeKey(PATIENT), PATIENT);
      const known = { cids: [CID], studies: ["diabetes-2026"] };
      expect(scopes.label(hexlify(randomBytes(32)), known)).to.equal(undefined);
      expect(scopes.label(otherPatient.id("category:substance-use"), known)).to.equal(undefined);
      expect(scopes.label(otherPatient.id(`record:${CID}`), known)).to.equal(undefined);
      for (const id of Object.values(IDS[ACCOUNTS[0]!.address]!)) expect(scopes.label(id, known)).to.equal(undefined);
      // A CID or study the wallet was not told about stays unreadable, even to the wallet.
      expect(scopes.label(IDS[PATIENT]![`record:${CID}`]!)).to.equal(undefined);
      expect(scopes.label(IDS[PATIENT]!["study:diabetes-2026"]!, { cids: [CID] })).to.equal(undefined);
      expect(scopes.label("not an id")).to.equal(undefined);
    });
  });

  describe("label's known values", () => {
    it("refuses a bad known list, naming it, whatever the id (a category's id included)", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      const cases: [unknown, string, typeof InvalidInputError][] = [
        [null, "known", InvalidInputError],
        [{ cids: CID }, "known.cids", InvalidInputError],
        [{ studies: "diabetes-2026" }, "known.studies", InvalidInputError],
        [{ cids: [CID, "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"] }, "known.cids[1]", InvalidScopeError],
        [{ studies: ["Diabetes"] }, "known.studies[0]", InvalidScopeError],
      ];
      for (const id of [IDS[PATIENT]!["category:substance-use"]!, hexlify(randomBytes(32))]) {
        for (const [known, field, type] of cases) {
          const error = thrown(() => scopes.label(id, known as { cids?: string[] }));
          expect(error, field).to.be.instanceOf(type);
          expect((error as InvalidInputError).field).to.equal(field);
        }
      }
    });
  });

  describe("construction", () => {
    it("refuses a scope key that is not 32 bytes, naming scopeKey", () => {
      for (const bad of [new Uint8Array(31), new Uint8Array(33), SCOPE_KEY, "0x" + SCOPE_KEY, undefined, [1, 2]]) {
        const error = thrown(() => new PatientScopes(bad as Uint8Array, PATIENT));
        expect(error).to.be.instanceOf(InvalidInputError);
        expect((error as InvalidInputError).code).to.equal("INVALID_INPUT");
        expect((error as InvalidInputError).field).to.equal("scopeKey");
        expect((error as Error).message).to.match(/expected 32 bytes \(deriveScopeKey from @hygeia\/crypto\)/);
      }
    });

    it("says how many bytes it got, and refuses a consent secret from @hygeia/crypto given as the scope key", () => {
      expect(thrown(() => new PatientScopes(new Uint8Array(64), PATIENT))).to.have.property(
        "message",
        "scopeKey: expected 32 bytes (deriveScopeKey from @hygeia/crypto), got 64 bytes",
      );
      const consentSecret = deriveConsentSecretFromKeystoreSecret(new Uint8Array(32).fill(7));
      const error = thrown(() => new PatientScopes(consentSecret, PATIENT));
      expect(error).to.be.instanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).to.equal("scopeKey");
      expect((error as Error).message).to.match(/this is the consent secret, not the scope key: pass deriveScopeKey/);
      expect(new PatientScopes(deriveScopeKey(consentSecret), PATIENT).consentAddress).to.equal(PATIENT);
    });

    it("refuses a bad consent address (not hex, wrong length, bad checksum), naming consentAddress", () => {
      const badChecksum = "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266"; // PATIENT with its first letter's case flipped
      for (const bad of ["alice", "0x1234", PATIENT + "00", badChecksum, 7]) {
        const error = thrown(() => new PatientScopes(key(), bad as string));
        expect(error, String(bad)).to.be.instanceOf(InvalidInputError);
        expect((error as InvalidInputError).field).to.equal("consentAddress");
      }
      expect(() => new PatientScopes(key(), PATIENT).forAddress("0x12")).to.throw(InvalidInputError, /consentAddress/);
    });

    it("never echoes a key or seed passed as a string: refusals name its type and length only", async () => {
      const hexKey = "0x" + SCOPE_KEY;
      const base64Seed = Buffer.alloc(64, 0xcd).toString("base64"); // 88 characters
      const shortHexSeed = "cd".repeat(32); // 64 characters: a seed of the wrong length, as hex
      const errors = [
        thrown(() => new PatientScopes(hexKey as never, PATIENT)),
        thrown(() => new PatientScopes(SCOPE_KEY as never, PATIENT)),
        thrown(() => consentAccountFor(new Uint8Array(64), 0, hexKey as never)),
        thrown(() => consentAccount(shortHexSeed as never, 0)),
        thrown(() => consentAccount(base64Seed as never, 0)),
        await findConsentAccounts({ getLogs: () => Promise.resolve([]) } as never, shortHexSeed as never, {
          registry: PATIENT,
        }).then(
          () => expect.fail("expected a refusal"),
          (error: unknown) => error,
        ),
      ];
      for (const error of errors) {
        expect(error).to.be.instanceOf(InvalidInputError);
        const shown = `${(error as Error).message}\n${(error as Error).stack}\n${JSON.stringify(error)}`;
        for (const secret of [SCOPE_KEY, shortHexSeed, base64Seed]) expect(shown).not.to.include(secret.slice(0, 24));
        expect((error as Error).message).to.match(/got a \d+-character string/);
      }
    });

    it("keeps the key out of JSON.stringify and util.inspect", () => {
      const scopes = new PatientScopes(key(), PATIENT);
      scopes.label(IDS[PATIENT]!["fhir:Observation"]!); // fills the vocabulary cache too
      const shown = JSON.stringify(scopes) + inspect(scopes, { showHidden: true, depth: 10 });
      expect(shown).to.include(PATIENT);
      expect(shown).not.to.include(SCOPE_KEY);
      expect(shown).not.to.include(Buffer.from(SCOPE_KEY, "hex").toString("base64"));
      expect(shown).not.to.match(/81, 251, 137, 123/); // the key's first bytes, as util.inspect prints a Uint8Array
      expect(Object.keys(scopes)).to.deep.equal(["consentAddress"]);
    });
  });
});
