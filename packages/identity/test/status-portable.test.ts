// The status modules without node:zlib and node:net (so a browser bundle can hold them): pako reads and writes the
// streams node:zlib does, with the same bound on inflation, and ipaddr.js with ipVersion classifies addresses as
// node:net's isIP and BlockList did. Node's own modules are the reference here; the old BlockList classifier is
// kept below, as it was, to compare against.
import { expect } from "chai";
import { once } from "node:events";
import { BlockList, isIP } from "node:net";
import { createDeflate, createGzip, deflateSync, gunzipSync, gzipSync, inflateSync } from "node:zlib";
import {
  Bitstring,
  InvalidStatusListError,
  MAX_STATUS_LIST_BYTES,
  MIN_STATUS_LIST_BITS,
  TokenStatusList,
  type TokenStatusBits,
} from "../src/index.ts";
import { classifyAddress, ipVersion, isNonPublicHost, vetStatusUrl } from "../src/status/url-policy.ts";
import { inflateBounded } from "../src/status/inflate.ts";

const MiB = 1024 * 1024;

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- The classifier as it was with node:net (BlockList, isIP), the reference for classifyAddress; with the ranges
// a break-it review added since (192.88.99/24, 2001::/23, 3fff::/20, 5f00::/16, fec0::/10, and SIIT's
// ::ffff:0:0:0/96 judged as its IPv4 address). ----
// The IPv4 ranges: the reference's rules, and where the samples below probe the edges.
const RANGES_V4: readonly (readonly [string, number])[] = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];
const REF_NON_PUBLIC = new BlockList();
for (const [network, prefix] of RANGES_V4) REF_NON_PUBLIC.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001::", 23],
  ["2001:db8::", 32],
  ["3fff::", 20],
  ["5f00::", 16],
  ["fc00::", 7],
  ["fec0::", 10],
  ["fe80::", 10],
  ["ff00::", 8],
] as const)
  REF_NON_PUBLIC.addSubnet(network, prefix, "ipv6");
const REF_LOOPBACK = new BlockList();
REF_LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
REF_LOOPBACK.addAddress("::1", "ipv6");

function refIpv6Bytes(address: string): number[] | null {
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

function refEmbeddedIPv4(address: string): { ipv4: string; mapped: boolean } | null {
  const bytes = refIpv6Bytes(address);
  if (bytes === null) return null;
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  const quad = (from: number) => bytes.slice(from, from + 4).join(".");
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return { ipv4: quad(12), mapped: true };
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) return { ipv4: quad(12), mapped: false };
  if (zeros(0, 12)) return zeros(12, 15) && bytes[15]! <= 1 ? null : { ipv4: quad(12), mapped: false };
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b;
  if (nat64 && zeros(4, 12)) return { ipv4: quad(12), mapped: false };
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return { ipv4: quad(2), mapped: false };
  return null;
}

function refClassify(address: string): "public" | "loopback" | "non-public" {
  const version = isIP(address);
  if (version === 0) return "non-public";
  const kind = version === 4 ? "ipv4" : "ipv6";
  const embedded = kind === "ipv6" ? refEmbeddedIPv4(address) : null;
  if (embedded !== null) {
    const inner = refClassify(embedded.ipv4);
    return inner === "loopback" && !embedded.mapped ? "non-public" : inner;
  }
  if (REF_LOOPBACK.check(address, kind)) return "loopback";
  return REF_NON_PUBLIC.check(address, kind) ? "non-public" : "public";
}

/**
 * Where the BlockList classifier failed open: BlockList reads an address with a zone id through libuv's
 * uv_ip6_addr, which cuts the address part to 39 characters, so a longer one (only a dotted tail makes one) matched
 * no range and came out "public". ipaddr.js reads it whole, so it is judged as the same address without the zone.
 */
function blockListCutIt(address: string): boolean {
  return isIP(address) === 6 && address.includes("%") && address.replace(/%.*$/, "").length > 39;
}

