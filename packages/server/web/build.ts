/**
 * Builds the web UI (docs/gateway.md#web-ui) into packages/server/web/dist/: one
 * module per page plus shared chunks and one stylesheet, each named by its
 * content hash (served with a year-long immutable cache), and the two pages
 * with those names filled in (served with `no-cache`). Everything comes from the
 * npm registry through esbuild: no CDN, so the UI works offline.
 *
 * `scripts/build.ts` runs it on `pnpm install` and `pnpm build`; the browser
 * tests run it when `isStale()` says the sources changed since the last build.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

/** packages/server/web/ */
export const webRoot = fileURLToPath(new URL(".", import.meta.url))

/** Where the built UI goes (gitignored). */
export const distDirectory = path.join(webRoot, "dist")

/** The pages: template in web/, entry module in web/src/. */
const pages = ["admin", "chat", "connections"] as const

/** Written last; it records what the build was made from. */
const stampFile = "build.json"

const hashOf = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex")

const listFiles = async (directory: string): Promise<Array<string>> => {
  const entries = await fs.readdir(directory, { withFileTypes: true, recursive: true })
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort()
}

/** The inputs of a build: every source file, the templates, this script, and the bundled libraries' versions. */
export const sourceHash = async (): Promise<string> => {
  const files = [
    ...(await listFiles(path.join(webRoot, "src"))),
    ...pages.map((page) => path.join(webRoot, `${page}.html`)),
    fileURLToPath(import.meta.url)
  ]
  const hash = createHash("sha256")
  for (const file of files) {
    hash.update(path.relative(webRoot, file))
    hash.update(await fs.readFile(file))
  }
  for (const library of ["marked", "dompurify", "uplot", "esbuild"]) {
    const manifest = await fs
      .readFile(path.join(webRoot, "..", "node_modules", library, "package.json"), "utf8")
      .catch(() =>
        fs.readFile(path.join(webRoot, "..", "..", "..", "node_modules", library, "package.json"), "utf8")
      )
      .catch(() => "")
    hash.update(`${library}@${(JSON.parse(manifest || "{}") as { version?: string }).version ?? "?"}`)
  }
  return hash.digest("hex")
}

/** Whether `dist/` is missing or was built from other sources. */
export const isStale = async (directory: string = distDirectory): Promise<boolean> => {
  const stamp = await fs.readFile(path.join(directory, stampFile), "utf8").catch(() => undefined)
  if (stamp === undefined) return true
  return (JSON.parse(stamp) as { sourceHash?: string }).sourceHash !== (await sourceHash())
}

const escapeAttribute = (value: string) => value.replace(/&/g, "&amp;").replace(/"/g, "&quot;")

/**
 * Builds into a fresh directory beside `directory`, then swaps it in, so a
 * gateway that starts meanwhile never reads half a build.
 */
export const buildWeb = async (directory: string = distDirectory): Promise<void> => {
  const inputs = await sourceHash()
  const staging = `${directory}.staging-${process.pid}-${Date.now()}`
  await fs.rm(staging, { recursive: true, force: true })
  const result = await build({
    absWorkingDir: webRoot,
    entryPoints: {
      ...Object.fromEntries(pages.map((page) => [page, `src/${page}.ts`])),
      styles: "src/styles.css"
    },
    outdir: staging,
    entryNames: "[name]-[hash]",
    chunkNames: "chunk-[hash]",
    assetNames: "[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    // Current Chromium, Firefox and Safari (dialog, :focus-visible, color-mix, nesting).
    target: ["chrome120", "firefox121", "safari17"],
    minify: true,
    sourcemap: "linked",
    metafile: true,
    legalComments: "linked",
    logLevel: "warning"
  })

  // The UI takes only types from the server's src/api/ (lib/adminApi.ts): effect or server code at
  // runtime would make the admin page's script several times heavier (docs/http-api.md#clients).
  const foreign = Object.keys(result.metafile.inputs).filter(
    (input) => input.includes("node_modules/effect/") || input.startsWith("../src/")
  )
  if (foreign.length > 0) {
    await fs.rm(staging, { recursive: true, force: true })
    throw new Error(
      `the web UI bundles ${foreign.length} files of effect or the server (${foreign.slice(0, 3).join(", ")} …): import their types with "import type"`
    )
  }

  const outputs = Object.entries(result.metafile.outputs)
  const publicName = (output: string) => `/assets/${path.basename(output)}`
  const outputFor = (entry: string) => {
    const found = outputs.find(([, meta]) => meta.entryPoint === entry)
    if (found === undefined) throw new Error(`esbuild produced no output for ${entry}`)
    return found
  }

  const icon = await fs.readFile(path.join(webRoot, "src", "icon.svg"))
  const iconName = `icon-${hashOf(icon).slice(0, 10)}.svg`
  await fs.writeFile(path.join(staging, iconName), icon)

  const [styles] = outputFor("src/styles.css")
  for (const page of pages) {
    const [script, meta] = outputFor(`src/${page}.ts`)
    const preloads = meta.imports
      .filter((imported) => imported.kind === "import-statement" && !imported.external)
      .map((imported) => `<link rel="modulepreload" href="${escapeAttribute(publicName(imported.path))}">`)
    const template = await fs.readFile(path.join(webRoot, `${page}.html`), "utf8")
    const html = template
      .replaceAll("{{styles}}", escapeAttribute(publicName(styles)))
      .replaceAll("{{script}}", escapeAttribute(publicName(script)))
      .replaceAll("{{icon}}", escapeAttribute(`/assets/${iconName}`))
      .replace("{{preload}}", preloads.join("\n"))
    if (html.includes("{{")) throw new Error(`${page}.html has a placeholder the build does not know`)
    await fs.writeFile(path.join(staging, `${page}.html`), html)
  }
  await fs.writeFile(path.join(staging, stampFile), `${JSON.stringify({ sourceHash: inputs }, null, 2)}\n`)

  // Swap: the old build is moved aside first, so `directory` is only ever absent for a moment.
  const previous = `${directory}.previous-${process.pid}-${Date.now()}`
  await fs.rename(directory, previous).catch(() => undefined)
  try {
    await fs.rename(staging, directory)
  } catch (error) {
    // Another process (a parallel test file) swapped in the same build first: keep that one.
    await fs.rm(staging, { recursive: true, force: true })
    if (await isStale(directory)) throw error
  }
  await fs.rm(previous, { recursive: true, force: true })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Builds when stale; returns whether it built. One process builds at a time
 * (parallel test files share the build): the others wait until it is fresh.
 */
export const ensureBuilt = async (directory: string = distDirectory): Promise<boolean> => {
  const lock = path.join(os.tmpdir(), `mcpgate-web-build-${hashOf(directory).slice(0, 16)}.lock`)
  const started = Date.now()
  while (await isStale(directory)) {
    const handle = await fs.open(lock, "wx").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "EEXIST") return undefined
      throw error
    })
    if (handle !== undefined) {
      try {
        if (!(await isStale(directory))) return false
        await buildWeb(directory)
        return true
      } finally {
        await handle.close()
        await fs.rm(lock, { force: true })
      }
    }
    // A lock older than a minute was left by a build that died.
    const age = await fs.stat(lock).then(
      (stat) => Date.now() - stat.mtimeMs,
      () => 0
    )
    if (age > 60_000) await fs.rm(lock, { force: true })
    if (Date.now() - started > 120_000) throw new Error(`timed out waiting for the web build (${lock})`)
    await sleep(50)
  }
  return false
}
