/**
 * The CLI's one output module.
 *
 * Rules:
 * - stdout carries the command's result only: human lines or a table, or with --json exactly ONE JSON document
 *   (the result, or `{ "error": … }`), nothing else. A second `result` is a bug and throws.
 * - Everything else (notes, progress bars, prompts, the QR code of a check-in) goes to stderr. Progress bars are
 *   drawn only when stderr is a terminal, so a script's stderr stays quiet until an error.
 */
import { SingleBar } from "cli-progress";
import type { Progress } from "./sdk.ts";

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | undefined | null;
}

export interface ProgressLine {
  /** Transfer progress from the SDK (bytes, total, rate, ETA). */
  transfer(progress: Progress): void;
  /** A fraction 0..1 (scrypt, a long computation). */
  fraction(value: number): void;
  /** Items done of a total (contributions of a dataset pull), with the bytes so far. */
  count(done: number, total: number, bytes?: number): void;
  stop(): void;
}

export class Output {
  readonly io: Io;
  readonly json: boolean;
  readonly verbose: boolean;
  #printed = false;

  constructor(io: Io, options: { json: boolean; verbose: boolean }) {
    this.io = io;
    this.json = options.json;
    this.verbose = options.verbose;
  }

  get printed(): boolean {
    return this.#printed;
  }

  /** Prints the command's result: `data` as JSON with --json, else what `human` renders. */
  result<T>(data: T, human: (data: T) => string): void {
    if (this.#printed) throw new Error("output: a command printed two results");
    this.#printed = true;
    const text = this.json ? JSON.stringify(data, jsonReplacer, 2) : human(data);
    this.io.stdout.write(text.endsWith("\n") || text === "" ? text : `${text}\n`);
  }

  /** A note for the person at the terminal (stderr); left out with --json, which scripts read. */
  note(text: string): void {
    if (!this.json) this.io.stderr.write(`${text}\n`);
  }

  /** Extra detail shown with --verbose (stderr). */
  debug(text: string): void {
    if (this.verbose) this.io.stderr.write(`${text}\n`);
  }

  /** A progress bar on stderr (drawn only when stderr is a terminal). */
  progress(label: string): ProgressLine {
    if (!this.io.stderr.isTTY) return { transfer() {}, fraction() {}, count() {}, stop() {} };
    const bar = new SingleBar({
      stream: this.io.stderr,
      format: `${label} {bar} {percentage}% | {done} of {all} | {rate} | ETA {etaText}`, // not {eta}: cli-progress fills that token itself (INF, NULL)
      hideCursor: true,
      clearOnComplete: false,
      barsize: 24,
      fps: 10,
    });
    let started = false;
    const start = (total: number, payload: object) => {
      if (started) return;
      started = true;
      bar.start(total, 0, payload);
    };
    return {
      transfer(progress) {
        const total = progress.total ?? Math.max(progress.bytes, 1);
        const payload = {
          done: formatBytes(progress.bytes),
          all: progress.total === undefined ? "?" : formatBytes(progress.total),
          rate: `${formatBytes(progress.bytesPerSecond)}/s`,
          etaText: progress.etaSeconds === undefined ? "?" : formatSeconds(progress.etaSeconds),
        };
        start(total, payload);
        bar.setTotal(total);
        bar.update(progress.bytes, payload);
      },
      fraction(value) {
        const payload = { done: `${Math.round(value * 100)}%`, all: "100%", rate: "-", etaText: "-" };
        start(100, payload);
        bar.update(Math.round(value * 100), payload);
      },
      count(done, total, bytes) {
        const payload = {
          done: String(done),
          all: String(total),
          rate: bytes === undefined ? "-" : formatBytes(bytes),
          etaText: "-",
        };
        start(Math.max(total, 1), payload);
        bar.setTotal(Math.max(total, 1));
        bar.update(done, payload);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
}

/** A plain text table: a header row, then one row per item, columns padded to their widest cell. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((column) => cell(column.value(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((value, i) => (i === values.length - 1 ? value : value.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join("\n");
}

/** `key: value` lines, keys aligned. */
export function fields(entries: readonly (readonly [string, string | number | boolean | undefined | null])[]): string {
  const width = Math.max(...entries.map(([key]) => key.length));
  return entries.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${cell(value)}`).join("\n");
}

function cell(value: string | number | boolean | undefined | null): string {
  if (value === undefined || value === null || value === "") return "-";
  return String(value);
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A date for humans: ISO 8601 without milliseconds, UTC. */
export function formatDate(value: Date | number | string | undefined | null): string {
  if (value === undefined || value === null) return "-";
  const date = value instanceof Date ? value : new Date(typeof value === "number" ? value : value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** JSON for results: bigints as decimal strings, bytes as hex, Dates as ISO strings. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString("hex")}`;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}
