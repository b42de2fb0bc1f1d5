// Opening and closing an agent: close() at any moment is clean (issue 8 item 2), and a persistent key store
// opens only with its own secretBoxKey (item 3).
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { generateX25519KeyPair } from "@hygeia/crypto";
import {
  AgentClosedError,
  IdentityAgent,
  InvalidIdentityInputError,
  WrongSecretBoxKeyError,
  type IdentityAgentOptions,
} from "../src/index.ts";
import { fund, startTestChain, type TestChain } from "./helpers/chain.ts";
import { rejection } from "./helpers/settle.ts";

/** Collects unhandled rejections while `body` runs and for `settleMs` after it. */
async function unhandledRejectionsDuring(body: () => Promise<void>, settleMs = 1_500): Promise<unknown[]> {
  const seen: unknown[] = [];
  const probe = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", probe);
  try {
    await body();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  } finally {
    process.off("unhandledRejection", probe);
  }
  return seen;
}

describe("identity: agent lifecycle", function () {
  let testChain: TestChain;

  before(async function () {
    testChain = await startTestChain();
  });
  after(async function () {
    await testChain?.stop();
  });

  describe("close()", function () {
    it("closes right after create() without an unhandled rejection (registry polling still starting)", async function () {
      const seen = await unhandledRejectionsDuring(async () => {
        for (let i = 0; i < 5; i++) {
          const agent = await IdentityAgent.create({ network: testChain.network });
          await agent.close();
        }
      });
      expect(seen.map(String)).to.deep.equal([]);
    });

    it("can be called twice (and concurrently); calls after close fail with AgentClosedError", async function () {
      const agent = await IdentityAgent.create({ network: testChain.network });
      const patient = await agent.createDid();
      await Promise.all([agent.close(), agent.close()]);
      await agent.close();
      for (const call of [
        () => agent.resolve(patient.did),
        () => agent.getDid(patient.did),
        () => agent.createDid(),
        () => agent.signJwt(patient.did, {}),
        () => agent.publishEncryptionKey(patient.did, generateX25519KeyPair().publicKey),
      ]) {
        const error = await rejection(call());
        expect(error).to.be.instanceOf(AgentClosedError);
        expect((error as AgentClosedError).code).to.equal("AGENT_CLOSED");
        expect((error as AgentClosedError).pending).to.equal(false);
      }
    });

    it("rejects a pending resolve and a pending publish with AgentClosedError, nothing unhandled", async function () {
      const agent = await IdentityAgent.create({ network: testChain.network });
      const patient = await agent.createDid();
      await fund(testChain, patient.ownerAddress!);
      let outcomes: unknown[] = [];
      const seen = await unhandledRejectionsDuring(async () => {
        const pending = [
          agent.resolve(patient.did),
          agent.publishEncryptionKey(patient.did, generateX25519KeyPair().publicKey),
          agent.encryptionKeys(patient.did),
        ];
        const closed = agent.close();
        outcomes = await Promise.all(pending.map(rejection));
        await closed;
      });
      for (const error of outcomes) {
        expect(error).to.be.instanceOf(AgentClosedError);
        expect((error as AgentClosedError).pending).to.equal(true);
      }
      expect(seen.map(String)).to.deep.equal([]);
    });
  });

  describe("secretBoxKey", function () {
    let dir: string;
    const keyA = "11".repeat(32);
    const keyB = "22".repeat(32);
    const ownerKey = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    const open = (path: string, secretBoxKey: string | undefined, extra: Partial<IdentityAgentOptions> = {}) =>
      IdentityAgent.create({
        network: testChain.network,
        databasePath: path,
        ...(secretBoxKey === undefined ? {} : { secretBoxKey }),
        watchRegistry: false,
        ...extra,
      });

    beforeEach(async function () {
      dir = await mkdtemp(join(tmpdir(), "hygeia-identity-key-"));
    });
    afterEach(async function () {
      await rm(dir, { recursive: true, force: true });
    });

    async function expectWrongKey(path: string, secretBoxKey: string): Promise<void> {
      const error = await rejection(open(path, secretBoxKey));
      expect(error).to.be.instanceOf(WrongSecretBoxKeyError);
      expect((error as WrongSecretBoxKeyError).code).to.equal("SECRET_BOX_KEY_MISMATCH");
      expect((error as WrongSecretBoxKeyError).field).to.equal("secretBoxKey");
      expect((error as Error).message).to.contain("does not match the key store");
    }

    it("refuses to open a store holding keys with another secretBoxKey, at open (not at the first signature)", async function () {
      const path = join(dir, "identity.db");
      const first = await open(path, keyA);
      const created = await first.importEthrDid(ownerKey);
      await first.close();
      await expectWrongKey(path, keyB);
      const again = await open(path, keyA); // the right key still opens it and signs
      expect(await again.signJwt(created.did, { ok: true })).to.be.a("string");
      await again.close();
    });

    it("binds an empty store to its secretBoxKey when it is created", async function () {
      const path = join(dir, "empty.db");
      await (await open(path, keyA)).close();
      await expectWrongKey(path, keyB);
    });

    it("detects the wrong key on a store written before key check values existed (first sealed key)", async function () {
      const path = join(dir, "legacy.db");
      const first = await open(path, keyA);
      await first.importEthrDid(ownerKey);
      await first.close();
      const db = new DatabaseSync(path);
      db.exec("DELETE FROM identity_meta");
      db.close();
      await expectWrongKey(path, keyB);
      await (await open(path, keyA)).close(); // right key: opens, and writes the check value
      await expectWrongKey(path, keyB);
    });

    it("requires a secretBoxKey for a database file and refuses a malformed one (typed, field secretBoxKey)", async function () {
      const path = join(dir, "identity.db");
      for (const secretBoxKey of [undefined, "", "abc", `0x${keyA}`, "zz".repeat(32), 42 as unknown as string]) {
        const error = await rejection(open(path, secretBoxKey));
        expect(error, String(secretBoxKey)).to.be.instanceOf(InvalidIdentityInputError);
        expect((error as InvalidIdentityInputError).field).to.equal("secretBoxKey");
      }
      const generated = IdentityAgent.generateSecretBoxKey();
      expect(generated).to.match(/^[0-9a-f]{64}$/);
      await (await open(path, generated)).close();
    });
  });
});
