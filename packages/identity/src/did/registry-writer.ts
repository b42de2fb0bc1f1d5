// Registry writes (ERC-1056) of one DID, signed by the owner key held in the agent's key manager and sent through
// @hygeia/chain's TransactionSender.
//
// Rules:
// - One write of a DID at a time per agent (WriteQueue): a read-decide-write such as publishEncryptionKey never
//   interleaves with another write of the same DID, so the second sees the first's result.
// - One nonce lane per owner account per agent (the sender's lanes are per provider and address, and each agent
//   has its own provider): concurrent writes of one account get consecutive nonces, a write is simulated before
//   it takes a nonce, and a nonce taken by another process (a second device) is retried with a fresh one.
// - Once the caller has its answer (done, failed, timed out, agent closed) the writer sends nothing more.
// - Every failure says what happened, from what the writer saw: nothing sent, or which transaction was sent and
//   then not mined / reverted / replaced, and which of the call's transactions were mined before it.
import {
  AbstractSigner,
  Interface,
  Transaction,
  getAddress,
  isError,
  zeroPadBytes,
  toUtf8Bytes,
  type JsonRpcProvider,
  type Provider,
  type TransactionLike,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
} from "ethers";
import {
  ChainUnavailableError,
  ContractRevertError,
  EthereumDIDRegistryAbi,
  HygeiaChainError,
  TransactionReplacedError,
  TransactionSender,
  TransactionTimeoutError,
  networkFailureReason,
} from "@hygeia/chain/browser";
import {
  HygeiaIdentityError,
  IdentityChainUnavailableError,
  TransactionFailedError,
  errorMessage,
  truncate,
} from "../errors.ts";

const registryInterface = new Interface(EthereumDIDRegistryAbi);
const GAS_LIMIT = 200_000n;
/** How often a write polls for its receipt (the agent's provider polls at the same pace). */
const POLL_INTERVAL_MS = 250;
/** Bound on preparing and on broadcasting one transaction (each), within the write's overall bound. */
const SEND_TIMEOUT_MS = 30_000;

/** Signs with a key of the agent's key manager: `sign` gets the unsigned serialized transaction. */
export type TransactionSigning = (unsignedSerialized: string) => Promise<string>;

/**
 * An ethers Signer over the agent's key manager (Veramo's KmsEthereumSigner expects an ethers Transaction where
 * the TransactionSender hands a plain request). Its address is known synchronously, so the sender queues each
 * write in its account's lane at call time.
 */
class KeyManagerSigner extends AbstractSigner {
  readonly address: string;
  private readonly signing: TransactionSigning;
  private readonly onSigned: (hash: string) => void;

  constructor(address: string, signing: TransactionSigning, provider: Provider, onSigned: (hash: string) => void) {
    super(provider);
    this.address = getAddress(address);
    this.signing = signing;
    this.onSigned = onSigned;
  }

  async getAddress(): Promise<string> {
    return this.address;
  }

  connect(provider: Provider | null): KeyManagerSigner {
    if (!provider) throw new TypeError("KeyManagerSigner needs a provider");
    return new KeyManagerSigner(this.address, this.signing, provider, this.onSigned);
  }

  async signTransaction(request: TransactionRequest): Promise<string> {
    const { from, ...fields } = request;
    if (from != null && getAddress(String(from)) !== this.address)
      throw new TypeError(`transaction from ${String(from)} is not the owner ${this.address}`);
    const unsigned = Transaction.from(fields as TransactionLike<string>);
    const signed = await this.signing(unsigned.unsignedSerialized);
    this.onSigned(Transaction.from(signed).hash!);
    return signed;
  }

  signMessage(): Promise<string> {
    return Promise.reject(new TypeError("KeyManagerSigner only signs registry transactions"));
  }

  signTypedData(
    _domain: TypedDataDomain,
    _types: Record<string, TypedDataField[]>,
    _value: Record<string, unknown>,
  ): Promise<string> {
    return Promise.reject(new TypeError("KeyManagerSigner only signs registry transactions"));
  }
}

export interface RegistryWriterParts {
  operation: string;
  provider: JsonRpcProvider;
  registry: string;
  /** The DID's identity address (the one in the DID). */
  identity: string;
  /** The current owner's address and a way to sign with its key. */
  owner: string;
  signing: TransactionSigning;
  /** Bound on each transaction's inclusion. */
  timeoutMs: number;
}

/** The registry calls of one write, in order; remembers what it sent and what was mined. */
export class RegistryWriter {
  readonly operation: string;
  readonly owner: string;
  /** Hashes of this write's transactions that were mined, in order. */
  readonly mined: string[] = [];
  private readonly registry: string;
  private readonly identity: string;
  private readonly provider: JsonRpcProvider;
  private readonly sender: TransactionSender;
  /** The transaction signed last and not yet known to be mined (undefined when none is in flight). */
  private inFlight: string | undefined;
  private stopped = false;

  constructor(parts: RegistryWriterParts) {
    this.operation = parts.operation;
    this.owner = getAddress(parts.owner);
    this.registry = parts.registry;
    this.identity = getAddress(parts.identity);
    this.provider = parts.provider;
    const signer = new KeyManagerSigner(parts.owner, parts.signing, parts.provider, (hash) => {
      this.inFlight = hash;
    });
    this.sender = new TransactionSender(signer, {
      sendTimeoutMs: Math.min(SEND_TIMEOUT_MS, parts.timeoutMs),
      inclusionTimeoutMs: parts.timeoutMs,
      pollIntervalMs: POLL_INTERVAL_MS,
    });
  }

