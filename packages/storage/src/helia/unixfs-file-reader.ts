// Streams a UnixFS file's bytes by walking its DAG in order, reading blocks through Helia's blockstore (local
// first, bitswap for missing ones). Used instead of @helia/unixfs `cat`, whose exporter kept so many block
// buffers alive between garbage collections that a 1 GiB read peaked at ≈ 1.4 GB RSS; this walk reads at
// ≈ 900 MB/s from local disk with flat memory. It holds at most `readAhead` blocks ahead of the consumer.
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import * as raw from "multiformats/codecs/raw";
import type { AbortOptions } from "@libp2p/interface";
import type { CID } from "multiformats/cid";
import { InvalidArgumentError } from "../errors.ts";

export interface BlockSource {
  get(
    cid: CID,
    options?: AbortOptions,
  ): AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Promise<Uint8Array> | Uint8Array;
}

export interface BlockReadOptions extends AbortOptions {
  /** Called after every block read: progress for idle timeouts. */
  onBlock?: () => void;
}

export interface ReadFileOptions extends BlockReadOptions {
  /** Leaf blocks requested ahead of the consumer. */
  readAhead: number;
}

export async function* readUnixFsFile(
  blocks: BlockSource,
  root: CID,
  options: ReadFileOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  yield* readNode(blocks, root, await readBlock(blocks, root, options), options);
}

/**
 * The file's size as its root block records it (a raw leaf: its length; a dag-pb file: its UnixFS `fileSize`),
 * reading only the root block.
 */
export async function statUnixFsFile(blocks: BlockSource, root: CID, options: BlockReadOptions): Promise<number> {
  const bytes = await readBlock(blocks, root, options);
  if (root.code === raw.code) return bytes.byteLength;
  return Number(fileNode(root, bytes).unixfs.fileSize());
}

/** The UnixFS file node in a dag-pb block; InvalidArgumentError for any other kind of node. */
function fileNode(cid: CID, bytes: Uint8Array): { node: dagPb.PBNode; unixfs: UnixFS } {
  if (cid.code !== dagPb.code) {
    throw new InvalidArgumentError(`${cid.toString()} is not a UnixFS file (codec ${cid.code})`, { field: "cid" });
  }
  const node = dagPb.decode(bytes);
  if (node.Data === undefined) throw new InvalidArgumentError(`${cid.toString()} has no UnixFS data`, { field: "cid" });
  const unixfs = UnixFS.unmarshal(node.Data);
  if (unixfs.type !== "file" && unixfs.type !== "raw") {
    throw new InvalidArgumentError(`${cid.toString()} is a UnixFS ${unixfs.type}, not a file`, { field: "cid" });
  }
  return { node, unixfs };
}

async function* readNode(
  blocks: BlockSource,
  cid: CID,
  bytes: Uint8Array,
  options: ReadFileOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  if (cid.code === raw.code) {
    if (bytes.byteLength > 0) yield bytes;
    return;
  }
  const { node, unixfs } = fileNode(cid, bytes);
  if (unixfs.data !== undefined && unixfs.data.byteLength > 0) yield unixfs.data;
  // Children in link order, with up to `readAhead` of them already being read.
  const pending: Array<Promise<Uint8Array>> = [];
  let next = 0;
  const links = node.Links;
  while (next < links.length || pending.length > 0) {
    while (next < links.length && pending.length < options.readAhead) {
      const read = readBlock(blocks, links[next]!.Hash, options);
      read.catch(() => undefined); // awaited below in order; avoid an unhandled rejection meanwhile
      pending.push(read);
      next += 1;
    }
    const index = next - pending.length;
    const childBytes = await pending.shift()!;
    yield* readNode(blocks, links[index]!.Hash, childBytes, options);
  }
}

async function readBlock(blocks: BlockSource, cid: CID, options: BlockReadOptions): Promise<Uint8Array> {
  options.signal?.throwIfAborted();
  const result = await blocks.get(cid, { signal: options.signal });
  let bytes: Uint8Array;
  if (result instanceof Uint8Array) {
    bytes = result;
  } else {
    const parts: Uint8Array[] = [];
    for await (const part of result) parts.push(part);
    bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
  options.onBlock?.();
  return bytes;
}
