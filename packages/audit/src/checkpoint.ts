// Signed tree heads in the C2SP tlog-checkpoint format (https://c2sp.org/tlog-checkpoint), carried in a
// C2SP signed note (https://c2sp.org/signed-note, the format of Go's golang.org/x/mod/sumdb/note), so
// standard transparency-log tools and witnesses read them.
//
// Rules (from the two specs):
// - Checkpoint body: `<origin>\n<decimal size>\n<base64 root hash>\n`, then optional non-empty extension
//   lines, each ending in a newline. The origin is a schema-less URL naming the log.
// - Signed note: the body (ending in a newline), one blank line, then signature lines
//   `— <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature)>\n` (U+2014 em dash, U+0020 space).
//   The signature covers the body bytes including its final newline. No ASCII control character except
//   the newline anywhere; valid UTF-8.
// - Ed25519 key id = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]; verifier key string
//   `<name>+<8 hex digits key id>+<base64(0x01 ‖ public key)>`. Key names: non-empty, no Unicode space, no "+".
// - Opening a note: the signature by the verifier's (name, key id) decides; a bad signature refuses the
//   note, and a note without a signature by that key is refused (UNKNOWN_KEY). Other signatures
//   (witness cosignatures) are allowed and ignored.
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { fromBase64, toBase64, toHex } from "./base64.ts";
import { HASH_SIZE } from "./merkle.ts";

const ED25519_TYPE = 0x01;
const EM_DASH_PREFIX = "\u2014 ";
const MAX_SIGNATURES = 100;

export type CheckpointErrorCode =
  "MALFORMED_NOTE" | "MALFORMED_CHECKPOINT" | "INVALID_KEY" | "UNKNOWN_KEY" | "BAD_SIGNATURE" | "WRONG_ORIGIN";

export class CheckpointError extends Error {
  override name = "CheckpointError";
  readonly code: CheckpointErrorCode;
  constructor(code: CheckpointErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Extension lines, without their newlines. */
  extensions?: string[];
}

export interface VerifierKey {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
}

const encoder = new TextEncoder();
// A string holding one cannot be encoded as valid UTF-8.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function hasControl(text: string): boolean {
  return /[\u0000-\u0009\u000b-\u001f]/.test(text);
}

function validKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !hasControl(name);
}

/** SHA-256(name ‖ 0x0A ‖ 0x01 ‖ publicKey)[:4]. */
export function ed25519KeyId(name: string, publicKey: Uint8Array): Uint8Array {
  const nameBytes = encoder.encode(name);
  const input = new Uint8Array(nameBytes.length + 2 + publicKey.length);
  input.set(nameBytes);
  input[nameBytes.length] = 0x0a;
  input[nameBytes.length + 1] = ED25519_TYPE;
  input.set(publicKey, nameBytes.length + 2);
  return sha256(input).slice(0, 4);
}

/** The verifier key string of an Ed25519 public key: `<name>+<hex key id>+<base64(0x01 ‖ key)>`. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!validKeyName(name)) throw new CheckpointError("INVALID_KEY", "a key name is non-empty, without spaces or +");
  if (publicKey.length !== 32) throw new CheckpointError("INVALID_KEY", "an Ed25519 public key is 32 bytes");
  const typed = new Uint8Array(33);
  typed[0] = ED25519_TYPE;
  typed.set(publicKey, 1);
  return `${name}+${toHex(ed25519KeyId(name, publicKey))}+${toBase64(typed)}`;
}

/** The verifier key string of an Ed25519 seed's public key. */
export function verifierKeyOf(name: string, privateKey: Uint8Array): string {
  return formatVerifierKey(name, ed25519.getPublicKey(privateKey));
}

export function parseVerifierKey(text: string): VerifierKey {
  // The name and the id hold no "+"; the base64 key may.
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new CheckpointError("INVALID_KEY", "expected <name>+<key id>+<key>");
  const name = text.slice(0, first);
  const hexId = text.slice(first + 1, second);
  const encoded = text.slice(second + 1);
  if (!validKeyName(name)) throw new CheckpointError("INVALID_KEY", "bad key name");
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new CheckpointError("INVALID_KEY", "the key id is 8 lowercase hex digits");
  const typed = fromBase64(encoded);
  if (typed === undefined || typed.length !== 33 || typed[0] !== ED25519_TYPE) {
    throw new CheckpointError("INVALID_KEY", "expected base64 of 0x01 and a 32-byte Ed25519 key");
  }
  const publicKey = typed.slice(1);
  const keyId = ed25519KeyId(name, publicKey);
  if (toHex(keyId) !== hexId) throw new CheckpointError("INVALID_KEY", "the key id does not match the key");
  return { name, keyId, publicKey };
}

/** The checkpoint body (the note text that is signed). */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  if (origin.length === 0 || origin.includes("\n") || hasControl(origin)) {
    throw new CheckpointError("MALFORMED_CHECKPOINT", "the origin is one non-empty line");
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new CheckpointError("MALFORMED_CHECKPOINT", "bad size");
  if (rootHash.length !== HASH_SIZE) throw new CheckpointError("MALFORMED_CHECKPOINT", "the root hash is 32 bytes");
  for (const line of extensions) {
    if (line.length === 0 || line.includes("\n") || hasControl(line)) {
      throw new CheckpointError("MALFORMED_CHECKPOINT", "an extension line is non-empty, one line");
    }
  }
  return [origin, String(size), toBase64(rootHash), ...extensions].map((line) => `${line}\n`).join("");
}

