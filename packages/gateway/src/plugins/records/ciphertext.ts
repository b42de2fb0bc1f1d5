// Streams a ciphertext from IPFS as the answer: the record content route and the study contribution route.
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * Sends the content of `cid` (`size` bytes) as application/octet-stream. The first chunk is fetched before the
 * headers go, so an IPFS failure is still a clean 503; a client that goes away aborts the read.
 */
export async function sendCiphertext(
  app: FastifyInstance,
  reply: FastifyReply,
  cid: string,
  size: number,
): Promise<FastifyReply> {
  const controller = new AbortController();
  reply.raw.once("close", () => controller.abort(new Error("the client went away")));
  const iterator = app.services.content
    .get(cid, { signal: controller.signal, timeoutMs: app.config.ipfs.timeoutMs })
    [Symbol.asyncIterator]();
  const first = await iterator.next();
  async function* body(): AsyncGenerator<Uint8Array> {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await iterator.return?.();
    }
  }
  return reply
    .header("cache-control", "no-store")
    .header("content-length", String(size))
    .type("application/octet-stream")
    .send(Readable.from(body()));
}
