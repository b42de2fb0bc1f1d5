// Every function that takes bytes takes the same inputs (byte-input.ts): whole bytes, Blobs, web and Node
// streams, (async) iterables of chunks; and refuses the rest with an InvalidArgumentError naming the field.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import {
  ACCEPTED_BYTE_INPUTS,
  InvalidArgumentError,
  RecordDecryptor,
  RecordEncryptor,
  byteChunks,
  decryptChunks,
  decryptToBuffer,
  encryptChunks,
  encryptToBuffer,
  generateDataKey,
} from "../src/index.ts";
import type { ByteInput } from "../src/index.ts";
import { decryptToFile } from "../src/node.ts";
import {
  collect,
  expectBytesEqual,
  expectCryptoError,
  patternBytes,
  readableOf,
  rejection,
  splitInto,
  thrown,
  webReadableOf,
} from "./helpers.ts";

const PLAINTEXT = patternBytes(200_000, 7);
const pieces = (bytes: Uint8Array) => splitInto(bytes, [1, 4096, 65_535, 70_000]);

/** Each accepted kind of input, made from some bytes (freshly each time: streams can be read once). */
const KINDS: ReadonlyArray<readonly [string, (bytes: Uint8Array) => ByteInput]> = [
  ["a Uint8Array", (bytes) => bytes],
  ["a Buffer", (bytes) => Buffer.from(bytes)],
  ["an ArrayBuffer", (bytes) => bytes.slice().buffer],
  ["a Blob", (bytes) => new Blob([bytes])],
  ["a web ReadableStream", (bytes) => webReadableOf(pieces(bytes))],
  ["a node:stream Readable", (bytes) => readableOf(pieces(bytes))],
  [
    "an async generator",
    (bytes) =>
      (async function* () {
        yield* pieces(bytes);
      })(),
  ],
  ["an array of Uint8Array chunks", (bytes) => pieces(bytes)],
  ["an array of ArrayBuffer chunks", (bytes) => pieces(bytes).map((piece) => piece.slice().buffer)],
];

function fieldOf(error: unknown): string | undefined {
  return (error as InvalidArgumentError).field;
}

