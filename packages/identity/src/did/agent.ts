// The identity agent: a Veramo agent (key manager over kms-local with encrypted private keys, DID manager for
// did:ethr and did:key, W3C JWT credentials) behind a small typed facade, so the rest of Hygeia never handles
// Veramo types.
import type { DatabaseSync } from "node:sqlite";
import type {
  IAgentContext,
  ICredentialPlugin,
  IDIDManager,
  IIdentifier,
  IKey,
  IKeyManager,
  IResolver,
} from "@veramo/core";
import { EthrDID } from "ethr-did";
import { SigningKey, computeAddress, getAddress, type JsonRpcProvider } from "ethers";
import type { DIDDocument } from "did-resolver";
import { assertX25519PublicKey, x25519KeysFromDidDocument } from "@hygeia/crypto";
import { InvalidIdentityInputError, KeyNotFoundError, TransactionFailedError, UnknownDidError } from "../errors.ts";
import {
  SqliteDidStore,
  SqliteEncryptedPrivateKeyStore,
  SqliteKeyStore,
  openIdentityDatabase,
} from "../stores/sqlite-stores.ts";
import { registerVeramo, type VeramoAgent } from "./internal.ts";
import { loadVeramo, type VeramoRuntime } from "./veramo-runtime.ts";
import { ethrDidPrefix, networkProvider, validateEthrNetwork, type EthrNetwork } from "./network.ts";
import { CachedDidResolver } from "./resolver.ts";

export interface IdentityAgentOptions {
  network: EthrNetwork;
  /** SQLite file for keys and identifiers; ":memory:" (the default) keeps everything in memory. */
  databasePath?: string;
  /** 32-byte hex secret sealing private keys at rest (SecretBox). Generated when absent (memory only). */
  secretBoxKey?: string;
  /** Reuse of resolved DID documents (invalidated by registry events and by this agent's own writes). */
  resolverCacheTtlMs?: number;
  /** Follow registry events to invalidate cached documents (default true). */
  watchRegistry?: boolean;
}

export type DidMethod = "ethr" | "key";

/** A DID this agent controls. */
export interface ManagedDid {
  readonly did: string;
  readonly alias: string | undefined;
  readonly method: DidMethod;
  /** Ethereum address of the current owner (did:ethr only). */
  readonly ownerAddress: string | undefined;
  /** Key id used to sign credentials and presentations. */
  readonly signingKeyId: string;
}

export interface EncryptionKeyRef {
  /** Verification method id in the DID document. */
  readonly id: string;
  readonly publicKey: Uint8Array;
}

export interface PublishOptions {
  /** Seconds the attribute stays valid on-chain (ERC-1056 validity); default one year. */
  validitySeconds?: number;
}

/** X25519 keys are published as `did/pub/X25519/enc/base64` (ARCHITECTURE.md, onboarding). */
const X25519_ATTRIBUTE = "did/pub/X25519/enc/base64";
const YEAR = 365 * 86400;
const GAS_LIMIT = 200_000;

export class IdentityAgent {
  private readonly veramo: VeramoAgent;
  readonly resolver: CachedDidResolver;
  readonly network: EthrNetwork;
  readonly provider: JsonRpcProvider;
  private readonly db: DatabaseSync;
  private readonly didStore: SqliteDidStore;
  private readonly runtime: VeramoRuntime;

  private constructor(parts: {
    runtime: VeramoRuntime;
    veramo: VeramoAgent;
    resolver: CachedDidResolver;
    network: EthrNetwork;
    provider: JsonRpcProvider;
    db: DatabaseSync;
    didStore: SqliteDidStore;
  }) {
    this.runtime = parts.runtime;
    this.veramo = parts.veramo;
    this.resolver = parts.resolver;
    this.network = parts.network;
    this.provider = parts.provider;
    this.db = parts.db;
    this.didStore = parts.didStore;
  }

