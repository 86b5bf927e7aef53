// How the devnet records a block: Hiro's block shape, hashes derived from the chain marker (so replaying the
// journal rebuilds the same chain), the clock that times blocks, and the indexes a sealed block's transactions
// go into (txs, deployments, contract logs). Methods of Devnet, installed by chain.mjs; `this` is the devnet.
import { createHash } from "node:crypto";
import { MICROBLOCK_SEQUENCE, hiroEvents, isoTime } from "./hiro.mjs";

const ZERO_HASH = `0x${"0".repeat(64)}`;
const NO_PARENT = { hash: ZERO_HASH, index_block_hash: ZERO_HASH };

/** `0x` + sha256 of the chain marker and `parts`: block hashes and genesis txids, the same on every replay. */
export function markerHash(chainMarker, ...parts) {
  const hash = createHash("sha256");
  for (const part of [chainMarker, ...parts]) hash.update(String(part));
  return `0x${hash.digest("hex")}`;
}

/** A block as Hiro shows it; the simnet reports no execution costs. */
function blockJson({ chainMarker, height, parent, time, burnHeight, burnTime, minerKey, txids }) {
  return {
    canonical: true,
    height,
    hash: markerHash(chainMarker, ":block:", height),
    index_block_hash: markerHash(chainMarker, ":index:", height),
    parent_block_hash: parent.hash,
    parent_index_block_hash: parent.index_block_hash,
    block_time: time,
    block_time_iso: isoTime(time),
    tenure_height: burnHeight,
    burn_block_time: burnTime,
    burn_block_time_iso: isoTime(burnTime),
    burn_block_hash: markerHash(chainMarker, ":burn:", burnHeight),
    burn_block_height: burnHeight,
    miner_txid: markerHash(chainMarker, ":miner:", minerKey),
    tx_count: txids.length,
    execution_cost_read_count: 0,
    execution_cost_read_length: 0,
    execution_cost_runtime: 0,
    execution_cost_write_count: 0,
    execution_cost_write_length: 0,
    txs: txids,
  };
}

export const blockMethods = {
  nowSeconds() {
    // never decreasing, even if the wall clock steps back; the recorded time while replaying
    this.lastTime = Math.max(this.lastTime, this.clock ?? Math.floor(Date.now() / 1000));
    return this.lastTime;
  },

  nowSecondsNoAdvance() {
    return Math.max(this.lastTime, this.clock ?? Math.floor(Date.now() / 1000));
  },

  /** The time a burn height was first seen (what Hiro reports as burn_block_time). */
  burnTime(burnHeight, fallback) {
    if (!this.burnTimes.has(burnHeight)) this.burnTimes.set(burnHeight, fallback);
    return this.burnTimes.get(burnHeight);
  },

  /** Records the block the simnet just mined at the tip, with `txRecords` as its transactions. */
  sealBlock(txRecords) {
    const height = this.tipHeight;
    const burnHeight = this.simnet.burnBlockHeight;
    const time = this.nowSeconds();
    const block = blockJson({
      chainMarker: this.chainMarker,
      height,
      parent: this.blocks[height - 1] ?? NO_PARENT,
      time,
      burnHeight,
      burnTime: this.burnTime(burnHeight, time),
      minerKey: burnHeight,
      txids: txRecords.map((r) => r.txid),
    });
    this.blocks[height] = block;
    this.blockByHash.set(block.hash, block);
    txRecords.forEach((record, txIndex) => this.confirm(record, block, txIndex));
    return block;
  },

  placeholderBlock(height) {
    // heights below the deployment tip are empty blocks; sealed lazily with the same hash scheme
    const burnHeight = Math.min(height, this.simnet.burnBlockHeight);
    const time = this.nowSeconds();
    const parent =
      height > 0
        ? {
            hash: markerHash(this.chainMarker, ":block:", height - 1),
            index_block_hash: markerHash(this.chainMarker, ":index:", height - 1),
          }
        : NO_PARENT;
    const block = blockJson({
      chainMarker: this.chainMarker,
      height,
      parent,
      time,
      burnHeight,
      burnTime: this.burnTime(burnHeight, time),
      minerKey: height,
      txids: [],
    });
    this.blockByHash.set(block.hash, block);
    return block;
  },

  /** Indexes a transaction of a sealed block: by txid, as a deployment, and its contract logs with Hiro's cursors. */
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
  },
};
