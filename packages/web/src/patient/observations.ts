// Lab values out of FHIR R4 Observations (alone or in a Bundle): the numbers a chart draws. Pure: no DOM, no SDK.
// Only `valueQuantity` with a number is charted; an Observation without a time or a code is skipped (it cannot be
// placed on a trend line), never guessed.

export interface LabValue {
  /** What was measured, as a stable key: `system|code` of the first coding, else the code's text. */
  key: string;
  /** For people: the code's text, else its first coding's display, else the code. */
  label: string;
  time: Date;
  value: number;
  unit: string;
  /** The reference range, when the Observation gives one. */
  low: number | undefined;
  high: number | undefined;
}

export interface LabSeries {
  key: string;
  label: string;
  unit: string;
  /** Oldest first. */
  points: LabValue[];
  /** The latest point's reference range. */
  low: number | undefined;
  high: number | undefined;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined =>
  typeof value === "string" && value.trim() !== "" ? value : undefined;
const number = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

function observationValue(observation: Json): LabValue | undefined {
  const code = isObject(observation.code) ? observation.code : undefined;
  const coding = Array.isArray(code?.coding) ? code.coding.find(isObject) : undefined;
  const system = text(coding?.system) ?? "";
  const codeValue = text(coding?.code);
  const label = text(code?.text) ?? text(coding?.display) ?? codeValue;
  const key = codeValue ? `${system}|${codeValue}` : text(code?.text);
  const quantity = isObject(observation.valueQuantity) ? observation.valueQuantity : undefined;
  const value = number(quantity?.value);
  const when =
    text(observation.effectiveDateTime) ??
    (isObject(observation.effectivePeriod) ? text(observation.effectivePeriod.start) : undefined) ??
    text(observation.issued);
  const time = when === undefined ? undefined : new Date(when);
  if (key === undefined || label === undefined || value === undefined || !time || Number.isNaN(time.getTime()))
    return undefined;
  const range = Array.isArray(observation.referenceRange) ? observation.referenceRange.find(isObject) : undefined;
  return {
    key,
    label,
    time,
    value,
    unit: text(quantity?.unit) ?? text(quantity?.code) ?? "",
    low: isObject(range?.low) ? number(range.low.value) : undefined,
    high: isObject(range?.high) ? number(range.high.value) : undefined,
  };
}

/** Bundles inside Bundles are followed this deep (a FHIR document nests one or two; a hostile one thousands). */
export const MAX_BUNDLE_DEPTH = 8;

/** The charted values of one FHIR resource: an Observation, or a Bundle's Observations (iteratively, depth-capped). */
export function labValuesOf(resource: unknown): LabValue[] {
  const values: LabValue[] = [];
  const pending: { node: unknown; depth: number }[] = [{ node: resource, depth: 0 }];
  while (pending.length > 0) {
    const { node, depth } = pending.pop()!;
    if (!isObject(node)) continue;
    if (node.resourceType === "Observation") {
      const value = observationValue(node);
      if (value) values.push(value);
    } else if (node.resourceType === "Bundle" && Array.isArray(node.entry) && depth < MAX_BUNDLE_DEPTH) {
      for (let index = node.entry.length - 1; index >= 0; index--) {
        const entry: unknown = node.entry[index];
        if (isObject(entry)) pending.push({ node: entry.resource, depth: depth + 1 });
      }
    }
  }
  return values;
}

/** Values grouped by what was measured (and unit: mg/dL and mmol/L never share a line), each oldest first. */
export function labSeries(values: readonly LabValue[]): LabSeries[] {
  const groups = new Map<string, LabValue[]>();
  for (const value of values) {
    const key = `${value.key}\u0000${value.unit}`;
    const group = groups.get(key);
    if (group) group.push(value);
    else groups.set(key, [value]);
  }
  return [...groups.values()]
    .map((points) => {
      points.sort((a, b) => a.time.getTime() - b.time.getTime());
      const latest = points[points.length - 1]!;
      return { key: latest.key, label: latest.label, unit: latest.unit, points, low: latest.low, high: latest.high };
    })
    .sort((a, b) => a.label.localeCompare(b.label));
}

/**
 * At most `max` points of a series for drawing: all when there are few, else the lowest and highest of each of
 * max/2 equal time buckets (a monitor's year of readings keeps its peaks and dips on a 560-pixel line).
 */
export function chartPoints(points: readonly LabValue[], max = 400): LabValue[] {
  if (points.length <= max) return [...points];
  const buckets = Math.floor(max / 2);
  const first = points[0]!.time.getTime();
  const span = points[points.length - 1]!.time.getTime() - first || 1;
  const chosen: LabValue[] = [];
  let bucket = -1;
  let low: LabValue | undefined;
  let high: LabValue | undefined;
  const flush = () => {
    if (!low || !high) return;
    if (low === high) chosen.push(low);
    else chosen.push(...(low.time.getTime() <= high.time.getTime() ? [low, high] : [high, low]));
  };
  for (const point of points) {
    const index = Math.min(buckets - 1, Math.floor(((point.time.getTime() - first) / span) * buckets));
    if (index !== bucket) {
      flush();
      bucket = index;
      low = high = point;
    } else {
      if (point.value < low!.value) low = point;
      if (point.value > high!.value) high = point;
    }
  }
  flush();
  return chosen;
}
