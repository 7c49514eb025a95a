/**
 * What `GET /admin/api/activity` answers (./Activity.ts); types only, so the
 * web UI can import them without bundling server code.
 */

export interface ActivityPoint {
  /** The minute's start, ms since the epoch. */
  readonly at: number
  readonly calls: number
  readonly errors: number
  /** Seconds; `null` without calls. */
  readonly p50: number | null
  readonly p95: number | null
}

export interface ToolActivity {
  readonly server: string
  readonly tool: string
  readonly calls: number
  readonly errors: number
  readonly p50: number | null
  readonly p95: number | null
  readonly points: ReadonlyArray<ActivityPoint>
}

export interface ActivityReport {
  readonly windowMinutes: number
  readonly tools: ReadonlyArray<ToolActivity>
}
