/**
 * The patient's audit log: who accessed what, and the proof that the gateway's answer is the log it anchored.
 *
 * Rules:
 * - The gateway's word is not trusted: `verify` checks every event against the gateway's signed checkpoints, and the
 *   checkpoints against the anchors read FROM THE CHAIN (`AuditAnchorClient.anchorsOf`), never the gateway's
 *   `anchor` fields, with `verifyAuditLog` of @hygeia/audit (RFC 9162 inclusion and consistency proofs, C2SP signed
 *   notes, the per-patient `seq` that shows a withheld event).
 * - A failed proof is never hidden: it marks its event `verified: false` and is listed in `problems` (kind
 *   `integrity`); `verifyOrThrow` throws `AuditIntegrityError` (an `IntegrityError`) carrying the whole report.
 * - Honest about what cannot be proven yet: an event newer than the last anchored head is `verified: "pending"`,
 *   neither trusted nor failed; it becomes provable after the gateway's next anchor (`audit.anchorEveryMs`).
 * - The verifier key is pinned on first use by this instance (or given by the caller): a gateway that later serves
 *   another key is an integrity problem, and the checkpoints are still checked against the pinned key.
 * - A service that cannot answer (gateway, chain) is an error of kind `unavailable`, not a verification result:
 *   nothing was verified.
 *
 * Browser-safe: no `node:*` import.
 */
import { AuditAnchorClient, parsePurpose, purposeName, type PurposeName } from "@hygeia/chain/browser";
import {
  decodeAuditEvent,
  verifyAuditLog,
  type AuditEvent,
  type AuditEventType,
  type AuditProblemCode,
  type ServedCheckpoint,
  type ServedConsistency,
  type ServedEvent,
  type VerifiedHead,
} from "@hygeia/audit";
import { IntegrityError, SdkInputError } from "../errors.ts";
import type { PatientContext, RecordSharing } from "./context.ts";
import { watchAccessNotifications, type WatchNotificationsOptions } from "./notifications.ts";
import { chainCall } from "./consent.ts";

// --- public shapes ------------------------------------------------------------------------------

/** One audit event as the patient reads it (no PHI: addresses, opaque ids, codes, times). */
export interface AuditEntry {
  /** The audit log holding it (its origin): the gateway that decided keeps it. */
  log: string;
  /** Its position in that log (a release answer's `auditIndex`). */
  index: number;
  /** Its position among this patient's events (0, 1, 2, ...), from the signed event. */
  seq: number | undefined;
  /** `unreadable`: the served bytes are not an audit event (always an integrity problem). */
  type: AuditEventType | "unreadable";
  decision: "permit" | "deny" | undefined;
  /** The gateway's reason code (`CONSENT_GRANTED`, `NO_CONSENT`, `GRANT_RELAYED`, …). */
  reason: string | undefined;
  /** Who asked (the requesting session's address). */
  actor: string | undefined;
  /** For key releases and refusals: the grantee who asked (the actor). */
  grantee: string | undefined;
  /** The record's CID, when a record was concerned. */
  record: string | undefined;
  /** The scope id the decision used, and its label where this wallet can tell. */
  scopeId: string | undefined;
  scope: string | undefined;
  consentAddress: string | undefined;
  purpose: PurposeName | undefined;
  /** The gateway's time of the decision. */
  time: Date | undefined;
  /** A break-glass release (or anything under the Emergency purpose). */
  emergency: boolean;
  /** A relayed consent's transaction. */
  tx: string | undefined;
  /** The canonical JSON exactly as served (what the Merkle leaf hashes). */
  raw: string;
}

export interface AuditPage {
  events: AuditEntry[];
  /** The cursor of the next page (`after`), or null at the end. */
  next: string | null;
}

/** `true`: proven in an anchored head; `false`: a proof failed; `"pending"`: newer than the last anchor. */
export type AuditVerified = true | false | "pending";

export interface VerifiedAuditEntry extends AuditEntry {
  verified: AuditVerified;
  /** Why `verified` is false. */
  problem: AuditReportProblemCode | undefined;
}

export type AuditReportProblemCode =
  | AuditProblemCode
  /** The gateway serves another verifier key than the one pinned. */
  | "VERIFIER_KEY_CHANGED"
  /** The gateway names another AuditAnchor contract or chain than the deployment the wallet trusts. */
  | "WRONG_ANCHOR_CONTRACT"
  /** A log this wallet pinned (or was given a key for) is no longer listed: its events would go unseen. */
  | "LOG_MISSING";

