// Regenerates the committed manifest test vectors: `node packages/storage/test/vectors/generate.ts`.
// Not deterministic (a seal wraps a fresh key with a fresh ephemeral key and a fresh secretstream header), so
// rerun it only when the seal format changes; the tests check the committed file, whatever run produced it.
import { writeFileSync } from "node:fs";
import { wrapKey, x25519KeyPairFromSecretKey } from "@hygeia/crypto";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import {
  MANIFEST_AUTH_INFO,
  MANIFEST_AUTH_SALT,
  manifestOwner,
  recordKeyContext,
  sealManifest,
} from "../../src/index.ts";
import type { ManifestDocument } from "../../src/index.ts";
import { encodeManifestDocument } from "../../src/manifest/manifest-format.ts";
import { manifestAuthKey, sealVersion1 } from "../helpers/manifest-seal.ts";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const range = (length: number, start = 0): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);

const patient = x25519KeyPairFromSecretKey(range(32, 0xa0));
const recipient = x25519KeyPairFromSecretKey(range(32, 0x60));
const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("hygeia manifest vector record")));
const document: ManifestDocument = {
  owner: manifestOwner(patient.publicKey),
  version: 2,
  prev: CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("hygeia manifest vector version 1"))),
  updated: "2026-11-21T13:05:00.000Z",
  entries: [
    {
      cid,
      kind: "fhir",
      type: "Observation",
      category: "laboratory",
      created: "2026-11-21T13:00:00Z",
      size: 1084,
      plaintextSize: 1033,
      dekWrap: wrapKey(range(32, 0x10), patient.publicKey, recordKeyContext(cid)),
      sharedWith: [
        {
          id: "did:ethr:0x70997970c51812dc3a010c7d01b50e0d17dc79c8#enc-1",
          publicKey: recipient.publicKey,
          sharedAt: "2026-11-21T14:00:00.000Z",
        },
      ],
    },
  ],
};
const sealed = await sealManifest(document, patient);
const v1 = await sealVersion1(document, patient.publicKey);

writeFileSync(
  new URL("manifest-auth.json", import.meta.url),
  JSON.stringify(
    {
      description:
        "Authenticated manifests (README 'Manifest format'). sealed = 'HYGM' || 0x02 || wrap (114) || envelope || tag (32); " +
        "tag = HMAC-SHA256(authKey, every byte before it); authKey = HKDF-SHA256(secretKey, salt, info, 32). " +
        "openManifest(sealed, key pair) must return document (its JSON encoding is documentJson); any changed byte must be refused. " +
        "unauthenticatedV1 is the same document as seal version 1 (no tag): refused by default, opened with acceptUnauthenticated.",
      secretKey: hex(patient.secretKey),
      publicKey: hex(patient.publicKey),
      owner: document.owner,
      salt: MANIFEST_AUTH_SALT,
      info: MANIFEST_AUTH_INFO,
      authKey: hex(manifestAuthKey(patient.secretKey)),
      documentJson: new TextDecoder().decode(encodeManifestDocument(document)),
      sealed: hex(sealed),
      tag: hex(sealed.subarray(sealed.length - 32)),
      unauthenticatedV1: hex(v1),
    },
    null,
    2,
  ) + "\n",
);
