// Loads Veramo's runtime modules. @veramo/utils 7.0.1 imports "@noble/hashes/sha256" without declaring the
// dependency, and this workspace hoists @noble/hashes 2 (no such subpath). We pin 1.8.0 under an alias and point
// that one import at it with a resolve hook; the hook only sees modules loaded after it is registered, so Veramo
// is imported dynamically, here and nowhere else.
import { registerHooks } from "node:module";
import type * as VeramoCore from "@veramo/core";
import type * as VeramoKeyManager from "@veramo/key-manager";
import type * as VeramoKmsLocal from "@veramo/kms-local";
import type * as VeramoDidManager from "@veramo/did-manager";
import type * as VeramoDidProviderEthr from "@veramo/did-provider-ethr";
import type * as VeramoDidProviderKey from "@veramo/did-provider-key";
import type * as VeramoDidResolver from "@veramo/did-resolver";
import type * as VeramoCredentialW3c from "@veramo/credential-w3c";
import type * as VeramoCredentialJwt from "@veramo/credential-jwt";

let hooked = false;

function hookNobleHashes(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const parent = context.parentURL ?? "";
      // Veramo's import, and the pinned copy's imports of itself under its real name.
      if (
        specifier.startsWith("@noble/hashes/") &&
        (parent.includes("/@veramo/") || parent.includes("/noble-hashes-v1/"))
      ) {
        return {
          url: import.meta.resolve(specifier.replace("@noble/hashes/", "noble-hashes-v1/")),
          shortCircuit: true,
        };
      }
      return nextResolve(specifier, context);
    },
  });
}

export interface VeramoRuntime {
  core: typeof VeramoCore;
  keyManager: typeof VeramoKeyManager;
  kmsLocal: typeof VeramoKmsLocal;
  didManager: typeof VeramoDidManager;
  didProviderEthr: typeof VeramoDidProviderEthr;
  didProviderKey: typeof VeramoDidProviderKey;
  didResolver: typeof VeramoDidResolver;
  credentialW3c: typeof VeramoCredentialW3c;
  credentialJwt: typeof VeramoCredentialJwt;
}

let runtime: Promise<VeramoRuntime> | undefined;

export function loadVeramo(): Promise<VeramoRuntime> {
  hookNobleHashes();
  runtime ??= (async () => ({
    core: await import("@veramo/core"),
    keyManager: await import("@veramo/key-manager"),
    kmsLocal: await import("@veramo/kms-local"),
    didManager: await import("@veramo/did-manager"),
    didProviderEthr: await import("@veramo/did-provider-ethr"),
    didProviderKey: await import("@veramo/did-provider-key"),
    didResolver: await import("@veramo/did-resolver"),
    credentialW3c: await import("@veramo/credential-w3c"),
    credentialJwt: await import("@veramo/credential-jwt"),
  }))();
  return runtime;
}
