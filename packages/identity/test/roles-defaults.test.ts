// Issue 16 item 1: each role accredits one thing, so no party can vouch for its own kind.
import { expect } from "chai";
import { TrustRole } from "@hygeia/chain";
import { ACCREDITATION_CREDENTIAL_TYPES, CredentialType, DEFAULT_TRUSTED_ROLES } from "../src/index.ts";

describe("identity: which roles are trusted for which credential types", function () {
  it("clinic accreditations are trusted from medical boards only, never from the clinic role", function () {
    expect(DEFAULT_TRUSTED_ROLES.ClinicAccreditationCredential).to.deep.equal([TrustRole.MedicalBoard]);
  });

  it("health records come from clinics, and the clinic role is trusted for nothing else", function () {
    expect(DEFAULT_TRUSTED_ROLES.HealthRecordCredential).to.deep.equal([TrustRole.Clinic]);
    const clinicTypes = Object.entries(DEFAULT_TRUSTED_ROLES)
      .filter(([, roles]) => roles.includes(TrustRole.Clinic))
      .map(([type]) => type);
    expect(clinicTypes).to.deep.equal([CredentialType.HealthRecord]);
  });

  it("researchers are vouched for by a board, studies approved by an IRB: no single role grants both", function () {
    expect(DEFAULT_TRUSTED_ROLES.ResearcherCredential).to.deep.equal([TrustRole.MedicalBoard]);
    expect(DEFAULT_TRUSTED_ROLES.EthicsApprovalCredential).to.deep.equal([TrustRole.Irb]);
  });

  // The rule itself (no accreditation issued or accepted without a revocation entry and an expiry) is tested on a
  // chain in checkin-hardening.test.ts; here only which types it covers.
  it("the accreditation rule covers ClinicAccreditationCredential, and only it", function () {
    expect(ACCREDITATION_CREDENTIAL_TYPES).to.deep.equal([CredentialType.ClinicAccreditation]);
  });
});
