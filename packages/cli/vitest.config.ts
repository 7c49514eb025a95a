import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "cli",
    include: ["test/**/*.test.ts"],
    // The tests run the bundled binary, as users install it.
    globalSetup: ["test/support/buildBundle.ts"],
    testTimeout: 30_000
  }
})
