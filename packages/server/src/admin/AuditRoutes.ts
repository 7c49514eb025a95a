/**
 * `GET /admin/api/audit` (docs/store.md#audit-log): a page of the audit log,
 * newest first, continued with `before`.
 */
import { defaultLimit } from "@mcpgate/core/AuditLog"
import { Effect } from "effect"
import { AdminErrors } from "../api/AdminHttpApi.ts"
import type { AdminContextShape } from "./AdminContext.ts"

const maxLimit = 500

/** `GET audit?before&limit` → `{entries, next?}`; empty when the gateway keeps no log. */
export const list = (
  ctx: AdminContextShape,
  query: { readonly before?: number | undefined; readonly limit?: number | undefined }
) =>
  Effect.gen(function* () {
    const limit = query.limit ?? defaultLimit
    if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
      return yield* AdminErrors.invalidQuery.make(`"limit" must be a whole number from 1 to ${maxLimit}`)
    }
    if (query.before !== undefined && !Number.isInteger(query.before)) {
      return yield* AdminErrors.invalidQuery.make('"before" must be the "next" of a previous page')
    }
    if (ctx.auditLog === undefined) return { entries: [] }
    const page = yield* ctx.auditLog
      .list({ before: query.before, limit })
      .pipe(Effect.mapError((error) => AdminErrors.storeUnavailable.make(error.message)))
    return page.next === undefined ? { entries: page.entries } : { entries: page.entries, next: page.next }
  })
