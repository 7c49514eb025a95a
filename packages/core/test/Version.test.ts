import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { version } from "../src/Version.ts"

const packages = fileURLToPath(new URL("../..", import.meta.url))
const decodeManifest = Schema.decodeUnknownSync(
  Schema.fromJsonString(Schema.Struct({ name: Schema.String, version: Schema.String }))
)

describe("Version", () => {
  it("is the version of every package's manifest", async () => {
    const directories = await fs.readdir(packages, { withFileTypes: true })
    const manifests = []
    for (const entry of directories) {
      if (!entry.isDirectory() || entry.name === "testing") continue
      const text = await fs.readFile(path.join(packages, entry.name, "package.json"), "utf8").catch(() => "")
      if (text !== "") manifests.push(decodeManifest(text))
    }
    assert.isAtLeast(manifests.length, 6)
    for (const manifest of manifests) assert.strictEqual(manifest.version, version, manifest.name)
  })
})
