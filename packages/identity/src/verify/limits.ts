// Size limits shared by the verifier and the holder side (a holder refuses to sign what no verifier accepts).

/** The largest presentation (JWT VP, or SD-JWTs joined) a verifier reads. */
export const MAX_PRESENTATION_BYTES = 256 * 1024;
