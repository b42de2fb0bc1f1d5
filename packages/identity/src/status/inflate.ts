// Bounded inflation of status lists with pako (not node:zlib, so the web wallet can bundle the verifier; pako reads
// and writes the same streams). Not exported from the package: bitstring.ts (GZIP) and token-status-list.ts (ZLIB)
// use it.
import { concatBytes } from "@noble/hashes/utils.js";
import { Inflate } from "pako";

/**
 * Inflates GZIP (`format: "gzip"`, as node:zlib's gunzipSync: concatenated members joined, trailing zero bytes
 * ignored, anything else after a member, a bad CRC or a truncated stream refused) or ZLIB (`"zlib"`, RFC 1950, as
 * inflateSync: bytes after the Adler-32 ignored; a bad checksum, a preset dictionary or a truncated stream refused),
 * and throws (RangeError) as soon as the output passes `maxBytes`, so a bomb costs at most the limit plus one 64 KiB
 * chunk. The input goes in one push: pako starts a next GZIP member only within a push, so slices would drop members
 * (or accept trailing garbage) that begin at a slice boundary; throwing from onData is what stops inflation early.
 */
export function inflateBounded(compressed: Uint8Array, format: "gzip" | "zlib", maxBytes: number): Uint8Array {
  // windowBits 16 + 15: GZIP only (as gunzip); 15: ZLIB only (as inflate), never auto-detected.
  const inflator = new Inflate({ windowBits: format === "gzip" ? 16 + 15 : 15, chunkSize: 64 * 1024 });
  const chunks: Uint8Array[] = [];
  let total = 0;
  inflator.onData = (chunk) => {
    total += chunk.byteLength;
    if (total > maxBytes) throw new RangeError(`inflates beyond ${maxBytes} bytes`);
    // Kept as is, not copied: pako starts a fresh output buffer after each chunk it hands over.
    chunks.push(chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk));
  };
  if (!inflator.push(compressed, true) || inflator.err !== 0)
    throw new RangeError(`${format.toUpperCase()}: ${inflator.msg || "truncated stream"}`);
  return concatBytes(...chunks);
}
