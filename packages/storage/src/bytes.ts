// Byte helpers the manifest modules share, written for every platform (the web wallet bundles them): Node's Buffer
// and node:crypto's timingSafeEqual are not in browsers. Small enough to keep here rather than add a dependency:
// multiformats' base64 writes no padding (the manifest format stores padded RFC 4648 base64, as Buffer wrote it),
// and @noble/ciphers' equalBytes is not a dependency of this package.

/** Standard RFC 4648 base64 with padding (what Buffer's "base64" writes). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Decodes standard base64 (padding optional); undefined when it is not base64. */
export function fromBase64(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** Equal length and bytes, in time that depends on the length only (MAC tags, keys). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** The bytes of `parts` in one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
