/**
 * The record list's on-chain anchor (promise 6): after each manifest update the patient's device writes the sealed
 * pointer {version, manifest CID} as an ERC-1056 attribute of its derived anchor identity (@hygeia/chain
 * manifest-anchor.ts), relayed gasless by the gateway. A new device reads it back from the chain with nothing but the
 * wallet, so a gateway that lost its database (or a different gateway) loses no record list.
 *
 * Rules:
 * - Never backwards, never sideways: a list replaces the anchored one only when it follows it (its `prev` line
 *   reaches the anchored CID); any other list is `behind` and is merged first (records.ts). The registry's
 *   per-identity nonce makes the read-compare-write a compare-and-swap (a write signed for a nonce another device
 *   used is refused before gas: ANCHOR_NONCE_STALE, then read and compare again).
 * - The anchor key signs locally (no wallet prompt); the chain sees an unfunded address that links to nothing of the
 *   patient's, and a sealed value that only the patient's pointer key opens.
 * - Anchoring is behind the record, never in front: a failed anchor leaves the record added and listed at the gateway,
 *   and the next successful anchor (any later update, or `anchor()`) covers it, since it points at the newest list.
 */
import { openManifestPointer, sealManifestPointer, type ManifestAnchorKeys } from "@hygeia/crypto";
import {
  manifestAnchorIdentity,
  manifestAnchorNonce,
  readManifestAnchor,
  signManifestAnchor,
} from "@hygeia/chain/browser";
import { parseCid } from "@hygeia/storage/browser";
import { getBytes } from "ethers";
import { CID } from "multiformats/cid";
import { GatewayProblemError, HygeiaSdkError, IntegrityError } from "../errors.ts";
import type { PatientContext } from "./context.ts";
import { chainCall } from "./consent.ts";

/** How often an anchor write is re-read and re-signed after another device's write took its nonce. */
export const ANCHOR_ATTEMPTS = 4;

/** A record-list version as the chain anchors it. */
export interface AnchoredManifest {
  version: number;
  /** The sealed manifest's CID. */
  cid: string;
}

/** Whether the list being anchored is the anchored one or follows it (its `prev` line reaches it). */
export type Lineage = (anchored: AnchoredManifest) => Promise<boolean>;

/** What an anchor write did. */
export type AnchorOutcome =
  | { status: "anchored"; version: number; transaction: string }
  /** The chain already anchors this list (another device's write, or an earlier call's). */
  | { status: "current"; version: number }
  /**
   * The chain anchors another list this one does not follow (written through another gateway, before this gateway
   * lost its state, or before an anchor failed): `records.recover()` merges it (`add` does so by itself).
   */
  | { status: "behind"; version: number; anchoredVersion: number }
  /** Not anchored now (the relay, the chain or the quota refused): the record list is safe at the gateway. */
  | { status: "failed"; version: number; code: string; reason: string };

export class ManifestAnchor {
  readonly #context: PatientContext;
  readonly #keys: ManifestAnchorKeys;
  /** The anchor identity (EIP-55): an address of its own, derived from the wallet. */
  readonly identity: string;

  constructor(context: PatientContext) {
    this.#context = context;
    this.#keys = context.keys.anchor;
    this.identity = manifestAnchorIdentity(this.#keys.accountKey);
  }

  get #registry(): string {
    return this.#context.connection.deployment.contracts.EthereumDIDRegistry;
  }

  /** The newest anchored record-list version, or undefined when this wallet never anchored one. */
  async read(): Promise<AnchoredManifest | undefined> {
    const { provider } = this.#context.connection;
    const found = await chainCall(this.#context, () => readManifestAnchor(provider, this.#registry, this.identity));
    return found === undefined ? undefined : this.#open(found.value);
  }

  /**
   * Anchors `pointer` unless the chain holds a version at least as new; never throws (the list is safe at the
   * gateway whatever happens here): a refused write, or an anchor that does not open (ANCHOR_UNREADABLE, an alarm
   * `read()` raises), is `failed`.
   */
  async write(pointer: AnchoredManifest, descendsFrom: Lineage): Promise<AnchorOutcome> {
    try {
      return await this.#write(pointer, descendsFrom);
    } catch (error) {
      const code = error instanceof HygeiaSdkError ? error.code : "ANCHOR_FAILED";
      const reason = error instanceof Error ? error.message : String(error);
      return { status: "failed", version: pointer.version, code, reason };
    }
  }

  async #write(pointer: AnchoredManifest, descendsFrom: Lineage): Promise<AnchorOutcome> {
    const { provider } = this.#context.connection;
    const cid = parseCid(pointer.cid).bytes;
    for (let attempt = 1; attempt <= ANCHOR_ATTEMPTS; attempt++) {
      // The nonce first: a write landing between the two reads makes this nonce stale, never the compare wrong.
      const nonce = await chainCall(this.#context, () => manifestAnchorNonce(provider, this.#registry, this.identity));
      const current = await this.read();
      if (current?.cid === pointer.cid) return { status: "current", version: current.version };
      // Only a list that follows the anchored one replaces it: any other would drop the anchored list's records.
      if (current && !(await descendsFrom(current)))
        return { status: "behind", version: pointer.version, anchoredVersion: current.version };
      const value = sealManifestPointer(this.#keys.pointerKey, getBytes(this.identity), {
        version: pointer.version,
        cid,
      });
      const signed = signManifestAnchor(this.#keys.accountKey, this.#registry, nonce, value);
      try {
        const sent = await this.#context.connection.transport.request<{ hash: string }>(
          "POST",
          "/v1/manifest/anchors",
          { json: signed },
        );
        return { status: "anchored", version: pointer.version, transaction: sent.hash };
      } catch (error) {
        if (error instanceof GatewayProblemError && error.code === "ANCHOR_NONCE_STALE") continue;
        throw error;
      }
    }
    throw new HygeiaSdkError(
      "ANCHOR_CONFLICT",
      "conflict",
      `another device anchored your record list ${ANCHOR_ATTEMPTS} times during this write`,
      { hint: "Wait until your other device is done, then anchor again (records.anchor())." },
    );
  }

  #open(value: Uint8Array): AnchoredManifest {
    try {
      const opened = openManifestPointer(this.#keys.pointerKey, getBytes(this.identity), value);
      return { version: opened.version, cid: CID.decode(opened.cid).toString() };
    } catch (cause) {
      throw new IntegrityError(
        "ANCHOR_UNREADABLE",
        "your record list's anchor on chain does not open with your key",
        "Your wallet's anchor identity holds a value this wallet did not seal: report it; your records are unchanged.",
        { cause },
      );
    }
  }
}
