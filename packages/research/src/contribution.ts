// What binds a contribution's wrap: the DEK of a study extract is sealed to the study's X25519 key with this
// context, so a wrap cannot be moved to another ciphertext or another study (unwrapping with another context fails).

/** The key-wrap context of a study contribution (@hygeia/crypto wrapKey / unwrapKey). */
export function contributionWrapContext(studyId: string, cid: string): string {
  return `hygeia:contribution:${studyId.toLowerCase()}:${cid}`;
}
