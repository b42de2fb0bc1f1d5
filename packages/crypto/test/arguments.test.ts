import { expect } from "chai";
import {
  InvalidArgumentError,
  InvalidKeyError,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  RecordDecryptor,
  RecordEncryptor,
  decryptToBuffer,
  encryptToBuffer,
  encryptedSize,
  generateDataKey,
} from "../src/index.ts";
import { createEncryptStream } from "../src/node.ts";
import { expectCryptoError, patternBytes, rejection, thrown } from "./helpers.ts";

describe("argument validation", function () {
  it("rejects chunk sizes outside the bounds or not integers", function () {
    for (const chunkSize of [0, MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1, 1500.5, Number.NaN]) {
      expectCryptoError(
        thrown(() => new RecordEncryptor(generateDataKey(), { chunkSize })),
        InvalidArgumentError,
        "INVALID_ARGUMENT",
      );
    }
    expect(() => new RecordEncryptor(generateDataKey(), { chunkSize: MIN_CHUNK_SIZE })).to.not.throw();
    expect(() => new RecordEncryptor(generateDataKey(), { chunkSize: MAX_CHUNK_SIZE })).to.not.throw();
  });

  it("rejects data keys that are not 32 bytes", function () {
    for (const key of [new Uint8Array(16), new Uint8Array(33), "k".repeat(32), undefined]) {
      expectCryptoError(
        thrown(() => new RecordEncryptor(key as Uint8Array)),
        InvalidKeyError,
        "INVALID_KEY",
      );
      expectCryptoError(
        thrown(() => new RecordDecryptor(key as Uint8Array)),
        InvalidKeyError,
        "INVALID_KEY",
      );
      expectCryptoError(
        thrown(() => createEncryptStream(key as Uint8Array)),
        InvalidKeyError,
        "INVALID_KEY",
      );
    }
  });

  it("rejects non-byte chunks and use after final", function () {
    const encryptor = new RecordEncryptor(generateDataKey());
    expectCryptoError(
      thrown(() => encryptor.update("text" as unknown as Uint8Array)),
      InvalidArgumentError,
      "INVALID_ARGUMENT",
    );
    encryptor.final();
    expectCryptoError(
      thrown(() => encryptor.final()),
      InvalidArgumentError,
      "INVALID_ARGUMENT",
    );
    expectCryptoError(
      thrown(() => encryptor.update(new Uint8Array(1))),
      InvalidArgumentError,
      "INVALID_ARGUMENT",
    );
  });

  it("decryptToBuffer enforces maxPlaintextBytes", async function () {
    const key = generateDataKey();
    const envelope = await encryptToBuffer(patternBytes(5000), key, { chunkSize: MIN_CHUNK_SIZE });
    expect((await decryptToBuffer(envelope, key, { maxPlaintextBytes: 5000 })).length).to.equal(5000);
    const tooSmall = await rejection(decryptToBuffer([envelope], key, { maxPlaintextBytes: 4999 }));
    expectCryptoError(tooSmall, InvalidArgumentError, "INVALID_ARGUMENT");
    const early = await rejection(decryptToBuffer(envelope, key, { maxPlaintextBytes: 100 }));
    expectCryptoError(early, InvalidArgumentError, "INVALID_ARGUMENT");
  });

  it("computes exact envelope sizes", function () {
    expect(encryptedSize(0)).to.equal(34 + 17);
    expect(encryptedSize(65536)).to.equal(34 + 65536 + 17);
    expect(encryptedSize(65537)).to.equal(34 + 65537 + 2 * 17);
    expect(() => encryptedSize(-1)).to.throw(InvalidArgumentError);
  });
});
