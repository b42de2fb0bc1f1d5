// Schema-driven fuzzing: for every operation in the gateway's own /openapi.json, at least 200 malformed
// requests generated from that operation's schemas (fast-check, fixed seed, printed), plus requests that keep
// to the schemas with edge values so the handlers themselves run. Asserts no 5xx, the server still answers
// /healthz after each operation, and the process's heap back near its baseline after a full GC.
//
// Re-run one seed with HYGEIA_FUZZ_SEED=<n>.
import { expect } from "chai";
import fc from "fast-check";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { closeAuthWorld, presentRole } from "../support/auth.ts";
import { send, type RawRequest } from "./support/http.ts";
import { adversarialRequests, malformedRequests, operationsOf, type Operation } from "./support/openapi-fuzz.ts";
import { mib, settledMemory } from "./support/memory.ts";
import { signInWith } from "./support/siwe.ts";

const SEED = Number(process.env.HYGEIA_FUZZ_SEED ?? 20261201);
const MALFORMED_PER_OPERATION = 200;
const ADVERSARIAL_PER_OPERATION = 15;
const CONCURRENCY = 8;

interface Failure {
  operation: string;
  request: string;
  status: number | string;
  body: string;
}

function describeRequest(r: RawRequest): string {
  const body = r.body === undefined ? "" : typeof r.body === "string" ? r.body : `<${r.body.length} bytes>`;
  return `${r.method} ${r.path.slice(0, 160)} ${JSON.stringify(r.headers ?? {}).slice(0, 120)} ${body.slice(0, 200)}`;
}

function dependencyProblem(text: string): boolean {
  try {
    const problem = JSON.parse(text) as { type?: unknown; dependency?: unknown; checks?: unknown };
    return (
      typeof problem.type === "string" &&
      problem.type.startsWith("urn:hygeia:problem:") &&
      (typeof problem.dependency === "string" || typeof problem.checks === "object")
    );
  } catch {
    return false;
  }
}

async function runAll(
  url: string,
  requests: RawRequest[],
  operation: string,
  failures: Failure[],
  statuses: Map<number, number>,
  failClosed: { count: number },
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const r = requests[next++]!;
      try {
        const res = await send(url, r);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        // A 503 problem naming a dependency is the gateway failing closed (a chain too slow under this load,
        // say): counted apart and printed. Any other 5xx is a failure.
        if (res.status === 503 && dependencyProblem(res.text)) {
          failClosed.count++;
          if (process.env.HYGEIA_FUZZ_VERBOSE)
            console.log(`fuzz: fail-closed 503 on ${describeRequest(r)}: ${res.text.slice(0, 200)}`);
        } else if (res.status >= 500)
          failures.push({ operation, request: describeRequest(r), status: res.status, body: res.text.slice(0, 300) });
      } catch (error) {
        failures.push({ operation, request: describeRequest(r), status: "no answer", body: String(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

describe("security: schema-driven fuzzing of every route", function () {
  let stack: TestStack;
  let doc: Record<string, unknown>;
  let operations: Operation[];
  let token: string;
  let clinicToken: string;

  before(async function () {
    stack = await startTestStack({ config: { limits: { uploadBytes: 64 * 1024 } } });
    const res = await send(stack.url, { method: "GET", path: "/openapi.json" });
    expect(res.status).to.equal(200);
    doc = JSON.parse(res.text) as Record<string, unknown>;
    operations = operationsOf(doc);
    token = await signInWith(stack.url, stack.accounts.alice);
    // A clinic session too, so the handlers behind the clinic role (check-ins) run on fuzzed input.
    clinicToken = await signInWith(stack.url, stack.accounts.clinic);
    await presentRole(stack, clinicToken, stack.accounts.clinic, "clinic");
  });
  after(async function () {
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("answers every malformed request of every operation with a status below 500, stays up, and returns its memory", async function () {
    this.timeout(240_000);
    console.log(`fuzz: seed ${SEED}, ${operations.length} operations`);
    expect(operations.length, "operations in /openapi.json").to.be.at.least(20);
    const failures: Failure[] = [];
    const statuses = new Map<number, number>();
    const failClosed = { count: 0 };
    // Requests are generated per operation, just before they are sent: the gateway runs in this process, and
    // generating every operation's requests at once would hold its event loop (and its indexer's polls) for
    // longer than the staleness limit.
    const optionsOf = (op: Operation) =>
      // Signing out would end the session the other requests carry: that operation goes without it.
      op.path === "/v1/auth/logout" ? {} : op.path.startsWith("/v1/checkins") ? { token: clinicToken } : { token };
    const settle = () => new Promise((resolve) => setImmediate(resolve));

    // Warm up (JIT, caches, connection pools) before the baseline.
    for (const [i, op] of operations.entries()) {
      const warm = fc.sample(adversarialRequests(op, doc, optionsOf(op)), { seed: SEED - 1 - i, numRuns: 5 });
      await runAll(stack.url, warm, op.id, failures, statuses, failClosed);
    }
    const baseline = await settledMemory();

    let sent = 0;
    const started = Date.now();
    for (const [i, op] of operations.entries()) {
      const malformed = fc.sample(malformedRequests(op, doc, optionsOf(op)), {
        seed: SEED + i,
        numRuns: MALFORMED_PER_OPERATION,
      });
      const adversarial = fc.sample(adversarialRequests(op, doc, optionsOf(op)), {
        seed: SEED + i,
        numRuns: ADVERSARIAL_PER_OPERATION,
      });
      expect(malformed.length).to.equal(MALFORMED_PER_OPERATION);
      await settle();
      const opStarted = Date.now();
      await runAll(stack.url, [...malformed, ...adversarial], op.id, failures, statuses, failClosed);
      if (process.env.HYGEIA_FUZZ_VERBOSE) console.log(`fuzz: ${op.id} ${Date.now() - opStarted} ms`);
      sent += malformed.length + adversarial.length;
      const health = await send(stack.url, { method: "GET", path: "/healthz" });
      expect(health.status, `/healthz after ${op.id}`).to.equal(200);
    }
    const after = await settledMemory();
    const summary = [...statuses.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}:${n}`)
      .join(" ");
    console.log(
      `fuzz: ${sent} requests in ${Date.now() - started} ms (${summary}; ${failClosed.count} fail-closed 503s); heap ${mib(baseline.heapUsed)} -> ${mib(after.heapUsed)}, rss ${mib(baseline.rss)} -> ${mib(after.rss)}, external ${mib(baseline.external)} -> ${mib(after.external)} (array buffers ${mib(baseline.arrayBuffers)} -> ${mib(after.arrayBuffers)})`,
    );
    expect(failures, JSON.stringify(failures.slice(0, 10), null, 2)).to.deep.equal([]);
    // Back near the baseline: what a leak of even 1 KiB per request (about 10 MB here) would exceed.
    expect(after.heapUsed, "heap after fuzzing").to.be.below(baseline.heapUsed + 24 * 1048576);
  });
});
