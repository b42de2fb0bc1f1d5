// Schemas of the status-list routes: the URL's issuer and name, the JWT bodies, the publication answer.
import { Type, type Static } from "typebox";

/**
 * The issuer's DID as it appears in the URL, unencoded: a did:ethr (address or public-key form, with or
 * without a network segment) or a did:key. Anything else, percent-encoding included, is refused (400).
 */
export const ISSUER_DID_PATTERN =
  "^(did:ethr:(0x[0-9a-fA-F]{1,16}:|[a-z][a-z0-9-]{0,31}:)?0x([0-9a-fA-F]{40}|0[23][0-9a-fA-F]{64})|did:key:z[1-9A-HJ-NP-Za-km-z]{32,128})$";
/** A list's name within its issuer's namespace: one plain path segment. */
export const LIST_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$";

export const StatusListParams = Type.Object(
  {
    issuer: Type.String({
      pattern: ISSUER_DID_PATTERN,
      maxLength: 256,
      description: "The issuer's DID, unencoded (did:ethr:<chain>:<address> or did:key:z…): the list's signer",
      examples: ["did:ethr:0x7a69:0x90f79bf6eb2c4f870365e785982e1f101e93b906"],
    }),
    name: Type.String({
      pattern: LIST_NAME_PATTERN,
      description: "The list's name in the issuer's namespace (letters, digits, '-', '_'; at most 64)",
      examples: ["revocation-1"],
    }),
  },
  { additionalProperties: false },
);
export type StatusListParams = Static<typeof StatusListParams>;

const JWT_EXAMPLE =
  "eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJkaWQ6ZXRocjoweDdhNjk6MHg5MGY3Li4uIn0.c2lnbmF0dXJl";

export const StatusListJwt = Type.String({
  description:
    "The status list as the issuer signed it (compact JWS): a BitstringStatusListCredential JWT VC " +
    "(issueStatusListCredential) or an IETF Status List Token (issueTokenStatusList, typ statuslist+jwt)",
  minLength: 1,
  examples: [JWT_EXAMPLE],
});

export const StatusListPublished = Type.Object(
  {
    url: Type.String({
      description: "The list's stable URL: status entries point here, and the list's vc.id / jti / sub name it",
      examples: [
        "http://127.0.0.1:8787/v1/status-lists/did:ethr:0x7a69:0x90f79bf6eb2c4f870365e785982e1f101e93b906/revocation-1",
      ],
    }),
    issuer: Type.String({ description: "The issuer's DID (the signer)", examples: ["did:ethr:0x7a69:0x90f7…"] }),
    name: Type.String({ description: "The list's name", examples: ["revocation-1"] }),
    format: Type.Union([Type.Literal("bitstring"), Type.Literal("token")], {
      description: "bitstring: W3C Bitstring Status List credential; token: IETF Token Status List",
      examples: ["bitstring"],
    }),
    purpose: Type.Union([Type.Literal("revocation"), Type.Literal("suspension"), Type.Literal("status")], {
      description: "The list's statusPurpose (status: a Token Status List, several values per entry)",
      examples: ["revocation"],
    }),
    issuedAt: Type.Integer({ description: "The list's iat, unix seconds", examples: [1764554400] }),
    expiresAt: Type.Integer({ description: "The list's exp, unix seconds", examples: [1764640800] }),
    replaced: Type.Boolean({
      description: "true when an older version was replaced; false when this is the first version or the same one",
      examples: [true],
    }),
  },
  { additionalProperties: false },
);
export type StatusListPublished = Static<typeof StatusListPublished>;
