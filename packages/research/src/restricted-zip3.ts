// The three-digit ZIP codes HIPAA Safe Harbor reports as "000" (45 CFR 164.514(b)(2)(i)(B)): the areas whose
// combined population is 20,000 or fewer.
//
// Source: HHS Office for Civil Rights, "Guidance Regarding Methods for De-identification of Protected Health
// Information in Accordance with the HIPAA Privacy Rule" (26 November 2012), section 3.3 ("When can ZIP codes be
// included in de-identified information?"), which lists these 17 three-digit ZIP Code Tabulation Areas from the
// 2000 Census. The guidance adds that a covered entity should use more current Census data when it is published:
// `deidentify` takes another list through its `restrictedZip3` option.
export const RESTRICTED_ZIP3_SOURCE =
  "HHS OCR, Guidance Regarding Methods for De-identification of PHI (2012), section 3.3; 2000 Census three-digit ZCTAs";

export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set([
  "036",
  "059",
  "063",
  "102",
  "203",
  "556",
  "692",
  "790",
  "821",
  "823",
  "830",
  "831",
  "878",
  "879",
  "884",
  "890",
  "893",
]);
