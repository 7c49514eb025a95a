import { assert, describe, it } from "@effect/vitest"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { base64Size, errorWithoutMessage, formatBytes, normalize } from "../src/ToolResult.ts"

const base64Of = (bytes: number) => Buffer.alloc(bytes, 7).toString("base64")

describe("ToolResult.normalize", () => {
  it("joins text contents with newlines and keeps isError false", () => {
    const result = normalize({
      content: [
        { type: "text", text: "one" },
        { type: "text", text: "two" }
      ]
    })
    assert.strictEqual(result.text, "one\ntwo")
    assert.isFalse(result.isError)
    assert.isUndefined(result.structuredContent)
  })

  it("keeps the server's own text on an error result", () => {
    const result = normalize({
      content: [{ type: "text", text: "quota exceeded for project x" }],
      isError: true
    })
    assert.isTrue(result.isError)
    assert.strictEqual(result.text, "quota exceeded for project x")
  })

  it("never says 'Error: None' or 'null' for an error without text", () => {
    for (const raw of [
      { content: [], isError: true },
      { content: [{ type: "text", text: "  " }], isError: true }
    ]) {
      const result = normalize(raw as CallToolResult)
      assert.strictEqual(result.text, errorWithoutMessage)
      assert.notInclude(result.text, "None")
      assert.notInclude(result.text, "null")
    }
  })

  it("keeps structured content, and uses its JSON when there is no text", () => {
    const withText = normalize({
      content: [{ type: "text", text: "sum is 3" }],
      structuredContent: { sum: 3 }
    })
    assert.strictEqual(withText.text, "sum is 3")
    assert.deepStrictEqual(withText.structuredContent, { sum: 3 })
    const alone = normalize({ content: [], structuredContent: { sum: 3, terms: [1, 2] } })
    assert.strictEqual(alone.text, '{"sum":3,"terms":[1,2]}')
    assert.deepStrictEqual(alone.structuredContent, { sum: 3, terms: [1, 2] })
  })

  it("summarises images and audio with their type and size", () => {
    const result = normalize({
      content: [
        { type: "text", text: "here:" },
        { type: "image", mimeType: "image/png", data: base64Of(12_595) },
        { type: "audio", mimeType: "audio/wav", data: base64Of(100) }
      ]
    })
    assert.strictEqual(result.text, "here:\n[image: image/png, 12.3 KB]\n[audio: audio/wav, 100 B]")
  })

  it("summarises embedded resources (text included) and resource links", () => {
    const result = normalize({
      content: [
        {
          type: "resource",
          resource: { uri: "file:///notes.txt", mimeType: "text/plain", text: "remember the milk" }
        },
        {
          type: "resource",
          resource: { uri: "file:///photo.bin", mimeType: "application/octet-stream", blob: base64Of(2048) }
        },
        { type: "resource_link", uri: "file:///report.pdf", name: "report", mimeType: "application/pdf" }
      ]
    })
    assert.strictEqual(
      result.text,
      [
        "[resource: file:///notes.txt, text/plain]",
        "remember the milk",
        "[resource: file:///photo.bin, application/octet-stream, 2.0 KB]",
        "[resource link: file:///report.pdf, application/pdf, name: report]"
      ].join("\n")
    )
  })

  it("keeps the raw result", () => {
    const raw: CallToolResult = { content: [{ type: "text", text: "x" }], _meta: { trace: "abc" } }
    assert.strictEqual(normalize(raw).raw, raw)
  })

  it("measures base64 without decoding and formats sizes", () => {
    assert.strictEqual(base64Size(base64Of(1)), 1)
    assert.strictEqual(base64Size(base64Of(2)), 2)
    assert.strictEqual(base64Size(base64Of(3)), 3)
    assert.strictEqual(formatBytes(1023), "1023 B")
    assert.strictEqual(formatBytes(1024), "1.0 KB")
    assert.strictEqual(formatBytes(5 * 1024 * 1024), "5.0 MB")
  })
})
