// Signing in and proving roles against a test stack, the way a wallet does it over HTTP:
// - signIn: GET /v1/auth/nonce → an EIP-4361 message (siwe) → wallet.signMessage → POST /v1/auth/verify.
// - presentRole: the stack's medical board issues the credential (identity's issueCredential) with an entry in
//   its revocation status list (published at this gateway's /v1/status-lists URL), the holder presents it in a
//   JWT VP for a challenge of GET /v1/auth/roles/challenge → POST /v1/auth/roles.
// - revokeRole: the board sets the credential's bit and publishes the list again.
// One IdentityAgent per stack holds the board's and the holders' keys (imported from the test wallets).
import { expect } from "chai";
import { SiweMessage } from "siwe";
import type { HDNodeWallet, Signer } from "ethers";
import {
  Bitstring,
  CredentialType,
  IdentityAgent,
  createPresentation,
  ethrNetworkFromDeployment,
  issueCredential,
  issueStatusListCredential,
  statusEntry,
  type ManagedDid,
} from "@hygeia/identity";
import type { Role } from "../../src/auth/session.ts";
import type { TestStack } from "./stack.ts";
import { request } from "./http.ts";

/** The `Authorization` header of a session token. */
export function authHeader(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

export interface SiweFields {
  domain: string;
  uri: string;
  chainId: number;
  nonce: string;
  statement: string;
}

/** GET /v1/auth/nonce: what the message must name. */
export async function getNonce(stack: Pick<TestStack, "url">): Promise<SiweFields & { expiresAt: number }> {
  const res = await request(stack, "GET", "/v1/auth/nonce");
  expect(res.status, res.text).to.equal(200);
  return res.json as SiweFields & { expiresAt: number };
}

/** The EIP-4361 message text for `address` with `fields` (override any field to build a bad one). */
export function siweMessage(
  address: string,
  fields: SiweFields,
  overrides: Partial<ConstructorParameters<typeof SiweMessage>[0] & object> = {},
): string {
  return new SiweMessage({
    domain: fields.domain,
    address,
    statement: fields.statement,
    uri: fields.uri,
    version: "1",
    chainId: fields.chainId,
    nonce: fields.nonce,
    issuedAt: new Date().toISOString(),
    ...overrides,
  }).prepareMessage();
}

/** Signs in `wallet` and returns its session token. */
export async function signIn(
  stack: Pick<TestStack, "url">,
  wallet: Pick<Signer, "getAddress" | "signMessage">,
): Promise<string> {
  const fields = await getNonce(stack);
  const message = siweMessage(await wallet.getAddress(), fields);
  const signature = await wallet.signMessage(message);
  const res = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
  expect(res.status, res.text).to.equal(200);
  return (res.json as { token: string }).token;
}

interface AuthWorld {
  agent: IdentityAgent;
  board: ManagedDid;
  listName: string;
  listUrl: string;
  list: Bitstring;
  nextIndex: number;
  lastPublishedSecond: number;
  dids: Map<string, ManagedDid>;
}

const worlds = new WeakMap<object, Promise<AuthWorld>>();

function world(stack: TestStack): Promise<AuthWorld> {
  let pending = worlds.get(stack);
  if (!pending) {
    pending = (async () => {
      const agent = await IdentityAgent.create({
        network: ethrNetworkFromDeployment(stack.deployment, stack.config.chain.rpcUrl),
        watchRegistry: false,
      });
      const board = await agent.importEthrDid(stack.accounts.board.privateKey, "board");
      const listName = "roles";
      const w: AuthWorld = {
        agent,
        board,
        listName,
        listUrl: `${stack.url}/v1/status-lists/${board.did}/${listName}`,
        list: new Bitstring(),
        // Index 0 stays unused so that a wrong index never hits a live credential.
        nextIndex: 1,
        lastPublishedSecond: 0,
        dids: new Map(),
      };
      await publishList(stack, w);
      return w;
    })();
    worlds.set(stack, pending);
  }
  return pending;
}

async function didOf(w: AuthWorld, wallet: HDNodeWallet): Promise<ManagedDid> {
  let did = w.dids.get(wallet.address);
  if (!did) {
    did = await w.agent.importEthrDid(wallet.privateKey);
    w.dids.set(wallet.address, did);
  }
  return did;
}

/** Publishes the board's list (a new `iat` second each time, so the store and verifiers take it as newer). */
async function publishList(stack: TestStack, w: AuthWorld): Promise<void> {
  while (Math.floor(Date.now() / 1000) <= w.lastPublishedSecond) await new Promise((r) => setTimeout(r, 50));
  const jwt = await issueStatusListCredential(w.agent, {
    issuer: w.board.did,
    url: w.listUrl,
    purpose: "revocation",
    list: w.list,
    validForSeconds: 86_400,
  });
  w.lastPublishedSecond = Math.floor(Date.now() / 1000);
  const res = await request(stack, "PUT", `/v1/status-lists/${w.board.did}/${w.listName}`, {
    body: jwt,
    headers: { "content-type": "application/vc+jwt" },
  });
  expect(res.status, res.text).to.be.oneOf([200, 201]);
}

export interface RoleCredential {
  role: Role;
  /** The JWT VC the board issued. */
  credential: string;
  /** Its index in the board's revocation list. */
  statusIndex: number;
  holder: string;
}

const SUBJECTS = {
  clinic: (id: string) => ({
    id,
    clinicName: "Asclepius Virtual Clinic",
    accreditationNumber: "MB-2026-0042",
    specialties: ["cardiology"],
    virtual: true,
    jurisdiction: "EU",
  }),
  researcher: (id: string) => ({ id, name: "Dr. Rosalind Franklin", institution: "King's College" }),
};

/**
 * The stack's board issues `role`'s credential to `wallet`'s did:ethr (revocable, valid a year).
 * `issuer` overrides the board (an unaccredited issuer, for refusals).
 */
export async function issueRoleCredential(
  stack: TestStack,
  wallet: HDNodeWallet,
  role: Role,
  options: { issuer?: HDNodeWallet } = {},
): Promise<RoleCredential> {
  const w = await world(stack);
  const holder = await didOf(w, wallet);
  const issuer = options.issuer ? await didOf(w, options.issuer) : w.board;
  const statusIndex = w.nextIndex++;
  const validUntil = new Date(Date.now() + 365 * 86_400_000);
  const credential =
    role === "clinic"
      ? await issueCredential(w.agent, {
          issuer: issuer.did,
          type: CredentialType.ClinicAccreditation,
          subject: SUBJECTS.clinic(holder.did),
          validUntil,
          status: [statusEntry(w.listUrl, "revocation", statusIndex)],
        })
      : await issueCredential(w.agent, {
          issuer: issuer.did,
          type: CredentialType.Researcher,
          subject: SUBJECTS.researcher(holder.did),
          validUntil,
          status: [statusEntry(w.listUrl, "revocation", statusIndex)],
        });
  return { role, credential, statusIndex, holder: holder.did };
}

/** A JWT VP of `credential` by `wallet`'s did:ethr for a fresh role challenge of the gateway. */
export async function rolePresentation(
  stack: TestStack,
  token: string,
  wallet: HDNodeWallet,
  credential: string,
): Promise<{ presentation: string; challenge: string }> {
  const w = await world(stack);
  const holder = await didOf(w, wallet);
  const res = await request(stack, "GET", "/v1/auth/roles/challenge", { token });
  expect(res.status, res.text).to.equal(200);
  const { challenge, domain } = res.json as { challenge: string; domain: string };
  const presentation = await createPresentation(w.agent, {
    holder: holder.did,
    credentials: [credential],
    challenge,
    domain,
  });
  return { presentation, challenge };
}

/** Issues `role`'s credential to `wallet`, presents it on the session of `token`, and expects the role attached. */
export async function presentRole(
  stack: TestStack,
  token: string,
  wallet: HDNodeWallet,
  role: Role,
): Promise<RoleCredential> {
  const issued = await issueRoleCredential(stack, wallet, role);
  const { presentation, challenge } = await rolePresentation(stack, token, wallet, issued.credential);
  const res = await request(stack, "POST", "/v1/auth/roles", { token, json: { role, presentation, challenge } });
  expect(res.status, res.text).to.equal(200);
  return issued;
}

/** The board revokes the credential in its status list and publishes the list. */
export async function revokeRole(stack: TestStack, issued: RoleCredential): Promise<void> {
  const w = await world(stack);
  w.list.set(issued.statusIndex, true);
  await publishList(stack, w);
}

/** Closes the stack's identity agent (call before stack.close() in an after hook; optional). */
export async function closeAuthWorld(stack: TestStack): Promise<void> {
  const pending = worlds.get(stack);
  worlds.delete(stack);
  if (pending) await (await pending.catch(() => undefined))?.agent.close();
}

/** The roles GET /v1/auth/session lists for `token` now. */
export async function sessionRoles(stack: Pick<TestStack, "url">, token: string): Promise<string[]> {
  const res = await request(stack, "GET", "/v1/auth/session", { token });
  expect(res.status, res.text).to.equal(200);
  return (res.json as { roles: string[] }).roles;
}

/**
 * Polls the session until `role` is no longer listed (after revokeRole, within one status-list TTL); returns how
 * long that took (ms), or fails after `limitMs`.
 */
export async function waitUntilRoleGone(
  stack: Pick<TestStack, "url">,
  token: string,
  role: Role,
  limitMs: number,
): Promise<number> {
  const start = Date.now();
  while (Date.now() - start <= limitMs) {
    if (!(await sessionRoles(stack, token)).includes(role)) return Date.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return expect.fail(`${role} role still listed ${limitMs} ms later`);
}
