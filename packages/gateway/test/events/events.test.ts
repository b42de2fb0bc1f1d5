// Access notifications on the real stack: a patient's Server-Sent-Event stream (read with fetch and a stream
// reader) and its webhook (a real node:http receiver) hear about releases and refusals of its records; the first
// release to a grantee and emergency attempts are flagged; a stream ends at logout.
import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { signIn } from "../support/auth.ts";
import {
  addRecord,
  askKey,
  dayAhead,
  encryptRecord,
  observationIds,
  patientScopes,
  registryAs,
  signInParties,
  synced,
  type Party,
} from "../records/world.ts";

interface Notification {
  patient: string;
  index: number;
  newGrantee: boolean;
  emergency: boolean;
  event: { type: string; decision: string; actor: string; reason: string; record?: string; time: number };
}

/** A live SSE reader: collects `access` events; `next()` waits for the next one, `closed` settles at the end. */
class EventStreamReader {
  readonly events: { id: string; data: Notification }[] = [];
  readonly comments: string[] = [];
  readonly closed: Promise<void>;
  #waiters: (() => void)[] = [];
  #controller = new AbortController();

  private constructor(body: ReadableStream<Uint8Array>) {
    this.closed = this.#read(body);
  }

  static async open(stack: TestStack, token: string): Promise<{ reader: EventStreamReader; response: Response }> {
    const response = await fetch(`${stack.url}/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).to.equal(200);
    expect(response.headers.get("content-type")).to.match(/^text\/event-stream/);
    return { reader: new EventStreamReader(response.body!), response };
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id = "";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) this.comments.push(line.slice(1).trim());
            else if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data !== "") this.events.push({ id, data: JSON.parse(data) as Notification });
          this.#waiters.splice(0).forEach((wake) => wake());
        }
      }
    } catch {
      // aborted by the test
    } finally {
      this.#waiters.splice(0).forEach((wake) => wake());
    }
  }

  /** Waits until `count` events arrived (or the stream ended). */
  async waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.events.length} of ${count} events arrived`);
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, 200)),
        this.closed,
      ]);
    }
  }
}

/** A webhook receiver on 127.0.0.1: records every POST; `answers` scripts the statuses (then 200). */
class Receiver {
  readonly received: { headers: IncomingMessage["headers"]; body: string }[] = [];
  answers: number[] = [];
  /** Hold each request without answering (a receiver that hangs). */
  hang = false;
  readonly server: Server;
  url = "";

  constructor() {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        this.received.push({ headers: req.headers, body });
        if (!this.hang) res.writeHead(this.answers.shift() ?? 200).end();
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hooks/hygeia`;
  }

  async waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.received.length} of ${count} webhook calls arrived`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe("gateway access notifications (SSE and webhook)", function () {
  let stack: TestStack;
  let alice: Party;
  let clinic: Party;
  let bob: Party;
  let doctor: Party;
  let cid: string;
  let receiver: Receiver;

  before(async function () {
    stack = await startTestStack();
    const a = stack.accounts;
    const parties = await signInParties(stack, [a.alice, a.clinic, a.bob, a.researcher]);
    [alice, clinic, bob, doctor] = parties as [Party, Party, Party, Party];
    const scopes = patientScopes(alice.address);
    const record = await encryptRecord("Observation: blood pressure 128/82 (canary-events)");
    cid = await addRecord(stack, alice, record, observationIds(alice, scopes, "vital-signs"), [clinic]);
    await registryAs(stack, alice.wallet).grant({
      grantee: clinic.address,
      scope: scopes.id("category:vital-signs"),
      purpose: "Treatment",
      expiry: await dayAhead(stack),
    });
    await synced(stack);
    receiver = new Receiver();
    await receiver.start();
  });

  after(async function () {
    await stack?.close();
    receiver?.server.close();
  });

  it("streams the patient's access events, flagging the first release to a grantee and an emergency attempt", async function () {
    const { reader } = await EventStreamReader.open(stack, alice.token);
    const bobs = await EventStreamReader.open(stack, bob.token);
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
    expectProblem(await askKey(stack, doctor, alice, cid, "Emergency"), 403, "CONSENT_REQUIRED");
    await reader.waitFor(3);
    const [first, second, third] = reader.events.map((e) => e.data);
    expect(first).to.include({ patient: alice.address, newGrantee: true, emergency: false });
    expect(first!.event).to.include({ type: "key_release", decision: "permit", actor: clinic.address, record: cid });
    expect(second).to.include({ newGrantee: false, emergency: false });
    expect(third).to.include({ newGrantee: false, emergency: true });
    expect(third!.event).to.include({ type: "access_denied", actor: doctor.address, reason: "NO_CONSENT" });
    expect(reader.events.map((e) => Number(e.id))).to.deep.equal(reader.events.map((e) => e.data.index));
    expect(reader.comments).to.include("connected");
    // Bob's stream hears nothing about Alice's data.
    expect(bobs.reader.events).to.deep.equal([]);
  });

  it("ends the stream when the session signs out", async function () {
    const token = await signIn(stack, alice.wallet);
    const { reader } = await EventStreamReader.open(stack, token);
    const logout = await request(stack, "POST", "/v1/auth/logout", { token });
    expect(logout.status, logout.text).to.equal(200);
    const before = reader.events.length;
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
    await Promise.race([
      reader.closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error("the stream did not end")), 10_000)),
    ]);
    expect(reader.events.length).to.equal(before);
  });

