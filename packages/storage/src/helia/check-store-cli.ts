// The operator's check of a stopped node's blocks: npm run check:store -w @hygeia/storage -- <dataDir> [--data]
// [--discard-damaged]. Opens <dataDir>/packs (taking its lock, so it refuses while the node runs), prints ONE JSON
// line (PackCheck: ok, segments, blocks, verified, unreadable, damage[]) and exits 0 when there is no damage, 1
// when there is, 2 on a usage error (one line and the usage on stderr; --help prints the usage and exits 0), 3
// when the store cannot be checked (in use by a running node, unreadable: one line naming the cause, no stack).
// --data reads and verifies every block; --discard-damaged forgets the damaged blocks afterwards (a tombstone
// each) so that they can be fetched again from a peer or added again.
//
// A relative <dataDir> is taken from the directory the command was run in: npm runs workspace scripts in the
// package's directory and says where the user was in INIT_CWD.
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { HygeiaStorageError } from "../errors.ts";
import { PackBlockstore } from "./pack-blockstore.ts";

const USAGE =
  "usage: npm run check:store -w @hygeia/storage -- <dataDir> [--data] [--discard-damaged]\n" +
  "  <dataDir>          the node's data dir (the one holding packs/); stop the node first\n" +
  "  --data             read and verify every block, not only the index\n" +
  "  --discard-damaged  forget damaged blocks afterwards, so they can be fetched or added again\n" +
  "exit: 0 no damage, 1 damage found, 2 usage error, 3 the store cannot be checked (in use, unreadable)\n";

function usageError(message: string): never {
  process.stderr.write(`check:store: ${message}\n${USAGE}`);
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      data: { type: "boolean", default: false },
      "discard-damaged": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}
try {
  parsed = parse();
} catch (error) {
  // ERR_PARSE_ARGS_UNKNOWN_OPTION and friends: their message already names the option.
  usageError((error as Error).message.split("\n")[0]!);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (positionals.length !== 1)
  usageError(positionals.length === 0 ? "give the data dir" : `one data dir, got ${positionals.length}`);

const packs = join(resolve(process.env.INIT_CWD ?? process.cwd(), positionals[0]!), "packs");
if (
  !(await access(packs).then(
    () => true,
    () => false,
  ))
)
  usageError(`${packs} does not exist: give the node's data dir (the one holding packs/)`);

try {
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
} catch (error) {
  // The typed errors say what to do (DataDirLockedError names the process holding the store); anything else is
  // named by its message. One line either way: a stack trace tells an operator nothing.
  const code = error instanceof HygeiaStorageError ? ` [${error.code}]` : "";
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`check:store: ${message.replace(/\s*\n\s*/g, " ")}${code}\n`);
  process.exitCode = 3;
}