/** The reference answer: the BlockList classifier's, but failing closed where it failed open (above). */
function expectedClass(address: string): "public" | "loopback" | "non-public" {
  return refClassify(blockListCutIt(address) ? address.replace(/%.*$/, "") : address);
}

function refIsNonPublicHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return isIP(bare) !== 0 && expectedClass(bare) !== "public";
}

// ---- Address text, valid and not. ----
const HAND_PICKED = [
  ...["", " ", ".", "...", "localhost", "example.com", "1", "1.2", "1.2.3", "1.2.3.4.5", "1.2.3.4.", ".1.2.3.4"],
  ...["0.0.0.0", "1.2.3.4", "127.0.0.1", "255.255.255.255", "256.0.0.1", "1.2.3.256", "999.1.1.1", "1.2.3.-1"],
  ...["127.1", "127.0.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "0177.0.0.1", "0177.0.0.01", "01.2.3.4"],
  ...["1.02.3.4", "1.2.3.04", "00.0.0.0", "0.0.0.00", "000.0.0.0", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "\t1.2.3.4"],
  ...["1.2.3.4/8", "1.2.3.4:80", "\uff11.2.3.4", "1.2.3.4%eth0", "1..3.4", "1.2.3.4.0", "+1.2.3.4", "1e0.2.3.4"],
  ...["::", "::1", "1::", "::0", "0::0", ":", ":::", "::::", "1:::2", "1::2::3", ":1::", "::1:", "1:", ":1"],
  ...["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7"],
  ...["::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8::", "1::3:4:5:6:7:8", "1:2:3:4:5:6::8", "0:0:0:0:0:0:0:0"],
  ...["00000::", "12345::", "g::1", "::g", "FE80::ABCD", "fe80::ABCD:ef01", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ...["::ffff:1.2.3.4", "::FFFF:1.2.3.4", "::ffff:01.2.3.4", "::ffff:1.2.3", "::ffff:1.2.3.4.5", "::ffff:256.1.1.1"],
  ...["::1.2.3.4", "1.2.3.4::", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5::1.2.3.4"],
  ...["1::1.2.3.4", "1:2:3:4:5:1.2.3.4", "::ffff:0:1.2.3.4", "64:ff9b::1.2.3.4", "2002:102:304::", "::1.2.3.4:1"],
  ...["fe80::1%eth0", "fe80::1%", "fe80::1%%", "fe80::1%eth0%1", "fe80::1%a.b-c:d", "fe80::1%\u00e9", "fe80::1%25"],
  ...["fe80::1%eth 0", "fe80::1%eth/0", "fe80::1%_", "::1%1", "::%x", "::ffff:127.0.0.1%lo", "1:2:3:4:5:6:7:8%1"],
  ...["[::1]", "[::1", "::1]", "[1.2.3.4]", "2001:db8::1/64", "2001:db8::1 ", " ::1", "::1\n", "fe80::1%eth0\n"],
  ...["0:0:0:0:0:ffff:7f00:1", "::7f00:1", "2002:7f00:1::", "64:ff9b::7f00:1", "64:ff9b:1::1", "2001::1"],
  ...["::ffff:0:7f00:1", "::ffff:0:a00:1", "::ffff:0:808:808", "fec0::1", "2001:2::1", "2001:10::1", "3fff::1"],
  ...["5f00::1", "2620:4f:8000::1", "192.88.99.1", "2001:200::1", "2001:1ff::1"],
];

function hexGroup(next: () => number): string {
  const digits = Math.floor(next() * 5); // 0 to 4 digits; 0 makes an empty group
  let text = "";
  for (let i = 0; i < digits; i++) text += "0123456789abcdefABCDEF"[Math.floor(next() * 22)];
  return text;
}

function decimal(next: () => number): string {
  const roll = next();
  if (roll < 0.6) return String(Math.floor(next() * 256));
  if (roll < 0.7) return String(256 + Math.floor(next() * 1000));
  if (roll < 0.8) return `0${Math.floor(next() * 256)}`; // leading zero
  if (roll < 0.9) return `0x${Math.floor(next() * 256).toString(16)}`;
  return ["", "-1", "1a", "00", "000", "255", "0"][Math.floor(next() * 7)]!;
}

function generatedText(next: () => number): string {
  const roll = next();
  if (roll < 0.3) {
    const parts = next() < 0.6 ? 4 : 1 + Math.floor(next() * 5);
    return Array.from({ length: parts }, () => decimal(next)).join(".");
  }
  const groups = Array.from({ length: Math.floor(next() * 10) }, () => hexGroup(next));
  let text = groups.join(":");
  if (next() < 0.5) {
    const at = Math.floor(next() * (groups.length + 1));
    text = [...groups.slice(0, at), "", ...groups.slice(at)].join(":");
    if (at === 0 || at === groups.length) text = at === 0 ? `:${text}` : `${text}:`;
  }
  if (next() < 0.25) text += `:${Array.from({ length: 4 }, () => decimal(next)).join(".")}`;
  if (next() < 0.2) text += `%${["eth0", "1", "", "a.b", "x:y", "-", "%", "é", " ", "lo/0"][Math.floor(next() * 10)]}`;
  return text;
}

/** A mutation of a valid address: one character dropped, doubled or replaced. */
function mutated(next: () => number, text: string): string {
  const at = Math.floor(next() * text.length);
  const roll = next();
  if (roll < 0.33) return text.slice(0, at) + text.slice(at + 1);
  if (roll < 0.66) return text.slice(0, at) + text[at] + text.slice(at);
  return text.slice(0, at) + ":.%0fgx "[Math.floor(next() * 8)] + text.slice(at + 1);
}

// ---- Addresses to classify: range edges (RANGES_V4), random ones, and IPv6 forms embedding them. ----

const v4Text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const v4Number = (text: string) => text.split(".").reduce((n, part) => n * 256 + Number(part), 0);

function v4Samples(next: () => number): number[] {
  const samples: number[] = [];
  for (const [network, prefix] of RANGES_V4) {
    const first = v4Number(network);
    const last = first + 2 ** (32 - prefix) - 1;
    for (const n of [
      first - 1,
      first,
      first + 1,
      last - 1,
      last,
      last + 1,
      first + Math.floor(next() * (last - first)),
    ])
      if (n >= 0 && n <= 0xffffffff) samples.push(n);
  }
  for (let octet = 0; octet < 256; octet++) samples.push(octet * 2 ** 24 + Math.floor(next() * 2 ** 24));
  for (let i = 0; i < 200; i++) samples.push(Math.floor(next() * 2 ** 32));
  return samples;
}

/** 16 bytes written as IPv6 text in one of several spellings (full, compressed, padded, upper case, dotted tail). */
function v6Text(next: () => number, bytes: number[]): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  const padded = next() < 0.2;
  const hex = (g: number) => (padded ? g.toString(16).padStart(4, "0") : g.toString(16));
  const dotted = next() < 0.3;
  const words = (dotted ? groups.slice(0, 6) : groups).map(hex);
  let text = words.join(":");
  if (next() < 0.6) {
    // Compress the longest run of zero groups, as an address would usually be written.
    let best = [-1, 0];
    for (let i = 0; i < words.length; i++) {
      let j = i;
      while (j < words.length && groups[j] === 0) j++;
      if (j - i > best[1]!) best = [i, j - i];
    }
    if (best[1]! > 0) {
      const [start, length] = best as [number, number];
      const head = words.slice(0, start).join(":");
      const tail = words.slice(start + length).join(":");
      text = `${head}::${tail}`;
    }
  }
  if (dotted) text += `${text.endsWith(":") ? "" : ":"}${bytes.slice(12).join(".")}`;
  if (next() < 0.2) text = text.toUpperCase();
  if (next() < 0.1) text += "%eth0";
  return text;
}

function v6Samples(next: () => number, v4: number[]): string[] {
  const bytesOf = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const randomBytes = (count: number) => Array.from({ length: count }, () => Math.floor(next() * 256));
  const prefixes: number[][] = [
    [],
    [0, 0x64, 0xff, 0x9b],
    [0, 0x64, 0xff, 0x9b, 0, 1],
    [0, 0x64, 0xff, 0x9c],
    [1, 0, 0, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 0, 0, 1],
    [0x20, 0x01, 0, 0],
    [0x20, 0x01, 0, 1],
    [0x20, 0x01, 0x0d, 0xb8],
    [0x20, 0x01, 0x0d, 0xb9],
    [0x20, 0x02],
    [0xfb],
    [0xfc],
    [0xfd],
    [0xfe],
    [0xfe, 0x80],
    [0xfe, 0xbf],
    [0xfe, 0xc0],
    [0xff],
    [0x26, 0x06],
  ];
  const samples: string[] = [];
  for (const prefix of prefixes)
    for (let i = 0; i < 25; i++) {
      const bytes = [...prefix, ...randomBytes(16 - prefix.length)];
      if (next() < 0.3) bytes.fill(0, prefix.length + Math.floor(next() * (16 - prefix.length)));
      samples.push(v6Text(next, bytes));
    }
  for (const n of v4) {
    const four = bytesOf(n);
    const zero10 = Array<number>(10).fill(0);
    samples.push(v6Text(next, [...zero10, 0xff, 0xff, ...four])); // mapped
    samples.push(v6Text(next, [...zero10, 0, 0, ...four])); // IPv4-compatible
    samples.push(v6Text(next, [0, 0x64, 0xff, 0x9b, ...Array<number>(8).fill(0), ...four])); // NAT64
    samples.push(v6Text(next, [0x20, 0x02, ...four, ...randomBytes(10)])); // 6to4
  }
  for (let last = 0; last < 4; last++) samples.push(v6Text(next, [...Array<number>(15).fill(0), last]));
  return samples;
}

// ---- Compressed lists. ----
const base64url = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64url");
const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

function randomList(next: () => number, bytes: number, density: number): Uint8Array {
  const list = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) if (next() < density) list[i] = Math.floor(next() * 256);
  return list;
}

type Outcome = Uint8Array | "refused";

function nodeGunzip(data: Uint8Array): Outcome {
  try {
    const out = gunzipSync(data, { maxOutputLength: MAX_STATUS_LIST_BYTES });
    return out.length * 8 < MIN_STATUS_LIST_BITS ? "refused" : new Uint8Array(out);
  } catch {
    return "refused";
  }
}

function nodeInflate(data: Uint8Array): Outcome {
  try {
    const out = inflateSync(data, { maxOutputLength: MAX_STATUS_LIST_BYTES });
    return out.length * 8 < MIN_STATUS_LIST_BITS ? "refused" : new Uint8Array(out);
  } catch {
    return "refused";
  }
}

function refusedWith<T>(decode: () => T): T | "refused" {
  try {
    return decode();
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidStatusListError);
    return "refused";
  }
}

