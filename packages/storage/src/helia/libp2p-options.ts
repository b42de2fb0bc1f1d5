// libp2p for a private Hygeia node: TCP only, on the addresses we are told (loopback by default), noise +
// yamux, identify (bitswap needs peers' protocol lists). Deliberately absent: bootstrap lists, mDNS, the
// DHT, delegated routing, relays, UPnP, WebRTC/WebSockets. Nothing dials the public network by itself; the
// node talks only to peers it is explicitly told to dial or that dial it.
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { identify } from "@libp2p/identify";
import { tcp } from "@libp2p/tcp";
import type { Identify } from "@libp2p/identify";
import type { Libp2pOptions } from "libp2p";

export interface PrivateLibp2pServices extends Record<string, unknown> {
  identify: Identify;
}

export function privateLibp2pOptions(listen: readonly string[]): Libp2pOptions<PrivateLibp2pServices> {
  return {
    addresses: { listen: [...listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify() },
  };
}
