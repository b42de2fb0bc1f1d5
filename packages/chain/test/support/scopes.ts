/** Test helpers: keyed scope ids for test patients (a fixed scope key per patient address, as a wallet would hold). */
import { keccak256, toUtf8Bytes } from "ethers";
import { PatientScopes } from "../../src/index.ts";

/** A deterministic 32-byte scope key for `address`: stands in for deriveScopeKey(consent secret) in tests. */
export function testScopeKey(address: string): Uint8Array {
  return Uint8Array.from(
    Buffer.from(keccak256(toUtf8Bytes(`test scope key ${address.toLowerCase()}`)).slice(2), "hex"),
  );
}

/** The PatientScopes of a test patient (or any address acting as one). */
export function scopesOf(patient: string | { address: string }): PatientScopes {
  const address = typeof patient === "string" ? patient : patient.address;
  return new PatientScopes(testScopeKey(address), address);
}

/** The keyed id of `scope` for `patient`: what the patient's wallet would put on chain. */
export function sid(patient: string | { address: string }, scope: string): string {
  return scopesOf(patient).id(scope);
}
