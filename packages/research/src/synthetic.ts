// Synthetic FHIR R4 patients to test and measure de-identification on: every one carries each kind of Safe Harbor
// identifier, in the places real records put them and in the places a careless export does (notes, narrative,
// display texts, extensions, contained resources, identifiers nested in extensions), and lists them all, so a test
// can search the extract for every one of them. Deterministic per seed. No real person's data: names, places and
// numbers come from fixed lists and a seeded generator: phone numbers in 555-0100..0199 (reserved for fiction),
// SSNs in the 900-999 area (never issued), the documentation IP range 203.0.113.0/24, example.org.

/** One synthetic patient: their resources and every identifying string planted in them. */
export interface SyntheticPatient {
  /** The Patient first, then Encounters, Observations, Conditions, medications and resources no extract carries. */
  resources: Record<string, unknown>[];
  /** Each identifying text in the resources (and digit-only forms of phone, fax and SSN). */
  identifiers: string[];
  /** The patient's age at `asOf`. */
  age: number;
}

export interface SyntheticOptions {
  /** The day ages are counted at (YYYY-MM-DD). Default "2026-12-01". */
  asOf?: string;
  /** The patient's age; default: drawn from the seed (about one patient in ten is 90 or older). */
  age?: number;
  /** Lab Observations per patient (default 6). */
  observations?: number;
}

// Names and places chosen so that none is a word of FHIR's vocabulary or a code (a test searching for them must
// not find them in element names, code systems or codes).
const GIVEN = ["Margarethe", "Oluwaseun", "Bartholomew", "Xiomara", "Thaddeus", "Wilhelmina", "Ignatius", "Perpetua"];
const FAMILY = ["Vanderwalle", "Szczepanski", "Okonkwo", "Quispehuaman", "Abernathy", "Lindqvist", "Castellanos"];
const STREETS = ["Quarry Hollow Lane", "Wexford Brambles Road", "Tamarack Knoll Way", "Ostrander Ferry Street"];
const CITIES = ["Marblehead Springs", "Kestrel Junction", "Pell Haven", "Oxbow Crossing"];
const COUNTIES = ["Ashcombe County", "Wendling County"];
// Some restricted ZIP3 areas (059, 893) among ordinary ones.
const ZIPS = ["02139", "05901", "89301", "60614", "94110", "10027"];
const STATES = ["MA", "VT", "NV", "IL", "CA", "NY"];

const LABS = [
  { code: "4548-4", unit: "%", low: 4, high: 5.6, mean: 6.1 },
  { code: "2345-7", unit: "mg/dL", low: 70, high: 99, mean: 118 },
  { code: "2093-3", unit: "mg/dL", low: 125, high: 200, mean: 190 },
  { code: "718-7", unit: "g/dL", low: 12, high: 17.5, mean: 14 },
] as const;
const CONDITIONS = ["44054006", "38341003", "195967001", "13645005"];
const MEDICATIONS = ["860975", "197361", "314076"];

const LOINC = "http://loinc.org";
const SNOMED = "http://snomed.info/sct";
const UCUM = "http://unitsofmeasure.org";
const RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";

/**
 * A small seeded generator (mulberry32): tests need the same patients on every run and every platform, which
 * Math.random cannot give; nothing here needs cryptographic quality.
 */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

