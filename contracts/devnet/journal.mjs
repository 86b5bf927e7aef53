// The devnet's persistent journal (`--state-file PATH`): the simnet keeps its chain in memory, so the devnet
// writes down everything that changed it after genesis, and on the next start replays it into a fresh simnet.
// The same chain comes back: same chain marker, heights, block hashes, txids, results, events and times.
//
// Format: JSON lines. Line 1 is the header {journal, version, chain_marker, genesis_time, genesis}; `genesis`
// holds what decides the genesis blocks (contract sources, backend, quote signer, demo capital), and a start
// with different options refuses the file rather than replay it into another chain. Then, in order:
//   {"t":"tx","raw":"<hex>","at":<receipt time>}                            a transaction admitted to the mempool
//   {"t":"block","kind":"burn"|"empty"|"tx","txid"?,"status"?,"height","time","credit"}   a mined block
// Replaying a "tx" line re-admits the same bytes; replaying a "block" line mines the same kind of block at the
// recorded time, and checks that it lands at the recorded height with the recorded status.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export const JOURNAL_FORMAT = "bithedge-devnet";
export const JOURNAL_VERSION = 1;

export class JournalError extends Error {}

/** Reads a journal; a torn last line (the process died mid-write) is dropped, any other bad line is an error. */
export function readJournal(path) {
  if (!existsSync(path)) return null;
  const text = readFileSync(path, "utf8");
  if (text.trim() === "") return null;
  const lines = text.split("\n");
  const complete = text.endsWith("\n") ? lines.slice(0, -1) : lines;
  const entries = [];
  let goodBytes = 0;
  let torn = false;
  for (let i = 0; i < complete.length; i += 1) {
    const line = complete[i];
    let parsed;
    try {
      parsed = JSON.parse(line);
    } catch {
      if (i === complete.length - 1 && !text.endsWith("\n")) {
        torn = true;
        break;
      }
      throw new JournalError(`${path}: line ${i + 1} is not JSON; the journal is damaged`);
    }
    entries.push(parsed);
    goodBytes += Buffer.byteLength(line, "utf8") + 1;
  }
  const [header, ...rest] = entries;
  if (!header || header.journal !== JOURNAL_FORMAT) throw new JournalError(`${path} is not a devnet journal`);
  if (header.version !== JOURNAL_VERSION) {
    throw new JournalError(`${path} has journal version ${header.version}; this devnet reads ${JOURNAL_VERSION}`);
  }
  return { header, entries: rest, goodBytes, torn };
}

/** Keys whose values differ between the recorded genesis and this start's. */
export function genesisDifferences(recorded, current) {
  const keys = new Set([...Object.keys(recorded ?? {}), ...Object.keys(current)]);
  return [...keys].filter((key) => JSON.stringify(recorded?.[key]) !== JSON.stringify(current[key])).sort();
}

/** Append-only writer; every line is written synchronously, before the devnet answers the request. */
export class JournalWriter {
  constructor(path, { truncateTo } = {}) {
    mkdirSync(dirname(path), { recursive: true });
    if (truncateTo !== undefined) truncateSync(path, truncateTo);
    this.path = path;
    this.fd = openSync(path, "a");
  }

  append(entry) {
    if (this.fd === null) return;
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
  }

  close() {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
