// Sans-I/O record decryptor: envelope bytes in, verified plaintext out.
//
// Guarantee: every byte returned by update()/final() has passed its chunk's authentication tag, and the
// chunks are returned in their original order with none skipped (secretstream chains each chunk's nonce
// to the previous tags). So the output is always an authentic PREFIX of the record. It is the WHOLE record
// only once final() has returned without throwing. After any error the decryptor refuses further input.
// update() keeps no reference to the caller's buffer once it returns (a partial frame held over is copied), so a
// source may refill one buffer for every read; the plaintext it returns is in new arrays a consumer may keep.
import { Reassembler, assertBytes, copyBytes } from "./bytes.ts";
import { assertDataKey, wipe } from "./data-key.ts";
import {
  CHUNK_OVERHEAD_BYTES,
  ChunkTag,
  ENVELOPE_HEADER_BYTES,
  MAX_CHUNK_SIZE,
  parseEnvelopeHeader,
} from "./envelope.ts";
import type { EnvelopeHeader } from "./envelope.ts";
import { IntegrityError, InvalidArgumentError, TrailingDataError, TruncatedError } from "./errors.ts";
import { defaultSecretstream } from "./secretstream/default.ts";
import type { Secretstream, SecretstreamPullState } from "./secretstream/secretstream.ts";

export interface DecryptOptions {
  /** Which implementation of the secretstream primitive to run (default `defaultSecretstream`); see EncryptOptions. */
  readonly secretstream?: Secretstream;
}

interface OpenStream {
  readonly header: EnvelopeHeader;
  readonly state: SecretstreamPullState;
  /** Ciphertext bytes of one full chunk. */
  readonly frameSize: number;
}

export class RecordDecryptor {
  readonly #key: Uint8Array;
  readonly #secretstream: Secretstream;
  /** Grows up to one frame of the largest chunk size: the most held over between calls. */
  readonly #queue = new Reassembler(MAX_CHUNK_SIZE + CHUNK_OVERHEAD_BYTES);
  #stream: OpenStream | undefined;
  #chunkIndex = 0;
  #finalVerified = false;
  #ended = false;
  #failure: Error | undefined;

  constructor(key: Uint8Array, options: DecryptOptions = {}) {
    assertDataKey(key);
    this.#key = copyBytes(key);
    this.#secretstream = options.secretstream ?? defaultSecretstream;
  }

  /** The parsed envelope header, once enough bytes have arrived. */
  get header(): EnvelopeHeader | undefined {
    return this.#stream?.header;
  }

  /** True once the final chunk has been authenticated (more input would still be rejected as trailing data). */
  get finalVerified(): boolean {
    return this.#finalVerified;
  }

  /**
   * Feeds envelope bytes; returns plaintext of every chunk completed and verified by them. A partial frame left
   * over is copied: `ciphertext` may be overwritten as soon as this returns.
   */
  update(ciphertext: Uint8Array): Uint8Array[] {
    return this.#guard(() => {
      assertBytes(ciphertext, "ciphertext chunk", "ciphertext");
      this.#queue.begin(ciphertext);
      let failed = true;
      try {
        const out = this.#openCompleteFrames();
        failed = false;
        return out;
      } finally {
        this.#queue.end(!failed); // after a failure nothing more is read: no need to copy the rest
      }
    });
  }

  /**
   * Declares the end of input. Returns the plaintext of a short final chunk if one is buffered; throws
   * TruncatedError if the final chunk never arrived. Only after this returns is the record complete.
   */
  final(): Uint8Array[] {
    return this.#guard(() => {
      this.#ended = true;
      const stream = this.#stream ?? this.#openIfHeaderComplete();
      if (stream === undefined) {
        throw new TruncatedError(`record ended inside the ${ENVELOPE_HEADER_BYTES}-byte envelope header`);
      }
      if (this.#finalVerified) return [];
      const remaining = this.#queue.length;
      if (remaining === 0) {
        throw new TruncatedError(`record ended after chunk ${this.#chunkIndex - 1} without a final chunk`);
      }
      if (remaining < CHUNK_OVERHEAD_BYTES) {
        throw new TruncatedError(`record ended inside chunk ${this.#chunkIndex} (${remaining} bytes)`);
      }
      const plaintext = this.#open(stream, this.#queue.take(remaining));
      if (!this.#finalVerified) {
        // Authentic but not final: only an encoder that breaks the framing rules produces this.
        throw new IntegrityError(`chunk ${this.#chunkIndex - 1} is shorter than the chunk size but not final`);
      }
      return [plaintext];
    });
  }

  #openCompleteFrames(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const stream = this.#stream ?? this.#openIfHeaderComplete();
    if (stream === undefined) return out;
    if (this.#finalVerified) this.#rejectTrailingBytes();
    while (this.#queue.length >= stream.frameSize) {
      out.push(this.#open(stream, this.#queue.take(stream.frameSize)));
      if (this.#finalVerified) this.#rejectTrailingBytes();
    }
    return out;
  }

  #openIfHeaderComplete(): OpenStream | undefined {
    if (this.#queue.length < ENVELOPE_HEADER_BYTES) return undefined;
    const header = parseEnvelopeHeader(this.#queue.take(ENVELOPE_HEADER_BYTES));
    const state = this.#secretstream.initPull(header.streamHeader, this.#key);
    wipe(this.#key);
    this.#stream = { header, state, frameSize: header.chunkSize + CHUNK_OVERHEAD_BYTES };
    return this.#stream;
  }

  #open(stream: OpenStream, frame: Uint8Array): Uint8Array {
    const index = this.#chunkIndex++;
    const result = stream.state.pull(frame, stream.header.preamble);
    if (result === undefined) {
      const hint = index === 0 ? "wrong key, or the record was modified" : "the record was modified or reordered";
      throw new IntegrityError(`chunk ${index} failed authentication (${hint})`);
    }
    if (result.tag === ChunkTag.Final) {
      this.#finalVerified = true;
    } else if (result.tag !== ChunkTag.Message) {
      throw new IntegrityError(`chunk ${index} carries unexpected secretstream tag ${result.tag}`);
    }
    return result.message;
  }

  #rejectTrailingBytes(): void {
    if (this.#queue.length > 0) {
      throw new TrailingDataError(`${this.#queue.length} bytes follow the final chunk`);
    }
  }

  /** Runs a step; any failure poisons the decryptor so that no later call can yield more plaintext. */
  #guard<T>(step: () => T): T {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#ended) {
      throw new InvalidArgumentError("record decryptor already finished: use a new RecordDecryptor per record", {
        field: "decryptor",
      });
    }
    try {
      return step();
    } catch (error) {
      this.#failure = error instanceof Error ? error : new IntegrityError(String(error));
      throw this.#failure;
    }
  }
}
