// Sans-I/O record encryptor: bytes in, envelope bytes out. The Node, web-stream and async-iterable adapters
// are thin wrappers around it, so the chunking rules live in exactly one place.
//
// Safety rule: update() keeps no reference to the caller's buffer once it returns (what it must hold over, at most
// one chunk, is copied), so a source may refill the same buffer for every read. The envelope pieces it
// returns are new arrays that nothing here writes to again: a consumer may keep them.
import { Reassembler, assertBytes } from "./bytes.ts";
import { assertDataKey } from "./data-key.ts";
import { ChunkTag, DEFAULT_CHUNK_SIZE, encodePreamble } from "./envelope.ts";
import { InvalidArgumentError } from "./errors.ts";
import { defaultSecretstream } from "./secretstream/default.ts";
import type { Secretstream, SecretstreamPushState } from "./secretstream/secretstream.ts";

export interface EncryptOptions {
  /** Plaintext bytes per chunk, MIN_CHUNK_SIZE..MAX_CHUNK_SIZE. Default 64 KiB. */
  readonly chunkSize?: number;
  /**
   * Which implementation of the secretstream primitive to run. Default: `defaultSecretstream` (the native one on
   * Node, libsodium's elsewhere). Every implementation writes the same format; choose one only to compare them.
   */
  readonly secretstream?: Secretstream;
}

export class RecordEncryptor {
  readonly chunkSize: number;
  readonly #preamble: Uint8Array;
  readonly #state: SecretstreamPushState;
  #pendingHeader: Uint8Array | undefined;
  readonly #queue: Reassembler;
  #finished = false;

  constructor(key: Uint8Array, options: EncryptOptions = {}) {
    assertDataKey(key);
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.#preamble = encodePreamble(this.chunkSize);
    this.#queue = new Reassembler(this.chunkSize);
    const { state, header } = (options.secretstream ?? defaultSecretstream).initPush(key);
    this.#state = state;
    const envelopeHeader = new Uint8Array(this.#preamble.length + header.length);
    envelopeHeader.set(this.#preamble, 0);
    envelopeHeader.set(header, this.#preamble.length);
    this.#pendingHeader = envelopeHeader;
  }

  /**
   * Feeds plaintext; returns the envelope bytes ready so far (the header first), as pieces to be written in
   * order (a chunk's frame may come as several pieces). A full chunk is only sealed
   * once at least one more byte has arrived, because the last chunk must carry TAG_FINAL and we cannot know
   * a chunk is the last until the input ends. Those held-over bytes (at most one chunk) are copied: `plaintext`
   * may be overwritten as soon as this returns. Full chunks lying in `plaintext` are sealed from it directly.
   */
  update(plaintext: Uint8Array): Uint8Array[] {
    this.#assertOpen();
    assertBytes(plaintext, "plaintext chunk", "plaintext");
    const out = this.#takeHeader();
    this.#queue.begin(plaintext);
    try {
      while (this.#queue.length > this.chunkSize) {
        out.push(...this.#seal(this.#queue.take(this.chunkSize), ChunkTag.Message));
      }
    } finally {
      this.#queue.end();
    }
    return out;
  }

  /** Ends the record: seals the remaining 0..chunkSize bytes as the final chunk. */
  final(): Uint8Array[] {
    this.#assertOpen();
    const out = this.#takeHeader();
    out.push(...this.#seal(this.#queue.take(this.#queue.length), ChunkTag.Final));
    this.#queue.wipe();
    this.#finished = true;
    return out;
  }

  #takeHeader(): Uint8Array[] {
    const header = this.#pendingHeader;
    this.#pendingHeader = undefined;
    return header === undefined ? [] : [header];
  }

  /**
   * One chunk's frame, as one or more consecutive pieces (the implementation decides; no copy to join them). The
   * pieces never alias `chunk` (SecretstreamPushState's contract), which may be a view of the caller's buffer or
   * of the queue's own, both overwritten later.
   */
  #seal(chunk: Uint8Array, tag: number): Uint8Array[] {
    return this.#state.push(chunk, this.#preamble, tag);
  }

  #assertOpen(): void {
    if (this.#finished) {
      throw new InvalidArgumentError("record encryptor already finished: use a new RecordEncryptor per record", {
        field: "encryptor",
      });
    }
  }
}
