import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { Cl, type ClarityValue } from "@stacks/transactions";
import {
  VAULT,
  backend,
  buyer,
  configureRegistry,
  createPolicy,
  defaultTerms,
  deployer,
  deposit,
  mineBurnBlocksTo,
  otherBuyer,
  printed,
  provider,
  registryPrincipal,
  stranger,
  stx,
  stxTransfers,
  tierTotals,
  updateStatus,
  vaultPrincipal,
} from "./helpers";

const TIERS = ["Conservative", "Balanced", "Aggressive"];
const alice = provider;
const bob = otherBuyer;

function withdraw(tier: string, amount: bigint, sender: string) {
  return simnet.callPublicFn(VAULT, "withdraw", [Cl.stringAscii(tier), Cl.uint(amount)], sender);
}

function providerBalance(tier: string, who: string, vault = VAULT) {
  const { result } = simnet.callReadOnlyFn(vault, "get-provider-balance", [Cl.stringAscii(tier), Cl.principal(who)], who);
  if (result.type !== "ok" || result.value.type !== "tuple") throw new Error("no provider balance");
  const v = result.value.value as Record<string, { value: bigint }>;
  return {
    shares: BigInt(v.shares.value),
    value: BigInt(v["value-ustx"].value),
    withdrawable: BigInt(v["withdrawable-ustx"].value),
  };
}

// The documented share arithmetic (virtual offset of one share and one micro-STX), in BigInt.
const sharesForDeposit = (amount: bigint, capital: bigint, shares: bigint) => (amount * (shares + 1n)) / (capital + 1n);
const valueOfShares = (held: bigint, capital: bigint, shares: bigint) => (held * (capital + 1n)) / (shares + 1n);

function expectVaultBalanceMatchesCapital(vault = vaultPrincipal) {
  const total = TIERS.map((tier) => tierTotals(tier, vault).capital).reduce((a, b) => a + b, 0n);
  expect(stx(vault)).toBe(total);
}

function depositedEvent(tier: string, who: string, amount: bigint, shares: bigint, capital: bigint, total: bigint) {
  return Cl.tuple({
    event: Cl.stringAscii("funds-deposited"),
    tier: Cl.stringAscii(tier),
    provider: Cl.principal(who),
    "amount-ustx": Cl.uint(amount),
    shares: Cl.uint(shares),
    "tier-capital-ustx": Cl.uint(capital),
    "tier-total-shares": Cl.uint(total),
  });
}

describe("deposit", () => {
  it("moves the STX into the vault, mints shares 1:1 into an empty tier and prints funds-deposited", () => {
    const before = stx(alice);
    const r = deposit("Conservative", 700_000_000n, alice);
    expect(r.result).toBeOk(Cl.uint(700_000_000));
    expect(stxTransfers(r.events)).toStrictEqual([{ sender: alice, recipient: vaultPrincipal, amount: 700_000_000n }]);
    expect(printed(r.events)).toStrictEqual([
      depositedEvent("Conservative", alice, 700_000_000n, 700_000_000n, 700_000_000n, 700_000_000n),
    ]);
    expect(stx(alice)).toBe(before - 700_000_000n);
    expect(stx(vaultPrincipal)).toBe(700_000_000n);
    expect(tierTotals("Conservative")).toStrictEqual({
      capital: 700_000_000n,
      locked: 0n,
      free: 700_000_000n,
      totalShares: 700_000_000n,
      premiums: 0n,
      settlements: 0n,
    });
    expect(tierTotals("Balanced").capital).toBe(0n);
    expect(providerBalance("Conservative", alice)).toStrictEqual({
      shares: 700_000_000n,
      value: 700_000_000n,
      withdrawable: 700_000_000n,
    });
    expect(providerBalance("Balanced", alice).shares).toBe(0n);
  });

  it("adds to a provider's existing shares", () => {
    deposit("Aggressive", 100n, alice);
    const r = deposit("Aggressive", 50n, bob);
    expect(printed(r.events)).toStrictEqual([depositedEvent("Aggressive", bob, 50n, 50n, 150n, 150n)]);
    expect(deposit("Aggressive", 25n, alice).result).toBeOk(Cl.uint(25));
    expect(providerBalance("Aggressive", alice).shares).toBe(125n);
    expect(providerBalance("Aggressive", bob).shares).toBe(50n);
    expectVaultBalanceMatchesCapital();
  });

  it("refuses an unknown tier (u201), a zero amount (u202) and an unfunded provider (u206), changing nothing", () => {
    const before = stx(alice);
    for (const [tier, amount, code] of [
      ["Reckless", 1n, 201],
      ["balanced", 1n, 201],
      ["Balanced", 0n, 202],
      ["Balanced", before + 1n, 206],
    ] as const) {
      const r = deposit(tier, amount, alice);
      expect(r.result).toBeErr(Cl.uint(code));
      expect(r.events).toEqual([]);
    }
    expect(stx(alice)).toBe(before);
    expect(stx(vaultPrincipal)).toBe(0n);
    expect(tierTotals("Balanced").totalShares).toBe(0n);
  });
});

