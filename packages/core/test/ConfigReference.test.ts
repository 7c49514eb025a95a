/**
 * docs/configuration.md is generated from the declarations in src/Config.ts
 * (`pnpm run docs`); these tests fail when it is stale or misses a key.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { declarations } from "../src/Config.ts"
import { renderReference } from "../src/ConfigReference.ts"

const committed = path.join(import.meta.dirname, "..", "..", "..", "docs", "configuration.md")

describe("the configuration reference", () => {
  it.effect(
    "docs/configuration.md is what the declarations render (run `pnpm run docs` when this fails)",
    () =>
      Effect.gen(function* () {
        const text = yield* Effect.promise(() => fs.readFile(committed, "utf8"))
        assert.strictEqual(text, renderReference(), "docs/configuration.md is stale: run `pnpm run docs`")
      })
  )

  it("names every object, every key and every alias", () => {
    const reference = renderReference()
    for (const declaration of declarations) {
      if (declaration.path !== "") assert.include(reference, `## \`${declaration.path}\``)
      for (const [key, field] of Object.entries(declaration.fields)) {
        assert.include(reference, `| \`${key}\` |`, `${declaration.path}.${key}`)
        for (const alias of field.aliases ?? []) assert.include(reference, `\`${alias}\``)
      }
    }
  })
})
