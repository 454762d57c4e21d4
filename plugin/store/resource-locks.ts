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
import type { SqlConnection, SqlRunner } from './sql.ts'

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
  tryAcquire(request: LockRequest, at_?: Date): Promise<AcquireResult> {
    return this.db.transaction(
      async (tx): Promise<AcquireResult> => {
        // The time is taken once the write lock is held: a hold never starts before the release it follows.
        const now = at_ ?? new Date()
        const at = now.toISOString()
        await this.expire(tx, now)
        const holders: Holder[] = []
        const wanted: string[] = []
        const generations: Record<string, number> = {}
        for (const resource of new Set(request.resources)) {
          const held = await tx.get<LockRow>('SELECT * FROM resource_locks WHERE resource = ?', [resource])
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
          // A waiter that waits for something this run holds cannot go first: it would wait for
          // this run to end while this run waits for it (a deadlock).
          const earlier = await tx.get<LockRow & { since: string }>(
            `SELECT * FROM resource_waits WHERE resource = ? AND run_id != ? AND since < coalesce(
                 (SELECT since FROM resource_waits WHERE resource = ? AND run_id = ?), ?)
               AND run_id NOT IN (
                 SELECT w.run_id FROM resource_waits w JOIN resource_locks l ON l.resource = w.resource WHERE l.run_id = ?
               ) ORDER BY since LIMIT 1`,
            [resource, request.runId, resource, request.runId, at, request.runId],
          )
          if (earlier) holders.push({ ...holderOf({ ...earlier, acquired_at: earlier.since }), queued: true })
          else wanted.push(resource)
        }
        if (holders.length > 0) return this.queue(tx, request, holders, at)
        for (const resource of wanted) generations[resource] = await this.hold(tx, resource, request, at)
        await tx.run('DELETE FROM resource_waits WHERE run_id = ?', [request.runId])
        return { acquired: true, generations }
      },
      { immediate: true },
    )
  }

  /** Queues the run for every resource of `request`; who holds what it waits for. */
  private async queue(tx: SqlRunner, request: LockRequest, holders: Holder[], at: string): Promise<AcquireResult> {
    for (const resource of request.resources)
      await tx.run(
        `INSERT INTO resource_waits (resource, run_id, test_id, step, host, pid, since, heartbeat_at, session)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (resource, run_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, step = excluded.step`,
        [resource, request.runId, request.testId, request.step ?? null, this.host, this.pid, at, at, this.session],
      )
    const row = await tx.get<{ since: string }>('SELECT min(since) AS since FROM resource_waits WHERE run_id = ?', [
      request.runId,
    ])
    return { acquired: false, holders, waitingSince: row!.since }
  }

  /** Takes a free resource for the run: its row, and the start of its hold in the record. Returns its generation. */
  private async hold(tx: SqlRunner, resource: string, request: LockRequest, at: string): Promise<number> {
    const last = await tx.get<{ generation: number | null }>(
      'SELECT max(generation) AS generation FROM resource_holds WHERE resource = ?',
      [resource],
    )
    const generation = Number(last?.generation ?? 0) + 1
    const step = request.step ?? null
    const keepers = request.keepers?.length ? JSON.stringify(request.keepers) : null
    const maxHoldMs = request.maxHoldMs ?? null
    await tx.run(
      `INSERT INTO resource_locks (resource, run_id, test_id, step, host, pid, pid_start, keepers, generation,
         max_hold_ms, acquired_at, heartbeat_at, session)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
      ],
    )
    await tx.run(
      'INSERT INTO resource_holds (resource, run_id, test_id, step, host, acquired_at, generation, max_hold_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [resource, request.runId, request.testId, step, this.host, at, generation, maxHoldMs],
    )
    return generation
  }

  /**
   * Releases what `runId` holds for `step` (undefined: everything the run holds, and its
   * place in the queues), and records when each hold ended.
   */
  release(runId: string, step?: string, now?: Date): Promise<void> {
    return this.db.transaction(
      async (tx) => {
        const at = (now ?? new Date()).toISOString()
        for (const row of await this.rowsOf(tx, runId, step))
          await this.end(tx, row, at, row.revoked ? `released: ${row.revoked}` : 'released')
        if (step === undefined) await tx.run('DELETE FROM resource_waits WHERE run_id = ?', [runId])
      },
      { immediate: true },
    )
  }

  /**
   * The process that asked for the run's holds is done with them (its recipe file ended, or
   * the process running it died): holds whose keepers are all gone end now; the others now
   * last as long as their keepers (a runner guard still stopping the steps' processes).
   */
  abandon(runId: string, now?: Date): Promise<void> {
    return this.db.transaction(
      async (tx) => {
        const at = (now ?? new Date()).toISOString()
        for (const row of await this.rowsOf(tx, runId)) {
          if (keepersOf(row).some(isSameProcessAlive))
            await tx.run('UPDATE resource_locks SET pid = NULL WHERE resource = ? AND run_id = ?', [
              row.resource,
              row.run_id,
            ])
          else await this.end(tx, row, at, 'released: its recipe file ended')
        }
        await tx.run('DELETE FROM resource_waits WHERE run_id = ?', [runId])
      },
      { immediate: true },
    )
  }

  private rowsOf(tx: SqlRunner, runId: string, step?: string): Promise<LockRow[]> {
    return step === undefined
      ? tx.all<LockRow>('SELECT * FROM resource_locks WHERE run_id = ?', [runId])
      : tx.all<LockRow>('SELECT * FROM resource_locks WHERE run_id = ? AND step = ?', [runId, step])
  }

  /** Gives up waiting (the wait limit passed): the run leaves the queues. */
  async stopWaiting(runId: string): Promise<void> {
    await this.db.run('DELETE FROM resource_waits WHERE run_id = ?', [runId])
  }

  /** Renews the lease of every hold and wait of this process. */
  heartbeat(now?: Date): Promise<void> {
    return this.db.transaction(
      async (tx) => {
        const at = (now ?? new Date()).toISOString()
        await tx.run('UPDATE resource_locks SET heartbeat_at = ? WHERE host = ? AND pid = ?', [at, this.host, this.pid])
        await tx.run('UPDATE resource_waits SET heartbeat_at = ? WHERE host = ? AND pid = ?', [at, this.host, this.pid])
      },
      { immediate: true },
    )
  }

  /** Whether this process holds or waits for anything (then it must keep the heartbeat going). */
  async active(): Promise<boolean> {
    const row = await this.db.get<{ n: number }>(
      `SELECT (SELECT count(*) FROM resource_locks WHERE host = ? AND pid = ?) + (SELECT count(*) FROM resource_waits WHERE host = ? AND pid = ?) AS n`,
      [this.host, this.pid, this.host, this.pid],
    )
    return Number(row?.n ?? 0) > 0
  }

  /**
   * Which of the run's holds are lost: ended by someone else (a lease that ran out, an
   * operator's --force) or revoked (an operator's --release). The holder must stop using them.
   */
  async check(runId: string, holds: readonly { resource: string; generation: number }[]): Promise<LostHold[]> {
    const lost: LostHold[] = []
    for (const { resource, generation } of holds) {
      const row = await this.db.get<LockRow>(
        'SELECT * FROM resource_locks WHERE resource = ? AND run_id = ? AND generation = ?',
        [resource, runId, generation],
      )
      if (row && !row.revoked) continue
      if (row) {
        lost.push({ resource, generation, at: revokedAt(row.revoked!), reason: row.revoked! })
        continue
      }
      const ended = await this.db.get<{ released_at: string | null; release: string | null }>(
        'SELECT released_at, release FROM resource_holds WHERE resource = ? AND generation = ?',
        [resource, generation],
      )
      const now = await this.db.get<LockRow>('SELECT * FROM resource_locks WHERE resource = ?', [resource])
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
  async holderStopped(resource: string, generation: number, at: string, reason?: string): Promise<void> {
    const revoked = await this.db.get<{ revoked: string | null }>(
      'SELECT revoked FROM resource_locks WHERE resource = ? AND generation = ?',
      [resource, generation],
    )
    const why = revoked?.revoked ? `revoked: ${revoked.revoked}` : `lost: ${reason ?? 'its hold ended'}`
    await this.db.run(
      `UPDATE resource_holds SET released_at = CASE WHEN released_at IS NULL OR released_at < ? THEN ? ELSE released_at END,
         release = coalesce(release, ?) || ?
       WHERE resource = ? AND generation = ?`,
      [at, at, why, `; its holder stopped using it at ${at}`, resource, generation],
    )
  }

  /**
   * An operator frees `resource` (`recipes locks --release`): its hold is revoked, and its
   * holder stops its step and releases it (within a second or so); `force` ends the hold now,
   * whatever the holder still does. Returns the hold, or undefined when it was not held.
   */
  revoke(resource: string, by: string, force = false, now = new Date()): Promise<Holder | undefined> {
    return this.db.transaction(
      async (tx) => {
        const row = await tx.get<LockRow>('SELECT * FROM resource_locks WHERE resource = ?', [resource])
        if (!row) return undefined
        const at = now.toISOString()
        const what = `freed by operator ${by} at ${at}${force ? ' (--force)' : ''}`
        if (force) await this.end(tx, row, at, `revoked: ${what}`)
        else
          await tx.run('UPDATE resource_locks SET revoked = ? WHERE resource = ? AND run_id = ?', [
            what,
            row.resource,
            row.run_id,
          ])
        return { ...holderOf(row), revoked: what }
      },
      { immediate: true },
    )
  }

  /** Who holds what and who waits, as of `now` (holds whose holder is gone left out). */
  async list(now = new Date()): Promise<{ holders: Holder[]; waiters: Waiter[] }> {
    await this.liveness.refresh()
    const holders = (await this.db.all<LockRow>('SELECT * FROM resource_locks ORDER BY resource')).filter((row) =>
      this.liveness.holdLasts(row, now),
    )
    const fresh = new Date(now.getTime() - LEASE_MS).toISOString()
    const waiters = (
      await this.db.all<LockRow & { since: string }>(
        'SELECT * FROM resource_waits WHERE heartbeat_at >= ? ORDER BY resource, since',
        [fresh],
      )
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
  private async expire(tx: SqlRunner, now: Date): Promise<void> {
    await this.liveness.refresh(tx)
    for (const row of await tx.all<LockRow>('SELECT * FROM resource_locks')) {
      if (this.liveness.holdLasts(row, now)) continue
      if (row.host === this.host)
        await this.end(tx, row, now.toISOString(), `expired: its holder's processes on ${row.host} are gone`)
      else if (this.liveness.judgesBySession(row))
        await this.end(
          tx,
          row,
          now.toISOString(),
          `expired: the database session of process ${row.pid} on ${row.host} ended`,
        )
      else await this.end(tx, row, row.heartbeat_at, `expired: no heartbeat since ${row.heartbeat_at}`)
    }
    const stale = new Date(now.getTime() - LEASE_MS).toISOString()
    for (const row of await tx.all<LockRow>('SELECT * FROM resource_waits')) {
      if (row.heartbeat_at < stale || !this.liveness.waiterAlive(row))
        await tx.run('DELETE FROM resource_waits WHERE resource = ? AND run_id = ?', [row.resource, row.run_id])
    }
  }

  private async end(tx: SqlRunner, row: LockRow, at: string, how: string): Promise<void> {
    await tx.run('DELETE FROM resource_locks WHERE resource = ? AND run_id = ?', [row.resource, row.run_id])
    await tx.run(
      'UPDATE resource_holds SET released_at = ?, release = ? WHERE resource = ? AND run_id = ? AND released_at IS NULL',
      [at, how, row.resource, row.run_id],
    )
  }
}

/** The time in a revocation's text (`... at <ISO time>`). */
function revokedAt(revoked: string): string {
  return /at (\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(revoked)?.[1] ?? new Date().toISOString()
}