export interface AuditReportProblem {
  code: AuditReportProblemCode;
  kind: "integrity";
  /** The audit log (origin) it concerns. */
  log: string;
  message: string;
  index?: number;
  size?: number;
}

/** An audit log the gateway serves: its own, or another gateway's sharing its database (scale-out). */
export interface AuditLogInfo {
  origin: string;
  /** The verifier key the gateway lists for it (checked against the pinned one by `verify`). */
  verifierKey: string;
  /** The anchoring address of the gateway keeping it (lowercase). */
  gateway: string;
  createdAt: Date;
  /** Whether it is the log of the gateway that answered. */
  own: boolean;
}

/** One log's part of an `AuditReport`. */
export interface AuditLogReport {
  origin: string;
  gateway: string;
  /** The key its checkpoints were checked against (pinned). */
  verifierKey: string;
  anchoredSize: number;
  heads: VerifiedHead[];
  ok: boolean;
  own: boolean;
}

export interface AuditReport {
  /** No problem found in any log. Pending events do not make it false; they are not proven yet either. */
  ok: boolean;
  /** Lowercase. */
  patient: string;
  /** The answering gateway's anchoring address (lowercase); each log's is in `logs`. */
  gateway: string;
  /** The answering gateway's log. */
  origin: string;
  /** The key the answering gateway's checkpoints were checked against (pinned). */
  verifierKey: string;
  /** Every event served, from every log, oldest first (each names its `log`). */
  events: VerifiedAuditEntry[];
  counts: { verified: number; failed: number; pending: number };
  /** The largest tree size of the answering gateway's log anchored on chain and checked (0: nothing anchored yet). */
  anchoredSize: number;
  /** The answering gateway's heads; each log's are in `logs`. */
  heads: VerifiedHead[];
  /** Every problem, from every log (each names its `log`). */
  problems: AuditReportProblem[];
  /** Each log verified: one per gateway sharing the database, the answering gateway's own among them. */
  logs: AuditLogReport[];
}

export interface VerifyOptions {
  /** Indexes of this patient's events learned elsewhere, in the answering gateway's own log: each must be served. */
  knownIndexes?: readonly number[];
  /**
   * Events learned elsewhere, by log (a release answer's `auditLog` and `auditIndex`, a notification's `log` and
   * `index`): each must be served by its log, and a log the gateway does not list is LOG_MISSING.
   */
  knownEvents?: readonly { log: string; index: number }[];
  /** The verifier key to trust for the answering gateway's log (pinned elsewhere); default: the one this instance pinned, or the gateway's on first use. */
  verifierKey?: string;
  /** Verifier keys to trust per log origin (several gateways); each log's default is as for `verifierKey`. */
  verifierKeys?: Readonly<Record<string, string>>;
}

/** The audit log did not verify; `report` has every event and problem. */
export class AuditIntegrityError extends IntegrityError {
  readonly report: AuditReport;
  constructor(report: AuditReport) {
    const first = report.problems
      .slice(0, 3)
      .map((p) => `${p.code} (${p.log}): ${p.message}`)
      .join("; ");
    super(
      "AUDIT_VERIFICATION_FAILED",
      `the gateway's audit log failed verification (${report.problems.length} problem(s)): ${first}`,
      "Do not trust this gateway's account of who accessed your records: keep the report and tell its operator; " +
        "the chain's anchors are what the log was checked against.",
    );
    this.report = report;
  }
}

// --- the class ------------------------------------------------------------------------------------

const MAX_PAGE = 500;

interface ServedEntry {
  index: number;
  seq: number | null;
  event: string;
  inclusion: ServedEvent["inclusion"] | null;
  latest: ServedEvent["inclusion"] | null;
}

interface EventsAnswer {
  patient: string;
  /** The log's origin. */
  log: string;
  events: ServedEntry[];
  next: string | null;
}

interface CheckpointsAnswer {
  origin: string;
  verifierKey: string;
  checkpoints: (ServedCheckpoint & { size: number; consistency: ServedConsistency })[];
  next: string | null;
}

interface LogsAnswer {
  self: string;
  logs: { origin: string; verifierKey: string; gateway: string; createdAt: number }[];
}

