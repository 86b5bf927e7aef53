// Hiro's published schemas, as validators for the devnet's answers (used by devnet_test.mjs).
//
// Two sources, both pinned in package.json:
// - @stacks/stacks-blockchain-api-types ships JSON Schemas (draft-07, with OpenAPI's `nullable`) for the node's
//   /v2 routes and the API's /extended routes. They were written for json-schema-to-typescript, which reads an
//   `allOf` as a TypeScript intersection: every member says `additionalProperties: false`, so read literally
//   no transaction could pass (the base member refuses the block fields, the other member the base fields).
//   `flatten` merges such an `allOf` into one object schema (properties and `required` united, extra
//   properties still refused), which is what the schemas mean.
// - @stacks/blockchain-api-client ships no OpenAPI document, only the TypeScript that openapi-typescript
//   generated from it (src/generated/schema.d.ts). `generateClientSchemas` turns the 200 responses of the
//   operations the service uses back into JSON Schema with ts-json-schema-generator; an object type without an
//   index signature is closed (`additionalProperties: false`), as openapi-typescript writes open objects with one.
//   The conversion reads the whole 2.5 MB schema.d.ts with TypeScript (3–13 s on 2 cores), so its output is kept
//   in hiro-client-schemas.json, stamped with both packages' versions and the operations: `npm run schemas:hiro`
//   writes it again, and the test refuses a stamp that does not match what is installed.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";

const require = createRequire(import.meta.url);
export const API_TYPES_DIR = dirname(require.resolve("@stacks/stacks-blockchain-api-types/package.json"));
export const API_CLIENT_DIR = dirname(require.resolve("@stacks/blockchain-api-client/package.json"));
export const API_TYPES_VERSION = JSON.parse(readFileSync(join(API_TYPES_DIR, "package.json"), "utf8")).version;
export const API_CLIENT_VERSION = JSON.parse(readFileSync(join(API_CLIENT_DIR, "package.json"), "utf8")).version;
const GENERATOR_VERSION = JSON.parse(
  readFileSync(join(dirname(require.resolve("ts-json-schema-generator/package.json")), "package.json"), "utf8"),
).version;
export const CLIENT_SCHEMAS_FILE = resolve(dirname(fileURLToPath(import.meta.url)), "hiro-client-schemas.json");

function schemaFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return schemaFiles(path);
    return entry.name.endsWith(".schema.json") ? [path] : [];
  });
}

/** Inlines every file `$ref` (relative to the file holding it) and merges object `allOf`s. */
function flatten(node, file, cache, trail = []) {
  if (Array.isArray(node)) return node.map((item) => flatten(item, file, cache, trail));
  if (!node || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    const target = resolve(dirname(file), node.$ref);
    if (trail.includes(target)) throw new Error(`recursive $ref ${relative(API_TYPES_DIR, target)}`);
    const { $ref, ...rest } = node;
    return { ...flatten(cache.get(target), target, cache, [...trail, target]), ...rest };
  }
  const out = {};
  for (const [key, value] of Object.entries(node)) out[key] = flatten(value, file, cache, trail);
  if (Array.isArray(out.allOf) && out.allOf.every((m) => m.type === "object" || m.properties)) {
    const { allOf, ...own } = out;
    const merged = { ...own, type: "object", properties: { ...(own.properties ?? {}) }, required: [...(own.required ?? [])] };
    for (const member of allOf) {
      Object.assign(merged.properties, member.properties ?? {});
      merged.required.push(...(member.required ?? []));
    }
    merged.required = [...new Set(merged.required)];
    merged.additionalProperties = allOf.every((m) => m.additionalProperties === false) ? false : own.additionalProperties;
    if (merged.additionalProperties === undefined) delete merged.additionalProperties;
    return merged;
  }
  return out;
}

function newAjv() {
  // strict off: the published schemas carry OpenAPI's `nullable`, `title`s and `example`s
  return new Ajv({ allErrors: true, strict: false });
}

/** An ajv error as {field, message}: `field` is the JSON pointer of the property concerned (missing or extra ones too). */
function describe(errors) {
  return errors.map((e) => {
    const name = e.params?.additionalProperty ?? e.params?.missingProperty;
    return { field: name === undefined ? e.instancePath || "/" : `${e.instancePath}/${name}`, message: e.message };
  });
}

/**
 * A checker returning the errors ([] = valid). A top-level `anyOf` (a transaction is one of six types, mined or
 * in the mempool) reports the branch that comes closest, not all six branches' complaints.
 */
