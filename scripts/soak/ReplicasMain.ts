/** The command line of the replica soak (`pnpm soak -- --replicas 3 --store postgres`, soak/Replicas.ts). */
import { parseFlags, positive } from "./Flags.ts"
import * as Replicas from "./Replicas.ts"

const usage = `usage: pnpm soak -- --replicas N --store postgres [--minutes N | --seconds N] [--concurrency N]
                    [--token-ttl SECONDS] [--log-level LEVEL] [--sticky-mcp]`

const parse = (argv: ReadonlyArray<string>) => {
  const options = {
    seconds: 60,
    replicas: 3,
    concurrency: 8,
    tokenTtl: 5,
    logLevel: "info",
    store: "",
    stickyMcpSessions: false
  }
  parseFlags(argv, (flag, value) => {
    switch (flag) {
      case "--replicas":
        options.replicas = Math.round(positive(flag, value()))
        return true
      case "--store":
        options.store = value() ?? ""
        return true
      case "--minutes":
        options.seconds = positive(flag, value()) * 60
        return true
      case "--seconds":
        options.seconds = positive(flag, value())
        return true
      case "--concurrency":
        options.concurrency = Math.round(positive(flag, value()))
        return true
      case "--token-ttl":
        options.tokenTtl = Math.round(positive(flag, value()))
        return true
      case "--sticky-mcp":
        options.stickyMcpSessions = true
        return true
      case "--log-level":
        options.logLevel = value() ?? "info"
        return true
      default:
        return false
    }
  })
  if (options.store !== "postgres")
    throw new Error("--replicas needs --store postgres (the only shared store)")
  if (options.replicas < 2) throw new Error("--replicas needs 2 or more")
  return options
}

export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  let options: ReturnType<typeof parse>
  try {
    options = parse(argv)
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`)
    return 2
  }
  const result = await Replicas.soak({ ...options, log: (line) => process.stderr.write(`soak: ${line}\n`) })
  process.stdout.write(Replicas.report(result))
  return Replicas.verdicts(result).every(([ok]) => ok) ? 0 : 1
}
