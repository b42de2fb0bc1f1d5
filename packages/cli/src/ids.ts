/**
 * How every command prints identifiers, in human output and in --json alike: a did:ethr as the SDK's `didOf` writes
 * it (chain id in hex, address lowercase), an Ethereum address EIP-55 checksummed (as wallets and PatientClient give
 * it). The SDK hands out both forms (DIDs from an identity agent or the IssuerClient carry the checksummed address;
 * the gateway lists addresses lowercase), so what a command prints goes through here: the same wallet then reads
 * the same everywhere, and a script can compare DIDs as strings.
 */
import { getAddress } from "ethers";
import { didOf } from "./sdk.ts";

/** did:ethr:[<network>:]<address>[#fragment or ?query]; the public-key form (0x02…/0x03…) is left as it is. */
const ETHR_DID = /^did:ethr:(?:([^:#?/]+):)?(0x[0-9a-fA-F]{40})([#?/].*)?$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
/** A did:ethr inside a sentence (an error message). */
const ETHR_DID_IN_TEXT = /did:ethr:(?:[0-9a-zA-Z]+:)?0x[0-9a-fA-F]{40}(?![0-9a-fA-F])/g;

/** A DID in the form the CLI prints; anything that is no did:ethr with an address comes back unchanged. */
export function printedDid(did: string): string;
export function printedDid(did: string | undefined): string | undefined;
export function printedDid(did: string | undefined): string | undefined {
  const match = did === undefined ? null : ETHR_DID.exec(did);
  if (!match) return did;
  const [, network, address, rest = ""] = match;
  const chainId = chainIdOf(network);
  if (chainId === undefined)
    return `did:ethr:${network === undefined ? "" : `${network}:`}${address!.toLowerCase()}${rest}`;
  return `${didOf(address!.toLowerCase(), chainId)}${rest}`;
}

/** An address EIP-55 checksummed; anything that is no address comes back unchanged. */
export function printedAddress(address: string): string;
export function printedAddress(address: string | undefined): string | undefined;
export function printedAddress(address: string | undefined): string | undefined {
  return address !== undefined && ADDRESS.test(address) ? getAddress(address.toLowerCase()) : address;
}

/** Every did:ethr in a line of text (an SDK error's message) in the printed form. */
export function printedDidsIn(text: string): string {
  return text.replace(ETHR_DID_IN_TEXT, (did) => printedDid(did));
}

/** The chain id a did:ethr network segment names by number (hex or decimal); undefined for a name (mainnet, …). */
function chainIdOf(network: string | undefined): number | undefined {
  if (network === undefined) return undefined;
  if (/^0x[0-9a-fA-F]{1,13}$/.test(network)) return Number.parseInt(network, 16);
  if (/^[0-9]{1,15}$/.test(network)) return Number(network);
  return undefined;
}
