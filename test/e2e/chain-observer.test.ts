// Issue 17's acceptance test: after a patient journey played through the public APIs as the wallet would (real
// anvil chain, real crypto, real Helia on disk), a chain observer reading every transaction and every log finds
// none of the public scope vocabulary (hashed every way it would try), no CID of the run, no canary from inside
// the records and no DID document value; a pairwise consent account's transactions do not name the patient.
// A positive control on the same chain (a grant with the old public scope hash, a CID in calldata) proves the
// scanner finds what is there; its transactions are then left out of the main assertion by hash.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { concat, hexlify, keccak256, toUtf8Bytes, type HDNodeWallet } from "ethers";
import {
  AuditAnchorClient,
  CONSENT_CATEGORIES,
  ConsentRegistryClient,
  PatientScopes,
  TrustRegistryClient,
  TrustRole,
  categoryScope,
  consentAccount,
  fhirScope,
  parseConsentLog,
  recordScope,
  signEmergencyGrantee,
  signGrant,
  signRevoke,
  startLocalDeployment,
  studyScope,
  type ConsentSlotEvent,
  type LocalDeployment,
  type RecordDescriptor,
  blindEmergencyScopes,
  emergencyScopesRoot,
} from "@hygeia/chain";
import {
  deriveConsentAccountSeed,
  deriveConsentSecretFromKeystoreSecret,
  deriveConsentSecretFromWalletSignature,
  deriveKeyPairFromKeystoreSecret,
  deriveKeyPairFromWalletSignature,
  deriveScopeKey,
  encryptToBuffer,
  generateDataKey,
  keyDerivationTypedDataForEthers,
  x25519PublicKeyToBase64,
} from "@hygeia/crypto";
import { IdentityAgent, ethrNetworkFromDeployment } from "@hygeia/identity";
import { HeliaContentStore, type PutResult } from "@hygeia/storage";
import {
  addressNeedles,
  bytesNeedle,
  cidNeedles,
  guessableKeyIdNeedles,
  observeChain,
  publicVocabulary,
  scan,
  utf8Needle,
  type ChainObservation,
  type Hit,
  type Needle,
} from "./support/chain-observer.ts";

// Canaries: text that exists only inside the encrypted records (and the study titles, only in the wallet's UI).
const PATIENT_NAME = { given: "Zebediah", family: "Quillfeather" };
const FREE_TEXT = [
  "canary: tingling in the left hand since the ferry crossing to Inishmore",
  "canary: panic attacks before night shifts, started after the Marlowe Street fire",
];
const STUDIES = [
  { id: "night-shift-sleep", title: "Sleep architecture of night-shift nurses (canary study one)" },
  { id: "long-covid-cohort", title: "Long COVID fatigue cohort Aldebaran (canary study two)" },
];
const THIRTY_DAYS = 30 * 86_400;

interface RunRecord {
  readonly owner: "A" | "B";
  readonly cid: PutResult["cid"];
  readonly descriptor: RecordDescriptor & { cid: string };
}

