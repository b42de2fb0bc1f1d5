/**
 * Serializable snapshot of the indexer's confirmed state, so a restart does not replay the chain
 * from the deployment block. Everything in it is validated on the way back in: a checkpoint is a
 * file on disk, i.e. external input.
 */
import {
  InvalidCheckpointError,
  InvalidInputError,
  describe,
  requireAddress,
  requireBytes32,
  requireSafeChainId,
  requireSmallUint,
  requireUint,
} from "../errors.ts";
import { parsePurpose } from "../purposes.ts";
import { consentKey, type ConsentKey, type SlotValue } from "./consent-table.ts";

export const CHECKPOINT_FORMAT = "hygeia.consent-index";
export const CHECKPOINT_VERSION = 1;

/** [patient, grantee, scope, purpose, expiry (decimal string: uint64), version]. */
export type CheckpointEntry = [string, string, string, number, string, number];

export interface ConsentCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  chainId: number;
  /** ConsentRegistry address (checksummed). */
  contract: string;
  /** Where indexing began; a resync after a too-deep reorg starts here again. */
  startBlock: number;
  /** The last confirmed block the entries reflect. */
  block: { number: number; hash: string };
  entries: CheckpointEntry[];
}

export interface ParsedCheckpoint {
  readonly chainId: number;
  readonly contract: string;
  readonly startBlock: number;
  readonly block: { readonly number: number; readonly hash: string };
  readonly slots: ReadonlyMap<ConsentKey, SlotValue>;
}

/** Validates a checkpoint (e.g. JSON.parse of a file). `expected` pins the contract and chain. */
export function parseCheckpoint(
  value: unknown,
  expected: { contract?: string; chainId?: number } = {},
): ParsedCheckpoint {
  try {
    return parseUnchecked(value, expected);
  } catch (error) {
    if (error instanceof InvalidCheckpointError) throw error;
    if (error instanceof InvalidInputError)
      throw new InvalidCheckpointError(`invalid checkpoint: ${error.message}`, { cause: error });
    throw error;
  }
}

function parseUnchecked(value: unknown, expected: { contract?: string; chainId?: number }): ParsedCheckpoint {
  const root = record(value, "checkpoint");
  if (root["format"] !== CHECKPOINT_FORMAT || root["version"] !== CHECKPOINT_VERSION) {
    throw new InvalidCheckpointError(
      `not a consent-index checkpoint: expected format "${CHECKPOINT_FORMAT}" version ${CHECKPOINT_VERSION}, got ${describe(root["format"])} version ${describe(root["version"])}`,
    );
  }
  // Above 2^53 - 1: UnsupportedChainIdError (the indexer never writes one; never rounded).
  const chainId = requireSafeChainId(root["chainId"], "chainId", "parseCheckpoint");
  if (expected.chainId !== undefined && expected.chainId !== chainId) {
    throw new InvalidCheckpointError(`checkpoint is for chain ${chainId}, not chain ${expected.chainId}`);
  }
  const contract = requireAddress(root["contract"], "contract");
  if (expected.contract !== undefined && requireAddress(expected.contract, "expected contract") !== contract) {
    throw new InvalidCheckpointError(`checkpoint is for ConsentRegistry ${contract}, not ${expected.contract}`);
  }
  const startBlock = requireSmallUint(root["startBlock"], 48, "startBlock");
  const block = record(root["block"], "block");
  const number = requireSmallUint(block["number"], 48, "block.number");
  if (number + 1 < startBlock)
    throw new InvalidCheckpointError(`invalid checkpoint: block ${number} is before startBlock ${startBlock}`);
  const hash = requireBytes32(block["hash"], "block.hash");

  const entries = root["entries"];
  if (!Array.isArray(entries))
    throw new InvalidCheckpointError(`invalid checkpoint: entries must be an array, got ${describe(entries)}`);
  const slots = new Map<ConsentKey, SlotValue>();
  entries.forEach((entry: unknown, index) => {
    const field = `entries[${index}]`;
    if (!Array.isArray(entry) || entry.length !== 6)
      throw new InvalidCheckpointError(`invalid checkpoint: ${field} must be a 6-element array`);
    const [patient, grantee, scope, purpose, expiry, version] = entry as unknown[];
    const key = consentKey(
      requireAddress(patient, `${field}.patient`),
      requireAddress(grantee, `${field}.grantee`),
      requireBytes32(scope, `${field}.scope`),
      parsePurpose(purpose, `${field}.purpose`),
    );
    if (typeof purpose !== "number")
      throw new InvalidCheckpointError(`invalid checkpoint: ${field}.purpose must be a number`);
    if (typeof expiry !== "string")
      throw new InvalidCheckpointError(`invalid checkpoint: ${field}.expiry must be a decimal string`);
    if (slots.has(key)) throw new InvalidCheckpointError(`invalid checkpoint: ${field} repeats an earlier key`);
    slots.set(key, {
      expiry: requireUint(expiry, 64, `${field}.expiry`),
      version: requireSmallUint(version, 32, `${field}.version`),
    });
  });
  return { chainId, contract, startBlock, block: { number, hash }, slots };
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidCheckpointError(`invalid checkpoint: ${field} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}
