/**
 * The patient's wallet page in a real browser (Debian's Chromium through playwright-core) against the real local
 * stack (anvil with Hygeia deployed, the gateway with embedded Helia and SQLite, serving the built pages at `/`).
 * The wallet is the injected EIP-1193 test wallet (support/wallet.ts), so the page runs as it would with MetaMask.
 * Every screen is checked with axe-core (no serious or critical violation) and saved as a screenshot; any console
 * error fails the test.
 */
import { rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { expect } from "chai";
import type { Browser } from "playwright-core";
import { HygeiaConnection, derivePatientKeys, encryptionKeysOf } from "@hygeia/sdk";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { WEB_DIST_DIR } from "../dist-path.ts";
import {
  ensureWebBuilt,
  expectAccessible,
  launchBrowser,
  openPage,
  openAndConnect,
  type WatchedPage,
} from "./support/browser.ts";
import { installTestWallet } from "./support/wallet.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("web: the patient's wallet page in Chromium", function () {
  this.timeout(180_000);
  let stack: TestStack;
  let browser: Browser;
  const opened: WatchedPage[] = [];

  before(async () => {
    await ensureWebBuilt();
    stack = await startTestStack();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  async function page(): Promise<WatchedPage> {
    const watched = await openPage(browser);
    opened.push(watched);
    return watched;
  }

  afterEach(function () {
    // Any console error or uncaught exception of the test's pages fails it.
    const pages = opened.splice(0);
    if (this.currentTest?.state !== "passed") return;
    expect(
      pages.flatMap((watched) => watched.errors),
      "console errors",
    ).to.deep.equal([]);
    expect(
      pages.flatMap((watched) => watched.refusedRequests),
      "refused requests",
    ).to.deep.equal([]);
  });

  it("is served at / with its own content security policy, and tells the page the chain's URL", async () => {
    const response = await fetch(`${stack.url}/`);
    expect(response.status).to.equal(200);
    const policy = response.headers.get("content-security-policy") ?? "";
    expect(policy).to.include("script-src 'self' 'wasm-unsafe-eval'");
    expect(policy).to.include(`connect-src 'self' ${new URL(stack.local.rpcUrl).origin}`);
    expect(policy).to.include("frame-ancestors 'none'");
    expect(await response.text()).to.include('<div id="app"></div>');
    const config = (await (await fetch(`${stack.url}/config.json`)).json()) as { rpcUrl: string };
    expect(new URL(config.rpcUrl).origin).to.equal(new URL(stack.local.rpcUrl).origin);
    // Files are looked up per request: a rebuild while the gateway runs (npm test beside npm start) is served at once.
    const fresh = join(WEB_DIST_DIR, "assets", `rebuilt-${Date.now()}.js`);
    await writeFile(fresh, "export {};\n");
    try {
      expect((await fetch(`${stack.url}/assets/${basename(fresh)}`)).status).to.equal(200);
    } finally {
      await rm(fresh, { force: true });
    }
    // Nothing outside the pages: traversal and unknown paths are the API's JSON 404.
    for (const path of ["/../package.json", "/%2e%2e/package.json", "/assets/%2e%2e/%2e%2e/package.json", "/.env"]) {
      const refused = await fetch(`${stack.url}${path}`);
      expect(refused.status, path).to.equal(404);
      expect(refused.headers.get("content-type"), path).to.include("application/problem+json");
    }
    // The API keeps its own policy.
    const api = await fetch(`${stack.url}/healthz`);
    expect(api.headers.get("content-security-policy")).to.include("default-src 'none'");
  });

  it("onboards a patient: connect, sign in (SIWE), derive the key from the wallet's signature, publish it", async () => {
    const alice = stack.accounts.alice;
    const watched = await page();
    const wallet = await installTestWallet(watched.page, alice, stack.provider);
    await watched.page.goto(`${stack.url}/`);
    await watched.page.getByRole("heading", { name: "Your health wallet" }).waitFor();
    await expectAccessible(watched, "01-welcome");

    await watched.page.getByRole("button", { name: "Connect wallet" }).click();
    await watched.page.getByRole("heading", { name: "You are signed in" }).waitFor({ timeout: 60_000 });
    await expectAccessible(watched, "02-signed-in");

    const chainId = stack.deployment.chainId;
    expect(await watched.page.getByTestId("address").textContent()).to.equal(alice.address);
    expect(await watched.page.getByTestId("did").textContent()).to.equal(
      `did:ethr:0x${chainId.toString(16)}:${alice.address.toLowerCase()}`,
    );
    // The key the page derived is the one the SDK derives in Node from the same wallet, and it is now on chain.
    const expected = hex((await derivePatientKeys(alice, { keyIndex: 0 })).encryption.publicKey);
    expect(await watched.page.getByTestId("public-key").textContent()).to.equal(expected);
    const connection = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
    });
    try {
      const published = await encryptionKeysOf(connection, alice.address);
      expect(published.map((key) => hex(key.publicKey))).to.deep.equal([expected]);
    } finally {
      connection.close();
    }
    // What the wallet was asked: the SIWE message, the fixed key-derivation typed data, one transaction.
    const methods = wallet.requests.map((request) => request.method);
    expect(methods).to.include("personal_sign");
    expect(methods).to.include("eth_signTypedData_v4");
    expect(methods.filter((method) => method === "eth_sendTransaction")).to.have.length(1);
    const siwe = Buffer.from(
      String(wallet.requests.find((r) => r.method === "personal_sign")!.params[0]).slice(2),
      "hex",
    );
    expect(siwe.toString("utf8")).to.include(
      `${new URL(stack.url).host} wants you to sign in with your Ethereum account`,
    );

    // Connecting again (a new visit) finds the key published and sends no transaction.
    const again = await page();
    const secondWallet = await installTestWallet(again.page, alice, stack.provider);
    await openAndConnect(again, `${stack.url}/`);
    await again.page.getByText("Your encryption key was already published").waitFor({ timeout: 60_000 });
    expect(secondWallet.requests.map((request) => request.method)).not.to.include("eth_sendTransaction");
  });

  it("says why when the user rejects the signature, and signs nothing", async () => {
    const bob = stack.accounts.bob;
    const watched = await page();
    const wallet = await installTestWallet(watched.page, bob, stack.provider, {
      reject: (request) => request.method === "personal_sign",
    });
    await openAndConnect(watched, `${stack.url}/`);
    const alert = watched.page.getByRole("alert");
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).to.include("You declined the request in your wallet.");
    expect(await alert.textContent()).to.include("Nothing was signed or sent");
    await expectAccessible(watched, "03-signature-rejected");
    const methods = wallet.requests.map((request) => request.method);
    expect(methods).not.to.include("eth_signTypedData_v4");
    expect(methods).not.to.include("eth_sendTransaction");
    // The button is there to try again.
    expect(await watched.page.getByRole("button", { name: "Connect wallet" }).isEnabled()).to.equal(true);
  });

  it("tells a visitor without a wallet what to install", async () => {
    const watched = await page();
    await openAndConnect(watched, `${stack.url}/`);
    const alert = watched.page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).to.include("No wallet was found in this browser.");
    expect(await alert.textContent()).to.include("Install a browser wallet");
    await expectAccessible(watched, "04-no-wallet");
  });

  it("lets the person cancel when the wallet never answers, and ignores its late answer", async () => {
    const watched = await page();
    await installTestWallet(watched.page, stack.accounts.bob, stack.provider, {
      hang: (request) => request.method === "eth_requestAccounts",
    });
    await openAndConnect(watched, `${stack.url}/`);
    await watched.page.getByText("Asking your wallet for your account…").waitFor({ timeout: 30_000 });
    await expectAccessible(watched, "04b-waiting-for-wallet");
    await watched.page.getByRole("button", { name: "Cancel" }).click();
    const alert = watched.page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).to.include("Connecting was cancelled.");
    expect(await watched.page.getByRole("button", { name: "Connect wallet" }).isEnabled()).to.equal(true);
  });
});
