// Schemas of the check-in routes (identity's mutual check-in, relayed: the gateway never opens an answer).
import { Type, type Static } from "typebox";
import {
  CREDENTIAL_TYPES,
  SEALED_CHECK_IN_TYPE,
  SEALED_CHECK_IN_VERSION,
  type CredentialTypeName,
} from "@hygeia/identity";
import { UnixMsSchema } from "../../schemas.ts";

const CheckInId = Type.String({
  pattern: "^[0-9a-f]{32}$",
  description: "The check-in's id (16 random bytes, hex): whoever holds it may read the request and answer",
  examples: ["4f1c2a9be07d4d5e8b1f6a3c9d2e7f10"],
});

export const CheckInParams = Type.Object({ id: CheckInId }, { additionalProperties: false });

const RequestedCredential = Type.Object(
  {
    type: Type.Unsafe<CredentialTypeName>({
      type: "string",
      enum: [...CREDENTIAL_TYPES],
      description: "A Hygeia credential type",
      examples: ["PatientIdentityCredential"],
    }),
    claims: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z][A-Za-z0-9_]*$" }), {
        maxItems: 16,
        description: "Subject claims asked for (the type's schema names them)",
        examples: [["givenName", "birthDate"]],
      }),
    ),
  },
  { additionalProperties: false },
);

export const OpenCheckInBody = Type.Object(
  {
    credentials: Type.Array(RequestedCredential, {
      minItems: 1,
      maxItems: 4,
      description: "What the clinic asks the patient to show",
      examples: [[{ type: "PatientIdentityCredential", claims: ["givenName", "birthDate"] }]],
    }),
    challenge: Type.Optional(
      Type.String({
        minLength: 16,
        maxLength: 256,
        pattern: "^[A-Za-z0-9_~.-]+$",
        description:
          "The challenge the patient's presentation must answer: issue it from the clinic's own verifier (ChallengeStore) to verify the answer with identity's verifyCheckIn; default a random one",
        examples: ["q0Ff7Kx2m4R8t1Yw3Z9v5B6n0P2s4D7g"],
      }),
    ),
    ttlSeconds: Type.Optional(
      Type.Integer({
        minimum: 30,
        maximum: 3600,
        description: "How long the check-in stays open (default 600)",
        examples: [600],
      }),
    ),
  },
  { additionalProperties: false },
);

export const PresentationRequest = Type.Object(
  {
    challenge: Type.String({ examples: ["q0Ff7Kx2m4R8t1Yw3Z9v5B6n0P2s4D7g"] }),
    domain: Type.String({
      description: "The clinic's DID: the patient's wallet answers only a clinic it verified under this DID",
      examples: ["did:ethr:0x7a69:0x15d34aaf54267db7d7c367839aaf71a00a2c6a65"],
    }),
    credentials: Type.Array(RequestedCredential),
  },
  { additionalProperties: false, description: "identity's PresentationRequest" },
);

/** The presentation request a check-in carries (identity's PresentationRequest, without trustedRoles). */
export type CheckInRequest = Static<typeof PresentationRequest>;

const Clinic = Type.Object(
  {
    did: Type.String({ examples: ["did:ethr:0x7a69:0x15d34aaf54267db7d7c367839aaf71a00a2c6a65"] }),
    address: Type.String({ pattern: "^0x[0-9a-f]{40}$", examples: ["0x15d34aaf54267db7d7c367839aaf71a00a2c6a65"] }),
    accreditation: Type.String({
      description:
        "The clinic's ClinicAccreditationCredential (JWT VC) it proved its role with, for the wallet to check",
      examples: ["eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJKV1QifQ.eyJ2YyI6e319.c2ln"],
    }),
  },
  { additionalProperties: false },
);

const Status = Type.Union([Type.Literal("open"), Type.Literal("answered"), Type.Literal("expired")], {
  examples: ["open"],
});

export const CheckInResponse = Type.Object(
  {
    id: CheckInId,
    url: Type.String({
      description: "Where the patient's wallet reads this check-in",
      examples: ["http://127.0.0.1:8787/v1/checkins/4f1c2a9be07d4d5e8b1f6a3c9d2e7f10"],
    }),
    request: PresentationRequest,
    clinic: Clinic,
    status: Status,
    expiresAt: UnixMsSchema,
  },
  { additionalProperties: false },
);

