// Repairs an anvil state file before anvil loads it.
//
// anvil (1.7) creates a fresh genesis block, stamped with the current time, at every start, and its
// state dump keeps it beside the genesis it loaded. After two restarts the file holds several blocks
// numbered 0; which one anvil then serves as block 0 depends on load order, and when it is not the
// genesis block 1 was mined on, block 1's parentHash names a block 0 the node does not serve. A
// client that links blocks by hash (our consent indexer) then sees the chain "reorganize" below its
// first block forever. Keeping only the first genesis makes every restart serve the original one.
import { open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";

interface DumpedBlock {
  header?: { number?: unknown; timestamp?: unknown };
}

/**
 * Drops every genesis block but the oldest from the anvil state file at `path` (written atomically:
 * temp file, fsync, rename). Returns how many it dropped. A missing file, or one that is not an anvil
 * dump, is left as it is (0): anvil itself says what is wrong with it.
 */
export async function dropExtraGenesisBlocks(path: string): Promise<number> {
  let state: { blocks?: unknown };
  let lossy = false;
  try {
    state = JSON.parse(await readFile(path, "utf8"), (_key, value: unknown) => {
      // A number JSON.parse cannot hold exactly would be written back changed: leave such a file alone.
      if (typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value)) lossy = true;
      return value;
    }) as { blocks?: unknown };
  } catch {
    return 0;
  }
  if (lossy || typeof state !== "object" || state === null || !Array.isArray(state.blocks)) return 0;
  const blocks = state.blocks as DumpedBlock[];
  const genesis = blocks.filter((block) => headerNumber(block) === 0n);
  if (genesis.length < 2) return 0;
  // The oldest is the one block 1 was mined on: each later one was made by a restart, at a later time.
  const first = genesis.reduce((oldest, block) => (timestamp(block) < timestamp(oldest) ? block : oldest));
  state.blocks = blocks.filter((block) => block === first || headerNumber(block) !== 0n);

  const temp = `${path}.${process.pid}.tmp`;
  const file = await open(temp, "w");
  try {
    await file.writeFile(JSON.stringify(state));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync(); // the rename itself survives a crash
  } finally {
    await dir.close();
  }
  return genesis.length - 1;
}

function headerNumber(block: DumpedBlock): bigint | null {
  return quantity(block?.header?.number);
}

function timestamp(block: DumpedBlock): bigint {
  return quantity(block.header?.timestamp) ?? 0n;
}

/** anvil writes quantities as hex strings ("0x0"); accept plain numbers too. */
function quantity(value: unknown): bigint | null {
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^0x[0-9a-f]+$/i.test(value)) return BigInt(value);
  return null;
}
