import { hostname } from 'node:os'
import { isProcessAlive } from './process-alive.ts'
import type { SqlConnection } from './sql.ts'

/** A running run on a PostgreSQL store whose runner has not renewed its heartbeat for this long is interrupted. */
export const RUN_LEASE_MS = 60_000
/** How often a PostgreSQL store renews the heartbeat of the runs it records. */
const RUN_HEARTBEAT_MS = 5_000

/**
 * Whether the runs left `running` still have a runner. On this host by the recording process
 * (its pid in the run's metadata); on PostgreSQL also by the database session that recorded
 * the run (a killed process's session ends) and a heartbeat this store renews every 5 s for
 * the runs it records, so a runner on any machine that stops renewing it is interrupted.
 */
export class RunLiveness {
  private readonly db: SqlConnection
  /** The database session recording here (PostgreSQL's server process id); null on SQLite. */
  private readonly session: string | null
  /** Runs recorded through this store that have not finished: their heartbeat is renewed. */
  private readonly openRuns = new Set<string>()
  private timer: NodeJS.Timeout | undefined

  constructor(db: SqlConnection, session: string | null) {
    this.db = db
    this.session = session
  }

  /** On PostgreSQL, `runId` (recorded here) has its heartbeat renewed until it finishes. */
  keepAlive(runId: string): void {
    if (this.session === null) return
    this.openRuns.add(runId)
    this.timer ??= setInterval(() => {
      // The next step boundary says what is wrong with the store.
      this.heartbeat().catch(() => undefined)
    }, RUN_HEARTBEAT_MS).unref()
  }

  /** `runId` finished: its heartbeat is no longer renewed. */
  finished(runId: string): void {
    this.openRuns.delete(runId)
  }

  /** Renews the heartbeat of the runs this store records (and claims them for this session). */
  async heartbeat(now = new Date()): Promise<void> {
    if (this.session === null || this.openRuns.size === 0) return
    const runs = [...this.openRuns]
    await this.db.transaction(
      async (tx) => {
        for (const runId of runs)
          await tx.run("UPDATE runs SET heartbeat_at = ?, session = ? WHERE run_id = ? AND status = 'running'", [
            now.toISOString(),
            this.session,
            runId,
          ])
      },
      { immediate: true },
    )
  }

  /**
   * The runs left `running` by a process of this host that no longer exists (killed,
   * crashed); on PostgreSQL also those of any host whose recording session has ended or whose
   * heartbeat is older than RUN_LEASE_MS.
   */
  async abandonedRuns(now = new Date()): Promise<string[]> {
    const running = await this.db.all<{
      run_id: string
      metadata: string
      host: string | null
      session: string | null
      heartbeat_at: string | null
    }>("SELECT run_id, metadata, host, session, heartbeat_at FROM runs WHERE status = 'running'")
    if (running.length === 0) return []
    const sessions = this.session === null ? undefined : await liveSessions(this.db)
    const stale = new Date(now.getTime() - RUN_LEASE_MS).toISOString()
    const host = hostname()
    return running
      .filter((run) => {
        const pid = (JSON.parse(run.metadata ?? '{}') as { pid?: number }).pid
        return (
          (run.host === host && pid !== undefined && !isProcessAlive(pid)) ||
          (sessions !== undefined &&
            ((run.session !== null && !sessions.has(run.session)) ||
              (run.heartbeat_at !== null && run.heartbeat_at < stale)))
        )
      })
      .map((run) => run.run_id)
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}

/** The PostgreSQL sessions connected now (server process ids), to tell a live runner from a dead one. */
export async function liveSessions(db: Pick<SqlConnection, 'all'>): Promise<Set<string>> {
  const rows = await db.all<{ pid: number }>('SELECT pid FROM pg_stat_activity')
  return new Set(rows.map((row) => String(row.pid)))
}
