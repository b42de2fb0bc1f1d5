// The access notifier across gateways on a real PostgreSQL bus: an access goes on the bus only while another gateway
// holds a live stream of that patient (announced by watch() and repeated), and reaches that stream; a gateway that
// just started sends every access until it has heard a whole repeat. What travels is read on the channel itself.
import { expect } from "chai";
import { Client } from "pg";
import { pino } from "pino";
import type { AuditEvent } from "@hygeia/audit";
import { AccessNotifier } from "../../src/notify/notifier.ts";
import type { AccessNotification } from "../../src/notify/types.ts";
import { openPostgresStore, type PostgresGatewayStore } from "../../src/store/postgres/index.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";

const REPEAT_MS = 300;
const PATIENT = "0x" + "a1".repeat(20);
const OTHER_PATIENT = "0x" + "b2".repeat(20);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function access(index: number): AccessNotification {
  const event = { v: 1, seq: index, type: "key_release", decision: "permit" } as unknown as AuditEvent;
  return { log: "hygeia.example/gateway-1", index, event, newGrantee: false, emergency: false };
}

describe("access notifier on the PostgreSQL bus", function () {
  this.timeout(120_000);
  let server: TestPostgres;
  const stores: PostgresGatewayStore[] = [];
  const notifiers: AccessNotifier[] = [];
  let channel: Client;
  /** The patients of the access messages seen on the channel, in order. */
  let accessesOnBus: string[];

  before(async function () {
    server = await startPostgres();
  });
  after(async function () {
    await server?.stop();
  });
  afterEach(async function () {
    for (const notifier of notifiers.splice(0)) await notifier.close();
    for (const store of stores.splice(0)) await store.close();
    await channel?.end();
  });

  async function gateways(url: string, count: number): Promise<AccessNotifier[]> {
    const started: AccessNotifier[] = [];
    for (let i = 0; i < count; i++) {
      const store = await openPostgresStore({ url });
      stores.push(store);
      const notifier = new AccessNotifier({
        store,
        log: pino({ enabled: false }),
        webhookKey: new Uint8Array(32),
        allowLoopbackWebhooks: true,
        now: Date.now,
        watchRepeatMs: REPEAT_MS,
      });
      await notifier.start();
      notifiers.push(notifier);
      started.push(notifier);
    }
    return started;
  }

  async function listenOnChannel(url: string): Promise<void> {
    accessesOnBus = [];
    channel = new Client({ connectionString: url });
    await channel.connect();
    channel.on("notification", ({ payload }) => {
      for (const line of (payload ?? "").split("\n").slice(1))
        if (line.startsWith("access/1 ")) accessesOnBus.push(line.split(" ")[1]!);
    });
    await channel.query("LISTEN hygeia_gateway");
  }

  async function until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`${what} never happened`);
      await sleep(20);
    }
  }

  it("sends an access on the bus only while another gateway holds a stream of that patient", async function () {
    const url = await server.createDatabase();
    const [a, b] = await gateways(url, 2);
    await listenOnChannel(url);
    await sleep(REPEAT_MS * 1.5 + 50); // past the start-up window, in which everything is sent

    a!.publish(PATIENT, access(1));
    await sleep(200);
    expect(accessesOnBus, "no stream anywhere: nothing on the bus").to.deep.equal([]);

    const atB: number[] = [];
    await b!.watch(PATIENT);
    const unsubscribe = b!.subscribe(PATIENT, (notification) => atB.push(notification.index));
    // watch() resolves once the database delivered the announcement to every gateway; here all of them share this
    // process's event loop, so let A's connection be read (an HTTP request to A would take longer than this).
    await sleep(20);
    a!.publish(PATIENT, access(2));
    a!.publish(OTHER_PATIENT, access(3));
    await until(() => atB.includes(2), "the access reaching the stream at the other gateway");
    await sleep(100);
    expect(accessesOnBus, "only the watched patient's access travels").to.deep.equal([PATIENT]);
    expect(atB).to.deep.equal([2]);

    // The stream closes: once the other gateway's repeats stop naming the patient (3.5 repeats), nothing is sent.
    unsubscribe();
    await sleep(REPEAT_MS * 4 + 100);
    a!.publish(PATIENT, access(4));
    await sleep(200);
    expect(accessesOnBus).to.deep.equal([PATIENT]);
  });

  it("reaches a stream whose announcement was lost, after the next repeat", async function () {
    const url = await server.createDatabase();
    const [a, b] = await gateways(url, 2);
    await sleep(REPEAT_MS * 1.5 + 50);
    const atB: number[] = [];
    b!.subscribe(PATIENT, (notification) => atB.push(notification.index)); // no watch(): as if it never arrived
    await sleep(REPEAT_MS + 100);
    a!.publish(PATIENT, access(7));
    await until(() => atB.includes(7), "the access reaching the stream after a repeat");
  });

  it("sends every access from a gateway whose bus listener was away, until it has heard a whole repeat", async function () {
    const url = await server.createDatabase();
    const [a, b] = await gateways(url, 2);
    await sleep(REPEAT_MS * 1.5 + 50);
    // Every listening connection is cut: the announcement A makes now reaches nobody (its own listener included).
    const admin = new Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
      );
    } finally {
      await admin.end();
    }
    const atA: number[] = [];
    await a!.watch(PATIENT);
    a!.subscribe(PATIENT, (notification) => atA.push(notification.index));
    // B has its listener back (250 ms backoff) but never heard the announcement: it sends everything meanwhile.
    await sleep(400);
    b!.publish(PATIENT, access(42));
    await until(() => atA.includes(42), "B's access reaching A's stream");
  });

  it("sends every access from a gateway that has not heard a whole repeat yet (just started)", async function () {
    const url = await server.createDatabase();
    await listenOnChannel(url);
    const [fresh] = await gateways(url, 1);
    fresh!.publish(OTHER_PATIENT, access(1));
    await until(() => accessesOnBus.includes(OTHER_PATIENT), "the access on the bus");
  });
});
