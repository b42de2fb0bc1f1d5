// The subject of bench:gateway: the gateway built exactly as a deployment builds it (loadConfig from HYGEIA_*
// variables, createServices, buildGateway), in its own process. Prints ONE JSON line `{ "url": ... }` once
// listening; on SIGTERM or SIGINT it closes gracefully (audit flushed and anchored) and exits 0.
// With BENCH_PROFILE_DIR set, SIGUSR2 starts a CPU profile and the next SIGUSR2 writes it there (the
// orchestrator wraps one measure in them, so the profile shows that load only, not start-up or idle time).
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { buildGateway, createServices, loadConfig, shutdown } from "../src/index.ts";

const config = loadConfig({ env: process.env });
const services = await createServices(config, { heliaListen: [] });
const app = await buildGateway(config, services);
await app.listen({ host: config.host, port: config.port });
process.stdout.write(`${JSON.stringify({ url: config.publicUrl })}\n`);

const profileDir = process.env.BENCH_PROFILE_DIR;
if (profileDir) {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  let profiling = false;
  let count = 0;
  process.on("SIGUSR2", () => {
    void (async () => {
      if (!profiling) {
        profiling = true;
        await session.post("Profiler.start");
        return;
      }
      profiling = false;
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(join(profileDir, `gateway-${++count}.cpuprofile`), JSON.stringify(profile));
    })();
  });
}

let closing = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    void (async () => {
      await shutdown(app, services, app.log);
      process.exit(0);
    })();
  });
}
