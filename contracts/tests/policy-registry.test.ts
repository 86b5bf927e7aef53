import { beforeEach, describe, expect, it } from "vitest";
import { Cl, type ClarityValue } from "@stacks/transactions";
import {
  IMPOSTOR_PRIVATE_KEY,
  PROVIDER_DEPOSIT,
  QUOTE_SIGNER_PRIVATE_KEY,
  REGISTRY,
  SHARES_PER_USTX,
  type QuoteTerms,
  backend,
  buyer,
  compressedPublicKey,
  configureRegistry,
  createPolicy,
  defaultTerms,
  deployer,
  deposit,
  fundVault,
  mineBurnBlocksTo,
  otherBuyer,
  policyCounter,
  printed,
  provider,
  registryPrincipal,
  signQuote,
  stranger,
  stx,
  stxTransfers,
  tierTotals,
  updateStatus,
  VAULT,
  vaultPrincipal,
} from "./helpers";

const STRIKE = 60_000_00000000n;
const SETTLEMENT_PRICE = 50_000_00000000n;

function policyCreatedEvent(policyId: bigint, t: QuoteTerms): ClarityValue {
  return Cl.tuple({
    event: Cl.stringAscii("policy-created"),
    "policy-id": Cl.uint(policyId),
    owner: Cl.principal(t.owner),
    counterparty: Cl.principal(vaultPrincipal),
    "protected-value-usd8": Cl.uint(t.protectedValueUsd8),
    "protected-amount-sats": Cl.uint(t.protectedAmountSats),
    "expiration-height": Cl.uint(t.expirationHeight),
    "policy-type": Cl.stringAscii(t.policyType),
    "premium-ustx": Cl.uint(t.premiumUstx),
    "collateral-ustx": Cl.uint(t.collateralUstx),
    "risk-tier": Cl.stringAscii(t.riskTier),
    "quote-id": Cl.bufferFromHex(t.quoteId),
  });
}

function statusUpdatedEvent(
  policyId: bigint,
  newStatus: bigint,
  settlement: bigint,
  price: bigint,
  height: bigint,
): ClarityValue {
  return Cl.tuple({
    event: Cl.stringAscii("policy-status-updated"),
    "policy-id": Cl.uint(policyId),
    "previous-status": Cl.uint(0),
    "new-status": Cl.uint(newStatus),
    "settlement-ustx": Cl.uint(settlement),
    "settlement-price-usd8": Cl.uint(price),
    "block-height": Cl.uint(height),
  });
}

function storedPolicy(
  t: QuoteTerms,
  createdHeight: bigint,
  status = 0n,
  settlement = 0n,
  price = 0n,
  statusHeight = createdHeight,
): ClarityValue {
  return Cl.tuple({
    owner: Cl.principal(t.owner),
    counterparty: Cl.principal(vaultPrincipal),
    "protected-value-usd8": Cl.uint(t.protectedValueUsd8),
    "protected-amount-sats": Cl.uint(t.protectedAmountSats),
    "expiration-height": Cl.uint(t.expirationHeight),
    "policy-type": Cl.stringAscii(t.policyType),
    "premium-ustx": Cl.uint(t.premiumUstx),
    "collateral-ustx": Cl.uint(t.collateralUstx),
    "risk-tier": Cl.stringAscii(t.riskTier),
    status: Cl.uint(status),
    "created-height": Cl.uint(createdHeight),
    "quote-id": Cl.bufferFromHex(t.quoteId),
    "settlement-ustx": Cl.uint(settlement),
    "settlement-price-usd8": Cl.uint(price),
    "status-height": Cl.uint(statusHeight),
  });
}

// collateral-released of policy 1: what it releases, the tier's locked total after, its premium vesting.
function releasedEvent(t: QuoteTerms, released: bigint, tierLocked: bigint, tierCapital: bigint, tierPending = 0n) {
  return Cl.tuple({
    event: Cl.stringAscii("collateral-released"),
    "policy-id": Cl.uint(1),
    tier: Cl.stringAscii(t.riskTier),
    "amount-ustx": Cl.uint(released),
    "tier-locked-ustx": Cl.uint(tierLocked),
    "premium-vested-ustx": Cl.uint(t.premiumUstx),
    "tier-capital-ustx": Cl.uint(tierCapital),
    "tier-pending-premiums-ustx": Cl.uint(tierPending),
  });
}

function getPolicy(id: bigint): ClarityValue {
  return simnet.callReadOnlyFn(REGISTRY, "get-policy", [Cl.uint(id)], deployer).result;
}

function isQuoteUsed(quoteId: string): ClarityValue {
  return simnet.callReadOnlyFn(REGISTRY, "is-quote-used", [Cl.bufferFromHex(quoteId)], deployer).result;
}

