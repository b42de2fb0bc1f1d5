// A second process for the shared key store tests (run with `node key-store-process.ts <mode> …`).
//   create-dids <databasePath> <secretBoxKey> <count>: opens the store, creates <count> did:key DIDs, prints
//     one JSON line { created, errors: [{ name, code, message }] }.
//   hold-lock <databasePath> <immediate|exclusive>: takes a write lock (immediate: a WAL store's write lock;
//     exclusive: a new rollback-journal file locked even for readers), prints "locked", and releases it when its
//     stdin closes.
import { DatabaseSync } from "node:sqlite";
import { IdentityAgent } from "../../src/index.ts";

const [mode, path, arg, count] = process.argv.slice(2);
// No chain is needed for did:key; the port is closed on purpose.
const network = { chainId: 31337, rpcUrl: "http://127.0.0.1:9", registry: `0x${"11".repeat(20)}` };

if (mode === "create-dids") {
  const errors: Array<{ name: string; code: unknown; message: string }> = [];
  const record = (error: unknown) => {
    const { name, message, code } = error as Error & { code?: unknown };
    errors.push({ name, code, message });
  };
  let created = 0;
  try {
    const agent = await IdentityAgent.create({
      network,
      databasePath: path!,
      secretBoxKey: arg!,
      watchRegistry: false,
    });
    for (let i = 0; i < Number(count); i++) {
      await agent.createDid({ method: "key" }).then(() => created++, record);
    }
    await agent.close();
  } catch (error) {
    record(error);
  }
  console.log(JSON.stringify({ created, errors }));
} else if (mode === "hold-lock") {
  const db = new DatabaseSync(path!);
  if (arg === "exclusive") db.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; CREATE TABLE held (x)");
  else db.exec("BEGIN IMMEDIATE");
  console.log("locked");
  process.stdin.resume();
  process.stdin.on("end", () => {
    db.exec("ROLLBACK");
    db.close();
    process.exit(0);
  });
} else {
  console.error(`unknown mode ${String(mode)}`);
  process.exit(2);
}
