// Post-conditions on the devnet: rendered as Hiro shows them, and compared after the fact with the transfers
// a transaction made. The simnet cannot roll a call back, so a failed post-condition is reported (the tx's
// post_condition_mismatch), never enforced.
import { PostConditionMode, PostConditionType, addressToString } from "@stacks/transactions";
import { hexRepr } from "./clarity.mjs";

export const CONDITION_CODES = {
  1: "sent_equal_to",
  2: "sent_greater_than",
  3: "sent_greater_than_or_equal_to",
  4: "sent_less_than",
  5: "sent_less_than_or_equal_to",
};

function pcPrincipal(principal, origin) {
  if (principal.prefix === 1) return { address: origin, json: { type_id: "principal_origin" } };
  const address = addressToString(principal.address);
  if (principal.prefix === 2) return { address, json: { type_id: "principal_standard", address } };
  const name = principal.contractName.content;
  return {
    address: `${address}.${name}`,
    json: { type_id: "principal_contract", address, contract_name: name },
  };
}

function conditionHolds(code, actual, expected) {
  switch (code) {
    case 1:
      return actual === expected;
    case 2:
      return actual > expected;
    case 3:
      return actual >= expected;
    case 4:
      return actual < expected;
    case 5:
      return actual <= expected;
    default:
      return false;
  }
}

/** Compares STX (and fungible-token) post-conditions with the transfers that happened. */
export function checkPostConditions(record) {
  const sent = new Map(); // `${principal}|${asset}` -> amount
  const add = (principal, asset, amount) => {
    const key = `${principal}|${asset}`;
    sent.set(key, (sent.get(key) ?? 0n) + BigInt(amount));
  };
  for (const event of record.events) {
    const d = event.data;
    if (event.event === "stx_transfer_event" || event.event === "stx_burn_event") add(d.sender, "STX", d.amount);
    if (event.event === "ft_transfer_event" || event.event === "ft_burn_event") {
      add(d.sender, d.asset_identifier, d.amount);
    }
    if (event.event === "nft_transfer_event" || event.event === "nft_burn_event") {
      add(d.sender, d.asset_identifier, 1);
    }
  }
  const problems = [];
  const covered = new Set();
  for (const pc of record.postConditions) {
    const { address } = pcPrincipal(pc.principal, record.sender);
    if (pc.conditionType === PostConditionType.NonFungible) {
      const asset = `${addressToString(pc.asset.address)}.${pc.asset.contractName.content}::${pc.asset.assetName.content}`;
      covered.add(`${address}|${asset}`);
      continue; // which token id moved is not in the simnet's NFT events we compare; count only
    }
    const asset =
      pc.conditionType === PostConditionType.STX
        ? "STX"
        : `${addressToString(pc.asset.address)}.${pc.asset.contractName.content}::${pc.asset.assetName.content}`;
    const key = `${address}|${asset}`;
    covered.add(key);
    const actual = sent.get(key) ?? 0n;
    if (!conditionHolds(pc.conditionCode, actual, pc.amount)) {
      problems.push({
        principal: address,
        asset,
        condition_code: CONDITION_CODES[pc.conditionCode],
        expected_amount: pc.amount.toString(),
        actual_amount: actual.toString(),
      });
    }
  }
  if (record.postConditionMode === PostConditionMode.Deny) {
    for (const [key, amount] of sent) {
      if (!covered.has(key) && amount > 0n) {
        const [principal, asset] = key.split("|");
        problems.push({
          principal,
          asset,
          condition_code: null,
          expected_amount: "0",
          actual_amount: amount.toString(),
          reason: "transfer not covered by any post-condition in deny mode",
        });
      }
    }
  }
  return problems.length ? problems : null;
}

export function postConditionJson(pc, origin) {
  const { json } = pcPrincipal(pc.principal, origin);
  if (pc.conditionType === PostConditionType.STX) {
    return { type: "stx", condition_code: CONDITION_CODES[pc.conditionCode], amount: pc.amount.toString(), principal: json };
  }
  const asset = {
    contract_address: addressToString(pc.asset.address),
    contract_name: pc.asset.contractName.content,
    asset_name: pc.asset.assetName.content,
  };
  if (pc.conditionType === PostConditionType.Fungible) {
    return { type: "fungible", condition_code: CONDITION_CODES[pc.conditionCode], amount: pc.amount.toString(), principal: json, asset };
  }
  return {
    type: "non_fungible",
    condition_code: pc.conditionCode === 16 ? "sent" : "not_sent",
    principal: json,
    asset,
    asset_value: hexRepr(pc.assetName),
  };
}