describe("withdraw", () => {
  beforeEach(() => {
    deposit("Balanced", 1_000_000n, alice);
    deposit("Balanced", 3_000_000n, bob);
  });

  it("pays the provider out of free capital, burns shares and prints funds-withdrawn", () => {
    const before = stx(alice);
    const r = withdraw("Balanced", 400_000n, alice);
    expect(r.result).toBeOk(Cl.uint(400_000));
    expect(stxTransfers(r.events)).toStrictEqual([{ sender: vaultPrincipal, recipient: alice, amount: 400_000n }]);
    expect(printed(r.events)).toStrictEqual([
      Cl.tuple({
        event: Cl.stringAscii("funds-withdrawn"),
        tier: Cl.stringAscii("Balanced"),
        provider: Cl.principal(alice),
        "amount-ustx": Cl.uint(400_000),
        shares: Cl.uint(400_000),
        "tier-capital-ustx": Cl.uint(3_600_000),
        "tier-total-shares": Cl.uint(3_600_000),
      }),
    ]);
    expect(stx(alice)).toBe(before + 400_000n);
    expect(stx(vaultPrincipal)).toBe(3_600_000n);
    expect(providerBalance("Balanced", alice).shares).toBe(600_000n);
    expect(withdraw("Balanced", 600_000n, alice).result).toBeOk(Cl.uint(600_000));
    expect(providerBalance("Balanced", alice)).toStrictEqual({ shares: 0n, value: 0n, withdrawable: 0n });
    expectVaultBalanceMatchesCapital();
  });

  it("refuses more than the provider's own capital (u204), even when the tier has it", () => {
    const before = stx(alice);
    const r = withdraw("Balanced", 1_000_001n, alice);
    expect(r.result).toBeErr(Cl.uint(204));
    expect(r.events).toEqual([]);
    expect(withdraw("Balanced", 1n, stranger).result).toBeErr(Cl.uint(204));
    expect(withdraw("Conservative", 1n, alice).result).toBeErr(Cl.uint(204));
    expect(stx(alice)).toBe(before);
    expect(tierTotals("Balanced").capital).toBe(4_000_000n);
  });

  it("refuses capital that is locked as collateral (u203)", () => {
    configureRegistry();
    const t = defaultTerms({ collateralUstx: 3_500_000n, premiumUstx: 100_000n });
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    // free = 4,100,000 - 3,500,000 = 600,000 although alice owns about 1,025,000 of the tier
    expect(providerBalance("Balanced", alice).withdrawable).toBe(600_000n);
    const before = stx(alice);
    expect(withdraw("Balanced", 600_001n, alice).result).toBeErr(Cl.uint(203));
    expect(stx(alice)).toBe(before);
    expect(withdraw("Balanced", 600_000n, alice).result).toBeOk(Cl.uint(585_366));
    expect(stx(alice)).toBe(before + 600_000n);
    expectVaultBalanceMatchesCapital();
  });

  it("refuses a zero amount (u202) and an unknown tier (u201)", () => {
    expect(withdraw("Balanced", 0n, alice).result).toBeErr(Cl.uint(202));
    expect(withdraw("Safe", 1n, alice).result).toBeErr(Cl.uint(201));
  });
});

