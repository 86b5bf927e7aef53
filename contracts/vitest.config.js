import { defineConfig } from "vitest/config";
import { vitestSetupFilePath, getClarinetVitestsArgv } from "@stacks/clarinet-sdk/vitest";

// One simnet per worker process; the environment re-initializes the chain state before each test.
export default defineConfig({
  test: {
    environment: "clarinet",
    pool: "forks",
    fileParallelism: false,
    setupFiles: [vitestSetupFilePath],
    include: ["tests/**/*.test.ts"],
    // The simnet echoes every print event to stdout; keep that output for failing tests only.
    silent: "passed-only",
    environmentOptions: {
      clarinet: {
        ...getClarinetVitestsArgv(),
      },
    },
  },
});
