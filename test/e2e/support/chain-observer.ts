/**
 * A chain observer for the private-scopes acceptance test (issue 17): it reads what anyone with an RPC
 * endpoint reads (every block with its transactions, every log of every address) and searches those raw
 * bytes for what must not be there.
 *
 * What it promises, so a zero-hit result means something:
 * - Everything: every block from 0 to head (eth_getBlockByNumber with full transactions) and every log
 *   (eth_getLogs over the whole range, no address filter), asked of the node as raw JSON-RPC.
 * - Every byte offset: needles are searched with Buffer.indexOf in the calldata and in each log's
 *   topics followed by its data, not only at 32-byte ABI word boundaries.
 * - The hashes an observer would try: each canonical scope string and each bare value, keccak256 and
 *   sha256 of its UTF-8, and the OpenZeppelin StandardMerkleTree leaf of each of those as a [bytes32]
 *   leaf (what an emergency registration's tree would hold if it named public hashes).
 * - Hits name the transaction, where in it, the byte offset and the needle, so a failure says what leaked.
 */
import { createHash } from "node:crypto";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getAddress, getBytes, keccak256, toQuantity, toUtf8Bytes, type JsonRpcProvider } from "ethers";
import {
  CONSENT_CATEGORIES,
  FHIR_R4_RESOURCE_TYPES,
  PatientScopes,
  categoryScope,
  fhirScope,
  recordScope,
  studyScope,
} from "@hygeia/chain";

/** One searchable run of bytes an observer sees, and where it came from. */
export interface Haystack {
  readonly transactionHash: string;
  readonly blockNumber: number;
  /** "from", "to", "calldata", or "log <index> topics+data" / "log <index> address". */
  readonly where: string;
  readonly bytes: Buffer;
}

export interface ChainObservation {
  readonly blocks: number;
  readonly transactions: number;
  readonly logs: number;
  /** Calldata plus log topics and data (the payload bytes, not the from/to/address fields). */
  readonly bytesScanned: number;
  readonly haystacks: readonly Haystack[];
  /** Sender of each transaction (checksummed), by hash. */
  readonly senders: ReadonlyMap<string, string>;
}

export interface Needle {
  /** What it is, e.g. `keccak256(utf8 "category:mental-health")`. */
  readonly label: string;
  readonly bytes: Buffer;
}

export interface Hit {
  readonly needle: string;
  readonly transactionHash: string;
  readonly where: string;
  readonly offset: number;
}

interface RpcTransaction {
  hash: string;
  from: string;
  to: string | null;
  input: string;
}
interface RpcBlock {
  number: string;
  transactions: RpcTransaction[];
}
interface RpcLog {
  transactionHash: string;
  blockNumber: string;
  logIndex: string;
  address: string;
  topics: string[];
  data: string;
}

const hexBytes = (hex: string): Buffer => Buffer.from(getBytes(hex));

/** Reads every block (full transactions) and every log from block 0 to the head, as raw JSON-RPC. */
export async function observeChain(provider: JsonRpcProvider): Promise<ChainObservation> {
  const head = Number(await provider.send("eth_blockNumber", []));
  const haystacks: Haystack[] = [];
  const senders = new Map<string, string>();
  let transactions = 0;
  let bytesScanned = 0;
  for (let number = 0; number <= head; number++) {
    const block = (await provider.send("eth_getBlockByNumber", [toQuantity(number), true])) as RpcBlock | null;
    if (block === null) throw new Error(`the node has no block ${number} below its head ${head}`);
    for (const tx of block.transactions) {
      transactions++;
      senders.set(tx.hash, getAddress(tx.from));
      const at = { transactionHash: tx.hash, blockNumber: number };
      haystacks.push({ ...at, where: "from", bytes: hexBytes(tx.from) });
      if (tx.to !== null) haystacks.push({ ...at, where: "to", bytes: hexBytes(tx.to) });
      const input = hexBytes(tx.input);
      bytesScanned += input.length;
      haystacks.push({ ...at, where: "calldata", bytes: input });
    }
  }
  const logs = (await provider.send("eth_getLogs", [
    { fromBlock: toQuantity(0), toBlock: toQuantity(head) },
  ])) as RpcLog[];
  for (const log of logs) {
    const at = { transactionHash: log.transactionHash, blockNumber: Number(log.blockNumber) };
    const index = Number(log.logIndex);
    const payload = Buffer.concat([...log.topics.map(hexBytes), hexBytes(log.data)]);
    bytesScanned += payload.length;
    haystacks.push({ ...at, where: `log ${index} topics+data`, bytes: payload });
    haystacks.push({ ...at, where: `log ${index} address`, bytes: hexBytes(log.address) });
  }
  return { blocks: head + 1, transactions, logs: logs.length, bytesScanned, haystacks, senders };
}

