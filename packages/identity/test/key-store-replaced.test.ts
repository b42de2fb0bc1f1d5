// A store file replaced (a backup restored over it) or removed while an agent has it open is never written: the
// next write is a DatabaseError that writes nothing, close() says so, and the restored file is left as restored
// (SQLite would otherwise keep writing to the old file and replay its write-ahead log into the new one).
import { expect } from "chai";
import { copyFile, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseError, IdentityAgent, SqliteChallengeStore } from "../src/index.ts";
import { rejection } from "./helpers/settle.ts";

const network = { chainId: 31337, rpcUrl: "http://127.0.0.1:9", registry: `0x${"11".repeat(20)}` };

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return expect.fail("expected a throw");
}

describe("identity: a store file replaced or removed while open", function () {
  let dir: string;
  const secretBoxKey = IdentityAgent.generateSecretBoxKey();
  const open = (databasePath: string) =>
    IdentityAgent.create({ network, databasePath, secretBoxKey, watchRegistry: false });

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "hygeia-identity-replaced-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("a backup restored over an open key store: the next write is a DatabaseError that writes nothing, close says so, and the store opens as restored", async function () {
    const path = join(dir, "keys.db");
    const agent = await open(path);
    await agent.createDid({ alias: "before-restore" });
    const backup = await open(join(dir, "backup.db"));
    await backup.createDid({ alias: "backup-1" });
    await backup.createDid({ alias: "backup-2" });
    await backup.close();
    // Restore the way a backup tool does: copy beside it, rename over it.
    await copyFile(join(dir, "backup.db"), join(dir, "restoring.db"));
    await rename(join(dir, "restoring.db"), path);

    const error = await rejection(agent.createDid({ alias: "after-restore" }));
    expect(error).to.be.instanceOf(DatabaseError);
    expect((error as DatabaseError).code).to.equal("DATABASE_FAILED");
    expect((error as DatabaseError).field).to.equal("databasePath");
    expect((error as Error).message)
      .to.contain("the key store file was replaced while open; nothing was written")
      .and.to.contain("Stop every process using a key store before restoring");
    // Every later write too, not only the first.
    expect(await rejection(agent.createDid({ alias: "again" }))).to.be.instanceOf(DatabaseError);

    const closed = await rejection(agent.close());
    expect(closed).to.be.instanceOf(DatabaseError);
    expect((closed as Error).message).to.contain("the key store file was replaced while open");

    // The restored file holds the backup, and only it: nothing of the old store was replayed into it.
    const reopened = await open(path);
    try {
      expect((await reopened.listDids()).map((did) => did.alias).sort()).to.deep.equal(["backup-1", "backup-2"]);
    } finally {
      await reopened.close();
    }
  });

  it("a key store removed while open: writes are a DatabaseError saying so", async function () {
    const path = join(dir, "keys.db");
    const agent = await open(path);
    await agent.createDid();
    await rm(path);
    const error = await rejection(agent.createDid());
    expect(error).to.be.instanceOf(DatabaseError);
    expect((error as Error).message).to.contain("the key store file was removed while open; nothing was written");
    expect(await rejection(agent.close())).to.be.instanceOf(DatabaseError);
  });

  it("a challenge store replaced while open: issuing is a DatabaseError that names the challenge store", async function () {
    const path = join(dir, "challenges.db");
    const store = new SqliteChallengeStore(path);
    await store.issue("clinic.example");
    const other = new SqliteChallengeStore(join(dir, "other.db"));
    other.close();
    await rename(join(dir, "other.db"), path);
    const error = await rejection(store.issue("clinic.example"));
    expect(error).to.be.instanceOf(DatabaseError);
    expect((error as Error).message).to.contain(
      "the challenge store file was replaced while open; nothing was written",
    );
    expect(thrown(() => store.close())).to.be.instanceOf(DatabaseError);
  });

  it("a store left in place is written and closed as before", async function () {
    const path = join(dir, "keys.db");
    const agent = await open(path);
    await agent.createDid({ alias: "kept" });
    await agent.close();
    const reopened = await open(path);
    try {
      expect((await reopened.listDids()).map((did) => did.alias)).to.deep.equal(["kept"]);
    } finally {
      await reopened.close();
    }
  });
});
