/**
 * Writes the generated references in docs/: for now the configuration reference
 * (docs/configuration.md) from the declarations in packages/core/src/Config.ts.
 * packages/core/test/ConfigReference.test.ts fails when the committed file is stale.
 */
import * as fs from "node:fs/promises"
import { renderReference } from "../packages/core/src/ConfigReference.ts"

await fs.mkdir("docs", { recursive: true })
await fs.writeFile("docs/configuration.md", renderReference())