export const SealedAnswer = Type.Object(
  {
    type: Type.Literal(SEALED_CHECK_IN_TYPE),
    version: Type.Literal(SEALED_CHECK_IN_VERSION),
    recipient: Type.String({ minLength: 1, maxLength: 512, examples: ["did:ethr:0x7a69:0x15d3…#controllerKey-enc"] }),
    wrap: Type.String({ pattern: "^[A-Za-z0-9_-]+$", maxLength: 1024, examples: ["q83vEjRWeJ…"] }),
    ciphertext: Type.String({ pattern: "^[A-Za-z0-9_-]+$", maxLength: 900_000, examples: ["AQID…"] }),
  },
  {
    additionalProperties: false,
    description:
      "identity's SealedCheckIn (answerVerifiedClinic): sealed to the clinic's X25519 key; the gateway cannot open it",
  },
);

export const AnswerBody = Type.Object({ answer: SealedAnswer }, { additionalProperties: false });

export const AnswerAccepted = Type.Object(
  { id: CheckInId, status: Type.Literal("answered"), completedAt: UnixMsSchema },
  { additionalProperties: false },
);

// ---- the clinic's proof round trip (mutual verification across machines)

const WalletChallengeValue = Type.String({
  minLength: 16,
  maxLength: 256,
  pattern: "^[A-Za-z0-9_~.-]+$",
  description: "The wallet's own fresh challenge (identity's challengeClinic): the clinic's proof must answer it",
  examples: ["Zq3v9sL0k2XwB7nR4tYc1mP8aD6eF5gH"],
});

const WalletDomain = Type.String({
  minLength: 8,
  maxLength: 256,
  pattern: "^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$",
  description: "The patient's DID, as challengeClinic makes it: the clinic's proof is addressed to it",
  examples: ["did:ethr:0x7a69:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"],
});

export const ClinicChallengeBody = Type.Object(
  { challenge: WalletChallengeValue, domain: WalletDomain },
  { additionalProperties: false, description: "identity's ClinicChallenge, as the patient's wallet made it" },
);

export const ClinicChallengeAccepted = Type.Object(
  {
    id: CheckInId,
    status: Type.Literal("awaiting-proof", { description: "The clinic has not proved itself for it yet" }),
    challenge: WalletChallengeValue,
    challengedAt: UnixMsSchema,
    expiresAt: UnixMsSchema,
  },
  { additionalProperties: false },
);

/** What the clinic that opened the check-in sees of a wallet's challenge (in its result, pending or proved). */
export const PendingClinicChallenge = Type.Union(
  [
    Type.Object(
      {
        challenge: WalletChallengeValue,
        domain: WalletDomain,
        challengedAt: UnixMsSchema,
        provedAt: Type.Union([UnixMsSchema, Type.Null()], {
          description: "When the clinic posted its proof for this challenge; null: the wallet waits for it",
        }),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: "The patient wallet's challenge to the clinic, once one was posted (null before)" },
);

export const ClinicProofBody = Type.Object(
  {
    challenge: WalletChallengeValue,
    presentation: Type.String({
      minLength: 20,
      maxLength: 32_768,
      pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$",
      description:
        "The clinic's JWT VP of its accreditation for the wallet's challenge (identity's createPresentation): opaque to the gateway, the wallet verifies it",
      examples: ["eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJKV1QifQ.eyJ2cCI6e319.c2ln"],
    }),
  },
  { additionalProperties: false },
);

export const ClinicProofAccepted = Type.Object(
  { id: CheckInId, challenge: WalletChallengeValue, provedAt: UnixMsSchema },
  { additionalProperties: false },
);

export const ClinicProof = Type.Object(
  {
    id: CheckInId,
    status: Type.Literal("proved"),
    challenge: WalletChallengeValue,
    domain: WalletDomain,
    presentation: Type.String({ description: "The clinic's JWT VP: verify it with identity's verifyClinic" }),
    provedAt: UnixMsSchema,
  },
  { additionalProperties: false },
);

export const CheckInResult = Type.Object(
  {
    id: CheckInId,
    status: Status,
    answer: Type.Union([SealedAnswer, Type.Null()], { description: "The sealed answer, once given" }),
    completedAt: Type.Union([UnixMsSchema, Type.Null()]),
    clinicChallenge: PendingClinicChallenge,
  },
  { additionalProperties: false },
);
