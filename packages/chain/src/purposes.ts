/**
 * Purposes of use, as the ConsentRegistry encodes them (uint8). 0 is invalid on purpose so that an
 * unset field never grants anything.
 */
import { InvalidPurposeError, describe } from "./errors.ts";

export const Purpose = {
  /** Care of the patient by the grantee (clinic, virtual clinic, practitioner). */
  Treatment: 1,
  /** Use in a research study; normally scoped to `study:<id>`. */
  Research: 2,
  /** Break-glass access. Cannot be granted directly: only `breakGlass` by a pre-registered grantee opens it. */
  Emergency: 3,
  /** Billing and insurance claims. */
  Payment: 4,
  /** Mandated reporting to public-health authorities. */
  PublicHealth: 5,
} as const;

export type PurposeName = keyof typeof Purpose;
export type Purpose = (typeof Purpose)[PurposeName];
/** Purposes a patient can grant with grant / grantBatch / grantBySig (all but Emergency). */
export type GrantablePurpose = Exclude<Purpose, typeof Purpose.Emergency>;

export const PURPOSES: readonly Purpose[] = [1, 2, 3, 4, 5];

const NAMES: Readonly<Record<Purpose, PurposeName>> = {
  1: "Treatment",
  2: "Research",
  3: "Emergency",
  4: "Payment",
  5: "PublicHealth",
};

/** Wording for wallet prompts and audit views. */
const LABELS: Readonly<Record<Purpose, string>> = {
  1: "Treatment",
  2: "Research",
  3: "Emergency (break-glass)",
  4: "Payment",
  5: "Public health",
};

export function isPurpose(value: unknown): value is Purpose {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 5;
}

export function isGrantablePurpose(value: unknown): value is GrantablePurpose {
  return isPurpose(value) && value !== Purpose.Emergency;
}

/**
 * Accepts a purpose number (1..5, as number, bigint or decimal string) or a name in any case with
 * optional separators ("Treatment", "public-health", "PUBLIC_HEALTH").
 */
export function parsePurpose(input: unknown, field = "purpose"): Purpose {
  // The usual input is a name as the API spells it: one lookup, no folding (this runs on every key release).
  const named = typeof input === "string" ? PURPOSE_BY_NAME.get(input) : undefined;
  if (named !== undefined) return named;
  if (typeof input === "number" || typeof input === "bigint") {
    const n = Number(input);
    if (isPurpose(n)) return n;
  } else if (typeof input === "string") {
    if (/^[1-5]$/.test(input)) return Number(input) as Purpose;
    const folded = input.replace(/[-_ ]/g, "").toLowerCase();
    for (const [name, value] of Object.entries(Purpose)) {
      if (name.toLowerCase() === folded) return value;
    }
  }
  throw new InvalidPurposeError(
    field,
    `unknown purpose ${describe(input)}; expected one of ${PURPOSES.map((p) => `${p} ${NAMES[p]}`).join(", ")}`,
  );
}

const PURPOSE_BY_NAME: ReadonlyMap<string, Purpose> = new Map(Object.entries(Purpose));

/** parsePurpose, refusing Emergency (which only breakGlass can open). */
export function parseGrantablePurpose(input: unknown, field = "purpose"): GrantablePurpose {
  const purpose = parsePurpose(input, field);
  if (purpose === Purpose.Emergency) {
    throw new InvalidPurposeError(
      field,
      "Emergency cannot be granted directly; register an emergency grantee who may break the glass",
    );
  }
  return purpose;
}

export function purposeName(purpose: Purpose): PurposeName {
  return NAMES[purpose];
}

export function purposeLabel(purpose: Purpose): string {
  return LABELS[purpose];
}
