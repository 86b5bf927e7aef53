// Drives the example page (examples/web, served by the service at /app) in the system's headless Chromium, with
// no internet (every request beyond loopback is refused and reported): sign in with a devnet demo wallet, quote,
// buy, see the policy turn Active as its block is mined, activate it, see it Settled, read its history. Takes a
// screenshot at each step. Driven by tests/web/test_web_page_browser.py.
//
// Input: one JSON object on argv[2]: {url, stacksApiUrl, wallet, screenshots}. Output: "RESULT {json}" on stdout.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { offlineChromium } from "./offline_chromium.mjs";

const input = JSON.parse(process.argv[2]);
const STEP_MS = 60_000;

const browser = offlineChromium("web-page");
const { external, consoleErrors } = browser;
mkdirSync(input.screenshots, { recursive: true });
const shots = [];

async function devnet(path, body) {
  const response = await fetch(`${input.stacksApiUrl}${path}`, body ? { method: "POST", body: JSON.stringify(body) } : {});
  if (!response.ok) throw new Error(`devnet ${path}: HTTP ${response.status}`);
  return response.json();
}

const mine = () => devnet("/devnet/mine", { blocks: 1 });
const backendNonce = async (backend) =>
  (await devnet(`/extended/v1/address/${backend}/nonces`)).possible_next_nonce;

async function until(what, probe) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${STEP_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function shot(page, name) {
  const path = join(input.screenshots, `${String(shots.length + 1).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

try {
  const { backend_address: backend } = await devnet("/devnet/accounts");
  const page = await browser.open({ width: 1280, height: 900 });
  page.setDefaultTimeout(STEP_MS);

  await page.goto(input.url);
  await page.waitForSelector("#sign-in:not([disabled])");
  await page.waitForFunction(() => document.querySelector("#btc-price")?.dataset.usd8);
  await page.selectOption("#wallet", input.wallet);
  await page.click("#sign-in");
  await page.waitForFunction(() => document.querySelector("#who")?.dataset.address);
  await page.waitForSelector('#connection[data-status="live"]');
  await shot(page, "signed-in");

  // a strike 5 % above the price: in the money at once, so it can be activated
  const usd8 = BigInt(await page.$eval("#btc-price", (e) => e.dataset.usd8));
  const strikeCents = (usd8 * 105n) / 100n / 1_000_000n;
  await page.fill("#amount", "0.01");
  await page.fill("#strike", `${strikeCents / 100n}.${String(strikeCents % 100n).padStart(2, "0")}`);
  await page.fill("#days", "7");
  await page.click("#get-quote");
  await page.waitForSelector("#quote:not([hidden])");
  await page.waitForSelector("#buy:not([disabled])");
  const quote = await page.$eval("#quote", (e) => e.innerText);
  await shot(page, "quote");

  await page.click("#buy");
  const policyId = await until("the purchase", () =>
    page.$eval("#buy-result", (e) => e.dataset.policyId).catch(() => undefined),
  );
  const row = (status) => `tr[data-policy-id="${policyId}"][data-status="${status}"]`;
  await page.waitForSelector(row("PendingCreation"));
  await shot(page, "pending");
  await mine(); // the creation transaction's block
  await page.waitForSelector(row("Active"));
  await shot(page, "active");

  const nonce = await backendNonce(backend);
  await page.click(`${row("Active")} button[data-action="activate"]`);
  await page.waitForSelector(row("Settling"));
  await until("the backend's status update in the mempool", async () => (await backendNonce(backend)) > nonce);
  await mine(); // the backend's update-policy-status block
  await page.waitForSelector(row("Settled"));
  const settledRow = await page.$eval(row("Settled"), (e) => [...e.cells].map((c) => c.innerText));
  await shot(page, "settled");

  await page.click(`${row("Settled")} button[data-action="history"]`);
  await page.waitForFunction(() => document.querySelectorAll("#history tbody tr").length >= 5);
  const history = await page.$$eval("#history tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.innerText)));
  await shot(page, "history");

  const errorShown = await page.$eval("#error", (e) => (e.hidden ? null : e.innerText));
  console.log(
    `RESULT ${JSON.stringify({ policyId, quote, settledRow, history, errorShown, external, consoleErrors, shots })}`,
  );
} catch (error) {
  console.error(`web page check failed: ${error?.stack ?? error}`);
  console.error(`console errors: ${JSON.stringify(consoleErrors)}; external requests: ${JSON.stringify(external)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
