import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as ToolNames from "../src/ToolNames.ts"

const ref = (server: string, tool: string): ToolNames.ToolRef => ({ server, tool })

describe("ToolNames examples", () => {
  it("joins clean names with a double underscore", () => {
    const table = ToolNames.make([ref("notion", "search"), ref("linear", "create_issue")])
    assert.strictEqual(table.publicName("notion", "search"), "notion__search")
    assert.strictEqual(table.publicName("linear", "create_issue"), "linear__create_issue")
    assert.deepStrictEqual(table.resolve("notion__search"), ref("notion", "search"))
    assert.isUndefined(table.resolve("notion__missing"))
    assert.isUndefined(table.publicName("notion", "missing"))
  })

  it("replaces characters OpenAI refuses with underscores", () => {
    const table = ToolNames.make([ref("my server", "do.it"), ref("日本", "検索🔎")])
    assert.strictEqual(table.publicName("my server", "do.it"), "my_server__do_it")
    // One `_` per code point: the emoji (a surrogate pair) is a single `_`.
    assert.strictEqual(table.publicName("日本", "検索🔎"), `${"__"}__${"___"}`)
    assert.deepStrictEqual(table.resolve("my_server__do_it"), ref("my server", "do.it"))
  })

  it("gives every member of a collision a hash suffix, whatever the order", () => {
    const a = ref("my server", "run")
    const b = ref("my.server", "run")
    const c = ref("my_server", "run")
    const table = ToolNames.make([c, a, b])
    const names = [a, b, c].map((r) => table.publicName(r.server, r.tool) ?? "")
    for (const name of names) assert.match(name, /^my_server__run_[0-9a-z]{8}$/)
    assert.strictEqual(new Set(names).size, 3)
    // Nobody keeps the plain name: it stops resolving rather than pointing elsewhere.
    assert.isUndefined(table.resolve("my_server__run"))
    assert.deepStrictEqual(ToolNames.make([a, b, c]).entries, table.entries)
  })

  it("treats `__` inside a part as data, not as a separator", () => {
    const table = ToolNames.make([ref("a__b", "c"), ref("a", "b__c")])
    const first = table.publicName("a__b", "c") ?? ""
    const second = table.publicName("a", "b__c") ?? ""
    assert.notStrictEqual(first, second)
    assert.deepStrictEqual(table.resolve(first), ref("a__b", "c"))
    assert.deepStrictEqual(table.resolve(second), ref("a", "b__c"))
  })

  it("never lets a hashed name take another pair's plain name", () => {
    const a = ref("my server", "run")
    const b = ref("my.server", "run")
    const hashed = ToolNames.make([a, b]).publicName(a.server, a.tool) ?? ""
    // A pair whose plain name is exactly that hashed name keeps it; `a` is re-hashed.
    const squatter = ref("my_server", hashed.slice("my_server__".length))
    const table = ToolNames.make([a, b, squatter])
    assert.strictEqual(table.publicName(squatter.server, squatter.tool), hashed)
    const moved = table.publicName(a.server, a.tool) ?? ""
    assert.notStrictEqual(moved, hashed)
    assert.match(moved, /^my_server__run_[0-9a-z]{8}$/)
    assert.deepStrictEqual(table.resolve(moved), a)
    assert.deepStrictEqual(table.resolve(hashed), squatter)
  })

  it("shortens long names, keeps the tool readable and adds a stable hash", () => {
    const server = "s".repeat(100)
    const tool = "query_the_database"
    const name = ToolNames.make([ref(server, tool)]).publicName(server, tool) ?? ""
    assert.isAtMost(name.length, 64)
    assert.match(name, /^s+__query_the_database_[0-9a-z]{8}$/)
    assert.strictEqual(ToolNames.make([ref("x", "y"), ref(server, tool)]).publicName(server, tool), name)
  })

  it("collapses duplicate pairs and keeps a sorted entry list", () => {
    const table = ToolNames.make([ref("b", "t"), ref("a", "t"), ref("b", "t"), ref("a", "s")])
    assert.deepStrictEqual(
      table.entries.map(([name]) => name),
      ["a__s", "a__t", "b__t"]
    )
  })

  it("handles an empty table", () => {
    const table = ToolNames.make([])
    assert.deepStrictEqual(table.entries, [])
    assert.isUndefined(table.resolve("a__b"))
  })
})

// Parts that stress the rules: `_` runs, separators, non-ASCII, very long, empty.
const part = fc.oneof(
  fc.constantFrom("", "_", "__", "a__b", "a", "A", "my server", "do.it", "日本語", "🔎", "x-y", "a_", "_a"),
  fc.string({ unit: fc.constantFrom("a", "b", "_", "-", ".", " ", "é", "検", "😀"), maxLength: 8 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: fc.constantFrom("a", "_", "b"), minLength: 60, maxLength: 140 })
)
const refs = fc.array(fc.record({ server: part, tool: part }), { maxLength: 25 })

describe("ToolNames properties", () => {
  const params = { seed: 20_260_728, numRuns: 600 }

  it("is a bijection onto OpenAI-safe names, independent of input order", () => {
    fc.assert(
      fc.property(refs, fc.integer(), (input, shuffleSeed) => {
        const table = ToolNames.make(input)
        const unique = new Set(input.map((r) => JSON.stringify([r.server, r.tool])))
        assert.strictEqual(table.entries.length, unique.size)

        const names = new Set<string>()
        for (const r of input) {
          const name = table.publicName(r.server, r.tool)
          assert.isDefined(name)
          if (name === undefined) return
          assert.match(name, ToolNames.pattern)
          assert.deepStrictEqual(table.resolve(name), { server: r.server, tool: r.tool })
          names.add(name)
        }
        assert.strictEqual(names.size, unique.size, "distinct pairs get distinct names")

        // A deterministic shuffle (and duplicates) must not change a single name.
        const shuffled = [...input, ...input.slice(0, 3)]
          .map((r, i) => ({ r, key: Math.imul(i + 1, shuffleSeed | 1) >>> 0 }))
          .sort((a, b) => a.key - b.key)
          .map(({ r }) => r)
        assert.deepStrictEqual(ToolNames.make(shuffled).entries, table.entries)
        assert.deepStrictEqual(ToolNames.make([...input].reverse()).entries, table.entries)
      }),
      params
    )
  })

  it("keeps the plain name for a lone pair that sanitises cleanly and fits", () => {
    const clean = fc.string({ unit: fc.constantFrom("a", "z", "0", "-", "_"), minLength: 1, maxLength: 30 })
    fc.assert(
      fc.property(clean, clean, (server, tool) => {
        assert.strictEqual(ToolNames.make([ref(server, tool)]).publicName(server, tool), `${server}__${tool}`)
      }),
      params
    )
  })
})
