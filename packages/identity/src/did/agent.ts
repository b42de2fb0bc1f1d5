// The identity agent: a Veramo agent (key manager over kms-local with encrypted private keys, DID manager for
// did:ethr and did:key, W3C JWT credentials) behind a small typed facade, so the rest of Hygeia never handles
// Veramo types.
//
// Rules:
// - Every public method throws only this package's typed errors (HygeiaIdentityError subclasses): inputs are
//   checked first, and Veramo / ethers / did-jwt failures are translated.
// - close() is clean at any moment, also twice and during pending calls: those fail with AgentClosedError.
// - A persistent key store opens only with the SecretBox key it was created with (WrongSecretBoxKeyError).
// - publishEncryptionKey makes a key the DID's only current key; chain writes are bounded by writeTimeoutMs.
import { randomBytes } from "node:crypto";
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
import { SigningKey, computeAddress, getAddress, isAddress, isError, type JsonRpcProvider } from "ethers";
import type { DIDDocument } from "did-resolver";
import { assertX25519PublicKey, x25519KeysFromDidDocument } from "@hygeia/crypto";
import {
  HygeiaIdentityError,
  IdentityChainUnavailableError,
  InvalidIdentityInputError,
  KeyNotFoundError,
  TransactionFailedError,
  UnresolvableDidError,
  errorMessage,
  truncate,
} from "../errors.ts";
import {
  SqliteDidStore,
  SqliteEncryptedPrivateKeyStore,
  SqliteKeyStore,
  openIdentityDatabase,
  verifySecretBoxKey,
} from "../stores/sqlite-stores.ts";
import { registerVeramo, type VeramoAgent } from "./internal.ts";
import { Lifetime } from "./lifetime.ts";
import { loadVeramo, type VeramoRuntime } from "./veramo-runtime.ts";
import { ethrDidPrefix, networkProvider, validateEthrNetwork, type EthrNetwork } from "./network.ts";
import { CachedDidResolver, MAX_DID_LENGTH } from "./resolver.ts";
import { orderEncryptionKeys, sameKey, type EncryptionKeyRef } from "./encryption-keys.ts";

export type { EncryptionKeyRef } from "./encryption-keys.ts";

export interface IdentityAgentOptions {
  network: EthrNetwork;
  /** SQLite file for keys and identifiers; ":memory:" (the default) keeps everything in memory. */
  databasePath?: string;
  /**
   * 32-byte hex secret (64 hex characters, no 0x) sealing private keys at rest (SecretBox). Required with a
   * databasePath; IdentityAgent.generateSecretBoxKey() makes one. Generated when absent (memory only).
   */
  secretBoxKey?: string;
  /** Reuse of resolved DID documents (invalidated by registry events and by this agent's own writes). */
  resolverCacheTtlMs?: number;
  /** Follow registry events to invalidate cached documents (default true). */
  watchRegistry?: boolean;
  /** How long a registry write may take, sent and mined (default 120 s); then TransactionFailedError. */
  writeTimeoutMs?: number;
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

export interface PublishOptions {
  /** Seconds the attribute stays valid on-chain (ERC-1056 validity); default one year. */
  validitySeconds?: number;
}

export interface PublishEncryptionKeyOptions extends PublishOptions {
  /**
   * Publish again even when the key is already the current one (to extend its on-chain validity). Without it,
   * publishing the current key sends no transaction.
   */
  renew?: boolean;
}

/** What publishing changed on-chain: the transactions sent, in order (none when the key was already current). */
export interface PublishEncryptionKeyResult {
  readonly changed: boolean;
  readonly transactions: readonly string[];
}

/** X25519 keys are published as `did/pub/X25519/enc/base64` (docs/architecture.md, onboarding). */
const X25519_ATTRIBUTE = "did/pub/X25519/enc/base64";
const YEAR = 365 * 86400;
const MAX_VALIDITY_SECONDS = 100 * YEAR;
const GAS_LIMIT = 200_000;
const SECRET_BOX_KEY = /^[0-9a-fA-F]{64}$/;

export class IdentityAgent {
  private readonly veramo: VeramoAgent;
  readonly resolver: CachedDidResolver;
  readonly network: EthrNetwork;
  readonly provider: JsonRpcProvider;
  private readonly db: DatabaseSync;
  private readonly didStore: SqliteDidStore;
  private readonly runtime: VeramoRuntime;
  private readonly lifetime: Lifetime;
  private readonly writeTimeoutMs: number;
  private closing: Promise<void> | undefined;

