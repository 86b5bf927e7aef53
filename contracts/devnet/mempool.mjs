// The mempool: admitted transactions waiting in arrival order, at most one per sender and nonce, and the
// miner's pick of the next one whose nonce is due. Methods of Devnet, installed by chain.mjs; `this` is the devnet.
import { Rejection } from "./admission.mjs";

export const mempoolMethods = {
  /** Queues an admitted transaction (the last admission step: the mempool's nonce conflict). */
  enqueue(record) {
    const conflicting = this.mempool.find((r) => r.sender === record.sender && r.nonce === record.nonce);
    if (conflicting) {
      // replace-by-fee, as a node's mempool: only a strictly higher fee replaces the waiting transaction
      if (record.fee <= conflicting.fee) {
        throw new Rejection("ConflictingNonceInMempool", undefined, record.txid.slice(2)); // the node's bare txid
      }
      this.mempool.splice(this.mempool.indexOf(conflicting), 1);
      conflicting.status = "dropped_replace_by_fee";
      conflicting.replacedBy = record.txid;
      this.log.info(
        `tx ${conflicting.txid} dropped: replaced by ${record.txid} (fee ${conflicting.fee} → ${record.fee})`,
      );
    }
    this.mempool.push(record);
    this.txs.set(record.txid, record);
    this.journalTx(record);
  },

  /** The first mempool transaction whose nonce is its sender's next one. */
  nextReady() {
    return this.mempool.find((r) => r.nonce === this.nextNonce(r.sender));
  },

  pendingNonces(address) {
    return this.mempool.filter((r) => r.sender === address).map((r) => r.nonce);
  },
};