interface LogVerification {
  log: AuditLogInfo;
  ok: boolean;
  origin: string;
  gateway: string;
  verifierKey: string;
  events: VerifiedAuditEntry[];
  anchoredSize: number;
  heads: VerifiedHead[];
  problems: AuditReportProblem[];
}

interface VerifierKeyAnswer {
  origin: string;
  verifierKey: string;
  gateway: string;
  auditAnchor: string;
  chainId: number;
  size: number;
}

export class PatientAudit {
  readonly #context: PatientContext;
  /** Verifier keys pinned on first use, per log origin. */
  readonly #pinnedKeys = new Map<string, string>();
  #ownOrigin: string | undefined;

  // `sharing` is unused: the constructor has the shape of every part of the patient's client.
  constructor(context: PatientContext, _sharing?: RecordSharing) {
    this.#context = context;
  }

  /** The verifier key this instance pinned (after the first `verify`), to keep with the wallet's data. */
  get pinnedVerifierKey(): string | undefined {
    return this.#ownOrigin === undefined ? undefined : this.#pinnedKeys.get(this.#ownOrigin);
  }

  /** Every verifier key this instance pinned, by log origin. */
  get pinnedVerifierKeys(): Record<string, string> {
    return Object.fromEntries(this.#pinnedKeys);
  }

  /**
   * Follows the patient's access notifications live (`GET /v1/events`) until `signal` aborts or the session ends:
   * each new grantee's first access and each emergency access is flagged. Not a proof: `verify` again on one.
   */
  watch(options: WatchNotificationsOptions): Promise<void> {
    return watchAccessNotifications(this.#context.connection.transport, options);
  }

  /** One page of the patient's events, in log order (not verified: see `verify`). */
  async events(options: { after?: string | number; limit?: number; log?: string } = {}): Promise<AuditPage> {
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw new SdkInputError("limit", `expected 1 to ${MAX_PAGE}, got ${String(limit)}`);
    const after = options.after === undefined ? undefined : String(options.after);
    if (after !== undefined && !/^(0|[1-9][0-9]{0,14})$/.test(after))
      throw new SdkInputError("after", `expected a cursor (a page's \`next\`), got ${JSON.stringify(after)}`);
    const page = await this.#page(options.log, after, limit);
    const log = options.log ?? page.log;
    return { events: page.events.map((e) => this.#entry(log, e.index, e.event, undefined)), next: page.next };
  }

  /** The audit logs the gateway serves: its own first, then those of the gateways sharing its database. */
  async logs(): Promise<AuditLogInfo[]> {
    const answer = await this.#context.connection.transport.request<LogsAnswer>("GET", "/v1/audit/logs", {
      auth: false,
    });
    return answer.logs.map((log) => ({
      origin: log.origin,
      verifierKey: log.verifierKey,
      gateway: log.gateway.toLowerCase(),
      createdAt: new Date(log.createdAt),
      own: log.origin === answer.self,
    }));
  }

  /**
   * Fetches all of the patient's events from every audit log the gateway serves (one per gateway sharing its
   * database), each log's checkpoints and verifier key, and the anchors from the chain, and verifies every event
   * against its own log: the report marks each verified, failed or pending and lists every problem.
   */
  async verify(options: VerifyOptions = {}): Promise<AuditReport> {
    const patient = this.#context.address.toLowerCase();
    const reports: LogVerification[] = [];
    const listed = await this.logs();
    for (const log of listed) reports.push(await this.#verifyLog(log, options));
    // A log the wallet knows and the gateway no longer lists would hide its events: an integrity problem, never silence.
    const known = new Set([
      ...this.#pinnedKeys.keys(),
      ...Object.keys(options.verifierKeys ?? {}),
      ...(options.knownEvents ?? []).map((event) => event.log),
    ]);
    const missing: AuditReportProblem[] = [...known]
      .filter((origin) => !listed.some((log) => log.origin === origin))
      .map((origin) => ({
        code: "LOG_MISSING",
        kind: "integrity",
        log: origin,
        message: `the gateway does not list the audit log ${origin}, whose key or events this wallet holds`,
      }));
    const own = reports.find((report) => report.log.own) ?? reports[0];
    if (own === undefined) throw new Error("the gateway lists no audit log, not even its own");
    const events = reports
      .flatMap((report) => report.events)
      .sort((a, b) => (a.time?.getTime() ?? 0) - (b.time?.getTime() ?? 0));
    const problems = [...reports.flatMap((report) => report.problems), ...missing];
    return {
      ok: missing.length === 0 && reports.every((report) => report.ok),
      patient,
      gateway: own.gateway,
      origin: own.origin,
      verifierKey: own.verifierKey,
      events,
      counts: {
        verified: events.filter((e) => e.verified === true).length,
        failed: events.filter((e) => e.verified === false).length,
        pending: events.filter((e) => e.verified === "pending").length,
      },
      anchoredSize: own.anchoredSize,
      heads: own.heads,
      problems,
      logs: reports.map(({ origin, gateway, verifierKey, anchoredSize, heads, ok, log }) => ({
        origin,
        gateway,
        verifierKey,
        anchoredSize,
        heads,
        ok,
        own: log.own,
      })),
    };
  }

  /** One log, verified against its own checkpoints and the anchors of its own gateway. */
  async #verifyLog(log: AuditLogInfo, options: VerifyOptions): Promise<LogVerification> {
    const { transport, deployment, provider } = this.#context.connection;
    const patient = this.#context.address.toLowerCase();
    const problems: AuditReportProblem[] = [];
    const origin = log.origin;
    const query = { log: origin };

    const key = await transport.request<VerifierKeyAnswer>("GET", "/v1/audit/verifier-key", { auth: false, query });
    const pinned =
      options.verifierKeys?.[origin] ??
      (log.own ? options.verifierKey : undefined) ??
      this.#pinnedKeys.get(origin) ??
      key.verifierKey;
    if (pinned !== key.verifierKey || pinned !== log.verifierKey)
      problems.push({
        code: "VERIFIER_KEY_CHANGED",
        kind: "integrity",
        log: origin,
        message: `the gateway serves verifier key ${key.verifierKey} for ${origin}, not the pinned ${pinned}`,
      });
    if (
      key.auditAnchor.toLowerCase() !== deployment.contracts.AuditAnchor.toLowerCase() ||
      key.chainId !== deployment.chainId
    )
      problems.push({
        code: "WRONG_ANCHOR_CONTRACT",
        kind: "integrity",
        log: origin,
        message:
          `the gateway anchors on ${key.auditAnchor} (chain ${key.chainId}), not the deployment's ` +
          `${deployment.contracts.AuditAnchor} (chain ${deployment.chainId}); checked against the deployment's`,
      });
    const gateway = key.gateway.toLowerCase();

    // Every page of the patient's events, then every checkpoint (each linked to the previous by consistency).
    const served: ServedEntry[] = [];
    for (let after: string | undefined, first = true; first || after !== undefined; first = false) {
      const page = await this.#page(origin, after, MAX_PAGE);
      served.push(...page.events);
      after = page.next ?? undefined;
    }
    const checkpoints: CheckpointsAnswer["checkpoints"] = [];
    for (let after: string | undefined, first = true; first || after !== undefined; first = false) {
      const page = await transport.request<CheckpointsAnswer>("GET", "/v1/audit/checkpoints", {
        auth: false,
        query: { ...query, limit: MAX_PAGE, after },
      });
      checkpoints.push(...page.checkpoints);
      after = page.next ?? undefined;
    }

    // The anchors from the chain itself: those of this log's own gateway.
    const anchorClient = new AuditAnchorClient(deployment.contracts.AuditAnchor, provider);
    const anchors = await chainCall(this.#context, () =>
      anchorClient.anchorsOf(gateway, { fromBlock: deployment.deployedAt.block }),
    );

    const provable = served.filter((e): e is ServedEntry & ServedEvent => e.inclusion !== null);
    const result = verifyAuditLog({
      patient,
      gateway,
      origin: key.origin,
      verifierKey: pinned,
      events: provable,
      checkpoints,
      consistency: checkpoints.map((c) => c.consistency),
      anchors: anchors.map((a) => ({ root: a.root, firstIndex: a.firstIndex, count: a.count })),
    });
    for (const p of result.problems)
      problems.push({
        code: p.code,
        kind: "integrity",
        log: origin,
        message: p.message,
        ...(p.index === undefined ? {} : { index: p.index }),
        ...(p.size === undefined ? {} : { size: p.size }),
      });

    const outcome = new Map(result.events.map((e) => [e.index, e]));
    const events: VerifiedAuditEntry[] = served.map((s) => {
      if (s.inclusion === null) {
        const entry = this.#entry(origin, s.index, s.event, undefined);
        if (entry.type !== "unreadable") return { ...entry, verified: "pending", problem: undefined };
        problems.push({
          code: "TAMPERED_EVENT",
          kind: "integrity",
          log: origin,
          message: `event ${s.index} of ${origin} is not a canonical audit event`,
          index: s.index,
        });
        return { ...entry, verified: false, problem: "TAMPERED_EVENT" };
      }
      const checked = outcome.get(s.index);
      const entry = this.#entry(origin, s.index, s.event, checked?.event);
      if (checked?.ok) return { ...entry, verified: true, problem: undefined };
      // No outcome at all: the verifier stopped before the events (an unusable verifier key).
      return { ...entry, verified: false, problem: checked?.reason ?? result.problems[0]?.code ?? "BAD_INCLUSION" };
    });

    // Events the patient learned: bare indexes are positions in the answering gateway's own log.
    const servedIndexes = new Set(served.map((s) => s.index));
    const knownHere = [
      ...(log.own ? (options.knownIndexes ?? []) : []),
      ...(options.knownEvents ?? []).filter((event) => event.log === origin).map((event) => event.index),
    ];
    for (const index of new Set(knownHere))
      if (!servedIndexes.has(index))
        problems.push({
          code: "MISSING_EVENT",
          kind: "integrity",
          log: origin,
          message: `event ${index} (known to the patient) was not served`,
          index,
        });

    if (!this.#pinnedKeys.has(origin)) this.#pinnedKeys.set(origin, pinned);
    if (log.own) this.#ownOrigin = origin;
    const anchoredSize = Math.max(0, ...result.heads.filter((h) => h.anchored).map((h) => h.size));
    return {
      log,
      ok: problems.length === 0 && events.every((e) => e.verified !== false),
      origin: key.origin,
      gateway,
      verifierKey: pinned,
      events,
      anchoredSize,
      heads: result.heads,
      problems,
    };
  }

  /** `verify`, throwing `AuditIntegrityError` (kind `integrity`, with the report) when anything failed. */
  async verifyOrThrow(options: VerifyOptions = {}): Promise<AuditReport> {
    const report = await this.verify(options);
    if (!report.ok) throw new AuditIntegrityError(report);
    return report;
  }

  #page(log: string | undefined, after: string | undefined, limit: number): Promise<EventsAnswer> {
    return this.#context.connection.transport.request<EventsAnswer>("GET", "/v1/audit/events", {
      query: { log, limit, after },
    });
  }

