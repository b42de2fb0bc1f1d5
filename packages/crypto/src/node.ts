// @hygeia/crypto/node: adapters that need Node.js built-ins (node:stream, node:fs).
export { createDecryptStream, createEncryptStream } from "./node-streams.ts";
export { decryptToFile } from "./files.ts";
export type { DecryptToFileResult } from "./files.ts";
