// Looks for secrets in files, in every form a careless writer could have stored them: the raw bytes, hex
// (either case), base64 and base64url. A base64 run depends on where the secret sat in the encoded buffer,
// so each base64 form is searched at all three alignments (the part of the encoding that only the secret
// determines), not just as if the secret were encoded alone.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export interface Secret {
  label: string;
  bytes: Uint8Array;
}

export interface Needle {
  label: string;
  form: string;
  bytes: Buffer;
}

export interface Finding {
  file: string;
  secret: string;
  form: string;
  offset: number;
}

/** The stable inner run of base64 text that encoding `bytes` after `shift` unknown bytes always contains. */
function alignedBase64(bytes: Uint8Array, shift: 0 | 1 | 2, url: boolean): string {
  const padded = Buffer.concat([Buffer.alloc(shift), Buffer.from(bytes)]);
  let text = padded.toString(url ? "base64url" : "base64").replace(/=+$/, "");
  // Characters touched by the unknown prefix: ceil(shift * 8 / 6); by the unknown suffix: the last partial group.
  const head = shift === 0 ? 0 : shift === 1 ? 2 : 3;
  const tail = padded.length % 3 === 0 ? 0 : padded.length % 3 === 1 ? 2 : 3;
  text = text.slice(head, text.length - tail);
  return text;
}

export function needlesOf(secret: Secret): Needle[] {
  const raw = Buffer.from(secret.bytes);
  const hex = raw.toString("hex");
  const forms: Array<[string, string | Buffer]> = [
    ["raw", raw],
    ["hex", hex],
    ["HEX", hex.toUpperCase()],
  ];
  for (const shift of [0, 1, 2] as const) {
    forms.push([`base64@${shift}`, alignedBase64(raw, shift, false)]);
    forms.push([`base64url@${shift}`, alignedBase64(raw, shift, true)]);
  }
  const seen = new Set<string>();
  const needles: Needle[] = [];
  for (const [form, value] of forms) {
    const bytes = typeof value === "string" ? Buffer.from(value, "latin1") : value;
    const key = bytes.toString("hex");
    // Too short a run would match by chance; 16 characters of base64 carry 96 bits.
    if (seen.has(key) || bytes.length < 16) continue;
    seen.add(key);
    needles.push({ label: secret.label, form, bytes });
  }
  return needles;
}

export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Every occurrence of every needle of every secret in every regular file under `dir`. */
export async function scanDirectory(
  dir: string,
  secrets: Secret[],
): Promise<{ files: number; bytes: number; findings: Finding[] }> {
  const needles = secrets.flatMap(needlesOf);
  const files = await listFiles(dir);
  const findings: Finding[] = [];
  let bytes = 0;
  for (const file of files) {
    let content: Buffer;
    try {
      content = await readFile(file);
    } catch {
      continue; // removed while we scanned (a SQLite -shm, a temp file): nothing left to leak
    }
    bytes += content.length;
    for (const needle of needles) {
      const offset = content.indexOf(needle.bytes);
      if (offset >= 0) findings.push({ file, secret: needle.label, form: needle.form, offset });
    }
  }
  return { files: files.length, bytes, findings };
}
