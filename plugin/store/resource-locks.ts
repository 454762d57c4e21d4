import { hostname } from 'node:os'
import { HoldLiveness, keepersOf, LEASE_MS } from './hold-liveness.ts'
import { isSameProcessAlive, processStartTime } from './process-alive.ts'
import {
  type AcquireResult,
  type Holder,
  holderOf,
  type LockRequest,
  type LockRow,
  type LostHold,
  type Waiter,
} from './resource-lock-types.ts'
import type { SqlConnection } from './sql.ts'

/**
 * Lab resource locks in the run store: a run holds `dut:rack3-sw1` for as long as it needs
 * it, and every other run, shard or engineer sharing the store waits, queued in order of
 * arrival. A hold ends when its holder can no longer use the resource, never while it still can:
 *
 * - On the holder's own host, a hold lasts while any of its processes lives: the process that
 *   asked (pid and start time, so a reused pid is not taken for it), and its keepers (the
 *   process running the steps and its runner guard, which stops the steps' process trees when
 *   their runner dies). However long they stall (SIGSTOP, swapping), they keep the hold; once
 *   the last one is gone the next one who asks ends it, at that moment.
 * - On PostgreSQL, a holder on another host keeps its hold while its database session lasts
 *   (a killed process's connection closes), and a little longer for its guard to stop its steps.
 * - On a SQLite store shared with another host (a network file system), that host's processes
 *   cannot be seen: its holds are leases renewed every second, ended `LEASE_MS` after the last
 *   renewal. That is unsafe (a frozen holder loses its hold) and is warned about.
 *
 * Each hold has a generation (1, 2, 3... per resource), given to the steps that use it, so
 * equipment can refuse a holder whose hold has passed on (fencing). A holder learns that a
 * hold is gone or revoked (an operator freed it, its bound passed) with `check`, stops its
 * steps, and says when with `holderStopped`: `resource_holds` then records when the holder
 * really stopped using the resource. Every hold is kept in `resource_holds` with its interval:
 * the evidence that two runs never used one resource at the same time.
 */

export type { AcquireResult, Holder, LockRequest, LostHold, Waiter } from './resource-lock-types.ts'
export { LEASE_MS, SESSION_END_GRACE_MS } from './hold-liveness.ts'

export class ResourceLocks {
  private readonly db: SqlConnection
  private readonly host: string
  private readonly pid: number
  private readonly pidStart: number | null
  /** This process's database session (PostgreSQL); null on SQLite. */
  private readonly session: string | null
  private readonly liveness: HoldLiveness

  constructor(
    db: SqlConnection,
    session: string | null = null,
    options: { host?: string; pid?: number; warn?: (message: string) => void } = {},
  ) {
    this.db = db
    this.session = session
    this.host = options.host ?? hostname()
    this.pid = options.pid ?? process.pid
    this.pidStart = processStartTime(this.pid) ?? null
    const warn = options.warn ?? ((message: string) => console.warn(`vitest-recipes: ${message}`))
    this.liveness = new HoldLiveness(db, this.host, session, warn)
  }

