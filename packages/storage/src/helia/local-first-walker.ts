// A DAG walker for pinning that does not read raw leaves already in the local blockstore. Raw blocks have no
// links, and pinning only needs each block's CID and its presence, so re-reading every leaf of a freshly
// added multi-GB file from disk (what the default walker does) is wasted I/O. Missing leaves are still
// fetched (from peers, via the blockstore), so pinning remote content works as before.
import { createUnsafe } from "multiformats/block";
import * as raw from "multiformats/codecs/raw";
import type { GraphNode, GraphWalker, GraphWalkerComponents, GraphWalkerFactory, WalkOptions } from "@helia/interface";
import type { CID } from "multiformats/cid";

const EMPTY = new Uint8Array(0);

export function localFirstWalker(): GraphWalkerFactory {
  return (components) => new LocalFirstWalker(components);
}

class LocalFirstWalker implements GraphWalker {
  readonly #components: GraphWalkerComponents;

  constructor(components: GraphWalkerComponents) {
    this.#components = components;
  }

  async *walk<T>(root: CID, options: WalkOptions<T> = {}): AsyncGenerator<GraphNode<T>> {
    const maxDepth = options.depth ?? Infinity;
    const stack: Array<{ cid: CID; depth: number; path: CID[] }> = [{ cid: root, depth: 0, path: [] }];
    while (stack.length > 0) {
      const { cid, depth, path } = stack.pop()!;
      options.signal?.throwIfAborted();
      if (cid.code === raw.code && (await this.#components.blockstore.has(cid, options))) {
        const block = createUnsafe({ cid, bytes: EMPTY, codec: raw }) as unknown as GraphNode<T>["block"];
        yield { block, depth, path: [...path, cid] };
        continue;
      }
      const bytes = await collectBytes(this.#components.blockstore.get(cid, options));
      const codec = await this.#components.getCodec(cid.code);
      const block = createUnsafe({ cid, bytes, codec }) as unknown as GraphNode<T>["block"];
      yield { block, depth, path: [...path, cid] };
      if (depth >= maxDepth) continue;
      const children: CID[] = [];
      for (const [, child] of block.links()) {
        if (options.includeChild?.(child, block) !== false) children.push(child);
      }
      // Reverse so the first child is walked first (depth-first, in link order).
      for (const child of children.reverse()) stack.push({ cid: child, depth: depth + 1, path: [...path, cid] });
    }
  }
}

type BlockBytes = Uint8Array | Promise<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

async function collectBytes(source: BlockBytes): Promise<Uint8Array> {
  const value = await source;
  if (value instanceof Uint8Array) return value;
  const parts: Uint8Array[] = [];
  for await (const part of value) parts.push(part);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
