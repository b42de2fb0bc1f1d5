// Which status list URLs the verifier may fetch. A status URL is chosen by whoever issued the credential, so it is
// attacker input aimed at the verifier's network (SSRF).
//
// Rules:
// - The URL is parsed once (WHATWG URL, which normalizes every IPv4 spelling: decimal, hex, octal, short forms)
//   and only the parsed `href` is ever fetched, never the raw string.
// - https only; plain http only to hosts listed in `httpHosts` (nothing by default: a local stack opts in).
// - IP literals in loopback, private, link-local, unique-local, carrier-grade NAT, unspecified, documentation,
//   multicast and reserved ranges (IPv4 and IPv6; an IPv6 address embedding an IPv4 one, as IPv4-mapped,
//   IPv4-compatible, NAT64 and 6to4 do, is judged as that IPv4 address; Teredo and local NAT64 refused outright) and
//   `localhost` names are refused over https too, unless the host is listed in
//   `httpHosts` (an explicit opt-in). Names that merely resolve to such addresses (DNS rebinding, nip.io) are not
//   caught here: that needs the fetcher's egress policy (see the README's threat model).
// - Then the configured origins, when there are any.
// - IP parsing is ipaddr.js and ipVersion (below), not node:net, so the web wallet can bundle the verifier.
import ipaddr from "ipaddr.js";

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

// Non-public ranges: special-purpose, documentation, multicast and reserved blocks besides the private ones.
const NON_PUBLIC_V4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24", // deprecated 6to4 relay anycast (RFC 7526)
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
].map((cidr) => ipaddr.IPv4.parseCIDR(cidr));
const NON_PUBLIC_V6 = [
  "::/128",
  "::1/128",
  "64:ff9b:1::/48", // local-use NAT64 (RFC 8215): the IPv4 part may sit anywhere, so refused outright
  "100::/64",
  "2001::/23", // IETF protocol assignments: Teredo (an obfuscated IPv4 inside), benchmarking, ORCHID, AMT, …
  "2001:db8::/32",
  "3fff::/20", // documentation (RFC 9637)
  "5f00::/16", // SRv6 SIDs (RFC 9602)
  "fc00::/7",
  "fec0::/10", // deprecated site-local (RFC 3879): still routed inside some networks
  "fe80::/10",
  "ff00::/8",
].map((cidr) => ipaddr.IPv6.parseCIDR(cidr));
// No ::ffff:0:0/96 (mapped), ::ffff:0:0:0/96 (IPv4-translated, SIIT), ::/96 (IPv4-compatible), 64:ff9b::/96
// (NAT64) or 2002::/16 (6to4) rule: each of those embeds an IPv4 address, and is judged as that address
// (embeddedIPv4).

const LOOPBACK_V4 = ipaddr.IPv4.parseCIDR("127.0.0.0/8");
const LOOPBACK_V6 = ipaddr.IPv6.parseCIDR("::1/128");

// node:net's isIP, which a browser lacks, as Node 24 writes it (lib/internal/net.js): IPv4 only as four canonical
// decimals (no "127.1", hex, octal or leading zeros, all of which ipaddr.js would read), IPv6 with an optional
// dotted IPv4 tail and zone id. What counts as an address literal must not change with the platform.
const V4_PART = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const V4 = `(?:${V4_PART}\\.){3}${V4_PART}`;
const V6_PART = "(?:[0-9a-fA-F]{1,4})";
const IPV4_LITERAL = new RegExp(`^${V4}$`);
const IPV6_LITERAL = new RegExp(
  "^(?:" +
    `(?:${V6_PART}:){7}(?:${V6_PART}|:)|` +
    `(?:${V6_PART}:){6}(?:${V4}|:${V6_PART}|:)|` +
    `(?:${V6_PART}:){5}(?::${V4}|(?::${V6_PART}){1,2}|:)|` +
    `(?:${V6_PART}:){4}(?:(?::${V6_PART}){0,1}:${V4}|(?::${V6_PART}){1,3}|:)|` +
    `(?:${V6_PART}:){3}(?:(?::${V6_PART}){0,2}:${V4}|(?::${V6_PART}){1,4}|:)|` +
    `(?:${V6_PART}:){2}(?:(?::${V6_PART}){0,3}:${V4}|(?::${V6_PART}){1,5}|:)|` +
    `(?:${V6_PART}:){1}(?:(?::${V6_PART}){0,4}:${V4}|(?::${V6_PART}){1,6}|:)|` +
    `(?::(?:(?::${V6_PART}){0,5}:${V4}|(?::${V6_PART}){1,7}|:))` +
    ")(?:%[0-9a-zA-Z-.:]{1,})?$",
);

