import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The page imports the client from its sources (clients/typescript/src): no build of the client, no CDN. The
// service serves the built page at /app (policy_registry/app.py), so every asset path starts there.
export default defineConfig({
  base: "/app/",
  resolve: {
    alias: {
      "@bithedge/policy-registry-client": fileURLToPath(new URL("../../clients/typescript/src/index.ts", import.meta.url)),
    },
  },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: {
    fs: { allow: ["../.."] },
    proxy: { "/graphql": { target: "http://127.0.0.1:8000", ws: true }, "/app/config.json": "http://127.0.0.1:8000" },
  },
});
