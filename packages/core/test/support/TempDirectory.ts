import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"

/** A fresh directory under the OS temp dir, removed when the scope closes. */
export const tempDirectory: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-credentials-"))),
  (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
)
