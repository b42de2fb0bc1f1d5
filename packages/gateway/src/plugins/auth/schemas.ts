// Schemas of the auth routes: Sign-In with Ethereum, sessions, roles.
import { Type } from "typebox";
import { MAX_SIWE_MESSAGE_LENGTH } from "../../auth/siwe.ts";
import { UnixMsSchema } from "../../schemas.ts";

const Address = Type.String({
  pattern: "^0x[0-9a-f]{40}$",
  description: "The signed-in address, lowercase",
  examples: ["0x70997970c51812dc3a010c7d01b50e0d17dc79c8"],
});
const UnixMs = UnixMsSchema;
const RoleName = Type.Union([Type.Literal("clinic"), Type.Literal("researcher")], {
  description:
    "A role proved with a credential: clinic (ClinicAccreditationCredential), researcher (ResearcherCredential)",
  examples: ["clinic"],
});

export const NonceResponse = Type.Object(
  {
    nonce: Type.String({
      description: "Single-use SIWE nonce (>= 96 bits, alphanumeric)",
      examples: ["z1nHxmXIDlAtlAA3u"],
    }),
    expiresAt: UnixMs,
    domain: Type.String({ description: "The SIWE `domain` to sign (host[:port])", examples: ["127.0.0.1:8787"] }),
    uri: Type.String({ description: "The SIWE `URI` to sign", examples: ["http://127.0.0.1:8787"] }),
    chainId: Type.Integer({ description: "The SIWE `Chain ID` to sign", examples: [31337] }),
    statement: Type.String({ description: "The SIWE statement to show", examples: ["Sign in to Hygeia"] }),
  },
  { additionalProperties: false },
);

export const VerifyBody = Type.Object(
  {
    message: Type.String({
      minLength: 1,
      maxLength: MAX_SIWE_MESSAGE_LENGTH,
      description: "The EIP-4361 message exactly as signed",
      examples: [
        "127.0.0.1:8787 wants you to sign in with your Ethereum account:\n0x70997970C51812dc3A010C7d01b50e0d17dc79C8\n\nSign in to Hygeia\n\nURI: http://127.0.0.1:8787\nVersion: 1\nChain ID: 31337\nNonce: z1nHxmXIDlAtlAA3u\nIssued At: 2026-12-01T02:40:00.000Z",
      ],
    }),
    signature: Type.String({
      pattern: "^0x[0-9a-fA-F]{2,4096}$",
      description: "EIP-191 signature (65 bytes for an account key; contract wallets: their EIP-1271 signature)",
      examples: ["0x5c1e…1b"],
    }),
  },
  { additionalProperties: false },
);

export const TokenResponse = Type.Object(
  {
    token: Type.String({
      description: "Session token: send as `Authorization: Bearer <token>`",
      examples: ["hgs1.q83vEjRWeJq83vEjRWeJAAABk8t5ZAA.3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    }),
    address: Address,
    expiresAt: UnixMs,
  },
  { additionalProperties: false },
);

export const SessionResponse = Type.Object(
  {
    address: Address,
    roles: Type.Array(RoleName, { description: "Roles proved and still valid", examples: [["clinic"]] }),
    expiresAt: UnixMs,
  },
  { additionalProperties: false },
);

export const LogoutResponse = Type.Object(
  {
    revoked: Type.Boolean({
      description: "The session is revoked: its token is refused from now on",
      examples: [true],
    }),
  },
  { additionalProperties: false },
);

export const RoleChallengeResponse = Type.Object(
  {
    challenge: Type.String({
      description: "Single-use challenge for the VP (`nonce`)",
      examples: ["kS0f1b2c3d4e5f60718293a4b5c6d7e8"],
    }),
    domain: Type.String({
      description: "The VP's `domain` (audience): this gateway's host",
      examples: ["127.0.0.1:8787"],
    }),
    expiresAt: UnixMs,
  },
  { additionalProperties: false },
);

export const RoleBody = Type.Object(
  {
    role: RoleName,
    challenge: Type.String({
      minLength: 16,
      maxLength: 256,
      description: "The challenge from GET /v1/auth/roles/challenge the presentation answers",
      examples: ["kS0f1b2c3d4e5f60718293a4b5c6d7e8"],
    }),
    presentation: Type.String({
      minLength: 1,
      maxLength: 256 * 1024,
      pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$",
      description: "A JWT VP signed by the session address's did:ethr, holding its one role credential",
      examples: ["eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJKV1QifQ.eyJ2cCI6e319.c2ln"],
    }),
  },
  { additionalProperties: false },
);

export const RoleResponse = Type.Object(
  {
    address: Address,
    role: RoleName,
    roles: Type.Array(RoleName, { examples: [["clinic"]] }),
    issuer: Type.String({
      description: "The credential's issuer DID",
      examples: ["did:ethr:0x7a69:0x90f79bf6eb2c4f870365e785982e1f101e93b906"],
    }),
    validUntil: Type.Union([UnixMs, Type.Null()], { description: "When the credential expires" }),
    claims: Type.Record(Type.String(), Type.Unknown(), {
      description: "The credential's disclosed claims (organisation data, never a patient's)",
      examples: [{ clinicName: "Asclepius Virtual Clinic", accreditationNumber: "MB-2026-0042" }],
    }),
  },
  { additionalProperties: false },
);
