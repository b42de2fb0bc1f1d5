/** Typed client of the TrustRegistry contract (issuer accreditation per role). */
import { Interface, getAddress, keccak256, toUtf8Bytes, type Log } from "ethers";
import { InvalidInputError, describe, requireAddress, requireBytes32, requireNonZeroAddress } from "../errors.ts";
import { TrustRegistryAbi } from "../generated/TrustRegistry.ts";
import * as node from "./node-reads.ts";
import {
  ContractClient,
  type ClientOptions,
  type ClientRunner,
  logPosition,
  type BlockTag,
  type LogPosition,
  type TxOptions,
  type TxOutcome,
} from "./base.ts";
import {
  requireFutureTime,
  requireTimeNotAhead,
  requireUnixSeconds,
  timeBounds,
  type TimeBounds,
} from "./time-bounds.ts";

/** Roles Hygeia uses; their ids are keccak256("hygeia.role.<name>"), as in TrustRegistry.sol. */
export const TrustRole = {
  /** Accredits clinics and clinicians (issues ClinicAccreditationCredential); governance gives it to boards only. */
  MedicalBoard: "medical-board",
  /**
   * Clinics: issue HealthRecord credentials after a visit. Deliberately not medical-board, so a clinic (or whoever
   * holds one clinic's key) cannot accredit another clinic.
   */
  Clinic: "clinic",
  /** Approves studies (ethics approval credentials). */
  Irb: "irb",
  Insurer: "insurer",
  /** Issues identity (KYC) credentials. */
  IdentityIssuer: "identity-issuer",
} as const;
export type TrustRoleName = (typeof TrustRole)[keyof typeof TrustRole];

const ROLE_NAMES: ReadonlySet<string> = new Set(Object.values(TrustRole));

/** bytes32 id of a role given by name ("irb") or already as a bytes32. */
export function trustRoleId(role: TrustRoleName | string): string {
  if (typeof role === "string" && role.startsWith("0x")) {
    const id = requireBytes32(role, "role");
    if (/^0x0{64}$/.test(id)) throw new InvalidInputError("role", "the zero role is not allowed");
    return id;
  }
  if (typeof role !== "string" || !ROLE_NAMES.has(role)) {
    throw new InvalidInputError(
      "role",
      `unknown role ${describe(role)}; expected one of ${[...ROLE_NAMES].join(", ")} or a bytes32 id`,
    );
  }
  return keccak256(toUtf8Bytes(`hygeia.role.${role}`));
}

/**
 * One accreditation window. The history of (issuer, role) is append-only: a new window starts no
 * earlier than the previous one's validUntil (or than its revocation time, when it was revoked), and
 * a revocation only sets revokedAt; so no time at which an issuer was revoked ever becomes trusted.
 */
export interface Accreditation {
  /** Unix seconds; trusted from validFrom (inclusive) ... */
  readonly validFrom: bigint;
  /** ... until validUntil (exclusive); 0 = no record. */
  readonly validUntil: bigint;
  /** Unix seconds of an early revocation, 0 = not revoked. */
  readonly revokedAt: bigint;
}

export type TrustEvent =
  | {
      readonly type: "IssuerAccredited";
      readonly issuer: string;
      readonly role: string;
      readonly validFrom: bigint;
      readonly validUntil: bigint;
      readonly position: LogPosition;
    }
  | {
      readonly type: "AccreditationRevoked";
      readonly issuer: string;
      readonly role: string;
      readonly revokedAt: bigint;
      readonly position: LogPosition;
    };

export interface TrustRegistryClientOptions extends ClientOptions {
  /** Latest validUntil (and validFrom) accepted, in seconds from now. Default 10 years (315,576,000). */
  maxExpiryAheadSeconds?: number;
  /** Wall clock in milliseconds for the time checks (tests). Default Date.now. */
  clock?: () => number;
}

