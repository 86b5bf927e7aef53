// The live list's merge rule on plain data: what arrives out of order, twice, or after a policy left the list.
// (The service delivers in order per subscription; these are the cases a reconnect, a replay or another replica
// can produce, which the service tests cannot force.)
import { describe, expect, it } from "vitest";
import { type Policy, VersionedList, comparePolicies, matchesFilter } from "../src/index.js";

const OWNER = "ST18W2WYJF48B6F0Z9YQ344ZX8J0BQ8C1B20G1V05";

function policy(id: number, version: number, fields: Partial<Policy> = {}): Policy {
  return {
    id: id.toString(16).padStart(24, "0"),
    policyIdOnChain: id,
    owner: OWNER,
    policyType: "PUT",
    protectedValueUsd8: "9500000000000",
    protectedAmountSats: "1000000",
    expirationHeight: 1000 + id,
    riskTier: "Conservative",
    premiumUstx: String(100 * id),
    collateralUstx: "1",
    statusOnChain: 0,
    statusDetailed: "Active",
    txIdCreation: null,
    txIdStatusUpdate: null,
    createdAt: "2026-12-06T00:00:00+00:00",
    expirationTimeEstimate: null,
    settlementUstx: null,
    settlementPriceUsd8: null,
    settledAt: null,
    failureReason: null,
    version,
    updatedAt: "2026-12-06T00:00:00+00:00",
    ...fields,
  };
}

const ids = (list: VersionedList) => list.policies().map((p) => `${Number.parseInt(p.id, 16)}@${p.version}`);

describe("VersionedList", () => {
  it("takes only newer versions: duplicates and older ones change nothing", () => {
    const list = new VersionedList({}, "CREATED_AT_DESC");
    list.load(OWNER, [policy(2, 3), policy(1, 1)], false);
    const before = list.policies();
    expect(list.apply(policy(2, 3))).toBe(false); // the same version again
    expect(list.apply(policy(2, 2, { statusDetailed: "PendingCreation" }))).toBe(false); // an older one
    expect(list.policies()).toBe(before); // not even a new array
    expect(list.apply(policy(2, 4, { statusDetailed: "Settling" }))).toBe(true);
    expect(ids(list)).toEqual(["2@4", "1@1"]);
  });

  it("drops a policy that leaves the filter, and an older version cannot bring it back", () => {
    const list = new VersionedList({ statusIn: ["Active"] }, "CREATED_AT_DESC");
    list.load(OWNER, [policy(1, 1)], false);
    expect(list.apply(policy(1, 2, { statusDetailed: "Settling" }))).toBe(true);
    expect(ids(list)).toEqual([]);
    expect(list.apply(policy(1, 1))).toBe(false); // a late Active version
    expect(ids(list)).toEqual([]);
    expect(list.apply(policy(3, 0, { statusDetailed: "PendingCreation" }))).toBe(false); // never matched
    expect(list.apply(policy(3, 2))).toBe(true); // enters when it matches
    expect(ids(list)).toEqual(["3@2"]);
  });

  it("keeps the service's order as policies change", () => {
    const list = new VersionedList({}, "PREMIUM_DESC");
    list.load(OWNER, [policy(3, 0), policy(2, 0), policy(1, 0)], false);
    list.apply(policy(1, 1, { premiumUstx: "1000" }));
    expect(ids(list)).toEqual(["1@1", "3@0", "2@0"]);
    const byExpiry = [policy(5, 0, { expirationHeight: 7 }), policy(4, 0, { expirationHeight: 7 }), policy(6, 0)];
    expect([...byExpiry].reverse().sort(comparePolicies("EXPIRATION_HEIGHT_ASC")).map((p) => p.id)).toEqual(
      byExpiry.map((p) => p.id), // ties newest (largest id) first
    );
  });

  it("holds a truncated first read to its window", () => {
    const list = new VersionedList({}, "EXPIRATION_HEIGHT_ASC");
    list.load(OWNER, [policy(1, 0), policy(2, 0)], true); // heights 1001, 1002; more beyond
    expect(list.apply(policy(9, 0))).toBe(false); // height 1009: beyond the window
    expect(list.apply(policy(9, 1, { expirationHeight: 1000 }))).toBe(true); // now inside it
    expect(ids(list)).toEqual(["9@1", "1@0", "2@0"]);
  });

  it("never goes back a version on a reload", () => {
    const list = new VersionedList({}, "CREATED_AT_DESC");
    list.load(OWNER, [policy(1, 1)], false);
    list.apply(policy(1, 5));
    list.load(OWNER, [policy(1, 3), policy(2, 0)], false); // a read older than what the stream brought
    expect(ids(list)).toEqual(["2@0", "1@5"]);
  });

  it("matches filters as the service does", () => {
    const p = policy(1, 0, { expirationHeight: 500, riskTier: "Balanced" });
    expect(matchesFilter({ riskTier: "Balanced", expiresAfter: 499, expiresBefore: 501 }, OWNER, p)).toBe(true);
    expect(matchesFilter({ expiresBefore: 500 }, OWNER, p)).toBe(false);
    expect(matchesFilter({ statusDetailed: "Active", statusIn: ["Settled"] }, OWNER, p)).toBe(false);
    expect(matchesFilter({}, "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG", p)).toBe(false);
  });
});
