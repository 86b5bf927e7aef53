// One-line logger for the devnet. Levels: debug < info < warn < error. Lines go to stdout so a launcher can
// capture them in one file; the simnet's own console output (print echoes, runtime error dumps) is demoted
// to debug so it never interleaves with the request/block lines.
import { format } from "node:util";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export class Logger {
  constructor(level = "info", write = (line) => process.stdout.write(line)) {
    if (!(level in LEVELS)) throw new Error(`unknown log level ${level} (debug|info|warn|error|silent)`);
    this.threshold = LEVELS[level];
    this.write = write;
  }

  log(level, message) {
    if (LEVELS[level] < this.threshold) return;
    this.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} devnet: ${message}\n`);
  }

  debug(message) {
    this.log("debug", message);
  }

  info(message) {
    this.log("info", message);
  }

  warn(message) {
    this.log("warn", message);
  }

  error(message) {
    this.log("error", message);
  }

  /** Route console.* (used by the clarinet-sdk wasm) into this logger at debug level. */
  captureConsole() {
    const demote = (...args) => this.debug(`simnet: ${format(...args).replace(/\s*\n\s*/g, " | ")}`);
    console.log = demote;
    console.info = demote;
    console.warn = demote;
    console.error = demote;
  }
}