// Everything a failed creation must leave untouched.
function creationSnapshot(t: QuoteTerms) {
  return {
    buyer: stx(t.owner),
    vault: stx(vaultPrincipal),
    tiers: ["Conservative", "Balanced", "Aggressive"].map((tier) => tierTotals(tier)),
    counter: policyCounter(),
    quoteUsed: isQuoteUsed(t.quoteId),
    policy: getPolicy(1n),
  };
}

function expectCreationRefused(t: QuoteTerms, code: number, signature = signQuote(t), sender = t.owner) {
  const before = creationSnapshot(t);
  const r = createPolicy(t, signature, sender);
  expect(r.result).toBeErr(Cl.uint(code));
  expect(r.events).toEqual([]);
  expect(creationSnapshot(t)).toStrictEqual(before);
}

beforeEach(() => {
  configureRegistry();
  fundVault();
});

describe("create-policy-entry", () => {
  it("takes the premium, locks the collateral, stores the policy and prints policy-created", () => {
    const t = defaultTerms();
    const height = BigInt(simnet.burnBlockHeight);
    const buyerBefore = stx(buyer);
    const vaultBefore = stx(vaultPrincipal);
    const tierBefore = tierTotals(t.riskTier);

    const r = createPolicy(t);

    expect(r.result).toBeOk(Cl.uint(1));
    expect(stxTransfers(r.events)).toStrictEqual([
      { sender: buyer, recipient: vaultPrincipal, amount: t.premiumUstx },
    ]);
    expect(printed(r.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("collateral-locked"),
        "policy-id": Cl.uint(1),
        tier: Cl.stringAscii(t.riskTier),
        "amount-ustx": Cl.uint(t.collateralUstx),
        "tier-locked-ustx": Cl.uint(t.collateralUstx),
      }),
      Cl.tuple({
        event: Cl.stringAscii("premium-received"),
        "policy-id": Cl.uint(1),
        tier: Cl.stringAscii(t.riskTier),
        payer: Cl.principal(buyer),
        "amount-ustx": Cl.uint(t.premiumUstx),
        "tier-capital-ustx": Cl.uint(tierBefore.capital),
        "tier-pending-premiums-ustx": Cl.uint(t.premiumUstx),
      }),
      policyCreatedEvent(1n, t),
    ]);
    expect(stx(buyer)).toBe(buyerBefore - t.premiumUstx);
    expect(stx(vaultPrincipal)).toBe(vaultBefore + t.premiumUstx);
    // The premium waits, pending, until the policy closes: it is not capital (not free, not withdrawable) yet.
    expect(tierTotals(t.riskTier)).toStrictEqual({
      ...tierBefore,
      locked: t.collateralUstx,
      free: tierBefore.capital - t.collateralUstx,
      pending: t.premiumUstx,
      premiums: t.premiumUstx,
    });
    expect(getPolicy(1n)).toBeSome(storedPolicy(t, height));
    expect(policyCounter()).toStrictEqual(Cl.uint(2));
    expect(isQuoteUsed(t.quoteId)).toStrictEqual(Cl.bool(true));
  });

  it("numbers policies consecutively across owners and tiers", () => {
    fundVault("Aggressive");
    const first = defaultTerms();
    const second = defaultTerms({ owner: otherBuyer, riskTier: "Aggressive", premiumUstx: 1n });
    expect(createPolicy(first).result).toBeOk(Cl.uint(1));
    const r = createPolicy(second);
    expect(r.result).toBeOk(Cl.uint(2));
    expect(printed(r.events).at(-1)).toStrictEqual(policyCreatedEvent(2n, second));
    expect(tierTotals("Aggressive").locked).toBe(second.collateralUstx);
    expect(tierTotals("Balanced").locked).toBe(first.collateralUstx);
    expect(policyCounter()).toStrictEqual(Cl.uint(3));
  });

  describe("refuses invalid parameters with u102 and changes nothing", () => {
    const cases: [string, () => Partial<QuoteTerms>][] = [
      ["a policy type other than PUT", () => ({ policyType: "CALL" })],
      ["a quote id shorter than 16 bytes", () => ({ quoteId: "00".repeat(15) })],
      ["a zero protected value", () => ({ protectedValueUsd8: 0n })],
      ["a zero protected amount", () => ({ protectedAmountSats: 0n })],
      ["a zero premium", () => ({ premiumUstx: 0n })],
      ["a zero collateral", () => ({ collateralUstx: 0n })],
      ["an unknown risk tier", () => ({ riskTier: "Reckless" })],
      ["an expiration at the current burn height", () => ({ expirationHeight: BigInt(simnet.burnBlockHeight) })],
      ["an expiration in the past", () => ({ expirationHeight: BigInt(simnet.burnBlockHeight) - 1n })],
    ];
    for (const [name, overrides] of cases) {
      it(name, () => {
        expectCreationRefused(defaultTerms(overrides()), 102);
      });
    }
  });

  it("accepts a quote at its expiry height and refuses it one burn block later (u106)", () => {
    const atExpiry = defaultTerms();
    mineBurnBlocksTo(atExpiry.quoteExpiryHeight);
    expect(createPolicy(atExpiry).result).toBeOk(Cl.uint(1));

    const late = defaultTerms({ quoteExpiryHeight: BigInt(simnet.burnBlockHeight) });
    simnet.mineEmptyBurnBlocks(1);
    expectCreationRefused(late, 106);
  });

  it("refuses a replayed quote (u107), even by another owner with a valid signature", () => {
    const t = defaultTerms();
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    expectCreationRefused(t, 107);
    expectCreationRefused({ ...t, owner: otherBuyer }, 107);
    expect(policyCounter()).toStrictEqual(Cl.uint(2));
  });

  it("refuses a forged signature (u108)", () => {
    const t = defaultTerms();
    const sig = signQuote(t);
    const flipped = (parseInt(sig.slice(40, 42), 16) ^ 0x01).toString(16).padStart(2, "0");
    expectCreationRefused(t, 108, sig.slice(0, 40) + flipped + sig.slice(42));
  });

  it("refuses a signature by another key (u108)", () => {
    const t = defaultTerms();
    expectCreationRefused(t, 108, signQuote(t, IMPOSTOR_PRIVATE_KEY));
  });

  it("refuses terms that differ from the signed ones (u108)", () => {
    const t = defaultTerms();
    const signature = signQuote(t);
    expectCreationRefused({ ...t, premiumUstx: t.premiumUstx - 1n }, 108, signature);
    expectCreationRefused({ ...t, collateralUstx: t.collateralUstx + 1n }, 108, signature);
    expectCreationRefused({ ...t, expirationHeight: t.expirationHeight + 1n }, 108, signature);
    expectCreationRefused({ ...t, quoteExpiryHeight: t.quoteExpiryHeight + 1n }, 108, signature);
    expectCreationRefused({ ...t, riskTier: "Aggressive" }, 108, signature);
  });

  it("refuses a quote signed for another owner (u108): the buyer is part of the signed tuple", () => {
    const t = defaultTerms();
    expectCreationRefused({ ...t, owner: otherBuyer }, 108, signQuote(t));
  });

  it("refuses a quote signed for another registry contract (u108)", () => {
    const t = defaultTerms();
    const signature = signQuote(t, QUOTE_SIGNER_PRIVATE_KEY, `${stranger}.policy-registry`);
    expectCreationRefused(t, 108, signature);
  });

  it("refuses a 64-byte signature without recovery id (u108)", () => {
    const t = defaultTerms();
    expectCreationRefused(t, 108, signQuote(t).slice(0, 128));
  });

  it("refuses every quote while no quote signer is set (u108)", async () => {
    await simnet.initSession(process.cwd(), "./Clarinet.toml");
    fundVault();
    const t = defaultTerms();
    expectCreationRefused(t, 108);
  });

  it("keys single use on the quote id: a re-encoded recovery id cannot replay a quote", () => {
    const t = defaultTerms();
    const sig = signQuote(t);
    expect(createPolicy(t, sig).result).toBeOk(Cl.uint(1));
    const otherRecoveryId = sig.slice(0, 128) + (sig.endsWith("00") ? "01" : "00");
    expectCreationRefused(t, 107, otherRecoveryId);
  });

  it("aborts with the vault's u203 and changes nothing when the tier lacks free capital", () => {
    const t = defaultTerms({ riskTier: "Conservative" });
    expectCreationRefused(t, 203);
    fundVault("Conservative", t.collateralUstx - 1n);
    expectCreationRefused(t, 203);
    // The policy's own premium does not count towards its collateral.
    expectCreationRefused({ ...t, premiumUstx: t.collateralUstx }, 203);
    expect(deposit("Conservative", 1n).result).toBeOk(Cl.uint(SHARES_PER_USTX));
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    expect(tierTotals("Conservative")).toMatchObject({ free: 0n, pending: t.premiumUstx });
  });

  it("aborts with the vault's u206 and changes nothing when the buyer cannot pay the premium", () => {
    // A premium is at most its collateral (u110), so the buyer first spends nearly everything.
    expect(simnet.transferSTX(stx(buyer) - 1_000n, stranger, buyer).result).toBeOk(Cl.bool(true));
    const t = defaultTerms({ premiumUstx: 1_001n });
    expectCreationRefused(t, 206);
    expect(tierTotals(t.riskTier).locked).toBe(0n);
  });
});

