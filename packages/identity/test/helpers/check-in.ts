// What a check-in needs around the two parties: a status host serving the board's revocation list, and a clinic
// DID that is accredited as clinic on chain, publishes an X25519 key and holds a board-issued accreditation.
import { TrustRole } from "@hygeia/chain";
import { generateX25519KeyPair, type X25519KeyPair } from "@hygeia/crypto";
import {
  Bitstring,
  CredentialType,
  issueCredential,
  issueStatusListCredential,
  statusEntry,
  type IdentityAgent,
  type ManagedDid,
} from "../../src/index.ts";
import { fund, type TestChain } from "./chain.ts";
import { accredit, subjects } from "./fixtures.ts";

/** Status lists served from memory, as the gateway would serve them over https. */
export class StatusHost {
  private readonly served = new Map<string, string>();
  private readonly lists = new Map<string, { agent: IdentityAgent; issuer: string; list: Bitstring }>();
  private nextIndex = 0;

  readonly fetcher = async (url: string): Promise<string> => {
    const jwt = this.served.get(url);
    if (!jwt) throw new Error(`404 ${url}`);
    return jwt;
  };

  /** Publishes an empty revocation list of `issuer` at `url`. */
  async publish(agent: IdentityAgent, issuer: string, url: string): Promise<void> {
    this.lists.set(url, { agent, issuer, list: new Bitstring() });
    await this.sign(url);
  }

  /** A fresh revocation entry on the list at `url`. */
  entry(url: string) {
    return statusEntry(url, "revocation", this.nextIndex++);
  }

  async revoke(url: string, index: number): Promise<void> {
    this.lists.get(url)!.list.set(index, true);
    await this.sign(url);
  }

  private async sign(url: string): Promise<void> {
    const { agent, issuer, list } = this.lists.get(url)!;
    this.served.set(url, await issueStatusListCredential(agent, { issuer, url, purpose: "revocation", list }));
  }
}

export const BOARD_LIST_URL = "https://board.example/status/accreditations";

export interface CheckInClinic {
  did: ManagedDid;
  keys: X25519KeyPair;
}

/** A clinic DID in `agent`: funded, accredited as clinic on chain (unless `accredited: false`), X25519 key published. */
export async function createClinic(
  testChain: TestChain,
  agent: IdentityAgent,
  options: { alias?: string; accredited?: boolean } = {},
): Promise<CheckInClinic> {
  const did = await agent.createDid({ alias: options.alias ?? "virtual-clinic" });
  await fund(testChain, did.ownerAddress!);
  if (options.accredited !== false) await accredit(testChain, did, TrustRole.Clinic);
  const keys = generateX25519KeyPair();
  await agent.publishEncryptionKey(did.did, keys.publicKey);
  return { did, keys };
}

/** A ClinicAccreditationCredential for `clinic`, signed by `issuer`, revocable on `host` and expiring in a year. */
export async function accreditationFor(
  agent: IdentityAgent,
  issuer: string,
  clinic: string,
  host: StatusHost,
  url = BOARD_LIST_URL,
): Promise<{ jwt: string; index: number }> {
  const entry = host.entry(url);
  const jwt = await issueCredential(agent, {
    issuer,
    type: CredentialType.ClinicAccreditation,
    subject: subjects(clinic, clinic, clinic).ClinicAccreditationCredential,
    validUntil: new Date(Date.now() + 365 * 86_400_000),
    status: [entry],
  });
  return { jwt, index: Number(entry.statusListIndex) };
}
