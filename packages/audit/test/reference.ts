// An independent reference, written from the specs for the tests only: RFC 9162 §2.1 by its definitions
// (MTH, PATH, PROOF, recomputed from the leaves every time, no shared code with src/), and the C2SP
// signed note with node:crypto's Ed25519 (not @noble/curves) and node:buffer's base64.
import { createHash, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};

export const refLeafHash = (data: Uint8Array): Uint8Array => sha256(Uint8Array.of(0), data);
const refNode = (l: Uint8Array, r: Uint8Array): Uint8Array => sha256(Uint8Array.of(1), l, r);

/** k: the largest power of two smaller than n. */
function split(n: number): number {
  let k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

/** MTH(D[n]) over leaf data. */
export function refMth(data: readonly Uint8Array[]): Uint8Array {
  if (data.length === 0) return sha256();
  if (data.length === 1) return refLeafHash(data[0]!);
  const k = split(data.length);
  return refNode(refMth(data.slice(0, k)), refMth(data.slice(k)));
}

/** PATH(m, D[n]). */
export function refPath(m: number, data: readonly Uint8Array[]): Uint8Array[] {
  if (data.length <= 1) return [];
  const k = split(data.length);
  return m < k
    ? [...refPath(m, data.slice(0, k)), refMth(data.slice(k))]
    : [...refPath(m - k, data.slice(k)), refMth(data.slice(0, k))];
}

function refSubproof(m: number, data: readonly Uint8Array[], b: boolean): Uint8Array[] {
  const n = data.length;
  if (m === n) return b ? [] : [refMth(data)];
  const k = split(n);
  return m <= k
    ? [...refSubproof(m, data.slice(0, k), b), refMth(data.slice(k))]
    : [...refSubproof(m - k, data.slice(k), false), refMth(data.slice(0, k))];
}

/** PROOF(m, D[n]) for 0 < m ≤ n. */
export function refProof(m: number, data: readonly Uint8Array[]): Uint8Array[] {
  return refSubproof(m, data, true);
}

// Signed notes, from https://c2sp.org/signed-note.
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

export function refKeyId(name: string, publicKey: Uint8Array): Buffer {
  return Buffer.from(sha256(Buffer.from(name, "utf8"), Uint8Array.of(0x0a, 0x01), publicKey)).subarray(0, 4);
}

export function refPublicKey(seed: Uint8Array): Buffer {
  const key = createPublicKey(
    createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" }),
  );
  return key.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519.length);
}

export function refSign(text: string, name: string, seed: Uint8Array): string {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
  const signature = sign(null, Buffer.from(text, "utf8"), privateKey);
  const blob = Buffer.concat([refKeyId(name, refPublicKey(seed)), signature]).toString("base64");
  return `${text}\n\u2014 ${name} ${blob}\n`;
}

/** The text of `note` when it carries a valid signature by the key `<name>+<id>+<key>`; undefined otherwise. */
export function refOpen(note: string, verifierKey: string): string | undefined {
  const [name, id, ...rest] = verifierKey.split("+") as [string, string, ...string[]];
  const encoded = rest.join("+");
  const typed = Buffer.from(encoded, "base64");
  const publicKey = createPublicKey({
    key: Buffer.concat([SPKI_ED25519, typed.subarray(1)]),
    format: "der",
    type: "spki",
  });
  const at = note.lastIndexOf("\n\n");
  const text = note.slice(0, at + 1);
  for (const line of note.slice(at + 2, -1).split("\n")) {
    const [dash, lineName, b64] = line.split(" ");
    if (dash !== "\u2014" || lineName !== name || b64 === undefined) continue;
    const blob = Buffer.from(b64, "base64");
    if (blob.subarray(0, 4).toString("hex") !== id) continue;
    return verify(null, Buffer.from(text, "utf8"), publicKey, blob.subarray(4)) ? text : undefined;
  }
  return undefined;
}

/** `<origin>\n<size>\n<base64 root>\n` per https://c2sp.org/tlog-checkpoint. */
export function refCheckpointBody(origin: string, size: number, root: Uint8Array): string {
  return `${origin}\n${size}\n${Buffer.from(root).toString("base64")}\n`;
}