describe("byte inputs", function () {
  for (const [name, make] of KINDS) {
    it(`encrypts and decrypts ${name}`, async function () {
      const key = generateDataKey();
      const envelope = await encryptToBuffer(make(PLAINTEXT), key, { chunkSize: 65_536 });
      expectBytesEqual(await decryptToBuffer(make(envelope), key), PLAINTEXT);
      expectBytesEqual(await collect(decryptChunks(make(envelope), key)), PLAINTEXT);
      const streamed = await collect(encryptChunks(make(PLAINTEXT), key));
      expectBytesEqual(await decryptToBuffer(streamed, key), PLAINTEXT);
    });
  }

  it("encryptChunks takes a whole Uint8Array as one input, not as an iterable of numbers", async function () {
    const key = generateDataKey();
    const envelope = await collect(encryptChunks(Uint8Array.of(1, 2, 3), key));
    expectBytesEqual(await decryptToBuffer(envelope, key), Uint8Array.of(1, 2, 3));
  });

  it("decryptToFile reads a web ReadableStream", async function () {
    const key = generateDataKey();
    const envelope = await encryptToBuffer(PLAINTEXT, key);
    const dir = await mkdtemp(join(tmpdir(), "hygeia-crypto-"));
    try {
      const path = join(dir, "record.bin");
      await decryptToFile(webReadableOf(splitInto(envelope, [3000])), key, path);
      expectBytesEqual(new Uint8Array(await readFile(path)), PLAINTEXT);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a string, naming the field and what is accepted, and points at TextEncoder", async function () {
    const error = await rejection(encryptToBuffer("a FHIR resource" as unknown as ByteInput, generateDataKey()));
    expectCryptoError(error, InvalidArgumentError, "INVALID_ARGUMENT");
    expect(fieldOf(error)).to.equal("plaintext");
    expect((error as Error).message)
      .to.include(ACCEPTED_BYTE_INPUTS)
      .and.include("TextEncoder");
  });

  it("refuses inputs that are not bytes at once, before reading anything", function () {
    const key = generateDataKey();
    const refused: unknown[] = [42, null, undefined, true, {}, new Int16Array(4), new DataView(new ArrayBuffer(4))];
    for (const input of refused) {
      const error = thrown(() => encryptChunks(input as ByteInput, key));
      expectCryptoError(error, InvalidArgumentError, "INVALID_ARGUMENT");
      expect(fieldOf(error), String(input)).to.equal("plaintext");
      expect(fieldOf(thrown(() => decryptChunks(input as ByteInput, key)))).to.equal("envelope");
      expect(fieldOf(thrown(() => byteChunks(input, "upload")))).to.equal("upload");
    }
  });

  it("refuses chunks that are not bytes when they are read, saying which chunk", async function () {
    const key = generateDataKey();
    const strings = Readable.from(["text"]);
    const fromStrings = await rejection(encryptToBuffer(strings, key));
    expectCryptoError(fromStrings, InvalidArgumentError, "INVALID_ARGUMENT");
    expect((fromStrings as Error).message).to.match(/plaintext chunk 0 .*string.*setEncoding/);
    const numbers = await rejection(encryptToBuffer([1, 2, 3] as unknown as ByteInput, key));
    expect((numbers as Error).message).to.match(/plaintext chunk 0 .*number/);
    const late = await rejection(encryptToBuffer([new Uint8Array(8), "x"] as unknown as ByteInput, key));
    expect((late as Error).message).to.match(/plaintext chunk 1 /);
    expect(fieldOf(late)).to.equal("plaintext");
  });

  it("refuses a detached ArrayBuffer or a view of one, naming the field, rather than a bare TypeError", async function () {
    const key = generateDataKey();
    const detachedBuffer = (): ArrayBuffer => {
      const buffer = new ArrayBuffer(16);
      structuredClone(buffer, { transfer: [buffer] });
      return buffer;
    };
    const detachedView = (): Uint8Array => {
      const view = new Uint8Array(16);
      structuredClone(view.buffer, { transfer: [view.buffer] }); // the view now reads as 0 bytes
      return view;
    };
    const expectDetached = (error: unknown, field: string): void => {
      expectCryptoError(error, InvalidArgumentError, "INVALID_ARGUMENT");
      expect(fieldOf(error)).to.equal(field);
      expect((error as Error).message).to.include("detached");
    };
    // The whole input: refused at the call, before anything is read (a view would otherwise read as 0 bytes).
    expectDetached(
      thrown(() => encryptChunks(detachedBuffer(), key)),
      "plaintext",
    );
    expectDetached(
      thrown(() => encryptChunks(detachedView(), key)),
      "plaintext",
    );
    expectDetached(
      thrown(() => decryptChunks(detachedView(), key)),
      "envelope",
    );
    expectDetached(await rejection(encryptToBuffer(detachedBuffer(), key)), "plaintext");
    // A chunk of a stream: refused when it is read.
    expectDetached(await rejection(encryptToBuffer([new Uint8Array(4), detachedBuffer()], key)), "plaintext");
    expectDetached(await rejection(encryptToBuffer([new Uint8Array(4), detachedView()], key)), "plaintext");
    // Whole bytes detached after the call but before they are read.
    const later = new Uint8Array(8);
    const chunks = encryptChunks(later, key);
    structuredClone(later.buffer, { transfer: [later.buffer] });
    expectDetached(await rejection(collect(chunks)), "plaintext");
    // The sans-I/O classes and the stream adapters built on them.
    expectDetached(
      thrown(() => new RecordEncryptor(key).update(detachedView())),
      "plaintext",
    );
    expectDetached(
      thrown(() => new RecordDecryptor(key).update(detachedView())),
      "ciphertext",
    );
  });

  it("cancels a web ReadableStream it stops reading", async function () {
    let cancelled = false;
    const stream = new ReadableStream<unknown>({
      pull(controller) {
        controller.enqueue("not bytes");
      },
      cancel() {
        cancelled = true;
      },
    });
    await rejection(encryptToBuffer(stream as ReadableStream<Uint8Array>, generateDataKey()));
    expect(cancelled).to.equal(true);
    expect(stream.locked).to.equal(false);
  });
});
