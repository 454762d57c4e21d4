import type { ProcessIdentity } from './process-alive.ts'

// The shapes of lab resource locks (resource-locks.ts): what is asked, who holds, what was lost, a row.

export interface LockRequest {
  resources: readonly string[]
  runId: string
  testId: string
  /** The step the hold is for; undefined: the whole run (recipe-level resources). */
  step?: string | undefined
  /**
   * Processes of this host whose life keeps the hold besides the one asking: the process
   * running the steps, and its runner guard (which outlives it until the steps' processes are dead).
   */
  keepers?: readonly ProcessIdentity[] | undefined
  /** How long the hold may last, in ms (the holder stops its step past it); shown by `recipes locks`. */
  maxHoldMs?: number | undefined
}

export interface Holder {
  resource: string
  runId: string
  testId: string | null
  step: string | null
  host: string | null
  pid: number | null
  since: string
  heartbeatAt: string
  /** The hold's number among the holds of its resource (1, 2, ...). */
  generation?: number | null
  /** Its bound, in ms, when it has one. */
  maxHoldMs?: number | null
  /** Set once an operator freed it: who and when; the holder is stopping. */
  revoked?: string | null
  /** Not holding yet: queued for the resource before the asking run. */
  queued?: boolean
}

export interface Waiter {
  resource: string
  runId: string
  testId: string | null
  step: string | null
  host: string | null
  since: string
}

export type AcquireResult =
  | { acquired: true; generations: Record<string, number> }
  | { acquired: false; holders: Holder[]; waitingSince: string }

/** A hold its holder has lost: it must stop using the resource. */
export interface LostHold {
  resource: string
  generation: number
  /** When it was lost (ended, or revoked). */
  at: string
  /** What happened, for the step's failure: `freed by operator alice@lab1 (recipes locks --release)`. */
  reason: string
}

export interface LockRow {
  resource: string
  run_id: string
  test_id: string | null
  step: string | null
  host: string | null
  pid: number | null
  pid_start: number | null
  keepers: string | null
  generation: number | null
  max_hold_ms: number | null
  revoked: string | null
  acquired_at: string
  heartbeat_at: string
  session: string | null
}

/** A row as callers see it: a hold, or a queued waiter (a resource_waits row has no hold facts). */
export function holderOf(row: LockRow): Holder {
  return {
    resource: row.resource,
    runId: row.run_id,
    testId: row.test_id,
    step: row.step,
    host: row.host,
    pid: row.pid === null ? null : Number(row.pid),
    since: row.acquired_at,
    heartbeatAt: row.heartbeat_at,
    // A hold's own facts; a queued waiter (a resource_waits row) has none.
    ...(row.generation == null ? {} : { generation: Number(row.generation) }),
    ...(row.max_hold_ms == null ? {} : { maxHoldMs: Number(row.max_hold_ms) }),
    ...(row.revoked == null ? {} : { revoked: row.revoked }),
  }
}
