// Demo account keys for the devnet: parses settings/Devnet.toml and derives each account's key from its
// mnemonic the way Clarinet does (BIP39 seed, BIP32 path m/44'/5757'/0'/0/0 unless the account names another).
import { createHmac, pbkdf2Sync } from "node:crypto";
import { readFileSync } from "node:fs";
import { getAddressFromPrivateKey, privateKeyToPublic } from "@stacks/transactions";

const CURVE_ORDER = BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
const HARDENED = 0x80000000;
export const DEFAULT_DERIVATION = "m/44'/5757'/0'/0/0";

/** Reads the [accounts.*] tables of a Clarinet settings file (only the keys the devnet needs). */
export function parseAccountsToml(text) {
  const accounts = new Map();
  let current = null;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/\s+#.*$/, "").trim();
    if (!line || line.startsWith("#")) continue;
    const table = line.match(/^\[\s*accounts\.([A-Za-z0-9_-]+)\s*\]$/);
    if (table) {
      current = { name: table[1] };
      accounts.set(table[1], current);
      continue;
    }
    if (line.startsWith("[")) {
      current = null;
      continue;
    }
    if (!current) continue;
    const kv = line.match(/^([A-Za-z0-9_]+)\s*=\s*(.+)$/);
    if (!kv) continue;
    const [, key, value] = kv;
    if (value.startsWith('"')) current[key] = value.slice(1, value.lastIndexOf('"'));
    else current[key] = value.replace(/_/g, "");
  }
  return accounts;
}

function hmac512(key, data) {
  return createHmac("sha512", key).update(data).digest();
}

function bigToKey(value) {
  return Buffer.from(value.toString(16).padStart(64, "0"), "hex");
}

/** BIP32 private derivation along `path`, returning the 32-byte private key. */
export function derivePrivateKey(mnemonic, path = DEFAULT_DERIVATION, passphrase = "") {
  const seed = pbkdf2Sync(
    Buffer.from(mnemonic.normalize("NFKD"), "utf8"),
    Buffer.from(`mnemonic${passphrase}`.normalize("NFKD"), "utf8"),
    2048,
    64,
    "sha512",
  );
  let node = hmac512(Buffer.from("Bitcoin seed"), seed);
  let key = node.subarray(0, 32);
  let chain = node.subarray(32);
  const segments = path.split("/");
  if (segments[0] !== "m") throw new Error(`bad derivation path ${path}`);
  for (const segment of segments.slice(1)) {
    const hardened = segment.endsWith("'") || segment.endsWith("h");
    const index = Number.parseInt(segment, 10) + (hardened ? HARDENED : 0);
    const indexBytes = Buffer.alloc(4);
    indexBytes.writeUInt32BE(index >>> 0);
    const data = hardened
      ? Buffer.concat([Buffer.alloc(1), key, indexBytes])
      : Buffer.concat([Buffer.from(privateKeyToPublic(`${key.toString("hex")}01`), "hex"), indexBytes]);
    node = hmac512(chain, data);
    const child = (BigInt(`0x${node.subarray(0, 32).toString("hex")}`) + BigInt(`0x${key.toString("hex")}`)) % CURVE_ORDER;
    key = bigToKey(child);
    chain = node.subarray(32);
  }
  return key.toString("hex");
}

/**
 * The devnet's demo accounts: name → {name, address, privateKey (Stacks "compressed" form, 33 bytes with 01),
 * publicKey (33-byte compressed), balance (initial, uSTX)}.
 */
export function loadDevnetAccounts(settingsPath) {
  const parsed = parseAccountsToml(readFileSync(settingsPath, "utf8"));
  const accounts = new Map();
  for (const [name, entry] of parsed) {
    if (!entry.mnemonic) continue;
    const privateKey = `${derivePrivateKey(entry.mnemonic, entry.derivation || DEFAULT_DERIVATION)}01`;
    accounts.set(name, {
      name,
      address: getAddressFromPrivateKey(privateKey, "testnet"),
      privateKey,
      publicKey: privateKeyToPublic(privateKey),
      balance: BigInt(entry.balance ?? 0),
    });
  }
  return accounts;
}