function checker(ajv, schema) {
  if (!Array.isArray(schema.anyOf)) {
    const check = ajv.compile(schema);
    return (body) => (check(body) ? [] : describe(check.errors));
  }
  const { anyOf, ...shared } = schema;
  const branches = anyOf.map((branch) => ajv.compile({ ...shared, ...branch }));
  return (body) => {
    let best = null;
    for (const check of branches) {
      if (check(body)) return [];
      if (!best || check.errors.length < best.length) best = describe(check.errors);
    }
    return best;
  };
}

/** `validate(name, body)` against @stacks/stacks-blockchain-api-types; `name` is the file path, e.g. "api/core-node/get-info". */
export function apiTypesValidator() {
  const cache = new Map(schemaFiles(API_TYPES_DIR).map((path) => [path, JSON.parse(readFileSync(path, "utf8"))]));
  const ajv = newAjv();
  const compiled = new Map();
  return (name, body) => {
    if (!compiled.has(name)) {
      const file = join(API_TYPES_DIR, `${name}.schema.json`);
      if (!cache.has(file)) throw new Error(`no schema ${name} in @stacks/stacks-blockchain-api-types`);
      compiled.set(name, checker(ajv, flatten(cache.get(file), file, cache)));
    }
    return compiled.get(name)(body);
  };
}

/** The client's operations the service reads, by operationId. */
export const CLIENT_OPERATIONS = [
  "get_status",
  "get_transaction_by_id",
  "get_smart_contract_logs",
  "get_contract_events_by_id",
  "get_block",
  "get_account_nonces",
];

/** What the converted schemas were made from: a different stamp means they must be converted again. */
export function clientStamp(operations = CLIENT_OPERATIONS) {
  return { client: API_CLIENT_VERSION, generator: GENERATOR_VERSION, operations };
}

/** JSON Schemas of the 200 responses of `operations`, converted from the client's TypeScript (slow: seconds). */
export async function generateClientSchemas(operations = CLIENT_OPERATIONS) {
  const { createGenerator } = await import("ts-json-schema-generator");
  const work = mkdtempSync(join(tmpdir(), "hiro-client-schema-"));
  try {
    const source = join(API_CLIENT_DIR, "src", "generated", "schema.d.ts");
    const entry = join(work, "responses.ts");
    const alias = (op) => op.replace(/(^|_)([a-z])/g, (m, s, c) => c.toUpperCase());
    writeFileSync(
      entry,
      `import type { operations } from ${JSON.stringify(source.replace(/\.d\.ts$/, ""))};\n` +
        operations
          .map((op) => `export type ${alias(op)} = operations[${JSON.stringify(op)}]["responses"]["200"]["content"]["application/json"];\n`)
          .join(""),
    );
    // no ambient @types: the schema file needs none, and loading them doubles the time
    writeFileSync(join(work, "tsconfig.json"), JSON.stringify({ compilerOptions: { types: [], skipLibCheck: true }, files: [entry] }));
    const generator = createGenerator({
      path: entry,
      tsconfig: join(work, "tsconfig.json"),
      type: "*",
      expose: "none",
      topRef: false,
      skipTypeCheck: true,
      jsDoc: "none",
      additionalProperties: false,
    });
    return { stamp: clientStamp(operations), schemas: Object.fromEntries(operations.map((op) => [op, generator.createSchema(alias(op))])) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `validate(operationId, body)` against the 200 response of that operation in @stacks/blockchain-api-client. */
export function clientValidator(file = CLIENT_SCHEMAS_FILE) {
  const { stamp, schemas } = JSON.parse(readFileSync(file, "utf8"));
  if (JSON.stringify(stamp) !== JSON.stringify(clientStamp(stamp.operations))) {
    throw new Error(
      `${file} was converted from ${JSON.stringify(stamp)}, but ${JSON.stringify(clientStamp(stamp.operations))} ` +
        "is installed: run `npm run schemas:hiro`",
    );
  }
  const ajv = newAjv();
  const checks = new Map(stamp.operations.map((op) => [op, checker(ajv, schemas[op])]));
  return (operation, body) => {
    const check = checks.get(operation);
    if (!check) throw new Error(`operation ${operation} is not in ${file}: add it to CLIENT_OPERATIONS and convert again`);
    return check(body);
  };
}

// `node devnet/hiro_schemas.mjs` (npm run schemas:hiro): convert the client's schemas again
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const converted = await generateClientSchemas();
  writeFileSync(CLIENT_SCHEMAS_FILE, `${JSON.stringify(converted)}\n`);
  process.stdout.write(`wrote ${CLIENT_SCHEMAS_FILE} (${JSON.stringify(converted.stamp)}) in ${Date.now() - started} ms\n`);
}
