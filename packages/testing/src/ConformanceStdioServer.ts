/**
 * The conformance test server (ConformanceMcp.ts) over stdio: `node ConformanceStdioServer.ts [--page-size N]`.
 * Writes `cancelled <request id>` to stderr for each `test_slow` call the client cancels.
 */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { makeConformanceServer, makeState } from "./ConformanceMcp.ts"

const args = process.argv.slice(2)
const pageSizeAt = args.indexOf("--page-size")
const pageSize = pageSizeAt === -1 ? undefined : Number(args[pageSizeAt + 1])

await makeConformanceServer(makeState(), {
  pageSize,
  onCancelled: (id) => process.stderr.write(`cancelled ${String(id)}\n`)
}).connect(new StdioServerTransport())
