// The pull manifest: the gateway's signed statement of one research dataset pull: which study, for which
// researcher, at which consent-index block and time, how many contributions, and the RFC 9162 Merkle root over
// them. The researcher's client checks it against the contributions it received (nothing added, dropped or
// changed in transit or by a later replay), and can show it to an auditor or the IRB: the gateway signed that
// these, and only these, contributions had live consent at that block.
//
// Format: a C2SP signed note (the gateway's audit log key signs it, under the log's origin as key name), its text:
//
//   hygeia/dataset-pull/v1
//   study <bytes32 hex>
//   researcher <address hex>
//   block <consent index block>
//   time <unix ms>
//   count <contributions>
//   root <base64 RFC 9162 root>
//
// A leaf is the UTF-8 of `<cid> <wrap>` (a CID is base32, a wrap base64url: neither holds a space), in the order
// the pull lists them (ascending CID).
import { CheckpointError, fromBase64, leafHash, openNote, rootHash, toBase64 } from "@hygeia/audit";

export const PULL_MANIFEST_HEADER = "hygeia/dataset-pull/v1";

/** One contribution as a pull serves it: the ciphertext's CID and its DEK sealed to the study key. */
export interface PullContribution {
  cid: string;
  /** base64url sealed box (@hygeia/crypto key wrap). */
  wrap: string;
}

export interface PullManifest {
  /** The study id, lowercase bytes32 hex. */
  study: string;
  /** The researcher the pull was served to, lowercase address. */
  researcher: string;
  /** The consent index's block when consent was checked. */
  block: number;
  /** Unix ms at the gateway. */
  time: number;
  count: number;
  /** RFC 9162 root over the contributions' leaves, 32 bytes. */
  root: Uint8Array;
}

export type PullManifestErrorCode = "MALFORMED_MANIFEST" | "BAD_SIGNATURE" | "MANIFEST_MISMATCH";

