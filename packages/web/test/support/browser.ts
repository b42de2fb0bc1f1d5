// A real browser for the web tests: Debian's Chromium (/usr/bin/chromium, or HYGEIA_CHROMIUM), driven by
// playwright-core, headless, with everything that reaches for the internet switched off. Each page records console
// errors and uncaught exceptions (a test fails on any), and screenshots go under test-output/screenshots.
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { chromium, type Browser, type Page } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import { WEB_DIST_DIR } from "../../dist-path.ts";
import { buildWeb } from "../../scripts/build.ts";

export const CHROMIUM = process.env.HYGEIA_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENSHOT_DIR = join(import.meta.dirname, "..", "..", "test-output", "screenshots");

export async function launchBrowser(): Promise<Browser> {
  try {
    await access(CHROMIUM);
  } catch {
    throw new Error(
      `Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium; npm test does) or set HYGEIA_CHROMIUM`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-default-apps",
      "--disable-domain-reliability",
    ],
  });
}

export interface WatchedPage {
  page: Page;
  /** Console errors and uncaught exceptions, in order (Chromium's log lines for refused requests excepted). */
  errors: string[];
  /**
   * HTTP statuses of the requests Chromium logged as failed ("Failed to load resource: … status of 403"): a refusal
   * the page handled still gets such a console line; tests assert these separately, exactly.
   */
  refusedRequests: number[];
}

const REFUSED_REQUEST = /^Failed to load resource: the server responded with a status of (\d{3})\b/;

/** A fresh context (its own storage) and page, with its errors recorded. */
export async function openPage(browser: Browser): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const refusedRequests: number[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const refused = REFUSED_REQUEST.exec(message.text());
    if (refused) refusedRequests.push(Number(refused[1]));
    else errors.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  return { page, errors, refusedRequests };
}

/** A full-page screenshot named `name`.png under test-output/screenshots. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** axe-core's serious and critical violations on the page as it is now (empty: none), as readable lines. */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes.length} node(s)`);
}

/** The built pages: `npm test` builds them first; a lone run of a test file builds them when missing. */
export async function ensureWebBuilt(): Promise<void> {
  const built = await access(join(WEB_DIST_DIR, "index.html")).then(
    () => true,
    () => false,
  );
  if (!built) await buildWeb({ quiet: true });
}

/** Saves the screen as `name`.png and fails on any serious or critical axe-core violation on it. */
export async function expectAccessible(watched: WatchedPage, name: string): Promise<void> {
  await screenshot(watched.page, name);
  expect(await accessibilityViolations(watched.page), `axe on ${name}`).to.deep.equal([]);
}

/** Opens `url` and presses the page's "Connect wallet" (its wallet installed before, if any). */
export async function openAndConnect(watched: WatchedPage, url: string): Promise<void> {
  await watched.page.goto(url);
  await watched.page.getByRole("button", { name: "Connect wallet" }).click();
}
