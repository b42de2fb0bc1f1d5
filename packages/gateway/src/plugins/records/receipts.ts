// Registration receipts: what a record's registration leaves in this gateway's IPFS store, beside its ciphertext, so
// that it outlives the database (promise 6: a gateway that lost its database loses no record).
//
// Two tiny pinned blocks per record, found again by content address alone (no index):
// - the owner receipt, "only `owner` registered record `cid` here": after the database is lost, only that address
//   may register the record again (a restore); a grantee who knows the CID cannot take it over;
// - the marker, "`cid` is a record here": an expired staging of the same bytes (someone re-uploading a ciphertext
//   they fetched) never unpins it, database or not.
// Each block is an HMAC under this gateway's receipt key (<dataDir>/receipt.key, outside the database), so nobody
// else can compute one: an uploader cannot plant a receipt (uploads are stored as the same kind of raw block) nor
// name a real one to have it unpinned. A receipt says nothing to anyone without the key. Losing the key file loses
// the restores (fail closed: UPLOAD_NOT_STAGED), never a record's ciphertext.
//
// The owner receipt is written before the marker: a registration cut short between the two leaves an owner receipt
// without a marker, which changes nothing (the retry writes both); never a marker without its owner.
//
// The content store addresses small content as one raw block (CIDv1, raw, sha2-256): a receipt's CID is computed
// here and checked against what the store answers at write time, so a store that addresses it otherwise fails
// loudly at the first registration rather than silently at a restore.
import { createHmac } from "node:crypto";
import type { ContentStore, OperationOptions } from "@hygeia/storage";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";

/** The receipts of one gateway (its key). */
export class RegistrationReceipts {
  readonly #key: Uint8Array;
  readonly #content: ContentStore;
  readonly #options: OperationOptions;

  constructor(key: Uint8Array, content: ContentStore, options: OperationOptions = {}) {
    if (key.length !== 32) throw new RangeError("the receipt key must be 32 bytes");
    this.#key = key;
    this.#content = content;
    this.#options = options;
  }

  /** Pins the owner receipt, then the marker, of record `cid` (before the record is stored: never one without). */
  async write(cid: string, owner: string): Promise<void> {
    for (const bytes of [this.#ownerBytes(cid, owner), this.#markerBytes(cid)]) {
      const expected = await blockCid(bytes);
      const put = await this.#content.put(bytes, this.#options);
      const got = put.cid.toV1().toString();
      if (got !== expected)
        throw new Error(`the content store addressed a registration receipt as ${got}, not the raw block ${expected}`);
    }
  }

  /** Whether `cid` was registered as a record here (by anyone), whatever the database still knows. */
  async isRegistered(cid: string): Promise<boolean> {
    return this.#pinned(await blockCid(this.#markerBytes(cid)));
  }

  /** Whether `owner` registered record `cid` here, whatever the database still knows. */
  async registeredBy(cid: string, owner: string): Promise<boolean> {
    return this.#pinned(await blockCid(this.#ownerBytes(cid, owner)));
  }

  #markerBytes(cid: string): Uint8Array {
    return this.#tag(`hygeia/registered-record/v1\n${cid}\n`);
  }

  #ownerBytes(cid: string, owner: string): Uint8Array {
    return this.#tag(`hygeia/record-owner/v1\n${cid}\n${owner.toLowerCase()}\n`);
  }

  #tag(statement: string): Uint8Array {
    return createHmac("sha256", this.#key).update(statement).digest();
  }

  async #pinned(cid: string): Promise<boolean> {
    if (!(await this.#content.has(cid, this.#options))) return false;
    return (await this.#content.stat(cid, this.#options)).pinned;
  }
}

async function blockCid(bytes: Uint8Array): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(bytes)).toString();
}
