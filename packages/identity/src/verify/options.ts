// Validation of the verifier options at construction. A mistyped option (a string where an array of origins
// belongs, seconds where milliseconds belong) must fail here, naming the field, not turn every later
// verification into a failed check with a confusing reason.
import { InvalidIdentityInputError } from "../errors.ts";
import { functionArgument, withMethods } from "../arguments.ts";

/** Upper bounds: generous, but a value past them is a unit mistake, not a policy. */
const MAX_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_CLOCK_SKEW_SECONDS = 3600;
const MAX_CACHED_LISTS = 1_000_000;
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/i;

/** The options a CredentialVerifier reads (resolver and trust are checked by the constructor itself). */
export interface VerifierOptionFields {
  statusListFetcher?: unknown;
  statusListTtlMs?: unknown;
  statusFailClosed?: unknown;
  statusListOrigins?: unknown;
  statusListHttpHosts?: unknown;
  maxCachedStatusLists?: unknown;
  statusListCacheBytes?: unknown;
  statusMaxListsPerVerification?: unknown;
  statusDeadlineMs?: unknown;
  statusListMaxValiditySeconds?: unknown;
  challenges?: unknown;
  clockSkewSeconds?: unknown;
  clock?: unknown;
  trust?: unknown;
}

/** Throws InvalidIdentityInputError naming the first option that is set and not valid. */
export function assertVerifierOptions(options: VerifierOptionFields): void {
  if (options.trust !== undefined) withMethods(options.trust, "trust", ["check", "checkNow"], "an IssuerTrust");
  if (options.statusListFetcher !== undefined)
    functionArgument(options.statusListFetcher, "statusListFetcher", "(url) => Promise<status list JWT>");
  wholeNumberOption(options.statusListTtlMs, "statusListTtlMs", 0, MAX_TTL_MS, "milliseconds");
  if (options.statusFailClosed !== undefined && typeof options.statusFailClosed !== "boolean")
    throw new InvalidIdentityInputError("statusFailClosed", "must be true or false");
  originsOption(options.statusListOrigins);
  httpHostsOption(options.statusListHttpHosts);
  wholeNumberOption(options.maxCachedStatusLists, "maxCachedStatusLists", 1, MAX_CACHED_LISTS, "lists");
  // The status checker's own bounds, checked under the verifier's option names (the checker names its own).
  for (const field of [
    "statusListCacheBytes",
    "statusMaxListsPerVerification",
    "statusDeadlineMs",
    "statusListMaxValiditySeconds",
  ] as const) {
    const value = options[field];
    if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1))
      throw new InvalidIdentityInputError(field, "must be a whole number >= 1");
  }
  if (options.challenges !== undefined)
    withMethods(
      options.challenges,
      "challenges",
      ["issue", "consume"],
      "a ChallengeStore (new MemoryChallengeStore())",
    );
  if (options.clockSkewSeconds !== undefined) {
    const skew = options.clockSkewSeconds;
    if (typeof skew !== "number" || !Number.isFinite(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SECONDS)
      throw new InvalidIdentityInputError(
        "clockSkewSeconds",
        `must be a number of seconds from 0 to ${MAX_CLOCK_SKEW_SECONDS}${unitHint(skew, MAX_CLOCK_SKEW_SECONDS)}`,
      );
  }
  if (options.clock !== undefined) functionArgument(options.clock, "clock", "() => milliseconds since the epoch");
}

/** An optional whole number in [min, max]; `unit` goes into the message. */
export function wholeNumberOption(value: unknown, field: string, min: number, max: number, unit: string): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max)
    throw new InvalidIdentityInputError(
      field,
      `must be a whole number of ${unit} from ${min} to ${max}${unit === "milliseconds" ? unitHint(value, max) : ""}`,
    );
}

function unitHint(value: unknown, max: number): string {
  return typeof value === "number" && value > max ? " (a larger unit than expected?)" : "";
}

function originsOption(value: unknown): void {
  if (value === undefined || typeof value === "function") return;
  const expected =
    'must be an array of origins (["https://status.example"]) or a function (issuer DID) => origins | undefined';
  if (!Array.isArray(value)) throw new InvalidIdentityInputError("statusListOrigins", expected);
  value.forEach((origin: unknown, index) => {
    const field = `statusListOrigins[${index}]`;
    if (typeof origin !== "string") throw new InvalidIdentityInputError(field, expected);
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new InvalidIdentityInputError(field, 'must be an origin such as "https://status.example"');
    }
    if (url.protocol !== "https:" && url.protocol !== "http:")
      throw new InvalidIdentityInputError(field, "must be an http(s) origin");
    if (url.username !== "" || url.password !== "" || url.pathname !== "/" || url.search !== "" || url.hash !== "")
      throw new InvalidIdentityInputError(
        field,
        `must be an origin only (scheme, host, port), such as ${JSON.stringify(url.origin)}: no path, query or credentials`,
      );
  });
}

function httpHostsOption(value: unknown): void {
  if (value === undefined) return;
  const expected = 'must be an array of host names (["status.internal"]), without scheme or port';
  if (!Array.isArray(value)) throw new InvalidIdentityInputError("statusListHttpHosts", expected);
  value.forEach((host: unknown, index) => {
    if (typeof host !== "string" || host.length > 253 || !HOST.test(host))
      throw new InvalidIdentityInputError(`statusListHttpHosts[${index}]`, expected);
  });
}
