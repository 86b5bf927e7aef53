#!/usr/bin/env node
// Deploys the project's contracts and sets them up, idempotently, through the Stacks ecosystem's own SDK
// (@stacks/transactions with a network pointed at the node). See contracts/README.md "Deploying" and docs/operations.md
// "From devnet to testnet".
//
//   npm run deploy -- --node https://api.testnet.hiro.so --network testnet --deployer-key-file deployer.key \
//     --backend-key-file backend.key --quote-key-file quote.key [--deposit Conservative=1000000000 …]
//
// Plan, then act: every contract's deployed source is compared with the local one (a difference is refused
// before anything is sent), then each missing contract is deployed in dependency order, and the registry's
// backend principal and quote signer are set where the chain differs, then the optional deposits made.
// Every transaction is recorded in the state file before it is broadcast; a later run resumes from there.
import { dirname, resolve } from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { clientFromNetwork, createNetwork } from "@stacks/network";
import {
  Cl,
  Pc,
  PostConditionMode,
  broadcastTransaction,
  deserializeTransaction,
  fetchCallReadOnlyFunction,
  getAddressFromPrivateKey,
  hexToCV,
  makeContractCall,
  makeContractDeploy,
  privateKeyToPublic,
  validateStacksAddress,
} from "@stacks/transactions";
import { ManifestError, readContracts } from "./manifest.mjs";
import { DeployState, StateError } from "./state.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_MANIFEST = resolve(HERE, "..", "Clarinet.toml");
export const TIERS = ["Conservative", "Balanced", "Aggressive"];
/** Contract name → the service setting that names it. */
export const SETTING_FOR = { "policy-registry": "REGISTRY_CONTRACT_ID", "liquidity-pool-vault": "VAULT_CONTRACT_ID" };

export const EXIT = { ok: 0, failed: 1, usage: 2, pending: 3, refused: 4, rejected: 5 };

/** A stop the operator must act on; `code` is the exit status. Messages never hold key material. */
export class DeployError extends Error {
  constructor(message, code = EXIT.failed) {
    super(message);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------------------
// options

/** A private key file: hex, 32 bytes (compressed key implied, as the service reads it) or 33 with 01. */
export function readKeyFile(path, what) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DeployError(`cannot read the ${what} key file ${path} (${error.code ?? "unreadable"})`, EXIT.usage);
  }
  const hex = text.trim().toLowerCase().replace(/^0x/, "");
  if (/^[0-9a-f]{64}$/.test(hex)) return `${hex}01`;
  if (/^[0-9a-f]{64}01$/.test(hex)) return hex;
  // never echo the content: it may be a key in another format
  throw new DeployError(
    `the ${what} key file ${path} does not hold a secp256k1 private key as hex (32 bytes, or 33 ending in 01)`,
    EXIT.usage,
  );
}

function parseDeposits(specs) {
  const deposits = [];
  for (const spec of specs) {
    for (const part of spec.split(",").filter((p) => p.trim())) {
      const [tier, amount] = part.split("=").map((s) => s.trim());
      if (!TIERS.includes(tier) || !/^[1-9]\d*$/.test(amount ?? "")) {
        throw new DeployError(`bad --deposit "${part}": want Tier=uSTX with Tier in ${TIERS.join("|")}`, EXIT.usage);
      }
      if (deposits.some((d) => d.tier === tier)) throw new DeployError(`--deposit names ${tier} twice`, EXIT.usage);
      deposits.push({ tier, amount: BigInt(amount) });
    }
  }
  return deposits;
}

function positiveNumber(name, text) {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new DeployError(`--${name} must be a positive number`, EXIT.usage);
  return value;
}