/** Parses a checkpoint body (unsigned). */
export function parseCheckpoint(body: string): Checkpoint {
  if (!body.endsWith("\n")) throw new CheckpointError("MALFORMED_CHECKPOINT", "the body ends in a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw new CheckpointError("MALFORMED_CHECKPOINT", "expected origin, size and root lines");
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new CheckpointError("MALFORMED_CHECKPOINT", "empty origin");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new CheckpointError("MALFORMED_CHECKPOINT", "the size is a decimal without leading zeros");
  }
  const rootHash = fromBase64(rootText);
  if (rootHash === undefined || rootHash.length !== HASH_SIZE) {
    throw new CheckpointError("MALFORMED_CHECKPOINT", "the root hash is base64 of 32 bytes");
  }
  if (extensions.some((line) => line.length === 0)) {
    throw new CheckpointError("MALFORMED_CHECKPOINT", "extension lines are non-empty");
  }
  return { origin, size: Number(sizeText), rootHash, ...(extensions.length > 0 ? { extensions } : {}) };
}

/**
 * Signs a note text with an Ed25519 seed: `<body>\n— <name> <base64(key id ‖ signature)>\n`. Any note text (a
 * checkpoint, a pull manifest); `signNote` is the same function under its general name.
 */
export function signCheckpoint(body: string, signer: { name: string; privateKey: Uint8Array }): string {
  if (!body.endsWith("\n") || body.includes("\n\n") || hasControl(body)) {
    throw new CheckpointError(
      "MALFORMED_NOTE",
      "a note text ends in a newline, has no blank line and no control characters",
    );
  }
  if (!validKeyName(signer.name)) throw new CheckpointError("INVALID_KEY", "bad key name");
  const publicKey = ed25519.getPublicKey(signer.privateKey);
  const signature = ed25519.sign(encoder.encode(body), signer.privateKey);
  const blob = new Uint8Array(4 + signature.length);
  blob.set(ed25519KeyId(signer.name, publicKey));
  blob.set(signature, 4);
  return `${body}\n${EM_DASH_PREFIX}${signer.name} ${toBase64(blob)}\n`;
}

/** Signs any C2SP note text (see signCheckpoint). */
export const signNote: typeof signCheckpoint = (body, signer) => signCheckpoint(body, signer);

/** Splits a signed note into its text and signature lines; throws MALFORMED_NOTE. */
export function splitNote(note: string): {
  text: string;
  signatures: { name: string; keyId: Uint8Array; signature: Uint8Array }[];
} {
  if (hasControl(note)) throw new CheckpointError("MALFORMED_NOTE", "control characters");
  if (!note.endsWith("\n")) throw new CheckpointError("MALFORMED_NOTE", "a note ends in a newline");
  if (LONE_SURROGATE.test(note)) throw new CheckpointError("MALFORMED_NOTE", "not valid UTF-8");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new CheckpointError("MALFORMED_NOTE", "no signature block");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new CheckpointError("MALFORMED_NOTE", "too many signatures");
  const signatures = lines.map((line) => {
    if (!line.startsWith(EM_DASH_PREFIX))
      throw new CheckpointError("MALFORMED_NOTE", "a signature line starts with an em dash");
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.lastIndexOf(" ");
    const name = rest.slice(0, Math.max(space, 0));
    const blob = fromBase64(rest.slice(space + 1));
    if (space <= 0 || !validKeyName(name) || blob === undefined || blob.length < 5) {
      throw new CheckpointError("MALFORMED_NOTE", "a signature line is `— <name> <base64>`");
    }
    return { name, keyId: blob.slice(0, 4), signature: blob.slice(4) };
  });
  return { text, signatures };
}

/**
 * Verifies a signed note's signature by `verifierKey` (a string or parsed) and returns the text it signs (ending in
 * a newline). Refuses (CheckpointError) a malformed note, a note without that key's signature and a bad signature.
 * Any signed note: checkpoints (openCheckpoint) and other statements of the same key (a research pull manifest).
 */
export function openNote(note: string, verifierKey: string | VerifierKey): string {
  const key = typeof verifierKey === "string" ? parseVerifierKey(verifierKey) : verifierKey;
  const { text, signatures } = splitNote(note);
  const keyId = toHex(key.keyId);
  const mine = signatures.find((s) => s.name === key.name && toHex(s.keyId) === keyId);
  if (mine === undefined) throw new CheckpointError("UNKNOWN_KEY", `no signature by ${key.name}`);
  const valid =
    mine.signature.length === 64 &&
    ed25519.verify(mine.signature, encoder.encode(text), key.publicKey, { zip215: false });
  if (!valid) throw new CheckpointError("BAD_SIGNATURE", `the signature by ${key.name} does not verify`);
  return text;
}

/**
 * Verifies the note's signature by `verifierKey` (a string or parsed) and parses the checkpoint it signs.
 * Refuses (CheckpointError) a malformed note, a note without that key's signature, a bad signature, and,
 * when `origin` is given, a checkpoint of another log.
 */
export function openCheckpoint(
  note: string,
  verifierKey: string | VerifierKey,
  options: { origin?: string } = {},
): Checkpoint {
  const checkpoint = parseCheckpoint(openNote(note, verifierKey));
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    throw new CheckpointError("WRONG_ORIGIN", `a checkpoint of ${checkpoint.origin}, not ${options.origin}`);
  }
  return checkpoint;
}