// The browser's inflation (pako), called directly: in Node the lists decode through node:zlib (#native).
const portable =
  (format: "gzip" | "zlib") =>
  (data: Uint8Array): Outcome => {
    try {
      const out = inflateBounded(data, format, MAX_STATUS_LIST_BYTES);
      return out.length * 8 < MIN_STATUS_LIST_BITS ? "refused" : out;
    } catch {
      return "refused";
    }
  };
const portableGunzip = portable("gzip");
const portableInflate = portable("zlib");
const ourGunzip = (data: Uint8Array): Outcome => refusedWith(() => Bitstring.decode(`u${base64url(data)}`).bytes);
const ourInflate = (data: Uint8Array): Outcome =>
  refusedWith(() => TokenStatusList.fromClaim({ bits: 1, lst: base64url(data) }).bytes);

function expectSameOutcome(ours: Outcome, node: Outcome, what: string): void {
  if (node === "refused") expect(ours, what).to.equal("refused");
  else {
    expect(ours, what).to.be.instanceOf(Uint8Array);
    expect(same(ours as Uint8Array, node), what).to.equal(true);
  }
}

/** Streams without ever holding the uncompressed bytes, so the bomb does not raise the test's own memory peak. */
async function zerosCompressed(format: "gzip" | "zlib", size: number): Promise<Buffer> {
  const stream = format === "gzip" ? createGzip({ level: 9 }) : createDeflate({ level: 9 });
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = once(stream, "end");
  const zeros = Buffer.alloc(MiB);
  for (let written = 0; written < size; written += zeros.length) if (!stream.write(zeros)) await once(stream, "drain");
  stream.end();
  await ended;
  return Buffer.concat(chunks);
}