describe("update-policy-status", () => {
  function activePolicy(overrides: Partial<QuoteTerms> = {}) {
    const t = defaultTerms(overrides);
    const height = BigInt(simnet.burnBlockHeight);
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    return { t, height };
  }

  it("settles (u0 -> u1): pays the owner from the collateral, releases the rest, prints policy-status-updated", () => {
    const { t, height } = activePolicy();
    const settlement = 1_234_567_891n;
    const ownerBefore = stx(buyer);
    const vaultBefore = stx(vaultPrincipal);
    const tierBefore = tierTotals(t.riskTier);

    const r = updateStatus(1n, 1n, settlement, SETTLEMENT_PRICE);

    expect(r.result).toBeOk(Cl.bool(true));
    expect(stxTransfers(r.events)).toStrictEqual([
      { sender: vaultPrincipal, recipient: buyer, amount: settlement },
    ]);
    expect(printed(r.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("settlement-paid"),
        "policy-id": Cl.uint(1),
        tier: Cl.stringAscii(t.riskTier),
        recipient: Cl.principal(buyer),
        "amount-ustx": Cl.uint(settlement),
        "tier-capital-ustx": Cl.uint(tierBefore.capital - settlement),
        "tier-locked-ustx": Cl.uint(t.collateralUstx - settlement),
      }),
      releasedEvent(t, t.collateralUstx - settlement, 0n, tierBefore.capital - settlement + t.premiumUstx),
      statusUpdatedEvent(1n, 1n, settlement, SETTLEMENT_PRICE, height),
    ]);
    expect(stx(buyer)).toBe(ownerBefore + settlement);
    expect(stx(vaultPrincipal)).toBe(vaultBefore - settlement);
    // The loss leaves capital; the premium vests into it.
    expect(tierTotals(t.riskTier)).toStrictEqual({
      ...tierBefore,
      capital: tierBefore.capital - settlement + t.premiumUstx,
      locked: 0n,
      free: tierBefore.capital - settlement + t.premiumUstx,
      pending: 0n,
      settlements: settlement,
    });
    expect(getPolicy(1n)).toBeSome(storedPolicy(t, height, 1n, settlement, SETTLEMENT_PRICE, height));
  });

  it("settles the whole collateral and releases nothing more", () => {
    const { t } = activePolicy();
    const ownerBefore = stx(buyer);
    const r = updateStatus(1n, 1n, t.collateralUstx, SETTLEMENT_PRICE);
    expect(r.result).toBeOk(Cl.bool(true));
    expect(printed(r.events)[1]).toStrictEqual(
      releasedEvent(t, 0n, 0n, PROVIDER_DEPOSIT - t.collateralUstx + t.premiumUstx),
    );
    expect(stx(buyer)).toBe(ownerBefore + t.collateralUstx);
  });

  it("refuses a settlement above the collateral (u109) and changes nothing", () => {
    const { t } = activePolicy();
    const ownerBefore = stx(buyer);
    const vaultBefore = stx(vaultPrincipal);
    const tierBefore = tierTotals(t.riskTier);
    const r = updateStatus(1n, 1n, t.collateralUstx + 1n, SETTLEMENT_PRICE);
    expect(r.result).toBeErr(Cl.uint(109));
    expect(r.events).toEqual([]);
    expect(stx(buyer)).toBe(ownerBefore);
    expect(stx(vaultPrincipal)).toBe(vaultBefore);
    expect(tierTotals(t.riskTier)).toStrictEqual(tierBefore);
    expect(getPolicy(1n)).toBeSome(storedPolicy(t, BigInt(simnet.burnBlockHeight)));
  });

  it("allows settlement exactly at expiration-height", () => {
    const { t } = activePolicy();
    mineBurnBlocksTo(t.expirationHeight);
    const ownerBefore = stx(buyer);
    const r = updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE);
    expect(r.result).toBeOk(Cl.bool(true));
    expect(printed(r.events).at(-1)).toStrictEqual(
      statusUpdatedEvent(1n, 1n, 1_000n, SETTLEMENT_PRICE, t.expirationHeight),
    );
    expect(stx(buyer)).toBe(ownerBefore + 1_000n);
  });

  it("refuses settlement one burn block after expiration-height (u105)", () => {
    const { t } = activePolicy();
    mineBurnBlocksTo(t.expirationHeight + 1n);
    const vaultBefore = stx(vaultPrincipal);
    const r = updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE);
    expect(r.result).toBeErr(Cl.uint(105));
    expect(stx(vaultPrincipal)).toBe(vaultBefore);
    expect(tierTotals(t.riskTier).locked).toBe(t.collateralUstx);
  });

  it("refuses expiry at expiration-height (u104)", () => {
    const { t } = activePolicy();
    mineBurnBlocksTo(t.expirationHeight);
    const r = updateStatus(1n, 2n, 0n, 0n);
    expect(r.result).toBeErr(Cl.uint(104));
    expect(tierTotals(t.riskTier).locked).toBe(t.collateralUstx);
  });

  it("expires (u0 -> u2) one burn block after expiration-height, releasing all collateral", () => {
    const { t, height } = activePolicy();
    const expiredAt = t.expirationHeight + 1n;
    mineBurnBlocksTo(expiredAt);
    const ownerBefore = stx(buyer);
    const vaultBefore = stx(vaultPrincipal);
    const tierBefore = tierTotals(t.riskTier);

    const r = updateStatus(1n, 2n, 0n, 0n);

    expect(r.result).toBeOk(Cl.bool(true));
    expect(stxTransfers(r.events)).toStrictEqual([]);
    expect(printed(r.events)).toStrictEqual([
      releasedEvent(t, t.collateralUstx, 0n, tierBefore.capital + t.premiumUstx),
      statusUpdatedEvent(1n, 2n, 0n, 0n, expiredAt),
    ]);
    expect(stx(buyer)).toBe(ownerBefore);
    expect(stx(vaultPrincipal)).toBe(vaultBefore);
    expect(tierTotals(t.riskTier)).toStrictEqual({
      ...tierBefore,
      capital: tierBefore.capital + t.premiumUstx,
      locked: 0n,
      free: tierBefore.capital + t.premiumUstx,
      pending: 0n,
    });
    expect(getPolicy(1n)).toBeSome(storedPolicy(t, height, 2n, 0n, 0n, expiredAt));
  });

  it("records a settlement price passed with an expiry", () => {
    const { t } = activePolicy();
    mineBurnBlocksTo(t.expirationHeight + 1n);
    const r = updateStatus(1n, 2n, 0n, 70_000_00000000n);
    expect(r.result).toBeOk(Cl.bool(true));
    expect(printed(r.events).at(-1)).toStrictEqual(
      statusUpdatedEvent(1n, 2n, 0n, 70_000_00000000n, t.expirationHeight + 1n),
    );
  });

  it("refuses a second status change (u103)", () => {
    const { t } = activePolicy();
    expect(updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE).result).toBeOk(Cl.bool(true));
    expect(updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE).result).toBeErr(Cl.uint(103));
    mineBurnBlocksTo(t.expirationHeight + 1n);
    expect(updateStatus(1n, 2n, 0n, 0n).result).toBeErr(Cl.uint(103));

    const second = defaultTerms({ quoteExpiryHeight: BigInt(simnet.burnBlockHeight) });
    expect(createPolicy(second).result).toBeOk(Cl.uint(2));
    mineBurnBlocksTo(second.expirationHeight + 1n);
    const ownerBefore = stx(buyer);
    expect(updateStatus(2n, 2n, 0n, 0n).result).toBeOk(Cl.bool(true));
    expect(updateStatus(2n, 2n, 0n, 0n).result).toBeErr(Cl.uint(103));
    expect(updateStatus(2n, 1n, 1_000n, SETTLEMENT_PRICE).result).toBeErr(Cl.uint(103));
    expect(stx(buyer)).toBe(ownerBefore);
  });

  it("refuses a target status other than u1 or u2 (u103)", () => {
    activePolicy();
    expect(updateStatus(1n, 0n, 0n, 0n).result).toBeErr(Cl.uint(103));
    expect(updateStatus(1n, 3n, 0n, 0n).result).toBeErr(Cl.uint(103));
  });

  it("refuses callers other than the backend principal (u100)", () => {
    activePolicy();
    for (const caller of [buyer, deployer, provider, stranger]) {
      expect(updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE, caller).result).toBeErr(Cl.uint(100));
    }
    // Authorization is checked first: outsiders learn nothing about policy ids.
    expect(updateStatus(99n, 1n, 1_000n, SETTLEMENT_PRICE, stranger).result).toBeErr(Cl.uint(100));
  });

  it("refuses an unknown policy (u101)", () => {
    expect(updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE).result).toBeErr(Cl.uint(101));
    activePolicy();
    expect(updateStatus(2n, 2n, 0n, 0n).result).toBeErr(Cl.uint(101));
  });

  it("refuses inconsistent settlement parameters (u102)", () => {
    const { t } = activePolicy();
    expect(updateStatus(1n, 1n, 0n, SETTLEMENT_PRICE).result).toBeErr(Cl.uint(102));
    expect(updateStatus(1n, 1n, 1_000n, 0n).result).toBeErr(Cl.uint(102));
    expect(updateStatus(1n, 1n, 1_000n, STRIKE).result).toBeErr(Cl.uint(102));
    mineBurnBlocksTo(t.expirationHeight + 1n);
    expect(updateStatus(1n, 2n, 1n, 0n).result).toBeErr(Cl.uint(102));
    expect(tierTotals(t.riskTier).locked).toBe(t.collateralUstx);
  });
});

