// Which status list URLs the verifier may fetch. A status URL is chosen by whoever issued the credential, so it is
// attacker input aimed at the verifier's network (SSRF).
//
// Rules:
// - The URL is parsed once (WHATWG URL, which normalizes every IPv4 spelling: decimal, hex, octal, short forms)
//   and only the parsed `href` is ever fetched, never the raw string.
// - https only; plain http only to hosts listed in `httpHosts` (nothing by default: a local stack opts in).
// - IP literals in loopback, private, link-local, unique-local, carrier-grade NAT and unspecified ranges (IPv4,
//   IPv6, IPv4-mapped IPv6) and `localhost` names are refused over https too, unless the host is listed in
//   `httpHosts` (an explicit opt-in). Names that merely resolve to such addresses (DNS rebinding, nip.io) are not
//   caught here: that needs the fetcher's egress policy (see the README's threat model).
// - Then the configured origins, when there are any.
import { BlockList, isIPv4, isIPv6 } from "node:net";

/** Which status list URLs may be fetched. */
export interface StatusUrlPolicy {
  /**
   * Origins lists may be fetched from (`"https://status.example"`), or a function giving them for an issuer (for
   * example the issuer's own origin). Unset: any origin the scheme and address rules allow.
   */
  origins?: readonly string[] | ((issuer: string) => readonly string[] | undefined);
  /**
   * Hosts that may be fetched over plain http, and that may be local or private addresses (`"127.0.0.1"`,
   * `"[::1]"`, `"localhost"`). Default none.
   */
  httpHosts?: readonly string[];
}

/** The outcome of vetting one URL: the normalized `href` to fetch, or why not. */
export type VettedStatusUrl = { readonly href: string; readonly problem?: never } | { readonly problem: string };

const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
] as const)
  NON_PUBLIC.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
] as const)
  NON_PUBLIC.addSubnet(network, prefix, "ipv6");

/** Whether a URL hostname (as WHATWG URL gives it: IPv6 in brackets) is a local or private address or name. */
export function isNonPublicHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (isIPv4(host)) return NON_PUBLIC.check(host, "ipv4");
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  // IPv4-mapped addresses (::ffff:7f00:1) are matched against the IPv4 ranges by BlockList.
  if (isIPv6(bare)) return NON_PUBLIC.check(bare, "ipv6");
  return false;
}

/** A configured host, normalized as a URL would name it (so "127.1" and "127.0.0.1" compare equal). */
function normalizedHost(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Vets `url` for `issuer` under `policy`: the normalized href to fetch, or the problem. */
export function vetStatusUrl(url: string, issuer: string, policy: StatusUrlPolicy = {}): VettedStatusUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: "not a URL" };
  }
  if (parsed.username !== "" || parsed.password !== "") return { problem: "URL carries credentials" };
  const host = parsed.hostname.toLowerCase();
  const listed = (policy.httpHosts ?? []).some((h) => typeof h === "string" && normalizedHost(h) === host);
  if (parsed.protocol === "http:") {
    if (!listed) return { problem: "plain http to a host not listed in statusListHttpHosts" };
  } else if (parsed.protocol !== "https:") return { problem: `scheme ${parsed.protocol.slice(0, 20)} (https only)` };
  if (!listed && isNonPublicHost(host))
    return { problem: "a local or private address (list the host in statusListHttpHosts to allow it)" };
  const origins = typeof policy.origins === "function" ? policy.origins(issuer) : policy.origins;
  if (origins !== undefined && !origins.some((origin) => sameOrigin(origin, parsed.origin)))
    return { problem: "origin not allowed for this issuer (statusListOrigins)" };
  return { href: parsed.href };
}

/** Why `url` may not be fetched for `issuer` under `policy`; undefined when it may. */
export function statusUrlProblem(url: string, issuer: string, policy: StatusUrlPolicy = {}): string | undefined {
  return vetStatusUrl(url, issuer, policy).problem;
}

function sameOrigin(configured: string, origin: string): boolean {
  try {
    return new URL(configured).origin === origin;
  } catch {
    return false;
  }
}
