// Schemas of the audit routes: pages of a patient's events with inclusion proofs, signed checkpoints with
// their anchors, consistency proofs, the verifier key. Hashes are 0x-hex (as on chain); the checkpoint note
// is the C2SP text exactly as signed.
import { Type, type Static } from "typebox";
import { AddressSchema, Bytes32Schema, UnixMsSchema } from "../../schemas.ts";

const MAX_PAGE = 500;
export const DEFAULT_PAGE = 100;

const IndexString = (description: string, example: string) =>
  Type.String({ pattern: "^(0|[1-9][0-9]{0,14})$", description, examples: [example] });

const LimitString = Type.String({
  pattern: "^([1-9][0-9]?|[1-4][0-9]{2}|500)$",
  description: `Page size, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE}).`,
  examples: ["100"],
});

const LogOrigin = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 200,
    description:
      "Which gateway's log (its origin, as GET /v1/audit/logs lists them); default this gateway's own. Gateways " +
      "sharing one database each keep their own log, and any of them serves every log.",
    examples: ["hygeia.local/gateway/0x70997970c51812dc3a010c7d01b50e0d17dc79c8"],
  }),
);

/** Only `log`: the routes that take nothing else. */
export const LogQuery = Type.Object({ log: LogOrigin }, { additionalProperties: false });
export type LogQuery = Static<typeof LogQuery>;

export const EventsQuery = Type.Object(
  {
    log: LogOrigin,
    after: Type.Optional(
      IndexString("Exclusive cursor: only events with a larger log index (the last page's `next`).", "41"),
    ),
    limit: Type.Optional(LimitString),
  },
  { additionalProperties: false },
);
export type EventsQuery = Static<typeof EventsQuery>;

export const CheckpointsQuery = Type.Object(
  {
    log: LogOrigin,
    after: Type.Optional(
      IndexString("Exclusive cursor: only checkpoints of a larger tree size (the last page's `next`).", "300"),
    ),
    limit: Type.Optional(LimitString),
  },
  { additionalProperties: false },
);
export type CheckpointsQuery = Static<typeof CheckpointsQuery>;

export const ConsistencyQuery = Type.Object(
  {
    log: LogOrigin,
    from: IndexString("The smaller tree size (0 allowed: the empty tree).", "100"),
    to: IndexString("The larger tree size, at most the log's size.", "300"),
  },
  { additionalProperties: false },
);
export type ConsistencyQuery = Static<typeof ConsistencyQuery>;

const HashList = Type.Array(Bytes32Schema, {
  maxItems: 64,
  description: "RFC 9162 proof hashes, in order, 0x-hex.",
  examples: [["0x5c3b1d2e9a1f0c4b7d6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"]],
});

export const Inclusion = Type.Object(
  {
    size: Type.Integer({ minimum: 1, description: "The tree size of the head the proof is against.", examples: [300] }),
    proof: HashList,
  },
  {
    additionalProperties: false,
    description: "RFC 9162 §2.1.3 inclusion proof of the event's leaf in the head of that size.",
  },
);

export const AuditEventEntry = Type.Object(
  {
    index: Type.Integer({ minimum: 0, description: "The event's position in the gateway's log.", examples: [41] }),
    seq: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description:
        "The event's position among your events (0, 1, 2, ...); null when the stored bytes are not an event (your verifier reports it).",
      examples: [3],
    }),
    event: Type.String({
      description:
        "The canonical event JSON exactly as logged (its UTF-8 bytes are the Merkle leaf data; verify them, do not re-serialize).",
      examples: [
        '{"actor":"0x15d34aaf54267db7d7c367839aaf71a00a2c6a65","decision":"permit","gateway":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","patient":"0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc","purpose":1,"reason":"CONSENT_GRANTED","request":"6f1c2d0e-8a53-4b8e-9a7e-0f6d7c1b2a3e","seq":3,"time":1767225600000,"type":"key_release","v":1}',
      ],
    }),
    inclusion: Type.Union([Inclusion, Type.Null()], {
      description:
        "Proof against the latest anchored head; null while the event is newer than it. Leave such events out " +
        "of verifyAuditLog's `events` (it reports an event without a proof as BAD_INCLUSION), or ask again " +
        "after the next anchor.",
    }),
    latest: Type.Union([Inclusion, Type.Null()], {
      description: "Proof against the latest signed head (anchored or not); null while no checkpoint covers the event.",
    }),
  },
  { additionalProperties: false },
);

const Head = Type.Object(
  {
    size: Type.Integer({ minimum: 0, description: "Tree size.", examples: [300] }),
    rootHash: Bytes32Schema,
    note: Type.String({
      description: "The C2SP signed checkpoint note of this head.",
      examples: ["hygeia.example/gateway\n300\n…\n\n— hygeia.example/gateway …\n"],
    }),
  },
  { additionalProperties: false },
);

export const EventsPage = Type.Object(
  {
    patient: AddressSchema,
    log: Type.String({
      description: "The origin of the log these events are from.",
      examples: ["hygeia.local/gateway/0x70997970c51812dc3a010c7d01b50e0d17dc79c8"],
    }),
    events: Type.Array(AuditEventEntry, { description: "Your events, in log order." }),
    anchoredHead: Type.Union([Head, Type.Null()], { description: "The latest head anchored on chain, or null." }),
    latestHead: Type.Union([Head, Type.Null()], { description: "The latest signed head, or null." }),
    next: Type.Union([Type.String({ pattern: "^[0-9]+$" }), Type.Null()], {
      description: "Cursor for the next page (`after`), or null at the end.",
      examples: ["41"],
    }),
  },
  { additionalProperties: false },
);