  /** An event for people: decoded from the verified event when there is one, else from the served bytes. */
  #entry(log: string, index: number, raw: string, verified: AuditEvent | undefined): AuditEntry {
    let event = verified;
    if (event === undefined) {
      try {
        event = decodeAuditEvent(new TextEncoder().encode(raw));
      } catch {
        event = undefined;
      }
    }
    if (event === undefined)
      return {
        log,
        index,
        seq: undefined,
        type: "unreadable",
        decision: undefined,
        reason: undefined,
        actor: undefined,
        grantee: undefined,
        record: undefined,
        scopeId: undefined,
        scope: undefined,
        consentAddress: undefined,
        purpose: undefined,
        time: undefined,
        emergency: false,
        tx: undefined,
        raw,
      };
    const access = event.type === "key_release" || event.type === "emergency_release" || event.type === "access_denied";
    return {
      log,
      index,
      seq: event.seq,
      type: event.type,
      decision: event.decision,
      reason: event.reason,
      actor: event.actor,
      grantee: access ? event.actor : undefined,
      record: event.record,
      scopeId: event.scope,
      scope: event.scope === undefined ? undefined : this.#label(event.scope, event.consentAddress, event.record),
      consentAddress: event.consentAddress,
      purpose: event.purpose === undefined ? undefined : purposeName(parsePurpose(event.purpose)),
      time: new Date(event.time),
      emergency: event.type === "emergency_release" || event.purpose === 3,
      tx: event.tx,
      raw,
    };
  }

  #label(scope: string, consentAddress: string | undefined, record: string | undefined): string | undefined {
    const own = this.#context.keys.scopes;
    const keyed =
      consentAddress === undefined || consentAddress === this.#context.address.toLowerCase()
        ? own
        : own.forAddress(consentAddress);
    try {
      return keyed.label(scope, record === undefined ? {} : { cids: [record] });
    } catch {
      return undefined;
    }
  }
}
