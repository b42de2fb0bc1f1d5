// The identity agent: a Veramo agent (key manager over kms-local with encrypted private keys, DID manager for
// did:ethr and did:key, W3C JWT credentials) behind a small typed facade, so the rest of Hygeia never handles
// Veramo types.
//
// Rules:
// - Every public method throws only this package's typed errors (HygeiaIdentityError subclasses): inputs are
//   checked first, and Veramo / ethers / did-jwt failures are translated.
// - close() is clean at any moment, also twice and during pending calls: those fail with AgentClosedError.
// - A persistent key store opens only with the SecretBox key it was created with (WrongSecretBoxKeyError).
// - Several processes may share one key store (stores/sqlite.ts): writes wait for each other up to busyTimeoutMs,
//   then DatabaseBusyError; no raw SQLite error escapes.
// - A key store file replaced (a backup restored over it) or removed while open is never written
//   (stores/sqlite.ts): writes and close() fail with DatabaseError instead.
// - Nothing is read from or sent to a chain other than network.chainId, or a registry address without code
//   (ChainCheck, at the first call that needs the chain).
// - Registry writes of one DID run one at a time in an agent, and each owner account's transactions get
//   consecutive nonces (registry-writer.ts); every write is bounded by writeTimeoutMs.
// - publishEncryptionKey leaves the DID with exactly one key, also when another agent holding the same DID (a
//   second device) publishes at the same time: each publisher re-reads the chain, revokes only keys ranked below
//   its own, publishes again when the other's revokes removed its key, and reports superseded when the other's
//   key was published after its own (settleOnlyKey). It never reports success while the DID lists no key.
import { randomBytes } from "node:crypto";
import { setTimeout } from "node:timers/promises";
import type { ICredentialPlugin, IDIDManager, IIdentifier, IKey, IKeyManager, IResolver } from "@veramo/core";
import { SigningKey, computeAddress, getAddress, isAddress, type JsonRpcProvider } from "ethers";
import { MAX_TIMEOUT_MS } from "@hygeia/chain/browser";
import type { DIDDocument } from "did-resolver";
import { assertX25519PublicKey } from "@hygeia/crypto";
import {
  HygeiaIdentityError,
  InvalidIdentityInputError,
  KeyNotFoundError,
  TransactionFailedError,
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
import { DEFAULT_BUSY_TIMEOUT_MS, type SqliteDatabase } from "../stores/sqlite.ts";
import { RegistryWriter, WriteQueue } from "./registry-writer.ts";
import { optionsArgument } from "../arguments.ts";
import { registerVeramo, type VeramoAgent } from "./internal.ts";
import { Lifetime } from "./lifetime.ts";
import { loadVeramo } from "./veramo-runtime.ts";
import { ethrDidPrefix, networkProvider, validateEthrNetwork, type EthrNetwork } from "./network.ts";
import { CachedDidResolver, MAX_DID_LENGTH } from "./resolver.ts";
import { encryptionKeysOf, sameKey, type EncryptionKeyRef } from "./encryption-keys.ts";

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
  /** Longest a DID resolution may take before it fails (UnresolvableDidError); default 30 s. */
  resolveTimeoutMs?: number;
  /** Follow registry events to invalidate cached documents (default true). */
  watchRegistry?: boolean;
  /** How long a registry write may take, sent and mined (default 120 s); then TransactionFailedError. */
  writeTimeoutMs?: number;
  /**
   * How long a key store write waits while another process sharing the databasePath writes (default 10 s);
   * then DatabaseBusyError.
   */
  busyTimeoutMs?: number;
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

/**
 * What a registry write changed on-chain: the transactions sent and mined, in order. `changed: false` with no
 * transactions when the chain was already in the asked state (a revoke of a key or delegate that is not there, a
 * publish of the key that is already current): nothing was sent and nothing was paid.
 */
export interface RegistryWriteResult {
  readonly changed: boolean;
  readonly transactions: readonly string[];
}

/** What publishing changed on-chain (none when the key was already current). */
export interface PublishEncryptionKeyResult extends RegistryWriteResult {
  /**
   * publishEncryptionKey only: another agent holding the same DID (a second device) published a key that was
   * mined after this one, so that key is current now and this one is (or is about to be) revoked by it.
   */
  readonly superseded: boolean;
}

/** X25519 keys are published as `did/pub/X25519/enc/base64` (docs/architecture.md, onboarding). */
const X25519_ATTRIBUTE = "did/pub/X25519/enc/base64";
const YEAR = 365 * 86400;
const MAX_VALIDITY_SECONDS = 100 * YEAR;
const SECRET_BOX_KEY = /^[0-9a-fA-F]{64}$/;
/** Read-and-fix rounds of a publish racing another device (settleOnlyKey); one is enough without a race. */
const SETTLE_ROUNDS = 12;
/** Mean pause before publishing again after the other device's revoke removed our key (× the round), in ms. */
const SETTLE_PAUSE_MS = 200;

export class IdentityAgent {
  private readonly veramo: VeramoAgent;
  readonly resolver: CachedDidResolver;
  readonly network: EthrNetwork;
  readonly provider: JsonRpcProvider;
  private readonly db: SqliteDatabase;
  private readonly didStore: SqliteDidStore;
  private readonly lifetime: Lifetime;
  private readonly writeTimeoutMs: number;
  private readonly writes = new WriteQueue();
  private closing: Promise<void> | undefined;

  private constructor(parts: {
    veramo: VeramoAgent;
    resolver: CachedDidResolver;
    network: EthrNetwork;
    provider: JsonRpcProvider;
    db: SqliteDatabase;
    didStore: SqliteDidStore;
    lifetime: Lifetime;
    writeTimeoutMs: number;
  }) {
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
   * Opens (or creates) the key store and sets up the provider, without contacting the node (a wallet works
   * offline until it needs the chain). The first call that needs the chain checks that the node is on
   * `network.chainId` and has the registry (WrongChainError, RegistryNotFoundError). Throws InvalidIdentityInputError for bad
   * options or a databasePath that cannot be opened (the message says why), WrongSecretBoxKeyError when an
   * existing store was sealed with another secretBoxKey, DatabaseBusyError when other processes kept the store
   * locked for longer than busyTimeoutMs.
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
    if (!Number.isSafeInteger(writeTimeoutMs) || writeTimeoutMs <= 0 || writeTimeoutMs > MAX_TIMEOUT_MS)
      throw new InvalidIdentityInputError(
        "writeTimeoutMs",
        `must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (a longer timer would fire at once)`,
      );
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0)
      throw new InvalidIdentityInputError("busyTimeoutMs", "must be a whole number of milliseconds (0 or more)");
    const runtime = await loadVeramo();
    const { KeyManagementSystem, SecretBox } = runtime.kmsLocal;
    const secretBox = new SecretBox(options.secretBoxKey ?? IdentityAgent.generateSecretBoxKey());
    const db = openIdentityDatabase(databasePath, { busyTimeoutMs });
    const cleanup: Array<() => unknown> = [() => db.close()];
    try {
      await verifySecretBoxKey(db, secretBox);
      const provider = networkProvider(network);
      cleanup.unshift(() => provider.destroy());
      const didStore = new SqliteDidStore(db);
      const resolver = await CachedDidResolver.create({
        network,
        provider,
        cacheTtlMs: options.resolverCacheTtlMs,
        resolveTimeoutMs: options.resolveTimeoutMs,
      });
      cleanup.unshift(() => resolver.close());
      const veramo = runtime.core.createAgent<IKeyManager & IDIDManager & IResolver & ICredentialPlugin>({
        plugins: [
          new runtime.keyManager.KeyManager({
            store: new SqliteKeyStore(db),
            kms: {
              local: new KeyManagementSystem(new SqliteEncryptedPrivateKeyStore(db, secretBox)),
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
      // Every step runs, and the error that made create() fail is the one reported.
      for (const step of cleanup)
        await Promise.resolve()
          .then(step)
          .catch(() => undefined);
      throw error;
    }
  }

  /** Creates a new DID with a fresh secp256k1 key (did:ethr on the configured chain, or did:key). */
  async createDid(given: { method?: DidMethod; alias?: string } = {}): Promise<ManagedDid> {
    const options = optionsArgument(given, "options", '{ method?: "ethr" | "key", alias? }');
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

  /**
   * The DID's current document. UnknownDidError / UnresolvableDidError; for a did:ethr also WrongChainError /
   * RegistryNotFoundError when the node is not the network's.
   */
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

  private async readEncryptionKeys(did: string, options: { fresh?: boolean } = {}): Promise<EncryptionKeyRef[]> {
    return encryptionKeysOf(did, await this.resolver.resolve(did, options));
  }

  /**
   * Makes `publicKey` the DID's current and only X25519 key (ERC-1056 attribute did/pub/X25519/enc/base64):
   * publishes it unless it is already current, then revokes every other key, so senders wrapping to
   * encryptionKeys(did) reach its holder only. Publishing the current key again sends nothing (unless `renew`).
   * Re-running onboarding with a new key therefore replaces the old one.
   *
   * Concurrent publishes of one DID in one agent run one after the other (the last call wins). When another
   * agent holding the same DID (a second device) publishes at the same time, one of the two keys ends alone:
   * each publisher re-reads the chain and revokes only keys ranked below its own, publishes its key again when
   * the other device's revokes removed it, and returns `superseded: true`, leaving the newer key alone, when the
   * other device's key was published after its own. It never returns success while the DID lists no key; after
   * 12 rounds of such a race it fails with TransactionFailedError.
   */
  async publishEncryptionKey(
    did: string,
    publicKey: Uint8Array,
    options: PublishEncryptionKeyOptions = {},
  ): Promise<PublishEncryptionKeyResult> {
    const checked = optionsArgument(options, "options", "{ validitySeconds?, renew? }");
    return this.putEncryptionKey("publishEncryptionKey", did, publicKey, { ...checked, keepPrevious: false });
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
    const checked = optionsArgument(options, "options", "{ validitySeconds?, renew? }");
    return this.putEncryptionKey("addEncryptionKey", did, publicKey, { ...checked, keepPrevious: true });
  }

  private async putEncryptionKey(
    operation: string,
    did: string,
    publicKey: Uint8Array,
    options: PublishEncryptionKeyOptions & { keepPrevious: boolean },
  ): Promise<PublishEncryptionKeyResult> {
    checkX25519PublicKey(publicKey, "publicKey");
    const validity = validitySeconds(options.validitySeconds);
    return this.write(operation, did, async (writer) => {
      // Decide on the chain's state, not a cached document.
      const before = await this.readEncryptionKeys(did, { fresh: true });
      const existing = before.find((key) => sameKey(key.publicKey, publicKey));
      const publish = () => writer.setAttribute(X25519_ATTRIBUTE, hex(publicKey), validity);
      if (!existing?.current || options.renew) await publish();
      const superseded = options.keepPrevious
        ? false
        : await this.settleOnlyKey(did, publicKey, before, writer, publish);
      return { changed: writer.mined.length > 0, transactions: [...writer.mined], superseded };
    });
  }

  /**
   * After publishing `publicKey`, leaves it the DID's only key, or finds that another agent holding the DID (a
   * second device) published its key after ours (returns true: superseded). Every decision is taken on a fresh
   * read made after this call's transactions so far are mined. A key's id is the rank of its set event
   * (encryption-keys.ts), so an id not in `before` is a key published during this call.
   * - Our key is current: revoke only the keys ranked below it, then read again.
   * - Another device's key published during this call is current: we are superseded, and send nothing more.
   * - No key, or a key older than this call is current: our key was revoked under us. ERC-1056 revokes by value,
   *   so the other device revoking our key's older entry also removed our fresh set (and ours theirs). Publish
   *   ours again and read again; but when we have seen the other device's key during this call, first pause and
   *   read once more, so that it (which may not know ours) publishes again first and we find ourselves
   *   superseded rather than both winning in turn. The pause is random: two devices that both wait part.
   * Why the end state holds when both devices' calls return: each call's last read comes after all its
   * transactions are mined, so nothing of either call is mined after the later of the two last reads, and the
   * chain stays as that read saw it: never empty (an empty read always leads to another publish). If that reader
   * won, its key is alone. If it was superseded, the current key is the other device's, whose call ended on a read
   * showing that key alone (it cannot have been superseded: the key that superseded it would be ours, still
   * current at our last read, as only we send after its last read and we never revoke our own key), and after it
   * only our revokes of other keys were mined: that key is alone too.
   * What a call cannot know: a publish of the other device mined after this call's last read. That is
   * indistinguishable from a later publish and wins like one: this call has returned superseded: false (its key
   * was alone when it returned), and the other call reports the win too.
   */
  private async settleOnlyKey(
    did: string,
    publicKey: Uint8Array,
    before: readonly EncryptionKeyRef[],
    writer: RegistryWriter,
    publish: () => Promise<string>,
  ): Promise<boolean> {
    const olderThanThisCall = new Set(before.map((key) => key.id));
    const ours = (key: EncryptionKeyRef) => sameKey(key.publicKey, publicKey);
    let rivalSeen = false;
    let waited = false;
    for (let round = 1; round <= SETTLE_ROUNDS; round++) {
      const listed = await this.readEncryptionKeys(did, { fresh: true });
      rivalSeen ||= listed.some((key) => !ours(key) && !olderThanThisCall.has(key.id));
      const current = listed[0];
      if (current && ours(current)) {
        if (listed.length === 1) return false;
        for (const key of listed.slice(1)) await writer.revokeAttribute(X25519_ATTRIBUTE, hex(key.publicKey));
      } else if (current && !olderThanThisCall.has(current.id)) {
        return true;
      } else if (rivalSeen && !waited) {
        waited = true;
        await setTimeout(SETTLE_PAUSE_MS * round * (0.5 + Math.random()));
      } else {
        waited = false;
        await publish();
      }
    }
    throw new TransactionFailedError(
      undefined,
      `publishEncryptionKey: another agent holding ${truncate(did)} (a second device) kept publishing at the same ` +
        `time; after ${SETTLE_ROUNDS} rounds this key is not yet the only one and nothing more is sent: ` +
        "read encryptionKeys(did) and publish again when the other device is done",
      { mined: [...writer.mined] },
    );
  }

  /**
   * Revokes a published X25519 key: the resolver stops listing it at once. A key the DID does not list (never
   * published, already revoked, expired) is left alone: nothing is sent and the result says `changed: false`, so
   * a wallet can revoke again after a timeout or from a second device without paying for a no-op.
   */
  async revokeEncryptionKey(did: string, publicKey: Uint8Array): Promise<RegistryWriteResult> {
    checkX25519PublicKey(publicKey, "publicKey");
    return this.write("revokeEncryptionKey", did, async (writer) => {
      // Decide on the chain's state, not a cached document.
      const listed = await this.readEncryptionKeys(did, { fresh: true });
      if (listed.some((key) => sameKey(key.publicKey, publicKey)))
        await writer.revokeAttribute(X25519_ATTRIBUTE, hex(publicKey));
      return { changed: writer.mined.length > 0, transactions: [...writer.mined] };
    });
  }

  /** Adds a delegate (`veriKey`: may sign for the DID; `sigAuth`: may also authenticate) for a while. */
  async addDelegate(
    did: string,
    delegate: string,
    given: { type?: "veriKey" | "sigAuth"; validitySeconds?: number } = {},
  ): Promise<string> {
    const options = optionsArgument(given, "options", '{ type?: "veriKey" | "sigAuth", validitySeconds? }');
    const address = checkAddress(delegate, "delegate");
    const type = checkDelegateType(options.type);
    const expiresIn = validitySeconds(options.validitySeconds);
    return this.write("addDelegate", did, (writer) => writer.addDelegate(type, address, expiresIn));
  }

  /**
   * Revokes a delegate of that type. One the registry does not hold as valid (never added, already revoked,
   * expired) is left alone: nothing is sent and the result says `changed: false`.
   */
  async revokeDelegate(
    did: string,
    delegate: string,
    type: "veriKey" | "sigAuth" = "veriKey",
  ): Promise<RegistryWriteResult> {
    const address = checkAddress(delegate, "delegate");
    const checkedType = checkDelegateType(type);
    return this.write("revokeDelegate", did, async (writer) => {
      if (await writer.isValidDelegate(checkedType, address)) await writer.revokeDelegate(checkedType, address);
      return { changed: writer.mined.length > 0, transactions: [...writer.mined] };
    });
  }

  /**
   * Key rotation: makes a fresh key of this agent the DID's owner on-chain. The DID stays the same; the old key
   * can no longer sign for it.
   */
  async rotateOwnerKey(did: string): Promise<ManagedDid> {
    return this.write("rotateOwnerKey", did, async (writer, identifier) => {
      const next = await this.veramo.keyManagerCreate({ kms: "local", type: "Secp256k1" });
      await writer.changeOwner(addressOfKey(next));
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
   * more than once (every call returns the same promise). When the key store file was replaced or removed while
   * open, everything is still released and the promise rejects with DatabaseError saying so.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.lifetime.close();
      // Destroy the provider first: a poll in flight on a node that stopped answering then fails at once (the
      // watcher catches it) instead of holding close() until ethers' 300 s request timeout.
      this.provider.destroy();
      await this.resolver.close();
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
   * A registry write by the DID's owner key: queued behind this agent's other writes of the DID, bounded by
   * writeTimeoutMs, cancelled by close(), failures said as they happened, and the DID's cached document dropped
   * afterwards. Once the caller has its answer the writer sends nothing more.
   */
  private write<T>(
    operation: string,
    did: string,
    work: (writer: RegistryWriter, identifier: IIdentifier) => Promise<T>,
  ): Promise<T> {
    let writer: RegistryWriter | undefined;
    let started = false;
    const notSent = (why: string) =>
      new TransactionFailedError(undefined, `${operation}: nothing was sent within ${this.writeTimeoutMs} ms (${why})`);
    const result = this.lifetime.run(
      operation,
      // The owner is read in the queue: a rotateOwnerKey queued before this write changes it.
      () =>
        this.writes.run(typeof did === "string" ? did.toLowerCase() : "", async () => {
          started = true;
          const identifier = await this.identifier(did, "did");
          const { owner, kid } = await this.owner(identifier);
          const current = new RegistryWriter({
            operation,
            provider: this.provider,
            registry: this.network.registry,
            identity: identifier.did.split(":").pop()!,
            owner,
            signing: (unsignedSerialized) =>
              this.veramo.keyManagerSign({
                keyRef: kid,
                algorithm: "eth_signTransaction",
                data: unsignedSerialized,
                encoding: "base16",
              }),
            timeoutMs: this.writeTimeoutMs,
          });
          writer = current;
          try {
            // Never sign for another chain, or send to an address without the registry.
            await this.resolver.checkChain();
            return await work(current, identifier);
          } catch (error) {
            throw current.failure(error);
          } finally {
            this.resolver.invalidate(did);
          }
        }),
      {
        ms: this.writeTimeoutMs,
        error: () => {
          if (writer) return writer.timeout(this.writeTimeoutMs);
          return notSent(started ? "still reading the DID's owner key" : "waiting for an earlier write of this DID");
        },
      },
    );
    return result.finally(() => writer?.stop());
  }

  /** The DID's current owner key: the address that signs its registry writes, and its key id. */
  private async owner(identifier: IIdentifier): Promise<{ owner: string; kid: string }> {
    if (!identifier.did.startsWith("did:ethr:"))
      throw new InvalidIdentityInputError(
        "did",
        "only a did:ethr has keys and delegates on-chain (a did:key document is fixed by its key)",
      );
    if (!identifier.controllerKeyId) throw new KeyNotFoundError(`${identifier.did} has no controller key`);
    const key = await this.veramo.keyManagerGet({ kid: identifier.controllerKeyId });
    return { owner: addressOfKey(key), kid: key.kid };
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

function checkDelegateType(type: unknown): "veriKey" | "sigAuth" {
  if (type !== undefined && type !== "veriKey" && type !== "sigAuth")
    throw new InvalidIdentityInputError("type", 'must be "veriKey" or "sigAuth"');
  return type ?? "veriKey";
}

function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
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