  static async create(options: IdentityAgentOptions): Promise<IdentityAgent> {
    const network = validateEthrNetwork(options.network);
    const databasePath = options.databasePath ?? ":memory:";
    if (databasePath !== ":memory:" && !options.secretBoxKey)
      throw new InvalidIdentityInputError("secretBoxKey", "required for a persistent key store");
    const runtime = await loadVeramo();
    const { KeyManagementSystem, SecretBox } = runtime.kmsLocal;
    const secretBoxKey = options.secretBoxKey ?? (await SecretBox.createSecretKey());
    if (!/^[0-9a-fA-F]{64}$/.test(secretBoxKey))
      throw new InvalidIdentityInputError("secretBoxKey", "must be 32 bytes of hex");
    const provider = networkProvider(network);
    const db = openIdentityDatabase(databasePath);
    const didStore = new SqliteDidStore(db);
    const resolver = await CachedDidResolver.create({ network, provider, cacheTtlMs: options.resolverCacheTtlMs });
    const veramo = runtime.core.createAgent<IKeyManager & IDIDManager & IResolver & ICredentialPlugin>({
      plugins: [
        new runtime.keyManager.KeyManager({
          store: new SqliteKeyStore(db),
          kms: { local: new KeyManagementSystem(new SqliteEncryptedPrivateKeyStore(db, new SecretBox(secretBoxKey))) },
        }),
        new runtime.didManager.DIDManager({
          store: didStore,
          defaultProvider: ethrDidPrefix(network),
          providers: {
            [ethrDidPrefix(network)]: new runtime.didProviderEthr.EthrDIDProvider({
              defaultKms: "local",
              networks: [{ chainId: `0x${network.chainId.toString(16)}`, provider, registry: network.registry }],
            }),
            "did:key": new runtime.didProviderKey.KeyDIDProvider({ defaultKms: "local" }),
          },
        }),
        new runtime.didResolver.DIDResolverPlugin({ resolver: resolver.asResolvable() }),
        new runtime.credentialW3c.CredentialPlugin([new runtime.credentialJwt.CredentialProviderJWT()]),
      ],
    });
    const agent: IdentityAgent = new IdentityAgent({ runtime, veramo, resolver, network, provider, db, didStore });
    registerVeramo(agent, veramo);
    if (options.watchRegistry ?? true) await resolver.watchRegistry();
    return agent;
  }

  /** Creates a new DID with a fresh secp256k1 key (did:ethr on the configured chain, or did:key). */
  async createDid(options: { method?: DidMethod; alias?: string } = {}): Promise<ManagedDid> {
    if ((options.method ?? "ethr") === "key") {
      const identifier = await this.veramo.didManagerCreate({
        provider: "did:key",
        kms: "local",
        ...(options.alias ? { alias: options.alias } : {}),
        options: { keyType: "Secp256k1" },
      });
      return toManagedDid(identifier);
    }
    const key = await this.veramo.keyManagerCreate({ kms: "local", type: "Secp256k1" });
    return this.importEthrKey(key, options.alias);
  }

  /** Imports an existing secp256k1 private key (e.g. a wallet's) as the owner of its did:ethr. */
  async importEthrDid(privateKeyHex: string, alias?: string): Promise<ManagedDid> {
    const hex = privateKeyHex.replace(/^0x/, "");
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new InvalidIdentityInputError("privateKeyHex", "must be 32 bytes");
    const key = await this.veramo.keyManagerImport({ kms: "local", type: "Secp256k1", privateKeyHex: hex });
    return this.importEthrKey(key, alias);
  }

  /** did:ethr:<chain>:<address> owned by `key` (address form: the owner can change, the DID stays). */
  private async importEthrKey(key: IKey, alias: string | undefined): Promise<ManagedDid> {
    const { privateKeyHex: _omit, ...publicKey } = key;
    // The key is already in the key manager: record the identifier directly (didManagerImport re-imports keys).
    const identifier: IIdentifier = {
      did: `${ethrDidPrefix(this.network)}:${addressOfKey(key)}`,
      provider: ethrDidPrefix(this.network),
      controllerKeyId: key.kid,
      keys: [publicKey],
      services: [],
      ...(alias ? { alias } : {}),
    };
    await this.didStore.importDID(identifier);
    return toManagedDid(identifier);
  }

  async getDid(did: string): Promise<ManagedDid> {
    return toManagedDid(await this.identifier(did));
  }

  async listDids(): Promise<ManagedDid[]> {
    return (await this.veramo.didManagerFind()).map(toManagedDid);
  }

  async resolve(did: string): Promise<DIDDocument> {
    return this.resolver.resolve(did);
  }

