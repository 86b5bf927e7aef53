// node:test suite for the devnet journal (--state-file): a restarted devnet replays the same chain, keeps
// appending to it, refuses a journal recorded with another genesis, and survives a torn last line.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Cl, PostConditionMode, makeContractCall, makeContractDeploy, makeSTXTokenTransfer } from "@stacks/transactions";
import { Logger } from "./log.mjs";
import { DEFAULT_MANIFEST, startDevnet } from "./server.mjs";

const dir = mkdtempSync(join(tmpdir(), "devnet-journal-"));
const stateFile = join(dir, "chain.jsonl");
after(() => rmSync(dir, { recursive: true, force: true }));

const start = (extra = {}) =>
  startDevnet({
    manifest: DEFAULT_MANIFEST,
    port: 0,
    blockInterval: 0,
    burnRatio: 0.5,
    stateFile,
    logger: new Logger(process.env.DEVNET_LOG_LEVEL ?? "silent"),
    ...extra,
  });

async function call(url, path, body) {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

async function broadcast(url, tx) {
  const res = await fetch(`${url}/v2/transactions`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: Buffer.from(tx.serialize(), "hex"),
  });
  assert.equal(res.status, 200, JSON.stringify(await res.clone().json()));
  return `0x${await res.json()}`;
}

/** Everything a client could observe about the chain. */
async function snapshot(url, txids, accounts, vault) {
  const info = await call(url, "/v2/info");
  const blocks = [];
  for (let h = 0; h <= info.stacks_tip_height; h += 1) blocks.push(await call(url, `/extended/v2/blocks/${h}`));
  const txs = [];
  for (const txid of txids) txs.push(await call(url, `/extended/v1/tx/${txid}`));
  const balances = [];
  for (const a of accounts) balances.push(await call(url, `/v2/accounts/${a.address}`));
  const nonces = [];
  for (const a of accounts) nonces.push(await call(url, `/extended/v1/address/${a.address}/nonces`));
  const logs = await call(url, `/extended/v2/smart-contracts/${vault}/logs?limit=50`);
  // a contract deployed at runtime comes back too
  const [deployer] = accounts;
  const deployed = {
    source: await call(url, `/v2/contracts/source/${deployer.address}/counter?proof=0`),
    abi: await call(url, `/v2/contracts/interface/${deployer.address}/counter`),
  };
  return { info, blocks, txs, balances, nonces, logs, deployed };
}

test("a restarted devnet replays its journal into the same chain and keeps appending", async () => {
  let running = await start();
  let url = running.url;
  const listing = await call(url, "/devnet/accounts");
  const accounts = Object.fromEntries(listing.accounts.map((a) => [a.name, a]));
  const vault = listing.contracts.liquidity_pool_vault;
  const [vaultAddress, vaultName] = vault.split(".");
  const nonce = async (a) => (await call(url, `/v2/accounts/${a.address}`)).nonce;
  const txids = [];

  txids.push(
    await broadcast(
      url,
      await makeSTXTokenTransfer({
        recipient: accounts.wallet_2.address,
        amount: 777n,
        senderKey: accounts.wallet_1.private_key,
        network: "testnet",
        nonce: await nonce(accounts.wallet_1),
        fee: 300,
      }),
    ),
  );
  await call(url, "/devnet/mine", { blocks: 1 });
  const first = Object.values(accounts)[0]; // snapshot() reads this account's contract
  txids.push(
    await broadcast(
      url,
      await makeContractDeploy({
        contractName: "counter",
        codeBody: "(define-data-var n uint u0)\n(define-public (bump) (ok (var-set n (+ (var-get n) u1))))\n",
        clarityVersion: 4,
        senderKey: first.private_key,
        network: "testnet",
        nonce: await nonce(first),
        fee: 1000,
      }),
    ),
  );
  await call(url, "/devnet/mine", { blocks: 1 });
  const deposit = (account, tier, amount, n) =>
    makeContractCall({
      contractAddress: vaultAddress,
      contractName: vaultName,
      functionName: "deposit",
      functionArgs: [Cl.stringAscii(tier), Cl.uint(amount)],
      senderKey: account.private_key,
      network: "testnet",
      nonce: n,
      fee: 1000,
      postConditionMode: PostConditionMode.Allow,
    });
  txids.push(await broadcast(url, await deposit(accounts.wallet_3, "Balanced", 5_000_000n, await nonce(accounts.wallet_3))));
  txids.push(await broadcast(url, await deposit(accounts.wallet_3, "NoSuchTier", 1n, (await nonce(accounts.wallet_3)) + 1)));
  await call(url, "/devnet/mine", { blocks: 3, burnBlocks: 2 });
  // a transaction waiting for a nonce gap stays in the mempool across the restart
  const gap = await broadcast(url, await deposit(accounts.wallet_4, "Aggressive", 9n, (await nonce(accounts.wallet_4)) + 1));
  const before = await snapshot(url, [...txids, gap], Object.values(accounts), vault);
  assert.equal(before.txs[1].tx_type, "smart_contract");
  assert.equal(before.txs[1].tx_status, "success");
  assert.equal(before.deployed.source.publish_height, before.txs[1].block_height);
  assert.equal(before.txs[2].tx_status, "success");
  assert.equal(before.txs[3].tx_status, "abort_by_response");
  assert.equal(before.txs[4].tx_status, "pending");
  await running.close();

  running = await start();
  url = running.url;
  const after1 = await snapshot(url, [...txids, gap], Object.values(accounts), vault);
  assert.deepEqual(after1, before);

  // the chain goes on where it stopped, and the journal records what comes next
  txids.push(await broadcast(url, await deposit(accounts.wallet_4, "Aggressive", 8n, await nonce(accounts.wallet_4))));
  await call(url, "/devnet/mine", { blocks: 1 });
  const grown = await snapshot(url, [...txids, gap], Object.values(accounts), vault);
  assert.equal(grown.txs.at(-2).tx_status, "success");
  assert.equal(grown.txs.at(-1).tx_status, "success"); // the gap is filled: both mined
  assert.ok(grown.info.stacks_tip_height > before.info.stacks_tip_height);
  await running.close();

  // the process died in the middle of a write: the torn line is dropped
  appendFileSync(stateFile, '{"t":"block","kind":"em');
  running = await start();
  url = running.url;
  assert.deepEqual(await snapshot(url, [...txids, gap], Object.values(accounts), vault), grown);
  await running.close();
  assert.ok(readFileSync(stateFile, "utf8").endsWith("}\n"));
});

test("a journal recorded with another genesis is refused, not replayed", async () => {
  await assert.rejects(
    start({ tierCapital: { Conservative: 1n, Balanced: 2n, Aggressive: 3n } }),
    /recorded with another genesis \(tier_capital differ\)/,
  );
});
