// The gateways' bus on PostgreSQL: NOTIFY on one channel, LISTEN on a connection of its own (a pooled connection
// cannot listen: it goes back to the pool between queries). Best effort, as GatewayBus says: a message published
// while a listener's connection is down is lost to it; the connection comes back by itself (backoff up to 5 s).
import { Client, type ClientConfig, type Pool } from "pg";
import type { GatewayBus } from "../types.ts";

const CHANNEL = "hygeia_gateway";
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; leave room for the channel and framing. */
const MAX_MESSAGE_BYTES = 7_000;
const MAX_BACKOFF_MS = 5_000;

export class PostgresBus implements GatewayBus {
  readonly #pool: Pool;
  readonly #config: ClientConfig;
  readonly #listeners = new Set<(message: string) => void>();
  #client: Client | undefined;
  #connecting: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #backoffMs = 250;
  #closed = false;

  constructor(pool: Pool, config: ClientConfig) {
    this.#pool = pool;
    this.#config = config;
  }

  async publish(message: string): Promise<void> {
    if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES)
      throw new RangeError(`a bus message is at most ${MAX_MESSAGE_BYTES} bytes`);
    await this.#pool.query("SELECT pg_notify($1, $2)", [CHANNEL, message]);
  }

  async listen(listener: (message: string) => void): Promise<() => Promise<void>> {
    if (this.#closed) throw new Error("the store is closed");
    this.#listeners.add(listener);
    await this.#connect();
    return async () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) await this.#disconnect();
    };
  }

  /** Stops listening for good (the store closes). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#disconnect();
  }

  async #disconnect(): Promise<void> {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.#connecting?.catch(() => undefined);
    const client = this.#client;
    this.#client = undefined;
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
        for (const listener of this.#listeners) listener(notification.payload);
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
    this.#reconnectLater();
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