export const USAGE = `usage: npm run deploy -- [options]     (options also read the env vars in brackets)
  --node URL                 Stacks node + Hiro API [STACKS_API_URL] (required)
  --network NAME             testnet | mainnet | devnet (devnet signs testnet transactions) [STACKS_NETWORK]
  --api-key KEY              sent as x-api-key [STACKS_API_KEY]
  --deployer-key-file PATH   the deployer's private key; it becomes the contracts' address and admin
                             [DEPLOYER_KEY_FILE] (required)
  --backend-principal ADDR   set as the registry's backend principal [BACKEND_PRINCIPAL], or
  --backend-key-file PATH    its key file, the service's BACKEND_KEY_FILE (only its address is used)
  --quote-signer-pubkey HEX  33-byte compressed key set as the registry's quote signer [QUOTE_SIGNER_PUBKEY], or
  --quote-key-file PATH      its key file, the service's QUOTE_KEY_FILE (only its public key is used)
  --deposit Tier=uSTX        initial capital from the deployer, once per tier (repeatable or comma-separated)
  --manifest PATH            Clarinet.toml naming the contracts and their Clarity versions [DEPLOY_MANIFEST]
                             (contracts/Clarinet.toml)
  --state-file PATH          where sent transactions are recorded [DEPLOY_STATE_FILE]
                             (contracts/.deploy/<network>-<deployer address>.json)
  --max-fee uSTX             refuse to pay more than this per transaction (2000000)
  --timeout S                how long to wait for each transaction to confirm (900)
  --poll-interval S          seconds between status checks (3)
  --json                     print the result as one JSON object instead of KEY=value lines`;

export function parseOptions(argv = process.argv.slice(2), env = process.env) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        node: { type: "string" },
        network: { type: "string" },
        "api-key": { type: "string" },
        "deployer-key-file": { type: "string" },
        "backend-principal": { type: "string" },
        "backend-key-file": { type: "string" },
        "quote-signer-pubkey": { type: "string" },
        "quote-key-file": { type: "string" },
        deposit: { type: "string", multiple: true },
        manifest: { type: "string" },
        "state-file": { type: "string" },
        "max-fee": { type: "string" },
        timeout: { type: "string" },
        "poll-interval": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    throw new DeployError(error.message, EXIT.usage);
  }
  const pick = (name, envName) => values[name] ?? (envName ? env[envName] : undefined) ?? undefined;
  if (values.help) return { help: true };
  const node = pick("node", "STACKS_API_URL");
  if (!node) throw new DeployError("--node (or STACKS_API_URL) is required", EXIT.usage);
  const network = pick("network", "STACKS_NETWORK") ?? "testnet";
  if (!["testnet", "mainnet", "devnet"].includes(network)) {
    throw new DeployError(`--network must be testnet, mainnet or devnet, not ${network}`, EXIT.usage);
  }
  const deployerKeyFile = pick("deployer-key-file", "DEPLOYER_KEY_FILE");
  if (!deployerKeyFile) throw new DeployError("--deployer-key-file (or DEPLOYER_KEY_FILE) is required", EXIT.usage);
  const addressNetwork = network === "mainnet" ? "mainnet" : "testnet";
  const deployerKey = readKeyFile(deployerKeyFile, "deployer");

  // a flag wins over the environment; the two flags of one setting exclude each other
  const either = (flag, fileFlag, envName, envFile, what) => {
    if (values[flag] && values[fileFlag]) throw new DeployError(`give --${flag} or --${fileFlag}, not both`, EXIT.usage);
    if (values[flag]) return { value: values[flag] };
    if (values[fileFlag]) return { file: values[fileFlag] };
    if (env[envName]) return { value: env[envName] };
    if (env[envFile]) return { file: env[envFile] };
    throw new DeployError(`--${flag} or --${fileFlag} is required (the ${what})`, EXIT.usage);
  };
  const backendFrom = either("backend-principal", "backend-key-file", "BACKEND_PRINCIPAL", "BACKEND_KEY_FILE", "backend principal");
  const backend = backendFrom.file
    ? getAddressFromPrivateKey(readKeyFile(backendFrom.file, "backend"), addressNetwork)
    : backendFrom.value;
  if (!validateStacksAddress(backend) || (addressNetwork === "mainnet") !== /^S[PM]/.test(backend)) {
    throw new DeployError(`the backend principal ${backend} is not a standard ${addressNetwork} address`, EXIT.usage);
  }
  const quoteFrom = either("quote-signer-pubkey", "quote-key-file", "QUOTE_SIGNER_PUBKEY", "QUOTE_KEY_FILE", "quote signer");
  const quoteSigner = (quoteFrom.file ? privateKeyToPublic(readKeyFile(quoteFrom.file, "quote")) : String(quoteFrom.value))
    .toLowerCase()
    .replace(/^0x/, "");
  if (!/^0[23][0-9a-f]{64}$/.test(quoteSigner)) {
    throw new DeployError("the quote signer must be a 33-byte compressed public key in hex (02… or 03…)", EXIT.usage);
  }

  const deployer = getAddressFromPrivateKey(deployerKey, addressNetwork);
  const manifest = resolve(pick("manifest", "DEPLOY_MANIFEST") ?? DEFAULT_MANIFEST);
  return {
    node: node.replace(/\/+$/, ""),
    network,
    apiKey: pick("api-key", "STACKS_API_KEY"),
    deployerKey,
    deployer,
    backend,
    quoteSigner,
    deposits: parseDeposits(values.deposit ?? []),
    manifest,
    stateFile: resolve(
      pick("state-file", "DEPLOY_STATE_FILE") ?? resolve(dirname(manifest), ".deploy", `${network}-${deployer}.json`),
    ),
    maxFee: BigInt(Math.floor(positiveNumber("max-fee", values["max-fee"] ?? "2000000"))),
    timeoutS: positiveNumber("timeout", values.timeout ?? "900"),
    pollS: positiveNumber("poll-interval", values["poll-interval"] ?? "3"),
    json: Boolean(values.json),
  };
}

