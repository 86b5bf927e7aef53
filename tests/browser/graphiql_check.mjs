// Opens GraphiQL as served by the service in the system's headless Chromium (no internet: every request that
// leaves loopback is refused and reported), checks the walkthrough tabs, runs a query and a subscription, and
// saves a screenshot. Driven by tests/browser/test_graphiql_browser.py.
//
// Input: one JSON object on argv[2]: {url, screenshot, query, expectQuery, subscription, expectFirst, expectNext}.
// Output, one line each on stdout: "SUBSCRIBED" once the subscription's first payload is rendered (the test then
// changes the policy), and finally "RESULT {json}".
import { offlineChromium } from "./offline_chromium.mjs";

const input = JSON.parse(process.argv[2]);

const browser = offlineChromium("graphiql");
const { external, consoleErrors } = browser;
const socketLog = []; // WebSocket frames, shown when a step fails

/** The text of a CodeMirror 5 editor GraphiQL renders (query editor or response pane). */
const editorText = (page, selector) =>
  page.evaluate((sel) => document.querySelector(sel)?.CodeMirror?.getValue() ?? null, selector);

async function newTabWith(page, text) {
  const before = await page.locator(".graphiql-tab").count();
  await page.click(".graphiql-tab-add");
  await page.waitForFunction((n) => document.querySelectorAll(".graphiql-tab").length === n, before + 1);
  await page.evaluate((value) => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(value);
  }, text);
  // GraphiQL parses the document after a short debounce; its fetcher tells subscriptions apart by that parse
  await page.waitForTimeout(800);
  await page.click(".graphiql-execute-button");
}

async function waitForResponse(page, predicate, what, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let last = null;
  while (Date.now() < deadline) {
    last = await editorText(page, ".graphiql-response .CodeMirror");
    if (last && predicate(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: not rendered within ${timeout} ms; the response pane shows: ${last}`);
}

try {
  const page = await browser.open({ width: 1400, height: 900 });
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => socketLog.push(`> ${String(f.payload).slice(0, 300)}`));
    ws.on("framereceived", (f) => socketLog.push(`< ${String(f.payload).slice(0, 300)}`));
    ws.on("close", () => socketLog.push("closed"));
    ws.on("socketerror", (e) => socketLog.push(`error ${e}`));
  });

  await page.goto(input.url, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-query-editor .CodeMirror", { timeout: 30_000 });
  await page.waitForSelector(".graphiql-tab", { timeout: 10_000 });
  const tabs = await page.locator(".graphiql-tab").allInnerTexts();
  const firstTab = await editorText(page, ".graphiql-query-editor .CodeMirror");
  await page.screenshot({ path: input.screenshot.replace(/\.png$/, "-walkthrough.png") });

  await newTabWith(page, input.query);
  const queryText = await waitForResponse(page, (t) => t.includes(input.expectQuery), "query result");

  await newTabWith(page, input.subscription);
  const firstPayload = await waitForResponse(page, (t) => t.includes(input.expectFirst), "first subscription payload");
  process.stdout.write("SUBSCRIBED\n");
  const nextPayload = await waitForResponse(page, (t) => t.includes(input.expectNext), "next subscription payload");
  await page.screenshot({ path: input.screenshot, fullPage: false });

  const result = {
    tabs: tabs.map((t) => t.trim()).filter(Boolean),
    firstTabStartsWith: (firstTab ?? "").slice(0, 40),
    query: JSON.parse(queryText),
    firstPayload: JSON.parse(firstPayload),
    nextPayload: JSON.parse(nextPayload),
    external,
    consoleErrors,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
} catch (error) {
  process.stderr.write(
    `${error?.stack ?? error}\nexternal requests: ${JSON.stringify(external)}\n` +
      `console errors: ${JSON.stringify(consoleErrors)}\nWebSocket: ${JSON.stringify(socketLog)}\n`,
  );
  process.exitCode = 1;
} finally {
  await browser.close();
}