  private constructor(parts: {
    runtime: VeramoRuntime;
    veramo: VeramoAgent;
    resolver: CachedDidResolver;
    network: EthrNetwork;
    provider: JsonRpcProvider;
    db: DatabaseSync;
    didStore: SqliteDidStore;
    lifetime: Lifetime;
    writeTimeoutMs: number;
  }) {
    this.runtime = parts.runtime;
    this.veramo = parts.veramo;
    this.resolver = parts.resolver;
    this.network = parts.network;
    this.provider = parts.provider;
    this.db = parts.db;
    this.didStore = parts.didStore;
    this.lifetime = parts.lifetime;
    this.writeTimeoutMs = parts.writeTimeoutMs;
  }

  /** A fresh random secretBoxKey (64 hex characters). Keep it secret and stable: it unseals the key store. */
  static generateSecretBoxKey(): string {
    return randomBytes(32).toString("hex");
  }

  /**
   * Opens (or creates) the key store and connects to the chain. Throws InvalidIdentityInputError for bad
   * options and WrongSecretBoxKeyError when an existing store was sealed with another secretBoxKey.
   */
  static async create(options: IdentityAgentOptions): Promise<IdentityAgent> {
    if (typeof options !== "object" || options === null)
      throw new InvalidIdentityInputError("options", "expected { network, databasePath?, secretBoxKey? }");
    const network = validateEthrNetwork(options.network);
    const databasePath = options.databasePath ?? ":memory:";
    if (typeof databasePath !== "string" || databasePath === "")
      throw new InvalidIdentityInputError("databasePath", 'must be a file path or ":memory:"');
    if (databasePath !== ":memory:" && options.secretBoxKey === undefined)
      throw new InvalidIdentityInputError(
        "secretBoxKey",
        `required with a databasePath (${truncate(databasePath)}): it seals the private keys at rest; ` +
          "make one with IdentityAgent.generateSecretBoxKey() once and keep it secret",
      );
    if (options.secretBoxKey !== undefined && !isSecretBoxKey(options.secretBoxKey))
      throw new InvalidIdentityInputError(
        "secretBoxKey",
        "must be 64 hex characters (32 bytes, no 0x prefix), e.g. from IdentityAgent.generateSecretBoxKey()",
      );
    const writeTimeoutMs = options.writeTimeoutMs ?? 120_000;
    if (!Number.isSafeInteger(writeTimeoutMs) || writeTimeoutMs <= 0)
      throw new InvalidIdentityInputError("writeTimeoutMs", "must be a positive number of milliseconds");
    const runtime = await loadVeramo();
    const { KeyManagementSystem, SecretBox } = runtime.kmsLocal;
    const secretBox = new SecretBox(options.secretBoxKey ?? IdentityAgent.generateSecretBoxKey());
    let db: DatabaseSync;
    try {
      db = openIdentityDatabase(databasePath);
    } catch (error) {
      throw new InvalidIdentityInputError(
        "databasePath",
        `cannot open ${truncate(databasePath)}: ${errorMessage(error)}`,
      );
    }
    const cleanup: Array<() => unknown> = [() => db.close()];
    try {
      await verifySecretBoxKey(db, secretBox, databasePath);
      const provider = networkProvider(network);
      cleanup.unshift(() => provider.destroy());
      const didStore = new SqliteDidStore(db);
      const resolver = await CachedDidResolver.create({ network, provider, cacheTtlMs: options.resolverCacheTtlMs });
      cleanup.unshift(() => resolver.close());
      const veramo = runtime.core.createAgent<IKeyManager & IDIDManager & IResolver & ICredentialPlugin>({
        plugins: [
          new runtime.keyManager.KeyManager({
            store: new SqliteKeyStore(db),
            kms: {
              local: new KeyManagementSystem(new SqliteEncryptedPrivateKeyStore(db, secretBox, databasePath)),
            },
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
      const lifetime = new Lifetime();
      const agent: IdentityAgent = new IdentityAgent({
        runtime,
        veramo,
        resolver,
        network,
        provider,
        db,
        didStore,
        lifetime,
        writeTimeoutMs,
      });
      registerVeramo(agent, veramo, lifetime);
      if (options.watchRegistry ?? true) await resolver.watchRegistry();
      return agent;
    } catch (error) {
      for (const step of cleanup) await step();
      throw error;
    }
  }

  /** Creates a new DID with a fresh secp256k1 key (did:ethr on the configured chain, or did:key). */
  async createDid(options: { method?: DidMethod; alias?: string } = {}): Promise<ManagedDid> {
    const method = options.method ?? "ethr";
    if (method !== "ethr" && method !== "key") throw new InvalidIdentityInputError("method", 'must be "ethr" or "key"');
    const alias = optionalAlias(options.alias);
    return this.lifetime.run("createDid", async () => {
      if (method === "key") {
        const identifier = await this.veramo.didManagerCreate({
          provider: "did:key",
          kms: "local",
          ...(alias ? { alias } : {}),
          options: { keyType: "Secp256k1" },
        });
        return toManagedDid(identifier);
      }
      const key = await this.veramo.keyManagerCreate({ kms: "local", type: "Secp256k1" });
      return this.importEthrKey(key, alias);
    });
  }

  /** Imports an existing secp256k1 private key (e.g. a wallet's) as the owner of its did:ethr. */
  async importEthrDid(privateKeyHex: string, alias?: string): Promise<ManagedDid> {
    const hex = typeof privateKeyHex === "string" ? privateKeyHex.replace(/^0x/, "") : "";
    if (!/^[0-9a-fA-F]{64}$/.test(hex))
      throw new InvalidIdentityInputError("privateKeyHex", "must be 32 bytes of hex (64 characters, 0x optional)");
    const checkedAlias = optionalAlias(alias);
    return this.lifetime.run("importEthrDid", async () => {
      let key: IKey;
      try {
        key = await this.veramo.keyManagerImport({ kms: "local", type: "Secp256k1", privateKeyHex: hex });
      } catch (error) {
        if (error instanceof HygeiaIdentityError) throw error;
        throw new InvalidIdentityInputError("privateKeyHex", `not a usable secp256k1 key: ${errorMessage(error)}`);
      }
      return this.importEthrKey(key, checkedAlias);
    });
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

  /** A DID this agent holds. KeyNotFoundError when it holds no key for it. */
  async getDid(did: string): Promise<ManagedDid> {
    return this.lifetime.run("getDid", async () => toManagedDid(await this.identifier(did, "did")));
  }

  async listDids(): Promise<ManagedDid[]> {
    return this.lifetime.run("listDids", async () => (await this.veramo.didManagerFind()).map(toManagedDid));
  }

  async resolve(did: string): Promise<DIDDocument> {
    return this.lifetime.run("resolve", () => this.resolver.resolve(did));
  }

  /**
   * The X25519 keys to encrypt to for this DID, current first (`current: true`: the key published last), then
   * older ones still published, newest first. Only keys whose verification method is still in the document
   * (the resolver drops references to revoked ones), parsed and validated by @hygeia/crypto. A sender wraps to
   * every listed key: after publishEncryptionKey that is exactly one.
   */
  async encryptionKeys(did: string): Promise<EncryptionKeyRef[]> {
    return this.lifetime.run("encryptionKeys", () => this.readEncryptionKeys(did));
  }

  /** The DID's current X25519 key, or undefined when it has none. */
  async currentEncryptionKey(did: string): Promise<EncryptionKeyRef | undefined> {
    return (await this.encryptionKeys(did))[0];
  }

  private async readEncryptionKeys(did: string): Promise<EncryptionKeyRef[]> {
    const document = await this.resolver.resolve(did);
    // @hygeia/crypto refuses a document without keyAgreement; "no key yet" is a normal state here.
    if ((document.keyAgreement ?? []).length === 0) return [];
    try {
      return orderEncryptionKeys(x25519KeysFromDidDocument(document));
    } catch (error) {
      // Anyone can publish garbage to their own DID: report it as their document's problem.
      throw new UnresolvableDidError(did, `unusable keyAgreement key: ${errorMessage(error)}`, { cause: error });
    }
  }

  /**
   * Makes `publicKey` the DID's current and only X25519 key (ERC-1056 attribute did/pub/X25519/enc/base64):
   * publishes it unless it is already current, then revokes every other key, so senders wrapping to
   * encryptionKeys(did) reach its holder only. Publishing the current key again sends nothing (unless `renew`).
   * Re-running onboarding with a new key therefore replaces the old one.
   */
  async publishEncryptionKey(
    did: string,
    publicKey: Uint8Array,
    options: PublishEncryptionKeyOptions = {},
  ): Promise<PublishEncryptionKeyResult> {
    return this.putEncryptionKey("publishEncryptionKey", did, publicKey, { ...options, keepPrevious: false });
  }

  /**
   * Adds `publicKey` as the DID's current X25519 key and keeps the other published keys listed (not current),
   * e.g. for a second device; senders then wrap to all of them. Revoke one with revokeEncryptionKey.
   */
  async addEncryptionKey(
    did: string,
    publicKey: Uint8Array,
    options: PublishEncryptionKeyOptions = {},
  ): Promise<PublishEncryptionKeyResult> {
    return this.putEncryptionKey("addEncryptionKey", did, publicKey, { ...options, keepPrevious: true });
  }

  private async putEncryptionKey(
    operation: string,
    did: string,
    publicKey: Uint8Array,
    options: PublishEncryptionKeyOptions & { keepPrevious: boolean },
  ): Promise<PublishEncryptionKeyResult> {
    checkX25519PublicKey(publicKey, "publicKey");
    const validity = validitySeconds(options.validitySeconds);
    return this.write(operation, did, async (controller) => {
      this.resolver.invalidate(did); // decide on the chain's state, not a cached document
      const keys = await this.readEncryptionKeys(did);
      const existing = keys.find((key) => sameKey(key.publicKey, publicKey));
      const transactions: string[] = [];
      if (!existing?.current || options.renew)
        transactions.push(
          await controller.setAttribute(X25519_ATTRIBUTE, hex(publicKey), validity, undefined, { gasLimit: GAS_LIMIT }),
        );
      if (!options.keepPrevious) {
        for (const key of keys) {
          if (sameKey(key.publicKey, publicKey)) continue;
          transactions.push(
            await controller.revokeAttribute(X25519_ATTRIBUTE, hex(key.publicKey), undefined, { gasLimit: GAS_LIMIT }),
          );
        }
      }
      return { changed: transactions.length > 0, transactions };
    });
  }

  /** Revokes a published X25519 key: the resolver stops listing it at once. */
  async revokeEncryptionKey(did: string, publicKey: Uint8Array): Promise<string> {
    checkX25519PublicKey(publicKey, "publicKey");
    return this.write("revokeEncryptionKey", did, (controller) =>
      controller.revokeAttribute(X25519_ATTRIBUTE, hex(publicKey), undefined, { gasLimit: GAS_LIMIT }),
    );
  }

  /** Adds a delegate (`veriKey`: may sign for the DID; `sigAuth`: may also authenticate) for a while. */
  async addDelegate(
    did: string,
    delegate: string,
    options: { type?: "veriKey" | "sigAuth"; validitySeconds?: number } = {},
  ): Promise<string> {
    const address = checkAddress(delegate, "delegate");
    const type = checkDelegateType(options.type);
    const expiresIn = validitySeconds(options.validitySeconds);
    return this.write("addDelegate", did, (controller) =>
      controller.addDelegate(address, { delegateType: type, expiresIn }, { gasLimit: GAS_LIMIT }),
    );
  }

  async revokeDelegate(did: string, delegate: string, type: "veriKey" | "sigAuth" = "veriKey"): Promise<string> {
    const address = checkAddress(delegate, "delegate");
    const checkedType = checkDelegateType(type);
    return this.write("revokeDelegate", did, (controller) =>
      controller.revokeDelegate(address, checkedType, { gasLimit: GAS_LIMIT }),
    );
  }

  /**
   * Key rotation: makes a fresh key of this agent the DID's owner on-chain. The DID stays the same; the old key
   * can no longer sign for it.
   */
  async rotateOwnerKey(did: string): Promise<ManagedDid> {
    return this.write("rotateOwnerKey", did, async (controller, identifier) => {
      const next = await this.veramo.keyManagerCreate({ kms: "local", type: "Secp256k1" });
      await controller.changeOwner(addressOfKey(next), { gasLimit: GAS_LIMIT });
      const updated: IIdentifier = { ...identifier, controllerKeyId: next.kid, keys: [next, ...identifier.keys] };
      await this.didStore.importDID(updated);
      return toManagedDid(updated);
    });
  }

  /** Signs a compact JWS with the DID's signing key (ES256K). */
  async signJwt(did: string, payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    if (typeof payload !== "object" || payload === null || Array.isArray(payload))
      throw new InvalidIdentityInputError("payload", "must be a JSON object");
    if (typeof header !== "object" || header === null || Array.isArray(header))
      throw new InvalidIdentityInputError("header", "must be a JSON object");
    return this.lifetime.run("signJwt", async () => {
      const managed = toManagedDid(await this.identifier(did, "did"));
      const fullHeader = { alg: "ES256K", typ: "JWT", kid: `${did}#controller`, ...header };
      const input = `${base64url(JSON.stringify(fullHeader))}.${base64url(JSON.stringify(payload))}`;
      const signature = await this.veramo.keyManagerSign({
        keyRef: managed.signingKeyId,
        algorithm: "ES256K",
        data: input,
        encoding: "utf-8",
      });
      return `${input}.${signature}`;
    });
  }

  /** Raw ES256K signature (base64url r||s) over bytes, for libraries that build their own JWS (SD-JWT). */
  async signBytes(did: string, data: string): Promise<string> {
    if (typeof data !== "string") throw new InvalidIdentityInputError("data", "must be a string");
    return this.lifetime.run("signBytes", async () => {
      const managed = toManagedDid(await this.identifier(did, "did"));
      return this.veramo.keyManagerSign({ keyRef: managed.signingKeyId, algorithm: "ES256K", data, encoding: "utf-8" });
    });
  }

  /** Public key (uncompressed hex) of the DID's signing key. */
  async signingPublicKeyHex(did: string): Promise<string> {
    return this.lifetime.run("signingPublicKeyHex", async () => {
      const managed = toManagedDid(await this.identifier(did, "did"));
      return (await this.veramo.keyManagerGet({ kid: managed.signingKeyId })).publicKeyHex;
    });
  }

  /** The DID's signing key as a public JWK (for SD-JWT `cnf` holder binding). */
  async signingPublicJwk(did: string): Promise<{ kty: "EC"; crv: "secp256k1"; x: string; y: string }> {
    const hexKey = (await this.signingPublicKeyHex(did)).replace(/^0x/, "");
    const uncompressed = SigningKey.computePublicKey(`0x${hexKey}`, false);
    const bytes = Buffer.from(uncompressed.slice(2), "hex");
    return {
      kty: "EC",
      crv: "secp256k1",
      x: bytes.subarray(1, 33).toString("base64url"),
      y: bytes.subarray(33, 65).toString("base64url"),
    };
  }

  /**
   * Closes the agent: calls still pending fail with AgentClosedError, later calls too. Safe at any moment and
   * more than once (every call returns the same promise).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.lifetime.close();
      await this.resolver.close();
      this.provider.destroy();
      this.db.close();
    })();
    return this.closing;
  }

  private async identifier(did: string, field: string): Promise<IIdentifier> {
    if (typeof did !== "string" || !did.startsWith("did:") || did.length > MAX_DID_LENGTH)
      throw new InvalidIdentityInputError(field, "must be a DID (did:ethr:… or did:key:…)");
    try {
      return await this.veramo.didManagerGet({ did });
    } catch (error) {
      if (this.lifetime.closed) throw error;
      throw new KeyNotFoundError(
        `this agent holds no key for ${truncate(did)} (create it with createDid or importEthrDid, or use a DID ` +
          "from listDids)",
        { field },
      );
    }
  }

  /**
   * A registry write by the DID's owner key: bounded by writeTimeoutMs, cancelled by close(), failures
   * translated (no funds, revert, chain unreachable), and the DID's cached document dropped afterwards.
   */
  private write<T>(
    operation: string,
    did: string,
    send: (controller: EthrDID, identifier: IIdentifier) => Promise<T>,
  ): Promise<T> {
    return this.lifetime.run(
      operation,
      async () => {
        const identifier = await this.identifier(did, "did");
        const { controller, owner } = await this.controller(identifier);
        try {
          return await send(controller, identifier);
        } catch (error) {
          throw chainWriteError(operation, owner, error);
        } finally {
          this.resolver.invalidate(did);
        }
      },
      {
        ms: this.writeTimeoutMs,
        error: () => new TransactionFailedError(undefined, `${operation}: not mined within ${this.writeTimeoutMs} ms`),
      },
    );
  }

  private async controller(identifier: IIdentifier): Promise<{ controller: EthrDID; owner: string }> {
    if (!identifier.did.startsWith("did:ethr:"))
      throw new InvalidIdentityInputError(
        "did",
        "only a did:ethr has keys and delegates on-chain (a did:key document is fixed by its key)",
      );
    if (!identifier.controllerKeyId) throw new KeyNotFoundError(`${identifier.did} has no controller key`);
    const key = await this.veramo.keyManagerGet({ kid: identifier.controllerKeyId });
    const context = { agent: this.veramo } as unknown as IAgentContext<IKeyManager>;
    const controller = new EthrDID({
      identifier: identifier.did,
      provider: this.provider,
      chainNameOrId: this.network.chainId,
      registry: this.network.registry,
      txSigner: new this.runtime.didProviderEthr.KmsEthereumSigner(key, context, this.provider),
    });
    return { controller, owner: addressOfKey(key) };
  }
}

function isSecretBoxKey(value: unknown): value is string {
  return typeof value === "string" && SECRET_BOX_KEY.test(value);
}

function optionalAlias(alias: unknown): string | undefined {
  if (alias === undefined) return undefined;
  if (typeof alias !== "string" || alias.length === 0 || alias.length > 256)
    throw new InvalidIdentityInputError("alias", "must be a non-empty string of at most 256 characters");
  return alias;
}

function validitySeconds(value: number | undefined): number {
  if (value === undefined) return YEAR;
  if (!Number.isSafeInteger(value) || value <= 0 || value > MAX_VALIDITY_SECONDS)
    throw new InvalidIdentityInputError("validitySeconds", "must be a whole number of seconds, 1 to 100 years");
  return value;
}

function checkX25519PublicKey(publicKey: unknown, field: string): asserts publicKey is Uint8Array {
  try {
    assertX25519PublicKey(publicKey);
  } catch (error) {
    throw new InvalidIdentityInputError(field, errorMessage(error));
  }
}

function checkAddress(value: unknown, field: string): string {
  if (typeof value !== "string" || !isAddress(value))
    throw new InvalidIdentityInputError(field, "must be an Ethereum address (0x + 40 hex characters)");
  return getAddress(value);
}

function checkDelegateType(type: unknown): EthrDelegateType {
  if (type !== undefined && type !== "veriKey" && type !== "sigAuth")
    throw new InvalidIdentityInputError("type", 'must be "veriKey" or "sigAuth"');
  return delegateType(type);
}

function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** ethers' errors of a registry write, as this package's typed errors. */
function chainWriteError(operation: string, owner: string, error: unknown): HygeiaIdentityError {
  if (error instanceof HygeiaIdentityError) return error;
  const detail = truncate((error as { shortMessage?: string }).shortMessage ?? errorMessage(error), 200);
  if (isError(error, "INSUFFICIENT_FUNDS"))
    return new TransactionFailedError(undefined, `${operation}: the DID owner ${owner} cannot pay for gas (fund it)`, {
      cause: error,
    });
  if (isError(error, "CALL_EXCEPTION"))
    return new TransactionFailedError(error.receipt?.hash, `${operation}: reverted (${detail})`, { cause: error });
  if (isError(error, "NETWORK_ERROR") || isError(error, "SERVER_ERROR") || isError(error, "TIMEOUT"))
    return new IdentityChainUnavailableError(`${operation}: chain unreachable (${detail})`, { cause: error });
  return new TransactionFailedError(undefined, `${operation}: ${detail}`, { cause: error });
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
