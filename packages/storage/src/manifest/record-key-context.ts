import type { CID } from "multiformats/cid";

/** The wrap context binding a record DEK to the record's CID: a wrap cannot be moved to another record. */
export function recordKeyContext(cid: CID): string {
  return `hygeia:record:${cid.toString()}`;
}
