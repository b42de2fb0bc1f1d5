// Schemas of the consent routes: signed EIP-712 messages as wallets send them (@hygeia/chain
// `signedConsentToJson`), relay answers, the consent listing and the FHIR export.
import { Type, type Static } from "typebox";
import { AddressSchema, Bytes32Schema, UnixSecondsSchema } from "../../schemas.ts";
import { MAX_RELAY_BATCH } from "./relay.ts";

/** A uint as a decimal string (bigints in JSON) or a safe integer. */
const Uint = (description: string, example: string) =>
  Type.Union([Type.String({ pattern: "^[0-9]{1,78}$" }), Type.Integer({ minimum: 0 })], {
    description,
    examples: [example],
  });

const Signature = {
  signature: Type.Optional(
    Type.String({
      pattern: "^0x[0-9a-fA-F]{130}$",
      description: "The patient's 65-byte signature r‖s‖v (or give v, r, s)",
      examples: ["0x" + "ab".repeat(64) + "1b"],
    }),
  ),
  v: Type.Optional(Type.Union([Type.Literal(27), Type.Literal(28)], { description: "Recovery id", examples: [27] })),
  r: Type.Optional(Bytes32Schema),
  s: Type.Optional(Bytes32Schema),
};

const Patient = Type.String({
  pattern: "^0x[0-9a-fA-F]{40}$",
  description: "The signer: the patient's consent address (its main address or a pairwise consent account)",
  examples: ["0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"],
});

/** A consent slot's current version (uint32), as the signed message must carry it. */
const SlotVersion = (example: number) =>
  Type.Integer({ minimum: 0, maximum: 4294967295, description: "The slot's current version", examples: [example] });

export const SignedGrantJson = Type.Object(
  {
    patient: Patient,
    grantee: AddressSchema,
    scope: Bytes32Schema,
    purpose: Type.Integer({
      minimum: 1,
      maximum: 5,
      description: "1 Treatment, 2 Research, 4 Payment, 5 Public health (3 Emergency cannot be granted)",
      examples: [1],
    }),
    expiry: Uint("Unix seconds the consent ends", "1767225600"),
    version: SlotVersion(0),
    deadline: Uint("Unix seconds after which the signature may not be relayed", "1764555000"),
    ...Signature,
  },
  { additionalProperties: false, description: "A signed Grant (signGrant → signedConsentToJson)" },
);

export const SignedRevokeJson = Type.Object(
  {
    patient: Patient,
    grantee: AddressSchema,
    scope: Bytes32Schema,
    purpose: Type.Integer({
      minimum: 1,
      maximum: 5,
      description: "1..5 (3 closes a break-glass window)",
      examples: [1],
    }),
    version: SlotVersion(1),
    deadline: Uint("Unix seconds after which the signature may not be relayed", "1764555000"),
    ...Signature,
  },
  { additionalProperties: false, description: "A signed Revoke (signRevoke → signedConsentToJson)" },
);

export const SignedEmergencyGranteeJson = Type.Object(
  {
    patient: Patient,
    grantee: AddressSchema,
    maxDuration: Type.Integer({
      minimum: 0,
      maximum: 604800,
      description: "Seconds of the single break-glass window (0 removes the grantee)",
      examples: [3600],
    }),
    scopesRoot: Bytes32Schema,
    epoch: Type.Integer({ minimum: 0, maximum: 4294967295, description: "At least the pair's epoch", examples: [0] }),
    deadline: Uint("Unix seconds after which the signature may not be relayed", "1764555000"),
    ...Signature,
  },
  { additionalProperties: false, description: "A signed EmergencyGrantee registration or removal" },
);

const GrantItemJson = Type.Object(
  {
    grantee: AddressSchema,
    scope: Bytes32Schema,
    purpose: Type.Integer({
      minimum: 1,
      maximum: 5,
      description: "1 Treatment, 2 Research, 4 Payment, 5 Public health (3 Emergency cannot be granted)",
      examples: [1],
    }),
    expiry: Uint("Unix seconds the consent ends", "1767225600"),
    version: SlotVersion(0),
  },
  { additionalProperties: false, description: "One grant of the batch (a Grant without its own deadline)" },
);

