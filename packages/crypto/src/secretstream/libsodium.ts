// crypto_secretstream_xchacha20poly1305 from libsodium itself (libsodium-wrappers, WebAssembly): the portable
// implementation, used wherever the native one is not available (browsers) and as the reference the native one
// is tested against.
import { sodium } from "../sodium.ts";
import type { PulledFrame, Secretstream, SecretstreamPullState, SecretstreamPushState } from "./secretstream.ts";

type SodiumPushState = ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_push>["state"];
type SodiumPullState = ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_pull>;

class LibsodiumPushState implements SecretstreamPushState {
  readonly #state: SodiumPushState;

  constructor(state: SodiumPushState) {
    this.#state = state;
  }

  push(message: Uint8Array, ad: Uint8Array, tag: number): Uint8Array[] {
    return [sodium.crypto_secretstream_xchacha20poly1305_push(this.#state, message, ad, tag)];
  }
}

class LibsodiumPullState implements SecretstreamPullState {
  readonly #state: SodiumPullState;

  constructor(state: SodiumPullState) {
    this.#state = state;
  }

  pull(frame: Uint8Array, ad: Uint8Array): PulledFrame | undefined {
    // libsodium-wrappers returns `false` (rather than throwing) when the MAC does not verify.
    const result = sodium.crypto_secretstream_xchacha20poly1305_pull(this.#state, frame, ad);
    return result === false ? undefined : { message: result.message, tag: result.tag };
  }
}

export const libsodiumSecretstream: Secretstream = {
  name: "libsodium",
  initPush(key) {
    const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
    return { header, state: new LibsodiumPushState(state) };
  },
  initPull(header, key) {
    return new LibsodiumPullState(sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key));
  },
};
