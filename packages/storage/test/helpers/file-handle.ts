import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/**
 * The prototype every FileHandle of node:fs/promises shares (Node does not export the class): tests replace its
 * methods (datasync, sync, writev) to watch or slow the disk, and put them back afterwards.
 */
export async function fileHandlePrototype(): Promise<FileHandle> {
  const probe = await open(fileURLToPath(import.meta.url), "r");
  await probe.close();
  return Object.getPrototypeOf(probe) as FileHandle;
}
