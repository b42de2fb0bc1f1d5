// Shape checks of the arguments of the public functions, so a missing or mistyped argument is an
// InvalidIdentityInputError naming it instead of a TypeError from deep inside ("cannot read properties of
// undefined").
import { InvalidIdentityInputError } from "./errors.ts";

/** A required object argument (not null, not an array); `shape` says what was expected. */
export function objectArgument<T>(value: T, field: string, shape: string): NonNullable<T> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new InvalidIdentityInputError(
      field,
      `${value === undefined ? "missing" : "not an object"}: expected ${shape}`,
    );
  return value as NonNullable<T>;
}

/** An optional options object: undefined gives an empty one. */
export function optionsArgument<T extends object>(value: T | undefined, field: string, shape: string): Partial<T> {
  return value === undefined ? {} : objectArgument(value, field, shape);
}

/** An object with the named methods (a store, a verifier, a fetcher object). */
export function withMethods<T>(value: T, field: string, methods: readonly string[], shape: string): NonNullable<T> {
  const object = objectArgument(value, field, shape);
  const missing = methods.filter((name) => typeof (object as Record<string, unknown>)[name] !== "function");
  if (missing.length > 0)
    throw new InvalidIdentityInputError(field, `has no ${missing.join(" / ")} method: expected ${shape}`);
  return object;
}

/** A required function argument. */
export function functionArgument<T>(value: T, field: string, shape: string): NonNullable<T> {
  if (typeof value !== "function")
    throw new InvalidIdentityInputError(
      field,
      `${value === undefined ? "missing" : "not a function"}: expected ${shape}`,
    );
  return value as NonNullable<T>;
}

/** Where a status list is served: an http(s) URL without whitespace, at most 2048 characters. */
export function listUrlArgument(value: unknown, field: string, served: string): asserts value is string {
  if (typeof value !== "string" || !/^https?:\/\/\S+$/.test(value) || value.length > 2048)
    throw new InvalidIdentityInputError(field, `must be the http(s) URL the ${served} is served at`);
}

/** An optional whole-number option: `fallback` when undefined (or null), else a safe integer >= `min`. */
export function wholeNumberOrDefault(value: unknown, fallback: number, field: string, min = 1): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || (result as number) < min)
    throw new InvalidIdentityInputError(field, `must be a whole number >= ${min}`);
  return result as number;
}
