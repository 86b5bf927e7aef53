// Read views: the node's and Hiro's JSON bodies over the devnet's state (transactions, blocks, contract logs,
// read-only calls, contract ABIs and sources, accounts and nonces). Methods of Devnet, installed by chain.mjs;
// `this` is the devnet.
import { cvToHex, hexToCV } from "@stacks/transactions";
import { typeMismatch, u128Hex } from "./clarity.mjs";
import { txJson } from "./hiro.mjs";

function normalizeTxid(txid) {
  const hex = txid.toLowerCase().replace(/^0x/, "");
  return /^[0-9a-f]{64}$/.test(hex) ? `0x${hex}` : null;
}

export const viewMethods = {
  /** How a transaction reads in the log. */
  describe(record) {
    if (record.kind === "contract_call") return `${record.contractId}::${record.functionName}`;
    if (record.kind === "smart_contract") return `deploy ${record.contractId} (Clarity ${record.clarityVersion})`;
    if (record.kind === "token_transfer") return `stx-transfer ${record.amount} → ${record.recipient}`;
    return record.kind;
  },

  getTransaction(txid) {
    const key = normalizeTxid(txid);
    return key ? this.txs.get(key) : undefined;
  },

  getBlock(heightOrHash) {
    if (/^\d+$/.test(heightOrHash)) return this.blocks[Number(heightOrHash)];
    const hex = heightOrHash.toLowerCase().replace(/^0x/, "");
    return this.blockByHash.get(`0x${hex}`) ?? [...this.blockByHash.values()].find((b) => b.index_block_hash === `0x${hex}`);
  },

  /** Hiro's /extended/v1/tx/{txid} body. */
  txJson(record, options) {
    return txJson(record, (id, name) => this.interfaces.get(id)?.functions.find((f) => f.name === name), options);
  },

  /** Newest-first smart-contract logs with Hiro's cursor scheme; null when the cursor is unknown. */
  contractLogPage(contractId, { limit, cursor }) {
    const list = this.contractLogs.get(contractId) ?? [];
    const newestFirst = list.length - 1;
    let start = 0; // index into the newest-first view
    if (cursor) {
      const at = list.findIndex((entry) => entry.cursor === cursor);
      if (at < 0) return null;
      start = newestFirst - at;
    }
    const view = (i) => list[newestFirst - i];
    const results = [];
    for (let i = start; i < Math.min(start + limit, list.length); i += 1) results.push(view(i).event);
    return {
      limit,
      offset: start,
      total: list.length,
      next_cursor: start + limit < list.length ? view(start + limit).cursor : null,
      prev_cursor: start > 0 ? view(Math.max(0, start - limit)).cursor : null,
      cursor: results.length ? view(start).cursor : null,
      results,
    };
  },

  contractEvents(contractId, { limit, offset }) {
    const list = this.contractLogs.get(contractId) ?? [];
    const results = [];
    for (let i = offset; i < Math.min(offset + limit, list.length); i += 1) results.push(list[list.length - 1 - i].event);
    return { limit, offset, results };
  },

  /** POST /v2/contracts/call-read body → node's {okay, result|cause}. */
  callReadOnly(contractId, functionName, sender, argumentHexes) {
    const abi = this.interfaces.get(contractId);
    if (!abi) return { okay: false, cause: `Unchecked(NoSuchContract("${contractId}"))` };
    const fn = abi.functions.find((f) => f.name === functionName);
    if (!fn) return { okay: false, cause: `Unchecked(UndefinedFunction("${functionName}"))` };
    if (fn.access !== "read_only") return { okay: false, cause: `Unchecked(NotReadOnly)` };
    let args;
    try {
      args = argumentHexes.map((hex) => hexToCV(hex.startsWith("0x") ? hex : `0x${hex}`));
    } catch (error) {
      return { okay: false, cause: `Deserialization: ${error.message}` };
    }
    if (args.length !== fn.args.length) {
      return { okay: false, cause: `Unchecked(IncorrectArgumentCount(${fn.args.length}, ${args.length}))` };
    }
    for (let i = 0; i < args.length; i += 1) {
      const why = typeMismatch(args[i], fn.args[i].type);
      if (why) return { okay: false, cause: `Unchecked(TypeValueError(${fn.args[i].name}: ${why}))` };
    }
    try {
      const { result } = this.simnet.callReadOnlyFn(contractId, functionName, args, sender);
      return { okay: true, result: cvToHex(result) };
    } catch (error) {
      return { okay: false, cause: String(error?.message ?? error).split("\n")[0] };
    }
  },

  /** GET /v2/contracts/interface: the contract's ABI as a node serves it, or null. */
  contractInterface(contractId) {
    return this.interfaces.get(contractId) ?? null;
  },

  /** GET /v2/contracts/source: {source, publish_height, proof} as a node serves it (proof=0), or null. */
  contractSource(contractId) {
    if (!this.interfaces.has(contractId)) return null;
    const source = this.simnet.getContractSource(contractId);
    if (source === undefined) return null;
    // boot contracts were published before the first block
    return { source, publish_height: this.deployments.get(contractId)?.block.height ?? 0, proof: "" };
  },

  accountJson(principal) {
    return {
      balance: u128Hex(this.stxBalance(principal)),
      locked: u128Hex(0n),
      unlock_height: 0,
      nonce: this.nextNonce(principal),
      balance_proof: "",
      nonce_proof: "",
    };
  },

  /** Hiro's /extended/v1/address/{principal}/nonces. */
  noncesJson(principal) {
    const next = this.nextNonce(principal);
    const pending = this.pendingNonces(principal).sort((a, b) => a - b);
    const lastPending = pending.length ? pending[pending.length - 1] : null;
    const missing = [];
    if (lastPending !== null) {
      for (let n = lastPending - 1; n >= next; n -= 1) if (!pending.includes(n)) missing.push(n);
    }
    return {
      last_mempool_tx_nonce: lastPending,
      last_executed_tx_nonce: next > 0 ? next - 1 : null,
      possible_next_nonce: Math.max(next, lastPending === null ? next : lastPending + 1),
      detected_missing_nonces: missing,
      detected_mempool_nonces: pending,
    };
  },

  accountsJson() {
    return [...this.accounts.values()].map((a) => ({
      name: a.name,
      address: a.address,
      public_key: a.publicKey,
      private_key: a.privateKey,
      balance: this.stxBalance(a.address).toString(),
      nonce: this.nextNonce(a.address),
    }));
  },
};