/** A manifest that does not parse, does not verify, or does not match the contributions it came with. */
export class PullManifestError extends Error {
  override name = "PullManifestError";
  readonly code: PullManifestErrorCode;
  constructor(code: PullManifestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const BYTES32 = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const CID = /^b[a-z2-7]{1,127}$/;
const WRAP = /^[A-Za-z0-9_-]{1,1024}$/;
const UINT = /^(0|[1-9][0-9]{0,15})$/;
const encoder = new TextEncoder();

/** The leaf data of one contribution: `<cid> <wrap>`. */
export function contributionLeaf(contribution: PullContribution): Uint8Array {
  if (!CID.test(contribution.cid))
    throw new PullManifestError("MALFORMED_MANIFEST", "a contribution's cid is not a CIDv1 in base32");
  if (!WRAP.test(contribution.wrap))
    throw new PullManifestError("MALFORMED_MANIFEST", "a contribution's wrap is not base64url");
  return encoder.encode(`${contribution.cid} ${contribution.wrap}`);
}

/** The RFC 9162 root over the contributions' leaves, in the order given. */
export function contributionsRoot(contributions: readonly PullContribution[]): Uint8Array {
  return rootHash(contributions.map((c) => leafHash(contributionLeaf(c))));
}

/** The manifest's note text (what the gateway signs). */
export function formatPullManifest(manifest: PullManifest): string {
  const { study, researcher, block, time, count, root } = manifest;
  if (!BYTES32.test(study)) throw new PullManifestError("MALFORMED_MANIFEST", "study: expected lowercase bytes32 hex");
  if (!ADDRESS.test(researcher))
    throw new PullManifestError("MALFORMED_MANIFEST", "researcher: expected a lowercase address");
  for (const [name, value] of [
    ["block", block],
    ["time", time],
    ["count", count],
  ] as const)
    if (!Number.isSafeInteger(value) || value < 0)
      throw new PullManifestError("MALFORMED_MANIFEST", `${name}: expected a non-negative integer`);
  if (root.length !== 32) throw new PullManifestError("MALFORMED_MANIFEST", "root: expected 32 bytes");
  return [
    PULL_MANIFEST_HEADER,
    `study ${study}`,
    `researcher ${researcher}`,
    `block ${block}`,
    `time ${time}`,
    `count ${count}`,
    `root ${toBase64(root)}`,
    "",
  ].join("\n");
}

/** Parses a manifest's note text; throws MALFORMED_MANIFEST. */
export function parsePullManifest(text: string): PullManifest {
  const lines = text.split("\n");
  const fields = ["study", "researcher", "block", "time", "count", "root"] as const;
  if (lines.length !== fields.length + 2 || lines[0] !== PULL_MANIFEST_HEADER || lines.at(-1) !== "")
    throw new PullManifestError("MALFORMED_MANIFEST", `not a ${PULL_MANIFEST_HEADER} manifest`);
  const values = fields.map((field, i) => {
    const line = lines[i + 1]!;
    if (!line.startsWith(`${field} `))
      throw new PullManifestError("MALFORMED_MANIFEST", `line ${i + 2}: expected ${field}`);
    return line.slice(field.length + 1);
  });
  const [study, researcher, block, time, count, root] = values as [string, string, string, string, string, string];
  const number = (name: string, value: string): number => {
    if (!UINT.test(value) || !Number.isSafeInteger(Number(value)))
      throw new PullManifestError("MALFORMED_MANIFEST", `${name}: expected a non-negative integer`);
    return Number(value);
  };
  const rootBytes = fromBase64(root);
  if (rootBytes === undefined || rootBytes.length !== 32)
    throw new PullManifestError("MALFORMED_MANIFEST", "root: expected 32 bytes in base64");
  const manifest: PullManifest = {
    study,
    researcher,
    block: number("block", block),
    time: number("time", time),
    count: number("count", count),
    root: rootBytes,
  };
  // Canonical form only: what formats back to the same text.
  if (formatPullManifest(manifest) !== text) throw new PullManifestError("MALFORMED_MANIFEST", "not in canonical form");
  return manifest;
}

/** Verifies the note's signature by `verifierKey` (the gateway's audit verifier key) and parses the manifest. */
export function openPullManifest(note: string, verifierKey: string): PullManifest {
  let text: string;
  try {
    text = openNote(note, verifierKey);
  } catch (error) {
    if (error instanceof CheckpointError)
      throw new PullManifestError(
        error.code === "MALFORMED_NOTE" || error.code === "INVALID_KEY" ? "MALFORMED_MANIFEST" : "BAD_SIGNATURE",
        `the pull manifest: ${error.message}`,
        { cause: error },
      );
    throw error;
  }
  return parsePullManifest(text);
}

/**
 * Checks a pull as received: the manifest verifies under the gateway's key, names the study (and researcher)
 * expected, and its count and root are those of the contributions, in the order served. Returns the manifest.
 */
export function verifyPull(input: {
  manifest: string;
  verifierKey: string;
  contributions: readonly PullContribution[];
  study: string;
  researcher?: string;
}): PullManifest {
  const manifest = openPullManifest(input.manifest, input.verifierKey);
  const mismatch = (what: string) => new PullManifestError("MANIFEST_MISMATCH", `the pull manifest ${what}`);
  if (manifest.study !== input.study.toLowerCase()) throw mismatch(`names study ${manifest.study}`);
  if (input.researcher !== undefined && manifest.researcher !== input.researcher.toLowerCase())
    throw mismatch(`was served to ${manifest.researcher}`);
  if (manifest.count !== input.contributions.length)
    throw mismatch(`counts ${manifest.count} contributions, ${input.contributions.length} were received`);
  const root = contributionsRoot(input.contributions);
  if (toBase64(root) !== toBase64(manifest.root)) throw mismatch("root differs from the contributions received");
  return manifest;
}