/**
 * 4 or 6 for an IPv4 or IPv6 address literal (no brackets), else 0: node:net's isIP on every input. Exported for the
 * tests that hold it to isIP; not in the package index.
 */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (IPV4_LITERAL.test(text)) return 4;
  return IPV6_LITERAL.test(text) ? 6 : 0;
}

/**
 * An IPv6 address ipVersion accepted, parsed. The zone id goes (it names an interface, not an address), and a dotted
 * IPv4 tail becomes two hex groups first: ipaddr.js reads "::a.b.c.d" as the mapped ::ffff:a.b.c.d, not as the
 * IPv4-compatible ::a.b.c.d it is (RFC 4291), and only a mapped address can be loopback.
 */
function parseIPv6(address: string): ipaddr.IPv6 {
  const text = address
    .replace(/%.*$/, "")
    .replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) => {
      const group = (high: string, low: string) => ((Number(high) << 8) | Number(low)).toString(16);
      return `${group(a, b)}:${group(c, d)}`;
    });
  return ipaddr.IPv6.parse(text);
}

/**
 * The IPv4 address an IPv6 address carries and is routed to, else null: IPv4-mapped ::ffff:0:0/96 (`mapped`: the
 * host's own IPv4 stack), IPv4-translated ::ffff:0:0:0/96 (SIIT, RFC 6145: a translator's IPv4 side),
 * IPv4-compatible ::/96 (except :: and ::1), NAT64 64:ff9b::/96 and 6to4 2002::/16.
 */
function embeddedIPv4(address: ipaddr.IPv6): { ipv4: ipaddr.IPv4; mapped: boolean } | null {
  const bytes = address.toByteArray();
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  const quad = (from: number) => new ipaddr.IPv4(bytes.slice(from, from + 4));
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return { ipv4: quad(12), mapped: true };
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) return { ipv4: quad(12), mapped: false };
  if (zeros(0, 12)) return zeros(12, 15) && bytes[15]! <= 1 ? null : { ipv4: quad(12), mapped: false };
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b;
  if (nat64 && zeros(4, 12)) return { ipv4: quad(12), mapped: false };
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return { ipv4: quad(2), mapped: false };
  return null;
}

function classifyIPv4(address: ipaddr.IPv4): "public" | "loopback" | "non-public" {
  if (address.match(LOOPBACK_V4)) return "loopback";
  return NON_PUBLIC_V4.some((range) => address.match(range)) ? "non-public" : "public";
}

/**
 * What an IP address (no brackets) reaches: `"loopback"` (this machine: 127/8, ::1, or IPv4-mapped 127/8),
 * `"non-public"` (private, link-local, CGNAT, unspecified, documentation, multicast, reserved, Teredo, local NAT64,
 * or not an IP address at all: fail closed) or `"public"`. An IPv6 address that embeds an IPv4 address is judged as
 * that address; only a mapped one can be this machine's loopback (::7f00:1 or 2002:7f00:1:: is not).
 */
export function classifyAddress(address: string): "public" | "loopback" | "non-public" {
  const version = ipVersion(address);
  if (version === 0) return "non-public";
  if (version === 4) return classifyIPv4(ipaddr.IPv4.parse(address));
  const parsed = parseIPv6(address);
  const embedded = embeddedIPv4(parsed);
  if (embedded !== null) {
    const inner = classifyIPv4(embedded.ipv4);
    return inner === "loopback" && !embedded.mapped ? "non-public" : inner;
  }
  if (parsed.match(LOOPBACK_V6)) return "loopback";
  return NON_PUBLIC_V6.some((range) => parsed.match(range)) ? "non-public" : "public";
}

/** Whether an IP address (no brackets) is anything but a public one (see classifyAddress); non-IP input is. */
export function isNonPublicAddress(address: string): boolean {
  return classifyAddress(address) !== "public";
}

/** Whether a URL hostname (as WHATWG URL gives it: IPv6 in brackets) is a local or private address or name. */
export function isNonPublicHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.+$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return ipVersion(bare) !== 0 && isNonPublicAddress(bare);
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
