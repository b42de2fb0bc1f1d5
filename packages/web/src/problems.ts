// Every error a person can meet, in words, with what to do next. The SDK's errors already carry a `hint` (one
// sentence: what to do); wallets speak EIP-1193 codes (4001: the user said no), ethers wraps them in its own codes.

export interface ShownProblem {
  /** One line: what happened. */
  title: string;
  /** What to do next. */
  next: string;
  /** The underlying message, for a support request. */
  detail?: string;
}

/** Thrown by the page itself (no wallet, wrong chain, …): already in words. */
export class PageProblem extends Error {
  readonly next: string;
  constructor(title: string, next: string) {
    super(title);
    this.name = "PageProblem";
    this.next = next;
  }
}

interface MaybeCoded {
  code?: unknown;
  hint?: unknown;
  shortMessage?: unknown;
  message?: unknown;
  info?: { error?: { code?: unknown; message?: unknown } };
  error?: { code?: unknown; message?: unknown };
}

function walletRejected(error: MaybeCoded): boolean {
  return error.code === 4001 || error.code === "ACTION_REJECTED" || error.info?.error?.code === 4001;
}

/** The problem in words; never throws, whatever was thrown (a wallet's error object is foreign input). */
export function describeProblem(error: unknown): ShownProblem {
  try {
    return describe(error);
  } catch {
    return {
      title: "Something went wrong, and the error could not be read.",
      next: "Reload the page and try again; if it happens again, try another wallet.",
    };
  }
}

function describe(error: unknown): ShownProblem {
  if (error instanceof PageProblem) return { title: error.message, next: error.next };
  const coded = (typeof error === "object" && error !== null ? error : {}) as MaybeCoded;
  if (walletRejected(coded))
    return {
      title: "You declined the request in your wallet.",
      next: "Nothing was signed or sent. Try again when you are ready, and approve the request in your wallet.",
    };
  const message = typeof coded.message === "string" ? coded.message.split("\n")[0]! : String(error);
  if (coded.code === "INSUFFICIENT_FUNDS")
    return {
      title: "Your wallet has no ETH to pay for publishing your key.",
      next: "Add a little ETH to this account (on the local stack: npm run fund -- <address>) and try again.",
      detail: message,
    };
  // The SDK's hint speaks to developers (flags, CORS); a person needs to know the service is not answering.
  if (coded.code === "SERVICE_UNREACHABLE" || (error instanceof TypeError && /fetch/i.test(error.message)))
    return {
      title: "The Hygeia service did not answer.",
      next: "Check your connection and try again in a moment; if it keeps failing, the service may be down.",
      detail: message,
    };
  if (coded.code === "TOKEN_EXPIRED" || coded.code === "SESSION_EXPIRED" || coded.code === "SESSION_REVOKED")
    return {
      title: "You were signed out (sessions end automatically after a while).",
      next: "Reload the page and connect your wallet again.",
      detail: message,
    };
  if (typeof coded.hint === "string" && typeof coded.code === "string")
    return { title: sentence(message), next: coded.hint, detail: coded.code };
  return {
    title: "Something went wrong.",
    next: "Reload the page and try again. If it happens again, send the detail below to your provider.",
    detail: message,
  };
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === "") return "Something went wrong.";
  const first = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}
