// Schemas of the records routes: uploads, records and wraps, the manifest pointer, consent links, and the
// grantee side (listing, key release, ciphertext). Nothing here can carry a plaintext or an unwrapped key: a
// wrap is a fixed-size sealed box, a record is a CID and opaque ids.
import type { Readable } from "node:stream";
import { Type, type Static } from "typebox";
import { AddressSchema, Bytes32Schema, CidSchema, UnixMsSchema } from "../../schemas.ts";

const CID_EXAMPLE = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const PATIENT_EXAMPLE = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const CLINIC_EXAMPLE = "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65";
const PAIRWISE_EXAMPLE = "0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc";
const SCOPE_EXAMPLE = "0x5c3b1d2e9a1f0c4b7d6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c";
const WRAP_EXAMPLE = "AQE" + "A".repeat(149);

/** Largest number of consent addresses one record may carry ids for (the main address + pairwise accounts). */
export const MAX_CONSENT_ADDRESSES = 32;
/** Largest number of wraps one request may carry. */
export const MAX_WRAPS_PER_REQUEST = 64;

/** A DEK wrap of @hygeia/crypto (version 1, sealed box to X25519): 114 bytes, base64url without padding. */
export const WrapSchema = Type.String({
  pattern: "^[A-Za-z0-9_-]{152}$",
  description:
    "The record's DEK sealed to the recipient's X25519 key by @hygeia/crypto wrapKey (version 1, 114 bytes), " +
    "base64url without padding. The gateway checks its shape and never opens it.",
  examples: [WRAP_EXAMPLE],
});

export const WrapInput = Type.Object(
  {
    recipient: AddressSchema,
    wrap: WrapSchema,
  },
  { additionalProperties: false, description: "One wrap: the key sealed to `recipient`'s published X25519 key." },
);

export const ScopeIdList = Type.Array(Bytes32Schema, {
  minItems: 1,
  maxItems: 32,
  description: "The record's keyed scope ids under one consent address (PatientScopes.forRecord), 1 to 32.",
  examples: [[SCOPE_EXAMPLE]],
});

export const ScopeIdsByAddress = Type.Record(AddressSchema, ScopeIdList, {
  minProperties: 1,
  maxProperties: MAX_CONSENT_ADDRESSES,
  additionalProperties: false,
  description:
    "The record's scope ids per consent address: the patient's main address and/or the pairwise consent accounts " +
    "the wallet grants from. A grantee's check uses the ids of the address the patient linked to it, else the main address's.",
  examples: [{ [PATIENT_EXAMPLE]: [SCOPE_EXAMPLE] }],
});

export const Purpose = Type.Union(
  [
    Type.Literal("Treatment"),
    Type.Literal("Research"),
    Type.Literal("Emergency"),
    Type.Literal("Payment"),
    Type.Literal("PublicHealth"),
  ],
  {
    description:
      "The purpose of use, by name: Treatment | Research | Emergency | Payment | PublicHealth (the ConsentRegistry's " +
      "purposes; a name, not the number GET /v1/consents shows). Emergency is break-glass: it opens only within a window the " +
      "caller opened with breakGlass as the patient's registered emergency grantee.",
    examples: ["Treatment"],
  },
);
export type PurposeName = Static<typeof Purpose>;

// ---- uploads

export const UploadHeaders = Type.Object(
  {
    "content-type": Type.String({
      pattern: "^application/octet-stream(;.*)?$",
      description: "application/octet-stream: the ciphertext bytes as the wallet's RecordEncryptor wrote them.",
      examples: ["application/octet-stream"],
    }),
    "content-length": Type.Optional(
      Type.String({
        pattern: "^[0-9]{1,16}$",
        description: "The body's size; larger than the configured upload limit is refused at once (413).",
        examples: ["1048576"],
      }),
    ),
  },
  { additionalProperties: true },
);

export const Upload = Type.Object(
  {
    cid: CidSchema,
    size: Type.Integer({ minimum: 0, description: "Ciphertext bytes stored.", examples: [1048576] }),
    expiresAt: Type.Integer({
      minimum: 0,
      description: "Unix ms: register the CID (POST /v1/records or PUT /v1/manifest) before this, or it is unpinned.",
      examples: [1_767_229_200_000],
    }),
  },
  { additionalProperties: false },
);

// ---- records

export const RegisterRecord = Type.Object(
  {
    cid: CidSchema,
    scopeIds: ScopeIdsByAddress,
    wraps: Type.Array(WrapInput, {
      minItems: 1,
      maxItems: MAX_WRAPS_PER_REQUEST,
      description: "The DEK's wraps; one must be to the patient itself (its self-wrap).",
    }),
  },
  { additionalProperties: false },
);
export type RegisterRecord = Static<typeof RegisterRecord>;