describe("admin setters", () => {
  it("set-backend-principal: admin only, prints the change, hands status updates to the new backend", () => {
    const r = simnet.callPublicFn(REGISTRY, "set-backend-principal", [Cl.principal(stranger)], deployer);
    expect(r.result).toBeOk(Cl.bool(true));
    expect(printed(r.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("backend-principal-set"),
        previous: Cl.principal(backend),
        "backend-principal": Cl.principal(stranger),
      }),
    ]);
    expect(simnet.callReadOnlyFn(REGISTRY, "get-backend-principal", [], deployer).result).toStrictEqual(
      Cl.principal(stranger),
    );
    for (const caller of [backend, stranger, buyer]) {
      const refused = simnet.callPublicFn(REGISTRY, "set-backend-principal", [Cl.principal(caller)], caller);
      expect(refused.result).toBeErr(Cl.uint(100));
    }

    expect(createPolicy(defaultTerms()).result).toBeOk(Cl.uint(1));
    expect(updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE, backend).result).toBeErr(Cl.uint(100));
    expect(updateStatus(1n, 1n, 1_000n, SETTLEMENT_PRICE, stranger).result).toBeOk(Cl.bool(true));
  });

  it("set-quote-signer: admin only, prints the change, rotates which key's quotes verify", () => {
    const newKey = compressedPublicKey(IMPOSTOR_PRIVATE_KEY);
    const r = simnet.callPublicFn(REGISTRY, "set-quote-signer", [Cl.bufferFromHex(newKey)], deployer);
    expect(r.result).toBeOk(Cl.bool(true));
    expect(printed(r.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("quote-signer-set"),
        previous: Cl.bufferFromHex(compressedPublicKey(QUOTE_SIGNER_PRIVATE_KEY)),
        "quote-signer": Cl.bufferFromHex(newKey),
      }),
    ]);
    expect(simnet.callReadOnlyFn(REGISTRY, "get-quote-signer", [], deployer).result).toStrictEqual(
      Cl.bufferFromHex(newKey),
    );
    for (const caller of [backend, stranger]) {
      const refused = simnet.callPublicFn(REGISTRY, "set-quote-signer", [Cl.bufferFromHex(newKey)], caller);
      expect(refused.result).toBeErr(Cl.uint(100));
    }

    const old = defaultTerms();
    expectCreationRefused(old, 108);
    const fresh = defaultTerms();
    expect(createPolicy(fresh, signQuote(fresh, IMPOSTOR_PRIVATE_KEY)).result).toBeOk(Cl.uint(1));
  });

  it("set-quote-signer refuses anything but a 33-byte compressed public key (u102)", () => {
    const key = compressedPublicKey(QUOTE_SIGNER_PRIVATE_KEY);
    for (const bad of [key.slice(0, 64), "04" + key.slice(2), "00".repeat(33)]) {
      const r = simnet.callPublicFn(REGISTRY, "set-quote-signer", [Cl.bufferFromHex(bad)], deployer);
      expect(r.result).toBeErr(Cl.uint(102));
    }
  });
});