describe("premiums and settlements are shared pro rata", () => {
  beforeEach(() => {
    configureRegistry();
    deposit("Balanced", 600_000_000n, alice);
    deposit("Balanced", 400_000_000n, bob);
  });

  it("premiums raise every provider's value in proportion to their shares", () => {
    const t = defaultTerms({ premiumUstx: 100_000_000n, collateralUstx: 100_000_000n });
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    const capital = 1_100_000_000n;
    const shares = 1_000_000_000n;
    expect(tierTotals("Balanced")).toMatchObject({ capital, totalShares: shares, premiums: 100_000_000n });
    const a = providerBalance("Balanced", alice);
    const b = providerBalance("Balanced", bob);
    expect(a.value).toBe(valueOfShares(600_000_000n, capital, shares));
    expect(b.value).toBe(valueOfShares(400_000_000n, capital, shares));
    // within one micro-STX of the exact pro-rata value (660 and 440 STX), never above it
    expect(660_000_000n - a.value).toBeGreaterThanOrEqual(0n);
    expect(660_000_000n - a.value).toBeLessThanOrEqual(1n);
    expect(440_000_000n - b.value).toBeLessThanOrEqual(1n);
    expect(a.value + b.value).toBeLessThanOrEqual(capital);

    // a later provider buys in at the higher share price
    const r = deposit("Balanced", 110_000_000n, stranger);
    expect(r.result).toBeOk(Cl.uint(sharesForDeposit(110_000_000n, capital, shares)));

    // after expiry alice withdraws her full value
    mineBurnBlocksTo(t.expirationHeight + 1n);
    expect(updateStatus(1n, 2n, 0n, 0n).result).toBeOk(Cl.bool(true));
    const before = stx(alice);
    const aliceValue = providerBalance("Balanced", alice).value;
    expect(withdraw("Balanced", aliceValue, alice).result).toBeOk(Cl.uint(600_000_000));
    expect(stx(alice)).toBe(before + aliceValue);
    expect(providerBalance("Balanced", alice).shares).toBe(0n);
    expectVaultBalanceMatchesCapital();
  });

  it("settlements lower every provider's value in proportion to their shares", () => {
    const t = defaultTerms({ premiumUstx: 1n, collateralUstx: 500_000_000n });
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    expect(updateStatus(1n, 1n, 250_000_001n, 1n).result).toBeOk(Cl.bool(true));
    const capital = 750_000_000n;
    expect(tierTotals("Balanced")).toMatchObject({ capital, locked: 0n, settlements: 250_000_001n });
    expect(providerBalance("Balanced", alice).value).toBe(valueOfShares(600_000_000n, capital, 1_000_000_000n));
    expect(providerBalance("Balanced", alice).value).toBe(450_000_000n);
    expect(providerBalance("Balanced", bob).value).toBe(300_000_000n);
    expect(withdraw("Balanced", 450_000_001n, alice).result).toBeErr(Cl.uint(204));
    expectVaultBalanceMatchesCapital();
  });
});

describe("registry-only functions", () => {
  const calls: [string, ClarityValue[]][] = [
    ["lock-collateral", [Cl.uint(1), Cl.stringAscii("Balanced"), Cl.uint(1)]],
    ["receive-premium", [Cl.uint(1), Cl.stringAscii("Balanced"), Cl.uint(1)]],
    ["pay-settlement", [Cl.uint(1), Cl.uint(1), Cl.principal(stranger)]],
    ["release-collateral", [Cl.uint(1)]],
  ];

  it("refuse direct calls from any wallet, including the deployer and the backend (u200)", () => {
    configureRegistry();
    deposit("Balanced", 1_000_000n, alice);
    expect(createPolicy(defaultTerms({ collateralUstx: 1_000n, premiumUstx: 10n })).result).toBeOk(Cl.uint(1));
    for (const [fn, args] of calls) {
      for (const caller of [deployer, backend, buyer, stranger]) {
        expect(simnet.callPublicFn(VAULT, fn, args, caller).result).toBeErr(Cl.uint(200));
      }
    }
    expect(tierTotals("Balanced").locked).toBe(1_000n);
  });

  it("refuse calls from any other contract (u200)", () => {
    deposit("Balanced", 1_000_000n, alice);
    const attacker = `
      (define-public (lock) (contract-call? '${vaultPrincipal} lock-collateral u7 "Balanced" u1))
      (define-public (premium) (contract-call? '${vaultPrincipal} receive-premium u7 "Balanced" u1))
      (define-public (pay) (contract-call? '${vaultPrincipal} pay-settlement u7 u1 tx-sender))
      (define-public (release) (contract-call? '${vaultPrincipal} release-collateral u7))`;
    expect(simnet.deployContract("attacker", attacker, { clarityVersion: 4 }, stranger).result).toBeBool(true);
    for (const fn of ["lock", "premium", "pay", "release"]) {
      expect(simnet.callPublicFn(`${stranger}.attacker`, fn, [], stranger).result).toBeErr(Cl.uint(200));
    }
  });

  it("name the deployer's policy-registry as the only authorized caller", () => {
    expect(simnet.callReadOnlyFn(VAULT, "get-registry", [], stranger).result).toStrictEqual(
      Cl.principal(registryPrincipal),
    );
  });
});