describe("chain observer: what a patient journey leaves on chain (issue 17, private scopes)", function () {
  let local: LocalDeployment;
  let dir: string;
  let store: HeliaContentStore;
  let agent: IdentityAgent;
  let registryAddress: string;
  let patientA: HDNodeWallet;
  let patientB: HDNodeWallet;
  let scopesA: PatientScopes;
  let scopesB: PatientScopes;
  let pairwise: HDNodeWallet;
  let pairScopes: PatientScopes;
  let clinic: string;
  let clinic2: string;
  let researcher: string;
  let didA: string;
  let didB: string;
  let x25519A: Uint8Array;
  let x25519B: Uint8Array;
  let keyPublishTxs: ReadonlySet<string>;
  const records: RunRecord[] = [];
  const journeyChecks: { name: string; ok: boolean }[] = [];
  let controlGrantTx: string;
  let controlCidTx: string;
  let controlCid: PutResult["cid"];
  let observation: ChainObservation;
  let needles: Needle[];
  let vocabularySize: number;
  let hits: Hit[];

  before(async function () {
    const started = Date.now();
    local = await startLocalDeployment({ gatewayAccounts: [1] });
    const { deployment, provider, account } = local;
    registryAddress = deployment.contracts.ConsentRegistry;
    dir = await mkdtemp(join(tmpdir(), "hygeia-chain-observer-"));
    store = await HeliaContentStore.create({ dataDir: join(dir, "ipfs") });
    const now = Math.floor(Date.now() / 1000);
    const expiry = now + THIRTY_DAYS;
    const deadline = now + 600;

    const relayerSigner = account(1); // also the audit gateway
    patientA = account(2);
    patientB = account(3);
    clinic = account(4).address;
    clinic2 = account(5).address;
    researcher = account(6).address;
    const erSigner = account(7);

    // ── The patients' wallet-held secrets ────────────────────────────────────────────────────────────────────
    // A: a browser wallet's key-derivation signature (the one the X25519 key also comes from).
    const { domain, types, message } = keyDerivationTypedDataForEthers();
    const signature = await patientA.signTypedData(domain, types, message);
    const secretA = deriveConsentSecretFromWalletSignature(signature, { expectedAddress: patientA.address });
    scopesA = new PatientScopes(deriveScopeKey(secretA), patientA.address);
    x25519A = deriveKeyPairFromWalletSignature(signature, { expectedAddress: patientA.address }).publicKey;
    // B: a CLI keystore secret.
    const keystoreSecret = randomBytes(32);
    scopesB = new PatientScopes(
      deriveScopeKey(deriveConsentSecretFromKeystoreSecret(keystoreSecret)),
      patientB.address,
    );
    x25519B = deriveKeyPairFromKeystoreSecret(keystoreSecret).publicKey;
    // A's pairwise consent account for the second clinic: never funded, its grants are relayed.
    pairwise = consentAccount(deriveConsentAccountSeed(secretA), 0);
    pairScopes = scopesA.forAddress(pairwise.address);

    // ── DIDs: A publishes its X25519 key in its did:ethr document as the wallet does (ERC-1056 attribute);
    // B publishes nothing, so B's key must appear nowhere. ─────────────────────────────────────────────────
    agent = await IdentityAgent.create({ network: ethrNetworkFromDeployment(deployment, local.rpcUrl) });
    didA = (await agent.importEthrDid(patientA.privateKey)).did;
    didB = (await agent.importEthrDid(patientB.privateKey)).did;
    const published = await agent.publishEncryptionKey(didA, x25519A);
    keyPublishTxs = new Set(published.transactions.map((hash) => hash.toLowerCase()));

    // ── Records: FHIR resources encrypted with @hygeia/crypto, the ciphertext added to Helia (real CIDs) ─────
    const addRecord = async (
      owner: "A" | "B",
      resource: Record<string, unknown>,
      categories: readonly string[],
    ): Promise<RunRecord> => {
      const dek = generateDataKey();
      const ciphertext = await encryptToBuffer(toUtf8Bytes(JSON.stringify(resource)), dek);
      const { cid } = await store.put(ciphertext);
      const record = {
        owner,
        cid,
        descriptor: { cid: cid.toString(), resourceType: String(resource["resourceType"]), categories },
      };
      records.push(record);
      return record;
    };
    const name = [{ family: PATIENT_NAME.family, given: [PATIENT_NAME.given] }];
    await addRecord("A", { resourceType: "Patient", name, birthDate: "1979-03-14" }, ["demographics"]);
    const labA = await addRecord(
      "A",
      {
        resourceType: "Observation",
        code: { text: "HbA1c" },
        valueQuantity: { value: 6.1 },
        note: [{ text: FREE_TEXT[0] }],
      },
      ["laboratory"],
    );
    const mentalA = await addRecord(
      "A",
      { resourceType: "Condition", code: { text: "panic disorder" }, note: [{ text: FREE_TEXT[1] }] },
      ["mental-health"],
    );
    await addRecord("A", { resourceType: "MedicationStatement", medication: { text: "naltrexone" } }, [
      "substance-use",
      "medication",
    ]);
    const reproA = await addRecord("A", { resourceType: "Observation", code: { text: "hCG" } }, [
      "reproductive-health",
      "laboratory",
    ]);
    const vitalsB = await addRecord(
      "B",
      {
        resourceType: "Observation",
        code: { text: "blood pressure" },
        subject: { display: `${PATIENT_NAME.given} ${PATIENT_NAME.family}` },
      },
      ["vital-signs"],
    );
    await addRecord("B", { resourceType: "Immunization", vaccineCode: { text: "MMR" } }, ["immunization"]);

    // ── Governance accredits the clinic; the gateway anchors an audit root ──────────────────────────────────
    const trust = new TrustRegistryClient(deployment.contracts.TrustRegistry, account(0));
    await trust.accredit({ issuer: clinic, role: TrustRole.Clinic, validFrom: now - 60, validUntil: now + 86_400 });
    const anchors = new AuditAnchorClient(deployment.contracts.AuditAnchor, relayerSigner);
    await anchors.anchor(hexlify(randomBytes(32)), 0, 3);

    // ── Consent, as the wallets send it: every category, several FHIR types, direct, relayed and batched ────
    const relayer = new ConsentRegistryClient(registryAddress, relayerSigner);
    const registryA = new ConsentRegistryClient(registryAddress, patientA);
    const registryB = new ConsentRegistryClient(registryAddress, patientB);
    const relayGrant = async (
      signer: HDNodeWallet,
      grant: { grantee: string; scope: string; purpose: "Treatment" | "Research" },
    ) => {
      const next = await relayer.nextGrantTypedData({ ...grant, patient: signer.address, expiry, deadline });
      const signed = await signGrant(signer, next.domain, { ...next.message, patient: signer.address });
      return relayer.grantBySig(signed);
    };
    const relayRevoke = async (signer: HDNodeWallet, revoke: { grantee: string; scope: string }) => {
      const next = await relayer.nextRevokeTypedData({
        ...revoke,
        purpose: "Treatment",
        patient: signer.address,
        deadline,
      });
      const signed = await signRevoke(signer, next.domain, { ...next.message, patient: signer.address });
      return relayer.revokeBySig(signed);
    };
    const categoryIds = (scopes: PatientScopes, categories: readonly string[]) =>
      categories.map((category) => scopes.id(categoryScope(category)));

    // Patient A: a third of the categories directly (A pays gas), a third relayed, the rest and FHIR types batched.
    const [directCats, relayedCats, batchedCats] = [
      CONSENT_CATEGORIES.slice(0, 7),
      CONSENT_CATEGORIES.slice(7, 14),
      CONSENT_CATEGORIES.slice(14),
    ];
    for (const scope of categoryIds(scopesA, directCats))
      await registryA.grant({ grantee: clinic, scope, purpose: "Treatment", expiry });
    for (const scope of categoryIds(scopesA, relayedCats))
      await relayGrant(patientA, { grantee: clinic, scope, purpose: "Treatment" });
    const fhirTypes = ["Observation", "Condition", "MedicationStatement", "Patient", "AllergyIntolerance"];
    await registryA.grantBatch(
      [...categoryIds(scopesA, batchedCats), ...scopesA.ids(fhirTypes.map(fhirScope))].map((scope) => ({
        grantee: clinic,
        scope,
        purpose: "Treatment",
        expiry,
      })),
    );
    // Record-level grants on the CIDs of the run: one direct, the others relayed.
    const recordsA = records.filter((record) => record.owner === "A");
    await registryA.grant({
      grantee: clinic,
      scope: scopesA.id(recordScope(labA.descriptor.cid)),
      purpose: "Treatment",
      expiry,
    });
    for (const record of recordsA.filter((r) => r !== labA))
      await relayGrant(patientA, {
        grantee: clinic,
        scope: scopesA.id(recordScope(record.descriptor.cid)),
        purpose: "Treatment",
      });
    // Revokes: billing directly, social-history relayed.
    await registryA.revoke({ grantee: clinic, scope: scopesA.id(categoryScope("billing")), purpose: "Treatment" });
    await relayRevoke(patientA, { grantee: clinic, scope: scopesA.id(categoryScope("social-history")) });
    // Study opt-ins (purpose Research, scope study:<id>) to the researcher: one direct, one relayed.
    await registryA.grant({
      grantee: researcher,
      scope: scopesA.id(studyScope(STUDIES[0]!.id)),
      purpose: "Research",
      expiry,
    });
    await relayGrant(patientA, {
      grantee: researcher,
      scope: scopesA.id(studyScope(STUDIES[1]!.id)),
      purpose: "Research",
    });

    // Emergency: a relayed registration naming keyed ids; the emergency card is the id list; the grantee breaks
    // the glass with that list only (it never sees the key or a category name).
    const emergencyIds = scopesA.ids([
      categoryScope("allergy"),
      categoryScope("medication"),
      categoryScope("mental-health"),
      fhirScope("AllergyIntolerance"),
    ]);
    // Blinded: one random id more, so the root is no subset of A's ids (which its grants show) an observer could try.
    const registration = await relayer.nextEmergencyGranteeTypedData({
      patient: patientA.address,
      grantee: erSigner.address,
      maxDurationSeconds: 3600,
      scopes: blindEmergencyScopes(emergencyIds),
      deadline,
    });
    const signedRegistration = await signEmergencyGrantee(patientA, registration.domain, {
      ...registration.message,
      patient: patientA.address,
    });
    await relayer.setEmergencyGranteeBySig(signedRegistration);
    const card = [...registration.scopes];
    const er = new ConsentRegistryClient(registryAddress, erSigner);
    await er.breakGlass(patientA.address, emergencyIds[0]!, { scopes: card });
    await er.breakGlass(patientA.address, emergencyIds[2]!, { scopes: card });
    const registeredRoot = (await relayer.emergencyGranteeOf(patientA.address, erSigner.address)).scopesRoot;
    journeyChecks.push({
      name: "the registered emergency root is the blinded card's, not the root of its scope ids alone",
      ok: registeredRoot === emergencyScopesRoot(card) && registeredRoot !== emergencyScopesRoot(emergencyIds),
    });

    // Pairwise: A's consent account grants a sensitive category to the second clinic, relayed (it has no ETH).
    const pairwiseGrantScope = pairScopes.id(categoryScope("reproductive-health"));
    await relayGrant(pairwise, { grantee: clinic2, scope: pairwiseGrantScope, purpose: "Treatment" });

    // Patient B (keystore wallet): every category and two FHIR types in one batch, record grants relayed, a
    // relayed and a direct revoke, a relayed study opt-in.
    await registryB.grantBatch(
      [
        ...categoryIds(scopesB, CONSENT_CATEGORIES),
        ...scopesB.ids([fhirScope("Observation"), fhirScope("Immunization")]),
      ].map((scope) => ({ grantee: clinic, scope, purpose: "Treatment", expiry })),
    );
    for (const record of records.filter((r) => r.owner === "B"))
      await relayGrant(patientB, {
        grantee: clinic,
        scope: scopesB.id(recordScope(record.descriptor.cid)),
        purpose: "Treatment",
      });
    await relayRevoke(patientB, { grantee: clinic, scope: scopesB.id(categoryScope("genomics")) });
    await registryB.revoke({ grantee: clinic, scope: scopesB.id(categoryScope("billing")), purpose: "Treatment" });
    await relayGrant(patientB, {
      grantee: researcher,
      scope: scopesB.id(studyScope(STUDIES[1]!.id)),
      purpose: "Research",
    });

    // ── The clinic asks with the ids the wallet attached to each record: the chain holds exactly those ──────
    const reader = new ConsentRegistryClient(registryAddress, provider);
    const access = (patient: string, grantee: string, scopeIds: readonly string[], purpose = "Treatment") =>
      reader.checkRecordAccess({ patient, grantee, record: { scopeIds }, purpose });
    const lab = await access(patientA.address, clinic, scopesA.forRecord(labA.descriptor));
    journeyChecks.push({
      name: "lab record of A allowed by its record-level grant",
      ok: lab.allowed && lab.scope === scopesA.id(recordScope(labA.descriptor.cid)),
    });
    const mental = await access(patientA.address, clinic, scopesA.forRecord({ categories: ["mental-health"] }));
    journeyChecks.push({ name: "A's mental-health category allowed (batched grant)", ok: mental.allowed });
    const billing = await access(patientA.address, clinic, scopesA.forRecord({ categories: ["billing"] }));
    journeyChecks.push({ name: "A's billing refused after the direct revoke", ok: !billing.allowed });
    const social = await access(patientA.address, clinic, scopesA.forRecord({ categories: ["social-history"] }));
    journeyChecks.push({ name: "A's social-history refused after revokeBySig", ok: !social.allowed });
    const vitals = await access(patientB.address, clinic, scopesB.forRecord(vitalsB.descriptor));
    journeyChecks.push({ name: "B's vitals record allowed", ok: vitals.allowed });
    const genomicsB = await access(patientB.address, clinic, scopesB.forRecord({ categories: ["genomics"] }));
    journeyChecks.push({ name: "B's genomics refused after revokeBySig", ok: !genomicsB.allowed });
    const crossed = await access(patientB.address, clinic, scopesA.forRecord({ categories: ["laboratory"] }));
    journeyChecks.push({ name: "A's id for a category means nothing for B", ok: !crossed.allowed });
    for (const [index, study] of STUDIES.entries()) {
      const research = await access(patientA.address, researcher, [scopesA.id(studyScope(study.id))], "Research");
      journeyChecks.push({ name: `A opted into study ${index + 1}`, ok: research.allowed });
    }
    const emergency = await access(
      patientA.address,
      erSigner.address,
      scopesA.forRecord(mentalA.descriptor),
      "Emergency",
    );
    journeyChecks.push({
      name: "the break-glass opened A's mental-health record to the grantee",
      ok: emergency.allowed,
    });
    const paired = await access(pairwise.address, clinic2, pairScopes.forRecord(reproA.descriptor));
    journeyChecks.push({
      name: "the second clinic reads A's reproductive-health record under the pairwise account",
      ok: paired.allowed && paired.scope === pairwiseGrantScope,
    });
    const unpaired = await access(patientA.address, clinic2, scopesA.forRecord(reproA.descriptor));
    journeyChecks.push({ name: "the second clinic holds nothing under A's main address", ok: !unpaired.allowed });

    // ── The wallets read their consents back: every scope id on chain is the keyed id of a known scope ──────
    const known = { cids: records.map((r) => r.descriptor.cid), studies: STUDIES.map((study) => study.id) };
    const walletOf = new Map([
      [patientA.address, scopesA],
      [patientB.address, scopesB],
      [pairwise.address, pairScopes],
    ]);
    const slotEvents = (await provider.getLogs({ address: registryAddress, fromBlock: 0 }))
      .map(parseConsentLog)
      .filter((event): event is ConsentSlotEvent => event !== undefined && event.type !== "EmergencyGranteeSet");
    const unreadable = slotEvents.filter(({ patient, scope }) => {
      const own = walletOf.get(patient);
      const others = [...walletOf.values()].filter((wallet) => wallet !== own);
      return own?.label(scope, known) === undefined || others.some((wallet) => wallet.label(scope, known));
    });
    journeyChecks.push({
      name: `each of the ${slotEvents.length} grant/revoke/break-glass events is readable by its own wallet only`,
      ok: slotEvents.length > 60 && unreadable.length === 0,
    });

    // ── Positive control: a throwaway account grants with the OLD public form, and puts a CID in calldata ───
    const throwaway = account(8);
    const control = new ConsentRegistryClient(registryAddress, throwaway);
    const publicHash = keccak256(toUtf8Bytes("category:mental-health"));
    controlGrantTx = (await control.grant({ grantee: clinic, scope: publicHash, purpose: "Treatment", expiry })).hash;
    controlCid = mentalA.cid;
    // Odd offsets on purpose: the CID's text at byte 1, its binary form right after two more bytes.
    const data = concat(["0x01", toUtf8Bytes(controlCid.toString()), "0x0203", controlCid.bytes]);
    const sent = await throwaway.sendTransaction({ to: throwaway.address, data });
    controlCidTx = (await sent.wait())!.hash;

    // ── The observer ─────────────────────────────────────────────────────────────────────────────────────────
    observation = await observeChain(provider);
    const vocabulary = publicVocabulary({
      cids: records.map((record) => record.descriptor.cid),
      studies: STUDIES.map((study) => study.id),
    });
    vocabularySize = vocabulary.scopes.length;
    needles = [
      ...vocabulary.needles,
      ...guessableKeyIdNeedles(vocabulary.scopes, [patientA.address, patientB.address, pairwise.address]),
      ...records.flatMap((record) => cidNeedles(record.cid)),
      utf8Needle("canary patient given name", PATIENT_NAME.given),
      utf8Needle("canary patient family name", PATIENT_NAME.family),
      ...FREE_TEXT.map((text) => utf8Needle("canary free text", text)),
      ...STUDIES.map((study) => utf8Needle("canary study title", study.title)),
      ...[...didValues(didA), ...didValues(didB)].map((did) => utf8Needle("did:ethr string", did)),
      bytesNeedle(X25519_A, x25519A),
      utf8Needle(X25519_A, x25519PublicKeyToBase64(x25519A)),
      bytesNeedle("X25519 public key of patient B (never published)", x25519B),
      utf8Needle("X25519 public key of patient B (never published)", x25519PublicKeyToBase64(x25519B)),
    ];
    hits = scan(observation.haystacks, needles);
    console.log(
      JSON.stringify({
        test: "chain-observer",
        blocks: observation.blocks,
        transactions: observation.transactions,
        logs: observation.logs,
        bytesScanned: observation.bytesScanned,
        vocabulary: vocabularySize,
        needles: needles.length,
        hits: hits.length,
        controlHits: hits.filter(
          (hit) => hit.transactionHash === controlGrantTx || hit.transactionHash === controlCidTx,
        ).length,
        publishedKeyHits: hits.filter(isPublishedKey).length,
        ms: Date.now() - started,
      }),
    );
  });

  after(async function () {
    await agent?.close();
    await store?.close();
    await local?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // Patient A's X25519 key is public by design: the wallet publishes it in A's did:ethr document (an ERC-1056
  // DIDAttributeChanged event) so senders can wrap keys to it. Its hits are allowed in exactly the publishing
  // transactions; anywhere else it would link A's DID to something, and is reported like any other hit.
  const X25519_A = "X25519 public key of patient A (published in its DID document)";
  const isPublishedKey = (hit: Hit) => hit.needle.startsWith(X25519_A) && keyPublishTxs.has(hit.transactionHash);
  const isControl = (hit: Hit) => hit.transactionHash === controlGrantTx || hit.transactionHash === controlCidTx;

  it("plays the journey for real: each clinic check with the ids the wallet attached gets the chain's answer", function () {
    expect(journeyChecks.filter((check) => !check.ok).map((check) => check.name)).to.deep.equal([]);
    expect(journeyChecks).to.have.length.greaterThan(10);
  });

  it("finds a grant made with the old public scope hash, naming its transaction and the scope", function () {
    const found = hits.filter((hit) => hit.transactionHash === controlGrantTx);
    expect([...new Set(found.map((hit) => hit.needle))]).to.deep.equal(['keccak256(utf8 "category:mental-health")']);
    expect(found.map((hit) => hit.where)).to.include("calldata");
    expect(found.some((hit) => hit.where.startsWith("log "))).to.equal(true, "the ConsentGranted event carries it");
  });

  it("finds a CID placed in calldata as text, binary CID and multihash digest, at unaligned offsets", function () {
    const found = hits.filter((hit) => hit.transactionHash === controlCidTx);
    const text = controlCid.toString();
    const textBytes = toUtf8Bytes(text).length;
    const digestOffset = controlCid.bytes.length - controlCid.multihash.digest.length;
    expect(found.map(({ needle, where, offset }) => ({ needle, where, offset }))).to.have.deep.members([
      { needle: `CID (utf8 ${JSON.stringify(text)})`, where: "calldata", offset: 1 },
      { needle: `binary CID ${text}`, where: "calldata", offset: 3 + textBytes },
      { needle: `multihash digest of ${text}`, where: "calldata", offset: 3 + textBytes + digestOffset },
    ]);
  });

  it("no calldata or event holds a hashed public scope, a CID, a canary or a DID document value", function () {
    expect(observation.transactions).to.be.greaterThan(40);
    expect(observation.logs).to.be.greaterThan(50);
    // The published key is where the DID document puts it, and only there.
    const published = hits.filter(isPublishedKey);
    expect(published.length).to.be.greaterThan(0);
    expect(published.every((hit) => hit.where.startsWith("log ") || hit.where === "calldata")).to.equal(true);
    expect(hits.filter((hit) => !isControl(hit) && !isPublishedKey(hit))).to.deep.equal([]);
  });

  it("a pairwise consent account's transactions never name the patient's main address, and it sent none", async function () {
    const pairwiseTxs = new Set(
      scan(observation.haystacks, addressNeedles("pairwise account", pairwise.address)).map(
        (hit) => hit.transactionHash,
      ),
    );
    expect(pairwiseTxs.size).to.be.greaterThan(0);
    const inPairwiseTxs = observation.haystacks.filter((haystack) => pairwiseTxs.has(haystack.transactionHash));
    const mainAddress = [
      ...addressNeedles("patient A's main address", patientA.address),
      ...didValues(didA).map((did) => utf8Needle("did:ethr string of A", did)),
    ];
    expect(scan(inPairwiseTxs, mainAddress)).to.deep.equal([]);
    expect([...observation.senders.values()]).not.to.include(pairwise.address);
    expect(await local.provider.getTransactionCount(pairwise.address)).to.equal(0);
    expect(await local.provider.getBalance(pairwise.address)).to.equal(0n);
  });
});

function didValues(did: string): string[] {
  const lower = did.toLowerCase();
  return lower === did ? [did] : [did, lower];
}
