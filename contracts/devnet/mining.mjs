// Mining: the devnet's blocks, each one simnet block, so heights seen by Clarity and by HTTP clients agree.
// Deliberate simplifications, all documented in devnet/README.md:
// - one signed transaction per Stacks block: the simnet cannot isolate a runtime error inside a multi-tx
//   block (it throws and loses the results of the block's earlier transactions), so the miner gives each
//   transaction its own block and a "mine" step may produce several blocks;
// - post-conditions are compared with what happened and mismatches reported, never enforced (the simnet
//   cannot roll a call back);
// - the fee is charged by an STX transfer from the sender to FEE_SINK, in the same simnet block, before the
//   call; it is not shown as an event (as on Hiro).
// Methods of Devnet, installed by chain.mjs; `this` is the devnet.
import { tx as simTx } from "@stacks/clarinet-sdk";
import { Cl, cvToString } from "@stacks/transactions";
import { checkPostConditions } from "./postconditions.mjs";

/** Where transaction fees go (the testnet boot address; nobody holds its key). */
export const FEE_SINK = "ST000000000000000000002AMW42H";

export const miningMethods = {
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
  },

  mineBurnBlock() {
    this.simnet.mineEmptyBurnBlock();
    const block = this.sealBlock([]);
    this.log.info(`block ${block.height} ${block.hash} (burn ${block.burn_block_height}, new tenure, no txs)`);
    return block;
  },

  mineEmptyBlock() {
    this.simnet.mineEmptyStacksBlock();
    const block = this.sealBlock([]);
    this.log.info(`block ${block.height} ${block.hash} (burn ${block.burn_block_height}, no txs)`);
    return block;
  },

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
  },
};
