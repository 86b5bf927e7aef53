// The example page: everything goes through the TypeScript client. Sign in with a devnet demo wallet (its key
// is a public test key the devnet serves), quote, buy, watch the wallet's policies change as the chain confirms,
// activate, and read a policy's history.
import {
  type LivePolicyList,
  type Policy,
  RegistryClient,
  RegistryError,
  type Wallet,
  localKeyWallet,
} from "@bithedge/policy-registry-client";
import { btcToSats, formatBtc, formatStx, formatUsd, usdToUsd8 } from "./units.js";
import "./style.css";

interface PageConfig {
  graphqlPath: string;
  stacksApiUrl: string | null;
  network: "devnet" | "testnet" | "mainnet";
}

interface DemoAccount {
  name: string;
  address: string;
  private_key: string;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element as T;
};

let client: RegistryClient;
let config: PageConfig;
let accounts: DemoAccount[] = [];
let wallet: Wallet | undefined;
let live: LivePolicyList | undefined;
let quoteId: string | undefined;
let quotedParameters: { protectedAmountSats: string; protectedValueUsd8: string; durationDays: number } | undefined;

function showError(error: unknown): void {
  const box = $("error");
  box.hidden = false;
  box.textContent =
    error instanceof RegistryError ? `${error.code}: ${error.message}` : `Error: ${error instanceof Error ? error.message : error}`;
  box.dataset.code = error instanceof RegistryError ? error.code : "UNKNOWN";
}

function clearError(): void {
  $("error").hidden = true;
}

