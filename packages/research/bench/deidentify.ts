// The de-identification part of bench:dataset (issue "Research"): synthetic patients per second through the Safe
// Harbor module, as the patient's wallet runs it on opt-in (each patient with its own study key). Prints ONE JSON
// line on stdout: deidentify_per_s (median of ROUNDS rounds), patients, resources_per_patient, per_round.
import { deidentify, syntheticPatients } from "../src/index.ts";

const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
if (!Number.isInteger(PATIENTS) || PATIENTS < 1) throw new Error(`BENCH_PATIENTS must be a positive integer`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 3) throw new Error(`BENCH_ROUNDS must be an integer >= 3`);

const patients = syntheticPatients(PATIENTS, 1, { asOf: "2026-12-01" });
const keys = patients.map((_, i) => Uint8Array.from({ length: 32 }, (_, j) => (i * 31 + j) & 0xff));
const resources = patients.reduce((sum, patient) => sum + patient.resources.length, 0);

const run = () => {
  const started = performance.now();
  let kept = 0;
  patients.forEach((patient, i) => {
    kept += deidentify(patient.resources, { pseudonymKey: keys[i]!, asOf: "2026-12-01" }).resources.length;
  });
  if (kept === 0) throw new Error("nothing was kept: not measuring de-identification");
  return PATIENTS / ((performance.now() - started) / 1000);
};
run(); // warm-up
const perRound = Array.from({ length: ROUNDS }, run).map(Math.round);
const sorted = [...perRound].sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    deidentify_per_s: sorted[Math.floor(sorted.length / 2)],
    patients: PATIENTS,
    resources_per_patient: Math.round((resources / PATIENTS) * 10) / 10,
    rounds: ROUNDS,
    per_round: perRound,
  })}\n`,
);
