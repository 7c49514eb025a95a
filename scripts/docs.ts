/**
 * Writes the generated references in docs/: the configuration reference
 * (docs/configuration.md) from the declarations in packages/core/src/Config.ts,
 * and the HTTP API reference (docs/http-api.md) from the http-api groups in
 * packages/server/src/api/. packages/core/test/ConfigReference.test.ts and
 * packages/server/test/HttpApiReference.test.ts fail when a committed file is stale.
 */
import * as fs from "node:fs/promises"
import { renderReference } from "../packages/core/src/ConfigReference.ts"
import { renderHttpApiReference } from "../packages/server/src/api/HttpApiReference.ts"

await fs.mkdir("docs", { recursive: true })
await fs.writeFile("docs/configuration.md", renderReference())
await fs.writeFile("docs/http-api.md", renderHttpApiReference())