export function syntheticPatient(seed: number, options: SyntheticOptions = {}): SyntheticPatient {
  const random = generator(seed);
  const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  const digits = (count: number) => Array.from({ length: count }, () => int(0, 9)).join("");
  const token = (count: number) => Array.from({ length: count }, () => "bcdghjkmnpqrstvwxz"[int(0, 17)]).join("");
  const planted: string[] = [];
  const plant = (value: string) => {
    planted.push(value);
    return value;
  };
  /** A number (phone, fax, SSN), planted as written and as its digits alone. */
  const plantWithDigits = (value: string) => {
    planted.push(value, value.replace(/\D/g, ""));
    return value;
  };
  const asOf = options.asOf ?? "2026-12-01";
  const asOfYear = Number(asOf.slice(0, 4));
  const age = options.age ?? (random() < 0.1 ? int(90, 104) : int(1, 89));
  const day = () => `${pad(int(1, 12))}-${pad(int(1, 28))}`;
  const dateIn = (year: number) => plant(`${year}-${day()}`);
  const dateTimeIn = (year: number) => plant(`${year}-${day()}T${pad(int(7, 18))}:${pad(int(0, 59))}:00Z`);

  const given = plant(pick(GIVEN));
  const family = plant(`${pick(FAMILY)}${token(3)}`);
  const fullName = plant(`${given} ${family}`);
  const birthDate = dateIn(asOfYear - age);
  const line = plant(`${int(100, 9899)} ${pick(STREETS)}`);
  const city = plant(pick(CITIES));
  const district = plant(pick(COUNTIES));
  const zipIndex = int(0, ZIPS.length - 1);
  const zip = plant(`${ZIPS[zipIndex]}-${digits(4)}`);
  plant(ZIPS[zipIndex]!);
  const phone = plantWithDigits(`+1-${int(201, 989)}-555-01${digits(2)}`);
  const fax = plantWithDigits(`+1-${int(201, 989)}-555-01${digits(2)}`);
  const email = plant(`${given}.${family}@example.org`.toLowerCase());
  const website = plant(`https://patients.example.org/${family.toLowerCase()}`);
  const ssn = plantWithDigits(`${int(900, 999)}-${digits(2)}-${digits(4)}`);
  const mrn = plant(`MRN${digits(9)}`);
  const plan = plant(`HPB${digits(10)}`);
  const account = plant(`ACCT${digits(10)}`);
  const license = plant(`DL${token(2).toUpperCase()}${digits(7)}`);
  const plate = plant(`PLATE${token(4).toUpperCase()}${digits(3)}`);
  const serial = plant(`SN${digits(6)}${token(4).toUpperCase()}`);
  const ip = plant(`203.0.113.${int(1, 254)}`);
  const kin = plant(`${pick(GIVEN)} ${pick(FAMILY)}${token(3)}`);
  const kinPhone = plantWithDigits(`+1-${int(201, 989)}-555-01${digits(2)}`);
  const photo = plant(btoa(String.fromCharCode(...Array.from({ length: 48 }, () => int(0, 255)))));
  const id = (prefix: string) => plant(`${prefix}${token(10)}`);
  const patientId = id("pt");
  const note = (what: string) =>
    plant(`${what}: ${fullName} (${mrn}, SSN ${ssn}) called from ${phone} about results; lives at ${line}, ${city}.`);

  const patient = {
    resourceType: "Patient",
    id: patientId,
    meta: { lastUpdated: dateTimeIn(asOfYear - 1), source: website },
    text: {
      status: "generated",
      div: `<div xmlns="http://www.w3.org/1999/xhtml">${fullName}, born ${birthDate}</div>`,
    },
    extension: [
      {
        url: "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
        valueString: plant(pick(FAMILY) + token(4)),
      },
      {
        url: "https://ehr.example.org/fhir/StructureDefinition/legacy-identifiers",
        extension: [
          { url: "mrn", valueIdentifier: { system: "urn:oid:1.2.36.146.595.217.0.1", value: mrn } },
          { url: "ssn", valueString: ssn },
          { url: "vehicle", valueString: plate },
        ],
      },
    ],
    identifier: [
      {
        type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "MR" }] },
        system: "urn:oid:1.2.36.146.595.217.0.1",
        value: mrn,
      },
      { system: "http://hl7.org/fhir/sid/us-ssn", value: ssn },
      { type: { text: "health plan" }, system: "https://plan.example.org/members", value: plan },
      { type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "AN" }] }, value: account },
      { type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "DL" }] }, value: license },
    ],
    name: [{ use: "official", text: fullName, family, given: [given] }],
    telecom: [
      { system: "phone", value: phone, use: "home" },
      { system: "fax", value: fax },
      { system: "email", value: email },
      { system: "url", value: website },
    ],
    gender: pick(["female", "male", "other"]),
    birthDate,
    address: [
      {
        use: "home",
        line: [line],
        city,
        district,
        state: STATES[zipIndex],
        postalCode: zip,
        country: "US",
        text: `${line}, ${city}`,
      },
    ],
    maritalStatus: {
      coding: [
        {
          system: "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
          code: pick(["M", "S", "W"]),
          display: "Married",
        },
      ],
      text: `${given}'s status`,
    },
    photo: [{ contentType: "image/jpeg", data: photo }],
    contact: [{ name: { text: kin }, telecom: [{ system: "phone", value: kinPhone }] }],
    communication: [{ language: { coding: [{ system: "urn:ietf:bcp:47", code: "en-US" }] }, preferred: true }],
    managingOrganization: { reference: "Organization/org-general", display: "Marblehead Springs General" },
  };
  const subject = { reference: `Patient/${patientId}`, display: fullName };

  const resources: Record<string, unknown>[] = [patient];
  const encounterIds: string[] = [];
  for (let i = 0; i < 2; i++) {
    const encounterId = id("enc");
    encounterIds.push(encounterId);
    const year = asOfYear - int(0, 3);
    resources.push({
      resourceType: "Encounter",
      id: encounterId,
      identifier: [{ system: "https://ehr.example.org/visits", value: plant(`VN${digits(8)}`) }],
      status: "finished",
      class: { system: "http://terminology.hl7.org/CodeSystem/v3-ActCode", code: "AMB", display: "ambulatory" },
      type: [{ coding: [{ system: SNOMED, code: "185349003" }], text: `Check-up for ${fullName}` }],
      subject,
      period: { start: dateTimeIn(year), end: dateTimeIn(year) },
      reasonCode: [{ coding: [{ system: SNOMED, code: pick(CONDITIONS) }], text: note("Reason") }],
      location: [{ location: { display: `${city} clinic, room ${int(1, 40)}` } }],
      serviceProvider: { reference: "Organization/org-general", display: city },
    });
  }
  const observations = options.observations ?? 6;
  for (let i = 0; i < observations; i++) {
    const lab = LABS[i % LABS.length]!;
    const year = asOfYear - int(0, 5);
    const value = Math.round((lab.mean + (random() - 0.5) * lab.mean * 0.4) * 10) / 10;
    resources.push({
      resourceType: "Observation",
      id: id("obs"),
      extension: [
        { url: "https://ehr.example.org/fhir/StructureDefinition/analyzer", valueString: `serial ${serial} at ${ip}` },
      ],
      identifier: [{ system: "https://lab.example.org/accession", value: plant(`ACC${digits(9)}`) }],
      status: "final",
      category: [
        { coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "laboratory" }] },
      ],
      code: { coding: [{ system: LOINC, code: lab.code, display: `lab for ${given}` }], text: `${fullName} lab` },
      subject,
      encounter: { reference: `Encounter/${pick(encounterIds)}` },
      effectiveDateTime: dateTimeIn(year),
      issued: `${dateTimeIn(year)}`,
      valueQuantity: { value, unit: lab.unit, system: UCUM, code: lab.unit },
      referenceRange: [
        {
          low: { value: lab.low, unit: lab.unit, system: UCUM, code: lab.unit },
          high: { value: lab.high, unit: lab.unit, system: UCUM, code: lab.unit },
          text: `normal for ${given}`,
        },
      ],
      note: [{ authorString: kin, time: dateTimeIn(year), text: note("Note") }],
      contained: [
        {
          resourceType: "RelatedPerson",
          id: "kin",
          patient: { reference: `Patient/${patientId}` },
          name: [{ text: kin }],
          telecom: [{ system: "phone", value: kinPhone }],
        },
      ],
      performer: [{ reference: "#kin" }],
    });
  }
  const onsetAge = Math.max(1, age - int(0, 10));
  resources.push({
    resourceType: "Condition",
    id: id("cond"),
    clinicalStatus: {
      coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-clinical", code: "active" }],
    },
    code: {
      coding: [{ system: SNOMED, code: pick(CONDITIONS), display: `diagnosed in ${fullName}` }],
      text: note("Diagnosis"),
    },
    subject,
    onsetAge: { value: onsetAge, unit: "years", system: UCUM, code: "a" },
    recordedDate: dateIn(asOfYear - 1),
    note: [{ text: note("History") }],
  });
  resources.push({
    resourceType: "MedicationStatement",
    id: id("med"),
    status: "active",
    medicationCodeableConcept: { coding: [{ system: RXNORM, code: pick(MEDICATIONS) }], text: `for ${fullName}` },
    subject,
    effectivePeriod: { start: dateIn(asOfYear - 2) },
    dosage: [{ text: note("Dosage"), route: { coding: [{ system: SNOMED, code: "26643006" }] } }],
  });
  // Types no extract carries: left out whole.
  resources.push({
    resourceType: "DocumentReference",
    id: id("doc"),
    status: "current",
    subject,
    content: [{ attachment: { contentType: "text/plain", data: btoa(note("Letter")) } }],
  });
  resources.push({
    resourceType: "Device",
    id: id("dev"),
    serialNumber: serial,
    udiCarrier: [{ deviceIdentifier: plant(`UDI${digits(12)}`) }],
    patient: { reference: `Patient/${patientId}` },
  });
  return { resources, identifiers: [...new Set(planted)], age };
}

/** `count` patients from consecutive seeds. */
export function syntheticPatients(count: number, seed = 1, options: SyntheticOptions = {}): SyntheticPatient[] {
  return Array.from({ length: count }, (_, i) => syntheticPatient(seed + i, options));
}
