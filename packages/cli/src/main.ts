// The `hygeia` binary's entry (bin/hygeia.js imports it): runs one command, flushes stdout, exits with its code.
import { run } from "./program.ts";

const code = await run(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
  process.env,
);
// Exit once stdout is flushed (a pipe may still hold the JSON document), even if a socket or timer lingers.
process.stdout.write("", () => process.exit(code));
