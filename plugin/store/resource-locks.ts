import { hostname } from 'node:os'
import { isProcessAlive } from './process-alive.ts'
import type { SqlConnection } from './sql.ts'

/**
 * Lab resource locks in the run store (SQLite): a run holds `dut:rack3-sw1` for as long as
 * it needs it, and every other run, shard or engineer sharing the store waits. A hold is a
 * lease: the process holding it renews `heartbeat_at` every second; a hold whose heartbeat is
 * older than `LEASE_MS`, or whose process on this host is gone, is released by the next one
 * who asks (so a SIGKILLed holder frees its resources within seconds). Waiters are queued in
 * order of arrival, so a busy resource is not starved. Every hold is kept in
 * `resource_holds` with when it began and ended: the evidence that two runs never held one
 * resource at the same time. On PostgreSQL a hold also names the database session of its
 * holder: a holder on any machine whose session has ended (its process died, the connection
 * dropped) is released at the next request, without waiting for its lease.
 */

/** A hold not renewed for this long is released. */
export const LEASE_MS = 5_000

export interface LockRequest {
  resources: readonly string[]
  runId: string
  testId: string
  /** The step the hold is for; undefined: the whole run (recipe-level resources). */
  step?: string | undefined
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

export type AcquireResult = { acquired: true } | { acquired: false; holders: Holder[]; waitingSince: string }

interface LockRow {
  resource: string
  run_id: string
  test_id: string | null
  step: string | null
  host: string | null
  pid: number | null
  acquired_at: string
  heartbeat_at: string
  session: string | null
}

export class ResourceLocks {
  private readonly db: SqlConnection
  private readonly host = hostname()
  private readonly pid = process.pid
  /** This process's database session (PostgreSQL); null on SQLite. */
  private readonly session: string | null
  /** The sessions connected now, read once per request (PostgreSQL). */
  private sessions: Set<string> | undefined