export const RecordView = Type.Object(
  {
    cid: CidSchema,
    patient: AddressSchema,
    size: Type.Integer({ minimum: 0, description: "Ciphertext bytes.", examples: [1048576] }),
    scopeIds: ScopeIdsByAddress,
    createdAt: UnixMsSchema,
    recipients: Type.Array(AddressSchema, {
      description:
        "The addresses holding a wrap of the record's key (the patient's own included); the wraps stay here.",
    }),
  },
  { additionalProperties: false },
);

export const RecordList = Type.Object(
  {
    records: Type.Array(RecordView, { description: "Newest first." }),
    next: Type.Union([CidSchema, Type.Null()], {
      description: "Pass as `after` for the next page; null on the last page.",
      examples: [null],
    }),
  },
  { additionalProperties: false },
);

export const Page = Type.Object(
  {
    after: Type.Optional(CidSchema),
    limit: Type.Optional(
      Type.String({
        pattern: "^([1-9][0-9]?|100)$",
        description: "Page size, 1 to 100 (default 50).",
        examples: ["50"],
      }),
    ),
  },
  { additionalProperties: false },
);

export const CidParams = Type.Object({ cid: CidSchema }, { additionalProperties: false });

export const AddWraps = Type.Object(
  {
    wraps: Type.Array(WrapInput, {
      minItems: 1,
      maxItems: MAX_WRAPS_PER_REQUEST,
      description:
        "Wraps for new recipients (a grantee the patient now shares the record with); a recipient's wrap is replaced.",
    }),
  },
  { additionalProperties: false },
);

export const WrapsAdded = Type.Object(
  {
    cid: CidSchema,
    recipients: Type.Array(AddressSchema, { description: "The recipients whose wraps were stored (lowercase)." }),
  },
  { additionalProperties: false },
);

export const SetScopeIds = Type.Object(
  {
    consentAddress: AddressSchema,
    scopeIds: ScopeIdList,
  },
  { additionalProperties: false },
);

// ---- manifest pointer

export const ManifestPointer = Type.Object(
  {
    cid: Type.Union([CidSchema, Type.Null()], { description: "The sealed manifest's CID; null before the first." }),
    version: Type.Integer({
      minimum: 0,
      description: "Increases by one per update; 0 before the first.",
      examples: [3],
    }),
    updatedAt: Type.Union([UnixMsSchema, Type.Null()]),
  },
  { additionalProperties: false, examples: [{ cid: CID_EXAMPLE, version: 3, updatedAt: 1_767_225_600_000 }] },
);

export const PutManifest = Type.Object(
  {
    expected: Type.Union([CidSchema, Type.Null()], {
      description: "The pointer the wallet last read (null: none yet). A different current pointer answers 409.",
      examples: [null],
    }),
    cid: CidSchema,
  },
  { additionalProperties: false },
);

export const AnchorManifest = Type.Object(
  {
    identity: AddressSchema,
    value: Type.String({
      pattern: "^0x([0-9a-fA-F]{2}){1,256}$",
      description: "The sealed manifest pointer (@hygeia/crypto sealManifestPointer), 0x-hex, at most 256 bytes.",
    }),
    nonce: Type.Integer({ minimum: 0, description: "The registry's current nonce of `identity`." }),
    signature: Type.String({
      pattern: "^0x[0-9a-fA-F]{130}$",
      description: "The identity key's signature over ERC-1056's setAttributeSigned digest.",
    }),
  },
  {
    additionalProperties: false,
    description:
      "A record-list anchor signed by the patient's anchor identity (@hygeia/chain signManifestAnchor): the relay " +
      "sends it as EthereumDIDRegistry.setAttributeSigned, attribute hygeia/manifest/v1.",
    examples: [
      {
        identity: "0x5c7Ef6aA3bA6B4f4D6c5B1E1b3a8C1fD2E4A6b8C",
        value: "0x01" + "5a".repeat(84),
        nonce: 3,
        signature: "0x" + "ab".repeat(65),
      },
    ],
  },
);

export const ManifestAnchored = Type.Object(
  {
    hash: Type.String({ pattern: "^0x[0-9a-f]{64}$", description: "The mined transaction." }),
    blockNumber: Type.Integer({ minimum: 0 }),
  },
  {
    additionalProperties: false,
    examples: [{ hash: "0x" + "3f".repeat(32), blockNumber: 1204 }],
  },
);

// ---- consent links