/** Every occurrence of every needle, at any byte offset. */
export function scan(haystacks: readonly Haystack[], needles: readonly Needle[]): Hit[] {
  const hits: Hit[] = [];
  for (const haystack of haystacks) {
    for (const needle of needles) {
      if (needle.bytes.length === 0) throw new Error(`empty needle ${needle.label}`);
      for (let offset = haystack.bytes.indexOf(needle.bytes); offset !== -1;) {
        hits.push({ needle: needle.label, transactionHash: haystack.transactionHash, where: haystack.where, offset });
        offset = haystack.bytes.indexOf(needle.bytes, offset + 1);
      }
    }
  }
  return hits;
}

export function utf8Needle(label: string, text: string): Needle {
  return { label: `${label} (utf8 ${JSON.stringify(text)})`, bytes: Buffer.from(toUtf8Bytes(text)) };
}

export function bytesNeedle(label: string, bytes: Uint8Array | string): Needle {
  return { label, bytes: typeof bytes === "string" ? hexBytes(bytes) : Buffer.from(bytes) };
}

/** An address as an observer could find it: its 20 bytes (ABI words, from/to) and its hex text, both cases. */
export function addressNeedles(label: string, address: string): Needle[] {
  const checksummed = getAddress(address);
  return [
    bytesNeedle(`${label} (20 bytes)`, checksummed),
    utf8Needle(label, checksummed),
    utf8Needle(label, checksummed.toLowerCase()),
  ];
}

/** The leaf StandardMerkleTree computes for the [bytes32] value `hash` (emergency registrations' tree). */
export function merkleLeaf(hash: string): string {
  return StandardMerkleTree.of([[hash]], ["bytes32"]).leafHash([hash]);
}

const sha256 = (bytes: Uint8Array): string => `0x${createHash("sha256").update(bytes).digest("hex")}`;

export interface PublicVocabulary {
  /** Every canonical scope string: all FHIR R4 types, all categories, record:<cid> and study:<id> given. */
  readonly scopes: readonly string[];
  readonly needles: readonly Needle[];
}

/**
 * The public scope vocabulary hashed every way an observer would try: keccak256 and sha256 of the canonical
 * string and of the bare value, each also as a Merkle leaf; plus the canonical strings themselves, and the bare
 * study ids as text (FHIR types and category names alone are common words: only their hashes count; a CID's text
 * is among cidNeedles).
 */
export function publicVocabulary(known: { cids: readonly string[]; studies: readonly string[] }): PublicVocabulary {
  const entries: { canonical: string; bare: string; plainBare: boolean }[] = [
    ...FHIR_R4_RESOURCE_TYPES.map((type) => ({ canonical: fhirScope(type), bare: type, plainBare: false })),
    ...CONSENT_CATEGORIES.map((category) => ({ canonical: categoryScope(category), bare: category, plainBare: false })),
    ...known.cids.map((cid) => ({ canonical: recordScope(cid), bare: cid, plainBare: false })), // cidNeedles has its text
    ...known.studies.map((study) => ({ canonical: studyScope(study), bare: study, plainBare: true })),
  ];
  const needles: Needle[] = [];
  for (const { canonical, bare, plainBare } of entries) {
    needles.push(utf8Needle("canonical scope", canonical));
    if (plainBare) needles.push(utf8Needle("scope value", bare));
    for (const text of [canonical, bare]) {
      const bytes = toUtf8Bytes(text);
      for (const [name, hash] of [
        ["keccak256", keccak256(bytes)],
        ["sha256", sha256(bytes)],
      ] as const) {
        const label = `${name}(utf8 ${JSON.stringify(text)})`;
        needles.push(bytesNeedle(label, hash), bytesNeedle(`merkle leaf of ${label}`, merkleLeaf(hash)));
      }
    }
  }
  return { scopes: entries.map((entry) => entry.canonical), needles };
}

/**
 * The keyed id construction itself (PatientScopes.id, which an observer can read in the source) under keys an
 * observer can guess: all zeros, and keccak256 of the consent address. A hit would mean a scope key is not secret.
 */
export function guessableKeyIdNeedles(scopes: readonly string[], consentAddresses: readonly string[]): Needle[] {
  const needles: Needle[] = [];
  for (const address of consentAddresses) {
    const guesses = [
      ["all-zero key", new Uint8Array(32)],
      ["keccak256(address) as key", getBytes(keccak256(getAddress(address)))],
    ] as const;
    for (const [guess, key] of guesses) {
      const keyed = new PatientScopes(key, address);
      for (const scope of scopes)
        needles.push(
          bytesNeedle(`scope id of ${JSON.stringify(scope)} for ${address} under the ${guess}`, keyed.id(scope)),
        );
    }
  }
  return needles;
}

/** A CID as an observer could find it: its text, its binary form and its multihash digest. */
export function cidNeedles(cid: {
  toString(): string;
  readonly bytes: Uint8Array;
  readonly multihash: { readonly digest: Uint8Array };
}): Needle[] {
  const text = cid.toString();
  return [
    utf8Needle("CID", text),
    bytesNeedle(`binary CID ${text}`, cid.bytes),
    bytesNeedle(`multihash digest of ${text}`, cid.multihash.digest),
  ];
}
