// @hygeia/cli: the `hygeia` command (bin/hygeia.js). Exported for tests and embedding: run one invocation.
export { run, buildProgram } from "./program.ts";
export { EXIT_CODES, describeError } from "./errors.ts";
