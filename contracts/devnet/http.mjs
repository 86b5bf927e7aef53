// The HTTP surface of a Stacks node plus Hiro's API (DESIGN §11), served from a Devnet, plus the /devnet/*
// control endpoints. Plain node:http: no framework, no build step.
import { createServer } from "node:http";
import { Rejection } from "./chain.mjs";

const MAX_BODY_BYTES = 2 * 1024 * 1024;

class HttpError extends Error {
  constructor(status, body) {
    super(typeof body === "string" ? body : JSON.stringify(body));
    this.status = status;
    this.body = typeof body === "string" ? { error: body } : body;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, "request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseJson(buffer) {
  try {
    return JSON.parse(buffer.toString("utf8") || "{}");
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
}

function intParam(query, name, fallback, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new HttpError(400, { error: `${name} must be a non-negative integer` });
  const value = Number(raw);
  if (value < min || value > max) throw new HttpError(400, { error: `${name} must be between ${min} and ${max}` });
  return value;
}

const PRINCIPAL = /^S[0-9A-HJ-NP-Z]{28,40}(\.[a-zA-Z][a-zA-Z0-9_-]{0,39})?$/;

function principalParam(text) {
  const principal = decodeURIComponent(text);
  if (!PRINCIPAL.test(principal)) throw new HttpError(400, { error: `invalid principal ${principal}` });
  return principal;
}

/** Routes: [method, regex, handler(match, ctx) → {status?, body, type?}]. */
function routes(devnet, miner) {
  const info = () => {
    const tip = devnet.tip;
    return {
      peer_version: 4207599116,
      pox_consensus: tip.burn_block_hash.slice(2, 42),
      burn_block_height: tip.burn_block_height,
      stable_pox_consensus: tip.burn_block_hash.slice(2, 42),
      stable_burn_block_height: Math.max(0, tip.burn_block_height - 1),
      server_version: "stacks-node devnet (BitHedge simnet devnet)",
      network_id: 2147483648,
      parent_network_id: 3669344250,
      stacks_tip_height: tip.height,
      stacks_tip: tip.hash.slice(2),
      stacks_tip_consensus_hash: tip.burn_block_hash.slice(2, 42),
      genesis_chainstate_hash: devnet.chainMarker.padEnd(64, "0"),
      unanchored_tip: null,
      unanchored_seq: null,
      tenure_height: tip.tenure_height,
      exit_at_block_height: null,
      is_fully_synced: true,
      node_public_key: null,
      node_public_key_hash: null,
      affirmations: null,
      last_pox_anchor: null,
      stackerdbs: [],
      devnet_chain_marker: devnet.chainMarker,
    };
  };

  const tipJson = () => {
    const tip = devnet.tip;
    return {
      block_height: tip.height,
      block_hash: tip.hash,
      index_block_hash: tip.index_block_hash,
      // no microblocks since Nakamoto: Hiro leaves microblock_hash / microblock_sequence out (its schema
      // types them string / number, never null)
      burn_block_height: tip.burn_block_height,
    };
  };

  const publicBlock = (block) => {
    const { txs, ...rest } = block;
    return { ...rest, tx_count: txs.length };
  };

  return [
    ["GET", /^\/v2\/info$/, () => ({ body: info() })],
    [
      "GET",
      /^\/extended\/?$/,
      () => ({
        body: {
          server_version: "stacks-blockchain-api devnet (BitHedge simnet devnet)",
          status: "ready",
          chain_tip: tipJson(),
          devnet_chain_marker: devnet.chainMarker,
        },
      }),
    ],
    [
      "GET",
      /^\/extended\/v2\/smart-contracts\/([^/]+)\/logs$/,
      (m, { query }) => {
        const limit = intParam(query, "limit", 20, { min: 1, max: 50 });
        const page = devnet.contractLogPage(decodeURIComponent(m[1]), { limit, cursor: query.get("cursor") });
        if (!page) throw new HttpError(404, { error: "Cursor not found" });
        return { body: page };
      },
    ],
    [
      "GET",
      /^\/extended\/v1\/contract\/([^/]+)\/events$/,
      (m, { query }) => {
        const limit = intParam(query, "limit", 20, { min: 1, max: 50 });
        const offset = intParam(query, "offset", 0);
        return { body: devnet.contractEvents(decodeURIComponent(m[1]), { limit, offset }) };
      },
    ],
    [
      "GET",
      /^\/extended\/v1\/tx\/([^/]+)$/,
      (m, { query }) => {
        const record = devnet.getTransaction(m[1]);
        if (!record) throw new HttpError(404, { error: `could not find transaction by ID ${m[1]}` });
        const eventLimit = intParam(query, "event_limit", 96, { min: 0, max: 200 });
        const eventOffset = intParam(query, "event_offset", 0);
        return { body: devnet.txJson(record, { eventLimit, eventOffset }) };
      },
    ],
    [
      "GET",
      /^\/extended\/v2\/blocks\/([^/]+)$/,
      (m) => {
        const id = m[1] === "latest" ? String(devnet.tipHeight) : m[1];
        const block = devnet.getBlock(id);
        if (!block) throw new HttpError(404, { error: "Block not found" });
        return { body: publicBlock(block) };
      },
    ],
    [
      "GET",
      /^\/v2\/accounts\/([^/]+)$/,
      (m) => ({ body: devnet.accountJson(principalParam(m[1])) }),
    ],
    [
      "GET",
      /^\/extended\/v1\/address\/([^/]+)\/nonces$/,
      (m) => ({ body: devnet.noncesJson(principalParam(m[1])) }),
    ],
    ["GET", /^\/v2\/fees\/transfer$/, () => ({ body: 1 })],
    [
      "POST",
      /^\/v2\/fees\/transaction$/,
      (m, { body }) => {
        // the devnet has no fee market: a flat 1/2/4 uSTX per byte, never below 180 uSTX (a node's floor)
        const json = parseJson(body);
        const len = json.estimated_len ?? (typeof json.transaction_payload === "string" ? json.transaction_payload.replace(/^0x/, "").length / 2 : 0);
        if (typeof json.transaction_payload !== "string" || !/^(0x)?([0-9a-fA-F]{2})+$/.test(json.transaction_payload)) {
          throw new HttpError(400, { error: "transaction_payload must be a hex string", reason: "InvalidPayload" });
        }
        if (!Number.isInteger(len) || len < 0) throw new HttpError(400, { error: "estimated_len must be a non-negative integer" });
        const estimations = [1, 2, 4].map((rate) => ({ fee_rate: rate, fee: Math.max(180, Math.ceil(len * rate)) }));
        return {
          body: {
            estimated_cost: { write_length: 0, write_count: 0, read_length: 0, read_count: 0, runtime: 0 },
            estimated_cost_scalar: 0,
            estimations,
            cost_scalar_change_by_byte: 0,
          },
        };
      },
    ],
    [
      "POST",
      /^\/v2\/transactions$/,
      async (m, { req, body }) => {
        const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
        let raw = body;
        if (type === "application/json") {
          const json = parseJson(body);
          if (typeof json.tx !== "string" || !/^(0x)?([0-9a-fA-F]{2})*$/.test(json.tx)) {
            throw new HttpError(400, { error: "transaction rejected", reason: "Deserialization", reason_data: { message: "`tx` must be a hex string" }, txid: "" });
          }
          raw = Buffer.from(json.tx.replace(/^0x/, ""), "hex");
        }
        try {
          return { body: devnet.submit(raw) };
        } catch (error) {
          if (error instanceof Rejection) {
            devnet.log.info(`tx ${error.txid} rejected: ${error.message}`);
            return { status: 400, body: error.toJSON() };
          }
          throw error;
        }
      },
    ],
    [
      "GET",
      /^\/v2\/contracts\/interface\/([^/]+)\/([^/]+)$/,
      (m) => {
        const contractId = `${principalParam(m[1])}.${decodeURIComponent(m[2])}`;
        const abi = devnet.contractInterface(contractId);
        if (!abi) throw new HttpError(404, `No contract interface data found for ${contractId}`);
        return { body: abi };
      },
    ],
    [
      "GET",
      /^\/v2\/contracts\/source\/([^/]+)\/([^/]+)$/,
      (m) => {
        const contractId = `${principalParam(m[1])}.${decodeURIComponent(m[2])}`;
        const source = devnet.contractSource(contractId);
        if (!source) throw new HttpError(404, `No contract source data found for ${contractId}`);
        return { body: source };
      },
    ],
    [
      "POST",
      /^\/v2\/contracts\/call-read\/([^/]+)\/([^/]+)\/([^/]+)$/,
      (m, { body }) => {
        const json = parseJson(body);
        if (typeof json.sender !== "string" || !Array.isArray(json.arguments)) {
          throw new HttpError(400, { error: "body must be {sender: principal, arguments: [hex]}" });
        }
        const contractId = `${decodeURIComponent(m[1])}.${decodeURIComponent(m[2])}`;
        return { body: devnet.callReadOnly(contractId, decodeURIComponent(m[3]), json.sender, json.arguments) };
      },
    ],
    [
      "POST",
      /^\/devnet\/mine$/,
      (m, { body }) => {
        const json = parseJson(body);
        const blocks = json.blocks ?? 1;
        const burnBlocks = json.burnBlocks ?? json.burn_blocks ?? 0;
        for (const [name, value] of [["blocks", blocks], ["burnBlocks", burnBlocks]]) {
          if (!Number.isInteger(value) || value < 0 || value > 10000) {
            throw new HttpError(400, { error: `${name} must be an integer between 0 and 10000` });
          }
        }
        const mined = miner.mineNow({ blocks, burnBlocks });
        return {
          body: {
            mined: mined.map((b) => ({ height: b.height, hash: b.hash, burn_block_height: b.burn_block_height, txs: b.txs })),
            chain_tip: tipJson(),
          },
        };
      },
    ],
    [
      "GET",
      /^\/devnet\/accounts$/,
      () => {
        devnet.log.warn("GET /devnet/accounts: serving the DEVNET demo accounts' private keys (devnet only)");
        return {
          body: {
            warning: "DEVNET ONLY: these keys are public test keys; never use them on testnet or mainnet",
            quote_signer_pubkey: devnet.quoteSignerPubkey ?? null,
            backend_address: devnet.backend?.address ?? null,
            contracts: {
              policy_registry: devnet.contractId("policy-registry"),
              liquidity_pool_vault: devnet.contractId("liquidity-pool-vault"),
            },
            accounts: devnet.accountsJson(),
          },
        };
      },
    ],
  ];
}

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "content-type, x-api-key",
};

/** Starts the HTTP server; resolves with the node Server once it listens. */
export function serve(devnet, miner, { host = "127.0.0.1", port = 3999 } = {}) {
  const table = routes(devnet, miner);
  const server = createServer(async (req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? "/", "http://devnet");
    // Browsers may call it from any page, as they call Hiro's API (which answers CORS the same way): a dapp in
    // development (examples/web) reads nonces and broadcasts from the page.
    if (req.method === "OPTIONS") {
      res.writeHead(204, { ...CORS, "access-control-max-age": "600" });
      res.end();
      return;
    }
    let status = 200;
    let payload;
    try {
      const candidates = table.filter(([, re]) => re.test(url.pathname));
      const route = candidates.find(([method]) => method === req.method);
      if (!route) {
        throw candidates.length ? new HttpError(405, "method not allowed") : new HttpError(404, "not found");
      }
      const body = req.method === "POST" ? await readBody(req) : Buffer.alloc(0);
      const result = await route[2](url.pathname.match(route[1]), { req, body, query: url.searchParams });
      status = result.status ?? 200;
      payload = result.body;
    } catch (error) {
      if (error instanceof HttpError) {
        status = error.status;
        payload = error.body;
      } else {
        status = 500;
        payload = { error: "internal devnet error", message: String(error?.message ?? error) };
        devnet.log.error(`${req.method} ${url.pathname}: ${error?.stack ?? error}`);
      }
    }
    const text = JSON.stringify(payload);
    res.writeHead(status, { ...CORS, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
    devnet.log.debug(`${req.method} ${url.pathname}${url.search} → ${status} (${Date.now() - started} ms)`);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
