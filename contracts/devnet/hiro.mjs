// Hiro API renderings of the devnet's records: transaction bodies (/extended/v1/tx) and event rows.
import { PostConditionMode, hexToCV } from "@stacks/transactions";
import { hexRepr, typeSignature } from "./clarity.mjs";
import { postConditionJson } from "./postconditions.mjs";

export const MICROBLOCK_SEQUENCE = 2147483647; // what Hiro reports for Nakamoto-era transactions

export function isoTime(seconds) {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, ".000Z");
}

/** Clarity's own declaration line, as Hiro's `function_signature`. */
function functionSignature(fn) {
  if (!fn) return "";
  const args = fn.args.map((a) => ` (${a.name} ${typeSignature(a.type)})`).join("");
  return `(define-public (${fn.name}${args}))`;
}

/** Hiro event rows for a mined record's simnet events. */
export function hiroEvents(record) {
  return record.events.map((event, index) => {
    const d = event.data;
    const base = { event_index: index, tx_id: record.txid };
    switch (event.event) {
      case "print_event":
        return {
          ...base,
          event_type: "smart_contract_log",
          contract_log: { contract_id: d.contract_identifier, topic: d.topic, value: hexRepr(hexToCV(d.raw_value)) },
        };
      case "stx_transfer_event":
        return {
          ...base,
          event_type: "stx_asset",
          asset: {
            asset_event_type: "transfer",
            sender: d.sender,
            recipient: d.recipient,
            amount: String(d.amount),
            memo: d.memo ? `0x${d.memo}` : "",
          },
        };
      case "stx_burn_event":
        return { ...base, event_type: "stx_asset", asset: { asset_event_type: "burn", sender: d.sender, recipient: "", amount: String(d.amount) } };
      case "stx_mint_event":
        return { ...base, event_type: "stx_asset", asset: { asset_event_type: "mint", sender: "", recipient: d.recipient, amount: String(d.amount) } };
      case "ft_transfer_event":
      case "ft_mint_event":
      case "ft_burn_event":
        return {
          ...base,
          event_type: "fungible_token_asset",
          asset: {
            asset_event_type: event.event.split("_")[1],
            asset_id: d.asset_identifier,
            sender: d.sender ?? "",
            recipient: d.recipient ?? "",
            amount: String(d.amount),
          },
        };
      default:
        return {
          ...base,
          event_type: "non_fungible_token_asset",
          asset: {
            asset_event_type: event.event.split("_")[1],
            asset_id: d.asset_identifier,
            sender: d.sender ?? "",
            recipient: d.recipient ?? "",
            value: d.raw_value ? hexRepr(hexToCV(d.raw_value)) : null,
          },
        };
    }
  });
}

/** Hiro's /extended/v1/tx/{txid} body; `abiFunction(contractId, name)` finds a function's ABI. */
export function txJson(record, abiFunction, { eventOffset = 0, eventLimit = 96 } = {}) {
  const body = {
    tx_id: record.txid,
    nonce: record.nonce,
    fee_rate: record.fee.toString(),
    sender_address: record.sender,
    sponsored: false,
    post_condition_mode: record.postConditionMode === PostConditionMode.Deny ? "deny" : "allow",
    post_conditions: record.postConditions.map((pc) => postConditionJson(pc, record.sender)),
    anchor_mode: "any",
    tx_status: record.status,
    tx_type: record.kind,
  };
  if (record.kind === "contract_call") {
    const fn = abiFunction(record.contractId, record.functionName);
    body.contract_call = {
      contract_id: record.contractId,
      function_name: record.functionName,
      function_signature: functionSignature(fn),
      function_args: record.functionArgs.map((cv, i) => {
        const arg = fn?.args[i];
        return { ...hexRepr(cv), name: arg?.name ?? `arg${i}`, type: arg ? typeSignature(arg.type) : cv.type };
      }),
    };
  } else if (record.kind === "token_transfer") {
    body.token_transfer = { recipient_address: record.recipient, amount: record.amount.toString(), memo: `0x${Buffer.from(record.memo ?? "").toString("hex")}` };
  } else if (record.kind === "smart_contract") {
    body.smart_contract = {
      clarity_version: record.declaredClarityVersion ?? null,
      contract_id: record.contractId,
      source_code: record.codeBody ?? "",
    };
  }
  if (!record.block) {
    // a mempool transaction (pending, or dropped before it was mined): Hiro's MempoolTransaction
    return {
      ...body,
      receipt_time: record.receiptTime,
      receipt_time_iso: isoTime(record.receiptTime),
      replaced_by_tx_id: record.replacedBy ?? null,
    };
  }
  const block = record.block;
  Object.assign(body, {
    is_unanchored: false,
    block_hash: block.hash,
    block_height: block.height,
    block_time: block.block_time,
    block_time_iso: block.block_time_iso,
    burn_block_height: block.burn_block_height,
    burn_block_time: block.burn_block_time,
    burn_block_time_iso: block.burn_block_time_iso,
    parent_burn_block_time: block.burn_block_time,
    parent_burn_block_time_iso: block.burn_block_time_iso,
    parent_block_hash: block.parent_block_hash,
    canonical: block.canonical,
    tx_index: record.txIndex,
    tx_result: record.result ? hexRepr(record.result) : null,
    event_count: record.hiroEvents.length,
    events: record.hiroEvents.slice(eventOffset, eventOffset + eventLimit),
    microblock_hash: "0x",
    microblock_sequence: MICROBLOCK_SEQUENCE,
    microblock_canonical: true,
    execution_cost_read_count: 0,
    execution_cost_read_length: 0,
    execution_cost_runtime: 0,
    execution_cost_write_count: 0,
    execution_cost_write_length: 0,
    vm_error: record.vmError ?? null,
    post_condition_mismatch: record.postConditionMismatch ?? null,
  });
  return body;
}
