/**
 * Makes sure the system programs the test suite drives are present: a real Secret
 * Service (gnome-keyring on a private D-Bus) and Debian's Chromium. As root on
 * Debian it installs what is missing; elsewhere it prints the command and fails.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { accessSync, constants } from "node:fs"

const required = [
  { binary: "gnome-keyring-daemon", pkg: "gnome-keyring" },
  { binary: "dbus-daemon", pkg: "dbus-daemon" },
  { binary: "secret-tool", pkg: "libsecret-tools" },
  { binary: "chromium", pkg: "chromium" }
]

const onPath = (binary: string) =>
  (process.env.PATH ?? "").split(":").some((dir) => {
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
  const canInstall = process.getuid?.() === 0 && onPath("apt-get")
  if (!canInstall) {
    console.error(`The tests need: ${missing.join(", ")}. Install them with:\n  sudo ${command}`)
    process.exit(1)
  }
  console.error(`Installing test prerequisites: ${missing.join(", ")}`)
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" })
  const result = spawnSync("apt-get", ["install", "-y", "-qq", ...missing], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
