/**
 * Typed client of the StudyRegistry contract: researchers register IRB-approved studies; the researcher or the
 * IRB closes them. Study details (protocol, approval, encryption key, requested scopes) live in the
 * StudyRegistered event; `details()` reads them and checks them against the detailsHash the contract stores.
 */
import { AbiCoder, Interface, getAddress, hexlify, keccak256, toUtf8Bytes, type Log } from "ethers";
import { InvalidInputError, requireBytes32, requireNonZeroAddress, requireSmallUint, requireUint } from "../errors.ts";
import { StudyRegistryAbi } from "../generated/StudyRegistry.ts";
import { toChainError } from "./chain-errors.ts";
import * as node from "./node-reads.ts";
import {
  ContractClient,
  logPosition,
  type BlockTag,
  type ClientOptions,
  type ClientRunner,
  type LogPosition,
  type TxOptions,
  type TxOutcome,
} from "./base.ts";

/** Most scopes one study may request (the contract's MAX_SCOPES). */
export const MAX_STUDY_SCOPES = 32;

export interface StudyRegistration {
  /**
   * Any 32 bytes of the researcher's choosing (studySalt("diabetes-2026") for a readable one): the study's id is
   * keccak256(abi.encode(researcher, salt)) (studyIdFor), so no one else can take it first.
   */
  salt: string;
  /** Hash of the study protocol document (bytes32). */
  protocolHash: string;
  /** Hash of the EthicsApprovalCredential as issued (bytes32). */
  approvalHash: string;
  /** The IRB that issued the approval: accredited for the IRB role in the TrustRegistry now. */
  irb: string;
  /** The study's X25519 public key, 32 bytes (contributions are sealed to it). */
  encryptionKey: string | Uint8Array;
  /** Unix seconds; after it the study is no longer open. */
  endsAt: bigint | number;
  /** Canonical scope strings the study asks for ("fhir:Observation", "category:laboratory", ...). */
  scopes: readonly string[];
}

export interface StudyState {
  readonly researcher: string;
  readonly irb: string;
  readonly endsAt: bigint;
  readonly registeredAt: bigint;
  readonly closed: boolean;
  readonly detailsHash: string;
}

export interface StudyDetails {
  readonly studyId: string;
  readonly researcher: string;
  readonly irb: string;
  readonly protocolHash: string;
  readonly approvalHash: string;
  readonly encryptionKey: string;
  readonly endsAt: bigint;
  /** keccak256 of each requested canonical scope string, ascending (scopeHash). */
  readonly scopeHashes: readonly string[];
  readonly position: LogPosition;
}

export type StudyEvent =
  | ({ readonly type: "StudyRegistered" } & StudyDetails)
  | { readonly type: "StudyClosed"; readonly studyId: string; readonly by: string; readonly closedAt: bigint };

export interface StudyRegistryOptions extends ClientOptions {
  /** First block to search for registrations (the deployment block); default 0. */
  fromBlock?: number;
  /** Largest eth_getLogs range; default 10,000. */
  maxBlockRange?: number;
}

const studyInterface = new Interface(StudyRegistryAbi);
const REGISTERED_TOPIC = studyInterface.getEvent("StudyRegistered")!.topicHash;
const coder = AbiCoder.defaultAbiCoder();

/** The hash a study's request names a scope by: keccak256 of the canonical scope string (public vocabulary). */
export function scopeHash(scope: string): string {
  if (typeof scope !== "string" || scope.length === 0 || scope.length > 200 || /\s/.test(scope))
    throw new InvalidInputError(
      "scope",
      `expected a canonical scope string such as "fhir:Observation", got ${typeof scope}`,
    );
  return keccak256(toUtf8Bytes(scope));
}

/** A registration salt from a readable slug ("diabetes-2026"): keccak256 of it. */
export function studySalt(slug: string): string {
  if (typeof slug !== "string" || !/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(slug) || slug.startsWith("0x"))
    throw new InvalidInputError("slug", "expected a slug of [a-z0-9-] (1-64 characters, not starting with 0x)");
  return keccak256(toUtf8Bytes(slug));
}