describe("premium bound", () => {
  it("refuses a premium above the collateral (u110) before anything else is looked at, accepts it equal", () => {
    const t = defaultTerms({ collateralUstx: 1_000n, premiumUstx: 1_001n });
    expectCreationRefused(t, 110);
    // checked with the terms, before the quote: an unsigned quote gets the same answer
    expectCreationRefused(t, 110, "00".repeat(65));
    const equal = defaultTerms({ collateralUstx: 1_000n, premiumUstx: 1_000n });
    expect(createPolicy(equal).result).toBeOk(Cl.uint(1));
  });
});

// Finding: the registry authorized on tx-sender, so any contract the admin or the backend called could act as
// them (an "airdrop" that set the attacker's quote signer and backend). Authorization is on contract-caller now.
describe("authorization cannot be borrowed", () => {
  const airdrop = `${stranger}.airdrop`;
  const attackerKey = compressedPublicKey(IMPOSTOR_PRIVATE_KEY);

  beforeEach(() => {
    const code = `
      (define-public (claim)
        (begin
          (try! (contract-call? '${registryPrincipal} set-quote-signer 0x${attackerKey}))
          (try! (contract-call? '${registryPrincipal} set-backend-principal '${stranger}))
          (contract-call? '${registryPrincipal} propose-admin '${stranger})))
      (define-public (claim-sweep)
        (contract-call? '${registryPrincipal} recover-vault-surplus '${stranger}))
      (define-public (claim-status (id uint))
        (contract-call? '${registryPrincipal} update-policy-status id u1 u1000 u1))
      (define-public (claim-withdraw (amount uint))
        (contract-call? '${vaultPrincipal} withdraw "Balanced" amount))
      (define-public (claim-accept)
        (contract-call? '${registryPrincipal} accept-admin))`;
    expect(simnet.deployContract("airdrop", code, { clarityVersion: 4 }, stranger).result).toBeBool(true);
  });

  it("a contract called by the admin cannot set the quote signer, the backend or propose an admin (u100)", () => {
    const before = ["get-quote-signer", "get-backend-principal", "get-contract-admin", "get-proposed-admin"].map(
      (fn) => simnet.callReadOnlyFn(REGISTRY, fn, [], deployer).result,
    );
    const r = simnet.callPublicFn(airdrop, "claim", [], deployer);
    expect(r.result).toBeErr(Cl.uint(100));
    expect(r.events).toEqual([]);
    expect(simnet.callPublicFn(airdrop, "claim-sweep", [], deployer).result).toBeErr(Cl.uint(100));
    const after = ["get-quote-signer", "get-backend-principal", "get-contract-admin", "get-proposed-admin"].map(
      (fn) => simnet.callReadOnlyFn(REGISTRY, fn, [], deployer).result,
    );
    expect(after).toStrictEqual(before);
    // so the attacker's own quote for the whole tier at 1 uSTX does not verify
    const t = defaultTerms({ owner: stranger, premiumUstx: 1n, collateralUstx: PROVIDER_DEPOSIT });
    expectCreationRefused(t, 108, signQuote(t, IMPOSTOR_PRIVATE_KEY));
  });

  it("a contract called by the backend cannot change a policy's status (u100)", () => {
    expect(createPolicy(defaultTerms()).result).toBeOk(Cl.uint(1));
    const ownerBefore = stx(buyer);
    expect(simnet.callPublicFn(airdrop, "claim-status", [Cl.uint(1)], backend).result).toBeErr(Cl.uint(100));
    expect(stx(buyer)).toBe(ownerBefore);
    expect(tierTotals("Balanced").locked).toBe(defaultTerms().collateralUstx);
  });

  it("a contract called by a provider cannot withdraw the provider's shares", () => {
    const shares = tierTotals("Balanced").totalShares;
    const r = simnet.callPublicFn(airdrop, "claim-withdraw", [Cl.uint(1_000_000n)], provider);
    expect(r.result).toBeErr(Cl.uint(204)); // the contract itself holds no shares
    expect(tierTotals("Balanced").totalShares).toBe(shares);
  });

  it("a contract the proposed admin calls cannot accept for it (u100)", () => {
    expect(simnet.callPublicFn(REGISTRY, "propose-admin", [Cl.principal(otherBuyer)], deployer).result).toBeOk(
      Cl.bool(true),
    );
    expect(simnet.callPublicFn(airdrop, "claim-accept", [], otherBuyer).result).toBeErr(Cl.uint(100));
    expect(simnet.callReadOnlyFn(REGISTRY, "get-contract-admin", [], deployer).result).toStrictEqual(
      Cl.principal(deployer),
    );
  });
});

