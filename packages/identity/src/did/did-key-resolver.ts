// did:key resolution through Veramo's resolver (Node: Veramo's loader needs node:module). A browser bundle gets
// did-key-resolver.browser.ts instead (package.json "imports", `#did-key-resolver`): no did:key there.
import type { ResolverRegistry } from "did-resolver";
import { loadVeramo } from "./veramo-runtime.ts";

/** The did:key method's resolver, or undefined where this build has none. */
export async function loadDidKeyResolver(): Promise<ResolverRegistry | undefined> {
  const { didProviderKey } = await loadVeramo();
  return didProviderKey.getDidKeyResolver();
}
