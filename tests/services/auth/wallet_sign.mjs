// Signs sign-in messages the way a Stacks wallet does, with the reference libraries (not the service's code):
// @stacks/encryption's hashMessage ("\x17Stacks Signed Message:\n" + varint length + message, sha256) and
// @stacks/transactions' signMessageHashRsv. Also derives the key's public key and address, and checks the
// signature with @stacks/encryption's own verifier.
//
// Usage: one request per line on stdin, {"ops": [{"message", "privateKey", "network"}]}; one answer per line on
// stdout, {"results": [...]} (a long-lived process: tests pay Node's start-up once).
// Packages are resolved from CONTRACTS_DIR/node_modules (default: ../../../contracts).
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const contractsDir = process.env.CONTRACTS_DIR || path.resolve(here, '../../../contracts');
const require = createRequire(path.join(contractsDir, 'package.json'));
const tx = require('@stacks/transactions');
const encryption = require('@stacks/encryption');

const hex = (bytes) => Buffer.from(bytes).toString('hex');
function sign(op) {
  const messageHash = hex(encryption.hashMessage(op.message));
  const signature = tx.signMessageHashRsv({ messageHash, privateKey: op.privateKey });
  const publicKey = tx.privateKeyToPublic(op.privateKey);
  return {
    signature,
    publicKey: typeof publicKey === 'string' ? publicKey : hex(publicKey),
    address: tx.getAddressFromPrivateKey(op.privateKey, op.network),
    verified: encryption.verifyMessageSignatureRsv({ signature, message: op.message, publicKey }),
  };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { ops } = JSON.parse(line);
  process.stdout.write(JSON.stringify({ results: ops.map(sign) }) + '\n');
}