/** Runs a button's action with the button disabled meanwhile and errors shown in the alert line. */
async function step(button: HTMLButtonElement, action: () => Promise<void>): Promise<void> {
  clearError();
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function start(): Promise<void> {
  config = (await (await fetch("config.json")).json()) as PageConfig;
  client = new RegistryClient({ url: new URL(config.graphqlPath, location.href).href });
  const note = $("network-note");
  if (config.network !== "devnet" || !config.stacksApiUrl) {
    note.textContent = `This service runs on ${config.network}: the page signs in only with the devnet's demo wallets.`;
  } else {
    const listing = (await (await fetch(`${config.stacksApiUrl}/devnet/accounts`)).json()) as { accounts: DemoAccount[] };
    accounts = listing.accounts.filter((a) => a.name.startsWith("wallet_"));
    note.textContent = `Devnet at ${config.stacksApiUrl}. Its demo wallets' keys are public test keys.`;
    const select = $<HTMLSelectElement>("wallet");
    for (const account of accounts) select.add(new Option(`${account.name} · ${account.address}`, account.name));
    $<HTMLButtonElement>("sign-in").disabled = false;
  }
  const price = await client.latestPrice("BTC_USD");
  $("btc-price").textContent = formatUsd(price.priceUsd8);
  $("btc-price").dataset.usd8 = price.priceUsd8;
  // 5 % above the price: in the money at once, so the policy can be activated as soon as it is Active
  $<HTMLInputElement>("strike").value = formatUsd(((BigInt(price.priceUsd8) * 105n) / 100n).toString()).replace(/[$,]/g, "");
}

async function signIn(): Promise<void> {
  const account = accounts.find((a) => a.name === $<HTMLSelectElement>("wallet").value);
  if (account === undefined || !config.stacksApiUrl) return;
  wallet = localKeyWallet({ privateKey: account.private_key, stacksApiUrl: config.stacksApiUrl, feeUstx: 10_000n });
  const session = await client.signIn(wallet);
  $("who").textContent = `Signed in as ${session.address}`;
  $("who").dataset.address = session.address;
  watchMine();
}

function watchMine(): void {
  live?.close();
  live = client.watchPolicies({ me: true, orderBy: "CREATED_AT_DESC" });
  const connection = $("connection");
  live.onStatus((status, error) => {
    connection.dataset.status = status;
    connection.textContent = status === "live" ? "live" : status === "reconnecting" ? "reconnecting…" : status;
    if (status === "failed" && error) showError(error);
  });
  live.subscribe(({ policies }) => renderPolicies(policies));
}

function renderPolicies(policies: readonly Policy[]): void {
  $("no-policies").textContent = policies.length ? "" : "No policies yet: buy one above.";
  const body = $("policies").querySelector("tbody");
  if (!body) return;
  body.replaceChildren(
    ...policies.map((p) => {
      const row = document.createElement("tr");
      row.dataset.policyId = p.id;
      row.dataset.status = p.statusDetailed;
      const cells = [
        p.policyIdOnChain ? `#${p.policyIdOnChain}` : "not on chain yet",
        p.statusDetailed,
        p.riskTier,
        formatBtc(p.protectedAmountSats),
        formatUsd(p.protectedValueUsd8),
        formatStx(p.premiumUstx),
        String(p.expirationHeight),
        p.settlementUstx ? formatStx(p.settlementUstx) : "",
      ];
      for (const [i, text] of cells.entries()) {
        const cell = row.insertCell();
        cell.textContent = text;
        if (i === 1) cell.className = `status status-${p.statusDetailed}`;
      }
      const actions = row.insertCell();
      if (p.statusDetailed === "Active" && p.policyIdOnChain) {
        const activate = button("Activate", "activate");
        const onChainId = p.policyIdOnChain;
        activate.onclick = () =>
          void step(activate, async () => {
            await client.activate(onChainId);
          });
        actions.append(activate);
      }
      const history = button("History", "history");
      history.onclick = () => void step(history, () => showHistory(p.id));
      actions.append(history);
      return row;
    }),
  );
}

function button(text: string, action: string): HTMLButtonElement {
  const element = document.createElement("button");
  element.textContent = text;
  element.dataset.action = action;
  return element;
}

async function showHistory(id: string): Promise<void> {
  const events = await client.policyHistory(id);
  $("history-of").textContent = id;
  const body = $("history").querySelector("tbody");
  body?.replaceChildren(
    ...events.map((e) => {
      const row = document.createElement("tr");
      for (const text of [String(e.version), e.fromStatus ?? "—", e.toStatus, e.cause, new Date(e.at).toLocaleString()]) {
        row.insertCell().textContent = text;
      }
      return row;
    }),
  );
  $("history-section").hidden = false;
}

async function getQuote(): Promise<void> {
  quotedParameters = {
    protectedAmountSats: btcToSats($<HTMLInputElement>("amount").value),
    protectedValueUsd8: usdToUsd8($<HTMLInputElement>("strike").value),
    durationDays: Number.parseInt($<HTMLInputElement>("days").value, 10),
  };
  const quote = await client.quote(quotedParameters);
  quoteId = quote.quoteId;
  const list = $("quote");
  list.replaceChildren();
  for (const [term, value] of [
    ["Premium", `${formatStx(quote.premiumUstx)} (${formatUsd(quote.premiumUsd8)})`],
    ["Collateral locked", formatStx(quote.collateralUstx)],
    ["Tier", quote.riskTier],
    ["Break-even BTC price", formatUsd(quote.breakEvenUsd8)],
    ["Expires at burn height", String(quote.expirationHeight)],
    ["Quote valid until burn height", String(quote.quoteExpiryHeight)],
  ] as const) {
    list.append(Object.assign(document.createElement("dt"), { textContent: term }));
    list.append(Object.assign(document.createElement("dd"), { textContent: value }));
  }
  list.hidden = false;
  list.dataset.premiumUstx = quote.premiumUstx;
  $<HTMLButtonElement>("buy").disabled = wallet === undefined;
}

async function buy(): Promise<void> {
  if (wallet === undefined || quotedParameters === undefined) return;
  const bought = await client.buyPolicy({ wallet, parameters: quotedParameters, quoteId });
  $("buy-result").textContent = `Sent: transaction ${bought.txId.slice(0, 12)}…; it turns Active when its block confirms.`;
  $("buy-result").dataset.policyId = bought.policy.id;
}

$<HTMLButtonElement>("sign-in").onclick = () => void step($("sign-in"), signIn);
$<HTMLFormElement>("quote-form").onsubmit = (event) => {
  event.preventDefault();
  void step($("get-quote"), getQuote);
};
$<HTMLButtonElement>("buy").onclick = () => void step($("buy"), buy);
start().catch(showError);
