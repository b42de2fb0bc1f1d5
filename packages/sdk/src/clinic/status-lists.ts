/**
 * How verifiers in the SDK fetch status lists (the clinic's desk, the patient's wallet at check-in).
 *
 * Rules: no redirect is followed (a redirect could point the verifier inside a network); a non-2xx answer is a
 * failed fetch (the verifier then fails closed, with a fixed reason); plain http is allowed only to the host of
 * the gateway the caller already talks to over http (the local stack), never to others by default.
 */

/** Fetches a status list without following redirects. */
export async function defaultStatusListFetcher(url: string, init?: { signal: AbortSignal }): Promise<string> {
  const res = await fetch(url, { redirect: "error", ...(init ? { signal: init.signal } : {}) });
  if (!res.ok) throw new Error(`status list ${url}: HTTP ${res.status}`);
  return res.text();
}

/** The host of `gatewayUrl` when it is served over plain http (status lists it serves may be fetched over http). */
export function httpHostsOf(gatewayUrl: string): string[] {
  try {
    const url = new URL(gatewayUrl);
    return url.protocol === "http:" ? [url.hostname] : [];
  } catch {
    return [];
  }
}
