// The one primitive under the record envelope: libsodium's crypto_secretstream_xchacha20poly1305, behind a
// small interface so the envelope code does not care which implementation runs it. Two do: libsodium itself
// (WebAssembly, every platform) and one over Node's OpenSSL (native, ≈ 3x faster). Both produce and accept
// exactly the same bytes; the tests hold them to each other and to an independent reference.

/** Fixed by the construction (libsodium's crypto_secretstream_xchacha20poly1305_* constants). */
export const SECRETSTREAM_KEY_BYTES = 32;
export const SECRETSTREAM_HEADER_BYTES = 24;
/** Per frame: 1 encrypted tag byte + 16-byte Poly1305 MAC. */
export const SECRETSTREAM_FRAME_OVERHEAD = 17;

export const SecretstreamTag = {
  Message: 0,
  Push: 1,
  Rekey: 2,
  Final: 3,
} as const;

export interface PulledFrame {
  /** The frame's plaintext, authenticated. */
  readonly message: Uint8Array;
  /** The tag the sender attached (SecretstreamTag). */
  readonly tag: number;
}

export interface SecretstreamPushState {
  /**
   * Seals `message` as the next frame (tag byte ‖ ciphertext ‖ MAC, `17 + |message|` bytes), returned as one or
   * more pieces to be written in order. After TAG_FINAL the state refuses further frames. The pieces are new
   * arrays, never views of `message`: the record encryptor passes views of buffers it overwrites later.
   */
  push(message: Uint8Array, ad: Uint8Array, tag: number): Uint8Array[];
}

export interface SecretstreamPullState {
  /**
   * Opens the next frame. Returns undefined, and leaves the state as it was, when the frame does not
   * authenticate under this key, position and additional data. Nothing unauthenticated is ever returned. The
   * message is a new array, never a view of `frame` (which may be a view of a buffer overwritten later).
   */
  pull(frame: Uint8Array, ad: Uint8Array): PulledFrame | undefined;
}

export interface Secretstream {
  /** Which implementation this is, for diagnostics and benchmarks. */
  readonly name: string;
  /** Starts a stream under `key` with a fresh random 24-byte header (sent ahead of the frames). */
  initPush(key: Uint8Array): { header: Uint8Array; state: SecretstreamPushState };
  /** Resumes the stream that `header` started under `key`. */
  initPull(header: Uint8Array, key: Uint8Array): SecretstreamPullState;
}
