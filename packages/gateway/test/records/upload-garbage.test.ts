// The security review's repro, over real HTTP on a full stack (anvil, Helia on disk, SQLite): uploads cut off
// mid-stream leave blocks that a gc (scheduled by the abort) deletes, so has() is false for every block we can
// name; a completed upload stays. With the pack blockstore the disk may not shrink (tombstones, no compaction):
// the assertions are on has / stat, never on disk size. And each uploader's staged bytes stay within its budget.
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { signIn } from "../support/auth.ts";
import { expectProblem, request } from "../support/http.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { encryptRecord, party, upload, wrapFor, type Party } from "./world.ts";

const MiB = 1024 * 1024;
const UPLOAD_LIMIT = 4 * MiB; // the staging budget defaults to twice this: 8 MiB per uploader

/** The CID of one 1 MiB raw leaf (the content store's chunking): names an upload's blocks without asking it. */
async function leafCid(bytes: Uint8Array): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(bytes)).toString();
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends the headers for `body` and its first `sent` bytes over a raw socket, then drops the connection. */
async function abortedUpload(stack: TestStack, token: string, body: Uint8Array, sent: number): Promise<void> {
  const url = new URL(stack.url);
  await new Promise<void>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `PUT /v1/uploads HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      socket.write(body.subarray(0, sent), () => setTimeout(() => (socket.destroy(), resolve()), 500));
    });
    socket.on("error", reject);
  });
}

describe("upload garbage: aborted uploads are collected, staged bytes are budgeted", function () {
  let stack: TestStack;
  let alice: Party;
  let bob: Party;

  before(async function () {
    stack = await startTestStack({ config: { limits: { uploadBytes: UPLOAD_LIMIT } } });
    alice = party(stack.accounts.alice, await signIn(stack, stack.accounts.alice));
    bob = party(stack.accounts.bob, await signIn(stack, stack.accounts.bob));
  });
  after(() => stack?.close());

  it("deletes the blocks of uploads cut off mid-stream at the gc their aborts schedule; a completed upload stays", async function () {
    const { content } = stack.services;
    const kept = randomBytes(1.5 * MiB);
    const done = await upload(stack, alice.token, kept);
    expect(done.status, done.text).to.equal(201);
    const keptCid = (done.json as { cid: string }).cid;

    const named: string[] = [];
    for (let i = 0; i < 3; i++) {
      const body = randomBytes(UPLOAD_LIMIT);
      await abortedUpload(stack, alice.token, body, 3 * MiB); // two full leaves written before the drop
      named.push(await leafCid(body.subarray(0, MiB)), await leafCid(body.subarray(MiB, 2 * MiB)));
    }
    // Written and reachable before the gc (its delay is seconds): what the reviewer saw grow the data dir.
    expect(await content.has(named[0]!), "a cut-off upload's first leaf, before the gc").to.equal(true);
    for (let tries = 0; ; tries++) {
      const present = await Promise.all(named.map((cid) => content.has(cid)));
      if (present.every((has) => !has)) break;
      expect(tries, `still reachable: ${named.filter((_, i) => present[i]).join(", ")}`).to.be.lessThan(120);
      await pause(250);
    }
    expect(await content.has(keptCid)).to.equal(true);
    expect((await content.stat(keptCid)).pinned).to.equal(true);
    const read: Uint8Array[] = [];
    for await (const part of content.get(keptCid)) read.push(part);
    expect(Buffer.compare(Buffer.concat(read), kept)).to.equal(0);
    // Nothing of the aborts was staged: a further upload fits in the budget.
    const more = await upload(stack, alice.token, randomBytes(MiB));
    expect(more.status, more.text).to.equal(201);
  });

  it("refuses an upload past the uploader's staged budget with 429 UPLOAD_BUDGET_EXCEEDED; registering frees it", async function () {
    const first = await upload(stack, bob.token, randomBytes(3 * MiB));
    expect(first.status, first.text).to.equal(201);
    const second = await upload(stack, bob.token, randomBytes(3 * MiB));
    expect(second.status, second.text).to.equal(201);
    // By the declared length (6 MiB staged + 3 MiB > 8 MiB).
    const declared = expectProblem(await upload(stack, bob.token, randomBytes(3 * MiB)), 429, "UPLOAD_BUDGET_EXCEEDED");
    expect(declared).to.deep.include({ budget: 8 * MiB, staged: 6 * MiB });
    // While streaming, without a declared length.
    const chunk = randomBytes(256 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 3 * MiB) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    expectProblem(
      await request(stack, "PUT", "/v1/uploads", {
        token: bob.token,
        body,
        headers: { "content-type": "application/octet-stream" },
      }),
      429,
      "UPLOAD_BUDGET_EXCEEDED",
    );
    // Another address's budget is its own.
    expect((await upload(stack, alice.token, randomBytes(3 * MiB))).status).to.equal(201);
    // A registered upload no longer counts.
    const cid = (first.json as { cid: string }).cid;
    const { dek } = await encryptRecord("budget");
    const registered = await request(stack, "POST", "/v1/records", {
      token: bob.token,
      json: { cid, scopeIds: { [bob.address]: [`0x${"11".repeat(32)}`] }, wraps: [wrapFor(dek, cid, bob)] },
    });
    expect(registered.status, registered.text).to.equal(201);
    const after = await upload(stack, bob.token, randomBytes(3 * MiB));
    expect(after.status, after.text).to.equal(201);
  });
});