// The vault authorizes `.policy-registry` of its own deployer. Deploying the vault's source from another account
// next to a thin contract named `policy-registry` drives the bookkeeping functions directly, including the guards
// the real registry never trips because it checks the same conditions first.
describe("bookkeeping through a registry harness", () => {
  const owner = stranger;
  const harnessVault = `${owner}.liquidity-pool-vault`;
  const harness = `${owner}.policy-registry`;

  beforeEach(() => {
    const source = readFileSync(path.join(process.cwd(), "contracts", "liquidity-pool-vault.clar"), "utf8");
    expect(simnet.deployContract("liquidity-pool-vault", source, { clarityVersion: 4 }, owner).result).toBeBool(true);
    const code = `
      (define-public (lock (id uint) (tier (string-ascii 12)) (amount uint))
        (contract-call? .liquidity-pool-vault lock-collateral id tier amount))
      (define-public (premium (id uint) (tier (string-ascii 12)) (amount uint))
        (contract-call? .liquidity-pool-vault receive-premium id tier amount))
      (define-public (pay (id uint) (amount uint) (recipient principal))
        (contract-call? .liquidity-pool-vault pay-settlement id amount recipient))
      (define-public (release (id uint))
        (contract-call? .liquidity-pool-vault release-collateral id))`;
    expect(simnet.deployContract("policy-registry", code, { clarityVersion: 4 }, owner).result).toBeBool(true);
    expect(simnet.callPublicFn(harnessVault, "deposit", [Cl.stringAscii("Balanced"), Cl.uint(1_000n)], alice).result).toBeOk(
      Cl.uint(1_000),
    );
  });

  const call = (fn: string, args: ClarityValue[], sender = buyer) => simnet.callPublicFn(harness, fn, args, sender);
  const lock = (id: number, tier: string, amount: number) =>
    call("lock", [Cl.uint(id), Cl.stringAscii(tier), Cl.uint(amount)]);
  const pay = (id: number, amount: number) => call("pay", [Cl.uint(id), Cl.uint(amount), Cl.principal(buyer)]);
  const release = (id: number) => call("release", [Cl.uint(id)]);
  const lockOf = (id: number) => simnet.callReadOnlyFn(harnessVault, "get-policy-lock", [Cl.uint(id)], owner).result;
  const tierOf = (tier: string) => simnet.callReadOnlyFn(harnessVault, "get-tier", [Cl.stringAscii(tier)], owner).result;

  it("locks, pays in parts and releases the remainder of one policy's collateral", () => {
    expect(lock(1, "Balanced", 600).result).toBeOk(Cl.bool(true));
    expect(lockOf(1)).toBeSome(Cl.tuple({ tier: Cl.stringAscii("Balanced"), "amount-ustx": Cl.uint(600) }));
    const before = stx(buyer);
    expect(pay(1, 100).result).toBeOk(Cl.bool(true));
    const r = pay(1, 200);
    expect(stxTransfers(r.events)).toStrictEqual([{ sender: harnessVault, recipient: buyer, amount: 200n }]);
    expect(stx(buyer)).toBe(before + 300n);
    expect(lockOf(1)).toBeSome(Cl.tuple({ tier: Cl.stringAscii("Balanced"), "amount-ustx": Cl.uint(300) }));
    expect(pay(1, 301).result).toBeErr(Cl.uint(205));
    const released = release(1);
    expect(released.result).toBeOk(Cl.uint(300));
    expect(lockOf(1)).toBeNone();
    expect(tierOf("Balanced")).toBeOk(
      Cl.tuple({
        "capital-ustx": Cl.uint(700),
        "locked-ustx": Cl.uint(0),
        "free-ustx": Cl.uint(700),
        "total-shares": Cl.uint(1_000),
        "premiums-ustx": Cl.uint(0),
        "settlements-ustx": Cl.uint(300),
      }),
    );
    expectVaultBalanceMatchesCapital(harnessVault);
  });

  it("takes premiums from the transaction sender", () => {
    const before = stx(buyer);
    const r = call("premium", [Cl.uint(1), Cl.stringAscii("Balanced"), Cl.uint(50)]);
    expect(r.result).toBeOk(Cl.bool(true));
    expect(stxTransfers(r.events)).toStrictEqual([{ sender: buyer, recipient: harnessVault, amount: 50n }]);
    expect(stx(buyer)).toBe(before - 50n);
    expectVaultBalanceMatchesCapital(harnessVault);
  });

  it("refuses a second lock for the same policy (u207)", () => {
    expect(lock(1, "Balanced", 10).result).toBeOk(Cl.bool(true));
    expect(lock(1, "Balanced", 10).result).toBeErr(Cl.uint(207));
  });

  it("refuses to pay or release a policy without a lock (u208)", () => {
    expect(pay(9, 1).result).toBeErr(Cl.uint(208));
    expect(release(9).result).toBeErr(Cl.uint(208));
    expect(lock(1, "Balanced", 10).result).toBeOk(Cl.bool(true));
    expect(release(1).result).toBeOk(Cl.uint(10));
    expect(release(1).result).toBeErr(Cl.uint(208));
  });

  it("refuses zero amounts (u202), unknown tiers (u201) and locks beyond free capital (u203)", () => {
    expect(lock(1, "Balanced", 0).result).toBeErr(Cl.uint(202));
    expect(call("premium", [Cl.uint(1), Cl.stringAscii("Balanced"), Cl.uint(0)]).result).toBeErr(Cl.uint(202));
    expect(lock(1, "Gambler", 1).result).toBeErr(Cl.uint(201));
    expect(call("premium", [Cl.uint(1), Cl.stringAscii("Gambler"), Cl.uint(1)]).result).toBeErr(Cl.uint(201));
    expect(lock(1, "Balanced", 1_001).result).toBeErr(Cl.uint(203));
    expect(lock(1, "Balanced", 1_000).result).toBeOk(Cl.bool(true));
    expect(pay(1, 0).result).toBeErr(Cl.uint(202));
    expect(lock(2, "Balanced", 1).result).toBeErr(Cl.uint(203));
  });

  it("refuses a deposit too small to mint one share (u209)", () => {
    expect(lock(1, "Aggressive", 1).result).toBeErr(Cl.uint(203));
    expect(simnet.callPublicFn(harnessVault, "deposit", [Cl.stringAscii("Aggressive"), Cl.uint(1)], alice).result).toBeOk(
      Cl.uint(1),
    );
    expect(call("premium", [Cl.uint(1), Cl.stringAscii("Aggressive"), Cl.uint(1_000)]).result).toBeOk(Cl.bool(true));
    // capital 1,001 over 1 share: 100 micro-STX would mint 100 * 2 / 1,002 = 0 shares
    const before = stx(bob);
    const r = simnet.callPublicFn(harnessVault, "deposit", [Cl.stringAscii("Aggressive"), Cl.uint(100)], bob);
    expect(r.result).toBeErr(Cl.uint(209));
    expect(stx(bob)).toBe(before);
    expect(simnet.callPublicFn(harnessVault, "deposit", [Cl.stringAscii("Aggressive"), Cl.uint(501)], bob).result).toBeOk(
      Cl.uint(1),
    );
  });
});

