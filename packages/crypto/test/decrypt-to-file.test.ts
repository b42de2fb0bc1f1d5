import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { IntegrityError, TruncatedError, encryptToBuffer, generateDataKey } from "../src/index.ts";
import { decryptToFile } from "../src/node.ts";
import { expectBytesEqual, expectCryptoError, patternBytes, readableOf, rejection, splitInto } from "./helpers.ts";

describe("decryptToFile", function () {
  let directory = "";
  beforeEach(async function () {
    directory = await mkdtemp(join(tmpdir(), "hygeia-crypto-"));
  });
  afterEach(async function () {
    await rm(directory, { recursive: true, force: true });
  });

  const key = generateDataKey();
  const plaintext = patternBytes(300_000);

  it("writes the verified plaintext to the destination", async function () {
    const envelope = await encryptToBuffer(plaintext, key);
    const destination = join(directory, "record.bin");
    const result = await decryptToFile(readableOf(splitInto(envelope, [10_000])), key, destination);
    expect(result.plaintextBytes).to.equal(plaintext.length);
    expectBytesEqual(await readFile(destination), plaintext);
    expect(await readdir(directory)).to.deep.equal(["record.bin"]);
  });

  it("leaves no file (and an existing destination untouched) when the record is tampered or truncated", async function () {
    const envelope = await encryptToBuffer(plaintext, key);
    const destination = join(directory, "record.bin");
    await writeFile(destination, "previous version");
    const tampered = envelope.slice();
    tampered[tampered.length - 20]! ^= 1;
    expectCryptoError(await rejection(decryptToFile([tampered], key, destination)), IntegrityError, "INTEGRITY");
    const truncated = envelope.subarray(0, 34 + 2 * (65536 + 17));
    expectCryptoError(await rejection(decryptToFile([truncated], key, destination)), TruncatedError, "TRUNCATED");
    expect(await readFile(destination, "utf8")).to.equal("previous version");
    expect(await readdir(directory)).to.deep.equal(["record.bin"]);
  });
});