  setAttribute(name: string, valueHex: string, validitySeconds: number): Promise<string> {
    return this.send("setAttribute", [this.identity, bytes32(name), valueHex, validitySeconds]);
  }

  revokeAttribute(name: string, valueHex: string): Promise<string> {
    return this.send("revokeAttribute", [this.identity, bytes32(name), valueHex]);
  }

  addDelegate(type: string, delegate: string, validitySeconds: number): Promise<string> {
    return this.send("addDelegate", [this.identity, bytes32(type), delegate, validitySeconds]);
  }

  revokeDelegate(type: string, delegate: string): Promise<string> {
    return this.send("revokeDelegate", [this.identity, bytes32(type), delegate]);
  }

  /** Whether the registry holds `delegate` as a valid delegate of this type now (a read, nothing sent). */
  async isValidDelegate(type: string, delegate: string): Promise<boolean> {
    const data = registryInterface.encodeFunctionData("validDelegate", [this.identity, bytes32(type), delegate]);
    const result = await this.provider.call({ to: this.registry, data });
    return registryInterface.decodeFunctionResult("validDelegate", result)[0] === true;
  }

  changeOwner(newOwner: string): Promise<string> {
    return this.send("changeOwner", [this.identity, newOwner]);
  }

  /** The caller has its answer: refuse to send anything more. */
  stop(): void {
    this.stopped = true;
  }

  /** This write's failure as the typed error that says what happened. */
  failure(error: unknown): HygeiaIdentityError {
    if (error instanceof HygeiaIdentityError) return error;
    const options = { cause: error, mined: [...this.mined] };
    const op = this.operation;
    if (isError(error, "INSUFFICIENT_FUNDS"))
      return new TransactionFailedError(
        undefined,
        `${op}: nothing was sent: the DID owner ${this.owner} cannot pay for gas (fund it)`,
        options,
      );
    if (error instanceof ContractRevertError) {
      const minedHash = error.args["transactionHash"];
      if (typeof minedHash === "string")
        return new TransactionFailedError(
          minedHash,
          `${op}: transaction ${minedHash} was mined but reverted (the DID's owner changed meanwhile?)`,
          options,
        );
      return new TransactionFailedError(
        undefined,
        `${op}: nothing was sent: the registry refuses it (${error.message}; is ${this.owner} still the DID's owner?)`,
        options,
      );
    }
    // The sender's own inclusion bound can fire before this writer's writeTimeoutMs timer (they race on a loaded
    // machine): say the same thing either way.
    if (error instanceof TransactionTimeoutError && error.hash !== undefined)
      return new TransactionFailedError(
        error.hash,
        `${op}: transaction ${error.hash} was signed and handed to the node but not mined within the sender's bound (${error.message}); ` +
          "it may still be mined: check it before retrying",
        options,
      );
    if (error instanceof TransactionTimeoutError || error instanceof TransactionReplacedError)
      return new TransactionFailedError(error.hash, error.message, options);
    if (error instanceof ChainUnavailableError)
      return new IdentityChainUnavailableError(error.message, { cause: error });
    const unreachable = networkFailureReason(error);
    if (unreachable) {
      const state = this.inFlight
        ? `transaction ${this.inFlight} was signed and handed to the node, which then became unavailable; ` +
          `it may still be mined: check it before retrying`
        : "nothing was sent";
      return new IdentityChainUnavailableError(`${op}: chain unreachable (${unreachable}); ${state}`, {
        cause: error,
      });
    }
    const detail = truncate(
      error instanceof HygeiaChainError
        ? error.message
        : ((error as { shortMessage?: string }).shortMessage ?? errorMessage(error)),
      200,
    );
    return new TransactionFailedError(this.inFlight, `${op}: ${this.state()}: ${detail}`, options);
  }

  /** The error for a write that did not finish within `timeoutMs` (its transaction may still be mined). */
  timeout(timeoutMs: number): TransactionFailedError {
    const op = this.operation;
    const options = { mined: [...this.mined] };
    if (this.inFlight)
      return new TransactionFailedError(
        this.inFlight,
        `${op}: transaction ${this.inFlight} was signed and handed to the node but not mined within ${timeoutMs} ms; ` +
          "it may still be mined: check it before retrying",
        options,
      );
    return new TransactionFailedError(
      undefined,
      `${op}: nothing was sent within ${timeoutMs} ms (the chain node did not answer in time)`,
      options,
    );
  }

  private state(): string {
    return this.inFlight ? `transaction ${this.inFlight} was signed and handed to the node, then` : "nothing was sent";
  }

  private async send(method: string, args: readonly unknown[]): Promise<string> {
    if (this.stopped) throw new TransactionFailedError(undefined, `${this.operation}: cancelled before ${method}`);
    const { hash } = await this.sender.send(
      { to: this.registry, data: registryInterface.encodeFunctionData(method, args), gasLimit: GAS_LIMIT },
      { operation: `${this.operation} (${method})`, abi: registryInterface },
    );
    this.inFlight = undefined;
    this.mined.push(hash);
    return hash;
  }
}

/** ethr-did's encoding of attribute names and delegate types: UTF-8, cut or zero-padded to 32 bytes. */
function bytes32(text: string): string {
  return zeroPadBytes(toUtf8Bytes(text).slice(0, 32), 32);
}

/** Runs jobs one at a time per key (a DID), in call order; a failed job does not block the next. */
export class WriteQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, job: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(job);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    // Forget the key once nothing is queued behind this job.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
