// The contracts to deploy, read from the Clarinet manifest and their sources on disk, in dependency order.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

export class ManifestError extends Error {}

/** The `[contracts.NAME]` tables of a Clarinet.toml: name → {path, clarity_version, epoch} (the keys we use). */
export function parseContractsToml(text) {
  const contracts = new Map();
  let current = null;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/\s+#.*$/, "").trim();
    if (!line || line.startsWith("#")) continue;
    const table = line.match(/^\[\s*contracts\.("?)([A-Za-z][A-Za-z0-9_-]*)\1\s*\]$/);
    if (table) {
      current = { name: table[2] };
      contracts.set(table[2], current);
      continue;
    }
    if (line.startsWith("[")) {
      current = null;
      continue;
    }
    const kv = current && line.match(/^([A-Za-z0-9_]+)\s*=\s*(.+)$/);
    if (!kv) continue;
    const [, key, value] = kv;
    current[key] = value.startsWith('"') ? value.slice(1, value.lastIndexOf('"')) : value;
  }
  return contracts;
}

/** Names of this project's contracts that `source` needs deployed first (contract-call?, use-trait, impl-trait). */
export function localDependencies(source, names) {
  const code = source.replace(/;;.*$/gm, "");
  const found = new Set();
  const patterns = [
    /\(\s*contract-call\?\s+\.([A-Za-z][A-Za-z0-9-]*)/g,
    /\(\s*use-trait\s+[A-Za-z][A-Za-z0-9-]*\s+\.([A-Za-z][A-Za-z0-9-]*)\./g,
    /\(\s*impl-trait\s+\.([A-Za-z][A-Za-z0-9-]*)\./g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) if (names.has(match[1])) found.add(match[1]);
  }
  return found;
}

/**
 * The manifest's contracts as [{name, path, source, clarityVersion, dependsOn}], each after the contracts it
 * calls (the order the node needs: a contract-call? to a contract not yet published fails analysis).
 */
export function readContracts(manifestPath) {
  const manifest = resolve(manifestPath);
  let text;
  try {
    text = readFileSync(manifest, "utf8");
  } catch (error) {
    throw new ManifestError(`cannot read the manifest ${manifest}: ${error.code ?? error.message}`);
  }
  const entries = parseContractsToml(text);
  if (entries.size === 0) throw new ManifestError(`${manifest} lists no [contracts.*]`);
  const contracts = new Map();
  for (const entry of entries.values()) {
    if (!entry.path) throw new ManifestError(`${manifest}: [contracts.${entry.name}] has no path`);
    const version = Number(entry.clarity_version ?? 1);
    if (!Number.isInteger(version) || version < 1) {
      throw new ManifestError(`${manifest}: [contracts.${entry.name}] clarity_version must be a positive integer`);
    }
    const path = resolve(dirname(manifest), entry.path);
    let source;
    try {
      source = readFileSync(path, "utf8");
    } catch (error) {
      throw new ManifestError(`cannot read ${path} (contract ${entry.name}): ${error.code ?? error.message}`);
    }
    contracts.set(entry.name, { name: entry.name, path, source, clarityVersion: version });
  }
  const names = new Set(contracts.keys());
  for (const contract of contracts.values()) contract.dependsOn = [...localDependencies(contract.source, names)];
  const ordered = [];
  const state = new Map(); // name → "visiting" | "done"
  const visit = (name, trail) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") throw new ManifestError(`contracts depend on each other in a cycle: ${[...trail, name].join(" → ")}`);
    state.set(name, "visiting");
    for (const dependency of contracts.get(name).dependsOn) visit(dependency, [...trail, name]);
    state.set(name, "done");
    ordered.push(contracts.get(name));
  };
  for (const name of names) visit(name, []);
  return ordered;
}
