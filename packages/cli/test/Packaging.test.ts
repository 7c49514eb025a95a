/**
 * The packages as another app gets them from the npm registry: every published
 * package packed (`pnpm pack`, so `publishConfig` and `workspace:` ranges
 * apply), installed with plain npm (no workspace) into a temporary copy of
 * examples/embed, typechecked against the published declarations and run;
 * publint and arethetypeswrong (ESM-only profile) find nothing; the `mcpgate`
 * tarball installs globally and serves. Everything lives in one temporary
 * directory, removed at the end; npm uses its usual cache.
 */
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { publint } from "publint"
import { formatMessage } from "publint/utils"
import { libraryPackages } from "../../../scripts/build-packages.ts"
import { packAll } from "../../../scripts/pack.ts"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const example = path.join(root, "examples/embed")
const attw = path.join(root, "node_modules/.bin/attw")

/**
 * This Node (24) first on PATH, and none of the `npm_*` settings pnpm passes
 * to its scripts: npm would read them as its own configuration.
 */
const cleanEnv = (extra: Record<string, string> = {}): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.toLowerCase().startsWith("npm_")) env[name] = value
  }
  env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${env.PATH ?? ""}`
  return { ...env, NO_COLOR: "1", ...extra }
}

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string>; readonly timeout?: number }
): Promise<Result> =>
  new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? cleanEnv(),
        timeout: options.timeout ?? 120_000,
        maxBuffer: 64 * 1024 * 1024
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resolve({ code, stdout, stderr })
      }
    )
  })

const describeFailure = (what: string, result: Result) =>
  `${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`

const Dependencies = Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
const decodeManifest = Schema.decodeUnknownSync(
  Schema.fromJsonString(Schema.Struct({ dependencies: Dependencies, peerDependencies: Dependencies }))
)
const decodeQuery = Schema.decodeUnknownSync(
  Schema.fromJsonString(Schema.Array(Schema.Struct({ location: Schema.String })))
)

const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false
  )

// The checks after the install are independent of each other: run them side by side.
describe.concurrent("the published packages", () => {
  let work = ""
  let app = ""
  let tarballs: ReadonlyArray<string> = []
  const libraryTarball = (name: string) => {
    const found = tarballs.find((tarball) => path.basename(tarball).startsWith(`mcpgate-${name}-`))
    assert.isDefined(found, `no tarball for @mcpgate/${name}`)
    return found ?? ""
  }
  // The libraries' dist/ directories this test creates (and removes again).
  const createdDist: Array<string> = []

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-packaging-"))
    for (const name of libraryPackages) {
      const dist = path.join(root, "packages", name, "dist")
      if (!(await exists(dist))) createdDist.push(dist)
    }
    // The CLI bundle and web UI come from this project's global setup.
    tarballs = await packAll(path.join(work, "tarballs"), { buildBundle: false })

    app = path.join(work, "embed")
    await fs.cp(example, app, {
      recursive: true,
      filter: (source) => !source.split(path.sep).includes("node_modules")
    })
    // What the example's README tells a newcomer: install the tarballs in place of the registry versions.
    const install = await run(
      "npm",
      ["install", "--no-audit", "--no-fund", ...libraryPackages.map(libraryTarball)],
      { cwd: app, timeout: 180_000 }
    )
    assert.strictEqual(install.code, 0, describeFailure("npm install", install))
  }, 300_000)

  afterAll(async () => {
    if (work !== "") await fs.rm(work, { recursive: true, force: true })
    for (const dist of createdDist) await fs.rm(dist, { recursive: true, force: true })
  })

  it("give the host app exactly one copy of effect", async () => {
    const query = await run("npm", ["query", "#effect"], { cwd: app })
    assert.strictEqual(query.code, 0, describeFailure("npm query", query))
    const copies = decodeQuery(query.stdout)
    assert.deepStrictEqual(
      copies.map((copy) => copy.location),
      ["node_modules/effect"]
    )
  })

  it("take effect (and @effect/platform-node) as peers, so the host's copy is theirs", async () => {
    for (const name of libraryPackages) {
      const manifest = await run("tar", ["-xzOf", libraryTarball(name), "package/package.json"], {
        cwd: work
      })
      const { dependencies = {}, peerDependencies = {} } = decodeManifest(manifest.stdout)
      assert.notProperty(dependencies, "effect", name)
      assert.notProperty(dependencies, "@effect/platform-node", name)
      assert.property(peerDependencies, "effect", name)
    }
  })

  it("typecheck the example against the published declarations", async () => {
    const tsc = await run("npx", ["tsc", "--noEmit"], { cwd: app })
    assert.strictEqual(tsc.code, 0, describeFailure("tsc --noEmit", tsc))
  }, 120_000)

  it("run the example: client manager, OAuth with the host's store, OpenAI routes in the host's router", async () => {
    const start = await run("npm", ["start"], { cwd: app, timeout: 60_000 })
    assert.strictEqual(start.code, 0, describeFailure("npm start", start))
    const lines = start.stdout.split("\n")
    const line = (prefix: string) => lines.find((candidate) => candidate.startsWith(prefix)) ?? ""
    assert.include(line("[1/3]"), 'echo__echo answered "echo: hello from the host app"')
    assert.include(line("[2/3]"), "the host's store holds 1 credential(s)")
    assert.include(line("[2/3]"), 'notes__whoami answered "you are embed-example"')
    assert.include(line("[3/3]"), 'GET /hello said "hello from the host app"')
    assert.include(line("[3/3]"), 'answered "The tool said: echo: hello from the host app"')
    assert.include(line("[3/3]"), "echo__echo completed")
    // The gateway's route logged its request through the host's logger.
    assert.isTrue(
      lines.some(
        (candidate) =>
          candidate.startsWith("host | ") &&
          candidate.includes("http.url=/v1/chat/completions") &&
          candidate.includes("http.status=200")
      ),
      start.stdout
    )
    assert.include(start.stdout, "all three parts worked")
  }, 90_000)

  it("pass publint with nothing to say", async () => {
    for (const tarball of tarballs) {
      const bytes = await fs.readFile(tarball)
      const result = await publint({
        pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) },
        level: "suggestion"
      })
      assert.deepStrictEqual(
        result.messages.map((message) => `${message.type}: ${formatMessage(message, result.pkg)}`),
        [],
        path.basename(tarball)
      )
    }
  })

  it("pass arethetypeswrong (ESM only) for every module they export", async () => {
    for (const name of libraryPackages) {
      const tarball = libraryTarball(name)
      const declarations = await fs.readdir(path.join(root, "packages", name, "dist"), { recursive: true })
      // `./*` is a pattern attw does not expand: name every exported module.
      const modules = declarations
        .filter((file) => file.endsWith(".d.ts") && !file.split(path.sep).includes("internal"))
        .map((file) => `./${file.slice(0, -".d.ts".length).split(path.sep).join("/")}`)
        .filter((entrypoint) => entrypoint !== "./index")
      const result = await run(
        attw,
        [tarball, "--profile", "esm-only", "--format", "ascii", "--include-entrypoints", ...modules],
        { cwd: work }
      )
      // attw exits 1 when it finds a problem the profile does not ignore.
      assert.strictEqual(result.code, 0, describeFailure(`attw ${path.basename(tarball)}`, result))
      for (const module of modules) assert.include(result.stdout, `"@mcpgate/${name}/${module.slice(2)}"`)
    }
  }, 240_000) // attw resolves every module of five packages: about 15 s each on a quiet 2-core machine

  it("install mcpgate globally from its tarball; it runs --version and serves the API and web UI", async () => {
    const cli = tarballs.find((tarball) => path.basename(tarball).startsWith("mcpgate-0"))
    assert.isDefined(cli)
    const prefix = path.join(work, "global")
    const install = await run(
      "npm",
      ["install", "--global", "--prefix", prefix, "--no-audit", "--no-fund", cli ?? ""],
      {
        cwd: work,
        timeout: 180_000
      }
    )
    assert.strictEqual(install.code, 0, describeFailure("npm install -g", install))
    const bin = path.join(prefix, "bin", "mcpgate")
    const home = path.join(work, "home")
    await fs.mkdir(home)
    const env = cleanEnv({ HOME: home, MCPGATE_HOME: home, MCPGATE_TOKEN_STORE: "file" })

    const version = await run(bin, ["--version"], { cwd: home, env })
    assert.strictEqual(version.code, 0, describeFailure("mcpgate --version", version))
    assert.include(version.stdout, "0.2.0")

    await fs.writeFile(path.join(home, "mcpgate.json"), '{ "mcpServers": {} }')
    const serve = spawn(bin, ["serve", "--port", "0"], { cwd: home, env, stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((resolve) => serve.on("exit", (code) => resolve(code)))
    try {
      let stderr = ""
      const url = await new Promise<string>((resolve, reject) => {
        serve.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString()
          const found = /listening on (http:\/\/\S+)/.exec(stderr)?.[1]
          if (found !== undefined) resolve(found)
        })
        void exited.then((code) => reject(new Error(`mcpgate serve exited ${code}: ${stderr}`)))
      })
      const health = await fetch(`${url}/health`)
      assert.strictEqual(health.status, 200)
      const admin = await fetch(`${url}/admin`)
      assert.strictEqual(admin.status, 200)
      assert.include(await admin.text(), "<html")
    } finally {
      serve.kill("SIGTERM")
      await exited
    }
  }, 240_000)
})