describe("read-only", () => {
  it("get-tier reports every tier and refuses unknown ones (u201)", () => {
    for (const tier of TIERS) {
      expect(simnet.callReadOnlyFn(VAULT, "get-tier", [Cl.stringAscii(tier)], stranger).result).toBeOk(
        Cl.tuple({
          "capital-ustx": Cl.uint(0),
          "locked-ustx": Cl.uint(0),
          "free-ustx": Cl.uint(0),
          "total-shares": Cl.uint(0),
          "premiums-ustx": Cl.uint(0),
          "settlements-ustx": Cl.uint(0),
        }),
      );
    }
    expect(simnet.callReadOnlyFn(VAULT, "get-tier", [Cl.stringAscii("Moderate")], stranger).result).toBeErr(
      Cl.uint(201),
    );
    expect(
      simnet.callReadOnlyFn(VAULT, "get-provider-balance", [Cl.stringAscii("Moderate"), Cl.principal(alice)], alice)
        .result,
    ).toBeErr(Cl.uint(201));
  });

  it("get-policy-lock follows a policy from creation to expiry", () => {
    configureRegistry();
    deposit("Balanced", 1_000_000n, alice);
    const t = defaultTerms({ collateralUstx: 5_000n, premiumUstx: 10n });
    expect(createPolicy(t).result).toBeOk(Cl.uint(1));
    expect(simnet.callReadOnlyFn(VAULT, "get-policy-lock", [Cl.uint(1)], alice).result).toBeSome(
      Cl.tuple({ tier: Cl.stringAscii("Balanced"), "amount-ustx": Cl.uint(5_000) }),
    );
    mineBurnBlocksTo(t.expirationHeight + 1n);
    expect(updateStatus(1n, 2n, 0n, 0n).result).toBeOk(Cl.bool(true));
    expect(simnet.callReadOnlyFn(VAULT, "get-policy-lock", [Cl.uint(1)], alice).result).toBeNone();
  });
});
