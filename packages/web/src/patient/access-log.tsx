// The access log: every permit and deny on the patient's data, newest first, each proven against the audit anchors
// on chain (the SDK's audit.verify: inclusion proofs and consistency between anchored heads). A failed proof is an
// alarm at the top, never hidden; emergency access is highlighted. While it is open, the gateway's event stream
// brings accesses live: a new grantee's first access and every emergency access are alerts, and the log is verified
// again.
import { useEffect, useRef, useState } from "preact/hooks";
import type { AccessNotification, AuditReport, PatientClient, VerifiedAuditEntry } from "@hygeia/sdk/browser";
import { describeProblem, type ShownProblem } from "../problems.ts";
import { ProblemAlert } from "../problem-alert.tsx";
import { scopeWords } from "./consent-view.tsx";

const short = (address: string | undefined) => (address ? `${address.slice(0, 6)}…${address.slice(-4)}` : "someone");

function describe(entry: VerifiedAuditEntry): string {
  const what = entry.record
    ? `record ${entry.record.slice(0, 12)}…`
    : entry.scopeId
      ? scopeWords(entry.scope, entry.scopeId)
      : "your data";
  const purpose = entry.purpose ? ` for ${entry.purpose}` : "";
  switch (entry.type) {
    case "key_release":
    case "emergency_release":
      return `${short(entry.grantee ?? entry.actor)} was given the key of ${what}${purpose}`;
    case "access_denied":
      return `${short(entry.grantee ?? entry.actor)} was refused the key of ${what}${purpose} (${entry.reason ?? "no consent"})`;
    case "record_added":
      return `You added ${what}`;
    case "consent_relayed":
      return consentText(entry);
    case "role_verified":
      return `${short(entry.actor)} proved its role`;
    case "unreadable":
      return "An entry the gateway served is not an audit event";
    default:
      return `${entry.type.replaceAll("_", " ")} by ${short(entry.actor)}${purpose}${entry.decision === "deny" ? " (refused)" : ""}`;
  }
}

/** A relayed consent in words: what it was (its reason code) and where it stands (sent, or mined with its tx). */
function consentText(entry: VerifiedAuditEntry): string {
  const [kind, stage] =
    /^(GRANT|REVOKE|EMERGENCY_GRANTEE)_(SUBMITTED|RELAYED)$/.exec(entry.reason ?? "")?.slice(1) ?? [];
  const what =
    kind === "GRANT"
      ? "Your consent (a grant of access)"
      : kind === "REVOKE"
        ? "Your revocation of access"
        : kind === "EMERGENCY_GRANTEE"
          ? "Your emergency contact registration"
          : "Your signed consent";
  if (stage === "SUBMITTED") return `${what} was sent to the chain`;
  return `${what} is recorded on chain${entry.tx ? ` (transaction ${entry.tx.slice(0, 10)}…)` : ""}`;
}

function proofText(entry: VerifiedAuditEntry): string {
  if (entry.verified === true) return "Proof verified against the chain";
  if (entry.verified === "pending") return "Recorded; not anchored on chain yet";
  return `PROOF FAILED (${entry.problem ?? "unknown"})`;
}

type LiveState = "connecting" | "live" | "ended";

function alertText(notification: AccessNotification): string {
  const who = short(notification.event.actor);
  const what = notification.event.record ? ` (record ${notification.event.record.slice(0, 12)}…)` : "";
  const when = notification.event.time.toLocaleString();
  if (notification.emergency) return `Emergency access: ${who} used break-glass access to your data${what} at ${when}.`;
  return `New: ${who} accessed your data for the first time${what} at ${when}.`;
}

