// The gateways' bus on a real PostgreSQL server: a message one store publishes reaches every store listening on the
// same database (its own included), never another database's; a burst arrives whole and in order (sent grouped);
// an oversized message is refused before the server; the listening connection comes back by itself after a server
// restart; unsubscribing and closing stop delivery.
import { expect } from "chai";
import { Client } from "pg";
import { openPostgresStore, type PostgresGatewayStore } from "../../src/store/postgres/index.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";

/** Collects messages; `next(text)` waits until one equal to `text` arrived. */
function inbox() {
  const received: string[] = [];
  return {
    received,
    listener: (message: string) => void received.push(message),
    async next(text: string, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!received.includes(text)) {
        if (Date.now() > deadline)
          throw new Error(`${JSON.stringify(text)} never arrived: ${JSON.stringify(received)}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}

describe("PostgreSQL gateway bus (LISTEN/NOTIFY)", function () {
  this.timeout(300_000);
  let server: TestPostgres;
  const opened: PostgresGatewayStore[] = [];

  before(async function () {
    server = await startPostgres();
  });
  after(async function () {
    for (const store of opened) await store.close();
    await server?.stop();
  });

  async function open(url: string): Promise<PostgresGatewayStore> {
    const store = await openPostgresStore({ url });
    opened.push(store);
    return store;
  }

  it("delivers a message to every gateway on the database, and to no other database", async function () {
    const url = await server.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    const elsewhere = await open(await server.createDatabase());
    const [atA, atB, atElsewhere] = [inbox(), inbox(), inbox()];
    await a.bus.listen(atA.listener);
    await b.bus.listen(atB.listener);
    await elsewhere.bus.listen(atElsewhere.listener);
    await a.bus.publish("hello from a");
    await atB.next("hello from a");
    await atA.next("hello from a");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(atElsewhere.received).to.deep.equal([]);
  });

  it("delivers every message of a burst, in order, identical ones included (sent grouped)", async function () {
    const url = await server.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    const atB = inbox();
    await b.bus.listen(atB.listener);
    const burst = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? "same" : `burst ${i}`));
    await Promise.all(burst.map((message) => a.bus.publish(message)));
    await atB.next("burst 599");
    const deadline = Date.now() + 10_000;
    while (atB.received.length < burst.length && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    expect(atB.received).to.deep.equal(burst);
  });

  it("with a bus key, delivers only messages of key holders: a database login's forged NOTIFY is dropped", async function () {
    const url = await server.createDatabase();
    const key = new Uint8Array(32).fill(7);
    const a = await openPostgresStore({ url, busKey: key });
    const b = await openPostgresStore({ url, busKey: key });
    const stranger = await openPostgresStore({ url, busKey: new Uint8Array(32).fill(9) });
    opened.push(a, b, stranger);
    const atB = inbox();
    await b.bus.listen(atB.listener);
    const intruder = new Client({ connectionString: url });
    await intruder.connect();
    try {
      await intruder.query("SELECT pg_notify('hygeia_gateway', $1)", ['{"inv":[["sessions"]]}']);
      await intruder.query("SELECT pg_notify('hygeia_gateway', $1)", [`${"A".repeat(43)}.{"v":1}`]);
    } finally {
      await intruder.end();
    }
    await stranger.bus.publish("from a gateway without the key");
    await a.bus.publish("from a key holder");
    await atB.next("from a key holder");
    expect(atB.received).to.deep.equal(["from a key holder"]);
  });

  it("drops a captured payload NOTIFYed again by a database login without the key (a replay)", async function () {
    const url = await server.createDatabase();
    const key = new Uint8Array(32).fill(7);
    const a = await openPostgresStore({ url, busKey: key });
    const b = await openPostgresStore({ url, busKey: key });
    opened.push(a, b);
    const atB = inbox();
    await b.bus.listen(atB.listener);
    const intruder = new Client({ connectionString: url });
    await intruder.connect();
    const captured: string[] = [];
    intruder.on("notification", ({ payload }) => payload !== undefined && captured.push(payload));
    await intruder.query("LISTEN hygeia_gateway");
    try {
      await a.bus.publish('access/1 0xpatient {"emergency":true}');
      await atB.next('access/1 0xpatient {"emergency":true}');
      for (const payload of [...captured]) await intruder.query("SELECT pg_notify('hygeia_gateway', $1)", [payload]);
      await a.bus.publish("after the replay");
      await atB.next("after the replay");
      expect(atB.received).to.deep.equal(['access/1 0xpatient {"emergency":true}', "after the replay"]);
    } finally {
      await intruder.end();
    }
  });

  it("packs a burst into few NOTIFY payloads, large messages across payload boundaries in order", async function () {
    const url = await server.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    const atB = inbox();
    await b.bus.listen(atB.listener);
    const raw = new Client({ connectionString: url });
    await raw.connect();
    let payloads = 0;
    raw.on("notification", () => payloads++);
    await raw.query("LISTEN hygeia_gateway");
    try {
      // 40 small messages fit a payload; 3,000-byte ones two to a payload; one of the largest size alone.
      const burst = [
        ...Array.from({ length: 40 }, (_, i) => `small ${i}`),
        ...Array.from({ length: 9 }, (_, i) => `${i}`.padEnd(3_000, "y")),
        "z".repeat(7_000),
        "last",
      ];
      await Promise.all(burst.map((message) => a.bus.publish(message)));
      const deadline = Date.now() + 10_000;
      while (atB.received.length < burst.length && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 25));
      expect(atB.received).to.deep.equal(burst);
      expect(payloads).to.be.within(1, 12);
    } finally {
      await raw.end();
    }
  });

  it("refuses a message too large for NOTIFY, or with a line feed, before sending it", async function () {
    const store = await open(await server.createDatabase());
    for (const message of ["x".repeat(7_001), "two\nlines"]) {
      let refused: unknown;
      try {
        await store.bus.publish(message);
      } catch (error) {
        refused = error;
      }
      expect(refused, message.slice(0, 10)).to.be.instanceOf(RangeError);
    }
  });

  it("listens again by itself after the server restarts, and stops once unsubscribed", async function () {
    const url = await server.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    const atB = inbox();
    const unsubscribe = await b.bus.listen(atB.listener);
    await server.restart();
    // Published until the listener is back: messages sent while it reconnects are lost (best effort), later ones arrive.
    const deadline = Date.now() + 30_000;
    for (let n = 0; !atB.received.some((m) => m.startsWith("after restart")); n++) {
      if (Date.now() > deadline) throw new Error("the listener never came back");
      await a.bus.publish(`after restart ${n}`).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await unsubscribe();
    const count = atB.received.length;
    await a.bus.publish("after unsubscribe");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(atB.received).to.have.length(count);
  });
});
