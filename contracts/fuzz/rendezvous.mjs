// Runs @stacks/rendezvous (the Clarity fuzzer) on this Clarinet project.
//
//   node fuzz/rendezvous.mjs                      the bounded campaign of `npm test` (fixed seeds and runs)
//   node fuzz/rendezvous.mjs --long [--runs N]    a long campaign: every target, N runs (default 5000), a fresh seed
//   node fuzz/rendezvous.mjs --seed S --runs N    replay one campaign exactly (a failure prints its seed)
//   --contract NAME                               only that target (liquidity-pool-vault or policy-registry)
//
// Adapter: rendezvous 0.12 reads the simnet deployment plan's contract publications nested under an
// `emulated-contract-publish:` key, while clarinet-sdk 3.21 writes them flat (`transaction-type:
// emulated-contract-publish` beside the fields). Rendezvous parses the plan with the `yaml` package, so this
// runner wraps `yaml.parse` to nest flat entries before rendezvous looks at them; nothing else changes.
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const yaml = require("yaml");
const parsePlan = yaml.parse;

export function nestContractPublications(plan) {
  for (const batch of plan?.plan?.batches ?? []) {
    batch.transactions = (batch.transactions ?? []).map((tx) =>
      tx?.["transaction-type"] === "emulated-contract-publish" && !tx["emulated-contract-publish"]
        ? { "emulated-contract-publish": tx }
        : tx,
    );
  }
  return plan;
}

yaml.parse = (...args) => nestContractPublications(parsePlan(...args));

// The bounded campaign: each target with a fixed seed and run count (README "Fuzzing" gives the timing).
export const BOUNDED = [
  { contract: "liquidity-pool-vault", type: "invariant", seed: 1842, runs: 500 },
  { contract: "policy-registry", type: "invariant", seed: 1842, runs: 250 },
];

const project = resolve(dirname(fileURLToPath(import.meta.url)), "..");

async function runOne({ contract, type, seed, runs }, { quiet }) {
  const { main } = require("@stacks/rendezvous/dist/app.js");
  const lines = [];
  const log = console.log;
  const error = console.error;
  if (quiet) {
    console.log = (...a) => lines.push(a.join(" "));
    console.error = (...a) => lines.push(a.join(" "));
  }
  process.exitCode = 0;
  process.argv = [process.argv[0], "rv", project, contract, type, `--seed=${seed}`, `--runs=${runs}`];
  const started = Date.now();
  try {
    await main();
  } finally {
    console.log = log;
    console.error = error;
  }
  const failed = process.exitCode === 1;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (failed && quiet) {
    const falsified = lines.filter((line) => line.includes("[FAIL]") || /seed|path|counterexample/i.test(line));
    console.log([...lines.slice(-60), ...falsified].join("\n"));
  }
  console.log(`rendezvous ${contract} ${type}: seed ${seed}, ${runs} runs, ${seconds} s: ${failed ? "FAILED" : "ok"}`);
  return !failed;
}

const { values } = parseArgs({
  options: {
    long: { type: "boolean" },
    seed: { type: "string" },
    runs: { type: "string" },
    verbose: { type: "boolean" },
    contract: { type: "string" },
  },
});
const campaigns = BOUNDED.filter((c) => !values.contract || c.contract === values.contract).map((c) => ({
  ...c,
  seed: values.seed ? Number(values.seed) : values.long ? Math.floor(Math.random() * 2 ** 31) : c.seed,
  runs: values.runs ? Number(values.runs) : values.long ? 5000 : c.runs,
}));
let ok = true;
for (const campaign of campaigns) ok = (await runOne(campaign, { quiet: !values.verbose })) && ok;
process.exitCode = ok ? 0 : 1;
