// The deploy command's state file: every transaction it signed, written (atomically, fsynced) before the
// transaction is broadcast, so a run that crashed at any point can be resumed without sending anything twice.
// It holds txids, nonces and the signed bytes: no key.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export const STATE_FORMAT = "bithedge-deploy-state";
export const STATE_VERSION = 1;

export class StateError extends Error {}

export class DeployState {
  /**
   * Loads `path` (or starts empty) for this deployer on this chain; a file written for another deployer,
   * network or chain is refused rather than trusted.
   * @param {string} path
   * @param {{network: string, deployer: string, chain: string}} identity
   */
  static load(path, identity) {
    const state = new DeployState(path, identity);
    if (!existsSync(path)) return state;
    let data;
    try {
      data = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new StateError(`the state file ${path} is not valid JSON (${error.message}); move it away to start over`);
    }
    if (data?.format !== STATE_FORMAT || data.version !== STATE_VERSION) {
      throw new StateError(`${path} is not a deploy state file of version ${STATE_VERSION}`);
    }
    for (const key of ["network", "deployer", "chain"]) {
      if (data[key] !== identity[key]) {
        throw new StateError(
          `the state file ${path} was written for ${key} ${data[key]}, this run is for ${identity[key]}: ` +
            `pass another --state-file (or move this one away if that chain is gone)`,
        );
      }
    }
    state.steps = data.steps ?? {};
    return state;
  }

  constructor(path, identity) {
    this.path = path;
    this.identity = identity;
    this.steps = {}; // step id → {txid, nonce, fee, raw, status: "signed"|"sent"|"success", at}
  }

  get(step) {
    return this.steps[step];
  }

  /** Records (or replaces) a step and writes the file before returning. */
  put(step, entry) {
    this.steps[step] = { ...entry, at: new Date().toISOString() };
    this.save();
  }

  forget(step) {
    delete this.steps[step];
    this.save();
  }

  save() {
    mkdirSync(dirname(this.path), { recursive: true });
    const text = `${JSON.stringify({ format: STATE_FORMAT, version: STATE_VERSION, ...this.identity, steps: this.steps }, null, 2)}\n`;
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, "w", 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    // the rename itself is durable once the directory is synced
    const dir = openSync(dirname(this.path), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
