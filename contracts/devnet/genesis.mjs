// The chain's first blocks: the contract deployments initSimnet mined, then the setup calls (backend principal,
// quote signer, demo vault capital), both recorded as ordinary transactions with txids derived from the chain
// marker. genesisSpec() is what decides them, so a journal only replays onto the same genesis.
// Methods of Devnet, installed by chain.mjs; `this` is the devnet.
import { createHash } from "node:crypto";
import { tx as simTx } from "@stacks/clarinet-sdk";
import { Cl, PostConditionMode, cvToString } from "@stacks/transactions";
import { markerHash } from "./blocks.mjs";

export const TIERS = ["Conservative", "Balanced", "Aggressive"];
const DEFAULT_TIER_CAPITAL = 1_000_000_000_000n; // uSTX per tier

/** "Clarity4" (the simnet's ABI field) → 4. */
function clarityVersionNumber(text) {
  const match = /^Clarity(\d+)$/.exec(text ?? "");
  return match ? Number(match[1]) : null;
}

/** The setup options with their defaults: genesisSpec and setUpContracts must read them alike. */
function setupOptions(options) {
  return {
    backendName: options.backendAccount ?? "backend",
    funderName: options.funder ?? "deployer",
    capital: options.tierCapital ?? Object.fromEntries(TIERS.map((t) => [t, DEFAULT_TIER_CAPITAL])),
  };
}

/** The quote signer key as the contract stores it: the option, else the backend's key; lower-case hex, no 0x. */
function quoteSignerHex(options, backendKey) {
  return (options.quoteSignerPubkey ?? backendKey).toLowerCase().replace(/^0x/, "");
}

export const genesisMethods = {
  /** What decides the genesis blocks; a journal only replays onto the same. */
  genesisSpec() {
    const sources = createHash("sha256");
    for (const id of [...this.interfaces.keys()].sort()) sources.update(`${id}\n${this.simnet.getContractSource(id) ?? ""}\n`);
    const { backendName, funderName, capital } = setupOptions(this.options);
    return {
      contracts_sha256: sources.digest("hex"),
      backend_account: backendName,
      quote_signer_pubkey: quoteSignerHex(this.options, this.accounts.get(backendName)?.publicKey ?? ""),
      funder: funderName,
      tier_capital: Object.fromEntries(TIERS.map((t) => [t, String(capital[t] ?? 0n)])),
    };
  },

  recordGenesis() {
    // the blocks initSimnet mined while deploying: the contract deployments are their transactions
    const deployments = [...this.interfaces.keys()].filter((id) => id.startsWith(`${this.deployer}.`));
    const records = deployments.map((id) => ({
      txid: markerHash(this.chainMarker, ":deploy:", id),
      kind: "smart_contract",
      sender: this.deployer,
      nonce: this.takeNonce(this.deployer),
      fee: 0n,
      contractId: id,
      codeBody: this.simnet.getContractSource(id) ?? "",
      clarityVersion: clarityVersionNumber(this.interfaces.get(id)?.clarity_version),
      declaredClarityVersion: clarityVersionNumber(this.interfaces.get(id)?.clarity_version),
      receiptTime: this.nowSeconds(),
      postConditionMode: PostConditionMode.Allow,
      postConditions: [],
      result: Cl.ok(Cl.bool(true)),
      status: "success",
      events: [],
    }));
    for (let height = 0; height < this.tipHeight; height += 1) {
      this.blocks[height] = this.blocks[height] ?? this.placeholderBlock(height);
    }
    this.sealBlock(records);
  },

  /** Backend principal, quote signer and demo capital: genesis-time calls recorded as ordinary txs. */
  setUpContracts() {
    const registry = this.contractId("policy-registry");
    const vault = this.contractId("liquidity-pool-vault");
    if (!this.interfaces.has(registry) || !this.interfaces.has(vault)) {
      this.log.warn(`contracts policy-registry / liquidity-pool-vault not in the manifest: no setup calls`);
      return;
    }
    const { backendName, funderName, capital } = setupOptions(this.options);
    const backend = this.accounts.get(backendName);
    if (!backend) throw new Error(`no account "${backendName}" in settings/Devnet.toml`);
    this.backend = backend;
    this.quoteSignerPubkey = quoteSignerHex(this.options, backend.publicKey);
    if (!/^0[23][0-9a-f]{64}$/.test(this.quoteSignerPubkey)) {
      throw new Error("the quote signer must be a 33-byte compressed secp256k1 public key in hex");
    }
    const funder = this.accounts.get(funderName);
    if (!funder) throw new Error(`no account "${funderName}" in settings/Devnet.toml`);
    const calls = [
      [registry, "set-backend-principal", [Cl.principal(backend.address)], this.deployer],
      [registry, "set-quote-signer", [Cl.bufferFromHex(this.quoteSignerPubkey)], this.deployer],
    ];
    for (const tier of TIERS) {
      const amount = BigInt(capital[tier] ?? 0n);
      if (amount > 0n) calls.push([vault, "deposit", [Cl.stringAscii(tier), Cl.uint(amount)], funder.address]);
    }
    const results = this.simnet.mineBlock(calls.map(([c, f, a, s]) => simTx.callPublicFn(c, f, a, s)));
    const records = calls.map(([contract, fn, args, sender], i) => {
      const result = results[i].result;
      if (result.type !== "ok") throw new Error(`setup ${contract}::${fn} failed: ${cvToString(result)}`);
      return {
        txid: markerHash(this.chainMarker, ":setup:", i, fn),
        kind: "contract_call",
        sender,
        nonce: this.takeNonce(sender),
        fee: 0n,
        contractId: contract,
        functionName: fn,
        functionArgs: args,
        receiptTime: this.nowSeconds(),
        postConditionMode: PostConditionMode.Allow,
        postConditions: [],
        result,
        status: "success",
        events: results[i].events,
      };
    });
    this.sealBlock(records);
    this.log.info(
      `setup: backend ${backend.address}, quote signer ${this.quoteSignerPubkey}, vault capital ${TIERS.map(
        (t) => `${t}=${capital[t] ?? 0}`,
      ).join(" ")} uSTX from ${funderName}`,
    );
  },
};
