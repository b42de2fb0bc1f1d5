// Registration receipts: what a record's registration leaves in this gateway's IPFS store, beside its ciphertext, so
// that it outlives the database (promise 6: a gateway that lost its database loses no record).
//
// Two tiny pinned blocks per record, found again by content address alone (no index: the CID of a receipt is the
// hash of bytes anyone can rebuild from the record's CID and its owner):
// - the marker "hygeia/registered-record/v1 <cid>": this CID is someone's record, so an expired staging of the same
//   bytes (someone re-uploading a ciphertext they fetched) never unpins it, database or not;
// - the owner receipt "hygeia/record-owner/v1 <cid> <owner>": only the address that registered the record may
//   register it again after the database is gone (a restore); a grantee who knows the CID cannot take it over.
// A receipt says nothing to anyone who does not already know both the record's CID and its owner.
//
// The content store addresses small content as one raw block (CIDv1, raw, sha2-256): the receipt's CID is computed
// here and checked against what the store answers at write time, so a store that addresses it otherwise fails
// loudly at the first registration rather than silently at a restore.
import type { ContentStore, OperationOptions } from "@hygeia/storage";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";

const encoder = new TextEncoder();

const markerBytes = (cid: string) => encoder.encode(`hygeia/registered-record/v1\n${cid}\n`);
const ownerBytes = (cid: string, owner: string) =>
  encoder.encode(`hygeia/record-owner/v1\n${cid}\n${owner.toLowerCase()}\n`);

async function blockCid(bytes: Uint8Array): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(bytes)).toString();
}

async function pinnedHere(content: ContentStore, cid: string, options: OperationOptions): Promise<boolean> {
  if (!(await content.has(cid, options))) return false;
  return (await content.stat(cid, options)).pinned;
}

/** Pins the marker and the owner receipt of record `cid` (before the record is stored: never a record without). */
export async function writeReceipts(
  content: ContentStore,
  cid: string,
  owner: string,
  options: OperationOptions = {},
): Promise<void> {
  for (const bytes of [markerBytes(cid), ownerBytes(cid, owner)]) {
    const expected = await blockCid(bytes);
    const put = await content.put(bytes, options);
    const got = put.cid.toV1().toString();
    if (got !== expected)
      throw new Error(`the content store addressed a registration receipt as ${got}, not the raw block ${expected}`);
  }
}

/** Whether `cid` was registered as a record here (by anyone), whatever the database still knows. */
export async function isRegisteredHere(
  content: ContentStore,
  cid: string,
  options: OperationOptions = {},
): Promise<boolean> {
  return pinnedHere(content, await blockCid(markerBytes(cid)), options);
}

/** Whether `owner` registered record `cid` here, whatever the database still knows. */
export async function registeredBy(
  content: ContentStore,
  cid: string,
  owner: string,
  options: OperationOptions = {},
): Promise<boolean> {
  return pinnedHere(content, await blockCid(ownerBytes(cid, owner)), options);
}
