// The gateway process: `node packages/gateway/src/server.ts [--config gateway.json]`.
// Reads the configuration (defaults <- file <- HYGEIA_* environment), builds the services, listens, prints
// one line with the URL, and shuts down gracefully on SIGTERM / SIGINT (see shutdown.ts).
// Exit codes: 0 after a clean shutdown, 1 on a failure to start (a store that cannot be opened prints its code
// and the file or lock holder at fault) or a forced exit, 2 for a bad configuration.
import { parseArgs } from "node:util";
import { buildGateway } from "./app.ts";
import { loadConfig } from "./config-load.ts";
import { ConfigError } from "./errors.ts";
import { closeServices, createServices, type ServicesLog } from "./services.ts";
import { installShutdown, shutdown } from "./shutdown.ts";
import { StoreOpenError } from "./store/sqlite/index.ts";

/** How long start-up waits for a chain that is not answering yet (npm start brings it up alongside). */
const INDEXER_START_RETRY_MS = 60_000;

async function main(): Promise<number> {
  let file: string | undefined;
  try {
    const { values } = parseArgs({ options: { config: { type: "string" } }, strict: true });
    file = values.config;
  } catch (error) {
    process.stderr.write(`hygeia gateway: ${(error as Error).message}\nusage: server.ts [--config file.json]\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig({ env: process.env, ...(file === undefined ? {} : { file }) });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`hygeia gateway: configuration refused: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  // The services start before the app's logger exists: their warnings go to stderr until it does.
  let app: Awaited<ReturnType<typeof buildGateway>> | undefined;
  const log: ServicesLog = {
    warn: (object, message) => {
      if (app) app.log.warn(object, message);
      else process.stderr.write(`hygeia gateway: ${message}\n`);
    },
  };
  const services = await createServices(config, { indexerRetryForMs: INDEXER_START_RETRY_MS, log });
  try {
    app = await buildGateway(config, services);
  } catch (error) {
    await closeServices(services);
    throw error;
  }
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await shutdown(app, services, app.log);
    throw error;
  }
  installShutdown({ app, services, log: app.log });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  process.stdout.write(`hygeia gateway listening on http://${host}:${port} (public URL ${config.publicUrl})\n`);
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof StoreOpenError) {
      // The message names the file at fault or the process holding the data dir.
      process.stderr.write(`hygeia gateway: could not open the store: ${error.code}: ${error.message}\n`);
      process.exit(1);
    }
    const code = (error as { code?: unknown }).code;
    process.stderr.write(
      `hygeia gateway: could not start: ${error instanceof Error ? error.message : String(error)}` +
        `${typeof code === "string" ? ` (${code})` : ""}\n`,
    );
    process.exit(1);
  },
);