/**
 * The id a study registered by `researcher` with `salt` gets (the contract's studyIdOf): the 0x-hex id the
 * patient's `study:<id>` scope names.
 */
export function studyIdFor(researcher: string, salt: string): string {
  return keccak256(
    coder.encode(
      ["address", "bytes32"],
      [requireNonZeroAddress(researcher, "researcher"), requireBytes32(salt, "salt")],
    ),
  );
}

/**
 * The `approvalHash` a registration names: keccak256 of the EthicsApprovalCredential exactly as the IRB issued it
 * (the JWT's UTF-8 bytes), so a gateway shown the credential can tell it is the one registered.
 */
export function studyApprovalHash(credential: string): string {
  if (typeof credential !== "string" || credential.length === 0)
    throw new InvalidInputError("credential", "expected the approval credential as issued (a JWT string)");
  return keccak256(toUtf8Bytes(credential));
}

/** What the contract's detailsHash binds: keccak256(abi.encode(protocolHash, approvalHash, encryptionKey, scopes)). */
export function studyDetailsHash(
  details: Pick<StudyDetails, "protocolHash" | "approvalHash" | "encryptionKey" | "scopeHashes">,
): string {
  return keccak256(
    coder.encode(
      ["bytes32", "bytes32", "bytes32", "bytes32[]"],
      [details.protocolHash, details.approvalHash, details.encryptionKey, details.scopeHashes],
    ),
  );
}

function nonZeroBytes32(value: unknown, field: string): string {
  const checked = requireBytes32(value, field).toLowerCase();
  if (/^0x0{64}$/.test(checked)) throw new InvalidInputError(field, "must not be zero");
  return checked;
}

export class StudyRegistryClient extends ContractClient<StudyEvent> {
  private readonly fromBlock: number;
  private readonly maxBlockRange: number;

  constructor(address: string, runner: ClientRunner, options: StudyRegistryOptions = {}) {
    super("StudyRegistry", address, StudyRegistryAbi, runner, options);
    this.fromBlock = requireSmallUint(options.fromBlock ?? 0, 48, "fromBlock");
    this.maxBlockRange = requireSmallUint(options.maxBlockRange ?? 10_000, 32, "maxBlockRange");
    if (this.maxBlockRange === 0) throw new InvalidInputError("maxBlockRange", "must be at least 1");
  }

  connect(runner: ClientRunner): StudyRegistryClient {
    return new StudyRegistryClient(this.address, runner, {
      fromBlock: this.fromBlock,
      maxBlockRange: this.maxBlockRange,
      readTimeoutMs: this.readTimeoutMs,
    });
  }

