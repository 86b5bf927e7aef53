// The committed operation types are what GraphQL Code Generator makes from schema/schema.graphql and
// src/operations now: a schema or operation change without `npm run codegen` fails here.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "@graphql-codegen/cli";
import { describe, expect, it } from "vitest";
import config from "../codegen.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

describe("generated operation types", () => {
  it("are current with the schema and the operations", async () => {
    const previous = process.cwd();
    process.chdir(root); // the config's paths are relative to the package
    try {
      const outputs = await generate({ ...config, silent: true }, false);
      expect(outputs.length).toBe(1);
      for (const output of outputs) {
        const committed = readFileSync(join(root, output.filename), "utf8");
        expect(committed, `${output.filename} is stale: run \`npm run codegen\` in clients/typescript`).toBe(
          output.content,
        );
      }
    } finally {
      process.chdir(previous);
    }
  });
});
