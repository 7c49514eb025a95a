/**
 * `pnpm soak -- --suite [vitest filters…]`: runs the whole test suite with every
 * log line captured (the suite's own output, the log lines and error messages
 * the OAuth tests keep, the response bodies the gateway tests keep) and looks
 * for every token that any test authorization server issued. Exit 1 when one
 * appears anywhere; the suite's own pass/fail is reported, not judged here.
 *
 * The tokens and kept texts come from LeakSetup.ts, a setup file added to every
 * project by leaks.vitest.config.ts; test files are left as they are.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { table } from "./Report.ts"
import { TokenScanner } from "./TokenScan.ts"

const vitest = fileURLToPath(new URL("../../node_modules/vitest/vitest.mjs", import.meta.url))
const config = fileURLToPath(new URL("./leaks.vitest.config.ts", import.meta.url))
const root = fileURLToPath(new URL("../..", import.meta.url))

interface Dump {
  readonly testFile: string
  readonly tokens: ReadonlyArray<string>
  readonly texts: ReadonlyArray<string>
}

export const run = async (filters: ReadonlyArray<string>): Promise<number> => {
  const directory = mkdtempSync(join(tmpdir(), "mcpgate-suite-leaks-"))
  try {
    process.stderr.write(
      `suite scan: running the test suite with every log captured (dumps in ${directory})\n`
    )
    const output: Array<string> = []
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [vitest, "run", "--config", config, ...filters], {
        cwd: root,
        env: { ...process.env, MCPGATE_LEAK_DIR: directory, NO_COLOR: "1", FORCE_COLOR: "0" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      for (const stream of [child.stdout, child.stderr]) {
        stream.setEncoding("utf8")
        stream.on("data", (chunk: string) => {
          output.push(chunk)
          // Progress only: the files as they finish.
          for (const line of chunk.split("\n")) {
            if (/^\s*(✓|❯|×)\s+\S+\s+test\//.test(line)) process.stderr.write(`  ${line.trim()}\n`)
          }
        })
      }
      child.on("error", reject)
      child.on("close", resolve)
    })

    const tokens = new Set<string>()
    const dumps: Array<Dump> = []
    for (const name of readdirSync(directory)) {
      const dump = JSON.parse(readFileSync(join(directory, name), "utf8")) as Dump
      dumps.push(dump)
      for (const token of dump.tokens) tokens.add(token)
    }
    const scanner = new TokenScanner(tokens)
    const suiteOutput = output.join("")
    scanner.scan(suiteOutput, "the suite's output")
    let kept = 0
    for (const dump of dumps) {
      for (const text of dump.texts) {
        kept++
        scanner.scan(text, `a text kept by ${dump.testFile.slice(root.length)}`)
      }
    }
    const summary = /Test Files\s+(.*)\n\s*Tests\s+(.*)/.exec(suiteOutput)
    process.stdout.write(
      `\n${table(
        ["suite-wide token scan", "value"],
        [
          ["test files reporting", String(dumps.length)],
          [
            "test files with an authorization server",
            String(dumps.filter((d) => d.tokens.length > 0).length)
          ],
          ["tokens issued (each looked for)", String(tokens.size)],
          ["suite output scanned (KiB)", (suiteOutput.length / 1024).toFixed(0)],
          ["kept texts scanned (log lines, errors, bodies)", String(kept)],
          ["suite result", `${summary?.[1]?.trim() ?? "?"}; ${summary?.[2]?.trim() ?? "?"} (exit ${code})`],
          ["tokens found", String(scanner.leaks.length)]
        ]
      )}\n`
    )
    for (const leak of scanner.leaks.slice(0, 20)) {
      process.stdout.write(`token leak in ${leak.where}: ${leak.tokenStart} …${leak.context}…\n`)
    }
    process.stdout.write(
      `${scanner.leaks.length === 0 ? "PASS" : "FAIL"}  no issued token anywhere in the suite\n`
    )
    if (dumps.length === 0) {
      process.stdout.write("FAIL  no test file reported (did the suite run?)\n")
      return 2
    }
    return scanner.leaks.length === 0 ? 0 : 1
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}
