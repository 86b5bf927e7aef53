// The devnet chain: the real contracts in the Clarinet simnet, plus what a node and Hiro's API keep around
// them (mempool, nonces, blocks, transactions, events). This module holds the Devnet's state and lifecycle;
// its behaviour lives in the modules beside it, one concern each, installed on the prototype below:
// genesis.mjs (first blocks), replay.mjs (journal), blocks.mjs (block records), admission.mjs (POST
// /v2/transactions), mempool.mjs, mining.mjs (and the devnet's simplifications) and views.mjs (JSON bodies).
import { randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { initSimnet } from "@stacks/clarinet-sdk";
import { admissionMethods } from "./admission.mjs";
import { blockMethods } from "./blocks.mjs";
import { genesisMethods } from "./genesis.mjs";
import { JOURNAL_FORMAT, JOURNAL_VERSION, JournalError, JournalWriter, genesisDifferences, readJournal } from "./journal.mjs";
import { loadDevnetAccounts } from "./keys.mjs";
import { mempoolMethods } from "./mempool.mjs";
import { miningMethods } from "./mining.mjs";
import { replayMethods } from "./replay.mjs";
import { viewMethods } from "./views.mjs";

export {
  MAXIMUM_MEMPOOL_TX_CHAINING,
  MINIMUM_FEE_RATE_PER_BYTE,
  Rejection,
  TESTNET_CHAIN_ID,
  TESTNET_TX_VERSION,
} from "./admission.mjs";
export { TIERS } from "./genesis.mjs";
export { FEE_SINK } from "./mining.mjs";

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

  close() {
    this.journal?.close();
    this.journal = null;
  }

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

  takeNonce(address) {
    const nonce = this.nextNonce(address);
    this.nonces.set(address, nonce + 1);
    return nonce;
  }
}

// Installed as class methods are (non-enumerable), so each keeps its name and `this`; a name two modules
// define is a mistake, refused when the module loads.
const CONCERNS = [genesisMethods, replayMethods, blockMethods, admissionMethods, mempoolMethods, miningMethods, viewMethods];
for (const methods of CONCERNS) {
  for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(methods))) {
    if (Object.hasOwn(Devnet.prototype, name)) throw new Error(`Devnet.${name} is defined twice`);
    Object.defineProperty(Devnet.prototype, name, { ...descriptor, enumerable: false });
  }
}
