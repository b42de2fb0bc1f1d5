// Every InvalidArgumentError names the argument to fix in `.field` (the constructor requires one), so a caller
// can point a user at it without parsing messages.
import { expect } from "chai";
import {
  InvalidArgumentError,
  RecordDecryptor,
  RecordEncryptor,
  chunkCount,
  decryptToBuffer,
  encryptToBuffer,
  generateDataKey,
  generateX25519KeyPair,
  unwrapKey,
  wrapKey,
  wrapKeyForRecipients,
} from "../src/index.ts";
import { rejection, thrown } from "./helpers.ts";

function expectField(error: unknown, field: string): void {
  expect(error, `expected an InvalidArgumentError naming ${field}`).to.be.instanceOf(InvalidArgumentError);
  expect((error as InvalidArgumentError).code).to.equal("INVALID_ARGUMENT");
  expect((error as InvalidArgumentError).field).to.equal(field);
}

describe("InvalidArgumentError names its field", function () {
  const dek = generateDataKey();
  const recipient = generateX25519KeyPair();

  it("an empty or non-string wrap context is `context`, to wrap and to unwrap", function () {
    expectField(
      thrown(() => wrapKey(dek, recipient.publicKey, "")),
      "context",
    );
    expectField(
      thrown(() => wrapKey(dek, recipient.publicKey, new Uint8Array(0))),
      "context",
    );
    expectField(
      thrown(() => wrapKey(dek, recipient.publicKey, 42 as unknown as string)),
      "context",
    );
    const wrap = wrapKey(dek, recipient.publicKey, "hygeia:record:x");
    expectField(
      thrown(() => unwrapKey(wrap, recipient, "")),
      "context",
    );
    expectField(
      thrown(() => unwrapKey("not bytes" as unknown as Uint8Array, recipient, "hygeia:record:x")),
      "wrap",
    );
  });

  it("an empty recipient list is `recipients`, a recipient without an id `recipients[i].id`", function () {
    expectField(
      thrown(() => wrapKeyForRecipients(dek, [], "hygeia:record:x")),
      "recipients",
    );
    expectField(
      thrown(() => wrapKeyForRecipients(dek, undefined as unknown as [], "hygeia:record:x")),
      "recipients",
    );
    const noId = [
      { id: "did:ethr:0x7a69:0x01#delegate-1", publicKey: recipient.publicKey },
      { publicKey: recipient.publicKey },
    ];
    expectField(
      thrown(() => wrapKeyForRecipients(dek, noId as never, "hygeia:record:x")),
      "recipients[1].id",
    );
    expectField(
      thrown(() => wrapKeyForRecipients(dek, [{ id: "", publicKey: recipient.publicKey }], "hygeia:record:x")),
      "recipients[0].id",
    );
  });

  it("chunk sizes, plaintext lengths and maxPlaintextBytes are named", async function () {
    expectField(
      thrown(() => new RecordEncryptor(dek, { chunkSize: 3 })),
      "chunkSize",
    );
    expectField(
      thrown(() => chunkCount(-1)),
      "plaintextBytes",
    );
    const envelope = await encryptToBuffer(new Uint8Array(5000), dek);
    expectField(await rejection(decryptToBuffer(envelope, dek, { maxPlaintextBytes: -1 })), "maxPlaintextBytes");
    expectField(await rejection(decryptToBuffer(envelope, dek, { maxPlaintextBytes: 100 })), "envelope");
    expectField(await rejection(decryptToBuffer([envelope], dek, { maxPlaintextBytes: 4999 })), "envelope");
  });

  it("using a finished encryptor or decryptor is `encryptor` / `decryptor`", async function () {
    const encryptor = new RecordEncryptor(dek);
    const envelope = [...encryptor.update(new Uint8Array(10)), ...encryptor.final()];
    expectField(
      thrown(() => encryptor.final()),
      "encryptor",
    );
    const decryptor = new RecordDecryptor(dek);
    for (const part of envelope) decryptor.update(part);
    decryptor.final();
    expectField(
      thrown(() => decryptor.final()),
      "decryptor",
    );
  });
});
