// An independent wallet: signs a prepared contract call (the API's `transaction` object) with
// @stacks/transactions, as @stacks/connect's openContractCall / makeContractCall would, and prints the
// serialized transaction hex. Input on stdin: {"prepared": {...}, "privateKey": "hex", "nonce": n, "fee": n}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.env.CONTRACTS_DIR, "package.json"));
const tx = require("@stacks/transactions");

const input = JSON.parse(readFileSync(0, "utf8"));
const p = input.prepared;
const transaction = await tx.makeContractCall({
  contractAddress: p.contractAddress,
  contractName: p.contractName,
  functionName: p.functionName,
  functionArgs: p.functionArgs.map((hex) => tx.deserializeCV(hex)),
  postConditions: p.postConditions,
  postConditionMode: p.postConditionMode === "deny" ? tx.PostConditionMode.Deny : tx.PostConditionMode.Allow,
  network: p.network === "mainnet" ? "mainnet" : "testnet",
  senderKey: input.privateKey,
  nonce: BigInt(input.nonce),
  fee: BigInt(input.fee),
});
process.stdout.write(JSON.stringify({ hex: transaction.serialize(), txid: transaction.txid() }));
