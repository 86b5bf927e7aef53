#!/usr/bin/env node
// Local Stacks devnet: the real contracts in the Clarinet simnet behind a Stacks node + Hiro API surface.
//   npm run devnet -- --port 3999 [--block-interval 2] [--burn-ratio 1] [--quote-signer-pubkey 02…]
// See devnet/README.md for every option, endpoint and deliberate difference from a real node.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Devnet, TIERS } from "./chain.mjs";
import { serve } from "./http.mjs";
import { Logger } from "./log.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_MANIFEST = resolve(HERE, "..", "Clarinet.toml");

/** Mines on a timer (interval > 0) and on demand; both go through one queue so blocks never interleave. */
export class Miner {
  constructor(devnet, intervalSeconds) {
    this.devnet = devnet;
    this.intervalMs = Math.round(intervalSeconds * 1000);
    this.timer = null;
  }

  start() {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      try {
        this.devnet.mine({ blocks: 1 });
      } catch (error) {
        this.devnet.log.error(`miner: ${error?.stack ?? error}`);
      }
    }, this.intervalMs);
    this.timer.unref?.();
  }

  mineNow(request) {
    // the simnet is synchronous and Node is single-threaded: a mine request runs to completion
    return this.devnet.mine(request);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** "Conservative=1000,Balanced=2000,Aggressive=0" or one number for every tier, in uSTX. */
export function parseTierCapital(text) {
  if (/^\d+$/.test(text.trim())) return Object.fromEntries(TIERS.map((t) => [t, BigInt(text.trim())]));
  const capital = Object.fromEntries(TIERS.map((t) => [t, 0n]));
  for (const part of text.split(",")) {
    const [tier, amount] = part.split("=").map((s) => s.trim());
    if (!TIERS.includes(tier) || !/^\d+$/.test(amount ?? "")) {
      throw new Error(`bad --tier-capital entry "${part}" (want Tier=uSTX with Tier in ${TIERS.join("|")})`);
    }
    capital[tier] = BigInt(amount);
  }
  return capital;
}

function finiteNumber(name, text, { min = 0 } = {}) {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number ≥ ${min}, got "${text}"`);
  return value;
}

/** Options from argv and env (argv wins). */
export function parseOptions(argv = process.argv.slice(2), env = process.env) {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      manifest: { type: "string" },
      "block-interval": { type: "string" },
      "burn-ratio": { type: "string" },
      "quote-signer-pubkey": { type: "string" },
      "backend-account": { type: "string" },
      "tier-capital": { type: "string" },
      funder: { type: "string" },
      "log-level": { type: "string" },
      "state-file": { type: "string" },
      "exit-on-stdin-close": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  const pick = (name, envName, fallback) => values[name] ?? env[envName] ?? fallback;
  return {
    help: Boolean(values.help),
    host: pick("host", "DEVNET_HOST", "127.0.0.1"),
    port: finiteNumber("port", pick("port", "DEVNET_PORT", "3999")),
    manifest: resolve(pick("manifest", "DEVNET_MANIFEST", DEFAULT_MANIFEST)),
    blockInterval: finiteNumber("block-interval", pick("block-interval", "DEVNET_BLOCK_INTERVAL", "2")),
    burnRatio: finiteNumber("burn-ratio", pick("burn-ratio", "DEVNET_BURN_RATIO", "1")),
    quoteSignerPubkey: pick("quote-signer-pubkey", "QUOTE_SIGNER_PUBKEY", undefined) || undefined,
    backendAccount: pick("backend-account", "DEVNET_BACKEND_ACCOUNT", "backend"),
    tierCapital: parseTierCapital(pick("tier-capital", "DEVNET_TIER_CAPITAL", "1000000000000")),
    funder: pick("funder", "DEVNET_FUNDER", "deployer"),
    logLevel: pick("log-level", "DEVNET_LOG_LEVEL", "info"),
    stateFile: pick("state-file", "DEVNET_STATE_FILE", undefined) || undefined,
    exitOnStdinClose: Boolean(values["exit-on-stdin-close"]) || env.DEVNET_EXIT_ON_STDIN_CLOSE === "1",
  };
}

/** Builds the chain, starts mining and serving. Returns {devnet, miner, server, url, close()}. */
export async function startDevnet(options) {
  const logger = options.logger ?? new Logger(options.logLevel ?? "info");
  logger.captureConsole();
  const devnet = await Devnet.create({ ...options, logger });
  const miner = new Miner(devnet, options.blockInterval ?? 2);
  const server = await serve(devnet, miner, { host: options.host ?? "127.0.0.1", port: options.port ?? 3999 });
  const address = server.address();
  const url = `http://${address.address}:${address.port}`;
  miner.start();
  return {
    devnet,
    miner,
    server,
    url,
    port: address.port,
    close: () =>
      new Promise((resolveClose) => {
        miner.stop();
        devnet.close();
        server.close(() => resolveClose());
        server.closeAllConnections?.();
      }),
  };
}

const USAGE = `usage: node devnet/server.mjs [options]   (every option also reads the env var in brackets)
  --port N                 listen port, 0 = any free port [DEVNET_PORT] (3999)
  --host H                 listen address [DEVNET_HOST] (127.0.0.1)
  --manifest PATH          Clarinet.toml [DEVNET_MANIFEST] (contracts/Clarinet.toml)
  --block-interval S       seconds between blocks, 0 = mine only on POST /devnet/mine [DEVNET_BLOCK_INTERVAL] (2)
  --burn-ratio R           burn blocks per Stacks block the miner produces [DEVNET_BURN_RATIO] (1)
  --quote-signer-pubkey K  33-byte compressed key set as quote-signer [QUOTE_SIGNER_PUBKEY] (backend's key)
  --backend-account NAME   Devnet.toml account set as backend-principal [DEVNET_BACKEND_ACCOUNT] (backend)
  --tier-capital SPEC      demo vault capital, uSTX: N or Conservative=N,Balanced=N,Aggressive=N
                           [DEVNET_TIER_CAPITAL] (1000000000000 each)
  --funder NAME            account that deposits the demo capital [DEVNET_FUNDER] (deployer)
  --log-level L            debug|info|warn|error|silent [DEVNET_LOG_LEVEL] (info)
  --state-file PATH        journal: replay the chain recorded there on start, append to it while running
                           [DEVNET_STATE_FILE] (none: the chain lives in memory only)
  --exit-on-stdin-close    exit when stdin reaches EOF (launchers: no orphan when the parent dies)
                           [DEVNET_EXIT_ON_STDIN_CLOSE=1]`;

async function main() {
  let options;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const logger = new Logger(options.logLevel);
  const started = Date.now();
  logger.info(
    `starting: loading the contracts into the Clarinet simnet (5–15 s)` +
      (options.stateFile ? `, then replaying the journal ${options.stateFile}` : ""),
  );
  let running;
  try {
    running = await startDevnet({ ...options, logger });
  } catch (error) {
    logger.error(`failed to start: ${error?.stack ?? error}`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (why) => {
    if (stopping) return;
    stopping = true;
    logger.info(`stopping (${why})`);
    await running.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  if (options.exitOnStdinClose) {
    process.stdin.on("end", () => stop("stdin closed"));
    process.stdin.on("error", () => stop("stdin error"));
    process.stdin.resume();
  }
  logger.info(
    `listening on ${running.url} (chain ${running.devnet.chainMarker}, tip ${running.devnet.tipHeight}, ` +
      `block interval ${options.blockInterval}s, burn ratio ${options.burnRatio}, started in ${Date.now() - started} ms)`,
  );
  // machine-readable line for launchers (port 0 → the port actually bound)
  process.stdout.write(
    `DEVNET_READY ${JSON.stringify({ url: running.url, port: running.port, chain_marker: running.devnet.chainMarker })}\n`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
