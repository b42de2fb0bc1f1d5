// Webhook delivery of access notifications: a signed POST to the URL the patient registered.
//
// Safety rules:
// - No server-side request forgery: only https URLs, to public addresses; plain http only to a loopback address
//   and only when the gateway itself serves on loopback (the local stack). The address is checked when the URL
//   is registered (an IP literal) AND at every delivery, on the address the name resolves to (a name that
//   resolves to a private address, also after a DNS change, is refused before anything is sent).
// - No credentials in the URL, no redirects followed, a bounded time per attempt and a few retries with backoff;
//   a delivery never blocks or fails a key release.
// - Each POST carries `x-hygeia-signature: t=<unix ms>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`; the secret
//   is derived from the gateway's webhook key and the registration, and given to the patient once, at registration.
import { createHmac } from "node:crypto";
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { classifyAddress } from "@hygeia/identity";
import { BadRequestError } from "../errors.ts";

/** Whether a resolved address may receive a webhook (loopback only when allowed); identity's classifier decides. */
export function addressAllowed(address: string, allowLoopback: boolean): boolean {
  const reach = classifyAddress(address);
  return reach === "public" || (reach === "loopback" && allowLoopback);
}

/**
 * The URL a patient may register, normalized; 400 INVALID_WEBHOOK_URL otherwise. `allowLoopback`: the gateway
 * runs on loopback (the local stack), so http://127.0.0.1:… receivers on the same machine are fine.
 */
export function checkWebhookUrl(input: string, allowLoopback: boolean): URL {
  const refuse = (why: string) =>
    new BadRequestError("INVALID_WEBHOOK_URL", `the webhook URL ${why}`, { field: "body.url" });
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw refuse("is not a URL");
  }
  if (url.username !== "" || url.password !== "") throw refuse("must not carry credentials");
  if (url.hash !== "") throw refuse("must not have a fragment");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const literal = isIP(host) !== 0;
  const loopbackName = host === "localhost" || (literal && classifyAddress(host) === "loopback");
  if (url.protocol === "http:") {
    if (!(allowLoopback && loopbackName))
      throw refuse("must be https (plain http only to loopback on a local gateway)");
  } else if (url.protocol !== "https:") {
    throw refuse("must be https");
  }
  if (literal && !addressAllowed(host, allowLoopback)) throw refuse("points at a private or reserved address");
  if (host === "localhost" && !allowLoopback) throw refuse("points at a private or reserved address");
  return url;
}

/** A DNS lookup for the HTTP client that refuses names resolving to a refused address (checked per connection). */
export function guardedLookup(allowLoopback: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const list = addresses as unknown as LookupAddress[];
      const refused = list.find((entry) => !addressAllowed(entry.address, allowLoopback));
      if (refused || list.length === 0) {
        const denied = Object.assign(new Error(`webhook host ${hostname} resolves to a refused address`), {
          code: "EWEBHOOKADDRESS",
        });
        return callback(denied, "", 0);
      }
      if ((options as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/** The signature header of a body, with the time the receiver should check for freshness. */
export function signWebhook(secret: string, body: string, time: number): string {
  const mac = createHmac("sha256", secret).update(`${time}.${body}`).digest("hex");
  return `t=${time},v1=${mac}`;
}

/** The per-registration secret (hex) the receiver verifies signatures with. */
export function webhookSecret(
  key: Uint8Array,
  registration: { patient: string; url: string; createdAt: number },
): string {
  return createHmac("sha256", key)
    .update(`hygeia/webhook/v1\0${registration.patient}\0${registration.url}\0${registration.createdAt}`)
    .digest("hex");
}

export interface DeliveryOptions {
  timeoutMs: number;
  allowLoopback: boolean;
  signal: AbortSignal;
}

/** One POST; resolves with the status code, rejects on a network failure, a timeout or a refused address. */
export function postOnce(url: URL, body: string, signature: string, options: DeliveryOptions): Promise<number> {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const requestOptions: RequestOptions = {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "user-agent": "hygeia-gateway-webhook/1",
      "x-hygeia-signature": signature,
    },
    lookup: guardedLookup(options.allowLoopback),
    timeout: options.timeoutMs,
    signal: options.signal,
  };
  return new Promise((resolve, reject) => {
    const req = send(url, requestOptions, (res) => {
      res.resume(); // the answer's body is not needed
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`webhook did not answer within ${options.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
