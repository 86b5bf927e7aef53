// The quote signature's test vector (README "Worked example") and proof that the JavaScript serialization is what
// Clarity's `to-consensus-buff?` hashes.
import { beforeEach, describe, expect, it } from "vitest";
import { Cl, serializeCV } from "@stacks/transactions";
import {
  QUOTE_SIGNER_PRIVATE_KEY,
  REGISTRY,
  type QuoteTerms,
  buyer,
  compressedPublicKey,
  configureRegistry,
  createPolicy,
  defaultTerms,
  deployer,
  fundVault,
  otherBuyer,
  quoteHash,
  quoteTuple,
  registryPrincipal,
  sha256Hex,
  signQuote,
  stranger,
} from "./helpers";

// Every value below is quoted verbatim in contracts/README.md.
const VECTOR = {
  privateKey: "cd3c908b2164be8b377f8762230f116d6f1ce449d4c4b5583a8aee9360a882ac",
  publicKey: "033fba810f8a93c5f9d8ec0f5966e794391a1a86b44ba659ea17ef9f5de4611883",
  registry: "STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32.policy-registry",
  terms: {
    quoteId: "000102030405060708090a0b0c0d0e0f",
    owner: "ST18W2WYJF48B6F0Z9YQ344ZX8J0BQ8C1B20G1V05",
    protectedValueUsd8: 6_000_000_000_000n,
    protectedAmountSats: 10_000_000n,
    expirationHeight: 1_000n,
    policyType: "PUT",
    premiumUstx: 250_000_000n,
    collateralUstx: 6_000_000_000n,
    riskTier: "Balanced",
    quoteExpiryHeight: 500n,
  } satisfies QuoteTerms,
  serialized:
    "0c0000000b" +
    "0f636f6c6c61746572616c2d75737478" + "0100000000000000000000000165a0bc00" +
    "1165787069726174696f6e2d686569676874" + "01000000000000000000000000000003e8" +
    "056f776e6572" + "051a51c173d27910b33c1f4fae3213fd4480bba18158" +
    "0b706f6c6963792d74797065" + "0d00000003505554" +
    "0c7072656d69756d2d75737478" + "010000000000000000000000000ee6b280" +
    "1570726f7465637465642d616d6f756e742d73617473" + "0100000000000000000000000000989680" +
    "1470726f7465637465642d76616c75652d75736438" + "01000000000000000000000574fbde6000" +
    "1371756f74652d6578706972792d686569676874" + "01000000000000000000000000000001f4" +
    "0871756f74652d6964" + "0200000010000102030405060708090a0b0c0d0e0f" +
    "087265676973747279" + "061a222783d723bc07a66a9a5bcd563fa4f71dbce1550f706f6c6963792d7265676973747279" +
    "097269736b2d74696572" + "0d0000000842616c616e636564",
  hash: "f91849d290ca4da21b233790b1b15da9d7d0be8de99b246344d21ff887197b56",
  signature:
    "30d91d0e451adfdabe1e82e2ee52a6018667b09347c295f0dd50c200e24f2dea" +
    "480d9514cbed15cee3c74936a24822087e45c780ee0dcc54f229c137f0eb02d4" +
    "01",
};

function contractQuoteHash(t: QuoteTerms): string {
  const { result } = simnet.callReadOnlyFn(
    REGISTRY,
    "get-quote-hash",
    [
      Cl.bufferFromHex(t.quoteId),
      Cl.principal(t.owner),
      Cl.uint(t.protectedValueUsd8),
      Cl.uint(t.protectedAmountSats),
      Cl.uint(t.expirationHeight),
      Cl.stringAscii(t.policyType),
      Cl.uint(t.premiumUstx),
      Cl.uint(t.collateralUstx),
      Cl.stringAscii(t.riskTier),
      Cl.uint(t.quoteExpiryHeight),
    ],
    stranger,
  );
  if (result.type !== "buffer") throw new Error("get-quote-hash must return a buffer");
  return result.value;
}

describe("worked example", () => {
  it("uses the documented key, accounts and registry", () => {
    expect(QUOTE_SIGNER_PRIVATE_KEY).toBe(VECTOR.privateKey);
    expect(compressedPublicKey(VECTOR.privateKey)).toBe(VECTOR.publicKey);
    expect(registryPrincipal).toBe(VECTOR.registry);
    expect(buyer).toBe(VECTOR.terms.owner);
  });

  it("serializes, hashes and signs to the documented bytes", () => {
    expect(serializeCV(quoteTuple(VECTOR.terms))).toBe(VECTOR.serialized);
    expect(sha256Hex(VECTOR.serialized)).toBe(VECTOR.hash);
    expect(quoteHash(VECTOR.terms)).toBe(VECTOR.hash);
    expect(contractQuoteHash(VECTOR.terms)).toBe(VECTOR.hash);
    expect(signQuote(VECTOR.terms, VECTOR.privateKey)).toBe(VECTOR.signature);
  });

  it("is accepted by create-policy-entry", () => {
    configureRegistry();
    fundVault();
    expect(BigInt(simnet.burnBlockHeight)).toBeLessThanOrEqual(VECTOR.terms.quoteExpiryHeight);
    expect(createPolicy(VECTOR.terms, VECTOR.signature, buyer).result).toBeOk(Cl.uint(1));
  });
});

describe("serialization agrees with Clarity's to-consensus-buff?", () => {
  beforeEach(() => {
    configureRegistry();
  });

  const variants: [string, Partial<QuoteTerms>][] = [
    ["defaults", {}],
    ["the Conservative tier", { riskTier: "Conservative" }],
    ["the Aggressive tier", { riskTier: "Aggressive" }],
    ["another owner", { owner: otherBuyer }],
    ["a contract owner", { owner: `${deployer}.liquidity-pool-vault` }],
    ["u128 maximum amounts", { protectedValueUsd8: 2n ** 128n - 1n, premiumUstx: 2n ** 128n - 1n }],
    ["zero heights", { expirationHeight: 0n, quoteExpiryHeight: 0n }],
    ["an all-ones quote id", { quoteId: "ff".repeat(16) }],
  ];
  for (const [name, overrides] of variants) {
    it(name, () => {
      const t = defaultTerms(overrides);
      expect(contractQuoteHash(t)).toBe(quoteHash(t));
    });
  }

  it("binds the registry contract into the hash", () => {
    const t = defaultTerms();
    expect(quoteHash(t, `${stranger}.policy-registry`)).not.toBe(contractQuoteHash(t));
  });

  it("produces 65-byte low-s signatures with a recovery id of 0..3", () => {
    const halfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
    for (let i = 0; i < 20; i++) {
      const sig = signQuote(defaultTerms());
      expect(sig).toHaveLength(130);
      expect(BigInt("0x" + sig.slice(64, 128))).toBeLessThanOrEqual(halfOrder);
      expect(["00", "01", "02", "03"]).toContain(sig.slice(128));
    }
  });
});