export function AccessLog(props: { client: PatientClient }) {
  const [report, setReport] = useState<AuditReport | undefined>(undefined);
  const [problem, setProblem] = useState<ShownProblem | undefined>(undefined);
  const [checking, setChecking] = useState(false);
  const [live, setLive] = useState<LiveState>("connecting");
  const [alerts, setAlerts] = useState<AccessNotification[]>([]);
  const reverify = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const verify = async () => {
    setChecking(true);
    setProblem(undefined);
    try {
      setReport(await props.client.audit.verify());
    } catch (error) {
      setProblem(describeProblem(error));
    } finally {
      setChecking(false);
    }
  };
  useEffect(() => {
    void verify();
  }, [props.client]);

  // Live accesses while the log is open; the stream ends when the page leaves the log (or the session ends).
  useEffect(() => {
    const controller = new AbortController();
    const ended = () => {
      if (!controller.signal.aborted) setLive("ended");
    };
    props.client.audit
      .watch({
        signal: controller.signal,
        onConnected: () => setLive("live"),
        onNotification: (notification) => {
          if (notification.newGrantee || notification.emergency) setAlerts((shown) => [notification, ...shown]);
          // A burst of accesses is verified once, after it.
          clearTimeout(reverify.current);
          reverify.current = setTimeout(() => void verify(), 300);
        },
      })
      .then(ended, ended);
    return () => {
      controller.abort();
      clearTimeout(reverify.current);
    };
  }, [props.client]);

  const entries = report ? [...report.events].reverse() : [];
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Access log</h2>
      <p>
        Every access to your data, newest first. Each entry is checked against the audit log's anchors on chain, so the
        gateway cannot hide or rewrite one.
      </p>
      {report && !report.ok && (
        <div role="alert" class="problem alarm" data-testid="audit-alarm">
          <p class="problem-title">
            The audit log failed verification: the gateway may have altered or hidden accesses.
          </p>
          <ul>
            {report.problems.map((item) => (
              <li key={`${item.log}-${item.code}-${item.index ?? ""}`}>{`${item.code}: ${item.message}`}</li>
            ))}
          </ul>
          <p>Do not rely on this log; report it to your provider and the gateway's operator.</p>
        </div>
      )}
      <p role="status" data-testid="live-state" data-state={live}>
        {live === "connecting" && "Connecting to live updates…"}
        {live === "live" && "Live: new accesses appear here as they happen."}
        {live === "ended" && "Live updates stopped (signed out, or the gateway closed the stream): reload to resume."}
      </p>
      {alerts.length > 0 && (
        <ul class="alerts" data-testid="live-alerts">
          {alerts.map((notification) => (
            <li key={`${notification.log}-${notification.index}`}>
              <div
                role="alert"
                class={notification.emergency ? "live-alert emergency" : "live-alert"}
                data-testid="live-alert"
              >
                {alertText(notification)}
              </div>
            </li>
          ))}
        </ul>
      )}
      <button type="button" onClick={() => void verify()} disabled={checking}>
        {checking ? "Verifying…" : "Verify again"}
      </button>
      {report && (
        <p role="status" data-testid="audit-counts">
          {`${report.counts.verified} verified, ${report.counts.pending} not anchored yet, ${report.counts.failed} failed.`}
        </p>
      )}
      {problem && <ProblemAlert problem={problem} />}
      {report && entries.length === 0 && <p>No access to your data yet.</p>}
      {entries.length > 0 && (
        <ol class="log" data-testid="audit-entries">
          {entries.map((entry) => (
            <li
              key={`${entry.log}-${entry.index}`}
              data-testid="audit-entry"
              data-type={entry.type}
              data-verified={String(entry.verified)}
              class={[entry.emergency ? "emergency" : "", entry.verified === false ? "failed" : ""].join(" ").trim()}
            >
              <span class="when">{entry.time ? entry.time.toLocaleString() : "time unknown"}</span>
              <span class="what">
                {entry.emergency && <strong>Emergency access: </strong>}
                {describe(entry)}
              </span>
              <span
                class={entry.verified === false ? "proof failed" : entry.verified === true ? "proof" : "proof pending"}
              >
                {proofText(entry)}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
