/**
 * The patient's access notifications, live: `GET /v1/events` (Server-Sent Events) read with fetch, so the session
 * token goes in the Authorization header (a browser's EventSource cannot send one), parsed with eventsource-parser.
 * Each `access` event is checked before it is handed on: a notification that is not one is skipped, never thrown
 * into the caller's UI. Browser-safe.
 *
 * A notification says that an event happened and where it is (`log`, `index`); it is not a proof: the access log's
 * `audit.verify` proves it against the chain, and should run again when one arrives.
 */
import { createParser } from "eventsource-parser";
import type { GatewayTransport } from "../transport.ts";
import { UnexpectedResponseError } from "../errors.ts";

/** The longest event the watch buffers (a notification is well under 1 KB). */
export const MAX_EVENT_CHARS = 64 * 1024;

export interface AccessNotification {
  /** Lowercase. */
  patient: string;
  /** The audit log holding the event (its origin) and its index there. */
  log: string;
  index: number;
  /** The first access to this patient's data by this grantee. */
  newGrantee: boolean;
  /** Break-glass access (or anything under the Emergency purpose). */
  emergency: boolean;
  event: {
    type: string;
    decision: "permit" | "deny";
    /** Who asked (lowercase address). */
    actor: string;
    record: string | undefined;
    reason: string | undefined;
    /** The purpose code (1 Treatment, … 3 Emergency). */
    purpose: number | undefined;
    time: Date;
  };
}

export interface WatchNotificationsOptions {
  onNotification: (notification: AccessNotification) => void;
  /** Called once the gateway says the stream is connected (every later access will be sent). */
  onConnected?: () => void;
  /** Ends the watch. */
  signal?: AbortSignal;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null;

/** A served `access` event's data as a notification, or undefined when it is not one. */
export function parseAccessNotification(data: string): AccessNotification | undefined {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isObject(body) || !isObject(body.event)) return undefined;
  const { event } = body;
  const ok =
    typeof body.patient === "string" &&
    typeof body.log === "string" &&
    Number.isSafeInteger(body.index) &&
    typeof body.newGrantee === "boolean" &&
    typeof body.emergency === "boolean" &&
    typeof event.type === "string" &&
    (event.decision === "permit" || event.decision === "deny") &&
    typeof event.actor === "string" &&
    Number.isSafeInteger(event.time);
  if (!ok) return undefined;
  return {
    patient: body.patient as string,
    log: body.log as string,
    index: body.index as number,
    newGrantee: body.newGrantee as boolean,
    emergency: body.emergency as boolean,
    event: {
      type: event.type as string,
      decision: event.decision as "permit" | "deny",
      actor: event.actor as string,
      record: typeof event.record === "string" ? event.record : undefined,
      reason: typeof event.reason === "string" ? event.reason : undefined,
      purpose: Number.isSafeInteger(event.purpose) ? (event.purpose as number) : undefined,
      time: new Date(event.time as number),
    },
  };
}

/**
 * Follows the signed-in patient's notifications until `signal` aborts (resolves) or the stream ends (resolves: the
 * session expired or signed out, or the gateway closed). A refusal before the stream opens (no session, too many
 * streams) is thrown as the gateway's typed problem; an event longer than MAX_EVENT_CHARS as an
 * UnexpectedResponseError (the stream is cancelled, nothing of it was handed on).
 */
export async function watchAccessNotifications(
  transport: GatewayTransport,
  options: WatchNotificationsOptions,
): Promise<void> {
  const stream = await transport.download("/v1/events", {
    accept: "text/event-stream",
    ...(options.signal ? { signal: options.signal } : {}),
  });
  let oversized = false;
  const parser = createParser({
    // A notification is a few hundred bytes; a stream that buffers more without ending an event is not the gateway's.
    maxBufferSize: MAX_EVENT_CHARS,
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") oversized = true;
    },
    // The gateway writes ": connected" once it will send every later access (with several gateways, once the
    // others know this patient is watched).
    onComment: (comment) => {
      if (comment.trim() === "connected") options.onConnected?.();
    },
    onEvent: (message) => {
      if (message.event !== "access") return;
      const notification = parseAccessNotification(message.data);
      if (notification) options.onNotification(notification);
    },
  });
  const decoder = new TextDecoder();
  const reader = stream.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      if (oversized)
        throw new UnexpectedResponseError("GET /v1/events", `an event longer than ${MAX_EVENT_CHARS} characters`);
    }
  } catch (error) {
    if (options.signal?.aborted) return;
    await reader.cancel().catch(() => undefined);
    throw error;
  } finally {
    reader.releaseLock();
  }
}