describe("admin transfer", () => {
  const propose = (who: string, sender: string) =>
    simnet.callPublicFn(REGISTRY, "propose-admin", [Cl.principal(who)], sender);
  const accept = (sender: string) => simnet.callPublicFn(REGISTRY, "accept-admin", [], sender);
  const admin = () => simnet.callReadOnlyFn(REGISTRY, "get-contract-admin", [], deployer).result;

  it("takes two steps: the admin proposes, the proposed principal accepts; then only the new admin rules", () => {
    expect(accept(otherBuyer).result).toBeErr(Cl.uint(100)); // nothing proposed
    expect(propose(otherBuyer, stranger).result).toBeErr(Cl.uint(100));
    const p = propose(otherBuyer, deployer);
    expect(p.result).toBeOk(Cl.bool(true));
    expect(printed(p.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("admin-proposed"),
        admin: Cl.principal(deployer),
        proposed: Cl.principal(otherBuyer),
      }),
    ]);
    expect(simnet.callReadOnlyFn(REGISTRY, "get-proposed-admin", [], deployer).result).toBeSome(
      Cl.principal(otherBuyer),
    );
    expect(admin()).toStrictEqual(Cl.principal(deployer)); // nothing changes before the acceptance
    expect(accept(stranger).result).toBeErr(Cl.uint(100));
    const a = accept(otherBuyer);
    expect(a.result).toBeOk(Cl.bool(true));
    expect(printed(a.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("admin-transferred"),
        previous: Cl.principal(deployer),
        admin: Cl.principal(otherBuyer),
      }),
    ]);
    expect(admin()).toStrictEqual(Cl.principal(otherBuyer));
    expect(simnet.callReadOnlyFn(REGISTRY, "get-proposed-admin", [], deployer).result).toBeNone();
    expect(accept(otherBuyer).result).toBeErr(Cl.uint(100)); // the proposal is used up
    const setBackend = (sender: string) =>
      simnet.callPublicFn(REGISTRY, "set-backend-principal", [Cl.principal(stranger)], sender).result;
    expect(setBackend(deployer)).toBeErr(Cl.uint(100));
    expect(setBackend(otherBuyer)).toBeOk(Cl.bool(true));
  });

  it("a later proposal replaces an earlier one", () => {
    expect(propose(otherBuyer, deployer).result).toBeOk(Cl.bool(true));
    expect(propose(stranger, deployer).result).toBeOk(Cl.bool(true));
    expect(accept(otherBuyer).result).toBeErr(Cl.uint(100));
    expect(accept(stranger).result).toBeOk(Cl.bool(true));
  });
});

