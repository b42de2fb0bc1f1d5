// The secretstream implementation records use unless told otherwise: the native one where this runtime has it
// (Node: package.json maps #native-secretstream to node-crypto.ts), libsodium's everywhere else.
import { nativeSecretstream } from "#native-secretstream";
import { libsodiumSecretstream } from "./libsodium.ts";
import type { Secretstream } from "./secretstream.ts";

export { libsodiumSecretstream, nativeSecretstream };
export const defaultSecretstream: Secretstream = nativeSecretstream ?? libsodiumSecretstream;
