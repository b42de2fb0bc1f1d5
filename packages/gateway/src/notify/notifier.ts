// The notifier: fans access notifications out to a patient's live Server-Sent-Event streams and its webhook.
//
// Rules:
// - publish() returns at once and never throws: delivery is asynchronous and best effort; the audit log, not the
//   notification, is the record (a patient who missed one reads GET /v1/audit/events).
// - Only the patient whose data was accessed is told; a stream belongs to one signed-in patient.
// - Webhook: a few attempts with backoff, each bounded; a refused address or a 4xx answer is not retried, and a
//   retry goes only to a webhook still registered (removing it stops pending retries).
// - Several gateways on one store (its `bus`): each access goes out on the bus too, and every other gateway hands
//   it to the live streams it holds. The webhook is posted once, by the gateway that decided.
import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { GatewayStore } from "../store/types.ts";
import type { AccessNotification, Notifier } from "./types.ts";
import { checkWebhookUrl, postOnce, signWebhook, webhookSecret } from "./webhook.ts";

export type Subscriber = (notification: AccessNotification) => void;

export interface AccessNotifierOptions {
  store: GatewayStore;
  log: FastifyBaseLogger;
  /** The key webhook secrets are derived from (32 bytes). */
  webhookKey: Uint8Array;
  /** The gateway serves on loopback: http webhooks to loopback receivers are allowed. */
  allowLoopbackWebhooks: boolean;
  now: () => number;
  /** Per attempt. Default 5 s. */
  webhookTimeoutMs?: number;
  /** Attempts per notification. Default 3. */
  webhookAttempts?: number;
  /** Wait before the second attempt, doubled for each further one. Default 500 ms. */
  webhookBackoffMs?: number;
}

/** The JSON body a webhook receives (and an SSE `access` event's data). */
export function notificationBody(patient: string, notification: AccessNotification): string {
  return JSON.stringify({
    patient,
    index: notification.index,
    newGrantee: notification.newGrantee,
    emergency: notification.emergency,
    event: notification.event,
  });
}

export class AccessNotifier implements Notifier {
  readonly #options: Required<AccessNotifierOptions>;
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  readonly #deliveries = new Set<Promise<void>>();
  readonly #closing = new AbortController();
  /** Names this gateway's messages on the bus: its own come back to it, and are skipped. */
  readonly #busId = randomUUID();
  #unlisten: (() => Promise<void>) | undefined;

  constructor(options: AccessNotifierOptions) {
    this.#options = { webhookTimeoutMs: 5_000, webhookAttempts: 3, webhookBackoffMs: 500, ...options };
  }

  /** Listens on the store's bus (when it has one) for accesses decided at the other gateways. */
  async start(): Promise<void> {
    const bus = this.#options.store.bus;
    if (bus) this.#unlisten = await bus.listen((message) => this.#received(message));
  }

  /** Adds a live listener for `patient`; returns its removal. */
  subscribe(patient: string, subscriber: Subscriber): () => void {
    let set = this.#subscribers.get(patient);
    if (!set) this.#subscribers.set(patient, (set = new Set()));
    set.add(subscriber);
    return () => {
      set.delete(subscriber);
      if (set.size === 0 && this.#subscribers.get(patient) === set) this.#subscribers.delete(patient);
    };
  }

  subscriberCount(patient: string): number {
    return this.#subscribers.get(patient)?.size ?? 0;
  }

  publish(patient: string, notification: AccessNotification): void {
    if (this.#closing.signal.aborted) return;
    this.#toStreams(patient, notification);
    const delivery = this.#deliver(patient, notification).finally(() => this.#deliveries.delete(delivery));
    this.#deliveries.add(delivery);
    const bus = this.#options.store.bus;
    if (bus)
      bus
        .publish(JSON.stringify({ v: 1, from: this.#busId, patient, notification }))
        .catch((error: unknown) =>
          this.#options.log.warn({ err: error }, "notification not sent to the other gateways"),
        );
  }

  #toStreams(patient: string, notification: AccessNotification): void {
    for (const subscriber of this.#subscribers.get(patient) ?? []) {
      try {
        subscriber(notification);
      } catch (error) {
        this.#options.log.warn({ err: error }, "an event stream subscriber failed");
      }
    }
  }

  /** A message of the bus: another gateway's access, for the streams held here. Anything malformed is dropped. */
  #received(message: string): void {
    if (this.#closing.signal.aborted) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (!isBusMessage(parsed) || parsed.from === this.#busId) return;
    if (!this.#subscribers.has(parsed.patient)) return;
    this.#toStreams(parsed.patient, parsed.notification);
  }

  /** Stops retries and waits for deliveries under way (each bounded). */
  async close(): Promise<void> {
    this.#closing.abort(new Error("the gateway is closing"));
    this.#subscribers.clear();
    await this.#unlisten?.().catch(() => undefined);
    await Promise.all(this.#deliveries);
  }

  async #deliver(patient: string, notification: AccessNotification): Promise<void> {
    const { store, log, webhookKey, allowLoopbackWebhooks, webhookAttempts, webhookBackoffMs } = this.#options;
    try {
      const hook = await store.getWebhook(patient);
      if (!hook) return;
      const url = checkWebhookUrl(hook.url, allowLoopbackWebhooks);
      const secret = webhookSecret(webhookKey, hook);
      const body = notificationBody(patient, notification);
      for (let attempt = 1; attempt <= webhookAttempts; attempt++) {
        if (this.#closing.signal.aborted) return;
        // A retry goes only to a webhook still registered as it was: a removed or replaced one gets nothing more.
        if (attempt > 1) {
          const current = await store.getWebhook(patient);
          if (current?.url !== hook.url || current.createdAt !== hook.createdAt) return;
        }
        try {
          const status = await postOnce(url, body, signWebhook(secret, body, this.#options.now()), {
            timeoutMs: this.#options.webhookTimeoutMs,
            allowLoopback: allowLoopbackWebhooks,
            signal: this.#closing.signal,
          });
          if (status >= 200 && status < 300) return;
          if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
            log.info({ status }, "webhook refused the notification; not retried");
            return;
          }
        } catch (error) {
          if ((error as { code?: unknown }).code === "EWEBHOOKADDRESS") {
            log.warn("webhook host resolves to a refused address; not delivered");
            return;
          }
        }
        if (attempt < webhookAttempts) await this.#pause(webhookBackoffMs * 2 ** (attempt - 1));
      }
      log.info("webhook delivery gave up after its attempts");
    } catch (error) {
      log.warn({ err: error }, "webhook delivery failed");
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#closing.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}

interface BusMessage {
  v: 1;
  from: string;
  patient: string;
  notification: AccessNotification;
}

/** The shape publish() sends; the bus is the gateways' own, but a message is still checked before it is served. */
function isBusMessage(value: unknown): value is BusMessage {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  const n = m.notification as Record<string, unknown> | null | undefined;
  return (
    m.v === 1 &&
    typeof m.from === "string" &&
    typeof m.patient === "string" &&
    typeof n === "object" &&
    n !== null &&
    Number.isSafeInteger(n.index) &&
    typeof n.event === "object" &&
    n.event !== null &&
    typeof n.newGrantee === "boolean" &&
    typeof n.emergency === "boolean"
  );
}
