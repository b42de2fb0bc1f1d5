// Session tokens: checked with one HMAC-SHA256 (node:crypto) per token, never a secp256k1 operation.
//
// Safety rules:
// - A token is `hgs1.<payload>.<mac>`: payload = base64url(session id, 16 random bytes ‖ expiresAt, u64 big-endian
//   unix ms ‖ the signed-in address, 20 bytes), mac = base64url(HMAC-SHA256(key, "hgs1." + payload)). Both parts
//   must be canonical base64url of exactly 44 and 32 bytes; anything else is malformed before any MAC is computed.
// - The MAC is compared with timingSafeEqual, and checked BEFORE the expiry is read: an expired token only says
//   "expired" when it is genuine.
// - The token is bound to the address that signed in: the MAC covers it, and the session row (looked up by id,
//   which also says whether the session was revoked, so sign-out bites at once) must name the same address. A row
//   whose address was altered in the database (a flipped byte) then refuses the token instead of serving another
//   identity.
// - A token whose MAC verified is remembered (token -> its payload; bounded), so a session's later requests skip
//   the decoding and the HMAC: the answer for one token string under one key never changes. Its expiry is still
//   compared with `now` on every check, and revocation is the session row's, read on every request.
// - The key is 32 random bytes in <dataDir>/session.key (mode 0600, created once, exclusively, on first start), or
//   derived from HYGEIA_SESSION_SECRET when set (several gateways sharing one store must share it). A token
//   minted under another key fails the MAC.
import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { join } from "node:path";

export const TOKEN_PREFIX = "hgs1";
const ID_BYTES = 16;
const ADDRESS_BYTES = 20;
const PAYLOAD_BYTES = ID_BYTES + 8 + ADDRESS_BYTES;
const MAC_BYTES = 32;
const KEY_BYTES = 32;
/** Longest token string accepted before any decoding: prefix, 59 + 43 base64url characters, two dots. */
export const MAX_TOKEN_LENGTH = 108;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type TokenCheck =
  | { ok: true; sessionId: string; expiresAt: number; address: string }
  | { ok: false; reason: "malformed" | "bad-mac" | "expired"; sessionId?: string };

/** Decodes base64url only when `text` is the canonical encoding of exactly `length` bytes. */
function decodeCanonical(text: string, length: number): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64url");
  if (bytes.length !== length || bytes.toString("base64url") !== text) return undefined;
  return bytes;
}

/** Most verified tokens remembered (about 150 bytes each); the memory is cleared when full. */
const VERIFIED_MAX = 10_000;

export class SessionTokens {
  // A KeyObject, not a Buffer: createHmac with raw key bytes costs ~5x more per call (OpenSSL 3 sets the key up
  // anew each time; measured 120 µs vs 24 µs here under load).
  readonly #key: KeyObject;
  /** Tokens whose form and MAC verified under #key: token -> its payload. */
  readonly #verified = new Map<string, { sessionId: string; expiresAt: number; address: string }>();

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new RangeError(`session key must be ${KEY_BYTES} bytes`);
    this.#key = createSecretKey(Buffer.from(key));
  }

  /** A fresh session id (hex, 16 random bytes). */
  static newSessionId(): string {
    return randomBytes(ID_BYTES).toString("hex");
  }

  /** A token for the session `sessionId` of `address` (lowercase 0x-hex), valid until `expiresAt` (unix ms). */
  issue(sessionId: string, expiresAt: number, address: string): string {
    const id = Buffer.from(sessionId, "hex");
    if (id.length !== ID_BYTES || !Number.isSafeInteger(expiresAt) || expiresAt < 0 || !ADDRESS.test(address))
      throw new RangeError("session id must be 16 bytes of hex, expiresAt a unix ms time, address lowercase 0x-hex");
    const payload = Buffer.alloc(PAYLOAD_BYTES);
    id.copy(payload, 0);
    payload.writeBigUInt64BE(BigInt(expiresAt), ID_BYTES);
    Buffer.from(address.slice(2), "hex").copy(payload, ID_BYTES + 8);
    const signed = `${TOKEN_PREFIX}.${payload.toString("base64url")}`;
    return `${signed}.${this.#mac(signed).toString("base64url")}`;
  }

  /** Checks the token's form, MAC and expiry (not revocation: that is the session row's). */
  check(token: string, now: number): TokenCheck {
    const known = this.#verified.get(token);
    if (known !== undefined)
      return known.expiresAt <= now
        ? { ok: false, reason: "expired", sessionId: known.sessionId }
        : { ok: true, sessionId: known.sessionId, expiresAt: known.expiresAt, address: known.address };
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: "malformed" };
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) return { ok: false, reason: "malformed" };
    const payload = decodeCanonical(parts[1]!, PAYLOAD_BYTES);
    const mac = decodeCanonical(parts[2]!, MAC_BYTES);
    if (!payload || !mac) return { ok: false, reason: "malformed" };
    if (!timingSafeEqual(mac, this.#mac(`${TOKEN_PREFIX}.${parts[1]!}`))) return { ok: false, reason: "bad-mac" };
    const sessionId = payload.subarray(0, ID_BYTES).toString("hex");
    const expiresAt = Number(payload.readBigUInt64BE(ID_BYTES));
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) return { ok: false, reason: "expired", sessionId };
    const address = `0x${payload.subarray(ID_BYTES + 8).toString("hex")}`;
    if (this.#verified.size >= VERIFIED_MAX) this.#verified.clear();
    this.#verified.set(token, { sessionId, expiresAt, address });
    return { ok: true, sessionId, expiresAt, address };
  }

  #mac(signed: string): Buffer {
    return createHmac("sha256", this.#key).update(signed).digest();
  }
}

