import { expect } from "chai";
import { TypedDataEncoder, computeAddress, getBytes, type HDNodeWallet } from "ethers";
import {
  CONSENT_ADDRESS_LINK_TYPES,
  ChainRequestError,
  ChainUnavailableError,
  ConsentAddressLinkError,
  ConsentRegistryClient,
  ContractNotDeployedError,
  HygeiaChainError,
  InvalidInputError,
  MAX_CONSENT_ACCOUNT_INDEX,
  MAX_LINK_CLOCK_SKEW_SECONDS,
  PatientScopes,
  consentAccount,
  consentAccountFor,
  consentAccountPath,
  consentDomain,
  findConsentAccounts,
  signConsentAddressLink,
  verifyConsentAddressLink,
  type SignedConsentAddressLink,
} from "../src/index.ts";
import { connectProvider, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { startRpcProxy } from "./support/rpc-proxy.ts";
import { refusal, rejection, thrown } from "./support/settle.ts";
import { relayGrant, seedOf } from "./support/consent-accounts.ts";
import { testScopeKey } from "./support/scopes.ts";
import { referenceHardenedKey } from "../../../test/reference/private-scopes.ts";

const scopeKey = testScopeKey("pairwise patient");
const linkFields = { ConsentAddressLink: CONSENT_ADDRESS_LINK_TYPES.ConsentAddressLink.map((field) => ({ ...field })) };

describe("consent accounts: derivation", () => {
  it("the reference BIP-32 derivation reproduces BIP-32 test vector 1 (m/0H)", () => {
    const seed = getBytes("0x000102030405060708090a0b0c0d0e0f");
    expect(referenceHardenedKey(seed, [0])).to.equal(
      "0xedb2e14f9ee77d26dd93b4ecede8d16ed408ce149b6cd80b0715a2d911a0afea",
    );
  });

  it("account i is the BIP-32 node m/7424'/i' of the seed, as an independent BIP-32 derivation computes it", () => {
    const seed = seedOf("derivation");
    for (const index of [0, 1, 2, 19, 1000, MAX_CONSENT_ACCOUNT_INDEX]) {
      const account = consentAccount(seed, index);
      const expected = referenceHardenedKey(seed, [7424, index]);
      expect(account.privateKey, `index ${index}`).to.equal(expected);
      expect(account.address).to.equal(computeAddress(expected));
      expect(account.path).to.equal(consentAccountPath(index));
    }
    expect(consentAccountPath(3)).to.equal("m/7424'/3'");
  });

  it("is deterministic: the same seed gives the same accounts, another seed or index other ones", () => {
    const seed = seedOf("deterministic");
    const again = Uint8Array.from(seed);
    expect(consentAccount(again, 4).address).to.equal(consentAccount(seed, 4).address);
    const addresses = new Set([
      consentAccount(seed, 0).address,
      consentAccount(seed, 1).address,
      consentAccount(seedOf("another wallet"), 0).address,
    ]);
    expect(addresses.size).to.equal(3);
  });

  it("says how many bytes a wrong seed has, and hints deriveConsentAccountSeed for 32 (a consent secret or scope key)", () => {
    const secretLike = refusal(() => consentAccountFor(new Uint8Array(32), 0, scopeKey));
    expect(secretLike.field).to.equal("consentAccountSeed");
    expect(secretLike.message).to.match(
      /got 32 bytes: the consent secret or the scope key\? .*deriveConsentAccountSeed/,
    );
    expect(refusal(() => consentAccount(new Uint8Array(16), 0)).message).to.match(/got 16 bytes$/);
    expect(refusal(() => consentAccount(null as never, 0)).message).to.match(/got null$/);
  });

  it("refuses a seed that is not 64 bytes and an index outside 0..2^31-1", () => {
    expect(refusal(() => consentAccount(new Uint8Array(32), 0)).field).to.equal("consentAccountSeed");
    expect(refusal(() => consentAccount("0x00" as unknown as Uint8Array, 0)).field).to.equal("consentAccountSeed");
    for (const index of [-1, 1.5, MAX_CONSENT_ACCOUNT_INDEX + 1, Number.NaN]) {
      expect(refusal(() => consentAccount(seedOf("x"), index)).field, String(index)).to.equal("index");
    }
  });

  it("consentAccountFor keys its scope ids under the pairwise address: one category, unrelated ids under main and pairwise", () => {
    const main = walletAt(2).address;
    const pairwise = consentAccountFor(seedOf("ids"), 0, scopeKey);
    const mainScopes = new PatientScopes(scopeKey, main);
    expect(pairwise.address).to.equal(consentAccount(seedOf("ids"), 0).address);
    expect(pairwise.scopes.consentAddress).to.equal(pairwise.address);
    expect(pairwise.scopes.id("category:laboratory")).to.equal(
      mainScopes.forAddress(pairwise.address).id("category:laboratory"),
    );
    expect(pairwise.scopes.id("category:laboratory")).to.not.equal(mainScopes.id("category:laboratory"));
    expect(refusal(() => consentAccountFor(seedOf("ids"), 0, new Uint8Array(31))).field).to.equal("scopeKey");
  });
});

describe("consent accounts: ConsentAddressLink", () => {
  const domain = consentDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
  const patient = walletAt(2);
  const otherPatient = walletAt(7);
  const clinic = walletAt(3).address;
  const consent = consentAccount(seedOf("link"), 0);
  const otherConsent = consentAccount(seedOf("other patient's seed"), 0);
  let link: SignedConsentAddressLink;

  before(async () => {
    link = await signConsentAddressLink(patient, consent, { grantee: clinic }, domain);
  });

  function linkError(call: () => unknown): ConsentAddressLinkError {
    const error = thrown(call);
    expect(error).to.be.instanceOf(ConsentAddressLinkError);
    expect((error as ConsentAddressLinkError).code).to.equal("INVALID_CONSENT_ADDRESS_LINK");
    return error as ConsentAddressLinkError;
  }

  it("round trip: a link signed by the patient and its consent account verifies, also after JSON", () => {
    const now = Math.floor(Date.now() / 1000);
    expect(link.patient).to.equal(patient.address);
    expect(link.consentAddress).to.equal(consent.address);
    expect(link.grantee).to.equal(clinic);
    expect(link.issuedAt).to.be.within(now - 5, now + 5);
    expect(verifyConsentAddressLink(JSON.parse(JSON.stringify(link)), domain)).to.deep.equal(link);
  });

  /** `signer`'s EIP-712 signature over `message` as a ConsentAddressLink (whoever the message names). */
  function signAs(
    signer: HDNodeWallet,
    message: Omit<SignedConsentAddressLink, "patientSignature" | "consentSignature">,
  ) {
    const { patient: p, consentAddress, grantee, issuedAt } = message;
    return signer.signTypedData(domain, linkFields, { patient: p, consentAddress, grantee, issuedAt });
  }

  it("has the EIP-712 type ConsentAddressLink(address patient,address consentAddress,address grantee,uint64 issuedAt)", () => {
    expect(TypedDataEncoder.from(linkFields).encodeType("ConsentAddressLink")).to.equal(
      "ConsentAddressLink(address patient,address consentAddress,address grantee,uint64 issuedAt)",
    );
  });

  it("refuses a link whose patient signature is by another patient (a foreign address attached to the patient)", async () => {
    // otherPatient signs "consent acts for patient": it recovers to otherPatient, not to the patient named.
    const forged = { ...link, patientSignature: await signAs(otherPatient, link) };
    const error = linkError(() => verifyConsentAddressLink(forged, domain));
    expect(error.field).to.equal("patientSignature");
    expect(error.expected).to.equal(patient.address);
    expect(error.actual).to.equal(otherPatient.address);
  });

  it("refuses another patient claiming this patient's consent address: the consent signature is missing or foreign", async () => {
    // otherPatient signs "consent.address acts for otherPatient" with its own key, but cannot sign as consent.
    const claim = { ...link, patient: otherPatient.address };
    const claimed = { ...claim, patientSignature: await signAs(otherPatient, claim) };
    for (const [consentSignature, by] of [
      [link.consentSignature, undefined], // the real link's consent signature, over another message
      [await signAs(otherConsent, claim), otherConsent.address], // the claimant's own consent account
    ] as const) {
      const error = linkError(() => verifyConsentAddressLink({ ...claimed, consentSignature }, domain));
      expect(error.field).to.equal("consentSignature");
      expect(error.expected).to.equal(consent.address);
      expect(error.actual).to.be.a("string").and.not.equal(consent.address);
      if (by) expect(error.actual).to.equal(by);
    }
    const withoutConsent = Object.fromEntries(Object.entries(link).filter(([key]) => key !== "consentSignature"));
    for (const missing of [withoutConsent, { ...link, consentSignature: "0x1234" }]) {
      const error = linkError(() => verifyConsentAddressLink(missing, domain));
      expect(error.field).to.equal("consentSignature");
      expect(error.actual).to.equal(undefined);
    }
  });

  it("refuses a link with a field changed after signing", () => {
    for (const tampered of [
      { ...link, grantee: walletAt(4).address },
      { ...link, issuedAt: link.issuedAt - 1 },
      { ...link, consentAddress: otherConsent.address },
    ]) {
      expect(linkError(() => verifyConsentAddressLink(tampered, domain)).field).to.equal("patientSignature");
    }
  });

  it("refuses a link under another chain or another registry", () => {
    for (const other of [
      consentDomain(1, domain.verifyingContract),
      consentDomain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
    ]) {
      expect(linkError(() => verifyConsentAddressLink(link, other)).field).to.equal("patientSignature");
    }
  });

  it("refuses a link issued in the future beyond the clock skew, and malformed fields", async () => {
    const now = Math.floor(Date.now() / 1000);
    const late = await signConsentAddressLink(patient, consent, { grantee: clinic, issuedAt: now }, domain);
    const early = (now - MAX_LINK_CLOCK_SKEW_SECONDS - 10) * 1000;
    expect(refusal(() => verifyConsentAddressLink(late, domain, { now: early })).field).to.equal("issuedAt");
    const future = now + MAX_LINK_CLOCK_SKEW_SECONDS + 60;
    const error = await rejection(
      signConsentAddressLink(patient, consent, { grantee: clinic, issuedAt: future }, domain),
    );
    expect(error).to.be.instanceOf(InvalidInputError).with.property("field", "issuedAt");
    expect(refusal(() => verifyConsentAddressLink({ ...link, grantee: "0x12" }, domain)).field).to.equal("grantee");
    expect(refusal(() => verifyConsentAddressLink(null, domain)).field).to.equal("link");
    expect(refusal(() => verifyConsentAddressLink(link, domain, null as never)).field).to.equal("options");
    expect(refusal(() => verifyConsentAddressLink(link, domain, { now: "soon" } as never)).field).to.equal("now");
  });

  it("refuses a consent account's private key passed as its signer without showing it, and a signer that cannot sign", async () => {
    const asKey = (await rejection(
      signConsentAddressLink(patient, consent.privateKey as never, { grantee: clinic }, domain),
    )) as Error;
    expect(asKey).to.be.instanceOf(InvalidInputError).with.property("field", "consentSigner");
    expect(asKey.message).to.not.include(consent.privateKey.slice(2, 18));
    const noMethods = await rejection(
      signConsentAddressLink({ address: patient.address } as never, consent, { grantee: clinic }, domain),
    );
    expect(noMethods).to.be.instanceOf(InvalidInputError).with.property("field", "patientSigner");
    const provider = { request: () => Promise.reject(new Error("must not be asked")) };
    const keyAsAccount = (await rejection(
      signConsentAddressLink({ eip1193: provider, account: consent.privateKey }, consent, { grantee: clinic }, domain),
    )) as Error;
    expect(keyAsAccount).to.be.instanceOf(InvalidInputError).with.property("field", "patientSigner.account");
    expect(keyAsAccount.message).to.match(/32 bytes of hex/);
    expect(keyAsAccount.message).to.not.include(consent.privateKey.slice(2, 18));
  });

  it("refuses to link the patient's own address or to name the patient as grantee", async () => {
    const self = await rejection(signConsentAddressLink(patient, patient, { grantee: clinic }, domain));
    expect(self).to.be.instanceOf(InvalidInputError).with.property("field", "consentAddress");
    const toSelf = await rejection(signConsentAddressLink(patient, consent, { grantee: patient.address }, domain));
    expect(toSelf).to.be.instanceOf(InvalidInputError).with.property("field", "grantee");
  });
});

describe("consent accounts on chain", function () {
  this.timeout(120_000);
  let t: TestChain;
  let relayer: ConsentRegistryClient;
  let registry: string;
  const patient = walletAt(2);
  const clinicA = walletAt(3).address;
  const clinicB = walletAt(4).address;
  const clinicC = walletAt(5).address;

  before(async () => {
    t = await startTestChain();
    registry = t.deployment.contracts.ConsentRegistry;
    relayer = new ConsentRegistryClient(registry, t.signer(9));
  });
  after(async () => {
    await t?.stop();
  });

  it("a pairwise account grants by signature through a relayer; the clinic is allowed under the pairwise address and ids; the main address appears nowhere in the transaction", async () => {
    const pairwise = consentAccountFor(seedOf("grant"), 0, scopeKey);
    const mainScopes = new PatientScopes(scopeKey, patient.address);
    const scope = pairwise.scopes.id("category:laboratory");
    const outcome = await relayGrant(relayer, pairwise.account, clinicA, scope);

    const clinicView = new ConsentRegistryClient(registry, t.provider);
    const key = { patient: pairwise.address, grantee: clinicA, purpose: "Treatment" };
    expect(await clinicView.isAllowed({ ...key, scope })).to.equal(true);
    const access = await clinicView.checkRecordAccess({
      patient: pairwise.address,
      grantee: clinicA,
      purpose: "Treatment",
      record: { scopeIds: pairwise.scopes.ids(["fhir:Observation", "category:laboratory"]) },
    });
    expect(access).to.include({ allowed: true, scope });
    // Ids are keyed by address: the main address's id for the same category is another slot.
    expect(mainScopes.id("category:laboratory")).to.not.equal(scope);
    expect(
      await clinicView.isAllowed({ ...key, patient: patient.address, scope: mainScopes.id("category:laboratory") }),
    ).to.equal(false);

    const tx = await t.provider.getTransaction(outcome.hash);
    const receipt = await t.provider.getTransactionReceipt(outcome.hash);
    const main = patient.address.slice(2).toLowerCase();
    const mainId = mainScopes.id("category:laboratory").slice(2);
    expect(tx!.from).to.equal(walletAt(9).address);
    const seen = [tx!.data, ...receipt!.logs.flatMap((log) => [...log.topics, log.data])].join("").toLowerCase();
    expect(seen).to.include(pairwise.address.slice(2).toLowerCase());
    expect(seen).to.not.include(main);
    expect(seen).to.not.include(mainId);
    expect(await t.provider.getBalance(pairwise.address)).to.equal(0n); // it never needed ETH
  });

  it("signs a link with the patient's wallet through EIP-1193 (eth_signTypedData_v4) and the consent account's key", async () => {
    const ethereum = {
      request: ({ method, params }: { method: string; params?: readonly unknown[] }) =>
        t.provider.send(method, [...(params ?? [])]),
    };
    const domain = await relayer.domain();
    const consent = consentAccount(seedOf("eip1193"), 0);
    const link = await signConsentAddressLink(
      { eip1193: ethereum, account: patient.address },
      consent,
      { grantee: clinicA },
      domain,
    );
    expect(verifyConsentAddressLink(link, domain)).to.deep.include({
      patient: patient.address,
      consentAddress: consent.address,
      grantee: clinicA,
    });
  });

  describe("recovery from the seed alone", () => {
    const seed = seedOf("recovery");
    const account = (index: number) => consentAccountFor(seed, index, scopeKey);

    before(async () => {
      // Accounts 0, 1, 3 and 7 are used; 2 and 4..6 are not.
      await relayGrant(relayer, account(0).account, clinicA, account(0).scopes.id("category:laboratory"));
      await relayGrant(relayer, account(0).account, clinicA, account(0).scopes.id("category:imaging"));
      await relayGrant(relayer, account(1).account, clinicB, account(1).scopes.id("fhir:Observation"));
      await relayGrant(relayer, account(3).account, clinicC, account(3).scopes.id("category:medication"));
      await relayGrant(relayer, account(7).account, clinicA, account(7).scopes.id("category:allergy"));
    });

    it("finds accounts 0, 1 and 3 with their grantees and events (2 unused), and not 7 beyond a gap of 3 with gapLimit 2", async () => {
      const scan = await findConsentAccounts(t.provider, seed, {
        registry,
        fromBlock: t.deployment.deployedAt.block,
        gapLimit: 2,
      });
      expect(scan.accounts.map((a) => a.index)).to.deep.equal([0, 1, 3]);
      expect(scan.accounts.map((a) => a.address)).to.deep.equal([0, 1, 3].map((i) => account(i).address));
      expect(scan.accounts.map((a) => a.grantees)).to.deep.equal([[clinicA], [clinicB], [clinicC]]);
      expect(scan.accounts[0]!.events.map((e) => [e.type, "scope" in e ? e.scope : undefined])).to.deep.equal([
        ["ConsentGranted", account(0).scopes.id("category:laboratory")],
        ["ConsentGranted", account(0).scopes.id("category:imaging")],
      ]);
      expect(scan.accounts[2]!.account.privateKey).to.equal(account(3).account.privateKey);
      expect(scan.nextIndex).to.equal(4);
      expect(scan.toBlock).to.equal(await t.provider.getBlockNumber());
    });

    it("finds account 7 too with a gap limit above the gap, through a client and in small block ranges", async () => {
      const client = new ConsentRegistryClient(registry, t.provider);
      const scan = await findConsentAccounts(client, seed, { gapLimit: 4, maxBlockRange: 2 });
      expect(scan.accounts.map((a) => a.index)).to.deep.equal([0, 1, 3, 7]);
      expect(scan.accounts[3]!.grantees).to.deep.equal([clinicA]);
      expect(scan.nextIndex).to.equal(8);
    });

    it("finds nothing for a seed that never granted (next index 0)", async () => {
      const scan = await findConsentAccounts(t.provider, seedOf("unused wallet"), { registry, gapLimit: 3 });
      expect(scan.accounts).to.deep.equal([]);
      expect(scan.nextIndex).to.equal(0);
    });

    it("refuses bad options, a bad seed or source, and a fromBlock above the head", async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ registry, gapLimit: 0 }, "gapLimit"],
        [{ registry, gapLimit: 1.5 }, "gapLimit"],
        [{ registry, gapLimit: 101 }, "gapLimit"],
        [{ registry, fromBlock: -1 }, "fromBlock"],
        [{ registry, maxBlockRange: 0 }, "maxBlockRange"],
        [{ registry, readTimeoutMs: 0 }, "readTimeoutMs"],
        [{ registry: "0x1234" }, "registry"],
        [{}, "registry"],
      ];
      for (const [options, field] of cases) {
        const error = await rejection(findConsentAccounts(t.provider, seed, options));
        expect(error, field).to.be.instanceOf(InvalidInputError).with.property("field", field);
      }
      const badSeed = await rejection(findConsentAccounts(t.provider, new Uint8Array(16), { registry }));
      expect(badSeed).to.be.instanceOf(InvalidInputError).with.property("field", "consentAccountSeed");
      const badSource = await rejection(findConsentAccounts({} as never, seed, { registry }));
      expect(badSource).to.be.instanceOf(InvalidInputError).with.property("field", "source");
      const client = new ConsentRegistryClient(registry, t.provider);
      const otherRegistry = await rejection(findConsentAccounts(client, seed, { registry: walletAt(8).address }));
      expect(otherRegistry).to.be.instanceOf(InvalidInputError).with.property("field", "registry");
      const aboveHead = await rejection(findConsentAccounts(t.provider, seed, { registry, fromBlock: 1_000_000 }));
      expect(aboveHead).to.be.instanceOf(InvalidInputError).with.property("field", "fromBlock");
    });

    it("refuses an address without registry code instead of answering 'no accounts'", async () => {
      const error = await rejection(findConsentAccounts(t.provider, seed, { registry: walletAt(8).address }));
      expect(error).to.be.instanceOf(ContractNotDeployedError);
    });

    it("fails with typed errors when the node does not answer eth_getLogs or refuses it", async () => {
      const proxy = await startRpcProxy(t.chain.rpcUrl);
      const provider = connectProvider(proxy.url);
      try {
        proxy.rules.set("eth_getLogs", { hang: true });
        const hung = await rejection(findConsentAccounts(provider, seed, { registry, readTimeoutMs: 300 }));
        expect(hung).to.be.instanceOf(ChainUnavailableError);
        proxy.rules.set("eth_getLogs", { error: { code: -32005, message: "query exceeds max block range 1000" } });
        const refused = await rejection(findConsentAccounts(provider, seed, { registry }));
        expect(refused).to.be.instanceOf(HygeiaChainError);
        expect(refused).to.be.instanceOf(ChainRequestError);
      } finally {
        provider.destroy();
        await proxy.close();
      }
    });
  });
});