const SignatureSchema = Type.String({
  pattern: "^0x[0-9a-fA-F]{130}$",
  description: "65-byte r‖s‖v signature, 0x-hex.",
  examples: ["0x" + "ab".repeat(65)],
});

export const SignedLink = Type.Object(
  {
    patient: AddressSchema,
    consentAddress: AddressSchema,
    grantee: AddressSchema,
    issuedAt: Type.Integer({
      minimum: 0,
      description: "Unix seconds: a newer link of the pair replaces an older.",
      examples: [1_767_225_600],
    }),
    patientSignature: SignatureSchema,
    consentSignature: SignatureSchema,
  },
  {
    additionalProperties: false,
    description:
      "A ConsentAddressLink as @hygeia/chain signConsentAddressLink returns it (EIP-712, signed by both accounts).",
    examples: [
      {
        patient: PATIENT_EXAMPLE,
        consentAddress: PAIRWISE_EXAMPLE,
        grantee: CLINIC_EXAMPLE,
        issuedAt: 1_767_225_600,
        patientSignature: "0x" + "ab".repeat(65),
        consentSignature: "0x" + "cd".repeat(65),
      },
    ],
  },
);

export const LinkView = Type.Object(
  {
    patient: AddressSchema,
    grantee: AddressSchema,
    consentAddress: AddressSchema,
    issuedAt: Type.Integer({ minimum: 0, description: "Unix seconds.", examples: [1_767_225_600] }),
    link: SignedLink,
  },
  { additionalProperties: false },
);

export const LinkList = Type.Object({ links: Type.Array(LinkView) }, { additionalProperties: false });

// ---- grantee side

export const PatientParams = Type.Object({ patient: AddressSchema }, { additionalProperties: false });
export const PatientCidParams = Type.Object(
  { patient: AddressSchema, cid: CidSchema },
  { additionalProperties: false },
);

export const GranteeListQuery = Type.Object(
  {
    purpose: Purpose,
    after: Type.Optional(CidSchema),
    limit: Type.Optional(
      Type.String({
        pattern: "^([1-9][0-9]?|100)$",
        description: "At most this many readable records, 1 to 100 (default 50).",
        examples: ["50"],
      }),
    ),
  },
  { additionalProperties: false },
);

export const GranteeRecordList = Type.Object(
  {
    records: Type.Array(
      Type.Object(
        {
          cid: CidSchema,
          scope: Type.Union([Bytes32Schema, Type.Null()], {
            description: "The scope id whose consent covers the record for you (null for the owner).",
          }),
          consentAddress: AddressSchema,
        },
        { additionalProperties: false },
      ),
      { description: "The scanned records you may read now, newest first." },
    ),
    next: Type.Union([CidSchema, Type.Null()], {
      description: "The last record listed: pass it as `after` for the next page; null when the scan ended.",
    }),
  },
  { additionalProperties: false },
);

export const KeyRequest = Type.Object({ purpose: Purpose }, { additionalProperties: false });

export const KeyRelease = Type.Object(
  {
    cid: CidSchema,
    wrap: WrapSchema,
    scope: Type.Union([Bytes32Schema, Type.Null()], {
      description: "The scope id whose consent allowed the release (null: the owner's own key).",
    }),
    consentAddress: AddressSchema,
    purpose: Purpose,
    emergency: Type.Boolean({
      description: "Released under break-glass (audited as emergency_release).",
      examples: [false],
    }),
    auditIndex: Type.Integer({
      minimum: 0,
      description: "The release's event in the audit log (GET /v1/audit/events gives its inclusion proof).",
      examples: [41],
    }),
    auditLog: Type.String({
      description:
        "The origin of the audit log holding that event: this gateway's (with several gateways on one database, " +
        "GET /v1/audit/events?log=<origin> at any of them).",
      examples: ["hygeia.example/gateway-1"],
    }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        cid: CID_EXAMPLE,
        wrap: WRAP_EXAMPLE,
        scope: SCOPE_EXAMPLE,
        consentAddress: PATIENT_EXAMPLE,
        purpose: "Treatment",
        emergency: false,
        auditIndex: 41,
        auditLog: "hygeia.example/gateway-1",
      },
    ],
  },
);

export const ContentQuery = Type.Object({ purpose: Type.Optional(Purpose) }, { additionalProperties: false });

/** The ciphertext stream (typed as what the handler sends: a Node stream). */
export const Ciphertext = Type.Unsafe<Readable>({
  type: "string",
  format: "binary",
  description: "The record's ciphertext (a @hygeia/crypto envelope), streamed from IPFS.",
});
