import { readFileSync } from "node:fs";
import { expect } from "chai";
import fc from "fast-check";
import {
  CheckpointError,
  formatCheckpoint,
  formatVerifierKey,
  openCheckpoint,
  parseCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  splitNote,
  toHex,
  verifierKeyOf,
} from "../src/index.ts";
import { refCheckpointBody, refOpen, refSign } from "./reference.ts";

const readVector = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), "utf8")) as T;
const goNote = readVector<{ verifierKey: string; signerKey: string; text: string; note: string }>("signed-note.json");
const checkpointVector = readVector<{
  origin: string;
  size: number;
  rootHash: string;
  seed: string;
  verifierKey: string;
  note: string;
}>("checkpoint.json");
const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"));
// PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>; the base64 part may itself hold "+".
const goSeed = Uint8Array.from(Buffer.from(goNote.signerKey.split("+").slice(4).join("+"), "base64").subarray(1));

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof CheckpointError) return error.code;
    throw error;
  }
  return undefined;
}

describe("@hygeia/audit checkpoints (C2SP tlog-checkpoint, signed-note)", () => {
  it("reproduces the Go reference note byte for byte and its verifier key, and opens it", () => {
    expect(signCheckpoint(goNote.text, { name: "PeterNeumann", privateKey: goSeed })).to.equal(goNote.note);
    expect(verifierKeyOf("PeterNeumann", goSeed)).to.equal(goNote.verifierKey);
    const key = parseVerifierKey(goNote.verifierKey);
    expect(toHex(key.keyId)).to.equal("c74f20a3");
    expect(splitNote(goNote.note).text).to.equal(goNote.text);
  });

  it("signs the checkpoint vector exactly as the reference implementation does, and each opens the other's", () => {
    const seed = bytes(checkpointVector.seed);
    const body = formatCheckpoint({
      origin: checkpointVector.origin,
      size: 8,
      rootHash: bytes(checkpointVector.rootHash),
    });
    expect(body).to.equal(refCheckpointBody(checkpointVector.origin, 8, bytes(checkpointVector.rootHash)));
    const note = signCheckpoint(body, { name: checkpointVector.origin, privateKey: seed });
    expect(note).to.equal(checkpointVector.note);
    expect(verifierKeyOf(checkpointVector.origin, seed)).to.equal(checkpointVector.verifierKey);
    expect(refOpen(note, checkpointVector.verifierKey)).to.equal(body);
    const opened = openCheckpoint(checkpointVector.note, checkpointVector.verifierKey, {
      origin: checkpointVector.origin,
    });
    expect(opened.size).to.equal(8);
    expect(toHex(opened.rootHash)).to.equal(checkpointVector.rootHash);
  });

  it("property: any checkpoint signed here opens with the reference, and the reference's opens here", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.stringMatching(/^[a-z0-9.-]{1,20}\/[a-z0-9]{1,10}$/),
        (seed, root, size, origin) => {
          const body = formatCheckpoint({ origin, size, rootHash: root });
          const key = verifierKeyOf(origin, seed);
          expect(refOpen(signCheckpoint(body, { name: origin, privateKey: seed }), key)).to.equal(body);
          const opened = openCheckpoint(refSign(body, origin, seed), key);
          expect(opened.size).to.equal(size);
          expect(toHex(opened.rootHash)).to.equal(toHex(root));
        },
      ),
      { numRuns: 50 },
    );
  });

  it("refuses a note whose text, signature or key id was changed, and a note without the key's signature", () => {
    const note = checkpointVector.note;
    const key = checkpointVector.verifierKey;
    expect(codeOf(() => openCheckpoint(note.replace("\n8\n", "\n9\n"), key))).to.equal("BAD_SIGNATURE");
    const sigAt = note.lastIndexOf(" ") + 10;
    const bentSig = note.slice(0, sigAt) + (note[sigAt] === "A" ? "B" : "A") + note.slice(sigAt + 1);
    expect(codeOf(() => openCheckpoint(bentSig, key))).to.be.oneOf(["BAD_SIGNATURE", "MALFORMED_NOTE"]);
    const otherKey = verifierKeyOf(checkpointVector.origin, new Uint8Array(32).fill(9));
    expect(codeOf(() => openCheckpoint(note, otherKey))).to.equal("UNKNOWN_KEY");
    expect(codeOf(() => openCheckpoint(note, goNote.verifierKey))).to.equal("UNKNOWN_KEY");
    expect(codeOf(() => openCheckpoint(note, key, { origin: "another.example/log" }))).to.equal("WRONG_ORIGIN");
  });

  it("accepts extension lines and other signers' lines (witness cosignatures), as the specs allow", () => {
    const seed = bytes(checkpointVector.seed);
    const body = formatCheckpoint({
      origin: checkpointVector.origin,
      size: 8,
      rootHash: bytes(checkpointVector.rootHash),
      extensions: ["anchor 0x1234"],
    });
    const signed = signCheckpoint(body, { name: checkpointVector.origin, privateKey: seed });
    const witness = refSign(body, "witness.example", new Uint8Array(32).fill(3));
    const both = signed + witness.slice(witness.lastIndexOf("\u2014"));
    const opened = openCheckpoint(both, checkpointVector.verifierKey);
    expect(opened.extensions).to.deep.equal(["anchor 0x1234"]);
  });

  it("refuses malformed notes, checkpoints and keys with a code", () => {
    const key = checkpointVector.verifierKey;
    const note = checkpointVector.note;
    expect(codeOf(() => openCheckpoint(note.slice(0, -1), key))).to.equal("MALFORMED_NOTE");
    expect(codeOf(() => openCheckpoint(note.replace("\u2014", "-"), key))).to.equal("MALFORMED_NOTE");
    expect(codeOf(() => openCheckpoint(note.replace("\n8\n", "\n8\t\n"), key))).to.equal("MALFORMED_NOTE");
    expect(codeOf(() => openCheckpoint(note.replace("\n\n", "\n"), key))).to.equal("MALFORMED_NOTE");
    expect(codeOf(() => parseCheckpoint("origin\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"))).to.equal(
      "MALFORMED_CHECKPOINT",
    );
    expect(codeOf(() => parseCheckpoint("origin\n8\nXcnaeacGWamtVZy3Ad7Z\n"))).to.equal("MALFORMED_CHECKPOINT");
    expect(codeOf(() => parseCheckpoint("origin\n8\n"))).to.equal("MALFORMED_CHECKPOINT");
    expect(
      codeOf(() => parseVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")),
    ).to.equal("INVALID_KEY");
    expect(
      codeOf(() => parseVerifierKey("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")),
    ).to.equal("INVALID_KEY");
    expect(codeOf(() => formatVerifierKey("a+b", new Uint8Array(32)))).to.equal("INVALID_KEY");
    expect(codeOf(() => signCheckpoint("two\n\nparagraphs\n", { name: "x", privateKey: goSeed }))).to.equal(
      "MALFORMED_NOTE",
    );
  });
});
