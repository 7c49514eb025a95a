import { defineConfig } from "vitest/config"

// The root test config (run with `--config vitest.workspace.ts`): one project per package.
export default defineConfig({
  test: {
    projects: ["packages/*", "!packages/testing"]
  }
})