describe("identity: portable status lists and URL policy agree with node:zlib and node:net", function () {
  describe("ipVersion is node:net's isIP", function () {
    it("on hand-picked inputs", function () {
      for (const text of HAND_PICKED) expect(ipVersion(text), JSON.stringify(text)).to.equal(isIP(text));
      // The forms the rules depend on, spelled out.
      expect(ipVersion("127.0.0.1")).to.equal(4);
      expect(ipVersion("127.1")).to.equal(0);
      expect(ipVersion("0x7f.0.0.1")).to.equal(0);
      expect(ipVersion("0177.0.0.1")).to.equal(0);
      expect(ipVersion("::ffff:127.0.0.1")).to.equal(6);
      expect(ipVersion("fe80::1%eth0")).to.equal(6);
    });

    it("on generated and mutated inputs", function () {
      const next = random(1);
      const inputs = Array.from({ length: 4000 }, () => generatedText(next));
      const valid = inputs.filter((text) => isIP(text) !== 0);
      inputs.push(...valid.flatMap((text) => [mutated(next, text), mutated(next, text)]));
      let versions = { 0: 0, 4: 0, 6: 0 };
      for (const text of inputs) {
        expect(ipVersion(text), JSON.stringify(text)).to.equal(isIP(text));
        versions = { ...versions, [isIP(text)]: versions[isIP(text) as 0 | 4 | 6] + 1 };
      }
      // The generator reaches all three answers often enough to mean something.
      expect(versions[0]).to.be.above(500);
      expect(versions[4]).to.be.above(100);
      expect(versions[6]).to.be.above(200);
    });
  });

  describe("classifyAddress is the BlockList classifier", function () {
    it("on range edges, random addresses and IPv6 forms embedding them", function () {
      const next = random(2);
      const v4 = v4Samples(next);
      const addresses = [...v4.map(v4Text), ...v6Samples(next, v4), ...HAND_PICKED];
      const answers = { public: 0, loopback: 0, "non-public": 0 };
      for (const address of addresses) {
        const expected = expectedClass(address);
        expect(classifyAddress(address), address).to.equal(expected);
        answers[expected]++;
      }
      expect(addresses.length).to.be.above(2000);
      expect(answers.public).to.be.above(300);
      expect(answers.loopback).to.be.above(20);
      expect(answers["non-public"]).to.be.above(300);
    });

    it("refuses the ranges a break-it review found open: SIIT-translated IPv4, site-local, IETF assignments", function () {
      for (const address of ["::ffff:0:7f00:1", "::ffff:0:a00:1", "fec0::1", "2001:2::1", "2001:10::1", "3fff::1"])
        expect(classifyAddress(address), address).to.equal("non-public");
      for (const address of ["5f00::1", "192.88.99.1"])
        expect(classifyAddress(address), address).to.equal("non-public");
      // SIIT embeds a routable IPv4 address: a public one stays public, as in every other embedding.
      expect(classifyAddress("::ffff:0:808:808")).to.equal("public");
      expect(classifyAddress("2001:200::1")).to.equal("public"); // just past 2001::/23
      expect(vetStatusUrl("https://[::ffff:0:7f00:1]/list", "did:example:issuer").problem).to.match(/local or private/);
      expect(vetStatusUrl("https://localhost../list", "did:example:issuer").problem).to.match(/local or private/);
    });

    it("fails closed where BlockList failed open (a zone id on an address longer than 39 characters)", function () {
      for (const address of [
        "fc81:934a:9dcf:245f:413:9559:70.33.152.59%eth0",
        "fe80:0000:0000:0000:0000:0000:100.200.3.4%e",
        "2001:0db8:0000:0000:0000:0000:192.100.2.1%x",
      ]) {
        expect(isIP(address), address).to.equal(6);
        expect(blockListCutIt(address), address).to.equal(true);
        expect(refClassify(address), address).to.equal("public");
        expect(classifyAddress(address), address).to.equal("non-public");
      }
      expect(classifyAddress("0000:0000:0000:0000:0000:ffff:127.000.0.1%lo")).to.equal("non-public"); // not IP
      expect(classifyAddress("0000:0000:0000:0000:0000:ffff:127.0.0.1%lo")).to.equal("loopback");
    });

    it("reads ::a.b.c.d as IPv4-compatible, not mapped (ipaddr.js alone would say mapped)", function () {
      expect(classifyAddress("::127.0.0.1")).to.equal("non-public");
      expect(classifyAddress("::ffff:127.0.0.1")).to.equal("loopback");
      expect(classifyAddress("::7f00:1")).to.equal("non-public");
      expect(classifyAddress("::8.8.8.8")).to.equal("public");
      expect(classifyAddress("::10.0.0.1")).to.equal("non-public");
    });

    it("on URL hostnames (isNonPublicHost), bracketed or not", function () {
      const next = random(3);
      const hosts = [
        ...v4Samples(next).map(v4Text),
        ...v6Samples(next, [0x7f000001, 0x0a000001, 0x08080808]).map((text) => `[${text.toLowerCase()}]`),
        ...["localhost", "a.localhost", "localhost.", "example.com", "[::1]", "[::1", "[fe80::1%25eth0]", "1.1.1.1."],
      ];
      for (const host of hosts) expect(isNonPublicHost(host), host).to.equal(refIsNonPublicHost(host));
    });
  });

  describe("lists compressed by pako are node:zlib's streams", function () {
    const sizes = [MIN_STATUS_LIST_BITS / 8, 64 * 1024, 300_001, MAX_STATUS_LIST_BYTES];

    it("a Bitstring encoded here gunzips with node:zlib, and one gzipped by node:zlib decodes here", function () {
      const next = random(4);
      for (const bytes of sizes)
        for (const density of [0, 0.01, 1]) {
          const list = new Bitstring(bytes * 8);
          list.bytes.set(randomList(next, bytes, density));
          const encoded = list.encode();
          expect(encoded).to.match(/^u[A-Za-z0-9_-]+$/);
          const ours = Buffer.from(encoded.slice(1), "base64url");
          expect([...ours.subarray(0, 3)]).to.deep.equal([0x1f, 0x8b, 8]); // GZIP, deflate
          expect(same(gunzipSync(ours), list.bytes), `${bytes} bytes`).to.equal(true);
          for (const level of [1, 6, 9]) {
            const theirs = `u${gzipSync(list.bytes, { level }).toString("base64url")}`;
            expect(same(Bitstring.decode(theirs).bytes, list.bytes), `${bytes} bytes, level ${level}`).to.equal(true);
          }
        }
    });

    it("a TokenStatusList's lst inflates with node:zlib, and one deflated by node:zlib parses here", function () {
      const next = random(5);
      for (const bits of [1, 2, 4, 8] as TokenStatusBits[])
        for (const bytes of sizes) {
          const list = new TokenStatusList((bytes * 8) / bits, bits);
          list.bytes.set(randomList(next, bytes, 0.05));
          const claim = list.toClaim();
          expect(claim.bits).to.equal(bits);
          expect(claim.lst).to.match(/^[A-Za-z0-9_-]+$/);
          const ours = Buffer.from(claim.lst, "base64url");
          expect(ours[0]).to.equal(0x78); // ZLIB (RFC 1950), not raw DEFLATE or GZIP
          expect(same(inflateSync(ours), list.bytes), `${bits} bits, ${bytes} bytes`).to.equal(true);
          const theirs = TokenStatusList.fromClaim({ bits, lst: deflateSync(list.bytes).toString("base64url") });
          expect(theirs.bits).to.equal(bits);
          expect(theirs.size).to.equal(list.size);
          expect(same(theirs.bytes, list.bytes)).to.equal(true);
        }
      const list = new TokenStatusList(MIN_STATUS_LIST_BITS / 2, 2);
      list.set(7, 2);
      expect(TokenStatusList.fromClaim(list.toClaim()).get(7)).to.equal(2);
    });

    it("accepts and refuses the edge cases node:zlib does (members, trailing bytes, truncation, checksums)", function () {
      const next = random(6);
      const data = randomList(next, MIN_STATUS_LIST_BITS / 8, 0.1);
      const gz = gzipSync(data);
      const z = deflateSync(data);
      const flip = (bytes: Buffer, at: number) => {
        const copy = Buffer.from(bytes);
        copy[at < 0 ? copy.length + at : at]! ^= 1;
        return copy;
      };
      const cat = (...parts: Uint8Array[]) => Buffer.concat(parts);
      const gzipCases: [string, Uint8Array][] = [
        ["one member", gz],
        ["two members", cat(gz, gz)],
        ["three members, the last one tiny", cat(gz, gz, gzipSync(new Uint8Array(3)))],
        ["trailing zero bytes", cat(gz, new Uint8Array(4))],
        ["a zero byte, then garbage", cat(gz, Uint8Array.of(0, 9, 9))],
        ["trailing garbage", cat(gz, Uint8Array.of(1, 2, 3))],
        ["a second member's first byte only", cat(gz, Uint8Array.of(0x1f))],
        ["a second member truncated", cat(gz, gz.subarray(0, 20))],
        ["bad CRC", flip(gz, -6)],
        ["bad length", flip(gz, -2)],
        ["corrupt data", flip(gz, 12)],
        ["not GZIP but ZLIB", z],
        ["raw DEFLATE", z.subarray(2, -4)],
        ["exactly the limit", gzipSync(new Uint8Array(MAX_STATUS_LIST_BYTES))],
        ["one byte over the limit", gzipSync(new Uint8Array(MAX_STATUS_LIST_BYTES + 1))],
        ["an empty member", gzipSync(new Uint8Array(0))],
        ["a small window", gzipSync(data, { windowBits: 9 })],
      ];
      for (let cut = 1; cut <= 12; cut++) gzipCases.push([`truncated by ${cut}`, gz.subarray(0, gz.length - cut)]);
      gzipCases.push(["header only", gz.subarray(0, 10)], ["halved", gz.subarray(0, gz.length >> 1)]);
      for (const [what, bytes] of gzipCases) {
        expectSameOutcome(ourGunzip(bytes), nodeGunzip(bytes), `GZIP: ${what}`);
        expectSameOutcome(portableGunzip(bytes), nodeGunzip(bytes), `GZIP, pako: ${what}`);
      }
      expect(ourGunzip(cat(gz, gz))).to.have.length(2 * data.length);
      expect(ourGunzip(cat(gz, Uint8Array.of(1, 2, 3)))).to.equal("refused");

      const zlibCases: [string, Uint8Array][] = [
        ["one stream", z],
        ["trailing bytes (ignored, as by node:zlib)", cat(z, Uint8Array.of(1, 2, 3))],
        ["two streams (the second ignored)", cat(z, z)],
        ["bad Adler-32", flip(z, -1)],
        ["bad header check", flip(z, 1)],
        ["corrupt data", flip(z, 5)],
        ["a preset dictionary", deflateSync(data, { dictionary: Buffer.from("dictionary") })],
        ["not ZLIB but GZIP", gz],
        ["raw DEFLATE", z.subarray(2, -4)],
        ["exactly the limit", deflateSync(new Uint8Array(MAX_STATUS_LIST_BYTES))],
        ["one byte over the limit", deflateSync(new Uint8Array(MAX_STATUS_LIST_BYTES + 1))],
        ["a small window", deflateSync(data, { windowBits: 9 })],
      ];
      for (let cut = 1; cut <= 8; cut++) zlibCases.push([`truncated by ${cut}`, z.subarray(0, z.length - cut)]);
      zlibCases.push(["header only", z.subarray(0, 2)], ["halved", z.subarray(0, z.length >> 1)]);
      for (const [what, bytes] of zlibCases) {
        expectSameOutcome(ourInflate(bytes), nodeInflate(bytes), `ZLIB: ${what}`);
        expectSameOutcome(portableInflate(bytes), nodeInflate(bytes), `ZLIB, pako: ${what}`);
      }
    });

    it("refuses truncated, corrupt and mis-encoded lists with InvalidStatusListError", function () {
      const gz = Buffer.from(new Bitstring().encode().slice(1), "base64url");
      const z = Buffer.from(new TokenStatusList().toClaim().lst, "base64url");
      for (const cut of [1, 4, 8, gz.length >> 1])
        expect(() => Bitstring.decode(`u${base64url(gz.subarray(0, gz.length - cut))}`)).to.throw(
          InvalidStatusListError,
          /not a GZIP stream/,
        );
      for (const cut of [1, 4, z.length >> 1])
        expect(() => TokenStatusList.fromClaim({ bits: 1, lst: base64url(z.subarray(0, z.length - cut)) })).to.throw(
          InvalidStatusListError,
          /not a ZLIB stream/,
        );
      const corrupt = Buffer.from(gz);
      corrupt[corrupt.length - 5]! ^= 0x40; // CRC-32
      expect(() => Bitstring.decode(`u${base64url(corrupt)}`)).to.throw(InvalidStatusListError);
      for (const encodedList of ["u", "uAAAA", "uH4sI", `m${base64url(gz)}`, `u${base64url(gz)}=`, 42, null])
        expect(() => Bitstring.decode(encodedList)).to.throw(InvalidStatusListError);
      for (const claim of [{ bits: 1, lst: "" }, { bits: 1, lst: "eJ" }, { bits: 3, lst: base64url(z) }, null])
        expect(() => TokenStatusList.fromClaim(claim)).to.throw(InvalidStatusListError);
    });
  });

  describe("a 200 MiB bomb", function () {
    const BOMB = 200 * MiB;

    for (const [format, path] of [
      ["gzip", "node:zlib"],
      ["zlib", "node:zlib"],
      ["gzip", "pako"],
      ["zlib", "pako"],
    ] as const)
      it(`is refused without inflating it (${format}, ${path})`, async function () {
        const compressed = await zerosCompressed(format, BOMB);
        expect(compressed.length).to.be.below(BOMB / 500);
        const encoded = base64url(compressed);
        const decode =
          path === "pako"
            ? () => {
                try {
                  inflateBounded(compressed, format, MAX_STATUS_LIST_BYTES);
                } catch (error) {
                  throw new InvalidStatusListError(`inflates beyond the limit (${(error as Error).message})`);
                }
              }
            : format === "gzip"
              ? () => Bitstring.decode(`u${encoded}`)
              : () => TokenStatusList.fromClaim({ bits: 1, lst: encoded });

        const before = process.memoryUsage();
        const peakBefore = process.resourceUsage().maxRSS * 1024;
        expect(decode).to.throw(InvalidStatusListError, /inflates beyond the limit/);
        const after = process.memoryUsage();
        const peakAfter = process.resourceUsage().maxRSS * 1024;
        // What it allocated is still counted (nothing forces a collection): the limit and a chunk, not the bomb.
        expect(after.arrayBuffers - before.arrayBuffers).to.be.below(16 * MiB);
        expect(after.rss - before.rss).to.be.below(48 * MiB);
        expect(peakAfter - peakBefore).to.be.below(48 * MiB);

        // The meter does see an unbounded inflation (node:zlib without maxOutputLength) of the same bomb: while the
        // control is alive, arrayBuffers counts it whole, whatever a collection meanwhile freed of earlier garbage
        // (a difference against an earlier reading can shrink that way, and did).
        const control = format === "gzip" ? gunzipSync(compressed) : inflateSync(compressed);
        expect(control.length).to.equal(BOMB);
        expect(process.memoryUsage().arrayBuffers).to.be.above(BOMB * 0.9);
      });
  });
});
