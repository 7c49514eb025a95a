/**
 * Compiles the library packages (core, store, oauth, transport, server) to what they
 * publish: ESM JavaScript, `.d.ts` and source maps in each package's `dist/`
 * (tsconfig.build.json, one project per package, built in dependency order).
 * The workspace itself runs the TypeScript sources; only packing needs this.
 *
 * `dist/` is emptied first so a moved or deleted source leaves no stale module
 * behind. TypeScript rewrites `./X.ts` to `./X.js` in the JavaScript but keeps
 * `./X.ts` in declarations, which an installed package does not have; the
 * declarations get the same rewrite (same length, so the maps stay right).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

/** The packages compiled by tsconfig.build.json (the CLI publishes its esbuild bundle instead). */
export const libraryPackages = ["core", "store", "oauth", "transport", "server"] as const

const relativeTsImport = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*?)\.ts\2/g

const declarationFiles = async (directory: string): Promise<Array<string>> => {
  const entries = await fs.readdir(directory, { withFileTypes: true, recursive: true })
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(".d.ts"))
    .map((entry) => path.join(entry.parentPath, entry.name))
}

export const buildPackages = async (): Promise<void> => {
  for (const name of libraryPackages) {
    await fs.rm(path.join(root, "packages", name, "dist"), { recursive: true, force: true })
  }
  execFileSync(
    process.execPath,
    [path.join(root, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"],
    {
      cwd: root,
      stdio: "inherit"
    }
  )
  for (const name of libraryPackages) {
    for (const file of await declarationFiles(path.join(root, "packages", name, "dist"))) {
      const text = await fs.readFile(file, "utf8")
      const rewritten = text.replace(relativeTsImport, "$1$2$3.js$2")
      if (rewritten !== text) await fs.writeFile(file, rewritten)
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPackages()
