/**
 * Builds what runs from the checkout and the installed binary:
 *
 * - the web UI (packages/server/web/build.ts) into packages/server/web/dist/;
 * - the CLI bundled (packages/cli/dist/mcpgate.mjs) for the installed `mcpgate`
 *   binary: a few modules instead of hundreds keeps cold start short, and the
 *   gateway itself is a separate chunk loaded only by the commands that need it.
 *   Chunks sit beside the entry, and so does the UI (packages/cli/dist/web/),
 *   where `web/WebUi.ts` (packages/server/src) looks when it runs from the bundle.
 */
import * as fs from "node:fs/promises"
import { build } from "esbuild"
import { buildWeb, distDirectory } from "../packages/server/web/build.ts"
import { cliBundle } from "./build/NodeBundle.ts"

await buildWeb()

await fs.rm("packages/cli/dist", { recursive: true, force: true })

await build({ ...cliBundle("packages/cli/dist"), sourcemap: "linked" })

await fs.rm("packages/cli/dist/web", { recursive: true, force: true })
await fs.cp(distDirectory, "packages/cli/dist/web", { recursive: true })
