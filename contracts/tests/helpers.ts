// Shared fixtures for the simnet tests: accounts, quote signing, vault funding and balance/event helpers.
import { expect } from "vitest";
import {
  Cl,
  type ClarityValue,
  compressPublicKey,
  privateKeyToPublic,
  serializeCV,
  signMessageHashRsv,
} from "@stacks/transactions";
import { createHash } from "node:crypto";

export function sha256Hex(hex: string): string {
  return createHash("sha256").update(Buffer.from(hex, "hex")).digest("hex");
}

function sha256OfText(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export const accounts = simnet.getAccounts();
export const deployer = accounts.get("deployer")!;
export const backend = accounts.get("backend")!;
export const buyer = accounts.get("wallet_1")!;
export const otherBuyer = accounts.get("wallet_2")!;
export const provider = accounts.get("wallet_3")!;
export const stranger = accounts.get("wallet_4")!;

export const REGISTRY = "policy-registry";
export const VAULT = "liquidity-pool-vault";
export const registryPrincipal = `${deployer}.${REGISTRY}`;
export const vaultPrincipal = `${deployer}.${VAULT}`;

// Fixed test keys (sha256 of "bithedge-test-quote-signer" / "bithedge-test-impostor"); never used outside tests.
export const QUOTE_SIGNER_PRIVATE_KEY = sha256OfText("bithedge-test-quote-signer");
export const IMPOSTOR_PRIVATE_KEY = sha256OfText("bithedge-test-impostor");

export function compressedPublicKey(privateKey: string): string {
  return compressPublicKey(privateKeyToPublic(privateKey));
}

export type QuoteTerms = {
  quoteId: string; // 32 hex chars (16 bytes)
  owner: string;
  protectedValueUsd8: bigint;
  protectedAmountSats: bigint;
  expirationHeight: bigint;
  policyType: string;
  premiumUstx: bigint;
  collateralUstx: bigint;
  riskTier: string;
  quoteExpiryHeight: bigint;
};

// The tuple the backend signs (see README "Quote signature"); Cl.tuple serializes keys in sorted order.
export function quoteTuple(terms: QuoteTerms, registry = registryPrincipal): ClarityValue {
  const [address, name] = registry.split(".");
  return Cl.tuple({
    registry: Cl.contractPrincipal(address, name),
    "quote-id": Cl.bufferFromHex(terms.quoteId),
    owner: Cl.principal(terms.owner),
    "protected-value-usd8": Cl.uint(terms.protectedValueUsd8),
    "protected-amount-sats": Cl.uint(terms.protectedAmountSats),
    "expiration-height": Cl.uint(terms.expirationHeight),
    "policy-type": Cl.stringAscii(terms.policyType),
    "premium-ustx": Cl.uint(terms.premiumUstx),
    "collateral-ustx": Cl.uint(terms.collateralUstx),
    "risk-tier": Cl.stringAscii(terms.riskTier),
    "quote-expiry-height": Cl.uint(terms.quoteExpiryHeight),
  });
}

export function quoteHash(terms: QuoteTerms, registry = registryPrincipal): string {
  return sha256Hex(serializeCV(quoteTuple(terms, registry)));
}

// 65 bytes r || s || recovery id, low-s, RFC 6979 deterministic (the same bytes coincurve's sign_recoverable gives).
export function signQuote(
  terms: QuoteTerms,
  privateKey = QUOTE_SIGNER_PRIVATE_KEY,
  registry = registryPrincipal,
): string {
  return signMessageHashRsv({ messageHash: quoteHash(terms, registry), privateKey });
}

let quoteCounter = 0;
export function freshQuoteId(): string {
  quoteCounter += 1;
  return quoteCounter.toString(16).padStart(32, "0");
}

export const DEFAULT_TIER = "Balanced";
// A tier without shares mints this many shares per uSTX (the vault's SHARES-PER-USTX).
export const SHARES_PER_USTX = 1_000_000n;
export const PROVIDER_DEPOSIT = 1_000_000_000_000n; // 1,000,000 STX

export function defaultTerms(overrides: Partial<QuoteTerms> = {}): QuoteTerms {
  const burn = BigInt(simnet.burnBlockHeight);
  return {
    quoteId: freshQuoteId(),
    owner: buyer,
    protectedValueUsd8: 60_000_00000000n, // strike 60,000 USD
    protectedAmountSats: 10_000_000n, // 0.1 BTC
    expirationHeight: burn + 100n,
    policyType: "PUT",
    premiumUstx: 250_000_000n, // 250 STX
    collateralUstx: 5_000_000_000n, // 5,000 STX
    riskTier: DEFAULT_TIER,
    quoteExpiryHeight: burn + 6n,
    ...overrides,
  };
}

export function createArgs(terms: QuoteTerms, signature: string): ClarityValue[] {
  return [
    Cl.bufferFromHex(terms.quoteId),
    Cl.uint(terms.protectedValueUsd8),
    Cl.uint(terms.protectedAmountSats),
    Cl.uint(terms.expirationHeight),
    Cl.stringAscii(terms.policyType),
    Cl.uint(terms.premiumUstx),
    Cl.uint(terms.collateralUstx),
    Cl.stringAscii(terms.riskTier),
    Cl.uint(terms.quoteExpiryHeight),
    Cl.bufferFromHex(signature),
  ];
}

export function createPolicy(terms: QuoteTerms, signature = signQuote(terms), sender = terms.owner) {
  return simnet.callPublicFn(REGISTRY, "create-policy-entry", createArgs(terms, signature), sender);
}

export function updateStatus(
  policyId: bigint,
  newStatus: bigint,
  settlementUstx: bigint,
  settlementPriceUsd8: bigint,
  sender = backend,
) {
  return simnet.callPublicFn(
    REGISTRY,
    "update-policy-status",
    [Cl.uint(policyId), Cl.uint(newStatus), Cl.uint(settlementUstx), Cl.uint(settlementPriceUsd8)],
    sender,
  );
}

// The registry starts with backend-principal = deployer and no quote signer; the tests configure both
// through the admin setters, as an operator would after deployment.
export function configureRegistry() {
  const b = simnet.callPublicFn(REGISTRY, "set-backend-principal", [Cl.principal(backend)], deployer);
  expect(b.result).toBeOk(Cl.bool(true));
  const q = simnet.callPublicFn(
    REGISTRY,
    "set-quote-signer",
    [Cl.bufferFromHex(compressedPublicKey(QUOTE_SIGNER_PRIVATE_KEY))],
    deployer,
  );
  expect(q.result).toBeOk(Cl.bool(true));
}

export function deposit(tier: string, amount: bigint, sender = provider) {
  return simnet.callPublicFn(VAULT, "deposit", [Cl.stringAscii(tier), Cl.uint(amount)], sender);
}

export function fundVault(tier = DEFAULT_TIER, amount = PROVIDER_DEPOSIT) {
  expect(deposit(tier, amount).result).toBeOk(Cl.uint(amount * SHARES_PER_USTX));
}

export function stx(principal: string): bigint {
  return simnet.getAssetsMap().get("STX")?.get(principal) ?? 0n;
}

export type TierTotals = {
  capital: bigint;
  locked: bigint;
  free: bigint;
  pending: bigint;
  totalShares: bigint;
  shareEpoch: bigint;
  premiums: bigint;
  settlements: bigint;
};

export function tierTotals(tier: string, vault = VAULT): TierTotals {
  const { result } = simnet.callReadOnlyFn(vault, "get-tier", [Cl.stringAscii(tier)], deployer);
  if (result.type !== "ok" || result.value.type !== "tuple") throw new Error(`no tier ${tier}`);
  const v = result.value.value as Record<string, { value: bigint }>;
  return {
    capital: BigInt(v["capital-ustx"].value),
    locked: BigInt(v["locked-ustx"].value),
    free: BigInt(v["free-ustx"].value),
    pending: BigInt(v["pending-premiums-ustx"].value),
    totalShares: BigInt(v["total-shares"].value),
    shareEpoch: BigInt(v["share-epoch"].value),
    premiums: BigInt(v["premiums-ustx"].value),
    settlements: BigInt(v["settlements-ustx"].value),
  };
}

export function policyCounter(): ClarityValue {
  return simnet.callReadOnlyFn(REGISTRY, "get-policy-counter", [], deployer).result;
}

// The print events of a transaction, in order, as Clarity values.
export function printed(events: { event: string; data: { value?: ClarityValue } }[]): ClarityValue[] {
  return events.filter((e) => e.event === "print_event").map((e) => e.data.value!);
}

export function stxTransfers(events: { event: string; data: Record<string, unknown> }[]) {
  return events
    .filter((e) => e.event === "stx_transfer_event")
    .map((e) => ({ sender: e.data.sender, recipient: e.data.recipient, amount: BigInt(e.data.amount as string) }));
}

export function mineBurnBlocksTo(height: bigint) {
  const current = BigInt(simnet.burnBlockHeight);
  if (height < current) throw new Error(`burn height ${current} already past ${height}`);
  if (height > current) simnet.mineEmptyBurnBlocks(Number(height - current));
  expect(BigInt(simnet.burnBlockHeight)).toBe(height);
}
