// Browsers resolve did:ethr only: Veramo's did:key resolver loads through node:module. Nothing a browser wallet
// verifies needs did:key: issuers and clinics are trusted through the TrustRegistry, which names did:ethr
// addresses only. Same export as did-key-resolver.ts.
import type { ResolverRegistry } from "did-resolver";

/** The did:key method's resolver, or undefined where this build has none (here). */
export async function loadDidKeyResolver(): Promise<ResolverRegistry | undefined> {
  return undefined;
}
