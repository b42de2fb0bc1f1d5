// Access notifications for patients: decorates `app.notifier` (fastify-plugin, so every plugin sees it) and serves
// GET /v1/events (Server-Sent Events) and PUT/DELETE /v1/events/webhook.
//
// Rules:
// - A stream is the signed-in patient's own: it receives the notifications about its data only.
// - A stream ends when its session does: at the session's expiry, and at logout (checked before each event and
//   at each heartbeat), so a signed-out device stops hearing about accesses.
// - Streams are capped (streams.ts): at most MAX_STREAMS_PER_SESSION per session and MAX_STREAMS_TOTAL in all; the
//   next one waits up to STREAM_SLOT_GRACE_MS for a slot (a reconnect racing the old stream's close), then is
//   refused before anything is held (429 TOO_MANY_STREAMS); every end of a stream frees its slot.
// - Webhook URLs are checked against SSRF (src/notify/webhook.ts); the signing secret is shown once, at PUT.
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { requireSession, type Session } from "../../auth/session.ts";
import { loadSharedKey } from "../../auth/tokens.ts";
import { AccessNotifier, notificationBody } from "../../notify/notifier.ts";
import { checkWebhookUrl, webhookSecret } from "../../notify/webhook.ts";
import type { AccessNotification } from "../../notify/types.ts";
import { GatewayError, RateLimitedError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import { STREAM_SLOT_GRACE_MS, StreamSlots } from "./streams.ts";

/** Comment lines keep proxies from closing an idle stream, and re-check the session. */
export const HEARTBEAT_MS = 15_000;

const WebhookBody = Type.Object(
  {
    url: Type.String({
      maxLength: 2048,
      description:
        "Where to POST access notifications: https to a public address (plain http only to loopback when the gateway " +
        "itself runs on loopback).",
      examples: ["https://portal.example.org/hooks/hygeia"],
    }),
  },
  { additionalProperties: false },
);

const WebhookView = Type.Object(
  {
    url: Type.String({ description: "The registered URL.", examples: ["https://portal.example.org/hooks/hygeia"] }),
    secret: Type.String({
      pattern: "^[0-9a-f]{64}$",
      description:
        "Verify each POST with it: header x-hygeia-signature `t=<unix ms>,v1=<hex HMAC-SHA256(secret, t + '.' + body)>`. " +
        "Shown only here; registering again gives a new one.",
      examples: ["9f2c".repeat(16)],
    }),
    createdAt: Type.Integer({ minimum: 0, description: "Unix ms.", examples: [1_767_225_600_000] }),
  },
  { additionalProperties: false },
);

const Removed = Type.Object(
  {
    removed: Type.Boolean({
      description: "true: a webhook was registered and is now removed; false: there was none.",
      examples: [true],
    }),
  },
  { additionalProperties: false },
);

const EventStream = Type.String({
  description:
    "text/event-stream: `event: access` with `id: <audit index>` and JSON data `{ patient, log, index, " +
    "newGrantee, emergency, event }` (`log`: the origin of the audit log holding the event); comment lines as heartbeats.",
});

function isLoopbackHost(publicUrl: string): boolean {
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

async function events(root: FastifyInstance): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  // Shared by the gateways on one database: the secret a patient got at registration verifies whichever signs.
  const webhookKey = await loadSharedKey(
    app.config.dataDir,
    app.config.gatewaySecret,
    "webhook",
    "every registered webhook's secret changes (register them again)",
  );
  const allowLoopback = isLoopbackHost(app.config.publicUrl);
  const notifier = new AccessNotifier({
    store: app.services.store,
    log: app.log,
    webhookKey,
    allowLoopbackWebhooks: allowLoopback,
    now: app.services.now,
  });
  await notifier.start();
  app.decorate("notifier", notifier);
  const streams = new Set<() => void>();
  const slots = new StreamSlots();
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
    for (const end of streams) end();
  });
  app.addHook("onClose", () => notifier.close());

  /** Whether the session is still live (not revoked, not expired). */
  const live = async (session: Session): Promise<boolean> => {
    if (session.expiresAt <= app.services.now()) return false;
    const row = await app.services.store.getSession(session.id);
    return row !== undefined && row.revokedAt === null && row.expiresAt > app.services.now();
  };

  app.get(
    "/v1/events",
    {
      // A HEAD would open a stream with no body to read: not offered.
      exposeHeadRoute: false,
      schema: {
        tags: ["events"],
        summary: "Stream access notifications about your data",
        description:
          "Server-Sent Events: one `access` event per key release or refusal concerning your records (the first " +
          "release to a new grantee and every emergency access flagged). Ends when your session ends (expiry or logout). " +
          "At most 4 open streams per session (1000 in the gateway): the next is 429 TOO_MANY_STREAMS.",
        operationId: "streamEvents",
        security: [{ bearer: [] }],
        response: {
          200: { description: "The event stream", content: { "text/event-stream": { schema: EventStream } } },
          ...problemResponses(401, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const session = requireSession(request);
      const slot = await slots.acquireWithin(session.id, STREAM_SLOT_GRACE_MS);
      if (!slot.ok)
        throw new RateLimitedError(
          "TOO_MANY_STREAMS",
          slot.refused === "session"
            ? `this session already has ${slots.perSession} open event streams; close one first`
            : "the gateway serves as many event streams as it can; try again later",
          slot.refused === "session" ? 5 : 30,
        );
      const releaseSlot = slot.release;
      // The other gateways of the database send this patient's accesses here from now on (notify/notifier.ts).
      await notifier.watch(session.address).catch(() => undefined);
      if (closing) {
        // Closing began meanwhile: preClose ended the streams it knew of, and this one would hold the close open.
        releaseSlot();
        throw new GatewayError("GATEWAY_CLOSING", 503, "the gateway is shutting down; open the stream again");
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-accel-buffering": "no",
        "x-content-type-options": "nosniff",
      });
      res.write(": connected\nretry: 5000\n\n");

      let ended = false;
      // Events are written in publish order, each after the session check (an async step): one chain.
      let queue = Promise.resolve();
      const write = (notification: AccessNotification) => {
        queue = queue.then(async () => {
          if (ended) return;
          if (!(await live(session).catch(() => false))) return end();
          res.write(
            `id: ${notification.index}\nevent: access\ndata: ${notificationBody(session.address, notification)}\n\n`,
          );
        });
      };
      const unsubscribe = notifier.subscribe(session.address, write);
      const heartbeat = setInterval(() => {
        queue = queue.then(async () => {
          if (ended) return;
          if (!(await live(session).catch(() => false))) return end();
          res.write(": heartbeat\n\n");
        });
      }, HEARTBEAT_MS);
      const expiry = setTimeout(() => end(), Math.max(0, session.expiresAt - app.services.now()));
      heartbeat.unref();
      expiry.unref();
      function end(): void {
        if (ended) return;
        ended = true;
        unsubscribe();
        clearInterval(heartbeat);
        clearTimeout(expiry);
        streams.delete(end);
        releaseSlot();
        res.end();
      }
      streams.add(end);
      request.raw.on("close", end);
      res.on("close", end);
      // A client gone before the listeners were attached would hold its slot (and subscription) for good.
      if (res.destroyed || request.raw.socket.destroyed) end();
    },
  );

  app.put(
    "/v1/events/webhook",
    {
      schema: {
        tags: ["events"],
        summary: "Register your notification webhook",
        description:
          "Access notifications are also POSTed (JSON, signed with HMAC-SHA256) to this URL: bounded time, a few " +
          "retries, never delaying an access. Replaces an earlier webhook. The signing secret is in the answer only.",
        operationId: "putWebhook",
        security: [{ bearer: [] }],
        body: WebhookBody,
        response: { 200: WebhookView, ...problemResponses(400, 401, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const url = checkWebhookUrl(request.body.url, allowLoopback).toString();
      const row = { patient, url, createdAt: app.services.now() };
      await app.services.store.putWebhook(row);
      return { url, secret: webhookSecret(webhookKey, row), createdAt: row.createdAt };
    },
  );

  app.delete(
    "/v1/events/webhook",
    {
      schema: {
        tags: ["events"],
        summary: "Remove your notification webhook",
        description:
          "No access notification is POSTed to your webhook after this; the event stream (GET /v1/events) is not " +
          "affected. removed is false when none was registered (deleting twice is harmless). Registering again " +
          "later gives a new signing secret.",
        operationId: "deleteWebhook",
        security: [{ bearer: [] }],
        response: { 200: Removed, ...problemResponses(401, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      return { removed: await app.services.store.deleteWebhook(patient) };
    },
  );
}

export const eventsPlugin = fp(events, { name: "hygeia-events", fastify: "5.x" });
