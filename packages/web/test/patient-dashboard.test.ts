/**
 * The signed-in patient's page in Chromium, on the real local stack: records (upload with progress, the lab chart,
 * a record decrypted in the page), consent (grant to a clinic, which then fetches the record with the SDK; revoke,
 * and the clinic is refused), and the access log with every entry's proof checked against the chain. Each screen is
 * checked with axe-core and saved as a screenshot; a console error fails the test.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { Browser, Locator } from "playwright-core";
import { ConsentRegistryClient, TransactionSender } from "@hygeia/chain";
import { derivePatientKeys } from "@hygeia/sdk";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import {
  ensureWebBuilt,
  expectAccessible,
  launchBrowser,
  openPage,
  openAndConnect,
  type WatchedPage,
} from "./support/browser.ts";
import { installTestWallet, type TestWallet } from "./support/wallet.ts";

const LOINC_GLUCOSE = "2345-7";

function glucose(value: number, date: string) {
  return {
    resourceType: "Observation",
    status: "final",
    category: [
      {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "laboratory" }],
      },
    ],
    code: {
      coding: [
        { system: "http://loinc.org", code: LOINC_GLUCOSE, display: "Glucose [Mass/volume] in Serum or Plasma" },
      ],
      text: "Glucose",
    },
    effectiveDateTime: date,
    valueQuantity: { value, unit: "mg/dL", system: "http://unitsofmeasure.org", code: "mg/dL" },
    referenceRange: [{ low: { value: 70, unit: "mg/dL" }, high: { value: 99, unit: "mg/dL" } }],
  };
}

describe("web: the patient's records, consent and access log in Chromium", function () {
  this.timeout(240_000);
  let stack: TestStack;
  let browser: Browser;
  let clinic: WatchedPage;
  let files: string;
  let watched: WatchedPage;
  let wallet: TestWallet;

  before(async () => {
    await ensureWebBuilt();
    stack = await startTestStack();
    browser = await launchBrowser();
    files = await mkdtemp(join(tmpdir(), "hygeia-web-files-"));
    // The clinic's desk, signed in with the clinic's wallet first: its key is derived and published before the
    // patient grants, so the grant wraps the records to it.
    clinic = await openPage(browser);
    await installTestWallet(clinic.page, stack.accounts.clinic, stack.provider);
    await openAndConnect(clinic, `${stack.url}/clinic.html`);
    await clinic.page.getByTestId("clinic-did").waitFor({ timeout: 60_000 });
    // The patient signs in on the page (the onboarding itself is wallet-page.test.ts's subject).
    watched = await openPage(browser);
    wallet = await installTestWallet(watched.page, stack.accounts.alice, stack.provider);
    await openAndConnect(watched, `${stack.url}/`);
    await watched.page.getByRole("heading", { name: "You are signed in" }).waitFor({ timeout: 60_000 });
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    if (files) await rm(files, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state !== "passed") return;
    expect([...watched.errors, ...clinic.errors], "console errors").to.deep.equal([]);
    expect(watched.refusedRequests, "refused requests of the patient's page").to.deep.equal([]);
  });

  /** Waits for `done`, or fails at once with the alert's words when the page shows a problem instead. */
  async function settled(done: Locator, timeout: number, on: WatchedPage = watched): Promise<void> {
    const alert = on.page.getByRole("alert");
    await done.or(alert).first().waitFor({ timeout });
    if (await alert.isVisible()) throw new Error(`the page shows a problem: ${await alert.textContent()}`);
  }

  it("uploads lab results and a file with a progress bar, charts the lab values, and decrypts a record to view", async () => {
    const { page } = watched;
    const first = join(files, "glucose-january.json");
    const second = join(files, "glucose-june.json");
    const scan = join(files, "scan.bin");
    await writeFile(first, JSON.stringify(glucose(95, "2026-01-10T08:00:00Z")));
    await writeFile(second, JSON.stringify(glucose(130, "2026-06-10T08:00:00Z")));
    await writeFile(scan, Buffer.alloc(3 * 1024 * 1024, 7)); // large enough for several progress reports
    // Every state of the progress bar, as the page shows it.
    await page.evaluate(`(() => {
      window.__progressSeen = [];
      new MutationObserver(() => {
        const bar = document.querySelector("progress");
        if (bar) window.__progressSeen.push([bar.value, bar.max]);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    })()`);
    await page.getByLabel("Files to add").setInputFiles([first, second, scan]);
    await page.getByLabel("Category (decides which consents cover them)").selectOption("laboratory");
    await page.getByRole("button", { name: "Encrypt and upload" }).click();
    await settled(page.getByText("3 records encrypted and stored."), 120_000);
    const seen = (await page.evaluate("window.__progressSeen")) as [number, number][];
    expect(
      seen.some(([value, max]) => value > 0 && value < max),
      "a partial progress was shown",
    ).to.equal(true);
    expect(
      seen.some(([value, max]) => max > 3 * 1024 * 1024 && value === max),
      "the whole file was reported",
    ).to.equal(true);

    await page.getByTestId("record").nth(2).waitFor();
    expect(await page.getByTestId("record").count()).to.equal(3);
    // The chart: one series (Glucose, mg/dL), both values in time order, the reference range shaded.
    const chart = page.getByTestId("lab-chart");
    expect(await chart.count()).to.equal(1);
    expect(await chart.getAttribute("data-series")).to.equal("Glucose");
    const points = chart.getByTestId("lab-point");
    expect(await points.evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-value")))).to.deep.equal([
      "95",
      "130",
    ]);
    expect(await chart.getByTestId("reference-range").count()).to.equal(1);
    expect(await chart.locator("figcaption").textContent()).to.include("reference range 70 to 99 mg/dL");
    await expectAccessible(watched, "05-records");

    await page
      .getByRole("button", { name: /^View FHIR Observation/ })
      .first()
      .click();
    const content = page.getByTestId("record-content");
    await content.waitFor();
    expect(await content.textContent()).to.include('"text":"Glucose"'); // exactly the stored bytes, not re-serialized;
    expect(await page.getByRole("link", { name: "Download the decrypted record" }).getAttribute("href")).to.match(
      /^blob:/,
    );
    await expectAccessible(watched, "06-record-decrypted");
  });

  it("grants the clinic access (the clinic then reads the record), revokes it (the clinic is refused), and logs both with verified proofs", async () => {
    const { page } = watched;
    const alice = stack.accounts.alice.address;
    const clinicDid = `did:ethr:0x${stack.deployment.chainId.toString(16)}:${stack.accounts.clinic.address.toLowerCase()}`;
    await page.getByRole("tab", { name: "Consent" }).click();
    await page.getByText("Nobody but you.").waitFor({ timeout: 30_000 });
    // Someone who never signed in (no published key) is refused before the wallet is asked anything.
    const before = wallet.requests.length;
    await page.getByLabel("Clinic or person (their DID or Ethereum address)").fill(stack.accounts.bob.address);
    await page.getByRole("button", { name: "Grant access" }).click();
    const noKey = page.getByRole("alert");
    await noKey.waitFor({ timeout: 30_000 });
    expect(await noKey.textContent()).to.include("has not published an encryption key yet");
    expect(wallet.requests.slice(before).map((request) => request.method)).not.to.include("eth_signTypedData_v4");
    await page.getByLabel("Clinic or person (their DID or Ethereum address)").fill(clinicDid);
    await page.getByLabel("What", { exact: true }).selectOption("laboratory");
    await page.getByLabel("For which purpose").selectOption("Treatment");
    await page.getByLabel("For how long", { exact: true }).selectOption("30d");
    const signaturesBefore = wallet.requests.length;
    await page.getByRole("button", { name: "Grant access" }).click();
    await settled(page.getByText(/^Granted: /), 60_000);
    const consent = page.getByTestId("consent");
    expect(await consent.count()).to.equal(1);
    expect(await consent.textContent()).to.match(/may read laboratory records for Treatment until/);
    // One readable EIP-712 prompt for the grant; the gateway relayed it (no transaction from the wallet).
    const asked = wallet.requests.slice(signaturesBefore);
    const typed = asked.filter((request) => request.method === "eth_signTypedData_v4");
    expect(typed).to.have.length(1);
    // A grant of one or more scopes is one ConsentBatch (its fields: grantee, scopes, purpose, expiry, nonce, deadline).
    expect(JSON.parse(String(typed[0]!.params[1])).primaryType).to.equal("ConsentBatch");
    expect(asked.map((request) => request.method)).not.to.include("eth_sendTransaction");
    await expectAccessible(watched, "07-consent-granted");

    // The patient watches the access log live while the clinic reads.
    await page.getByRole("tab", { name: "Access log" }).click();
    await page.locator('[data-testid="live-state"][data-state="live"]').waitFor({ timeout: 30_000 });

    // The clinic's desk lists the records the consent covers and opens each: key released, decrypted in its page.
    const desk = clinic.page;
    await desk.getByLabel("Patient (DID or Ethereum address)").fill(alice);
    await desk.getByLabel("Purpose of use").selectOption("Treatment");
    await desk.getByRole("button", { name: "Show records" }).click();
    await settled(desk.getByTestId("covered-record").nth(2), 30_000, clinic);
    expect(await desk.getByTestId("covered-record").count()).to.equal(3);
    const shown: string[] = [];
    for (let index = 0; index < 3; index++) {
      await desk
        .getByRole("button", { name: /^Open record / })
        .nth(index)
        .click();
      const content = desk.getByTestId("clinic-record-content");
      await settled(content, 30_000, clinic);
      shown.push((await content.textContent()) ?? "");
      if (shown.at(-1)!.includes(LOINC_GLUCOSE)) await expectAccessible(clinic, "09-clinic-record");
    }
    expect(shown.filter((text) => text.includes(LOINC_GLUCOSE))).to.have.length(2);
    expect(shown.filter((text) => text.includes("bytes (not FHIR JSON)"))).to.have.length(1);

    // The clinic's first access arrived live as an alert (its later ones are not new); the log verified it.
    const alerts = page.getByTestId("live-alert");
    await alerts.first().waitFor({ timeout: 30_000 });
    expect(await alerts.count()).to.equal(1);
    expect(await alerts.first().textContent()).to.match(/^New: 0x15d3…6a65 accessed your data for the first time/);
    await expectAccessible(watched, "08-live-alert");

    await page.getByRole("tab", { name: "Consent" }).click();
    await page.getByRole("button", { name: /^Revoke / }).click();
    await settled(page.getByText(/^Revoked: /), 60_000);
    await page.getByText("Nobody but you.").waitFor();
    // The desk still lists the records; opening one now is refused, in words.
    await desk
      .getByRole("button", { name: /^Open record / })
      .first()
      .click();
    const refusal = desk.getByRole("alert");
    await refusal.waitFor({ timeout: 30_000 });
    expect(await refusal.textContent()).to.include("CONSENT_REQUIRED");
    expect(clinic.refusedRequests.splice(0), "the desk's one refused key release").to.deep.equal([403]);
    await expectAccessible(clinic, "10-clinic-refused");
    await desk.getByRole("button", { name: "Show records" }).click();
    await desk.getByText("The patient's consent covers no record for Treatment now.").waitFor({ timeout: 30_000 });

    // The access log: the clinic's releases and its refusal, each proven against an anchored head.
    await stack.app.audit.anchorNow();
    await page.getByRole("tab", { name: "Access log" }).click();
    await page.getByTestId("audit-counts").waitFor({ timeout: 60_000 });
    const entries = page.getByTestId("audit-entry");
    const verifiedOf = (type: string) =>
      entries.and(page.locator(`[data-type="${type}"][data-verified="true"]`)).count();
    expect(await verifiedOf("key_release")).to.equal(3); // the desk opened three records
    expect(await verifiedOf("access_denied")).to.equal(1);
    expect(await page.getByTestId("audit-alarm").count()).to.equal(0);
    expect(await entries.first().getAttribute("data-type")).to.equal("access_denied"); // newest first
    await expectAccessible(watched, "11-access-log");
  });

  it("registers the clinic as an emergency contact; its break-glass access is an alert and highlighted in the log", async () => {
    const { page } = watched;
    const alice = stack.accounts.alice;
    const clinicDid = `did:ethr:0x${stack.deployment.chainId.toString(16)}:${stack.accounts.clinic.address.toLowerCase()}`;
    await page.getByRole("tab", { name: "Consent" }).click();
    await page.getByText("No emergency contact.").waitFor({ timeout: 30_000 });
    await page.getByLabel("Emergency contact (their DID or Ethereum address)").fill(clinicDid);
    await page.getByLabel("laboratory records").check();
    await page.getByLabel("For how long, once opened").selectOption("4h");
    await page.getByRole("button", { name: "Add emergency contact" }).click();
    await settled(page.getByTestId("emergency-card"), 60_000);
    expect(await page.getByTestId("emergency-contact").getAttribute("data-status")).to.equal("ready");
    await expectAccessible(watched, "12-emergency-contact");
    // The card the patient hands over, downloaded as a person would.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download the emergency card" }).click(),
    ]);
    const card = JSON.parse(await readFile(await download.path(), "utf8")) as { card: string[]; grantee: string };
    expect(card.grantee.toLowerCase()).to.equal(stack.accounts.clinic.address.toLowerCase());

    // The clinic, in an emergency, breaks the glass for the laboratory records (its own transaction).
    const labId = (await derivePatientKeys(alice, { keyIndex: 0 })).scopes.id("category:laboratory");
    expect(card.card).to.include(labId);
    const registry = new ConsentRegistryClient(
      stack.deployment.contracts.ConsentRegistry,
      new TransactionSender(stack.accounts.clinic.connect(stack.provider)),
    );
    await registry.breakGlass(alice.address, labId, { scopes: card.card });
    await stack.services.chain.indexer.sync();

    await page.getByRole("tab", { name: "Access log" }).click();
    await page.locator('[data-testid="live-state"][data-state="live"]').waitFor({ timeout: 30_000 });
    const desk = clinic.page;
    await desk.getByLabel("Purpose of use").selectOption("Emergency");
    await desk.getByRole("button", { name: "Show records" }).click();
    await settled(desk.getByTestId("covered-record").first(), 30_000, clinic);
    await desk
      .getByRole("button", { name: /^Open record / })
      .first()
      .click();
    await settled(desk.getByTestId("clinic-record-content"), 30_000, clinic);

    const alert = page.locator(".live-alert.emergency");
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).to.match(/^Emergency access: 0x15d3…6a65 used break-glass access/);
    await page.locator('[data-testid="audit-entry"][data-type="emergency_release"].emergency').first().waitFor();
    await expectAccessible(watched, "13-emergency-alert");
  });
});
