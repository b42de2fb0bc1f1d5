// One user action at a time, with its progress line and its problem in words: the forms of both pages (grant,
// revoke, emergency contacts, the desk's list and open) run through it. `after` runs once the action ended, failed
// ones included (part of a failed action may stand, e.g. a grant on chain whose sharing failed).
import { useState } from "preact/hooks";
import { describeProblem, type ShownProblem } from "./problems.ts";

export function useAction(after?: () => Promise<void>) {
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<ShownProblem | undefined>(undefined);
  const run = async (what: string, action: () => Promise<void>) => {
    setProblem(undefined);
    setBusy(what);
    try {
      await action();
    } catch (error) {
      setProblem(describeProblem(error));
    } finally {
      setBusy(undefined);
      await after?.().catch(() => undefined);
    }
  };
  return { busy, problem, setProblem, run };
}
