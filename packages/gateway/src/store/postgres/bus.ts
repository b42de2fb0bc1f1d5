// The gateways' bus on PostgreSQL: NOTIFY on one channel, LISTEN on a connection of its own (a pooled connection
// cannot listen: it goes back to the pool between queries). Best effort, as GatewayBus says: a message published
// while a listener's connection is down is lost to it; the connection comes back by itself (backoff up to 5 s).
// Publishes are grouped (one statement per round trip under load, several messages per NOTIFY under one MAC) and
// committed asynchronously: see publish().
import { createHmac, createSecretKey, randomUUID, timingSafeEqual, type KeyObject } from "node:crypto";
import { Client, type ClientConfig, type Pool } from "pg";
import type { GatewayBus } from "../types.ts";

const CHANNEL = "hygeia_gateway";
/** The longest message publish() takes; a NOTIFY payload (below) carries one or more. */
export const MAX_MESSAGE_BYTES = 7_000;
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more: messages are packed into payloads up to this size. */
const MAX_PAYLOAD_BYTES = 7_900;
/** Characters of a base64url HMAC-SHA256. */
const MAC_LENGTH = 43;
const MAX_BACKOFF_MS = 5_000;
/** Messages sent in one statement at most (published while the previous statement was under way). */
const MAX_BATCH = 256;

interface Pending {
  readonly message: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class PostgresBus implements GatewayBus {
  readonly #pool: Pool;
  readonly #config: ClientConfig;
  readonly #listeners = new Set<(message: string) => void>();
  /** Told when the listening connection comes (true) and goes (false): the store's read cache (read-cache.ts). */
  readonly #stateListeners = new Set<(listening: boolean) => void>();
  #client: Client | undefined;
  #connecting: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #backoffMs = 250;
  #closed = false;
  /** Published and not yet sent: they go together in the next statement (see publish()). */
  #pending: Pending[] = [];
  #sending = false;
  /**
   * Heads every payload this bus sends (`<id>:<n>`): PostgreSQL delivers one instance of identical payloads sent in
   * one transaction, and no two of these are identical.
   */
  readonly #payloadId = randomUUID();
  #payloads = 0;
  /** The last payload number heard from each sender (one entry per gateway process that ever published). */
  readonly #heard = new Map<string, number>();

  /** A KeyObject: createHmac with raw key bytes costs ~5x more per call (see auth/tokens.ts). */
  readonly #key: KeyObject | undefined;

  /**
   * `key` (the gateways' shared bus key): every message carries its HMAC, and a message without a valid one is
   * dropped. Any login of the database may LISTEN and NOTIFY on any channel; without the key it could forge an access
   * alert to a patient's stream or flush the gateways' caches.
   */
  constructor(pool: Pool, config: ClientConfig, key?: Uint8Array) {
    this.#pool = pool;
    this.#config = config;
    this.#key = key === undefined ? undefined : createSecretKey(key);
  }

  /**
   * A NOTIFY payload: `<HMAC-SHA256, base64url>.<id>` then each message on a line of its own, under the key (one MAC
   * per payload, not per message: every gateway opens every payload of every other); without a key, no MAC.
   */
  #seal(messages: readonly string[]): string {
    const body = [`${this.#payloadId}:${++this.#payloads}`, ...messages].join("\n");
    return this.#key === undefined ? body : `${this.#mac(body)}.${body}`;
  }