export interface AccreditParams {
  issuer: string;
  role: TrustRoleName | string;
  /**
   * Unix seconds (not milliseconds) from which the issuer is trusted, inclusive; may be in the past
   * (0: since always), at most maxExpiryAheadSeconds ahead.
   */
  validFrom: bigint | number;
  /** Unix seconds until which it is trusted, exclusive: after validFrom, in the future, at most maxExpiryAheadSeconds ahead. */
  validUntil: bigint | number;
}

const trustInterface = new Interface(TrustRegistryAbi);

export class TrustRegistryClient extends ContractClient<TrustEvent> {
  private readonly options: TrustRegistryClientOptions;
  private readonly bounds: TimeBounds;

  constructor(address: string, runner: ClientRunner, options: TrustRegistryClientOptions = {}) {
    super("TrustRegistry", address, TrustRegistryAbi, runner, options);
    this.options = { ...options };
    this.bounds = timeBounds(options);
  }

  connect(runner: ClientRunner): TrustRegistryClient {
    return new TrustRegistryClient(this.address, runner, this.options);
  }

  protected parseEvent(log: Log): TrustEvent | undefined {
    const parsed = trustInterface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed?.name === "IssuerAccredited") {
      const [issuer, role, validFrom, validUntil] = parsed.args as unknown as [string, string, bigint, bigint];
      return {
        type: "IssuerAccredited",
        issuer: getAddress(issuer),
        role,
        validFrom,
        validUntil,
        position: logPosition(log),
      };
    }
    if (parsed?.name === "AccreditationRevoked") {
      const [issuer, role, revokedAt] = parsed.args as unknown as [string, string, bigint];
      return { type: "AccreditationRevoked", issuer: getAddress(issuer), role, revokedAt, position: logPosition(log) };
    }
    return undefined;
  }

  /**
   * Governance only. Appends a window [validFrom, validUntil), unix seconds, to the issuer's history
   * for the role; earlier windows stay as they were (credentials issued in them stay trusted at
   * issuance). Both times are checked before anything is sent (InvalidInputError naming the field):
   * not milliseconds ("divide by 1000"), at most maxExpiryAheadSeconds ahead, validUntil after
   * validFrom and in the future. Then the history rule, against the latest window read from the
   * chain: the new window starts no earlier than the previous window's validUntil, or than now when
   * that window was revoked (InvalidInputError on "validFrom" saying where it may start; should the
   * chain move between the read and the transaction, the contract's WindowOverlapsHistory is a
   * ContractRevertError saying the same). To renew an open window, start the new one at its validUntil.
   */
  accredit(params: AccreditParams, options?: TxOptions): Promise<TxOutcome<TrustEvent>> {
    if (typeof params !== "object" || params === null)
      throw new InvalidInputError("params", "expected { issuer, role, validFrom, validUntil }");
    // validFrom first: a validFrom in milliseconds must be named as such, not as "validUntil before validFrom".
    const validFrom = requireTimeNotAhead(params.validFrom, 64, "validFrom", this.bounds);
    const validUntil = requireTimeNotAhead(params.validUntil, 64, "validUntil", this.bounds);
    if (validUntil <= validFrom)
      throw new InvalidInputError("validUntil", `must be after validFrom (${validFrom}), got ${validUntil}`);
    requireFutureTime(validUntil, 64, "validUntil", this.bounds); // the contract refuses a window already over
    const issuer = requireNonZeroAddress(params.issuer, "issuer");
    const role = trustRoleId(params.role);
    const args = [issuer, role, validFrom, validUntil];
    if (!this.sender) return this.write("accredit", args, options); // refuses: read-only
    return this.checkHistory(issuer, role, validFrom).then(() => this.write("accredit", args, options));
  }

  /** The contract's history rule, checked against the pair's windows before sending. */
  private async checkHistory(issuer: string, role: string, validFrom: bigint): Promise<void> {
    const history = await this.accreditationHistory(issuer, role);
    const latest = history.at(-1);
    if (latest === undefined) return; // no history yet
    let earliest = latest.validUntil;
    let why = `the previous window ends at ${latest.validUntil}`;
    const everRevoked = history.some((window) => window.revokedAt !== 0n);
    if (everRevoked) {
      // The contract compares with its block's time, which is at least the head's.
      const head = await this.ask(node.header(this.provider, "latest"), "TrustRegistry.accredit: latest block");
      const now = BigInt(head?.timestamp ?? 0);
      if (latest.revokedAt !== 0n) {
        earliest = now;
        why = `the previous window was revoked at ${latest.revokedAt}, so a new one starts now or later (the chain's time is ${now})`;
      } else if (earliest < now) {
        earliest = now;
        why = `the issuer was revoked before, so no new window may start before now (the chain's time is ${now})`;
      }
    }
    if (validFrom < earliest) {
      throw new InvalidInputError(
        "validFrom",
        `${validFrom} overlaps the issuer's accreditation history (${why}): start the new window at ${earliest} or ` +
          `later; a time at which the issuer was revoked never becomes trusted again`,
      );
    }
  }

  /**
   * Governance only. Revokes, at the block's time (it takes no time argument), every window of the
   * issuer for the role that has not ended yet (a future window too: it never becomes trusted).
   * The contract reverts NotAccredited when there is none.
   */
  revokeAccreditation(
    issuer: string,
    role: TrustRoleName | string,
    options?: TxOptions,
  ): Promise<TxOutcome<TrustEvent>> {
    return this.write("revokeAccreditation", [requireNonZeroAddress(issuer, "issuer"), trustRoleId(role)], options);
  }

  isTrusted(issuer: string, role: TrustRoleName | string, blockTag?: BlockTag): Promise<boolean> {
    return this.read<boolean>("isTrusted", [requireAddress(issuer, "issuer"), trustRoleId(role)], blockTag);
  }

  /**
   * Whether the issuer was trusted at `at`, unix seconds (e.g. a credential's issuance time). A
   * value from 1e11 on (milliseconds, `Date.now()`) is refused with InvalidInputError (field "at")
   * saying "divide by 1000", rather than answered for the year ~58,000.
   */
  isTrustedAt(
    issuer: string,
    role: TrustRoleName | string,
    at: bigint | number,
    blockTag?: BlockTag,
  ): Promise<boolean> {
    return this.read<boolean>(
      "isTrustedAt",
      [requireAddress(issuer, "issuer"), trustRoleId(role), requireUnixSeconds(at, "at")],
      blockTag,
    );
  }

  /** The latest window (zeros when the issuer was never accredited for the role). */
  async accreditationOf(issuer: string, role: TrustRoleName | string, blockTag?: BlockTag): Promise<Accreditation> {
    const [validFrom, validUntil, revokedAt] = await this.read<[bigint, bigint, bigint]>(
      "accreditationOf",
      [requireAddress(issuer, "issuer"), trustRoleId(role)],
      blockTag,
    );
    return { validFrom, validUntil, revokedAt };
  }

  /**
   * Every window of the issuer for the role, oldest first, all read at one block. isTrustedAt(at) is
   * true when some window has validFrom <= at < validUntil and was not revoked at or before `at`.
   */
  async accreditationHistory(
    issuer: string,
    role: TrustRoleName | string,
    blockTag: BlockTag = "latest",
  ): Promise<Accreditation[]> {
    const args = [requireAddress(issuer, "issuer"), trustRoleId(role)] as const;
    const at = await this.pinBlock(blockTag, "TrustRegistry.accreditationHistory");
    const count = await this.read<bigint>("accreditationCount", args, at);
    // Governance appends one window per accredit call: short lists, read together.
    return Promise.all(
      Array.from({ length: Number(count) }, async (_, index) => {
        const [validFrom, validUntil, revokedAt] = await this.read<[bigint, bigint, bigint]>(
          "accreditationAt",
          [...args, index],
          at,
        );
        return { validFrom, validUntil, revokedAt };
      }),
    );
  }
}
