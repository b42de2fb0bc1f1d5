// The notifier: fans access notifications out to a patient's live Server-Sent-Event streams and its webhook.
//
// Rules:
// - publish() returns at once and never throws: delivery is asynchronous and best effort; the audit log, not the
//   notification, is the record (a patient who missed one reads GET /v1/audit/events).
// - Only the patient whose data was accessed is told; a stream belongs to one signed-in patient.
// - Webhook: a few attempts with backoff, each bounded; a refused address or a 4xx answer is not retried, and a
//   retry goes only to a webhook still registered (removing it stops pending retries).
// - Several gateways on one store (its `bus`): an access goes out on the bus when another gateway holds a live
//   stream of that patient, and that gateway hands it to the stream. The webhook is posted once, by the gateway that
//   decided.
// - Who holds which streams travels on the bus too ("watch" messages): a gateway announces a patient when its first
//   stream opens (the stream says `: connected` once that announcement came back over the bus: the database has
//   delivered it to every gateway, which reads it within the bus's latency) and repeats all of its patients
//   every watchRepeatMs; the others forget a patient not repeated for WATCH_TTL_REPEATS repeats. Sending every access
//   to every gateway made each gateway read every other's accesses (N gateways, N^2 work). A gateway that has not
//   heard a whole repeat yet (it just started, or its bus listener was away) sends every access, as does one that
//   heard too many patients to keep.
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
  /** How often the patients with a live stream here are repeated on the bus. Default 10 s. */
  watchRepeatMs?: number;
}

/** A patient not repeated for this many repeats is forgotten (two repeats may be lost). */
const WATCH_TTL_REPEATS = 3.5;
/** Patients watched elsewhere, at most; beyond, every access goes on the bus until the map is refilled. */
const MAX_WATCHED = 100_000;
/** How long a stream waits for its announcement to be sent, at most. */
const WATCH_WAIT_MS = 2_000;
/** Patients per watch message (42-character addresses and a space, within the bus's message size). */
const WATCH_BATCH = 150;