  /** The messages of a payload, or undefined when its MAC does not verify. */
  #open(payload: string): string[] | undefined {
    let body = payload;
    if (this.#key !== undefined) {
      const dot = payload.indexOf(".");
      if (dot !== MAC_LENGTH) return undefined;
      body = payload.slice(dot + 1);
      const expected = Buffer.from(this.#mac(body));
      const given = Buffer.from(payload.slice(0, dot));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    }
    const lines = body.split("\n");
    if (this.#key !== undefined && !this.#fresh(lines[0]!)) return undefined;
    return lines.slice(1);
  }

  /**
   * Whether a payload's id (`<sender>:<n>`) is newer than the last one heard from that sender: a database login
   * without the key could otherwise NOTIFY a captured payload again (a second emergency-access alert). One sender's
   * payloads arrive in the order sent (one statement at a time, committed in order).
   */
  #fresh(id: string): boolean {
    const colon = id.lastIndexOf(":");
    const sender = id.slice(0, colon);
    const n = Number(id.slice(colon + 1));
    if (colon <= 0 || !Number.isSafeInteger(n)) return false;
    if (n <= (this.#heard.get(sender) ?? 0)) return false;
    this.#heard.set(sender, n);
    return true;
  }

  #mac(message: string): string {
    // v2: payloads of several messages (a v1 payload, one message, must not verify as one of these).
    return createHmac("sha256", this.#key!).update(`hygeia bus v2\0${message}`).digest("base64url");
  }

  /**
   * Resolves once the message is sent (committed). Grouped: messages published while a statement is under way go
   * together in the next one, packed into as few NOTIFY payloads as fit, in order, so a busy gateway sends one
   * statement (one commit, one turn of the server's notification-queue lock) per round trip and one payload per few
   * messages, not one of each per message. The commit is asynchronous (synchronous_commit off for that transaction
   * alone): a notification is not a record, and the bus is best effort anyway; what it tells of was committed
   * durably before it was published. A message has no line feed (it separates the messages of a payload).
   */
  publish(message: string): Promise<void> {
    if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES)
      return Promise.reject(new RangeError(`a bus message is at most ${MAX_MESSAGE_BYTES} bytes`));
    if (message.includes("\n")) return Promise.reject(new RangeError("a bus message has no line feed"));
    return new Promise((resolve, reject) => {
      this.#pending.push({ message, resolve, reject });
      if (!this.#sending) void this.#send();
    });
  }

  async #send(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, MAX_BATCH);
        try {
          await this.#pool.query(
            // Volatile functions of the select list run after the sort: the NOTIFYs go in publish order.
            `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, u.m)
               FROM unnest($2::text[]) WITH ORDINALITY AS u (m, ord) ORDER BY u.ord`,
            [CHANNEL, this.#pack(batch.map((p) => p.message))],
          );
          for (const p of batch) p.resolve();
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  /** `messages` packed, in order, into sealed payloads of at most MAX_PAYLOAD_BYTES. */
  #pack(messages: readonly string[]): string[] {
    // Room for the MAC, the dot, the id line and its line feed.
    const room = MAX_PAYLOAD_BYTES - MAC_LENGTH - 1 - (this.#payloadId.length + 1 + 16) - 1;
    const payloads: string[] = [];
    let group: string[] = [];
    let bytes = 0;
    for (const message of messages) {
      const size = Buffer.byteLength(message) + 1;
      if (group.length > 0 && bytes + size > room) {
        payloads.push(this.#seal(group));
        group = [];
        bytes = 0;
      }
      group.push(message);
      bytes += size;
    }
    if (group.length > 0) payloads.push(this.#seal(group));
    return payloads;
  }

  async listen(
    listener: (message: string) => void,
    onState?: (listening: boolean) => void,
  ): Promise<() => Promise<void>> {
    if (this.#closed) throw new Error("the store is closed");
    this.#listeners.add(listener);
    try {
      await this.#connect();
    } catch (error) {
      this.#listeners.delete(listener);
      throw error;
    }
    if (onState) this.#stateListeners.add(onState);
    return async () => {
      this.#listeners.delete(listener);
      if (onState) this.#stateListeners.delete(onState);
      if (this.#listeners.size === 0) await this.#disconnect();
    };
  }

  /**
   * For the store's read cache: like listen(), but never rejects (a first connection that fails is retried like a
   * lost one), and `onState` hears whenever the listening connection comes (true) or goes (false). Resolves once the
   * first attempt to listen settled, either way. Ends with close().
   */
  async watch(listener: (message: string) => void, onState: (listening: boolean) => void): Promise<void> {
    if (this.#closed) return;
    this.#listeners.add(listener);
    this.#stateListeners.add(onState);
    if (this.#client !== undefined) onState(true);
    await this.#connect().catch(() => this.#reconnectLater());
  }

  /** Stops listening for good (the store closes). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#disconnect();
    this.#stateListeners.clear();
  }

  async #disconnect(): Promise<void> {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.#connecting?.catch(() => undefined);
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) this.#state(false);
    await client?.end().catch(() => undefined);
  }

  /** Opens the listening connection once; concurrent callers share the attempt. */
  #connect(): Promise<void> {
    if (this.#client !== undefined) return Promise.resolve();
    this.#connecting ??= (async () => {
      const client = new Client(this.#config);
      // A dropped connection ('error', then 'end') is reopened later; the failure never reaches a caller.
      client.on("error", () => undefined);
      client.on("end", () => this.#lost(client));
      client.on("notification", (notification) => {
        if (notification.channel !== CHANNEL || notification.payload === undefined) return;
        const messages = this.#open(notification.payload);
        if (messages === undefined) return; // not from a gateway holding the key: dropped
        for (const message of messages) for (const listener of this.#listeners) listener(message);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
        if (this.#closed || this.#listeners.size === 0) {
          await client.end().catch(() => undefined);
          return;
        }
        this.#client = client;
        this.#backoffMs = 250;
        this.#state(true);
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  #lost(client: Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#state(false);
    this.#reconnectLater();
  }

  #state(listening: boolean): void {
    for (const onState of this.#stateListeners) onState(listening);
  }

  #reconnectLater(): void {
    if (this.#closed || this.#listeners.size === 0 || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#connect().catch(() => {
        this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
        this.#reconnectLater();
      });
    }, this.#backoffMs);
    this.#retry.unref();
  }
}