const RevokeItemJson = Type.Object(
  {
    grantee: AddressSchema,
    scope: Bytes32Schema,
    purpose: Type.Integer({
      minimum: 1,
      maximum: 5,
      description: "1..5 (3 closes a break-glass window)",
      examples: [1],
    }),
    version: SlotVersion(1),
  },
  { additionalProperties: false, description: "One revoke of the batch (a Revoke without its own deadline)" },
);

export const SignedConsentBatchJson = Type.Object(
  {
    patient: Patient,
    grants: Type.Array(GrantItemJson, {
      maxItems: MAX_RELAY_BATCH,
      description: "Applied first, in order; each item's version is its slot's version when it applies",
    }),
    revokes: Type.Array(RevokeItemJson, {
      maxItems: MAX_RELAY_BATCH,
      description: "Applied after the grants, in order",
    }),
    deadline: Uint("Unix seconds after which the signature may not be relayed", "1764555000"),
    ...Signature,
  },
  {
    additionalProperties: false,
    description:
      `A signed ConsentBatch (signConsentBatch → signedConsentBatchToJson): ONE signature over every grant and ` +
      `revoke, at least one and at most ${MAX_RELAY_BATCH} in all`,
  },
);

export const ConsentBatchRelayBody = Type.Object(
  {
    signed: SignedConsentBatchJson,
    wait: Type.Optional(
      Type.Boolean({ description: "Same as ?wait=receipt: answer with the block number", examples: [true] }),
    ),
  },
  { additionalProperties: false },
);

export const ConsentBatchRelayResponse = Type.Object(
  {
    kind: Type.Literal("consent-batch", { description: "What was relayed" }),
    consentAddress: Type.String({
      description: "The signer (lowercase)",
      examples: ["0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"],
    }),
    grants: Type.Integer({ minimum: 0, description: "How many grants the transaction applied", examples: [3] }),
    revokes: Type.Integer({ minimum: 0, description: "How many revokes it applied", examples: [0] }),
    hash: Type.String({
      pattern: "^0x[0-9a-f]{64}$",
      description: "The relayer's transaction hash",
      examples: ["0x9f2c7a4e1b3d5f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f2a"],
    }),
    blockNumber: Type.Integer({ description: "The block it was mined in", examples: [42] }),
    status: Type.Literal("mined", { description: "The relayer answers once the transaction is mined" }),
  },
  { additionalProperties: false, description: "The one transaction that applied the whole batch" },
);
export type ConsentBatchRelayResponse = Static<typeof ConsentBatchRelayResponse>;

function relayBody<T extends typeof SignedGrantJson | typeof SignedRevokeJson | typeof SignedEmergencyGranteeJson>(
  item: T,
  what: string,
) {
  return Type.Object(
    {
      signed: Type.Union([item, Type.Array(item, { minItems: 1, maxItems: MAX_RELAY_BATCH })], {
        description: `One signed ${what}, or a batch of up to ${MAX_RELAY_BATCH} (checked whole before any is sent)`,
      }),
      wait: Type.Optional(
        Type.Boolean({ description: "Same as ?wait=receipt: answer with the block number", examples: [true] }),
      ),
    },
    { additionalProperties: false },
  );
}

export const GrantRelayBody = relayBody(SignedGrantJson, "grant");
export const RevokeRelayBody = relayBody(SignedRevokeJson, "revoke");
export const EmergencyGranteeRelayBody = relayBody(SignedEmergencyGranteeJson, "emergency grantee registration");

export const RelayQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Literal("receipt", {
        description: "Answer with the receipt's block number and status",
        examples: ["receipt"],
      }),
    ),
  },
  { additionalProperties: false },
);
export type RelayQuery = Static<typeof RelayQuery>;

const RelayKindSchema = Type.Union([Type.Literal("grant"), Type.Literal("revoke"), Type.Literal("emergency-grantee")], {
  description: "What was relayed",
  examples: ["grant"],
});
const TxHash = Type.String({
  pattern: "^0x[0-9a-f]{64}$",
  description: "The relayer's transaction hash",
  examples: ["0x9f2c7a4e1b3d5f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f2a"],
});

