/**
 * The parts of a V8 `.cpuprofile` (Node's `--cpu-prof`) the bench's profile readers
 * use: bench/support/ProfileSummary.ts and bench/profile-start.ts.
 */

export interface CallFrame {
  readonly functionName: string
  readonly url: string
  /** 0-based. */
  readonly lineNumber: number
}

export interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
  /** Self samples by source line (1-based). */
  readonly positionTicks?: ReadonlyArray<{ readonly line: number; readonly ticks: number }>
}

export interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  /** Microseconds, on the monotonic clock (as `process.hrtime`). */
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  /** Microseconds since the previous sample. */
  readonly timeDeltas: ReadonlyArray<number>
}
