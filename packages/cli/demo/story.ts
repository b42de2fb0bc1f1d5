/**
 * Every role's journey through the real `hygeia` binary, one command at a time, as separate people would run it
 * (each with their own HYGEIA_HOME): governance accredits a medical board, an insurer and a clinic; the insurer
 * issues the patient an SD-JWT insurance credential; the patient creates a wallet, publishes its key and adds a FHIR
 * Bundle and a PDF; the board accredits a virtual clinic, which checks the patient in (mutual verification, only the
 * claims asked for); the patient grants the clinic one category, gasless; the clinic reads exactly those records and
 * is refused the other; the patient revokes and the clinic is refused; the patient's audit log verifies against the
 * chain; a new device recovers the records from the recovery phrase.
 *
 * `npm run demo` narrates it against a running `npm start` stack; test/e2e/cli-story.test.ts runs it on a throwaway
 * stack and asserts what it returns. Each command's exit code is checked here: a command that does not do what
 * the story expects throws `StoryStepError` with what it printed.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hygeia, startHygeia, type CliRun } from "./run-hygeia.ts";

export interface StoryCast {
  /** Private keys (0x…) of the people in the story; the patient makes a new wallet. */
  governance: string;
  board: string;
  insurer: string;
  clinic: string;
}

export interface StoryOptions {
  gatewayUrl: string;
  rpcUrl: string;
  cast: StoryCast;
  /** Sends the new patient wallet the ETH its key publication costs (on a real network: a faucet, an exchange). */
  fundPatient: (address: string) => Promise<void>;
  /** Where the homes, credentials and files of the story go (it must exist and may be empty). */
  workDir: string;
  /** Waits for an audit anchor at most this long (default 60 s). */
  anchorWaitMs?: number;
  narrate?: (event: StoryEvent) => void;
}

export type StoryEvent =
  | { kind: "step"; title: string; text: string }
  | { kind: "command"; who: string; args: readonly string[] }
  | { kind: "result"; who: string; run: CliRun; summary: string };

/** What the story saw, for a test to assert and the demo to sum up. */
export interface StoryOutcome {
  patient: { address: string; did: string };
  clinic: { address: string; did: string };
  records: { lab: string; letter: string };
  checkIn: {
    ok: boolean;
    disclosed: Record<string, Record<string, unknown>>;
    shown: { type: string; claims: string[] }[];
  };
  fetchGranted: { readable: string[]; refused: { cid: string; code: string }[]; labBytes: Buffer };
  fetchRevoked: { code: number | null; error: { code?: string; kind?: string } };
  audit: { ok: boolean; permits: number; denies: number; pending: number };
  recovered: { records: string[]; letterMatches: boolean };
  /** Every command's exit code, in order. */
  exitCodes: { who: string; command: string; code: number | null }[];
}

export class StoryStepError extends Error {
  constructor(step: string, run: CliRun) {
    super(`${step}: hygeia exited ${run.code}\n--- stdout:\n${run.stdout}\n--- stderr:\n${run.stderr}`);
    this.name = "StoryStepError";
  }
}

const PASSWORD = "a demo password, not a real one";
export const LAB_BUNDLE = {
  resourceType: "Bundle",
  type: "collection",
  entry: [
    {
      resource: {
        resourceType: "Observation",
        status: "final",
        category: [{ coding: [{ code: "laboratory" }] }],
        code: { text: "Hemoglobin A1c" },
        valueQuantity: { value: 6.1, unit: "%" },
        effectiveDateTime: "2026-11-20",
      },
    },
  ],
};

