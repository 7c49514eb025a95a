/**
 * Runs before every test file of the suite-wide token scan (leaks.vitest.config.ts):
 * after the file's tests, writes every token the test authorization servers of
 * this file issued, and every text the test helpers kept (captured log lines,
 * error messages, response bodies), to `$MCPGATE_LEAK_DIR`. SuiteTokenScan.ts
 * then looks for the tokens in all of it and in the suite's whole output.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { allIssuedTokens } from "@mcpgate/testing/AuthServer"
import { errorTexts, logLines } from "@mcpgate/testing/Harness"
import { responseBodies } from "@mcpgate/testing/KeptTexts"
import { afterAll, expect } from "vitest"

const directory = process.env.MCPGATE_LEAK_DIR

afterAll(() => {
  if (directory === undefined) return
  const file = join(directory, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(
    file,
    JSON.stringify({
      testFile: expect.getState().testPath ?? "",
      tokens: [...allIssuedTokens],
      texts: [...logLines, ...errorTexts, ...responseBodies]
    })
  )
})
