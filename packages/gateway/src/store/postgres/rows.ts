// Column readers for rows as `pg` returns them, and the shared row mappers over them (../rows.ts). A column of the
// wrong type is a damaged database or a schema this code does not know: refused (StoreFailureError), never guessed at.
// - bigint arrives as a decimal string (pg never rounds it): parsed, and refused past Number.MAX_SAFE_INTEGER.
// - bytea arrives as a Buffer, often a view into a shared pool: copied into a Uint8Array of its own.
// - json arrives parsed: its shape is checked by the mappers where the interface promises one.
import { rowMappers, type Row } from "../rows.ts";
import { StoreFailureError } from "../sqlite/errors.ts";

export type { Row };

export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw new StoreFailureError(`column ${column} is not text`);
  return value;
}

export function int(row: Row, column: string): number {
  const value = row[column];
  const parsed = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof parsed !== "number" || !Number.isSafeInteger(parsed)) {
    throw new StoreFailureError(`column ${column} is not a safe integer`);
  }
  return parsed;
}

function bytes(row: Row, column: string): Uint8Array {
  const value = row[column];
  if (!(value instanceof Uint8Array)) throw new StoreFailureError(`column ${column} is not bytea`);
  return new Uint8Array(value);
}

/** The interface's rows from pg's rows. */
export const mappers = rowMappers({ text, int, bytes, json: (row, column) => row[column] });