  /**
   * Takes every resource of `request` at once, or none (no deadlock between two runs wanting
   * the same two); a resource the run already holds counts as taken. When one is held by
   * another run, or an earlier waiter is queued for it, the run is queued and told who holds.
   */
  tryAcquire(request: LockRequest, at_?: Date): AcquireResult {
    return this.db
      .transaction((): AcquireResult => {
        // The time is taken once the write lock is held: a hold never starts before the release it follows.
        const now = at_ ?? new Date()
        const at = now.toISOString()
        this.expire(now)
        const holders: Holder[] = []
        const wanted: string[] = []
        const generations: Record<string, number> = {}
        for (const resource of new Set(request.resources)) {
          const held = this.db.prepare('SELECT * FROM resource_locks WHERE resource = ?').get(resource) as
            | LockRow
            | undefined
          // Held by this run for the whole run, or already by this very step: taken. Another step of
          // this run holding it for itself is another user: this step waits for it like any run.
          if (held?.run_id === request.runId && (held.step === null || held.step === (request.step ?? null))) {
            generations[resource] = held.generation ?? 0
            continue
          }
          if (held) {
            holders.push(holderOf(held))
            continue
          }
          const earlier = this.db
            .prepare(
              `SELECT * FROM resource_waits WHERE resource = ? AND run_id != ? AND since < coalesce(
                 (SELECT since FROM resource_waits WHERE resource = ? AND run_id = ?), ?)
               AND run_id NOT IN (
                 SELECT w.run_id FROM resource_waits w JOIN resource_locks l ON l.resource = w.resource WHERE l.run_id = ?
               ) ORDER BY since LIMIT 1`,
            )
            // A waiter that waits for something this run holds cannot go first: it would wait for
            // this run to end while this run waits for it (a deadlock).
            .get(resource, request.runId, resource, request.runId, at, request.runId) as
            | (LockRow & { since: string })
            | undefined
          if (earlier) holders.push({ ...holderOf({ ...earlier, acquired_at: earlier.since }), queued: true })
          else wanted.push(resource)
        }
        if (holders.length > 0) return this.queue(request, holders, at)
        for (const resource of wanted) generations[resource] = this.hold(resource, request, at)
        this.db.prepare('DELETE FROM resource_waits WHERE run_id = ?').run(request.runId)
        return { acquired: true, generations }
      })
      .immediate()
  }

  /** Queues the run for every resource of `request`; who holds what it waits for. */
  private queue(request: LockRequest, holders: Holder[], at: string): AcquireResult {
    const wait = this.db.prepare(
      `INSERT INTO resource_waits (resource, run_id, test_id, step, host, pid, since, heartbeat_at, session)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (resource, run_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, step = excluded.step`,
    )
    for (const resource of request.resources)
      wait.run(resource, request.runId, request.testId, request.step ?? null, this.host, this.pid, at, at, this.session)
    const since = (
      this.db.prepare('SELECT min(since) AS since FROM resource_waits WHERE run_id = ?').get(request.runId) as {
        since: string
      }
    ).since
    return { acquired: false, holders, waitingSince: since }
  }