  protected parseEvent(log: Log): StudyEvent | undefined {
    const parsed = studyInterface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed?.name === "StudyRegistered") return { type: "StudyRegistered", ...toDetails(log) };
    if (parsed?.name === "StudyClosed") {
      const [studyId, by, closedAt] = parsed.args as unknown as [string, string, bigint];
      return { type: "StudyClosed", studyId: studyId.toLowerCase(), by: getAddress(by), closedAt };
    }
    return undefined;
  }

  /** Registers a study for the sender. Scopes are hashed and sorted here, as the contract requires. */
  register(registration: StudyRegistration, options?: TxOptions): Promise<TxOutcome<StudyEvent>> {
    if (typeof registration !== "object" || registration === null)
      throw new InvalidInputError(
        "registration",
        "expected { studyId, protocolHash, approvalHash, irb, encryptionKey, endsAt, scopes }",
      );
    const { scopes } = registration;
    if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > MAX_STUDY_SCOPES)
      throw new InvalidInputError("scopes", `expected 1 to ${MAX_STUDY_SCOPES} canonical scope strings`);
    const hashes = [...new Set(scopes.map(scopeHash))].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const key =
      registration.encryptionKey instanceof Uint8Array
        ? hexlify(registration.encryptionKey)
        : registration.encryptionKey;
    const args = {
      salt: requireBytes32(registration.salt, "salt"),
      protocolHash: nonZeroBytes32(registration.protocolHash, "protocolHash"),
      approvalHash: nonZeroBytes32(registration.approvalHash, "approvalHash"),
      irb: requireNonZeroAddress(registration.irb, "irb"),
      encryptionKey: nonZeroBytes32(key, "encryptionKey"),
      endsAt: requireUint(registration.endsAt, 64, "endsAt"),
      scopes: hashes,
    };
    return this.write("register", [args], options);
  }

  /** Closes a study for good (its researcher or its IRB). */
  close(studyId: string, options?: TxOptions): Promise<TxOutcome<StudyEvent>> {
    return this.write("close", [nonZeroBytes32(studyId, "studyId")], options);
  }

  /** The stored study, or null when no study has that id. */
  async studyOf(studyId: string, blockTag?: BlockTag): Promise<StudyState | null> {
    // One struct output: read() hands back the struct itself.
    const study = await this.read<[string, bigint, boolean, string, bigint, string]>(
      "studyOf",
      [requireBytes32(studyId, "studyId")],
      blockTag,
    );
    const [researcher, endsAt, closed, irb, registeredAt, detailsHash] = study;
    if (BigInt(researcher) === 0n) return null;
    return { researcher: getAddress(researcher), irb: getAddress(irb), endsAt, registeredAt, closed, detailsHash };
  }

  async isOpen(studyId: string, blockTag?: BlockTag): Promise<boolean> {
    return this.read<boolean>("isOpen", [requireBytes32(studyId, "studyId")], blockTag);
  }

  /**
   * The study's registered details, read from its StudyRegistered event and checked against the stored
   * detailsHash (a node that returns another log is caught); null when no study has that id.
   */
  async details(studyId: string): Promise<StudyDetails | null> {
    const id = requireBytes32(studyId, "studyId").toLowerCase();
    const state = await this.studyOf(id);
    if (state === null) return null;
    const operation = "StudyRegistry.details";
    try {
      const head = await this.ask(node.blockNumber(this.provider), operation);
      for (let from = this.fromBlock; from <= head; from += this.maxBlockRange) {
        const to = Math.min(head, from + this.maxBlockRange - 1);
        const logs = await this.ask(
          this.provider.getLogs({
            address: this.address,
            topics: [REGISTERED_TOPIC, id],
            fromBlock: from,
            toBlock: to,
          }),
          operation,
        );
        for (const log of logs) {
          const details = toDetails(log);
          if (
            details.studyId === id &&
            details.researcher === state.researcher &&
            studyDetailsHash(details) === state.detailsHash.toLowerCase()
          )
            return details;
        }
      }
    } catch (error) {
      throw toChainError(error, studyInterface, operation, this.address);
    }
    throw new InvalidInputError(
      "studyId",
      `study ${id} is registered but no StudyRegistered event matching its details hash was found (fromBlock ${this.fromBlock})`,
    );
  }
}

function toDetails(log: Log): StudyDetails {
  const parsed = studyInterface.parseLog({ topics: [...log.topics], data: log.data });
  if (parsed?.name !== "StudyRegistered") throw new InvalidInputError("log", "not a StudyRegistered log");
  const [studyId, researcher, irb, protocolHash, approvalHash, encryptionKey, endsAt, scopes] =
    parsed.args as unknown as [string, string, string, string, string, string, bigint, string[]];
  return {
    studyId: studyId.toLowerCase(),
    researcher: getAddress(researcher),
    irb: getAddress(irb),
    protocolHash: protocolHash.toLowerCase(),
    approvalHash: approvalHash.toLowerCase(),
    encryptionKey: encryptionKey.toLowerCase(),
    endsAt,
    scopeHashes: [...scopes].map((scope) => scope.toLowerCase()),
    position: logPosition(log),
  };
}
