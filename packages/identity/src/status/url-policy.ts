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
import { BlockList, isIP } from "node:net";

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
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  NON_PUBLIC.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48], // local-use NAT64 (RFC 8215): the IPv4 part may sit anywhere, so refused outright
  ["100::", 64],
  ["2001::", 32], // Teredo: an obfuscated IPv4 address inside, refused outright
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const)
  NON_PUBLIC.addSubnet(network, prefix, "ipv6");
// No ::ffff:0:0/96 (mapped), ::/96 (IPv4-compatible), 64:ff9b::/96 (NAT64) or 2002::/16 (6to4) rule: each of those
// embeds an IPv4 address, and is judged as that address (embeddedIPv4).

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** The 16 bytes of an IPv6 address (a zone id dropped, a dotted IPv4 tail read), or null when it is not one. */
function ipv6Bytes(address: string): number[] | null {
  let text = address.replace(/%.*$/, "");
  if (isIP(text) !== 6) return null;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const words = (part: string | undefined) => (part ? part.split(":").map((word) => parseInt(word, 16)) : []);
  const front = words(head);
  const back = words(tail);
  const groups =
    tail === undefined ? front : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  if (groups.length !== 8) return null;
  return groups.flatMap((group) => [group >> 8, group & 255]);
}

/**
 * The IPv4 address an IPv6 address carries and is routed to, else null: IPv4-mapped ::ffff:0:0/96 (`mapped`: the
 * host's own IPv4 stack), IPv4-compatible ::/96 (except :: and ::1), NAT64 64:ff9b::/96 and 6to4 2002::/16.
 */
function embeddedIPv4(address: string): { ipv4: string; mapped: boolean } | null {
  const bytes = ipv6Bytes(address);
  if (bytes === null) return null;
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  const quad = (from: number) => bytes.slice(from, from + 4).join(".");
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return { ipv4: quad(12), mapped: true };
  if (zeros(0, 12)) return zeros(12, 15) && bytes[15]! <= 1 ? null : { ipv4: quad(12), mapped: false };
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b;
  if (nat64 && zeros(4, 12)) return { ipv4: quad(12), mapped: false };
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return { ipv4: quad(2), mapped: false };
  return null;
}

/**
 * What an IP address (no brackets) reaches: `"loopback"` (this machine: 127/8, ::1, or IPv4-mapped 127/8),
 * `"non-public"` (private, link-local, CGNAT, unspecified, documentation, multicast, reserved, Teredo, local NAT64,
 * or not an IP address at all: fail closed) or `"public"`. An IPv6 address that embeds an IPv4 address is judged as
 * that address; only a mapped one can be this machine's loopback (::7f00:1 or 2002:7f00:1:: is not).
 */
export function classifyAddress(address: string): "public" | "loopback" | "non-public" {
  const version = isIP(address);
  if (version === 0) return "non-public";
  const kind = version === 4 ? "ipv4" : "ipv6";
  const embedded = kind === "ipv6" ? embeddedIPv4(address) : null;
  if (embedded !== null) {
    const inner = classifyAddress(embedded.ipv4);
    return inner === "loopback" && !embedded.mapped ? "non-public" : inner;
  }
  if (LOOPBACK.check(address, kind)) return "loopback";
  return NON_PUBLIC.check(address, kind) ? "non-public" : "public";
}

/** Whether an IP address (no brackets) is anything but a public one (see classifyAddress); non-IP input is. */
export function isNonPublicAddress(address: string): boolean {
  return classifyAddress(address) !== "public";
}

/** Whether a URL hostname (as WHATWG URL gives it: IPv6 in brackets) is a local or private address or name. */
export function isNonPublicHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return isIP(bare) !== 0 && isNonPublicAddress(bare);
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
