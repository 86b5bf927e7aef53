// The system's headless Chromium with no internet, as both browser checks drive it: every request that leaves
// loopback is refused and recorded, console errors and page errors are collected, and the throwaway profile is
// removed on close.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

// `external` and `consoleErrors` are filled as the page runs; `close()` is safe to call once launched or not.
export function offlineChromium(name) {
  const profile = mkdtempSync(join(tmpdir(), `${name}-chromium-`));
  const browser = { context: null, external: [], consoleErrors: [] };

  browser.open = async (viewport) => {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport,
    });
    browser.context = context;
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === "data:" || LOOPBACK.has(url.hostname)) return route.continue();
      browser.external.push(url.href);
      return route.abort("internetdisconnected");
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error") browser.consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => browser.consoleErrors.push(String(error)));
    return page;
  };

  browser.close = async () => {
    await browser.context?.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return browser;
}