  /**
   * The X25519 keys to encrypt to for this DID: only keys whose verification method is still in the document
   * (the resolver drops references to revoked ones), parsed and validated by @hygeia/crypto.
   */
  async encryptionKeys(did: string): Promise<EncryptionKeyRef[]> {
    const document = await this.resolve(did);
    // @hygeia/crypto refuses a document without keyAgreement; "no key yet" is a normal state here.
    if ((document.keyAgreement ?? []).length === 0) return [];
    return x25519KeysFromDidDocument(document);
  }

  /** Publishes an X25519 public key as the DID's keyAgreement key (ERC-1056 attribute). */
  async publishEncryptionKey(did: string, publicKey: Uint8Array, options: PublishOptions = {}): Promise<string> {
    assertX25519PublicKey(publicKey);
    const controller = await this.controller(did);
    const txHash = await controller.setAttribute(
      X25519_ATTRIBUTE,
      `0x${Buffer.from(publicKey).toString("hex")}`,
      options.validitySeconds ?? YEAR,
      undefined,
      { gasLimit: GAS_LIMIT },
    );
    await this.mined(txHash);
    this.resolver.invalidate(did);
    return txHash;
  }

  /** Revokes a published X25519 key: the resolver stops listing it at once. */
  async revokeEncryptionKey(did: string, publicKey: Uint8Array): Promise<string> {
    assertX25519PublicKey(publicKey);
    const controller = await this.controller(did);
    const txHash = await controller.revokeAttribute(
      X25519_ATTRIBUTE,
      `0x${Buffer.from(publicKey).toString("hex")}`,
      undefined,
      { gasLimit: GAS_LIMIT },
    );
    await this.mined(txHash);
    this.resolver.invalidate(did);
    return txHash;
  }

  /** Publishes `next`, then revokes every other X25519 key of the DID, so only `next` remains. */
  async rotateEncryptionKey(did: string, next: Uint8Array, options: PublishOptions = {}): Promise<void> {
    const previous = await this.encryptionKeys(did);
    await this.publishEncryptionKey(did, next, options);
    for (const key of previous) {
      if (Buffer.compare(Buffer.from(key.publicKey), Buffer.from(next)) !== 0)
        await this.revokeEncryptionKey(did, key.publicKey);
    }
  }

  /** Adds a delegate (`veriKey`: may sign for the DID; `sigAuth`: may also authenticate) for a while. */
  async addDelegate(
    did: string,
    delegate: string,
    options: { type?: "veriKey" | "sigAuth"; validitySeconds?: number } = {},
  ): Promise<string> {
    const controller = await this.controller(did);
    const txHash = await controller.addDelegate(
      getAddress(delegate),
      { delegateType: delegateType(options.type), expiresIn: options.validitySeconds ?? YEAR },
      { gasLimit: GAS_LIMIT },
    );
    await this.mined(txHash);
    this.resolver.invalidate(did);
    return txHash;
  }

  async revokeDelegate(did: string, delegate: string, type: "veriKey" | "sigAuth" = "veriKey"): Promise<string> {
    const controller = await this.controller(did);
    const txHash = await controller.revokeDelegate(getAddress(delegate), delegateType(type), {
      gasLimit: GAS_LIMIT,
    });
    await this.mined(txHash);
    this.resolver.invalidate(did);
    return txHash;
  }

  /**
   * Key rotation: makes a fresh key of this agent the DID's owner on-chain. The DID stays the same; the old key
   * can no longer sign for it.
   */
  async rotateOwnerKey(did: string): Promise<ManagedDid> {
    const identifier = await this.identifier(did);
    const controller = await this.controller(did);
    const next = await this.veramo.keyManagerCreate({ kms: "local", type: "Secp256k1" });
    const txHash = await controller.changeOwner(addressOfKey(next), { gasLimit: GAS_LIMIT });
    await this.mined(txHash);
    const updated: IIdentifier = { ...identifier, controllerKeyId: next.kid, keys: [next, ...identifier.keys] };
    await this.didStore.importDID(updated);
    this.resolver.invalidate(did);
    return toManagedDid(updated);
  }

  /** Signs a compact JWS with the DID's signing key (ES256K). */
  async signJwt(did: string, payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const managed = await this.getDid(did);
    const fullHeader = { alg: "ES256K", typ: "JWT", kid: `${did}#controller`, ...header };
    const input = `${base64url(JSON.stringify(fullHeader))}.${base64url(JSON.stringify(payload))}`;
    const signature = await this.veramo.keyManagerSign({
      keyRef: managed.signingKeyId,
      algorithm: "ES256K",
      data: input,
      encoding: "utf-8",
    });
    return `${input}.${signature}`;
  }

