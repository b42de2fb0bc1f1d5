// Caps on open event streams: at most 4 per session and a total in the gateway; the next is refused with
// 429 TOO_MANY_STREAMS before anything is held, and closing a stream frees its slot.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { signIn } from "../support/auth.ts";
import { MAX_STREAMS_PER_SESSION, StreamSlots } from "../../src/plugins/events/streams.ts";

describe("event stream slots (pure)", () => {
  it("refuses a session's stream past its cap, and any stream past the total; a release frees one slot once", () => {
    const slots = new StreamSlots({ perSession: 2, total: 3 });
    const a1 = slots.acquire("a");
    const a2 = slots.acquire("a");
    expect(a1.ok && a2.ok).to.equal(true);
    expect(slots.acquire("a")).to.deep.equal({ ok: false, refused: "session" });
    const b1 = slots.acquire("b");
    expect(b1.ok).to.equal(true);
    expect(slots.acquire("c")).to.deep.equal({ ok: false, refused: "total" });
    expect(slots.open).to.equal(3);
    if (!a1.ok) throw new Error("unreachable");
    a1.release();
    a1.release(); // idempotent: a stream ends through several paths
    expect(slots.open).to.equal(2);
    expect(slots.acquire("c").ok).to.equal(true);
    expect(slots.acquire("a")).to.deep.equal({ ok: false, refused: "total" });
  });

  it("lets a request past the cap wait a grace period for a slot to free, then refuses", async () => {
    const slots = new StreamSlots({ perSession: 1, total: 10 });
    const held = slots.acquire("a");
    if (!held.ok) throw new Error("unreachable");
    const started = Date.now();
    expect(await slots.acquireWithin("a", 100)).to.deep.equal({ ok: false, refused: "session" });
    expect(Date.now() - started).to.be.at.least(90);
    const waiting = slots.acquireWithin("a", 5_000);
    setTimeout(() => held.release(), 20);
    expect((await waiting).ok).to.equal(true);
    expect(slots.open).to.equal(1);
  });

  it("defaults to 4 per session and 1000 in all", () => {
    const slots = new StreamSlots();
    expect([slots.perSession, slots.total]).to.deep.equal([4, 1000]);
    expect(MAX_STREAMS_PER_SESSION).to.equal(4);
  });
});

describe("gateway event streams are capped per session", function () {
  let stack: TestStack;
  const controllers: AbortController[] = [];

  before(async function () {
    stack = await startTestStack();
  });

  after(async function () {
    for (const controller of controllers) controller.abort();
    await stack?.close();
  });

  const open = async (token: string): Promise<{ response: Response; controller: AbortController }> => {
    const controller = new AbortController();
    controllers.push(controller);
    const response = await fetch(`${stack.url}/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    return { response, controller };
  };

  it("serves 4 streams to one session, refuses the 5th with 429 TOO_MANY_STREAMS, and frees a closed one's slot", async function () {
    const token = await signIn(stack, stack.accounts.alice);
    const opened = [];
    for (let i = 0; i < MAX_STREAMS_PER_SESSION; i++) {
      const stream = await open(token);
      expect(stream.response.status).to.equal(200);
      opened.push(stream);
    }
    const refused = await request(stack, "GET", "/v1/events", { token });
    expectProblem(refused, 429, "TOO_MANY_STREAMS");
    expect(Number(refused.headers.get("retry-after"))).to.be.greaterThan(0);

    // Another session of the same patient has its own slots.
    const other = await open(await signIn(stack, stack.accounts.alice));
    expect(other.response.status).to.equal(200);

    // Closing one stream frees its slot (the server sees the close a moment later).
    opened[0]!.controller.abort();
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const again = await open(token);
      status = again.response.status;
      if (status !== 200) await again.response.body?.cancel();
    }
    expect(status).to.equal(200);
  });
});

describe("a stream opening while the gateway closes", function () {
  let stack: TestStack | undefined;

  after(async function () {
    await stack?.close().catch(() => undefined);
  });

  it("is refused with 503 GATEWAY_CLOSING and does not hold the close open", async function () {
    stack = await startTestStack();
    const token = await signIn(stack, stack.accounts.alice);
    // The announcement to the other gateways (notify/notifier.ts) is slow, as with a database that lags: the close
    // starts while the request waits for it.
    const notifier = stack.app.notifier as { watch(patient: string): Promise<void> };
    notifier.watch = () => new Promise((resolve) => setTimeout(resolve, 1_000));
    const controller = new AbortController();
    const opening = fetch(`${stack.url}/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const closed = stack.app.close();
    const response = await opening;
    const text = await response.text();
    expectProblem(
      { status: response.status, headers: response.headers, text, json: JSON.parse(text) },
      503,
      "GATEWAY_CLOSING",
    );
    await closed;
    expect(Date.now() - started, "the close did not wait for the stream").to.be.below(5_000);
    controller.abort();
  });
});
