// The load generator of bench:gateway, in its own process so it never shares an event loop with the server it
// measures: node load.ts '<LoadSpec JSON>' (or a JSON array of them, run together) runs autocannon (as a library)
// once and prints ONE JSON line
// (LoadResult) on stdout; the orchestrator imports only its types. A response whose status is not the
// expected one is counted apart (`unexpected`), so a refusal is never counted as a release (or the reverse).
import autocannon from "autocannon";

export interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  /** The status every response must have (200 for hello and releases, 403 for denies). */
  expectStatus: number;
  /** Requests cycled through by every connection (method, path, headers, body). */
  requests: { method: "GET" | "POST"; path: string; headers?: Record<string, string>; body?: string }[];
}

export interface LoadResult {
  /** Responses with the expected status per second of the run. */
  perS: number;
  expected: number;
  unexpected: number;
  /** Status code -> count, for the ones that were not expected. */
  unexpectedStatuses: Record<string, number>;
  errors: number;
  timeouts: number;
  p50Ms: number;
  p99Ms: number;
  durationS: number;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationS,
    pipelining: 1,
    timeout: 10,
    requests: spec.requests,
  });
  const statuses = result.statusCodeStats ?? {};
  let expected = 0;
  const unexpectedStatuses: Record<string, number> = {};
  for (const [status, stats] of Object.entries(statuses)) {
    const count = stats.count ?? 0;
    if (Number(status) === spec.expectStatus) expected += count;
    else unexpectedStatuses[status] = count;
  }
  const unexpected = Object.values(unexpectedStatuses).reduce((a, b) => a + b, 0);
  return {
    perS: expected / result.duration,
    expected,
    unexpected,
    unexpectedStatuses,
    errors: result.errors,
    timeouts: result.timeouts,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    durationS: result.duration,
  };
}

/**
 * Several loads at once in this one process (bench:scale drives three gateways so: one generator for all, as the
 * single gateway has, not three processes competing with the gateways for the machine's cores). Counts are summed,
 * latencies are the worst of the loads.
 */
export async function runLoads(specs: readonly LoadSpec[]): Promise<LoadResult> {
  const results = await Promise.all(specs.map((spec) => runLoad(spec)));
  const sum = (pick: (result: LoadResult) => number) => results.reduce((total, result) => total + pick(result), 0);
  const unexpectedStatuses: Record<string, number> = {};
  for (const result of results)
    for (const [status, count] of Object.entries(result.unexpectedStatuses))
      unexpectedStatuses[status] = (unexpectedStatuses[status] ?? 0) + count;
  return {
    perS: sum((result) => result.perS),
    expected: sum((result) => result.expected),
    unexpected: sum((result) => result.unexpected),
    unexpectedStatuses,
    errors: sum((result) => result.errors),
    timeouts: sum((result) => result.timeouts),
    p50Ms: Math.max(...results.map((result) => result.p50Ms)),
    p99Ms: Math.max(...results.map((result) => result.p99Ms)),
    durationS: Math.max(...results.map((result) => result.durationS)),
  };
}

// argv[2]: one LoadSpec, or an array of them run together.
const given = JSON.parse(process.argv[2] ?? "") as LoadSpec | LoadSpec[];
const result = Array.isArray(given) ? await runLoads(given) : await runLoad(given);
process.stdout.write(`${JSON.stringify(result)}\n`);
