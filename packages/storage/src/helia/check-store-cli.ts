// The operator's check of a stopped node's blocks: npm run check:store -w @hygeia/storage -- <dataDir> [--data]
// [--discard-damaged]. Opens <dataDir>/packs (taking its lock, so it refuses while the node runs), prints ONE JSON
// line (PackCheck: ok, segments, blocks, verified, unreadable, damage[]) and exits 0 when there is no damage, 1
// when there is, 2 on a usage error. --data reads and verifies every block; --discard-damaged forgets the damaged
// blocks afterwards (a tombstone each) so that they can be fetched again from a peer or added again.
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { PackBlockstore } from "./pack-blockstore.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { data: { type: "boolean", default: false }, "discard-damaged": { type: "boolean", default: false } },
});
if (positionals.length !== 1) {
  process.stderr.write("usage: check-store-cli.ts <dataDir> [--data] [--discard-damaged]\n");
  process.exit(2);
}
const packs = join(resolve(positionals[0]!), "packs");
if (
  !(await access(packs).then(
    () => true,
    () => false,
  ))
) {
  process.stderr.write(`${packs} does not exist: give the node's data dir (the one holding packs/)\n`);
  process.exit(2);
}
const store = new PackBlockstore(packs);
await store.open();
try {
  const check = await store.check({ data: values.data });
  const discarded = values["discard-damaged"] ? (await store.discardDamaged()).map(String) : [];
  console.log(JSON.stringify({ ...check, discarded }));
  process.exitCode = check.ok ? 0 : 1;
} finally {
  await store.close();
}