  constructor(db: SqlConnection, session: string | null = null) {
    this.db = db
    this.session = session
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
        for (const resource of new Set(request.resources)) {
          const held = this.db.prepare('SELECT * FROM resource_locks WHERE resource = ?').get(resource) as
            | LockRow
            | undefined
          // Held by this run for the whole run, or already by this very step: taken. Another step of
          // this run holding it for itself is another user: this step waits for it like any run.
          if (held?.run_id === request.runId && (held.step === null || held.step === (request.step ?? null))) continue
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
        // A waiter's or holder's row: resource, who (run, test, step, host, pid), since, heartbeat, session.
        const rowOf = (resource: string) =>
          [
            resource,
            request.runId,
            request.testId,
            request.step ?? null,
            this.host,
            this.pid,
            at,
            at,
            this.session,
          ] as const
        if (holders.length > 0) {
          const wait = this.db.prepare(
            `INSERT INTO resource_waits (resource, run_id, test_id, step, host, pid, since, heartbeat_at, session)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (resource, run_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, step = excluded.step`,
          )
          for (const resource of request.resources) wait.run(...rowOf(resource))
          const since = (
            this.db.prepare('SELECT min(since) AS since FROM resource_waits WHERE run_id = ?').get(request.runId) as {
              since: string
            }
          ).since
          return { acquired: false, holders, waitingSince: since }
        }
        const lock = this.db.prepare(
          `INSERT INTO resource_locks (resource, run_id, test_id, step, host, pid, acquired_at, heartbeat_at, session)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        const hold = this.db.prepare(
          'INSERT INTO resource_holds (resource, run_id, test_id, step, host, acquired_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        for (const resource of wanted) {
          lock.run(...rowOf(resource))
          hold.run(resource, request.runId, request.testId, request.step ?? null, this.host, at)
        }
        this.db.prepare('DELETE FROM resource_waits WHERE run_id = ?').run(request.runId)
        return { acquired: true }
      })
      .immediate()
  }

  /**
   * Releases what `runId` holds for `step` (undefined: everything the run holds, and its
   * place in the queues), and records when each hold ended.
   */
  release(runId: string, step?: string, now?: Date): void {
    this.db
      .transaction(() => {
        const at = (now ?? new Date()).toISOString()
        const rows = (
          step === undefined
            ? this.db.prepare('SELECT * FROM resource_locks WHERE run_id = ?').all(runId)
            : this.db.prepare('SELECT * FROM resource_locks WHERE run_id = ? AND step = ?').all(runId, step)
        ) as LockRow[]
        for (const row of rows) this.end(row, at, 'released')
        if (step === undefined) this.db.prepare('DELETE FROM resource_waits WHERE run_id = ?').run(runId)
      })
      .immediate()
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
    return row.n > 0
  }

  /** Who holds what and who waits, as of `now` (expired leases left out). */
  list(now = new Date()): { holders: Holder[]; waiters: Waiter[] } {
    this.sessions = this.liveSessions()
    const fresh = new Date(now.getTime() - LEASE_MS).toISOString()
    const holders = (
      this.db.prepare('SELECT * FROM resource_locks WHERE heartbeat_at >= ? ORDER BY resource').all(fresh) as LockRow[]
    ).filter((row) => this.alive(row))
    const waiters = (
      this.db
        .prepare('SELECT * FROM resource_waits WHERE heartbeat_at >= ? ORDER BY resource, since')
        .all(fresh) as (LockRow & { since: string })[]
    ).filter((row) => this.alive(row))
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

  /** Releases holds whose lease ran out or whose process on this host is gone, and drops such waiters. */
  private expire(now: Date): void {
    this.sessions = this.liveSessions()
    const stale = new Date(now.getTime() - LEASE_MS).toISOString()
    for (const row of this.db.prepare('SELECT * FROM resource_locks').all() as LockRow[]) {
      if (row.heartbeat_at < stale) this.end(row, row.heartbeat_at, `expired: no heartbeat since ${row.heartbeat_at}`)
      else if (!this.alive(row))
        this.end(
          row,
          now.toISOString(),
          row.host === this.host
            ? `expired: process ${row.pid} on ${row.host} is gone`
            : `expired: the database session of process ${row.pid} on ${row.host} ended`,
        )
    }
    for (const row of this.db.prepare('SELECT * FROM resource_waits').all() as LockRow[]) {
      if (row.heartbeat_at < stale || !this.alive(row))
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

  /**
   * A process of this host that is gone holds nothing; on PostgreSQL, neither does one (of any
   * host) whose database session has ended; otherwise another host's is judged by its heartbeat.
   */
  private alive(row: { host: string | null; pid: number | null; session?: string | null }): boolean {
    if (row.session && this.sessions && !this.sessions.has(row.session)) return false
    return row.host !== this.host || row.pid === null || isProcessAlive(row.pid)
  }

  /** The database sessions connected now (PostgreSQL's server process ids); undefined on SQLite. */
  private liveSessions(): Set<string> | undefined {
    if (this.session === null) return undefined
    const rows = this.db.prepare('SELECT pid FROM pg_stat_activity').all() as { pid: number }[]
    return new Set(rows.map((row) => String(row.pid)))
  }
}

function holderOf(row: LockRow): Holder {
  return {
    resource: row.resource,
    runId: row.run_id,
    testId: row.test_id,
    step: row.step,
    host: row.host,
    pid: row.pid,
    since: row.acquired_at,
    heartbeatAt: row.heartbeat_at,
  }
}

/** Schema 5: the tables above. */
export const RESOURCE_LOCK_TABLES = `
  CREATE TABLE resource_locks (
    resource TEXT PRIMARY KEY, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT, pid INTEGER,
    acquired_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL
  );
  CREATE TABLE resource_waits (
    resource TEXT NOT NULL, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT, pid INTEGER,
    since TEXT NOT NULL, heartbeat_at TEXT NOT NULL, PRIMARY KEY (resource, run_id)
  );
  CREATE TABLE resource_holds (
    resource TEXT NOT NULL, run_id TEXT NOT NULL, test_id TEXT, step TEXT, host TEXT,
    acquired_at TEXT NOT NULL, released_at TEXT, release TEXT
  );
  CREATE INDEX resource_holds_by_resource ON resource_holds (resource, acquired_at);
`
