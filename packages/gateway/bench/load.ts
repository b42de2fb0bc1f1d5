// The load generator of bench:gateway, in its own process so it never shares an event loop with the server it
// measures: node load.ts '<LoadSpec JSON>' runs autocannon (as a library) once and prints ONE JSON line
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

const spec = JSON.parse(process.argv[2] ?? "") as LoadSpec;
process.stdout.write(`${JSON.stringify(await runLoad(spec))}\n`);
