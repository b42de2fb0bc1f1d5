// How PostgreSQL failures leave the store: never as a raw `pg` error (the rules of ../sqlite/errors.ts, for a server).
// - The database cannot serve now (the server is down, restarting, out of connections, too slow, a failover left a
//   read-only node, the pool timed out waiting): DependencyUnavailableError("database", "DATABASE_UNAVAILABLE")
//   naming the operation and the reason, so the request is refused with 503 (fail closed) and a retry may succeed.
// - Anything else (a constraint the caller should have made impossible, a type mismatch): a bug, StoreFailureError
//   "DATABASE_ERROR" (500), its detail kept in the logs. Outcomes the interface names (a used nonce, a lost
//   compare-and-swap) never get here: the statements answer them as rows, not as errors.
import { DatabaseError } from "pg";
import { GatewayError } from "../../errors.ts";
import { StoreFailureError, databaseUnavailable } from "../sqlite/errors.ts";

/**
 * SQLSTATE classes and codes that mean "not now", not "this statement is wrong": connection exceptions (08),
 * a connection refused its login (28: the password or role changed), insufficient resources (53: too many
 * connections, disk full), operator intervention (57: admin shutdown, crash shutdown, starting up, statement
 * timeout), system errors (58: I/O), the database gone (3D000), and the transient transaction failures a retry
 * clears (40001 serialization, 40P01 deadlock, 55P03 lock not available, 25006 a read-only node after a failover).
 */
const UNAVAILABLE_CLASSES = new Set(["08", "28", "53", "57", "58"]);
const UNAVAILABLE_CODES = new Set(["3D000", "40001", "40P01", "55P03", "25006"]);

/** Node's socket errors: the server cannot be reached or dropped the connection. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * The `pg` client's and pool's own connection failures carry no code, only these messages (pg 8): a connection
 * that ended under a query, a connect that timed out, the pool's wait for a free client that timed out, a client
 * that already failed, a query past `query_timeout`.
 */
const CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Query read timeout|Client was closed|Cannot use a pool after calling end/i;

/** The SQLSTATE of a server error, or undefined for anything else. */
export function sqlState(error: unknown): string | undefined {
  return error instanceof DatabaseError && typeof error.code === "string" ? error.code : undefined;
}

/** Whether the error is the connection or the server failing (a retry later may succeed), not the statement. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const state = sqlState(error);
  if (state !== undefined) return UNAVAILABLE_CLASSES.has(state.slice(0, 2)) || UNAVAILABLE_CODES.has(state);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && SOCKET_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isUnavailable); // a host with several addresses
  return CONNECTION_MESSAGES.test(error.message);
}

/** Whether the server answered the statement with an error (the connection itself is still sound). */
export function isServerAnswer(error: unknown): boolean {
  return sqlState(error) !== undefined && !isUnavailable(error);
}

/** Maps anything a query threw to the store's errors (see the rules at the top). `what`: "consume a nonce". */
export function toStoreError(error: unknown, what: string): Error {
  if (error instanceof GatewayError) return error;
  if (isUnavailable(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    const state = sqlState(error);
    return databaseUnavailable(what, state === undefined ? reason : `${reason} (SQLSTATE ${state})`, error);
  }
  const state = sqlState(error);
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreFailureError(
    `the gateway database refused to ${what}: ${detail}${state === undefined ? "" : ` (SQLSTATE ${state})`}`,
    { cause: error },
  );
}