  it("refuses a stream without a session", async function () {
    expectProblem(await request(stack, "GET", "/v1/events"), 401, "NOT_SIGNED_IN");
  });

  it("POSTs signed notifications to the registered webhook, retrying a failed attempt", async function () {
    const put = await request(stack, "PUT", "/v1/events/webhook", { token: alice.token, json: { url: receiver.url } });
    expect(put.status, put.text).to.equal(200);
    const { secret } = put.json as { secret: string };
    receiver.answers = [503];
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
    await receiver.waitFor(2);
    const [failed, delivered] = receiver.received;
    expect(failed!.body).to.equal(delivered!.body);
    const notification = JSON.parse(delivered!.body) as Notification;
    expect(notification).to.include({ patient: alice.address, emergency: false });
    expect(notification.event).to.include({ type: "key_release", actor: clinic.address });
    const signature = String(delivered!.headers["x-hygeia-signature"]);
    const [, time, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature) ?? [];
    expect(mac).to.equal(createHmac("sha256", secret).update(`${time}.${delivered!.body}`).digest("hex"));
  });

  it("never delays a release on a webhook that hangs", async function () {
    receiver.hang = true;
    try {
      const count = receiver.received.length;
      const started = performance.now();
      expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
      const elapsed = performance.now() - started;
      await receiver.waitFor(count + 1);
      // The delivery's own bound is 5 s per attempt; the release answered without waiting for it.
      expect(elapsed).to.be.below(2_500);
    } finally {
      receiver.hang = false;
    }
  });

  it("stops webhook deliveries once the patient removes the webhook", async function () {
    const removed = await request(stack, "DELETE", "/v1/events/webhook", { token: alice.token });
    expect(removed.json).to.deep.equal({ removed: true });
    const count = receiver.received.length;
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received.length).to.equal(count);
    expect((await request(stack, "DELETE", "/v1/events/webhook", { token: alice.token })).json).to.deep.equal({
      removed: false,
    });
  });

  it("refuses webhook URLs that would reach private addresses or skip TLS", async function () {
    for (const url of [
      "http://example.org/hook",
      "https://10.0.0.5/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://[fd00::1]/hook",
      "https://user:pass@example.org/hook",
      "ftp://example.org/hook",
      "not a url",
    ]) {
      const res = await request(stack, "PUT", "/v1/events/webhook", { token: alice.token, json: { url } });
      expectProblem(res, 400, "INVALID_WEBHOOK_URL");
    }
  });
});

describe("gateway access notifications: a stream ends with its session", function () {
  let stack: TestStack;

  before(async function () {
    stack = await startTestStack({ config: { sessions: { ttlMs: 3_000 } } });
  });

  after(async function () {
    await stack?.close();
  });

  it("closes the stream when the session expires (automatic logoff)", async function () {
    const token = await signIn(stack, stack.accounts.alice);
    const opened = Date.now();
    const { reader } = await EventStreamReader.open(stack, token);
    await Promise.race([
      reader.closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error("the stream outlived its session")), 15_000)),
    ]);
    expect(Date.now() - opened).to.be.at.most(10_000);
    expectProblem(await request(stack, "GET", "/v1/events", { token }), 401, "TOKEN_EXPIRED");
  });
});
