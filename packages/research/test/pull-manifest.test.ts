// The pull manifest: signed by the gateway's note key, checked against the contributions received.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { signNote, verifierKeyOf } from "@hygeia/audit";
import {
  PULL_MANIFEST_HEADER,
  PullManifestError,
  contributionsRoot,
  formatPullManifest,
  parsePullManifest,
  verifyPull,
  type PullContribution,
} from "../src/index.ts";

const NAME = "hygeia.test/gateway";
const seed = new Uint8Array(randomBytes(32));
const verifierKey = verifierKeyOf(NAME, seed);
const STUDY = "0x" + "ab".repeat(32);
const RESEARCHER = "0x" + "cd".repeat(20);
const contributions: PullContribution[] = [
  { cid: "bafkreiaaaa", wrap: "AQE" + "A".repeat(149) },
  { cid: "bafkreibbbb", wrap: "AQE" + "B".repeat(149) },
  { cid: "bafkreicccc", wrap: "AQE" + "C".repeat(149) },
];

function signed(list: readonly PullContribution[], overrides: { study?: string; count?: number } = {}): string {
  const text = formatPullManifest({
    study: overrides.study ?? STUDY,
    researcher: RESEARCHER,
    block: 42,
    time: 1_764_000_000_000,
    count: overrides.count ?? list.length,
    root: contributionsRoot(list),
  });
  return signNote(text, { name: NAME, privateKey: seed });
}

const failure = (run: () => unknown): PullManifestError => {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(PullManifestError);
    return error as PullManifestError;
  }
  return expect.fail("expected a PullManifestError");
};

describe("research: pull manifest", function () {
  it("formats and parses back to the same manifest, and starts with its header", function () {
    const text = formatPullManifest({
      study: STUDY,
      researcher: RESEARCHER,
      block: 1,
      time: 2,
      count: 3,
      root: contributionsRoot(contributions),
    });
    expect(text.startsWith(`${PULL_MANIFEST_HEADER}\n`)).to.equal(true);
    const parsed = parsePullManifest(text);
    expect(parsed).to.deep.include({ study: STUDY, researcher: RESEARCHER, block: 1, time: 2, count: 3 });
    expect(formatPullManifest(parsed)).to.equal(text);
  });

  it("verifies a pull as received", function () {
    const manifest = verifyPull({ manifest: signed(contributions), verifierKey, contributions, study: STUDY });
    expect(manifest.count).to.equal(3);
  });

  it("refuses a dropped, added, reordered or changed contribution, another study, another researcher", function () {
    const note = signed(contributions);
    const check = (list: readonly PullContribution[], extra: { study?: string; researcher?: string } = {}) =>
      failure(() =>
        verifyPull({ manifest: note, verifierKey, contributions: list, study: extra.study ?? STUDY, ...extra }),
      ).code;
    expect(check(contributions.slice(1))).to.equal("MANIFEST_MISMATCH");
    expect(check([...contributions, { cid: "bafkreidddd", wrap: "AQE" + "D".repeat(149) }])).to.equal(
      "MANIFEST_MISMATCH",
    );
    expect(check([...contributions].reverse())).to.equal("MANIFEST_MISMATCH");
    expect(check([{ ...contributions[0]!, wrap: "AQE" + "E".repeat(149) }, ...contributions.slice(1)])).to.equal(
      "MANIFEST_MISMATCH",
    );
    expect(check(contributions, { study: "0x" + "ef".repeat(32) })).to.equal("MANIFEST_MISMATCH");
    expect(check(contributions, { researcher: "0x" + "01".repeat(20) })).to.equal("MANIFEST_MISMATCH");
  });

  it("refuses a manifest signed by another key, or with one byte flipped", function () {
    const other = verifierKeyOf(NAME, new Uint8Array(randomBytes(32)));
    const note = signed(contributions);
    expect(
      failure(() => verifyPull({ manifest: note, verifierKey: other, contributions, study: STUDY })).code,
    ).to.equal("BAD_SIGNATURE");
    const flipped = note.replace("block 42", "block 43");
    expect(failure(() => verifyPull({ manifest: flipped, verifierKey, contributions, study: STUDY })).code).to.equal(
      "BAD_SIGNATURE",
    );
  });

  it("refuses malformed manifests and contributions with typed errors", function () {
    expect(failure(() => parsePullManifest("hygeia/dataset-pull/v1\n")).code).to.equal("MALFORMED_MANIFEST");
    const text = formatPullManifest({
      study: STUDY,
      researcher: RESEARCHER,
      block: 1,
      time: 2,
      count: 0,
      root: contributionsRoot([]),
    });
    expect(failure(() => parsePullManifest(text.replace("count 0", "count 00"))).code).to.equal("MALFORMED_MANIFEST");
    expect(
      failure(() => parsePullManifest(text.replace(STUDY, STUDY.toUpperCase().replace("0X", "0x")))).code,
    ).to.equal("MALFORMED_MANIFEST");
    expect(failure(() => contributionsRoot([{ cid: "Qm not a cid", wrap: "AQE" }])).code).to.equal(
      "MALFORMED_MANIFEST",
    );
    expect(failure(() => verifyPull({ manifest: "nonsense", verifierKey, contributions, study: STUDY })).code).to.equal(
      "MALFORMED_MANIFEST",
    );
  });
});
