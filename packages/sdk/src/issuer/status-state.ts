/**
 * The issuer's status lists, as a small JSON-serializable state the caller keeps (the CLI in a file, see
 * `state-file.node.ts`; a service in its database).
 *
 * Rules:
 * - A status index is handed out once, ever. The allocation is recorded (and saved by the client) before the
 *   credential that carries it exists, so a crash can burn an index but never give it to two credentials.
 * - Indexes are drawn at random within a list (Bitstring Status List's herd privacy: an index says nothing about
 *   when or to whom a credential was issued); a full list makes a new group of lists.
 * - A state belongs to one issuer DID, and its list names carry a random id of the state: a second, empty state of
 *   the same issuer (a lost file, another machine) publishes under other names, so it can never overwrite a
 *   published list and un-revoke its credentials.
 * - A revoked entry stays revoked: `reinstate` lifts a suspension only.
 * - Every change to a list marks it `dirty` until a version carrying it is published; the client publishes dirty
 *   lists on its next call, so a change whose publication failed is not lost.
 *
 * Formats: a JWT VC gets two W3C Bitstring Status List entries at the same index (a `revocation` and a `suspension`
 * list, one bit each); an SD-JWT VC gets an IETF Token Status List reference (one list, 2 bits per entry: 0 valid,
 * 1 revoked, 2 suspended), the status mechanism SD-JWT VCs define.
 */
import {
  Bitstring,
  MIN_STATUS_LIST_BITS,
  TOKEN_STATUS_INVALID,
  TOKEN_STATUS_SUSPENDED,
  TOKEN_STATUS_VALID,
  TokenStatusList,
} from "@hygeia/identity";
import { SdkInputError } from "../errors.ts";

export const ISSUER_STATE_VERSION = 1;

/** Entries per group of lists: the W3C minimum (131,072 bits, 16 KB), which both formats hold. */
export const BITSTRING_LIST_SIZE = MIN_STATUS_LIST_BITS;
/** Bits per Token Status List entry: 2 (valid, revoked, suspended). */
export const TOKEN_STATUS_BITS = 2;
export const TOKEN_LIST_SIZE = MIN_STATUS_LIST_BITS / TOKEN_STATUS_BITS;

export type StatusFormat = "bitstring" | "token";
export type ListPurpose = "revocation" | "suspension" | "status";
export type CredentialStatus = "valid" | "suspended" | "revoked";

/** One published list: where it is served and what it holds now. */
export interface StatusListState {
  purpose: ListPurpose;
  /** The list's name at the gateway (`/v1/status-lists/<issuer>/<name>`). */
  name: string;
  /** Its URL: status entries point here and the signed list names it. */
  url: string;
  /** The current entries: `Bitstring.encode()` (bitstring) or the token list's `lst` (base64url ZLIB). */
  encoded: string;
  /** `iat` of the last version published at the gateway (unix seconds); 0 before the first. */
  publishedIat: number;
  /** `exp` of that version (unix seconds); 0 before the first. */
  publishedExp: number;
  /** The entries changed since that version. */
  dirty: boolean;
}

/** Lists that share an index space: [revocation, suspension] for bitstring, [status] for token. */
export interface StatusGroupState {
  format: StatusFormat;
  /** 1, 2, … within its format. */
  id: number;
  /** Entries in each list of the group. */
  size: number;
  /** Which indexes were handed out (a Bitstring, encoded): never handed out again. */
  allocated: string;
  allocatedCount: number;
  lists: StatusListState[];
}

export interface IssuerState {
  version: typeof ISSUER_STATE_VERSION;
  /** The issuer's DID: the lists are signed by it and served under it. */
  issuer: string;
  /** Random id of this state, part of every list name. */
  stateId: string;
  /** Where new lists are served: `<base>/v1/status-lists/<issuer>/<name>`. */
  baseUrl: string;
  groups: StatusGroupState[];
}

/** Where one credential's status lives. */
export type StatusPointer =
  | { format: "bitstring"; index: number; revocation: string; suspension: string }
  | { format: "token"; index: number; url: string };

/** A fresh state for `issuer`, serving its lists under `baseUrl` (a gateway's public URL). */
export function newIssuerState(issuer: string, baseUrl: string): IssuerState {
  const id = new Uint8Array(6);
  crypto.getRandomValues(id);
  return {
    version: ISSUER_STATE_VERSION,
    issuer,
    stateId: Array.from(id, (byte) => byte.toString(16).padStart(2, "0")).join(""),
    baseUrl: baseUrl.replace(/\/+$/, ""),
    groups: [],
  };
}