export const RelayResult = Type.Object(
  {
    kind: RelayKindSchema,
    consentAddress: Type.String({
      description: "The signer (lowercase)",
      examples: ["0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"],
    }),
    grantee: Type.String({
      description: "The grantee (lowercase)",
      examples: ["0x15d34aaf54267db7d7c367839aaf71a00a2c6a65"],
    }),
    hash: Type.Optional(TxHash),
    blockNumber: Type.Optional(Type.Integer({ description: "The block it was mined in", examples: [42] })),
    status: Type.Union([Type.Literal("mined"), Type.Literal("failed")], {
      description:
        "mined (the relayer answers once mined), failed (a batch item that failed after the checks; see problem; " +
        "with a hash when it was sent and reverted on chain, RELAYED_BUT_REVERTED)",
      examples: ["mined"],
    }),
    problem: Type.Optional(
      Type.Object(
        {
          code: Type.String({ examples: ["CONTRACT_REVERT"] }),
          detail: Type.String({ examples: ["the contract refused the transaction"] }),
          errorName: Type.Optional(Type.String({ examples: ["StaleVersion"] })),
        },
        { additionalProperties: false, description: "Why this batch item failed after the batch passed its checks" },
      ),
    ),
  },
  { additionalProperties: false },
);
export type RelayResult = Static<typeof RelayResult>;

export const RelayResponse = Type.Union(
  [
    RelayResult,
    Type.Object(
      { results: Type.Array(RelayResult, { description: "One per batch item, in order" }) },
      { additionalProperties: false },
    ),
  ],
  { description: "One result for one signed message; { results } for a batch" },
);

export const ListedConsent = Type.Object(
  {
    consentAddress: Type.String({
      description: "The address the consent is signed by (the session's main address or a linked consent account)",
      examples: ["0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"],
    }),
    grantee: Type.String({
      description: "Lowercase address",
      examples: ["0x15d34aaf54267db7d7c367839aaf71a00a2c6a65"],
    }),
    scope: Type.String({
      description: "The opaque bytes32 scope id; the wallet labels it (PatientScopes.label)",
      examples: ["0x5c3b1d2e9a1f0c4b7d6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"],
    }),
    purpose: Type.Integer({ minimum: 1, maximum: 5, examples: [1] }),
    purposeLabel: Type.String({ examples: ["Treatment"] }),
    expiry: UnixSecondsSchema,
    version: Type.Integer({ minimum: 0, examples: [1] }),
  },
  { additionalProperties: false },
);

export const ConsentListResponse = Type.Object(
  {
    patient: Type.String({
      description: "The session's main address",
      examples: ["0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"],
    }),
    consentAddresses: Type.Array(Type.String(), {
      description: "Addresses listed: the main address, then each linked consent account",
      examples: [["0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"]],
    }),
    consents: Type.Array(ListedConsent, { description: "Live, confirmed consents (what isAllowed answers true for)" }),
  },
  { additionalProperties: false },
);

/** The FHIR Bundle: checked against the official R4 schema in the tests; only its frame is described here. */
export const FhirBundleSchema = Type.Object(
  {
    resourceType: Type.Literal("Bundle"),
    type: Type.Literal("collection"),
    timestamp: Type.Optional(Type.String({ examples: ["2026-12-01T02:30:00.000Z"] })),
    entry: Type.Optional(
      Type.Array(
        Type.Object(
          {
            resource: Type.Optional(
              Type.Object({ resourceType: Type.Literal("Consent") }, { additionalProperties: true }),
            ),
          },
          { additionalProperties: true },
        ),
      ),
    ),
  },
  {
    additionalProperties: true,
    description: "A FHIR R4 Bundle (type collection) of Consent resources, one per live consent",
    examples: [{ resourceType: "Bundle", type: "collection", timestamp: "2026-12-01T02:30:00.000Z", entry: [] }],
  },
);
