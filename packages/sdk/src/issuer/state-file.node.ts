/**
 * The issuer's status-list state in a file (Node only): what the CLI uses between runs.
 *
 * Rules:
 * - A save never leaves half a file: it writes a temporary file beside it (mode 0600), flushes it to disk, then
 *   renames it over the old one.
 * - A file that is not a valid state is refused (`SdkInputError` on `state`), never silently replaced: replacing
 *   it would forget which indexes were handed out and which credentials are revoked.
 * - One process at a time: the file holds no lock. Two processes issuing from one state file at once could hand
 *   out the same index; run the issuer's commands one after the other.
 */
import { open, readFile, rename, rm } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { SdkInputError } from "../errors.ts";
import { parseIssuerState, type IssuerState } from "./status-state.ts";
import type { IssuerStateStore } from "./client.ts";

export class IssuerStateFile implements IssuerStateStore {
  readonly path: string;

  constructor(path: string) {
    if (typeof path !== "string" || path === "") throw new SdkInputError("state file", "must be a file path");
    this.path = path;
  }

  async load(): Promise<IssuerState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as { code?: unknown }).code === "ENOENT") return undefined;
      throw new SdkInputError(
        "state file",
        `${this.path} cannot be read (${(error as { code?: string }).code ?? "error"})`,
        "Check the path and its permissions.",
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SdkInputError(
        "state file",
        `${this.path} is not JSON`,
        "Restore the issuer state file from a backup; do not delete it (it records revocations and used indexes).",
      );
    }
    return parseIssuerState(json);
  }

  async save(state: IssuerState): Promise<void> {
    const temp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${Date.now()}.tmp`);
    const file = await open(temp, "w", 0o600);
    try {
      await file.writeFile(`${JSON.stringify(state, null, 2)}\n`, "utf8");
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
}