const Anchor = Type.Object(
  {
    txHash: Bytes32Schema,
    blockNumber: Type.Integer({ minimum: 0, description: "Block of the anchoring transaction.", examples: [42] }),
    firstIndex: Type.Integer({
      minimum: 0,
      description: "The anchor's firstIndex (the previous anchored size).",
      examples: [100],
    }),
    count: Type.Integer({ minimum: 1, description: "Events the anchor added (size - firstIndex).", examples: [200] }),
  },
  { additionalProperties: false, description: "The AuditAnchor transaction that anchored this head." },
);

export const CheckpointEntry = Type.Object(
  {
    size: Type.Integer({ minimum: 1, description: "Tree size.", examples: [300] }),
    rootHash: Bytes32Schema,
    note: Type.String({
      description: "The C2SP signed checkpoint note.",
      examples: ["hygeia.example/gateway\n300\n…\n\n— …\n"],
    }),
    createdAt: UnixMsSchema,
    anchor: Type.Union([Anchor, Type.Null()], { description: "Null until anchored on chain." }),
    consistency: Type.Object(
      {
        from: Type.Integer({ minimum: 0, examples: [100] }),
        to: Type.Integer({ minimum: 1, description: "This checkpoint's size.", examples: [300] }),
        proof: HashList,
      },
      {
        additionalProperties: false,
        description:
          "Consistency proof from the previous listed head (or `after`, or 0) to this one: " +
          "`{ from, to, proof }` as @hygeia/audit's verifyAuditLog takes it in `consistency`.",
      },
    ),
  },
  { additionalProperties: false },
);

export const CheckpointsPage = Type.Object(
  {
    origin: Type.String({
      description: "The log's origin (checkpoint first line).",
      examples: ["hygeia.example/gateway"],
    }),
    verifierKey: Type.String({
      description: "C2SP verifier key of the signing key.",
      examples: ["hygeia.example/gateway+1a2b3c4d+AQ…"],
    }),
    checkpoints: Type.Array(CheckpointEntry, { description: "Signed heads, oldest first." }),
    next: Type.Union([Type.String({ pattern: "^[0-9]+$" }), Type.Null()], {
      description: "Cursor for the next page (`after`), or null at the end.",
      examples: ["300"],
    }),
  },
  { additionalProperties: false },
);

export const ConsistencyAnswer = Type.Object(
  {
    from: Type.Integer({ minimum: 0, examples: [100] }),
    to: Type.Integer({ minimum: 0, examples: [300] }),
    fromRoot: Bytes32Schema,
    toRoot: Bytes32Schema,
    proof: HashList,
  },
  {
    additionalProperties: false,
    description: "RFC 9162 §2.1.4 consistency proof between the heads of sizes from and to.",
  },
);

export const VerifierKeyAnswer = Type.Object(
  {
    origin: Type.String({ description: "The log's origin.", examples: ["hygeia.example/gateway"] }),
    verifierKey: Type.String({
      description: "C2SP verifier key (<name>+<key id>+<base64(0x01 ‖ Ed25519 key)>) checking every checkpoint.",
      examples: ["hygeia.example/gateway+1a2b3c4d+AQ…"],
    }),
    gateway: AddressSchema,
    auditAnchor: AddressSchema,
    chainId: Type.Integer({ minimum: 1, description: "The chain AuditAnchor lives on.", examples: [31337] }),
    size: Type.Integer({ minimum: 0, description: "Events logged so far.", examples: [300] }),
  },
  { additionalProperties: false },
);

export const CheckpointText = Type.String({
  description: "The latest signed checkpoint (C2SP tlog-checkpoint in a signed note), text/plain.",
  examples: ["hygeia.example/gateway\n300\n…\n\n— hygeia.example/gateway …\n"],
});

export const LogsAnswer = Type.Object(
  {
    self: Type.String({
      description: "The origin of the log of the gateway that answered.",
      examples: ["hygeia.local/gateway/0x70997970c51812dc3a010c7d01b50e0d17dc79c8"],
    }),
    logs: Type.Array(
      Type.Object(
        {
          origin: Type.String({
            description: "The log's origin (checkpoint first line): pass it as `log` to the other audit routes.",
            examples: ["hygeia.local/gateway/0x70997970c51812dc3a010c7d01b50e0d17dc79c8"],
          }),
          verifierKey: Type.String({
            description: "C2SP verifier key of the key signing this log's checkpoints.",
            examples: ["hygeia.local/gateway/0x7099…+1a2b3c4d+AQ…"],
          }),
          gateway: AddressSchema,
          createdAt: UnixMsSchema,
        },
        { additionalProperties: false },
      ),
      {
        description:
          "Every audit log in the gateway's database, its own first: one per gateway sharing the database. Your " +
          "events are spread over them; verify each against its own heads and anchors.",
      },
    ),
  },
  { additionalProperties: false },
);