/** The JSON body a webhook receives (and an SSE `access` event's data). */
export function notificationBody(patient: string, notification: AccessNotification): string {
  return JSON.stringify({
    patient,
    log: notification.log,
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
  /** Patients with a live stream at another gateway, and until when (ms) that is believed. */
  readonly #watched = new Map<string, number>();
  /** Until then (ms), every access goes on the bus (see the rules above). */
  #sendAllUntil = 0;
  #repeat: NodeJS.Timeout | undefined;
  /** watch() calls waiting to hear their announcement back, by patient. */
  readonly #echoes = new Map<string, Set<() => void>>();

  constructor(options: AccessNotifierOptions) {
    this.#options = {
      webhookTimeoutMs: 5_000,
      webhookAttempts: 3,
      webhookBackoffMs: 500,
      watchRepeatMs: 10_000,
      ...options,
    };
  }

  /** Listens on the store's bus (when it has one) for accesses decided at the other gateways. */
  async start(): Promise<void> {
    const bus = this.#options.store.bus;
    if (!bus) return;
    this.#unlisten = await bus.listen(
      (message) => this.#received(message),
      (listening) => this.#listening(listening),
    );
    this.#listening(true);
    this.#repeat = setInterval(() => void this.#announce([...this.#subscribers.keys()]), this.#options.watchRepeatMs);
    this.#repeat.unref();
  }

  /**
   * The bus listener came (true) or went (false). Announcements were lost meanwhile (and a long outage let every
   * patient expire): every access goes on the bus while it is down and until a whole repeat has been heard since;
   * this gateway's own patients are announced again at once, for the others that were away.
   */
  #listening(listening: boolean): void {
    if (!listening) {
      this.#sendAllUntil = Number.POSITIVE_INFINITY;
      return;
    }
    // Every other gateway repeats its patients within one repeat (and a half, for the timers' drift).
    this.#sendAllUntil = this.#options.now() + this.#options.watchRepeatMs * 1.5;
    if (this.#subscribers.size > 0) void this.#announce([...this.#subscribers.keys()]);
  }

  /**
   * Tells the other gateways that `patient` has a live stream here, before the stream is confirmed to its client:
   * resolves once the announcement is sent, or could not be (best effort, like every notification).
   */
  async watch(patient: string): Promise<void> {
    if (!this.#options.store.bus || this.#closing.signal.aborted) return;
    let timer: NodeJS.Timeout | undefined;
    let heard: () => void = () => undefined;
    // Resolved when this gateway hears its own announcement back: the database has then delivered it to every
    // gateway's listening connection too. Bounded: a database that does not answer must not hold the stream's
    // request (its slot) for long.
    const done = new Promise<void>((resolve) => {
      heard = resolve;
      timer = setTimeout(resolve, WATCH_WAIT_MS);
      timer.unref();
    });
    let waiters = this.#echoes.get(patient);
    if (!waiters) this.#echoes.set(patient, (waiters = new Set()));
    waiters.add(heard);
    void this.#announce([patient]);
    await done;
    clearTimeout(timer);
    waiters.delete(heard);
    if (waiters.size === 0 && this.#echoes.get(patient) === waiters) this.#echoes.delete(patient);
  }

  async #announce(patients: readonly string[]): Promise<void> {
    const bus = this.#options.store.bus;
    if (!bus || this.#closing.signal.aborted) return;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < patients.length; i += WATCH_BATCH)
      sends.push(bus.publish(`${WATCH_PREFIX}${this.#busId} ${patients.slice(i, i + WATCH_BATCH).join(" ")}`));
    for (const result of await Promise.allSettled(sends))
      if (result.status === "rejected")
        this.#options.log.warn({ err: result.reason }, "live streams not announced to the other gateways");
  }

  /** Whether an access to `patient`'s data must go on the bus (some other gateway may hold a stream of it). */
  #watchedElsewhere(patient: string): boolean {
    const now = this.#options.now();
    if (now < this.#sendAllUntil) return true;
    const until = this.#watched.get(patient);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#watched.delete(patient);
    return false;
  }

  /** Adds a live listener for `patient` (announce it first with watch()); returns its removal. */
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
    if (bus && this.#watchedElsewhere(patient))
      bus
        .publish(`${BUS_PREFIX}${patient} ${JSON.stringify({ from: this.#busId, notification })}`)
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

  /**
   * A message of the bus: another gateway's access, for the streams held here. The patient comes first, so the
   * message of a patient with no stream here is dropped unparsed (a gateway that has not heard a whole round of watch
   * announcements yet sends every access, so others may arrive).
   * Anything malformed is dropped.
   */
  #received(message: string): void {
    if (this.#closing.signal.aborted) return;
    if (message.startsWith(WATCH_PREFIX)) return this.#heardWatch(message);
    if (!message.startsWith(BUS_PREFIX)) return;
    const space = message.indexOf(" ", BUS_PREFIX.length);
    const patient = message.slice(BUS_PREFIX.length, space);
    if (space < 0 || !this.#subscribers.has(patient)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.slice(space + 1));
    } catch {
      return;
    }
    if (!isBusMessage(parsed) || parsed.from === this.#busId) return;
    this.#toStreams(patient, parsed.notification);
  }

  /** Another gateway's patients with live streams (`watch/1 <from> <patient> ...`). */
  #heardWatch(message: string): void {
    const [from, ...patients] = message.slice(WATCH_PREFIX.length).split(" ");
    if (from === this.#busId) {
      for (const patient of patients) for (const heard of this.#echoes.get(patient) ?? []) heard();
      return;
    }
    const { now, watchRepeatMs } = this.#options;
    const until = now() + watchRepeatMs * WATCH_TTL_REPEATS;
    for (const patient of patients) {
      if (this.#watched.size >= MAX_WATCHED && !this.#watched.has(patient)) {
        // Too many to keep: forget them all, and send every access until the repeats have refilled the map.
        this.#watched.clear();
        this.#sendAllUntil = now() + watchRepeatMs * WATCH_TTL_REPEATS;
      }
      this.#watched.set(patient, until);
    }
  }

  /** Stops retries and waits for deliveries under way (each bounded). */
  async close(): Promise<void> {
    clearInterval(this.#repeat);
    this.#closing.abort(new Error("the gateway is closing"));
    for (const waiters of this.#echoes.values()) for (const heard of waiters) heard();
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

/** Heads an access on the bus: `access/1 <patient> <BusMessage JSON>`. */
const BUS_PREFIX = "access/1 ";
/** Heads a gateway's patients with live streams: `watch/1 <bus id> <patient> <patient> ...`. */
const WATCH_PREFIX = "watch/1 ";

interface BusMessage {
  from: string;
  notification: AccessNotification;
}

/** The shape publish() sends; the bus is the gateways' own, but a message is still checked before it is served. */
function isBusMessage(value: unknown): value is BusMessage {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  const n = m.notification as Record<string, unknown> | null | undefined;
  return (
    typeof m.from === "string" &&
    typeof n === "object" &&
    n !== null &&
    typeof n.log === "string" &&
    Number.isSafeInteger(n.index) &&
    typeof n.event === "object" &&
    n.event !== null &&
    typeof n.newGrantee === "boolean" &&
    typeof n.emergency === "boolean"
  );
}