/** Shortest HYGEIA_SESSION_SECRET accepted (characters). */
export const MIN_SESSION_SECRET_LENGTH = 32;

/**
 * The MAC key: SHA-256 of `secret` when one is given (HYGEIA_SESSION_SECRET; at least 32 characters), otherwise the
 * 32 bytes of <dataDir>/session.key, created (0600, exclusively: two processes starting at once agree) when absent.
 */
export async function loadSessionKey(dataDir: string, secret?: string): Promise<Buffer> {
  if (secret !== undefined && secret !== "") {
    if (secret.length < MIN_SESSION_SECRET_LENGTH)
      throw new RangeError(`HYGEIA_SESSION_SECRET must be at least ${MIN_SESSION_SECRET_LENGTH} characters`);
    return createHash("sha256").update(`hygeia session key v1\0${secret}`).digest();
  }
  return loadKeyFile(dataDir, "session.key", "sessions end");
}

/**
 * A long-lived key every gateway sharing a database must hold alike: SHA-256 of its label and `secret`
 * (HYGEIA_GATEWAY_SECRET) when one is given, otherwise the 32 bytes of <dataDir>/<name>.key (one gateway alone).
 * `losing` says what a new key costs, for the error about a damaged file.
 */
export async function loadSharedKey(
  dataDir: string,
  secret: string | null,
  name: "receipt" | "webhook" | "tally" | "bus",
  losing: string,
): Promise<Buffer> {
  if (secret !== null) return createHash("sha256").update(`hygeia ${name} key v1\0${secret}`).digest();
  return loadKeyFile(dataDir, `${name}.key`, losing);
}

/**
 * The 32 bytes of <dataDir>/<name>, created (0600, exclusively: two processes starting at once agree) when absent.
 * `losing` says what a new key costs, for the error about a damaged file.
 */
export async function loadKeyFile(dataDir: string, name: string, losing: string): Promise<Buffer> {
  const path = join(dataDir, name);
  await mkdir(dataDir, { recursive: true });
  try {
    const handle = await open(path, "wx", 0o600);
    try {
      const key = randomBytes(KEY_BYTES);
      await handle.writeFile(key);
      await handle.sync();
      return key;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  // Created by an earlier start (or a process racing this one, which may still be writing: wait for 32 bytes).
  for (let attempt = 0; ; attempt++) {
    const key = await readFile(path);
    if (key.length === KEY_BYTES) return key;
    if (attempt >= 20 || key.length > KEY_BYTES)
      throw new Error(`${path} must hold exactly ${KEY_BYTES} bytes (delete it to make a new key; ${losing})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
