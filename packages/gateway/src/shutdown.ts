// Graceful shutdown on SIGTERM / SIGINT (close-with-grace), in the order the promises need:
// 1. stop accepting connections and finish the requests in flight (app.close: new requests get 503, idle
//    keep-alive connections are closed);
// 2. the app's onClose hooks: the audit log flushes its pending events and anchors the last tree head, the
//    notifier closes its streams;
// 3. the services (closeServices): the DID resolver, the indexer, the content store, the store sweeper, the store
//    and the provider.
// A second signal, or a shutdown that takes longer than `delayMs`, exits at once with code 1.
import closeWithGrace from "close-with-grace";
import type { FastifyBaseLogger } from "fastify";
import type { GatewayApp } from "./app.ts";
import type { GatewayServices } from "./context.ts";
import { closeServices } from "./services.ts";

export interface ShutdownOptions {
  app: GatewayApp;
  services: GatewayServices;
  log: FastifyBaseLogger;
  /** Longest graceful shutdown before a forced exit (default 30 s: the audit anchor may wait for a block). */
  delayMs?: number;
}

/** Closes the app, then the services; never throws (each step's failure is logged and the next still runs). */
export async function shutdown(app: GatewayApp, services: GatewayServices, log: FastifyBaseLogger): Promise<void> {
  try {
    await app.close();
  } catch (error) {
    log.error({ err: error }, "closing the gateway failed");
  }
  await closeServices(services);
}

/** Installs the signal handlers; returns a function that runs the same shutdown on demand. */
export function installShutdown(options: ShutdownOptions): { close(): void } {
  const { app, services, log } = options;
  const handle = closeWithGrace(
    {
      delay: options.delayMs ?? 30_000,
      logger: {
        error: (message: unknown) => log.error(typeof message === "string" ? message : { err: message }, "shutdown"),
      },
      onSecondSignal: (signal: string) => log.error({ signal }, "second signal: exiting now"),
    },
    async ({ signal, err }) => {
      if (err) log.error({ err }, "fatal error: shutting down");
      else log.info({ signal: signal ?? "manual" }, "shutting down: finishing requests, anchoring the audit log");
      await shutdown(app, services, log);
      log.info("stopped");
    },
  );
  return { close: () => void handle.close() };
}
