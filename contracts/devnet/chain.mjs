// The devnet chain: the real contracts in the Clarinet simnet, plus what a node and Hiro's API keep around
// them (mempool, nonces, blocks, transactions, events). Every simnet block is one devnet block, so heights
// seen by Clarity (`stacks-block-height`, `burn-block-height`) and by HTTP clients always agree.
//
// Deliberate simplifications, all documented in devnet/README.md:
// - one signed transaction per Stacks block: the simnet cannot isolate a runtime error inside a multi-tx
//   block (it throws and loses the results of the block's earlier transactions), so the miner gives each
//   transaction its own block and a "mine" step may produce several blocks;
// - post-conditions are compared with what happened and mismatches reported, never enforced (the simnet
//   cannot roll a call back);
// - the fee is charged by an STX transfer from the sender to FEE_SINK, in the same simnet block, before the
//   call; it is not shown as an event (as on Hiro).
import { createHash, randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { initSimnet, tx as simTx } from "@stacks/clarinet-sdk";
import {
  AuthType,
  Cl,
  PayloadType,
  PostConditionMode,
  addressToString,
  cvToHex,
  cvToString,
  deserializeTransaction,
  hexToCV,
} from "@stacks/transactions";
import { typeMismatch } from "./clarity.mjs";
import { MICROBLOCK_SEQUENCE, hiroEvents, isoTime, txJson } from "./hiro.mjs";
import { checkPostConditions } from "./postconditions.mjs";
import { JOURNAL_FORMAT, JOURNAL_VERSION, JournalError, JournalWriter, genesisDifferences, readJournal } from "./journal.mjs";
import { loadDevnetAccounts } from "./keys.mjs";

export const TESTNET_CHAIN_ID = 0x80000000;
export const TESTNET_TX_VERSION = 0x80;
/** Where transaction fees go (the testnet boot address; nobody holds its key). */
export const FEE_SINK = "ST000000000000000000002AMW42H";
export const TIERS = ["Conservative", "Balanced", "Aggressive"];
/** A node's relay floor (stacks-core MINIMUM_TX_FEE_RATE_PER_BYTE): a fee below 1 uSTX per byte is FeeTooLow. */
export const MINIMUM_FEE_RATE_PER_BYTE = 1;
/** stacks-core MAXIMUM_MEMPOOL_TX_CHAINING: at most this many nonces past the confirmed one wait per origin. */
export const MAXIMUM_MEMPOOL_TX_CHAINING = 25;
/** The Clarity version a node gives an unversioned (type 1) contract deploy in the simnet's epoch. */
const DEFAULT_CLARITY_VERSION = { "2.0": 1, "2.05": 1, "2.1": 2, "2.2": 2, "2.3": 2, "2.4": 2, "2.5": 2, "3.0": 3, "3.1": 3, "3.2": 3, "3.3": 4 };

/** A transaction the node refuses at the door; `toJSON()` is the node's 400 body. */
export class Rejection extends Error {
  constructor(reason, reasonData, txid) {
    super(`${reason}${reasonData?.message ? `: ${reasonData.message}` : ""}`);
    this.reason = reason;
    this.reasonData = reasonData;
    this.txid = txid;
  }

  toJSON() {
    const body = { error: "transaction rejected", reason: this.reason, txid: this.txid };
    if (this.reasonData !== undefined) body.reason_data = this.reasonData;
    return body;
  }
}

function sha256Hex(...parts) {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(String(part));
  return hash.digest("hex");
}

function u128Hex(value) {
  return `0x${BigInt(value).toString(16).padStart(32, "0")}`;
}

/** "Clarity4" (the simnet's ABI field) → 4. */
function clarityVersionNumber(text) {
  const match = /^Clarity(\d+)$/.exec(text ?? "");
  return match ? Number(match[1]) : null;
}

function normalizeTxid(txid) {
  const hex = txid.toLowerCase().replace(/^0x/, "");
  return /^[0-9a-f]{64}$/.test(hex) ? `0x${hex}` : null;
}

export class Devnet {
  /**
   * @param {object} options
   * @param {string} options.manifest path of Clarinet.toml
   * @param {number} [options.burnRatio] burn blocks added per Stacks block the miner produces (default 1)
   * @param {string} [options.quoteSignerPubkey] 33-byte compressed key (hex); default: the backend account's
   * @param {string} [options.backendAccount] Devnet.toml account used as backend principal (default "backend")
   * @param {Record<string, bigint>} [options.tierCapital] demo capital per vault tier, uSTX
   * @param {string} [options.funder] account that deposits the demo capital (default "deployer")
   * @param {string} [options.stateFile] journal to replay on start and append to (see journal.mjs); none: memory only
   * @param {import("./log.mjs").Logger} options.logger
   */
  static async create(options) {
    const devnet = new Devnet(options);
    await devnet.start();
    return devnet;
  }

  constructor(options) {
    this.options = options;
    this.log = options.logger;
    this.burnRatio = options.burnRatio ?? 1;
    this.burnCredit = 0;
    this.chainMarker = randomBytes(16).toString("hex");
    this.blocks = []; // index = height
    this.blockByHash = new Map();
    this.txs = new Map(); // 0x-txid -> record
    this.mempool = []; // records in arrival order
    this.nonces = new Map(); // address -> next confirmed nonce
    this.contractLogs = new Map(); // contract id -> [{cursor, height, txIndex, event}] oldest first
    this.deployments = new Map(); // contract id -> the confirmed smart_contract record that published it
    this.lastTime = 0;
    this.burnTimes = new Map(); // burn height -> first seen (seconds)
    this.clock = null; // seconds; set while genesis and journal replay run, so recorded times come back
    this.journal = null; // JournalWriter when a state file is given
    this.replaying = false;
  }

  async start() {
    const manifest = resolve(this.options.manifest);
    const started = Date.now();
    this.simnet = await initSimnet(manifest, false, { trackCosts: false, trackCoverage: false });
    this.accounts = loadDevnetAccounts(resolve(dirname(manifest), "settings", "Devnet.toml"));
    for (const [name, address] of this.simnet.getAccounts()) {
      const account = this.accounts.get(name);
      if (account && account.address !== address) {
        throw new Error(`account ${name}: derived ${account.address} but the simnet uses ${address}`);
      }
    }
    this.deployer = this.simnet.deployer;
    this.interfaces = this.simnet.getContractsInterfaces();
    const stateFile = this.options.stateFile ? resolve(this.options.stateFile) : null;
    const recorded = stateFile ? readJournal(stateFile) : null;
    const genesis = this.genesisSpec();
    if (recorded) {
      const differences = genesisDifferences(recorded.header.genesis, genesis);
      if (differences.length) {
        throw new JournalError(
          `${stateFile} was recorded with another genesis (${differences.join(", ")} differ): start with the same ` +
            `options and contracts, or move the file away to begin a new chain`,
        );
      }
      this.chainMarker = recorded.header.chain_marker;
    }
    // genesis blocks share one recorded time, so a replayed genesis is the same to the second
    const genesisTime = recorded?.header.genesis_time ?? Math.floor(Date.now() / 1000);
    this.clock = genesisTime;
    this.recordGenesis();
    this.setUpContracts();
    this.clock = null;
    if (recorded) this.replay(recorded, stateFile);
    if (stateFile) {
      this.journal = new JournalWriter(stateFile, recorded?.torn ? { truncateTo: recorded.goodBytes } : {});
      if (!recorded) {
        this.journal.append({
          journal: JOURNAL_FORMAT,
          version: JOURNAL_VERSION,
          chain_marker: this.chainMarker,
          genesis_time: genesisTime,
          genesis,
        });
      }
      this.log.info(`journal ${stateFile}: every admitted transaction and mined block is appended`);
    }
    this.log.info(
      `chain ${this.chainMarker} ready in ${Date.now() - started} ms: tip ${this.tipHeight}, burn ${this.simnet.burnBlockHeight}`,
    );
  }

  /** What decides the genesis blocks; a journal only replays onto the same. */
  genesisSpec() {
    const sources = createHash("sha256");
    for (const id of [...this.interfaces.keys()].sort()) sources.update(`${id}\n${this.simnet.getContractSource(id) ?? ""}\n`);
    const backendAccount = this.options.backendAccount ?? "backend";
    const backendKey = this.accounts.get(backendAccount)?.publicKey ?? "";
    const capital = this.options.tierCapital ?? Object.fromEntries(TIERS.map((t) => [t, 1_000_000_000_000n]));
    return {
      contracts_sha256: sources.digest("hex"),
      backend_account: backendAccount,
      quote_signer_pubkey: (this.options.quoteSignerPubkey ?? backendKey).toLowerCase().replace(/^0x/, ""),
      funder: this.options.funder ?? "deployer",
      tier_capital: Object.fromEntries(TIERS.map((t) => [t, String(capital[t] ?? 0n)])),
    };
  }

  /** Re-admits and re-mines what the journal recorded, checking each block lands where it did. */
  replay({ entries }, stateFile) {
    const started = Date.now();
    const loud = this.log;
    let lastProgress = started;
    // per-block info lines would flood the log; warnings (post-condition mismatches, drops) still show
    this.log = { debug() {}, info() {}, warn: (m) => loud.warn(m), error: (m) => loud.error(m) };
    this.replaying = true;
    const blocks = entries.filter((e) => e.t === "block").length;
    loud.info(`replaying ${stateFile}: ${entries.length - blocks} transactions, ${blocks} blocks`);
    let done = 0;
    try {
      for (const [i, entry] of entries.entries()) {
        try {
          this.replayEntry(entry);
        } catch (error) {
          throw new JournalError(`${stateFile}: line ${i + 2} does not replay (${error?.message ?? error})`);
        }
        if (entry.t === "block") done += 1;
        if (Date.now() - lastProgress > 2000) {
          lastProgress = Date.now();
          loud.info(`replaying: ${done}/${blocks} blocks`);
        }
      }
    } finally {
      this.clock = null;
      this.replaying = false;
      this.log = loud;
    }
    loud.info(
      `replayed ${blocks} blocks in ${Date.now() - started} ms: tip ${this.tipHeight}, burn ${this.simnet.burnBlockHeight}, ` +
        `${this.mempool.length} transactions waiting in the mempool`,
    );
  }

  replayEntry(entry) {
    if (entry.t === "tx") {
      this.clock = entry.at;
      this.submit(Buffer.from(entry.raw, "hex"));
      return;
    }
    if (entry.t !== "block") throw new Error(`unknown entry type ${JSON.stringify(entry.t)}`);
    this.clock = entry.time;
    let block;
    if (entry.kind === "burn") block = this.mineBurnBlock();
    else if (entry.kind === "empty") block = this.mineEmptyBlock();
    else if (entry.kind === "tx") {
      const record = this.mempool.find((r) => r.txid === entry.txid);
      if (!record) throw new Error(`tx ${entry.txid} is not in the mempool`);
      block = this.mineTransaction(record);
      if (record.status !== entry.status) throw new Error(`tx ${entry.txid} ended ${record.status}, recorded ${entry.status}`);
    } else throw new Error(`unknown block kind ${JSON.stringify(entry.kind)}`);
    if (block.height !== entry.height) throw new Error(`block landed at height ${block.height}, recorded ${entry.height}`);
    this.burnCredit = entry.credit;
  }

  /** Appends a mined block to the journal (not while replaying it). */
  journalBlock(block, kind, record) {
    if (!this.journal || this.replaying) return block;
    const tx = record ? { txid: record.txid, status: record.status } : {};
    this.journal.append({ t: "block", kind, ...tx, height: block.height, time: block.block_time, credit: this.burnCredit });
    return block;
  }

  close() {
    this.journal?.close();
    this.journal = null;
  }

  // ---------------------------------------------------------------------------------------------------
  // state views

  get tipHeight() {
    return this.simnet.stacksBlockHeight;
  }

  get tip() {
    return this.blocks[this.tipHeight];
  }

  contractId(name) {
    return `${this.deployer}.${name}`;
  }

  stxBalance(principal) {
    return this.simnet.getAssetsMap().get("STX")?.get(principal) ?? 0n;
  }

  nextNonce(address) {
    return this.nonces.get(address) ?? 0;
  }

  pendingNonces(address) {
    return this.mempool.filter((r) => r.sender === address).map((r) => r.nonce);
  }

  // ---------------------------------------------------------------------------------------------------
  // blocks

  nowSeconds() {
    // never decreasing, even if the wall clock steps back; the recorded time while replaying
    this.lastTime = Math.max(this.lastTime, this.clock ?? Math.floor(Date.now() / 1000));
    return this.lastTime;
  }

  /** The time a burn height was first seen (what Hiro reports as burn_block_time). */
  burnTime(burnHeight, fallback) {
    if (!this.burnTimes.has(burnHeight)) this.burnTimes.set(burnHeight, fallback);
    return this.burnTimes.get(burnHeight);
  }

  sealBlock(txRecords) {
    const height = this.tipHeight;
    const burnHeight = this.simnet.burnBlockHeight;
    const parent = this.blocks[height - 1];
    const hash = `0x${sha256Hex(this.chainMarker, ":block:", height)}`;
    const time = this.nowSeconds();
    const burnTime = this.burnTime(burnHeight, time);
    const block = {
      canonical: true,
      height,
      hash,
      index_block_hash: `0x${sha256Hex(this.chainMarker, ":index:", height)}`,
      parent_block_hash: parent?.hash ?? `0x${"0".repeat(64)}`,
      parent_index_block_hash: parent?.index_block_hash ?? `0x${"0".repeat(64)}`,
      block_time: time,
      block_time_iso: isoTime(time),
      tenure_height: burnHeight,
      burn_block_time: burnTime,
      burn_block_time_iso: isoTime(burnTime),
      burn_block_hash: `0x${sha256Hex(this.chainMarker, ":burn:", burnHeight)}`,
      burn_block_height: burnHeight,
      miner_txid: `0x${sha256Hex(this.chainMarker, ":miner:", burnHeight)}`,
      tx_count: txRecords.length,
      execution_cost_read_count: 0,
      execution_cost_read_length: 0,
      execution_cost_runtime: 0,
      execution_cost_write_count: 0,
      execution_cost_write_length: 0,
      txs: txRecords.map((r) => r.txid),
    };
    this.blocks[height] = block;
    this.blockByHash.set(hash, block);
    txRecords.forEach((record, txIndex) => this.confirm(record, block, txIndex));
    return block;
  }

  recordGenesis() {
    // the blocks initSimnet mined while deploying: the contract deployments are their transactions
    const deployments = [...this.interfaces.keys()].filter((id) => id.startsWith(`${this.deployer}.`));
    const records = deployments.map((id) => ({
      txid: `0x${sha256Hex(this.chainMarker, ":deploy:", id)}`,
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
  }

  placeholderBlock(height) {
    // heights below the deployment tip are empty blocks; sealed lazily with the same hash scheme
    const time = this.nowSeconds();
    const hash = `0x${sha256Hex(this.chainMarker, ":block:", height)}`;
    const block = {
      canonical: true,
      height,
      hash,
      index_block_hash: `0x${sha256Hex(this.chainMarker, ":index:", height)}`,
      parent_block_hash: height > 0 ? `0x${sha256Hex(this.chainMarker, ":block:", height - 1)}` : `0x${"0".repeat(64)}`,
      parent_index_block_hash:
        height > 0 ? `0x${sha256Hex(this.chainMarker, ":index:", height - 1)}` : `0x${"0".repeat(64)}`,
      block_time: time,
      block_time_iso: isoTime(time),
      tenure_height: Math.min(height, this.simnet.burnBlockHeight),
      burn_block_time: this.burnTime(Math.min(height, this.simnet.burnBlockHeight), time),
      burn_block_time_iso: isoTime(this.burnTime(Math.min(height, this.simnet.burnBlockHeight), time)),
      burn_block_hash: `0x${sha256Hex(this.chainMarker, ":burn:", Math.min(height, this.simnet.burnBlockHeight))}`,
      burn_block_height: Math.min(height, this.simnet.burnBlockHeight),
      miner_txid: `0x${sha256Hex(this.chainMarker, ":miner:", height)}`,
      tx_count: 0,
      execution_cost_read_count: 0,
      execution_cost_read_length: 0,
      execution_cost_runtime: 0,
      execution_cost_write_count: 0,
      execution_cost_write_length: 0,
      txs: [],
    };
    this.blockByHash.set(hash, block);
    return block;
  }

  takeNonce(address) {
    const nonce = this.nextNonce(address);
    this.nonces.set(address, nonce + 1);
    return nonce;
  }

  /** Backend principal, quote signer and demo capital: genesis-time calls recorded as ordinary txs. */
  setUpContracts() {
    const registry = this.contractId("policy-registry");
    const vault = this.contractId("liquidity-pool-vault");
    if (!this.interfaces.has(registry) || !this.interfaces.has(vault)) {
      this.log.warn(`contracts policy-registry / liquidity-pool-vault not in the manifest: no setup calls`);
      return;
    }
    const backendName = this.options.backendAccount ?? "backend";
    const backend = this.accounts.get(backendName);
    if (!backend) throw new Error(`no account "${backendName}" in settings/Devnet.toml`);
    this.backend = backend;
    this.quoteSignerPubkey = (this.options.quoteSignerPubkey ?? backend.publicKey).toLowerCase().replace(/^0x/, "");
    if (!/^0[23][0-9a-f]{64}$/.test(this.quoteSignerPubkey)) {
      throw new Error("the quote signer must be a 33-byte compressed secp256k1 public key in hex");
    }
    const funderName = this.options.funder ?? "deployer";
    const funder = this.accounts.get(funderName);
    if (!funder) throw new Error(`no account "${funderName}" in settings/Devnet.toml`);
    const calls = [
      [registry, "set-backend-principal", [Cl.principal(backend.address)], this.deployer],
      [registry, "set-quote-signer", [Cl.bufferFromHex(this.quoteSignerPubkey)], this.deployer],
    ];
    const capital = this.options.tierCapital ?? Object.fromEntries(TIERS.map((t) => [t, 1_000_000_000_000n]));
    for (const tier of TIERS) {
      const amount = BigInt(capital[tier] ?? 0n);
      if (amount > 0n) calls.push([vault, "deposit", [Cl.stringAscii(tier), Cl.uint(amount)], funder.address]);
    }
    const results = this.simnet.mineBlock(calls.map(([c, f, a, s]) => simTx.callPublicFn(c, f, a, s)));
    const records = calls.map(([contract, fn, args, sender], i) => {
      const result = results[i].result;
      if (result.type !== "ok") throw new Error(`setup ${contract}::${fn} failed: ${cvToString(result)}`);
      return {
        txid: `0x${sha256Hex(this.chainMarker, ":setup:", i, fn)}`,
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
  }

  // ---------------------------------------------------------------------------------------------------
  // admission (POST /v2/transactions)

  /**
   * Validates a raw transaction like a node's mempool admission and queues it; returns the txid without 0x.
   * The checks follow stacks-core's order (version, signature, fee rate, nonce, chaining, funds, payload, then
   * the mempool's nonce conflict) and refuse with its `MemPoolRejection` reasons and `reason_data`.
   */
  submit(raw) {
    const rawTxid = createHash("sha512-256").update(raw).digest("hex");
    let tx;
    try {
      tx = deserializeTransaction(raw.toString("hex"));
      if (tx.serialize() !== raw.toString("hex")) throw new Error("trailing or non-canonical bytes");
    } catch (error) {
      throw new Rejection("Deserialization", { message: String(error?.message ?? error) }, rawTxid);
    }
    const txid = tx.txid();
    const known = this.txs.get(`0x${txid}`);
    if (known) return txid; // a node answers a re-broadcast of a known transaction with its txid

    if (tx.chainId !== TESTNET_CHAIN_ID || tx.transactionVersion !== TESTNET_TX_VERSION) {
      throw new Rejection("BadTransactionVersion", undefined, txid);
    }
    if (tx.auth.authType !== AuthType.Standard) {
      throw new Rejection("ServerFailureOther", { message: "the devnet does not support sponsored transactions" }, txid);
    }
    try {
      tx.verifyOrigin();
    } catch (error) {
      throw new Rejection("SignatureValidation", { message: String(error?.message ?? error) }, txid);
    }
    const payload = tx.payload;
    if ([PayloadType.Coinbase, PayloadType.CoinbaseToAltRecipient, PayloadType.NakamotoCoinbase].includes(payload.payloadType)) {
      throw new Rejection("NoCoinbaseViaMempool", undefined, txid);
    }
    if (payload.payloadType === PayloadType.TenureChange) throw new Rejection("NoTenureChangeViaMempool", undefined, txid);
    const condition = tx.auth.spendingCondition;
    const sender = this.addressOf(condition);
    const nonce = Number(condition.nonce);
    const fee = BigInt(condition.fee);
    const minimumFee = BigInt(raw.length * MINIMUM_FEE_RATE_PER_BYTE);
    if (fee < minimumFee) throw new Rejection("FeeTooLow", { expected: Number(minimumFee), actual: Number(fee) }, txid);
    const expected = this.nextNonce(sender);
    if (nonce < expected) {
      throw new Rejection("BadNonce", { expected, actual: nonce, principal: sender, is_origin: true }, txid);
    }
    if (nonce > expected + MAXIMUM_MEMPOOL_TX_CHAINING) {
      throw new Rejection(
        "TooMuchChaining",
        {
          message: "Nonce would exceed chaining limit in mempool",
          expected: expected + MAXIMUM_MEMPOOL_TX_CHAINING,
          actual: nonce,
          principal: sender,
          is_origin: true,
        },
        txid,
      );
    }
    const record = {
      txid: `0x${txid}`,
      raw: raw.toString("hex"),
      sender,
      nonce,
      fee,
      receiptTime: this.nowSecondsNoAdvance(),
      postConditionMode: tx.postConditionMode,
      postConditions: tx.postConditions.values,
      status: "pending",
      events: [],
    };
    let spend = fee;
    if (payload.payloadType === PayloadType.TokenTransfer) spend += payload.amount;
    const balance = this.stxBalance(sender);
    if (balance < spend) {
      throw new Rejection("NotEnoughFunds", { expected: u128Hex(spend), actual: u128Hex(balance) }, txid);
    }
    Object.assign(record, this.admitPayload(payload, sender, txid));
    const conflicting = this.mempool.find((r) => r.sender === sender && r.nonce === nonce);
    if (conflicting) {
      // replace-by-fee, as a node's mempool: only a strictly higher fee replaces the waiting transaction
      if (fee <= conflicting.fee) throw new Rejection("ConflictingNonceInMempool", undefined, txid);
      this.mempool.splice(this.mempool.indexOf(conflicting), 1);
      conflicting.status = "dropped_replace_by_fee";
      conflicting.replacedBy = record.txid;
      this.log.info(`tx ${conflicting.txid} dropped: replaced by ${record.txid} (fee ${conflicting.fee} → ${fee})`);
    }
    this.mempool.push(record);
    this.txs.set(record.txid, record);
    if (this.journal && !this.replaying) this.journal.append({ t: "tx", raw: record.raw, at: record.receiptTime });
    this.log.info(
      `tx ${record.txid} accepted: ${this.describe(record)} from ${sender} nonce ${nonce} fee ${fee}` +
        (nonce > expected ? ` (waits for nonce ${expected})` : ""),
    );
    return txid;
  }

  /** The payload's own admission checks; returns the record fields that describe it. */
  admitPayload(payload, sender, txid) {
    if (payload.payloadType === PayloadType.ContractCall) {
      const contractId = `${addressToString(payload.contractAddress)}.${payload.contractName.content}`;
      const abi = this.interfaces.get(contractId);
      if (!abi) throw new Rejection("NoSuchContract", undefined, txid);
      const fn = abi.functions.find((f) => f.name === payload.functionName.content);
      if (!fn || fn.access !== "public") throw new Rejection("NoSuchPublicFunction", undefined, txid);
      if (payload.functionArgs.length !== fn.args.length) {
        throw new Rejection(
          "BadFunctionArgument",
          { message: `expected ${fn.args.length} arguments, got ${payload.functionArgs.length}` },
          txid,
        );
      }
      fn.args.forEach((arg, i) => {
        const why = typeMismatch(payload.functionArgs[i], arg.type);
        if (why) throw new Rejection("BadFunctionArgument", { message: `${arg.name}: ${why}` }, txid);
      });
      return { kind: "contract_call", contractId, functionName: fn.name, functionArgs: payload.functionArgs };
    }
    if (payload.payloadType === PayloadType.TokenTransfer) {
      const recipient = cvToString(payload.recipient);
      if (recipient === sender) throw new Rejection("TransferRecipientCannotEqualSender", { recipient }, txid);
      if (payload.amount <= 0n) throw new Rejection("TransferAmountMustBePositive", undefined, txid);
      return { kind: "token_transfer", recipient, amount: payload.amount, memo: payload.memo.content };
    }
    if (payload.payloadType === PayloadType.SmartContract || payload.payloadType === PayloadType.VersionedSmartContract) {
      const contractId = `${sender}.${payload.contractName.content}`;
      if (this.interfaces.has(contractId)) {
        throw new Rejection("ContractAlreadyExists", { contract_identifier: contractId }, txid);
      }
      const versioned = payload.payloadType === PayloadType.VersionedSmartContract;
      return {
        kind: "smart_contract",
        contractId,
        contractName: payload.contractName.content,
        codeBody: payload.codeBody.content,
        // Hiro shows the version of a versioned deploy only; the contract itself runs at the epoch's default
        declaredClarityVersion: versioned ? payload.clarityVersion : null,
        clarityVersion: versioned ? payload.clarityVersion : DEFAULT_CLARITY_VERSION[this.simnet.currentEpoch] ?? 4,
      };
    }
    throw new Rejection("ServerFailureOther", { message: "the devnet accepts contract calls, deploys and STX transfers only" }, txid);
  }

  nowSecondsNoAdvance() {
    return Math.max(this.lastTime, this.clock ?? Math.floor(Date.now() / 1000));
  }

  addressOf(condition) {
    // single-sig P2PKH/P2WPKH → version 26 (ST…); multi-sig → 21 (SN…)
    const single = condition.hashMode === 0 || condition.hashMode === 2;
    return addressToString({ type: 0, version: single ? 26 : 21, hash160: condition.signer });
  }

  describe(record) {
    if (record.kind === "contract_call") return `${record.contractId}::${record.functionName}`;
    if (record.kind === "smart_contract") return `deploy ${record.contractId} (Clarity ${record.clarityVersion})`;
    if (record.kind === "token_transfer") return `stx-transfer ${record.amount} → ${record.recipient}`;
    return record.kind;
  }

  // ---------------------------------------------------------------------------------------------------
  // mining

  /** The first mempool transaction whose nonce is its sender's next one. */
  nextReady() {
    return this.mempool.find((r) => r.nonce === this.nextNonce(r.sender));
  }

  mineBurnBlock() {
    this.simnet.mineEmptyBurnBlock();
    const block = this.sealBlock([]);
    this.log.info(`block ${block.height} ${block.hash} (burn ${block.burn_block_height}, new tenure, no txs)`);
    return block;
  }

  /**
   * Mines `burnBlocks` burn blocks, then at least `blocks` Stacks blocks; whenever `blocks` >= 1 every
   * ready mempool transaction is mined, one per block. Each Stacks block adds `burnRatio` to a burn credit;
   * a whole credit turns an empty block into a burn block (a new tenure) or adds one after a tx block.
   * Returns the blocks produced, oldest first.
   */
  mine({ blocks = 1, burnBlocks = 0 } = {}) {
    const mined = [];
    const burn = () => this.journalBlock(this.mineBurnBlock(), "burn");
    for (let i = 0; i < burnBlocks; i += 1) mined.push(burn());
    let produced = 0;
    while (produced < blocks || (blocks > 0 && this.nextReady())) {
      const record = this.nextReady();
      this.burnCredit += this.burnRatio;
      if (!record && this.burnCredit >= 1) {
        this.burnCredit -= 1;
        mined.push(burn());
      } else if (record) {
        mined.push(this.journalBlock(this.mineTransaction(record), "tx", record));
      } else {
        mined.push(this.journalBlock(this.mineEmptyBlock(), "empty"));
      }
      while (this.burnCredit >= 1) {
        this.burnCredit -= 1;
        mined.push(burn());
      }
      produced += 1;
    }
    return mined;
  }

  mineEmptyBlock() {
    this.simnet.mineEmptyStacksBlock();
    const block = this.sealBlock([]);
    this.log.info(`block ${block.height} ${block.hash} (burn ${block.burn_block_height}, no txs)`);
    return block;
  }

  mineTransaction(record) {
    this.mempool.splice(this.mempool.indexOf(record), 1);
    const sender = record.sender;
    if (this.stxBalance(sender) < record.fee) {
      // the sender spent its fee money after admission: a node would drop the transaction
      record.status = "dropped_problematic";
      this.log.warn(`tx ${record.txid} dropped: ${sender} can no longer pay its fee ${record.fee}`);
      return this.mineEmptyBlock();
    }
    const calls = [];
    if (record.fee > 0n) calls.push(simTx.transferSTX(Number(record.fee), FEE_SINK, sender));
    if (record.kind === "contract_call") {
      calls.push(simTx.callPublicFn(record.contractId, record.functionName, record.functionArgs, sender));
    } else if (record.kind === "smart_contract") {
      calls.push(simTx.deployContract(record.contractName, record.codeBody, { clarityVersion: record.clarityVersion }, sender));
    } else {
      calls.push(simTx.transferSTX(Number(record.amount), record.recipient, sender));
    }
    let outcome;
    try {
      const results = this.simnet.mineBlock(calls);
      outcome = results[results.length - 1];
    } catch (error) {
      // a Clarity runtime error: the node includes the tx as aborted with (err none), fee paid
      outcome = { result: Cl.error(Cl.none()), events: [], vmError: String(error?.message ?? error).split("\n")[0] };
    }
    if (record.kind === "smart_contract" && !outcome.vmError) {
      // a deploy's receipt is (ok true) on a node; the simnet answers a bare true
      outcome = { ...outcome, result: Cl.ok(Cl.bool(true)) };
      this.interfaces = this.simnet.getContractsInterfaces();
    }
    record.result = outcome.result;
    record.status = outcome.result.type === "ok" ? "success" : "abort_by_response";
    record.vmError = outcome.vmError ?? null;
    record.events = outcome.events;
    record.postConditionMismatch = checkPostConditions(record);
    this.takeNonce(sender);
    const block = this.sealBlock([record]);
    this.log.info(
      `block ${block.height} ${block.hash} (burn ${block.burn_block_height}): tx ${record.txid} ${record.status} ` +
        `${cvToString(record.result)} ${this.describe(record)}`,
    );
    if (record.postConditionMismatch) {
      this.log.warn(
        `POST-CONDITION MISMATCH in tx ${record.txid} (not enforced by the devnet; a node would have aborted it): ` +
          JSON.stringify(record.postConditionMismatch),
      );
    }
    return block;
  }

  confirm(record, block, txIndex) {
    record.block = block;
    record.txIndex = txIndex;
    this.txs.set(record.txid, record);
    if (record.kind === "smart_contract" && record.status === "success") this.deployments.set(record.contractId, record);
    record.hiroEvents = hiroEvents(record);
    for (const event of record.hiroEvents) {
      if (event.event_type !== "smart_contract_log") continue;
      const id = event.contract_log.contract_id;
      const list = this.contractLogs.get(id) ?? [];
      list.push({
        cursor: `${block.height}:${MICROBLOCK_SEQUENCE}:${txIndex}:${event.event_index}`,
        event,
      });
      this.contractLogs.set(id, list);
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // reads

  getTransaction(txid) {
    const key = normalizeTxid(txid);
    return key ? this.txs.get(key) : undefined;
  }

  getBlock(heightOrHash) {
    if (/^\d+$/.test(heightOrHash)) return this.blocks[Number(heightOrHash)];
    const hex = heightOrHash.toLowerCase().replace(/^0x/, "");
    return this.blockByHash.get(`0x${hex}`) ?? [...this.blockByHash.values()].find((b) => b.index_block_hash === `0x${hex}`);
  }

  /** Hiro's /extended/v1/tx/{txid} body. */
  txJson(record, options) {
    return txJson(record, (id, name) => this.interfaces.get(id)?.functions.find((f) => f.name === name), options);
  }

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
  }

  contractEvents(contractId, { limit, offset }) {
    const list = this.contractLogs.get(contractId) ?? [];
    const results = [];
    for (let i = offset; i < Math.min(offset + limit, list.length); i += 1) results.push(list[list.length - 1 - i].event);
    return { limit, offset, results };
  }

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
  }

  /** GET /v2/contracts/interface: the contract's ABI as a node serves it, or null. */
  contractInterface(contractId) {
    return this.interfaces.get(contractId) ?? null;
  }

  /** GET /v2/contracts/source: {source, publish_height, proof} as a node serves it (proof=0), or null. */
  contractSource(contractId) {
    if (!this.interfaces.has(contractId)) return null;
    const source = this.simnet.getContractSource(contractId);
    if (source === undefined) return null;
    // boot contracts were published before the first block
    return { source, publish_height: this.deployments.get(contractId)?.block.height ?? 0, proof: "" };
  }

  accountJson(principal) {
    return {
      balance: u128Hex(this.stxBalance(principal)),
      locked: u128Hex(0n),
      unlock_height: 0,
      nonce: this.nextNonce(principal),
      balance_proof: "",
      nonce_proof: "",
    };
  }

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
  }

  accountsJson() {
    return [...this.accounts.values()].map((a) => ({
      name: a.name,
      address: a.address,
      public_key: a.publicKey,
      private_key: a.privateKey,
      balance: this.stxBalance(a.address).toString(),
      nonce: this.nextNonce(a.address),
    }));
  }
}