  /** Takes a free resource for the run: its row, and the start of its hold in the record. Returns its generation. */
  private hold(resource: string, request: LockRequest, at: string): number {
    const last = this.db
      .prepare('SELECT max(generation) AS generation FROM resource_holds WHERE resource = ?')
      .get(resource) as { generation: number | null }
    const generation = Number(last.generation ?? 0) + 1
    const step = request.step ?? null
    const keepers = request.keepers?.length ? JSON.stringify(request.keepers) : null
    const maxHoldMs = request.maxHoldMs ?? null
    this.db
      .prepare(
        `INSERT INTO resource_locks (resource, run_id, test_id, step, host, pid, pid_start, keepers, generation,
           max_hold_ms, acquired_at, heartbeat_at, session)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        resource,
        request.runId,
        request.testId,
        step,
        this.host,
        this.pid,
        this.pidStart,
        keepers,
        generation,
        maxHoldMs,
        at,
        at,
        this.session,
      )
    this.db
      .prepare(
        'INSERT INTO resource_holds (resource, run_id, test_id, step, host, acquired_at, generation, max_hold_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(resource, request.runId, request.testId, step, this.host, at, generation, maxHoldMs)
    return generation
  }

  /**
   * Releases what `runId` holds for `step` (undefined: everything the run holds, and its
   * place in the queues), and records when each hold ended.
   */
  release(runId: string, step?: string, now?: Date): void {
    this.db
      .transaction(() => {
        const at = (now ?? new Date()).toISOString()
        for (const row of this.rowsOf(runId, step))
          this.end(row, at, row.revoked ? `released: ${row.revoked}` : 'released')
        if (step === undefined) this.db.prepare('DELETE FROM resource_waits WHERE run_id = ?').run(runId)
      })
      .immediate()
  }

  /**
   * The process that asked for the run's holds is done with them (its recipe file ended, or
   * the process running it died): holds whose keepers are all gone end now; the others now
   * last as long as their keepers (a runner guard still stopping the steps' processes).
   */
  abandon(runId: string, now?: Date): void {
    this.db
      .transaction(() => {
        const at = (now ?? new Date()).toISOString()
        for (const row of this.rowsOf(runId)) {
          if (keepersOf(row).some(isSameProcessAlive))
            this.db
              .prepare('UPDATE resource_locks SET pid = NULL WHERE resource = ? AND run_id = ?')
              .run(row.resource, row.run_id)
          else this.end(row, at, 'released: its recipe file ended')
        }
        this.db.prepare('DELETE FROM resource_waits WHERE run_id = ?').run(runId)
      })
      .immediate()
  }

  private rowsOf(runId: string, step?: string): LockRow[] {
    return (
      step === undefined
        ? this.db.prepare('SELECT * FROM resource_locks WHERE run_id = ?').all(runId)
        : this.db.prepare('SELECT * FROM resource_locks WHERE run_id = ? AND step = ?').all(runId, step)
    ) as LockRow[]
  }

  /** Gives up waiting (the wait limit passed): the run leaves the queues. */
  stopWaiting(runId: string): void {
    this.db.prepare('DELETE FROM resource_waits WHERE run_id = ?').run(runId)
  }

  /** Renews the lease of every hold and wait of this process. */
  heartbeat(now?: Date): void {
    this.db
      .transaction(() => {
        const at = (now ?? new Date()).toISOString()
        this.db
          .prepare('UPDATE resource_locks SET heartbeat_at = ? WHERE host = ? AND pid = ?')
          .run(at, this.host, this.pid)
        this.db
          .prepare('UPDATE resource_waits SET heartbeat_at = ? WHERE host = ? AND pid = ?')
          .run(at, this.host, this.pid)
      })
      .immediate()
  }

  /** Whether this process holds or waits for anything (then it must keep the heartbeat going). */
  active(): boolean {
    const row = this.db
      .prepare(
        `SELECT (SELECT count(*) FROM resource_locks WHERE host = ? AND pid = ?) + (SELECT count(*) FROM resource_waits WHERE host = ? AND pid = ?) AS n`,
      )
      .get(this.host, this.pid, this.host, this.pid) as { n: number }
    return Number(row.n) > 0
  }

  /**
   * Which of the run's holds are lost: ended by someone else (a lease that ran out, an
   * operator's --force) or revoked (an operator's --release). The holder must stop using them.
   */
  check(runId: string, holds: readonly { resource: string; generation: number }[]): LostHold[] {
    const lost: LostHold[] = []
    for (const { resource, generation } of holds) {
      const row = this.db
        .prepare('SELECT * FROM resource_locks WHERE resource = ? AND run_id = ? AND generation = ?')
        .get(resource, runId, generation) as LockRow | undefined
      if (row && !row.revoked) continue
      if (row) {
        lost.push({ resource, generation, at: revokedAt(row.revoked!), reason: row.revoked! })
        continue
      }
      const ended = this.db
        .prepare('SELECT released_at, release FROM resource_holds WHERE resource = ? AND generation = ?')
        .get(resource, generation) as { released_at: string | null; release: string | null } | undefined
      const now = this.db.prepare('SELECT * FROM resource_locks WHERE resource = ?').get(resource) as
        | LockRow
        | undefined
      const next = now ? `; now held by run ${now.run_id} on host ${now.host ?? '?'} since ${now.acquired_at}` : ''
      lost.push({
        resource,
        generation,
        at: ended?.released_at ?? new Date().toISOString(),
        reason: `${ended?.release ?? 'its hold is gone from the store'}${next}`,
      })
    }
    return lost
  }

  /**
   * A holder that lost a hold stopped using the resource at `at` (its step's processes are
   * gone): the record's end of that hold becomes the later of the two, so an overlap shows.
   * `reason`: why, when the holder itself gave it up (its bound passed) and the store has none.
   */
  holderStopped(resource: string, generation: number, at: string, reason?: string): void {
    const revoked = this.db
      .prepare('SELECT revoked FROM resource_locks WHERE resource = ? AND generation = ?')
      .get(resource, generation) as { revoked: string | null } | undefined
    const why = revoked?.revoked ? `revoked: ${revoked.revoked}` : `lost: ${reason ?? 'its hold ended'}`
    this.db
      .prepare(
        `UPDATE resource_holds SET released_at = CASE WHEN released_at IS NULL OR released_at < ? THEN ? ELSE released_at END,
           release = coalesce(release, ?) || ?
         WHERE resource = ? AND generation = ?`,
      )
      .run(at, at, why, `; its holder stopped using it at ${at}`, resource, generation)
  }

  /**
   * An operator frees `resource` (`recipes locks --release`): its hold is revoked, and its
   * holder stops its step and releases it (within a second or so); `force` ends the hold now,
   * whatever the holder still does. Returns the hold, or undefined when it was not held.
   */
  revoke(resource: string, by: string, force = false, now = new Date()): Holder | undefined {
    return this.db
      .transaction(() => {
        const row = this.db.prepare('SELECT * FROM resource_locks WHERE resource = ?').get(resource) as
          | LockRow
          | undefined
        if (!row) return undefined
        const at = now.toISOString()
        const what = `freed by operator ${by} at ${at}${force ? ' (--force)' : ''}`
        if (force) this.end(row, at, `revoked: ${what}`)
        else
          this.db
            .prepare('UPDATE resource_locks SET revoked = ? WHERE resource = ? AND run_id = ?')
            .run(what, row.resource, row.run_id)
        return { ...holderOf(row), revoked: what }
      })
      .immediate()
  }

  /** Who holds what and who waits, as of `now` (holds whose holder is gone left out). */
  list(now = new Date()): { holders: Holder[]; waiters: Waiter[] } {
    this.liveness.refresh()
    const holders = (this.db.prepare('SELECT * FROM resource_locks ORDER BY resource').all() as LockRow[]).filter(
      (row) => this.liveness.holdLasts(row, now),
    )
    const fresh = new Date(now.getTime() - LEASE_MS).toISOString()
    const waiters = (
      this.db
        .prepare('SELECT * FROM resource_waits WHERE heartbeat_at >= ? ORDER BY resource, since')
        .all(fresh) as (LockRow & { since: string })[]
    ).filter((row) => this.liveness.waiterAlive(row))
    return {
      holders: holders.map(holderOf),
      waiters: waiters.map((row) => ({
        resource: row.resource,
        runId: row.run_id,
        testId: row.test_id,
        step: row.step,
        host: row.host,
        since: row.since,
      })),
    }
  }

  /** Ends holds whose holder can no longer use the resource, and drops waiters that are gone. */
  private expire(now: Date): void {
    this.liveness.refresh()
    for (const row of this.db.prepare('SELECT * FROM resource_locks').all() as LockRow[]) {
      if (this.liveness.holdLasts(row, now)) continue
      if (row.host === this.host)
        this.end(row, now.toISOString(), `expired: its holder's processes on ${row.host} are gone`)
      else if (this.liveness.judgesBySession(row))
        this.end(row, now.toISOString(), `expired: the database session of process ${row.pid} on ${row.host} ended`)
      else this.end(row, row.heartbeat_at, `expired: no heartbeat since ${row.heartbeat_at}`)
    }
    const stale = new Date(now.getTime() - LEASE_MS).toISOString()
    for (const row of this.db.prepare('SELECT * FROM resource_waits').all() as LockRow[]) {
      if (row.heartbeat_at < stale || !this.liveness.waiterAlive(row))
        this.db.prepare('DELETE FROM resource_waits WHERE resource = ? AND run_id = ?').run(row.resource, row.run_id)
    }
  }

  private end(row: LockRow, at: string, how: string): void {
    this.db.prepare('DELETE FROM resource_locks WHERE resource = ? AND run_id = ?').run(row.resource, row.run_id)
    this.db
      .prepare(
        'UPDATE resource_holds SET released_at = ?, release = ? WHERE resource = ? AND run_id = ? AND released_at IS NULL',
      )
      .run(at, how, row.resource, row.run_id)
  }
}

/** The time in a revocation's text (`... at <ISO time>`). */
function revokedAt(revoked: string): string {
  return /at (\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(revoked)?.[1] ?? new Date().toISOString()
}
