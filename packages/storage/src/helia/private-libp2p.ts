// Adds a libp2p node to a Helia node, like @helia/libp2p's `withLibp2pLight`, without importing
// @helia/libp2p: its entry point also loads `libp2pDefaults` (DHT, WebRTC with a native library, relays,
// AutoTLS, delegated routing …), which costs ≈ 80 MB of RSS at import although a private node uses none of
// it. Same behaviour otherwise: the peer key is loaded from (or created in) the Helia datastore, libp2p
// shares that datastore, and a libp2p content router is added so bitswap can ask libp2p for providers.
import { loadOrCreateSelfKey } from "@libp2p/config";
import { NotStartedError } from "@libp2p/interface";
import { createLibp2p } from "libp2p";
import { userAgent } from "libp2p/user-agent";
import type { Helia, Provider, Router, RoutingOptions } from "@helia/interface";
import type { Libp2p, ServiceMap } from "@libp2p/interface";
import type { HeliaInit } from "helia";
import type { Libp2pOptions } from "libp2p";
import type { CID } from "multiformats/cid";

export interface HeliaWithLibp2p<S extends ServiceMap> extends Helia {
  libp2p: Libp2p<S>;
}

/** libp2p's own content routing (empty unless a DHT or similar service is configured), as a Helia router. */
class Libp2pRouter implements Router {
  readonly name = "libp2p-router";
  readonly #libp2p: Libp2p;

  constructor(libp2p: Libp2p) {
    this.#libp2p = libp2p;
  }

  async provide(cid: CID, options?: RoutingOptions): Promise<void> {
    await this.#libp2p.contentRouting.provide(cid, options);
  }

  async *findProviders(cid: CID, options?: RoutingOptions): AsyncGenerator<Provider> {
    for await (const info of this.#libp2p.contentRouting.findProviders(cid, options)) {
      yield { ...info, id: info.id.toCID(), router: this.name, fallback: false } as unknown as Provider;
    }
  }
}

export function withPrivateLibp2p<H extends Helia, S extends ServiceMap>(
  helia: H,
  options: Libp2pOptions<S>,
): H & HeliaWithLibp2p<S> {
  let libp2p: Libp2p<S> | undefined;
  Object.defineProperty(helia, "libp2p", {
    configurable: true,
    enumerable: true,
    get(): Libp2p<S> {
      if (libp2p === undefined) throw new NotStartedError();
      return libp2p;
    },
  });
  helia.addMixin({
    name: "libp2p",
    start: async (node: Helia) => {
      if (libp2p === undefined) {
        options.privateKey ??= await loadOrCreateSelfKey(node.datastore);
        options.nodeInfo ??= {};
        options.nodeInfo.name ??= node.info.name;
        options.nodeInfo.version ??= node.info.version;
        options.nodeInfo.userAgent ??= `${node.info.name}/${node.info.version} ${userAgent()}`;
        options.datastore ??= node.datastore;
        libp2p = await createLibp2p(options);
      }
      if (!node.hasRouter("libp2p-router")) node.addRouter(new Libp2pRouter(libp2p as unknown as Libp2p));
      await libp2p.start();
    },
    stop: async () => {
      await libp2p?.stop();
    },
  });
  return helia as H & HeliaWithLibp2p<S>;
}

type CreateHeliaLight = (init: HeliaInit) => Helia;

/**
 * helia's `createHeliaLight`, without loading helia's entry point: that one imports @helia/libp2p and
 * @helia/http for `createHelia` (≈ 90 MB RSS, see above) although the light constructor needs neither. The
 * Helia class lives in `dist/src/helia.js` next to the entry point (helia 7); if a later version moves it,
 * this falls back to the entry point (correct, only heavier).
 */
export async function loadCreateHeliaLight(): Promise<CreateHeliaLight> {
  const entry = import.meta.resolve("helia");
  try {
    const [{ Helia: HeliaClass }, { name, version }] = (await Promise.all([
      import(new URL("./helia.js", entry).href),
      import(new URL("./version.js", entry).href),
    ])) as [{ Helia: new (init: HeliaInit & { name: string; version: string }) => Helia }, HeliaInfo];
    if (typeof HeliaClass !== "function" || typeof name !== "string" || typeof version !== "string") {
      throw new TypeError("unexpected helia layout");
    }
    return (init) => new HeliaClass({ name, version, ...init });
  } catch {
    const { createHeliaLight } = await import("helia");
    return createHeliaLight;
  }
}

interface HeliaInfo {
  name: string;
  version: string;
}
