/**
 * A `$BROWSER` stand-in for the tests: started with the authorization URL as its
 * last argument, it follows the redirects (the test authorization server approves
 * without a page to click) until the loopback callback has answered.
 */

import { followRedirects } from "@mcpgate/oauth/Browser"
import { Effect } from "effect"

const url = process.argv.at(-1) ?? ""
Effect.runPromise(followRedirects("browser", url)).then(
  () => process.exit(0),
  () => process.exit(1)
)