export async function runStory(options: StoryOptions): Promise<StoryOutcome> {
  const say = options.narrate ?? (() => {});
  const exitCodes: StoryOutcome["exitCodes"] = [];
  const files = join(options.workDir, "files");
  await mkdir(files, { recursive: true });
  const homes = {
    governance: join(options.workDir, "governance"),
    board: join(options.workDir, "board"),
    insurer: join(options.workDir, "insurer"),
    clinic: join(options.workDir, "clinic"),
    patient: join(options.workDir, "patient"),
    laptop: join(options.workDir, "laptop"),
  };
  type Who = keyof typeof homes;

  /** Runs one command as `who`; `expect` is the exit code the story needs (0 unless said). */
  async function run(
    who: Who,
    args: readonly string[],
    summary: (run: CliRun) => string,
    extra: { input?: string; expect?: number } = {},
  ): Promise<CliRun> {
    say({ kind: "command", who, args });
    const result = await hygeia(["--json", ...args], {
      env: envOf(who),
      ...(extra.input ? { input: extra.input } : {}),
    });
    exitCodes.push({ who, command: args.slice(0, 2).join(" "), code: result.code });
    if (result.code !== (extra.expect ?? 0)) throw new StoryStepError(`${who}: hygeia ${args.join(" ")}`, result);
    say({ kind: "result", who, run: result, summary: summary(result) });
    return result;
  }
  function envOf(who: Who): Record<string, string> {
    return {
      HYGEIA_HOME: homes[who],
      HYGEIA_PASSWORD: PASSWORD,
      HYGEIA_GATEWAY_URL: options.gatewayUrl,
      HYGEIA_RPC_URL: options.rpcUrl,
    };
  }
  const step = (title: string, text: string) => say({ kind: "step", title, text });

  step("Wallets", "Each person keeps an encrypted keystore in their own home; the keys here are the demo accounts'.");
  const addresses: Record<string, { address: string }> = {};
  for (const who of ["governance", "board", "insurer", "clinic"] as const) {
    const imported = await run(who, ["wallet", "import", who, "--private-key"], (r) => `wallet ${r.json().address}`, {
      input: options.cast[who],
    });
    addresses[who] = imported.json<{ address: string }>();
  }

  step(
    "Governance accredits",
    "The TrustRegistry says who may issue what: a medical board accredits clinics, an insurer issues insurance cards, and the clinic itself must be listed as a clinic.",
  );
  for (const [who, role] of [
    ["board", "medical-board"],
    ["insurer", "insurer"],
    ["clinic", "clinic"],
  ] as const)
    await run(
      "governance",
      ["issuer", "accredit", addresses[who]!.address, "--role", role],
      () => `${who} accredited as ${role}`,
    );

  step("The patient's wallet", "A new wallet: its recovery phrase is all the patient needs to keep.");
  const created = (
    await run("patient", ["wallet", "create", "patient", "--show-mnemonic"], (r) => `wallet ${r.json().address}`)
  ).json<{ address: string; mnemonic: string }>();
  await options.fundPatient(created.address);
  const published = await run("patient", ["did", "publish-key"], (r) => `X25519 key published in ${r.json().did}`);
  const patient = { address: created.address, did: published.json<{ did: string }>().did };
  const publicKeys = (await run("patient", ["wallet", "export-public"], () => "public keys exported")).json<{
    signingKey: { publicKeyHex: string };
  }>();

  step(
    "The insurer issues an insurance card",
    "An SD-JWT: the patient can later show some of its claims and hide the rest.",
  );
  const insuranceFile = join(files, "insurance.sdjwt");
  await run(
    "insurer",
    [
      "issuer",
      "issue",
      "--type",
      "HealthInsuranceCredential",
      "--format",
      "sd-jwt",
      "--subject",
      patient.did,
      "--claims",
      JSON.stringify({ insurerName: "Acme Health", memberId: "M-1234", planName: "Gold" }),
      "--holder-key",
      publicKeys.signingKey.publicKeyHex,
      "-o",
      insuranceFile,
    ],
    () => `insurance credential written to ${insuranceFile}`,
  );

  step("The patient adds records", "Encrypted on the patient's machine; the gateway stores ciphertext only.");
  const labFile = join(files, "hba1c.json");
  const letterFile = join(files, "letter.pdf");
  await writeFile(labFile, JSON.stringify(LAB_BUNDLE, null, 2));
  await writeFile(letterFile, Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(200_000, 0x41)]));
  const lab = (
    await run("patient", ["record", "add", labFile, "--category", "laboratory"], (r) => `record ${r.json().cid}`)
  ).json<{ cid: string }>().cid;
  const letter = (
    await run("patient", ["record", "add", letterFile, "--category", "clinical-note"], (r) => `record ${r.json().cid}`)
  ).json<{ cid: string }>().cid;

  step(
    "A virtual clinic is accredited",
    "The medical board issues its accreditation; the clinic proves it at the gateway.",
  );
  const accreditationFile = join(files, "clinic-accreditation.jwt");
  const expires = new Date(Date.now() + 365 * 86_400_000).toISOString();
  await run(
    "board",
    [
      "issuer",
      "issue",
      "--type",
      "ClinicAccreditationCredential",
      "--subject",
      addresses["clinic"]!.address,
      "--claims",
      JSON.stringify({
        clinicName: "Asclepius Virtual Clinic",
        accreditationNumber: "MB-2026-0042",
        specialties: ["cardiology"],
        virtual: true,
        jurisdiction: "EU",
      }),
      "--expires",
      expires,
      "-o",
      accreditationFile,
    ],
    () => `accreditation written to ${accreditationFile}`,
  );
  await run("clinic", ["clinic", "accreditation", "--import", accreditationFile], () => "the clinic role is granted");
  const clinicKey = await run("clinic", ["did", "publish-key"], () => "the clinic's X25519 key published");
  const clinic = { address: addresses["clinic"]!.address, did: clinicKey.json<{ did: string }>().did };

  step(
    "Check-in",
    "The clinic asks for two claims of the insurance card. The patient's wallet first verifies the clinic (accredited by a trusted board, listed on chain), then shows only those two claims.",
  );
  const ask = [
    "clinic",
    "checkin",
    "--ask",
    "HealthInsuranceCredential:insurerName,memberId",
    "--ttl",
    "300",
    "--timeout",
    "120",
  ];
  say({ kind: "command", who: "clinic", args: ask });
  let linkSeen: (link: string) => void = () => {};
  const linked = new Promise<string>((resolve) => (linkSeen = resolve));
  const desk = startHygeia(["--json", ...ask], {
    env: envOf("clinic"),
    onStderr: (stderr) => {
      const match = /check-in link: (\S+)/.exec(stderr);
      if (match) linkSeen(match[1]!);
    },
  });
  const link = await Promise.race([
    linked,
    desk.result.then((r) => {
      throw new StoryStepError("clinic: hygeia clinic checkin (no link printed)", r);
    }),
  ]);
  const answered = await run(
    "patient",
    ["checkin", link, "--present", insuranceFile, "--yes"],
    (r) => `shown: ${JSON.stringify(r.json<{ shown: unknown }>().shown)}`,
  );
  const deskRun = await desk.result;
  exitCodes.push({ who: "clinic", command: "clinic checkin", code: deskRun.code });
  if (deskRun.code !== 0) throw new StoryStepError("clinic: hygeia clinic checkin", deskRun);
  const verified = deskRun.json<{ ok: boolean; disclosed: Record<string, Record<string, unknown>> }>();
  say({ kind: "result", who: "clinic", run: deskRun, summary: `verified: ${JSON.stringify(verified.disclosed)}` });

  step(
    "Consent",
    "The patient lets the clinic read laboratory records for treatment, for 30 days. One signature; the gateway pays the gas.",
  );
  await run(
    "patient",
    ["consent", "grant", clinic.did, "--scope", "category:laboratory", "--purpose", "Treatment", "--expires", "30d"],
    () => "granted",
  );

  step("The clinic reads", "It gets the laboratory Bundle, decrypted on its side, and is refused the letter.");
  const fetchDir = join(options.workDir, "clinic-records");
  const fetched = (
    await run(
      "clinic",
      ["clinic", "fetch", patient.did, "--purpose", "Treatment", "--cid", lab, letter, "-o", fetchDir],
      (r) => `readable ${JSON.stringify(r.json<{ readable: { cid: string }[] }>().readable.map((x) => x.cid))}`,
    )
  ).json<{ readable: { cid: string; path: string }[]; refused: { cid: string; code: string }[] }>();
  const labPath = fetched.readable.find((r) => r.cid === lab)?.path;
  const labBytes = labPath === undefined ? Buffer.alloc(0) : await readFile(labPath);

  step("The patient revokes", "From the next request on, the clinic is refused.");
  await run(
    "patient",
    ["consent", "revoke", clinic.did, "--scope", "category:laboratory", "--purpose", "Treatment"],
    () => "revoked",
  );
  const refusedRun = await run(
    "clinic",
    ["clinic", "fetch", patient.did, "--purpose", "Treatment", "--cid", lab, "-o", fetchDir],
    (r) => `refused: ${r.json<{ error: { code: string } }>().error.code}`,
    { expect: 2 },
  );

  step(
    "The audit log",
    "Every release and every refusal, each proved against the tree heads the gateway anchored on chain.",
  );
  const audit = await waitForAnchoredAudit(run, options.anchorWaitMs ?? 60_000);

  step("A new device", "The patient imports the recovery phrase on a laptop; keys and records come back.");
  await run("laptop", ["wallet", "import", "laptop", "--mnemonic"], () => "wallet imported", {
    input: created.mnemonic,
  });
  const recovered = (
    await run("laptop", ["recover"], (r) => `${r.json<{ records: unknown[] }>().records.length} records`)
  ).json<{ records: { cid: string }[] }>();
  const letterCopy = join(options.workDir, "letter-on-laptop.pdf");
  await run("laptop", ["record", "get", letter, "-o", letterCopy], () => `written to ${letterCopy}`);
  const letterMatches = (await readFile(letterCopy)).equals(await readFile(letterFile));

  return {
    patient,
    clinic,
    records: { lab, letter },
    checkIn: {
      ok: verified.ok,
      disclosed: verified.disclosed,
      shown: answered.json<{ shown: { type: string; claims: string[] }[] }>().shown,
    },
    fetchGranted: {
      readable: fetched.readable.map((r) => r.cid),
      refused: fetched.refused.map((r) => ({ cid: r.cid, code: r.code })),
      labBytes,
    },
    fetchRevoked: {
      code: refusedRun.code,
      error: refusedRun.json<{ error: { code?: string; kind?: string } }>().error,
    },
    audit,
    recovered: { records: recovered.records.map((r) => r.cid), letterMatches },
    exitCodes,
  };
}

/** `audit show --verify` until the gateway has anchored every event (it anchors on a schedule). */
async function waitForAnchoredAudit(
  run: (who: "patient", args: readonly string[], summary: (r: CliRun) => string) => Promise<CliRun>,
  waitMs: number,
): Promise<StoryOutcome["audit"]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const report = (
      await run("patient", ["audit", "show", "--verify"], (r) => {
        const { ok, counts } = r.json<{ ok: boolean; counts: { pending: number } }>();
        return ok ? `verified (${counts.pending} events not anchored yet)` : "NOT verified";
      })
    ).json<{ ok: boolean; counts: { pending: number }; events: { decision: string }[] }>();
    if (report.counts.pending === 0 || Date.now() > deadline)
      return {
        ok: report.ok,
        permits: report.events.filter((e) => e.decision === "permit").length,
        denies: report.events.filter((e) => e.decision === "deny").length,
        pending: report.counts.pending,
      };
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
