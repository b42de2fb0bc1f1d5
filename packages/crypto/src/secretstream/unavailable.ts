// Where node:crypto is not available (browsers), there is no native secretstream: libsodium's is used.
import type { Secretstream } from "./secretstream.ts";

export const nativeSecretstream: Secretstream | undefined = undefined;