// ---------------------------------------------------------------------------------------------------------
// the node

const sleep = (seconds) => new Promise((r) => setTimeout(r, seconds * 1000));

/**
 * fetch, retried on what a public API answers under load (429 with its retry-after, 502/503/504) and on
 * connection errors, 5 tries in all. A repeated broadcast is harmless: the same bytes have the same txid.
 */
async function patientFetch(input, init) {
  for (let attempt = 1; ; attempt += 1) {
    let response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(Math.min(8, 0.5 * 2 ** attempt));
      continue;
    }
    if (![429, 502, 503, 504].includes(response.status) || attempt >= 5) return response;
    const after = Number(response.headers.get("retry-after"));
    await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 60) : Math.min(8, 0.5 * 2 ** attempt));
  }
}

class Node {
  constructor({ node, network, apiKey }) {
    // a devnet takes testnet transactions: same chain id and address versions
    this.network = createNetwork({
      network: network === "mainnet" ? "mainnet" : "testnet",
      client: { baseUrl: node, fetch: patientFetch },
      ...(apiKey ? { apiKey } : {}),
    });
    this.url = node;
    this.fetch = clientFromNetwork(this.network).fetch; // the SDK's fetch (with the API key, if any)
  }

  async get(path, { allow404 = false } = {}) {
    let response;
    try {
      response = await this.fetch(`${this.url}${path}`);
    } catch (error) {
      throw new DeployError(`GET ${path}: the node at ${this.url} did not answer (${error.cause?.code ?? error.message})`);
    }
    if (response.status === 404 && allow404) return null;
    if (!response.ok) throw new DeployError(`GET ${path} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    return response.json();
  }

  info() {
    return this.get("/v2/info");
  }

  source(contractId) {
    const [address, name] = contractId.split(".");
    return this.get(`/v2/contracts/source/${address}/${name}?proof=0`, { allow404: true });
  }

  transaction(txid) {
    return this.get(`/extended/v1/tx/${txid}`, { allow404: true });
  }

  async readOnly(contractId, functionName, functionArgs, sender) {
    const [contractAddress, contractName] = contractId.split(".");
    try {
      return await fetchCallReadOnlyFunction({
        contractAddress,
        contractName,
        functionName,
        functionArgs,
        senderAddress: sender,
        network: this.network,
      });
    } catch (error) {
      throw new DeployError(`read-only ${contractId}::${functionName} failed: ${error.message}`);
    }
  }

  /** {confirmed nonce, pending nonces, missing nonces} of a principal. */
  async nonces(principal) {
    const account = await this.get(`/v2/accounts/${principal}?proof=0`);
    const mempool = await this.get(`/extended/v1/address/${principal}/nonces`);
    return {
      nonce: account.nonce,
      pending: (mempool.detected_mempool_nonces ?? []).filter((n) => n >= account.nonce),
      missing: mempool.detected_missing_nonces ?? [],
      balance: BigInt(account.balance),
    };
  }

  /** POST /v2/transactions; returns the txid (0x…) or throws the node's rejection as a DeployError. */
  async broadcast(transaction) {
    let result;
    try {
      result = await broadcastTransaction({ transaction, network: this.network });
    } catch (error) {
      throw new DeployError(`broadcast failed: ${error.message}`);
    }
    if (result.txid && !result.reason) return `0x${result.txid.replace(/^0x/, "")}`;
    const rejection = new DeployError(rejectionMessage(result), EXIT.rejected);
    rejection.reason = result.reason;
    rejection.reasonData = result.reason_data;
    throw rejection;
  }
}

/** NotEnoughFunds writes its amounts as 0x hex u128; anything unreadable is shown as given. */
function amount(value) {
  try {
    return String(BigInt(value));
  } catch {
    return JSON.stringify(value);
  }
}

function rejectionMessage(result) {
  const data = result.reason_data;
  switch (result.reason) {
    case "NotEnoughFunds":
      return `the node refused the transaction: NotEnoughFunds (the deployer needs ${amount(data?.expected)} uSTX, holds ${amount(data?.actual)}): fund it and run again`;
    case "BadNonce":
    case "ConflictingNonceInMempool":
      return `the node refused the transaction: ${result.reason} (another transaction of the deployer took its nonce): run again once it has confirmed`;
    case "ContractAlreadyExists":
      return `the node refused the transaction: ContractAlreadyExists (${data?.contract_identifier}): run again to compare its source`;
    default:
      return `the node refused the transaction: ${result.reason}${data ? ` ${JSON.stringify(data)}` : ""}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// the deployment

function firstDifference(a, b) {
  const left = a.split("\n");
  const right = b.split("\n");
  for (let i = 0; i < Math.max(left.length, right.length); i += 1) if (left[i] !== right[i]) return i + 1;
  return null;
}

export class Deployment {
  constructor(options, { log = (line) => process.stderr.write(`${line}\n`) } = {}) {
    this.options = options;
    this.log = log;
    this.node = new Node(options);
    this.report = []; // {step, outcome: "present"|"sent"|"resumed", txid?}
  }

  id(name) {
    return `${this.options.deployer}.${name}`;
  }

  async run() {
    const o = this.options;
    let contracts;
    try {
      contracts = readContracts(o.manifest);
    } catch (error) {
      if (error instanceof ManifestError) throw new DeployError(error.message, EXIT.usage);
      throw error;
    }
    const byName = new Map(contracts.map((c) => [c.name, c]));
    for (const name of Object.keys(SETTING_FOR)) {
      if (!byName.has(name)) throw new DeployError(`${o.manifest} has no contract ${name}`, EXIT.usage);
    }
    const info = await this.node.info();
    const chain = `${info.network_id}:${info.genesis_chainstate_hash ?? ""}`;
    const expectedNetworkId = o.network === "mainnet" ? 1 : 2147483648;
    if (info.network_id !== expectedNetworkId) {
      throw new DeployError(`the node at ${o.node} serves network id ${info.network_id}, not ${o.network}`, EXIT.refused);
    }
    try {
      this.state = DeployState.load(o.stateFile, { network: o.network, deployer: o.deployer, chain });
    } catch (error) {
      if (error instanceof StateError) throw new DeployError(error.message, EXIT.refused);
      throw error;
    }
    this.log(`deployer ${o.deployer} on ${o.network} (${o.node}); state ${o.stateFile}`);

    // 1. what an earlier run sent and did not see confirmed
    for (const step of Object.keys(this.state.steps)) await this.resume(step);
    // 2. anything else of the deployer's still waiting (a run without its state file, another tool)
    await this.waitForQuietMempool();
    // 3. the deployed sources: a difference stops the run before anything is sent
    const deployed = new Map();
    for (const contract of contracts) {
      const found = await this.node.source(this.id(contract.name));
      if (found && found.source !== contract.source) {
        throw new DeployError(
          `${this.id(contract.name)} is deployed with a different source than ${contract.path} ` +
            `(first difference at line ${firstDifference(found.source, contract.source)}): refusing to go on. ` +
            `Check out the sources that were deployed, or deploy from another deployer key.`,
          EXIT.refused,
        );
      }
      deployed.set(contract.name, found);
    }
    // 4. deploy what is missing, in dependency order
    for (const contract of contracts) {
      const step = `deploy ${contract.name}`;
      const found = deployed.get(contract.name);
      if (found) {
        this.log(`${step}: ${this.id(contract.name)} is deployed with this source (height ${found.publish_height})`);
        this.report.push({ step, outcome: "present" });
        continue;
      }
      await this.send(step, (params) =>
        makeContractDeploy({
          contractName: contract.name,
          codeBody: contract.source,
          clarityVersion: contract.clarityVersion,
          senderKey: o.deployerKey,
          network: this.node.network,
          postConditionMode: PostConditionMode.Deny,
          ...params,
        }),
      );
    }
    // 5. the registry's settings, then the deposits
    const registry = this.id("policy-registry");
    const vault = this.id("liquidity-pool-vault");
    await this.checkAdmin(registry);
    const backendNow = (await this.node.readOnly(registry, "get-backend-principal", [], o.deployer)).value;
    await this.setting("set-backend-principal", backendNow === o.backend, `backend principal ${o.backend}`, (params) =>
      this.call(params, registry, "set-backend-principal", [Cl.principal(o.backend)]),
    );
    const signerNow = (await this.node.readOnly(registry, "get-quote-signer", [], o.deployer)).value;
    await this.setting("set-quote-signer", signerNow === o.quoteSigner, `quote signer ${o.quoteSigner}`, (params) =>
      this.call(params, registry, "set-quote-signer", [Cl.bufferFromHex(o.quoteSigner)]),
    );
    for (const { tier, amount } of o.deposits) {
      const step = `deposit ${tier}`;
      const done = this.state.get(step)?.status === "success" || (await this.depositedBefore(vault, tier));
      await this.setting(step, done, `${amount} uSTX in ${tier} from the deployer`, (params) =>
        this.call(params, vault, "deposit", [Cl.stringAscii(tier), Cl.uint(amount)], [
          Pc.principal(o.deployer).willSendEq(amount).ustx(),
        ]),
      );
    }
    return this.result(contracts);
  }

  /** A signed contract call; `params` are the nonce and, once chosen, the fee. */
  async call(params, contractId, functionName, functionArgs, postConditions = []) {
    const [contractAddress, contractName] = contractId.split(".");
    return makeContractCall({
      contractAddress,
      contractName,
      functionName,
      functionArgs,
      senderKey: this.options.deployerKey,
      network: this.node.network,
      postConditionMode: PostConditionMode.Deny,
      postConditions,
      validateWithAbi: true, // checked against the deployed ABI (GET /v2/contracts/interface) before signing
      ...params,
    });
  }

  async setting(step, done, what, build) {
    if (done) {
      this.log(`${step}: already ${what}`);
      this.report.push({ step, outcome: "present" });
      return;
    }
    await this.send(step, build);
  }

  async checkAdmin(registry) {
    const admin = (await this.node.readOnly(registry, "get-contract-admin", [], this.options.deployer)).value;
    if (admin !== this.options.deployer) {
      throw new DeployError(`the registry's contract-admin is ${admin}, not the deployer ${this.options.deployer}: it must set the backend principal and quote signer`, EXIT.refused);
    }
  }

  /** A `funds-deposited` log of the deployer in this tier: the deposit was made (state file lost or not). */
  async depositedBefore(vault, tier) {
    let cursor = null;
    for (let page = 0; page < 200; page += 1) {
      const query = `limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const body = await this.node.get(`/extended/v2/smart-contracts/${vault}/logs?${query}`);
      for (const row of body.results ?? []) {
        let value;
        try {
          value = hexToCV(row.contract_log.value.hex).value;
        } catch {
          continue;
        }
        if (value?.event?.value === "funds-deposited" && value.tier?.value === tier && value.provider?.value === this.options.deployer) {
          return true;
        }
      }
      cursor = body.next_cursor;
      if (!cursor) return false;
    }
    this.log(`deposit ${tier}: more than 10,000 vault logs; relying on the state file alone`);
    return false;
  }

  /**
   * Signs, records, broadcasts and waits for one transaction of the deployer. `build({nonce, fee})` signs it;
   * without a fee the SDK asks the node for an estimate (POST /v2/fees/transaction).
   */
  async send(step, build) {
    const o = this.options;
    // each transaction waits for the previous one to confirm, so the confirmed nonce is the next one
    const { nonce, balance } = await this.node.nonces(o.deployer);
    let transaction = await build({ nonce });
    const estimated = transaction.auth.spendingCondition.fee;
    const floor = BigInt(transaction.serialize().length / 2); // a node's relay floor: 1 uSTX per byte
    const fee = estimated < floor ? floor : estimated;
    if (fee > o.maxFee) {
      throw new DeployError(`${step}: the node estimates a fee of ${fee} uSTX, above --max-fee ${o.maxFee}`, EXIT.refused);
    }
    if (fee > balance) {
      throw new DeployError(`${step}: the deployer holds ${balance} uSTX, less than the fee ${fee}: fund it and run again`, EXIT.refused);
    }
    if (fee !== estimated) transaction = await build({ nonce, fee });
    const txid = `0x${transaction.txid()}`;
    // recorded before it leaves: a crash from here on resumes with exactly these bytes
    this.state.put(step, { status: "signed", txid, nonce, fee: String(fee), raw: transaction.serialize() });
    try {
      await this.node.broadcast(transaction);
    } catch (error) {
      // Refused (a rejection body): the node never took it. Anything else (the connection failed, no answer) may
      // have reached the node: the record stays, so the next run follows that txid or re-sends the same bytes.
      if (error.reason) this.state.forget(step);
      else this.log(`${step}: no answer to the broadcast of ${txid}; the next run follows it (the record stays)`);
      throw new DeployError(`${step}: ${error.message}`, error.code ?? EXIT.failed);
    }
    this.state.put(step, { ...this.state.get(step), status: "sent" });
    this.log(`${step}: sent ${txid} (nonce ${nonce}, fee ${fee} uSTX); waiting for it to confirm`);
    await this.confirm(step);
    this.report.push({ step, outcome: "sent", txid });
  }

  /** Picks up a step an earlier run recorded: wait for it, re-send its exact bytes, or drop the record. */
  async resume(step) {
    const entry = this.state.get(step);
    if (entry.status === "success") return;
    const tx = await this.node.transaction(entry.txid);
    if (tx && !["pending", "success"].includes(tx.tx_status) && !tx.tx_status.startsWith("dropped")) {
      // it failed on chain in an earlier run (which said so): the chain decides below whether to try again
      this.log(`${step}: ${entry.txid} failed on chain earlier (${tx.tx_status}); the step is planned again`);
      this.state.forget(step);
      return;
    }
    if (!tx || tx.tx_status.startsWith("dropped")) {
      // never reached the node (a crash between recording and broadcasting), or the node let it go:
      // the same bytes again (same txid, same nonce, so it cannot land twice)
      this.log(`${step}: ${entry.txid} is ${tx ? tx.tx_status : "unknown to the node"}; re-sending the recorded transaction`);
      try {
        await this.node.broadcast(deserializeTransaction(entry.raw));
      } catch (error) {
        if (error.reason === "BadNonce" || error.reason === "ConflictingNonceInMempool") {
          // its nonce went to another transaction: the chain decides below whether the step is still needed
          this.log(`${step}: its nonce ${entry.nonce} is taken (${error.reason}); the step is planned again`);
          this.state.forget(step);
          return;
        }
        throw new DeployError(`${step}: re-sending the recorded transaction failed: ${error.message}`, error.code ?? EXIT.failed);
      }
      this.state.put(step, { ...entry, status: "sent" });
    } else {
      this.log(`${step}: ${entry.txid} sent by an earlier run is ${tx.tx_status}; not sending it again`);
    }
    await this.confirm(step);
    this.report.push({ step, outcome: "resumed", txid: entry.txid });
  }

  /** Waits until the recorded transaction of `step` is mined; an abort stops the run. */
  async confirm(step) {
    const entry = this.state.get(step);
    const deadline = Date.now() + this.options.timeoutS * 1000;
    for (;;) {
      const tx = await this.node.transaction(entry.txid);
      const status = tx?.tx_status;
      if (status === "success" && tx.canonical !== false) {
        const { raw, ...confirmed } = entry; // the bytes are only needed until the chain has them
        this.state.put(step, { ...confirmed, status: "success", block_height: tx.block_height });
        this.log(`${step}: ${entry.txid} confirmed in block ${tx.block_height}`);
        return;
      }
      if (status && status !== "pending" && !status.startsWith("dropped")) {
        this.state.put(step, { ...entry, status });
        const why = tx.vm_error ? `, ${tx.vm_error}` : "";
        throw new DeployError(`${step}: ${entry.txid} failed on chain: ${status} ${tx.tx_result?.repr ?? ""}${why}`, EXIT.rejected);
      }
      if (status?.startsWith("dropped")) {
        throw new DeployError(`${step}: ${entry.txid} was ${status} by the node: run again to re-send it`, EXIT.pending);
      }
      if (Date.now() > deadline) {
        throw new DeployError(
          `${step}: ${entry.txid} is still ${status ?? "unknown to the API"} after ${this.options.timeoutS}s; ` +
            `run the same command again to keep waiting (it is recorded in ${this.options.stateFile} and will not be sent twice)`,
          EXIT.pending,
        );
      }
      await sleep(this.options.pollS);
    }
  }

  /** Waits for the deployer's pending transactions to confirm; a nonce gap needs an operator. */
  async waitForQuietMempool() {
    const deadline = Date.now() + this.options.timeoutS * 1000;
    let said = false;
    for (;;) {
      const { nonce, pending, missing } = await this.node.nonces(this.options.deployer);
      if (pending.length === 0) return;
      if (missing.some((n) => n >= nonce)) {
        throw new DeployError(
          `the deployer has transactions waiting behind missing nonces ${missing.join(", ")}: ` +
            `resolve them before deploying (nothing was sent)`,
          EXIT.refused,
        );
      }
      if (!said) this.log(`the deployer has ${pending.length} pending transaction(s) (nonces ${pending.join(", ")}): waiting for them`);
      said = true;
      if (Date.now() > deadline) {
        throw new DeployError(`the deployer's pending transactions did not confirm within ${this.options.timeoutS}s`, EXIT.pending);
      }
      await sleep(this.options.pollS);
    }
  }

  result(contracts) {
    const o = this.options;
    const ids = Object.fromEntries(contracts.map((c) => [c.name, this.id(c.name)]));
    const settings = {
      STACKS_NETWORK: o.network,
      STACKS_API_URL: o.node,
      ...Object.fromEntries(Object.entries(SETTING_FOR).map(([name, key]) => [key, ids[name]])),
    };
    return { deployer: o.deployer, contracts: ids, backend_principal: o.backend, quote_signer: o.quoteSigner, settings, steps: this.report };
  }
}

export function formatResult(result) {
  const lines = [
    `# BitHedge contracts deployed by ${result.deployer}: set these for the service (docs/operations.md)`,
    ...Object.entries(result.settings).map(([key, value]) => `${key}=${value}`),
    `# backend principal ${result.backend_principal}: BACKEND_KEY_FILE must hold its key`,
    `# quote signer ${result.quote_signer}: QUOTE_KEY_FILE must hold its key`,
  ];
  return `${lines.join("\n")}\n`;
}

async function main() {
  let options;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`deploy: ${error.message}\n${USAGE}\n`);
    process.exit(error.code ?? EXIT.usage);
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const redact = (text) => String(text).split(options.deployerKey).join("[key]").split(options.deployerKey.slice(0, 64)).join("[key]");
  try {
    const result = await new Deployment(options).run();
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : formatResult(result));
  } catch (error) {
    const code = error instanceof DeployError ? error.code : EXIT.failed;
    process.stderr.write(`deploy: ${redact(error instanceof DeployError ? error.message : error?.stack ?? error)}\n`);
    process.exit(code);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
