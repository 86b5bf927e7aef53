// Admission (POST /v2/transactions): a raw transaction checked as a node's mempool admission checks it, refused
// with the node's `MemPoolRejection` reasons and `reason_data`. Methods of Devnet, installed by chain.mjs;
// `this` is the devnet.
import { createHash } from "node:crypto";
import { AuthType, PayloadType, addressToString, cvToString, deserializeTransaction } from "@stacks/transactions";
import { typeMismatch, u128Hex } from "./clarity.mjs";

export const TESTNET_CHAIN_ID = 0x80000000;
export const TESTNET_TX_VERSION = 0x80;
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

export const admissionMethods = {
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
    this.enqueue(record);
    this.log.info(
      `tx ${record.txid} accepted: ${this.describe(record)} from ${sender} nonce ${nonce} fee ${fee}` +
        (nonce > expected ? ` (waits for nonce ${expected})` : ""),
    );
    return txid;
  },

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
  },

  addressOf(condition) {
    // single-sig P2PKH/P2WPKH → version 26 (ST…); multi-sig → 21 (SN…)
    const single = condition.hashMode === 0 || condition.hashMode === 2;
    return addressToString({ type: 0, version: single ? 26 : 21, hash160: condition.signer });
  },
};
