// The reference of bench:gateway: a bare Fastify app with one hello route, no logger, no plugins: the ceiling
// a Fastify route reaches on this machine. Run as a child process (like the gateway) so both are measured the
// same way. Prints ONE JSON line `{ "url": ... }` once listening; stops on SIGTERM or SIGINT.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/hello", async () => ({ hello: "world" }));
const url = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
