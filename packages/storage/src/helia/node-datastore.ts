// Opens the node's datastore: `<dataDir>/datastore.sqlite` (sqlite-datastore.ts). A data dir made by an
// earlier version keeps its datastore in `<dataDir>/datastore/`, one file per key (datastore-fs); it is copied
// into SQLite once, on first open, so the node keeps its peer id and every pin. The copy is built under a temp
// name and only then renamed into place, and the old directory is kept, renamed, as a backup: an interrupted
// migration is redone from the untouched original on the next open.
import { access, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { FsDatastore } from "datastore-fs";
import { SqliteDatastore } from "./sqlite-datastore.ts";

export const DATASTORE_FILE = "datastore.sqlite";
/** Where a data dir of an earlier version kept its datastore, one file per key. */
export const LEGACY_DATASTORE_DIR = "datastore";
/** What the legacy directory is renamed to once its contents are in SQLite (a backup; safe to delete). */
export const MIGRATED_DATASTORE_DIR = "datastore.migrated-to-sqlite";

export async function openNodeDatastore(dataDir: string): Promise<SqliteDatastore> {
  const path = join(dataDir, DATASTORE_FILE);
  const legacy = join(dataDir, LEGACY_DATASTORE_DIR);
  if (!(await exists(path)) && (await exists(legacy))) await migrate(legacy, path);
  const datastore = new SqliteDatastore(path);
  await datastore.open();
  return datastore;
}

async function migrate(legacyDir: string, path: string): Promise<void> {
  const temp = `${path}.migrating`;
  await Promise.all(["", "-wal", "-shm"].map((suffix) => rm(`${temp}${suffix}`, { force: true })));
  const from = new FsDatastore(legacyDir, { createIfMissing: false });
  const to = new SqliteDatastore(temp);
  await from.open();
  try {
    await to.open();
    const batch = to.batch();
    for await (const { key, value } of from.query({})) batch.put(key, value);
    await batch.commit();
  } finally {
    await to.close(); // the last connection: SQLite checkpoints the WAL into the file and removes it
    await from.close();
  }
  await rename(temp, path);
  await rename(legacyDir, join(legacyDir, "..", MIGRATED_DATASTORE_DIR));
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
