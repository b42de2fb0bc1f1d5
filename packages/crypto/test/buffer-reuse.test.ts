// A byte source may refill one buffer for every read (fs.read into a scratch buffer, object-mode streams, many web
// APIs): nothing here keeps a reference to a chunk once the next one is asked for. And a consumer may keep every
// piece it is given: they are never overwritten.
import {
  DEFAULT_CHUNK_SIZE,
  RecordDecryptor,
  RecordEncryptor,
  decryptChunks,
  decryptToBuffer,
  encryptChunks,
  encryptToBuffer,
  generateDataKey,
  libsodiumSecretstream,
  nativeSecretstream,
  parseEnvelopeHeader,
  x25519KeyPairFromSecretKey,
} from "../src/index.ts";
import { expect } from "chai";
import type { Secretstream } from "../src/index.ts";
import { collect, concat, expectBytesEqual, patternBytes, splitInto } from "./helpers.ts";

const IMPLEMENTATIONS: ReadonlyArray<readonly [string, Secretstream]> = [
  ["node:crypto", nativeSecretstream!],
  ["libsodium", libsodiumSecretstream],
];

/** Three full default chunks and a partial one. */
const PLAINTEXT = patternBytes(3 * DEFAULT_CHUNK_SIZE + 12_345, 11);
const FRAME_BYTES = DEFAULT_CHUNK_SIZE + 17;

/**
 * Reads `bytes` as a file read loop does: into one scratch buffer of `readSize` bytes, yielded every time. Once
 * done it scribbles over the buffer, so a consumer still holding any of it past its last read sees garbage.
 */
async function* scratchReads(bytes: Uint8Array, readSize: number): AsyncGenerator<Uint8Array> {
  const scratch = new Uint8Array(readSize);
  for (let offset = 0; offset < bytes.length; offset += readSize) {
    const length = Math.min(readSize, bytes.length - offset);
    scratch.set(bytes.subarray(offset, offset + length));
    yield scratch.subarray(0, length);
  }
  scratch.fill(0xee);
}

describe("sources that reuse their buffer, consumers that keep what they get", function () {
  // Smaller than a chunk, exactly one, one more, unaligned, and more than the whole input.
  const readSizes = [1000, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE + 1, 100_000, 1024 * 1024];

  for (const [name, secretstream] of IMPLEMENTATIONS) {
    it(`encrypts exactly the bytes read from a source that refills one buffer (${name})`, async function () {
      for (const readSize of readSizes) {
        const key = generateDataKey();
        const envelope = await collect(encryptChunks(scratchReads(PLAINTEXT, readSize), key, { secretstream }));
        expectBytesEqual(await decryptToBuffer(envelope, key), PLAINTEXT);
      }
    });

    it(`decrypts an envelope read from a source that refills one buffer (${name})`, async function () {
      const key = generateDataKey();
      const envelope = await encryptToBuffer(PLAINTEXT, key, { secretstream });
      for (const readSize of [7, 1000, FRAME_BYTES, FRAME_BYTES + 1, 100_000, 1024 * 1024]) {
        const plaintext = await collect(decryptChunks(scratchReads(envelope, readSize), key, { secretstream }));
        expectBytesEqual(plaintext, PLAINTEXT);
      }
    });

    it(`never changes a piece it has yielded: a consumer may keep them all (${name})`, async function () {
      const key = generateDataKey();
      const kept: Uint8Array[] = [];
      const copies: Uint8Array[] = [];
      for await (const piece of encryptChunks(splitInto(PLAINTEXT, [50_000]), key, { secretstream })) {
        kept.push(piece);
        copies.push(new Uint8Array(piece)); // a copy (a Buffer's slice() is a view)
      }
      expectBytesEqual(concat(kept), concat(copies));
      const envelope = concat(kept);
      const plainKept: Uint8Array[] = [];
      const plainCopies: Uint8Array[] = [];
      for await (const piece of decryptChunks(splitInto(envelope, [50_000]), key, { secretstream })) {
        plainKept.push(piece);
        plainCopies.push(new Uint8Array(piece));
      }
      expectBytesEqual(concat(plainKept), concat(plainCopies));
      expectBytesEqual(concat(plainKept), PLAINTEXT);
    });
  }

  it("RecordEncryptor and RecordDecryptor may be handed the same buffer again as soon as update returns", function () {
    const key = generateDataKey();
    const encryptor = new RecordEncryptor(key);
    const scratch = new Uint8Array(40_000);
    const envelope: Uint8Array[] = [];
    for (let offset = 0; offset < PLAINTEXT.length; offset += scratch.length) {
      const piece = PLAINTEXT.subarray(offset, offset + scratch.length);
      scratch.set(piece);
      envelope.push(...encryptor.update(scratch.subarray(0, piece.length)));
      scratch.fill(0xee);
    }
    envelope.push(...encryptor.final());

    const whole = concat(envelope);
    const decryptor = new RecordDecryptor(key);
    const plaintext: Uint8Array[] = [];
    for (let offset = 0; offset < whole.length; offset += scratch.length) {
      const piece = whole.subarray(offset, offset + scratch.length);
      scratch.set(piece);
      plaintext.push(...decryptor.update(scratch.subarray(0, piece.length)));
      scratch.fill(0xee);
    }
    plaintext.push(...decryptor.final());
    expectBytesEqual(concat(plaintext), PLAINTEXT);
  });
});

describe("keys handed over in a Node Buffer that is reused afterwards", () => {
  // Buffer#slice returns a view of the same memory (often Node's shared pool), not a copy.
  it("x25519KeyPairFromSecretKey keeps its own copy of the secret key", () => {
    const secret = Buffer.from(x25519KeyPairFromSecretKey(new Uint8Array(32).fill(7)).secretKey);
    const pair = x25519KeyPairFromSecretKey(secret);
    const expected = Uint8Array.from(secret);
    secret.fill(0xee);
    expectBytesEqual(pair.secretKey, expected);
    expect(Buffer.isBuffer(pair.secretKey)).to.equal(false);
  });

  it("a RecordDecryptor keeps its own copy of the data key", async () => {
    const key = generateDataKey();
    const envelope = await encryptToBuffer(PLAINTEXT, key);
    const keyInBuffer = Buffer.from(key);
    const decryptor = new RecordDecryptor(keyInBuffer);
    keyInBuffer.fill(0);
    const out = [...decryptor.update(envelope), ...decryptor.final()];
    expectBytesEqual(concat(out), PLAINTEXT);
  });

  it("a parsed envelope header does not change when the input buffer is overwritten", async () => {
    const bytes = Buffer.from(await encryptToBuffer(PLAINTEXT, generateDataKey()));
    const header = parseEnvelopeHeader(bytes);
    const preamble = Uint8Array.from(header.preamble);
    const streamHeader = Uint8Array.from(header.streamHeader);
    bytes.fill(0);
    expectBytesEqual(header.preamble, preamble);
    expectBytesEqual(header.streamHeader, streamHeader);
  });
});
