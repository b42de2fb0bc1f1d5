/**
 * The CLI's one error table: every failure becomes an exit code and one line.
 *
 * Rules:
 * - The exit code follows the error's `kind` (the SDK's classification), never its message: one table below,
 *   documented in the README. A commander usage error (unknown command, unknown option, missing argument) is 1.
 * - The human message is one line, `hygeia: <what went wrong> — <hint>`, on stderr; a stack trace only with
 *   --verbose. With --json the error is one JSON document `{ "error": { code, kind, message, hint } }` on stdout
 *   and the exit code is still set.
 * - DIDs in a message are printed in the one form of every command (ids.ts).
 * - Errors the CLI raises itself are `HygeiaSdkError`s (or `CliError`, below) with a hint, like the SDK's. An error
 *   of a lower package that reaches here unwrapped keeps its stable `code`; anything else is `internal` (10).
 */
import { CommanderError } from "commander";
import { printedDidsIn } from "./ids.ts";
import { HygeiaSdkError, type ErrorKind } from "./sdk.ts";

/** Exit codes by error kind (the README's table). */
export const EXIT_CODES = {
  ok: 0,
  usage: 1,
  refused: 2,
  unavailable: 3,
  auth: 4,
  "not-found": 5,
  conflict: 6,
  integrity: 7,
  "rate-limited": 8,
  internal: 10,
} as const satisfies Record<ErrorKind | "ok", number>;

/** An error the CLI itself raises (bad flag value, missing wallet, wrong password): same shape as the SDK's. */
export class CliError extends HygeiaSdkError {
  constructor(
    code: string,
    kind: ErrorKind,
    message: string,
    hint: string,
    options: { field?: string; cause?: unknown } = {},
  ) {
    super(code, kind, message, { hint, ...options });
  }
}

/** A usage error in the CLI's own argument parsing (after commander accepted the syntax). */
export class CliUsageError extends CliError {
  constructor(field: string, detail: string, hint: string) {
    super("INVALID_ARGUMENT", "usage", `${field}: ${detail}`, hint, { field });
  }
}

/** What the CLI prints about a failure: the JSON document's `error` member, and the exit code. */
export interface DescribedError {
  code: string;
  kind: ErrorKind;
  message: string;
  hint: string;
  exitCode: number;
}

const USAGE_HINT = "Run `hygeia --help` (or `hygeia <command> --help`) for the commands, options and examples.";

/** Classifies any thrown value. */
export function describeError(error: unknown): DescribedError {
  if (error instanceof HygeiaSdkError)
    return {
      code: error.code,
      kind: error.kind,
      // A DID in the SDK's words (an IssuerClient's is checksummed) reads as every command prints it.
      message: oneLine(printedDidsIn(error.message)),
      hint: oneLine(printedDidsIn(error.hint)),
      exitCode: EXIT_CODES[error.kind] ?? EXIT_CODES.internal,
    };
  if (error instanceof CommanderError)
    return {
      code: `USAGE_${error.code
        .replace(/^commander\./, "")
        .replace(/[A-Z]/g, (c) => `_${c}`)
        .toUpperCase()}`,
      kind: "usage",
      message: oneLine(error.message.replace(/^error:\s*/i, "")),
      hint: USAGE_HINT,
      exitCode: EXIT_CODES.usage,
    };
  const filesystem = filesystemError(error);
  if (filesystem) return filesystem;
  const dropped = droppedConnection(error);
  if (dropped) return dropped;
  // A lower package's typed error (chain, identity, storage, crypto) that nobody wrapped: keep its stable code.
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: typeof code === "string" ? code : "INTERNAL",
    kind: "internal",
    message: oneLine(message || "unexpected failure"),
    hint: "This is a bug or an unexpected state: run again with --verbose and report the output.",
    exitCode: EXIT_CODES.internal,
  };
}

/** What the operating system refused about a path (a home that is a file, a read-only disk, a full disk, …). */
const FILESYSTEM_CODES: Record<string, { kind: ErrorKind; hint: string }> = {
  ENOENT: { kind: "usage", hint: "Check the path: a folder on it does not exist." },
  ENOTDIR: { kind: "usage", hint: "Check the path (and HYGEIA_HOME / --home): a part of it is a file, not a folder." },
  EISDIR: { kind: "usage", hint: "Give a file path where a folder was given (or remove the folder in the way)." },
  EACCES: { kind: "usage", hint: "Check the permissions of the path (and of HYGEIA_HOME / --home)." },
  EPERM: { kind: "usage", hint: "Check the permissions of the path (and of HYGEIA_HOME / --home)." },
  EROFS: { kind: "usage", hint: "The file system is read-only: point HYGEIA_HOME / the output at a writable one." },
  ENOSPC: { kind: "unavailable", hint: "The disk is full: free space, then run the command again." },
  EDQUOT: { kind: "unavailable", hint: "The disk quota is used up: free space, then run the command again." },
};

function filesystemError(error: unknown): DescribedError | undefined {
  const { code, syscall, path } = (error ?? {}) as { code?: unknown; syscall?: unknown; path?: unknown };
  if (typeof code !== "string" || typeof syscall !== "string") return undefined; // only Node's system errors
  const known = FILESYSTEM_CODES[code];
  if (!known) return undefined;
  return {
    code,
    kind: known.kind,
    message: oneLine(`cannot ${syscall} ${typeof path === "string" ? path : "a file"} (${code})`),
    hint: known.hint,
    exitCode: EXIT_CODES[known.kind],
  };
}

/** undici's "terminated" (the other side closed the connection mid-body), or a socket error under it. */
function droppedConnection(error: unknown): DescribedError | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (current.message === "terminated" || code === "UND_ERR_SOCKET" || code === "ECONNRESET")
      return {
        code: "CONNECTION_DROPPED",
        kind: "unavailable",
        message: "the connection to the gateway was cut in the middle of a transfer",
        hint: "Check the network and that the gateway still runs, then run the command again.",
        exitCode: EXIT_CODES.unavailable,
      };
    current = current.cause;
  }
  return undefined;
}

/** Commander errors that are not failures (help or version was asked for). */
export function isCleanExit(error: unknown): boolean {
  return (
    error instanceof CommanderError &&
    (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.exitCode === 0)
  );
}

/** `hygeia: <what went wrong> — <hint>` */
export function errorLine(described: DescribedError): string {
  return `hygeia: ${described.message} — ${described.hint}`;
}

/** The stack and the chain of causes, for --verbose. */
export function errorDetail(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    parts.push(depth === 0 ? describeThrown(current) : `caused by: ${describeThrown(current)}`);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}

function describeThrown(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  return String(value);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
