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

/** The charted values of one FHIR resource: an Observation, or a Bundle's Observations. */
export function labValuesOf(resource: unknown): LabValue[] {
  if (!isObject(resource)) return [];
  if (resource.resourceType === "Observation") {
    const value = observationValue(resource);
    return value ? [value] : [];
  }
  if (resource.resourceType === "Bundle" && Array.isArray(resource.entry))
    return resource.entry.flatMap((entry) => (isObject(entry) ? labValuesOf(entry.resource) : []));
  return [];
}

/** Values grouped by what was measured (and unit: mg/dL and mmol/L never share a line), each oldest first. */
export function labSeries(values: readonly LabValue[]): LabSeries[] {
  const groups = new Map<string, LabValue[]>();
  for (const value of values) {
    const key = `${value.key}\u0000${value.unit}`;
    groups.set(key, [...(groups.get(key) ?? []), value]);
  }
  return [...groups.values()]
    .map((points) => {
      const sorted = [...points].sort((a, b) => a.time.getTime() - b.time.getTime());
      const latest = sorted[sorted.length - 1]!;
      return {
        key: latest.key,
        label: latest.label,
        unit: latest.unit,
        points: sorted,
        low: latest.low,
        high: latest.high,
      };
    })
    .sort((a, b) => a.label.localeCompare(b.label));
}
