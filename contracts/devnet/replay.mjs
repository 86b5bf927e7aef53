// The chain's side of the journal (journal.mjs holds the file): the entries appended as transactions are
// admitted and blocks mined, and their replay on start. Writing and replaying sit together so that each entry
// carries what its replay needs. Methods of Devnet, installed by chain.mjs; `this` is the devnet.
import { JournalError } from "./journal.mjs";

export const replayMethods = {
  /** Appends an admitted transaction to the journal (not while replaying it). */
  journalTx(record) {
    if (this.journal && !this.replaying) this.journal.append({ t: "tx", raw: record.raw, at: record.receiptTime });
  },

  /** Appends a mined block to the journal (not while replaying it). */
  journalBlock(block, kind, record) {
    if (!this.journal || this.replaying) return block;
    const tx = record ? { txid: record.txid, status: record.status } : {};
    this.journal.append({ t: "block", kind, ...tx, height: block.height, time: block.block_time, credit: this.burnCredit });
    return block;
  },

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
  },

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
  },
};
