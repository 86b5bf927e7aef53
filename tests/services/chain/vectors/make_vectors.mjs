// Reference oracle for the Python chain layer: answers a batch of requests with @stacks/transactions.
//
// Usage: node make_vectors.mjs < request.json > answer.json
// The request is {"ops": [...]}; the answer is {"versions": {...}, "results": [...]} in the same order.
// Packages are resolved from CONTRACTS_DIR/node_modules (default: ../../../../contracts), the project's
// Node install. @stacks/encryption is optional: when it is installed, "hash_message" uses its hashMessage.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const contractsDir = process.env.CONTRACTS_DIR || path.resolve(here, '../../../../contracts');
const require = createRequire(path.join(contractsDir, 'package.json'));

const tx = require('@stacks/transactions');
const c32 = require('c32check');
const { sha256 } = require('@noble/hashes/sha256');
let encryption = null;
try {
  encryption = require('@stacks/encryption');
} catch {
  encryption = null;
}

const { Cl } = tx;
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ''), 'hex'));

function cv(spec) {
  switch (spec.t) {
    case 'int': return Cl.int(BigInt(spec.v));
    case 'uint': return Cl.uint(BigInt(spec.v));
    case 'buff': return Cl.bufferFromHex(spec.v);
    case 'true': return Cl.bool(true);
    case 'false': return Cl.bool(false);
    case 'principal': return Cl.principal(spec.v);
    case 'ok': return Cl.ok(cv(spec.v));
    case 'err': return Cl.error(cv(spec.v));
    case 'none': return Cl.none();
    case 'some': return Cl.some(cv(spec.v));
    case 'list': return Cl.list(spec.v.map(cv));
    case 'tuple': return Cl.tuple(Object.fromEntries(spec.v.map(([k, v]) => [k, cv(v)])));
    case 'ascii': return Cl.stringAscii(spec.v);
    case 'utf8': return Cl.stringUtf8(spec.v);
    default: throw new Error(`unknown spec type ${spec.t}`);
  }
}

function hashMessage(message) {
  if (encryption) return { hash: hex(encryption.hashMessage(message)), source: '@stacks/encryption' };
  return null;
}

async function answer(op) {
  switch (op.op) {
    case 'cv':
      return { hex: Cl.serialize(cv(op.spec)) };
    case 'cv_roundtrip':
      return { hex: Cl.serialize(Cl.deserialize(op.hex)) };
    case 'address':
      return { address: c32.c32address(op.version, op.hash160) };
    case 'address_decode': {
      const [version, hash160] = c32.c32addressDecode(op.address);
      return { version, hash160 };
    }
    case 'pubkey_address':
      return { address: tx.getAddressFromPublicKey(op.publicKey, op.network) };
    case 'private_to_public':
      return { publicKey: tx.privateKeyToPublic(op.privateKey) };
    case 'contract_call': {
      const t = await tx.makeContractCall({
        contractAddress: op.contractAddress,
        contractName: op.contractName,
        functionName: op.functionName,
        functionArgs: op.functionArgs.map(cv),
        senderKey: op.senderKey,
        fee: BigInt(op.fee),
        nonce: BigInt(op.nonce),
        network: op.network,
        postConditionMode: op.postConditionMode,
        postConditions: op.postConditions,
      });
      return { hex: t.serialize(), txid: t.txid() };
    }
    case 'parse_tx': {
      const t = tx.deserializeTransaction(op.hex);
      const signer = t.verifyOrigin(); // throws when the signature does not verify
      return {
        hex: t.serialize(),
        txid: t.txid(),
        nonce: String(t.auth.spendingCondition.nonce),
        fee: String(t.auth.spendingCondition.fee),
        signer,
        postConditions: t.postConditions.values.map((w) => tx.wireToPostCondition(w)),
      };
    }
    case 'post_condition':
      return { hex: tx.postConditionToHex(op.pc) };
    case 'parse_post_condition':
      return { pc: tx.Pc.fromHex(op.hex) };
    case 'sign_hash_rsv':
      return { signature: tx.signMessageHashRsv({ messageHash: op.hash, privateKey: op.privateKey }) };
    case 'recover_rsv':
      return { publicKey: tx.publicKeyFromSignatureRsv(op.hash, op.signature) };
    case 'hash_message':
      return hashMessage(op.message) ?? { hash: null, source: null };
    case 'sha256_cv':
      return { hash: hex(sha256(unhex(Cl.serialize(cv(op.spec))))) };
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

const request = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const op of request.ops) {
  try {
    results.push({ ok: true, ...(await answer(op)) });
  } catch (e) {
    results.push({ ok: false, error: String(e && e.message ? e.message : e) });
  }
}
const pkg = (name) => {
  try {
    return require(`${name}/package.json`).version;
  } catch {
    return null;
  }
};
process.stdout.write(
  JSON.stringify({
    versions: { '@stacks/transactions': pkg('@stacks/transactions'), '@stacks/encryption': pkg('@stacks/encryption') },
    results,
  })
);
