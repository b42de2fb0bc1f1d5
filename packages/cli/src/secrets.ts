/**
 * Passwords and wallet secrets: from a prompt on the terminal, from HYGEIA_PASSWORD (scripts), from stdin or a
 * file (a recovery phrase or private key for `wallet import`). Never from argv: a secret in argv lands in the shell's
 * history and in `ps`.
 *
 * Prompts write to stderr, so stdout stays the command's result.
 */
import { readFile } from "node:fs/promises";
import { password as passwordPrompt } from "@inquirer/prompts";
import { CliError, CliUsageError } from "./errors.ts";
import type { Io } from "./output.ts";

export const MIN_PASSWORD_LENGTH = 8;

export interface SecretSource {
  io: Io;
  env: Record<string, string | undefined>;
}

/** The keystore password: HYGEIA_PASSWORD, else a prompt (typed twice when `confirm`). */
export async function readPassword(
  source: SecretSource,
  options: { message: string; confirm?: boolean },
): Promise<string> {
  const fromEnv = source.env["HYGEIA_PASSWORD"];
  let value: string;
  if (fromEnv !== undefined && fromEnv !== "") value = fromEnv;
  else {
    requireTerminal(source, "a password", "Set HYGEIA_PASSWORD for scripts, or run the command in a terminal.");
    value = await ask(source, options.message);
    if (options.confirm) {
      const again = await ask(source, "Type it again:");
      if (again !== value)
        throw new CliUsageError("password", "the two passwords differ", "Run the command again and type it twice.");
    }
  }
  if (options.confirm && value.length < MIN_PASSWORD_LENGTH)
    throw new CliUsageError(
      "password",
      `too short (${value.length} characters)`,
      `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters; it protects the wallet's key on this disk.`,
    );
  return value;
}

/**
 * A wallet secret (recovery phrase or private key): from `fromFile`, else a hidden prompt on a terminal, else all of
 * stdin (`echo … | hygeia wallet import`).
 */
export async function readSecret(
  source: SecretSource,
  options: { message: string; fromFile?: string },
): Promise<string> {
  if (options.fromFile !== undefined) {
    try {
      return (await readFile(options.fromFile, "utf8")).trim();
    } catch (error) {
      throw new CliUsageError(
        "--from-file",
        `cannot read ${options.fromFile} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
        "Give the path of a file that holds only the secret.",
      );
    }
  }
  if (source.io.stdin.isTTY) return (await ask(source, options.message)).trim();
  const chunks: Buffer[] = [];
  for await (const chunk of source.io.stdin) chunks.push(Buffer.from(chunk as Buffer));
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "")
    throw new CliUsageError(
      "secret",
      "stdin was empty",
      "Pipe the secret on stdin, use --from-file <path>, or run the command in a terminal to type it.",
    );
  return text;
}

function requireTerminal(source: SecretSource, what: string, hint: string): void {
  if (!source.io.stdin.isTTY)
    throw new CliError("PASSWORD_REQUIRED", "usage", `${what} is needed and there is no terminal to ask on`, hint);
}

async function ask(source: SecretSource, message: string): Promise<string> {
  try {
    return await passwordPrompt(
      { message, mask: "*" },
      { input: source.io.stdin, output: source.io.stderr as NodeJS.WritableStream },
    );
  } catch (error) {
    // Ctrl-C at the prompt: an ExitPromptError from @inquirer/core.
    if (error instanceof Error && error.name === "ExitPromptError")
      throw new CliError("CANCELLED", "usage", "cancelled at the prompt", "Run the command again when ready.");
    throw error;
  }
}
