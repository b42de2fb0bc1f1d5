/** Typed client of the TrustRegistry contract (issuer accreditation per role). */
import { Interface, getAddress, keccak256, toUtf8Bytes, type Log } from "ethers";
import {
  InvalidInputError,
  describe,
  requireAddress,
  requireBytes32,
  requireNonZeroAddress,
  requireUint,
} from "../errors.ts";
import { TrustRegistryAbi } from "../generated/TrustRegistry.ts";
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

/** Roles Hygeia uses; their ids are keccak256("hygeia.role.<name>"), as in TrustRegistry.sol. */
export const TrustRole = {
  /** Accredits clinics and clinicians. */
  MedicalBoard: "medical-board",
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

const trustInterface = new Interface(TrustRegistryAbi);

export class TrustRegistryClient extends ContractClient<TrustEvent> {
  constructor(address: string, runner: ClientRunner, options: ClientOptions = {}) {
    super("TrustRegistry", address, TrustRegistryAbi, runner, options);
  }

  connect(runner: ClientRunner): TrustRegistryClient {
    return new TrustRegistryClient(this.address, runner, { readTimeoutMs: this.readTimeoutMs });
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

  /** Governance only. Trusted for [validFrom, validUntil); overwrites an earlier accreditation. */
  accredit(
    params: { issuer: string; role: TrustRoleName | string; validFrom: bigint | number; validUntil: bigint | number },
    options?: TxOptions,
  ): Promise<TxOutcome<TrustEvent>> {
    const validFrom = requireUint(params.validFrom, 64, "validFrom");
    const validUntil = requireUint(params.validUntil, 64, "validUntil");
    if (validUntil <= validFrom)
      throw new InvalidInputError("validUntil", `must be after validFrom (${validFrom}), got ${validUntil}`);
    return this.write(
      "accredit",
      [requireNonZeroAddress(params.issuer, "issuer"), trustRoleId(params.role), validFrom, validUntil],
      options,
    );
  }

  /** Governance only. Ends an active accreditation now. */
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

  /** Whether the issuer was trusted at unix time `at` (e.g. a credential's issuance time). */
  isTrustedAt(
    issuer: string,
    role: TrustRoleName | string,
    at: bigint | number,
    blockTag?: BlockTag,
  ): Promise<boolean> {
    return this.read<boolean>(
      "isTrustedAt",
      [requireAddress(issuer, "issuer"), trustRoleId(role), requireUint(at, 64, "at")],
      blockTag,
    );
  }

  async accreditationOf(issuer: string, role: TrustRoleName | string, blockTag?: BlockTag): Promise<Accreditation> {
    const [validFrom, validUntil, revokedAt] = await this.read<[bigint, bigint, bigint]>(
      "accreditationOf",
      [requireAddress(issuer, "issuer"), trustRoleId(role)],
      blockTag,
    );
    return { validFrom, validUntil, revokedAt };
  }
}