  /** Raw ES256K signature (base64url r||s) over bytes, for libraries that build their own JWS (SD-JWT). */
  async signBytes(did: string, data: string): Promise<string> {
    const managed = await this.getDid(did);
    return this.veramo.keyManagerSign({ keyRef: managed.signingKeyId, algorithm: "ES256K", data, encoding: "utf-8" });
  }

  /** Public key (uncompressed hex) of the DID's signing key. */
  async signingPublicKeyHex(did: string): Promise<string> {
    const managed = await this.getDid(did);
    return (await this.veramo.keyManagerGet({ kid: managed.signingKeyId })).publicKeyHex;
  }

  /** The DID's signing key as a public JWK (for SD-JWT `cnf` holder binding). */
  async signingPublicJwk(did: string): Promise<{ kty: "EC"; crv: "secp256k1"; x: string; y: string }> {
    const hex = (await this.signingPublicKeyHex(did)).replace(/^0x/, "");
    const uncompressed = SigningKey.computePublicKey(`0x${hex}`, false);
    const bytes = Buffer.from(uncompressed.slice(2), "hex");
    return {
      kty: "EC",
      crv: "secp256k1",
      x: bytes.subarray(1, 33).toString("base64url"),
      y: bytes.subarray(33, 65).toString("base64url"),
    };
  }

  async close(): Promise<void> {
    await this.resolver.stopWatching();
    this.provider.destroy();
    this.db.close();
  }

  private async identifier(did: string): Promise<IIdentifier> {
    try {
      return await this.veramo.didManagerGet({ did });
    } catch {
      throw new UnknownDidError(did, "not managed by this agent");
    }
  }

  private async controller(did: string): Promise<EthrDID> {
    const identifier = await this.identifier(did);
    if (!identifier.did.startsWith("did:ethr:")) throw new UnknownDidError(did, "only did:ethr has on-chain keys");
    if (!identifier.controllerKeyId) throw new KeyNotFoundError(`${did} has no controller key`);
    const key = await this.veramo.keyManagerGet({ kid: identifier.controllerKeyId });
    const context = { agent: this.veramo } as unknown as IAgentContext<IKeyManager>;
    return new EthrDID({
      identifier: identifier.did,
      provider: this.provider,
      chainNameOrId: this.network.chainId,
      registry: this.network.registry,
      txSigner: new this.runtime.didProviderEthr.KmsEthereumSigner(key, context, this.provider),
    });
  }

  private async mined(txHash: string): Promise<void> {
    const receipt = await this.provider.waitForTransaction(txHash, 1, 60_000);
    if (!receipt) throw new TransactionFailedError(txHash, "not mined within 60 s");
    if (receipt.status !== 1) throw new TransactionFailedError(txHash, "reverted");
  }
}

type EthrDelegateType = Parameters<EthrDID["revokeDelegate"]>[1];

/** ethr-did types delegate kinds as an enum whose values are these strings. */
function delegateType(type: "veriKey" | "sigAuth" | undefined): EthrDelegateType {
  return (type === "sigAuth" ? "sigAuth" : "veriKey") as EthrDelegateType;
}

function toManagedDid(identifier: IIdentifier): ManagedDid {
  const method: DidMethod = identifier.did.startsWith("did:key:") ? "key" : "ethr";
  const signingKeyId = identifier.controllerKeyId ?? identifier.keys[0]?.kid;
  if (!signingKeyId) throw new KeyNotFoundError(`${identifier.did} has no key`);
  const controllerKey = identifier.keys.find((k) => k.kid === signingKeyId);
  return {
    did: identifier.did,
    alias: identifier.alias,
    method,
    ownerAddress: method === "ethr" && controllerKey ? addressOfKey(controllerKey) : undefined,
    signingKeyId,
  };
}

function addressOfKey(key: Pick<IKey, "publicKeyHex" | "meta">): string {
  const fromMeta = (key.meta as { account?: string } | undefined)?.account;
  if (fromMeta) return getAddress(fromMeta);
  return computeAddress(`0x${key.publicKeyHex.replace(/^0x/, "")}`);
}

export function base64url(text: string | Uint8Array): string {
  return Buffer.from(text).toString("base64url");
}