// Finding: set-backend-principal accepted any principal; the registry itself as backend froze every policy.
describe("set-backend-principal validation", () => {
  it("refuses the registry, the vault, any contract and another network's address (u102)", () => {
    const mainnetAddress = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7";
    for (const bad of [registryPrincipal, vaultPrincipal, `${stranger}.airdrop`, mainnetAddress]) {
      const r = simnet.callPublicFn(REGISTRY, "set-backend-principal", [Cl.principal(bad)], deployer);
      expect(r.result).toBeErr(Cl.uint(102));
      expect(r.events).toEqual([]);
    }
    expect(simnet.callReadOnlyFn(REGISTRY, "get-backend-principal", [], deployer).result).toStrictEqual(
      Cl.principal(backend),
    );
    // so a live policy can always be closed by the backend
    const t = defaultTerms();
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    mineBurnBlocksTo(t.expirationHeight + 1n);
    expect(updateStatus(1n, 2n, 0n, 0n).result).toBeOk(Cl.bool(true));
    expect(tierTotals(t.riskTier).locked).toBe(0n);
  });
});

// Finding: STX sent to the vault by a plain transfer were counted nowhere and stranded.
describe("STX sent to the vault directly", () => {
  const surplus = () => simnet.callReadOnlyFn(VAULT, "get-surplus", [], stranger).result;
  const recover = (recipient: string, sender = deployer) =>
    simnet.callPublicFn(REGISTRY, "recover-vault-surplus", [Cl.principal(recipient)], sender);

  it("are counted as surplus, belong to no tier, and only the admin can send them on, exactly them", () => {
    expect(surplus()).toStrictEqual(Cl.uint(0));
    expect(recover(stranger).result).toBeErr(Cl.uint(212));
    const tiersBefore = ["Conservative", "Balanced", "Aggressive"].map((tier) => tierTotals(tier));
    expect(simnet.transferSTX(7_777n, vaultPrincipal, stranger).result).toBeOk(Cl.bool(true));
    expect(surplus()).toStrictEqual(Cl.uint(7_777));
    expect(["Conservative", "Balanced", "Aggressive"].map((tier) => tierTotals(tier))).toStrictEqual(tiersBefore);
    expect(recover(stranger, stranger).result).toBeErr(Cl.uint(100));
    expect(simnet.callPublicFn(VAULT, "sweep-surplus", [Cl.principal(stranger)], deployer).result).toBeErr(
      Cl.uint(200),
    );
    const before = stx(stranger);
    const r = recover(stranger);
    expect(r.result).toBeOk(Cl.uint(7_777));
    expect(stxTransfers(r.events)).toStrictEqual([{ sender: vaultPrincipal, recipient: stranger, amount: 7_777n }]);
    expect(printed(r.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("surplus-swept"),
        recipient: Cl.principal(stranger),
        "amount-ustx": Cl.uint(7_777),
      }),
    ]);
    expect(stx(stranger)).toBe(before + 7_777n);
    expect(surplus()).toStrictEqual(Cl.uint(0));
    expect(stx(vaultPrincipal)).toBe(PROVIDER_DEPOSIT);
  });
});

describe("read-only getters", () => {
  it("report the deployment defaults before any configuration", async () => {
    await simnet.initSession(process.cwd(), "./Clarinet.toml");
    const read = (fn: string, args: ClarityValue[] = []) => simnet.callReadOnlyFn(REGISTRY, fn, args, stranger).result;
    expect(read("get-policy-counter")).toStrictEqual(Cl.uint(1));
    expect(read("get-backend-principal")).toStrictEqual(Cl.principal(deployer));
    expect(read("get-contract-admin")).toStrictEqual(Cl.principal(deployer));
    expect(read("get-quote-signer")).toStrictEqual(Cl.bufferFromHex("00".repeat(33)));
    expect(read("get-vault")).toStrictEqual(Cl.principal(vaultPrincipal));
    expect(read("get-policy", [Cl.uint(1)])).toBeNone();
    expect(read("is-quote-used", [Cl.bufferFromHex("00".repeat(16))])).toStrictEqual(Cl.bool(false));
    expect(registryPrincipal).toBe(`${deployer}.policy-registry`);
  });
});
