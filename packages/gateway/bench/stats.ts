// Rounds and medians for bench:gateway (the method is written at the top of gateway.ts).

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The order of the measures in each round: round r starts `r` places further along (a Latin square when there
 * are as many rounds as measures), so every measure runs first, second and last equally often and a slow drift
 * of the machine's load does not always land on the same one.
 */
export function roundOrder<T>(measures: readonly T[], round: number): T[] {
  const shift = round % measures.length;
  return [...measures.slice(shift), ...measures.slice(0, shift)];
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
