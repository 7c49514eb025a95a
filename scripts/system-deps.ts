/**
 * Makes sure the system programs the test suite drives are present: a real Secret
 * Service (gnome-keyring on a private D-Bus), Debian's Chromium, and the PostgreSQL,
 * HAProxy and Prometheus the store and observability tests start. As root (or
 * with password-less sudo) on Debian it installs what is missing; elsewhere it
 * prints the command to run once and fails.
 */
import { spawnSync } from "node:child_process"
import { accessSync, constants } from "node:fs"

const required = [
  { binary: "gnome-keyring-daemon", pkg: "gnome-keyring" },
  { binary: "dbus-daemon", pkg: "dbus-daemon" },
  { binary: "secret-tool", pkg: "libsecret-tools" },
  { binary: "chromium", pkg: "chromium" },
  { binary: "pg_ctlcluster", pkg: "postgresql" },
  { binary: "haproxy", pkg: "haproxy" },
  { binary: "prometheus", pkg: "prometheus" }
]

const onPath = (binary: string) =>
  // /usr/sbin too: HAProxy lives there, and a normal user's PATH may not have it.
  [...(process.env.PATH ?? "").split(":"), "/usr/sbin"].some((dir) => {
    try {
      accessSync(`${dir}/${binary}`, constants.X_OK)
      return true
    } catch {
      return false
    }
  })

const missing = required.filter(({ binary }) => !onPath(binary)).map(({ pkg }) => pkg)
if (missing.length > 0) {
  const command = `apt-get update && apt-get install -y ${missing.join(" ")}`
  // Root installs directly; a normal user only through sudo that needs no password
  // (a test run must never stop at a prompt).
  const asRoot = process.getuid?.() === 0
  const viaSudo = !asRoot && onPath("sudo") && spawnSync("sudo", ["-n", "true"]).status === 0
  if (!onPath("apt-get") || !(asRoot || viaSudo)) {
    console.error(`The tests need: ${missing.join(", ")}. Install them once with:\n  sudo sh -c '${command}'`)
    process.exit(1)
  }
  const run = (args: ReadonlyArray<string>) => {
    const [program, ...rest] = viaSudo
      ? ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", ...args]
      : args
    return spawnSync(program ?? "apt-get", rest, {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
    })
  }
  console.error(`Installing test prerequisites: ${missing.join(", ")}`)
  const updated = run(["apt-get", "update", "-qq"])
  if (updated.status !== 0) process.exit(updated.status ?? 1)
  const result = run(["apt-get", "install", "-y", "-qq", ...missing])
  if (result.status !== 0) process.exit(result.status ?? 1)
}
