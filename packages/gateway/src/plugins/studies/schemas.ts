// Schemas of the study routes: serving a registered study, patients' contributions, the researcher's pull.
// Nothing here carries plaintext: a contribution is a CID, a keyed scope id and a wrap sealed to the study's key;
// a pull lists CIDs and wraps, never a patient.
import { Type, type Static } from "typebox";
import { AddressSchema, Bytes32Schema, CidSchema, UnixMsSchema, UnixSecondsSchema } from "../../schemas.ts";
import { WrapSchema } from "../records/schemas.ts";

const STUDY_EXAMPLE = "0x8f3c1d2e9a1f0c4b7d6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c";

export const StudyParams = Type.Object(
  { studyId: Bytes32Schema },
  { additionalProperties: false, description: "The study's on-chain id (bytes32)." },
);

export const StudyCidParams = Type.Object(
  { studyId: Bytes32Schema, cid: CidSchema },
  { additionalProperties: false, description: "The study's id and a contribution's CID." },
);

const ScopeString = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: "^\\S+$",
  description: "A canonical scope string (public vocabulary), e.g. fhir:Observation.",
  examples: ["fhir:Observation"],
});

export const ServeStudy = Type.Object(
  {
    studyId: Bytes32Schema,
    approval: Type.String({
      minLength: 1,
      maxLength: 16_384,
      description:
        "The EthicsApprovalCredential (JWT) exactly as the IRB issued it: keccak256 of it is the registration's approvalHash.",
    }),
    scopes: Type.Array(ScopeString, {
      minItems: 1,
      maxItems: 32,
      description:
        "The canonical scope strings the study was registered with (the chain holds their keccak256). " +
        "`aggregate:<dimension>:<category>,<category>,...` scopes are counts the study may ask for; any other kind is row-level data.",
    }),
    tallyShare: Type.Optional(
      Type.Object(
        {
          publicKey: Type.String({
            pattern: "^[A-Za-z0-9_-]{43}$",
            description: "The researcher's tally key share X_r (ristretto255), base64url.",
          }),
          proof: Type.String({
            pattern: "^[A-Za-z0-9_-]{86}$",
            description: "proveTallyShare(share, tallyShareContext(studyId)), base64url.",
          }),
        },
        {
          additionalProperties: false,
          description: "Required when the study has aggregate scopes: the researcher's half of the study's tally key.",
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export const Dimension = Type.Object(
  {
    name: Type.String(),
    categories: Type.Array(Type.String(), { description: "The cells, in the order of the encrypted one-hot vector." }),
  },
  { additionalProperties: false },
);

export const StudyView = Type.Object(
  {
    studyId: Bytes32Schema,
    title: Type.String({ description: "The protocol title the approval names." }),
    researcher: AddressSchema,
    irb: AddressSchema,
    scopes: Type.Array(Type.String(), { description: "What the study asks patients to share (canonical scopes)." }),
    encryptionKey: Type.String({
      pattern: "^[A-Za-z0-9_-]{43}$",
      description: "The study's X25519 public key, base64url: a contribution's DEK is sealed to it.",
    }),
    endsAt: UnixSecondsSchema,
    approval: Type.String({ description: "The EthicsApprovalCredential, for a wallet that verifies it itself." }),
    checkedAt: UnixMsSchema,
    aggregates: Type.Array(Dimension, { description: "What the study may count (its aggregate scopes)." }),
    tallyKey: Type.Union([Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" }), Type.Null()], {
      description: "The joint tally key (base64url) a contribution's facts are encrypted to; null without aggregates.",
    }),
  },
  { additionalProperties: false, examples: [{ studyId: STUDY_EXAMPLE }] },
);

export const StudyList = Type.Object(
  {
    studies: Type.Array(StudyView),
    next: Type.Union([Bytes32Schema, Type.Null()], { description: "Cursor of the next page (`after`), or null." }),
  },
  { additionalProperties: false },
);

export const StudyPage = Type.Object(
  {
    after: Type.Optional(Bytes32Schema),
    limit: Type.Optional(Type.String({ pattern: "^(?:[1-9]|[1-9][0-9]|100)$", description: "1 to 100; default 50." })),
  },
  { additionalProperties: false },
);

export const Contribute = Type.Object(
  {
    cid: CidSchema,
    wrap: WrapSchema,
    scopeId: {
      ...Bytes32Schema,
      description:
        "The keyed scope id of `study:<studyId>` under `consentAddress` (PatientScopes.forScope): the research grant's scope.",
    },
    consentAddress: Type.Optional(AddressSchema),
    facts: Type.Optional(
      Type.Record(
        Type.String({ pattern: "^[a-z0-9-]{1,32}$" }),
        Type.Object(
          {
            cells: Type.Array(Type.String({ pattern: "^[A-Za-z0-9_-]{86}$" }), { minItems: 2, maxItems: 64 }),
            proof: Type.String({ pattern: "^[A-Za-z0-9_-]{1,11200}$" }),
          },
          { additionalProperties: false },
        ),
        {
          maxProperties: 32,
          description:
            "Per aggregate dimension of the study: the patient's category as an encrypted one-hot vector with its " +
            "proofs (@hygeia/crypto encryptFacts to the study's tallyKey, context factsContext(studyId, dimension, " +
            "your address)). Required for every dimension when the study has any.",
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export const AggregateRequest = Type.Object(
  { dimension: Type.String({ pattern: "^[a-z0-9-]{1,32}$", description: "One of the study's aggregate dimensions." }) },
  { additionalProperties: false, examples: [{ dimension: "sex" }] },
);

export const AggregateQuery = Type.Object(
  {
    queryId: Type.String({ format: "uuid" }),
    dimension: Dimension,
    sums: Type.Array(Type.String(), {
      description: "Per category, the encrypted count (base64url 64-byte cell): send your partial decryption of each.",
    }),
    expiresAt: UnixMsSchema,
  },
  { additionalProperties: false },
);

export const QueryParams = Type.Object(
  {
    studyId: Bytes32Schema,
    queryId: Type.String({ format: "uuid", description: "The query id step 1 answered." }),
  },
  { additionalProperties: false },
);

export const AggregatePartials = Type.Object(
  {
    partials: Type.Array(
      Type.Object(
        {
          partial: Type.String({ pattern: "^[A-Za-z0-9_-]{43}$" }),
          proof: Type.String({ pattern: "^[A-Za-z0-9_-]{86}$" }),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 2,
        maxItems: 64,
        description: "partialDecrypt(share, sums[j], partialContext(queryId, j)) for each cell j, in order.",
      },
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        partials: [
          { partial: "A".repeat(43), proof: "A".repeat(86) },
          { partial: "A".repeat(43), proof: "A".repeat(86) },
        ],
      },
    ],
  },
);

export const AggregateRelease = Type.Object(
  {
    dimension: Type.String(),
    cells: Type.Record(Type.String(), Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]), {
      description: "Count per category; null where withheld (under k, or it would reveal one that is).",
    }),
    total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    k: Type.Integer({ minimum: 3 }),
  },
  {
    additionalProperties: false,
    examples: [{ dimension: "sex", cells: { female: 41, male: 37, other: 0, unknown: 12 }, total: 90, k: 11 }],
  },
);

export const ContributionView = Type.Object(
  {
    studyId: Bytes32Schema,
    cid: CidSchema,
    size: Type.Integer({ minimum: 0 }),
    consentAddress: AddressSchema,
    scopeId: Bytes32Schema,
    createdAt: UnixMsSchema,
  },
  { additionalProperties: false },
);

export const ContributionList = Type.Object(
  { contributions: Type.Array(ContributionView) },
  { additionalProperties: false },
);

export const Withdrawn = Type.Object(
  {
    studyId: Bytes32Schema,
    cid: CidSchema,
    unpinned: Type.Boolean({ description: "Whether the extract's ciphertext was unpinned from this gateway's node." }),
  },
  { additionalProperties: false },
);

export const DatasetPull = Type.Object(
  {
    studyId: Bytes32Schema,
    contributions: Type.Array(Type.Object({ cid: CidSchema, wrap: WrapSchema }, { additionalProperties: false }), {
      description: "The contributions with live consent at `block`, by ascending CID. No patient is named.",
    }),
    block: Type.Integer({ minimum: 0, description: "The consent index's block the consent was checked at." }),
    manifest: Type.String({
      description:
        "The signed pull manifest (C2SP signed note, hygeia/dataset-pull/v1): study, researcher, block, time, count " +
        "and the RFC 9162 root over `<cid> <wrap>` of each contribution; verify it with @hygeia/research verifyPull " +
        "and the gateway's verifierKey.",
    }),
    verifierKey: Type.String({ description: "The gateway's C2SP verifier key (the audit log's)." }),
    excluded: Type.Integer({
      minimum: 0,
      description: "Contributions left out: no live research consent for this study at this moment.",
    }),
  },
  { additionalProperties: false },
);

export type StudyViewType = Static<typeof StudyView>;
export type ContributionViewType = Static<typeof ContributionView>;
