// A problem as the page shows it: what happened, what to do next, and the detail for a support request.
import type { ShownProblem } from "./problems.ts";

export function ProblemAlert(props: { problem: ShownProblem }) {
  return (
    <div role="alert" class="problem">
      <p class="problem-title">{props.problem.title}</p>
      <p>{props.problem.next}</p>
      {props.problem.detail && <p class="problem-detail">Detail: {props.problem.detail}</p>}
    </div>
  );
}