/** Checks an untrusted state (a file someone may have edited); SdkInputError naming what is wrong. */
export function parseIssuerState(value: unknown): IssuerState {
  const fail = (detail: string): never => {
    throw new SdkInputError(
      "state",
      detail,
      "Use the issuer state file this issuer wrote (it is not meant to be edited by hand), or start a new one.",
    );
  };
  if (typeof value !== "object" || value === null) return fail("not an object");
  const state = value as Partial<IssuerState>;
  if (state.version !== ISSUER_STATE_VERSION) return fail(`unknown version ${String(state.version)}`);
  if (typeof state.issuer !== "string" || !state.issuer.startsWith("did:")) return fail("issuer is not a DID");
  if (typeof state.stateId !== "string" || !/^[0-9a-f]{12}$/.test(state.stateId)) return fail("bad stateId");
  if (typeof state.baseUrl !== "string" || !/^https?:\/\//.test(state.baseUrl)) return fail("baseUrl is not a URL");
  if (!Array.isArray(state.groups)) return fail("groups is not a list");
  for (const [g, group] of state.groups.entries()) {
    const where = `groups[${g}]`;
    if (typeof group !== "object" || group === null) return fail(`${where} is not an object`);
    if (group.format !== "bitstring" && group.format !== "token") return fail(`${where}.format`);
    if (!Number.isSafeInteger(group.id) || group.id < 1) return fail(`${where}.id`);
    const size = group.format === "bitstring" ? BITSTRING_LIST_SIZE : TOKEN_LIST_SIZE;
    if (group.size !== size) return fail(`${where}.size`);
    if (!Number.isSafeInteger(group.allocatedCount) || group.allocatedCount < 0 || group.allocatedCount > size)
      return fail(`${where}.allocatedCount`);
    try {
      Bitstring.decode(group.allocated);
    } catch {
      return fail(`${where}.allocated is not an encoded bitstring`);
    }
    const purposes = group.format === "bitstring" ? ["revocation", "suspension"] : ["status"];
    if (!Array.isArray(group.lists) || group.lists.length !== purposes.length) return fail(`${where}.lists`);
    for (const [l, list] of group.lists.entries()) {
      const at = `${where}.lists[${l}]`;
      if (typeof list !== "object" || list === null || list.purpose !== purposes[l]) return fail(`${at}.purpose`);
      if (typeof list.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(list.name))
        return fail(`${at}.name`);
      if (typeof list.url !== "string" || !list.url.endsWith(`/${list.name}`)) return fail(`${at}.url`);
      if (!Number.isSafeInteger(list.publishedIat) || !Number.isSafeInteger(list.publishedExp))
        return fail(`${at}.publishedIat / publishedExp`);
      if (typeof list.dirty !== "boolean") return fail(`${at}.dirty`);
      try {
        decodeList(group.format, list.encoded);
      } catch {
        return fail(`${at}.encoded is not an encoded status list`);
      }
    }
  }
  return state as IssuerState;
}

/** A deep copy (what the client hands out, so a caller cannot change its state behind its back). */
export function copyState(state: IssuerState): IssuerState {
  return JSON.parse(JSON.stringify(state)) as IssuerState;
}

function decodeList(format: StatusFormat, encoded: unknown): Bitstring | TokenStatusList {
  return format === "bitstring"
    ? Bitstring.decode(encoded)
    : TokenStatusList.fromClaim({ bits: TOKEN_STATUS_BITS, lst: encoded });
}

function encodeList(list: Bitstring | TokenStatusList): string {
  return list instanceof Bitstring ? list.encode() : list.toClaim().lst;
}

/** The Bitstring of a bitstring list, or the TokenStatusList of a token list, as it is now. */
export function listContent(group: StatusGroupState, list: StatusListState): Bitstring | TokenStatusList {
  return decodeList(group.format, list.encoded);
}

function listUrl(state: IssuerState, name: string): string {
  return `${state.baseUrl}/v1/status-lists/${state.issuer}/${name}`;
}

function newGroup(state: IssuerState, format: StatusFormat): StatusGroupState {
  const id = Math.max(0, ...state.groups.filter((group) => group.format === format).map((group) => group.id)) + 1;
  const size = format === "bitstring" ? BITSTRING_LIST_SIZE : TOKEN_LIST_SIZE;
  const purposes: ListPurpose[] = format === "bitstring" ? ["revocation", "suspension"] : ["status"];
  const lists = purposes.map((purpose): StatusListState => {
    const name = `${state.stateId}-${purpose}-${id}`;
    const empty = format === "bitstring" ? new Bitstring(size) : new TokenStatusList(size, TOKEN_STATUS_BITS);
    return {
      purpose,
      name,
      url: listUrl(state, name),
      encoded: encodeList(empty),
      publishedIat: 0,
      publishedExp: 0,
      dirty: true,
    };
  });
  const group: StatusGroupState = {
    format,
    id,
    size,
    allocated: new Bitstring(Math.max(MIN_STATUS_LIST_BITS, Math.ceil(size / 8) * 8)).encode(),
    allocatedCount: 0,
    lists,
  };
  state.groups.push(group);
  return group;
}

function randomIndex(size: number): number {
  const word = new Uint32Array(1);
  crypto.getRandomValues(word);
  return word[0]! % size;
}

/**
 * Hands out a status index never handed out before (random within a group with room; a new group when all are
 * full), marks it allocated in `state` and returns where the credential's status lives. The caller saves the
 * state before issuing the credential.
 */
export function allocateStatus(
  state: IssuerState,
  format: StatusFormat,
): { group: StatusGroupState; pointer: StatusPointer } {
  const group =
    state.groups.find((candidate) => candidate.format === format && candidate.allocatedCount < candidate.size) ??
    newGroup(state, format);
  const allocated = Bitstring.decode(group.allocated);
  let index = -1;
  // Random probes first; when the group is nearly full, a scan from a random start finds the free indexes left.
  for (let probe = 0; probe < 64 && index < 0; probe++) {
    const candidate = randomIndex(group.size);
    if (!allocated.get(candidate)) index = candidate;
  }
  for (let step = 0, start = randomIndex(group.size); index < 0 && step < group.size; step++) {
    const candidate = (start + step) % group.size;
    if (!allocated.get(candidate)) index = candidate;
  }
  if (index < 0) throw new Error("status group full despite its count"); // unreachable: allocatedCount < size
  allocated.set(index, true);
  group.allocated = allocated.encode();
  group.allocatedCount += 1;
  return { group, pointer: pointerOf(group, index) };
}

function pointerOf(group: StatusGroupState, index: number): StatusPointer {
  if (group.format === "bitstring")
    return { format: "bitstring", index, revocation: group.lists[0]!.url, suspension: group.lists[1]!.url };
  return { format: "token", index, url: group.lists[0]!.url };
}

/**
 * The group and index `url` + `index` name in this state, when it is one of this state's lists and the index was
 * handed out; undefined otherwise.
 */
export function findStatus(
  state: IssuerState,
  url: string,
  index: number,
): { group: StatusGroupState; pointer: StatusPointer } | undefined {
  for (const group of state.groups) {
    if (!group.lists.some((list) => list.url === url)) continue;
    if (!Number.isSafeInteger(index) || index < 0 || index >= group.size) return undefined;
    if (!Bitstring.decode(group.allocated).get(index)) return undefined;
    return { group, pointer: pointerOf(group, index) };
  }
  return undefined;
}

/** The status an entry has in the state now. */
export function statusIn(group: StatusGroupState, index: number): CredentialStatus {
  if (group.format === "bitstring") {
    const [revocation, suspension] = group.lists.map((list) => listContent(group, list) as Bitstring);
    if (revocation!.get(index)) return "revoked";
    return suspension!.get(index) ? "suspended" : "valid";
  }
  const value = (listContent(group, group.lists[0]!) as TokenStatusList).get(index);
  return value === TOKEN_STATUS_INVALID ? "revoked" : value === TOKEN_STATUS_SUSPENDED ? "suspended" : "valid";
}

/**
 * Sets the entry to `target` in the lists of its group (marking the lists it changed dirty) and returns them. A
 * revoked entry never changes again: the caller refuses suspend and reinstate of it before calling.
 */
export function setStatus(group: StatusGroupState, index: number, target: CredentialStatus): StatusListState[] {
  const changed: StatusListState[] = [];
  const write = (list: StatusListState, content: Bitstring | TokenStatusList) => {
    const encoded = encodeList(content);
    if (encoded === list.encoded) return;
    list.encoded = encoded;
    list.dirty = true;
    changed.push(list);
  };
  if (group.format === "bitstring") {
    const [revocationList, suspensionList] = group.lists as [StatusListState, StatusListState];
    const revocation = listContent(group, revocationList) as Bitstring;
    const suspension = listContent(group, suspensionList) as Bitstring;
    if (target === "revoked") {
      revocation.set(index, true);
      write(revocationList, revocation);
    } else {
      suspension.set(index, target === "suspended");
      write(suspensionList, suspension);
    }
    return changed;
  }
  const list = group.lists[0]!;
  const content = listContent(group, list) as TokenStatusList;
  content.set(
    index,
    target === "revoked" ? TOKEN_STATUS_INVALID : target === "suspended" ? TOKEN_STATUS_SUSPENDED : TOKEN_STATUS_VALID,
  );
  write(list, content);
  return changed;
}
