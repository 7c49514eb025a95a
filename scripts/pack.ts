/**
 * Builds everything and packs every published package into one directory:
 *
 *     pnpm run pack-packages [directory]     (default: tarballs/)
 *
 * `pnpm pack` applies what publishing applies: `workspace:` ranges become
 * versions and `publishConfig.exports` (dist/) replaces the workspace's
 * `exports` (src/). Private packages (the workspace root, test helpers) are
 * skipped. Prints one tarball path per line.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { buildPackages } from "./build-packages.ts"

const root = fileURLToPath(new URL("..", import.meta.url))

const Manifest = Schema.Struct({
  name: Schema.String,
  version: Schema.String,
  private: Schema.optionalKey(Schema.Boolean)
})
type Manifest = typeof Manifest.Type
const decodeManifest = Schema.decodeUnknownSync(Schema.fromJsonString(Manifest))

/** pnpm as the script was started with (`npm_execpath`), else the one on PATH. */
const pnpm = (args: ReadonlyArray<string>, cwd: string): void => {
  const execPath = process.env.npm_execpath ?? ""
  const viaPnpm = path.basename(execPath).startsWith("pnpm")
  const [command, prefix] = !viaPnpm
    ? ["pnpm", []]
    : /\.[cm]?js$/.test(execPath)
      ? [process.execPath, [execPath]]
      : [execPath, []]
  execFileSync(command, [...prefix, ...args], { cwd, stdio: ["ignore", "ignore", "inherit"] })
}

/** The directories of the packages that are published. */
export const publishedPackages = async (): Promise<
  ReadonlyArray<{ readonly directory: string; readonly manifest: Manifest }>
> => {
  const found = []
  for (const entry of await fs.readdir(path.join(root, "packages"), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    const directory = path.join(root, "packages", entry.name)
    const text = await fs.readFile(path.join(directory, "package.json"), "utf8").catch(() => undefined)
    if (text === undefined) continue
    const manifest = decodeManifest(text)
    if (manifest.private !== true) found.push({ directory, manifest })
  }
  return found
}

/** The tarball name npm and pnpm give a package: `@scope/name` → `scope-name-<version>.tgz`. */
export const tarballName = (manifest: Manifest): string =>
  `${manifest.name.replace(/^@/, "").replace("/", "-")}-${manifest.version}.tgz`

export interface PackOptions {
  /**
   * Build the web UI and the CLI bundle first (default). The tests pass false:
   * their setup built both, and other tests are running the bundle meanwhile.
   */
  readonly buildBundle?: boolean
}

/** Builds the libraries (and the UI and CLI bundle), then packs each published package into `destination`. */
export const packAll = async (
  destination: string,
  options: PackOptions = {}
): Promise<ReadonlyArray<string>> => {
  if (options.buildBundle !== false) {
    execFileSync(process.execPath, [path.join(root, "scripts/build.ts")], { cwd: root, stdio: "inherit" })
  }
  await buildPackages()
  await fs.mkdir(destination, { recursive: true })
  const tarballs = []
  for (const { directory, manifest } of await publishedPackages()) {
    pnpm(["pack", "--pack-destination", destination], directory)
    tarballs.push(path.join(destination, tarballName(manifest)))
  }
  return tarballs
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const destination = path.resolve(process.argv[2] ?? path.join(root, "tarballs"))
  for (const tarball of await packAll(destination)) process.stdout.write(`${tarball}\n`)
}
