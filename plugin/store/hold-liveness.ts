import { isProcessAlive, isSameProcessAlive, type ProcessIdentity } from './process-alive.ts'
import type { SqlRunner } from './sql.ts'

/** A hold of another host on a SQLite store, not renewed for this long, is ended. */
export const LEASE_MS = 5_000
/**
 * How long after a holder's database session (of another host) ends its hold is kept: the time
 * its runner guard takes to stop the steps it left running (SIGTERM, then SIGKILL).
 */
export const SESSION_END_GRACE_MS = 2_000

/** What liveness reads of a `resource_locks` row. */
export interface HoldRow {
  host: string | null
  pid: number | null
  pid_start: number | null
  keepers: string | null
  heartbeat_at: string
  session: string | null
}

/**
 * Whether the holder of a hold, or a waiter, can still use the resource (resource-locks.ts
 * says the rules): on this host by its processes (pid and start time, never a heartbeat), of
 * another host by its database session on PostgreSQL, by its lease on a SQLite store shared
 * across hosts (warned about once per host). `refresh` reads the connected sessions once per request.
 */
export class HoldLiveness {
  private readonly db: SqlRunner
  private readonly host: string
  /** This process's database session (PostgreSQL); null on SQLite. */
  private readonly session: string | null
  private readonly warn: (message: string) => void
  /** The sessions connected now, read once per request (PostgreSQL). */
  private sessions: Set<string> | undefined
  /** When this process first saw each ended session of another host (its grace runs from then). */
  private readonly endedSessions = new Map<string, number>()
  /** Hosts this SQLite store was found shared with (warned about once each). */
  private readonly warnedHosts = new Set<string>()

  constructor(db: SqlRunner, host: string, session: string | null, warn: (message: string) => void) {
    this.db = db
    this.host = host
    this.session = session
    this.warn = warn
  }

  /** Reads which database sessions are connected now (PostgreSQL); nothing on SQLite. */
  async refresh(db: SqlRunner = this.db): Promise<void> {
    if (this.session === null) return
    const rows = await db.all<{ pid: number }>('SELECT pid FROM pg_stat_activity')
    this.sessions = new Set(rows.map((row) => String(row.pid)))
  }

  /** Whether the last `refresh` knows the connected sessions (then a row's session is the truth). */
  judgesBySession(row: HoldRow): boolean {
    return Boolean(row.session && this.sessions)
  }

  /**
   * Whether a hold still lasts: on this host while its holder or a keeper lives (never by a
   * heartbeat); of another host, while its database session lasts (PostgreSQL) or, on a SQLite
   * store shared across hosts, while its lease is renewed.
   */
  holdLasts(row: HoldRow, now: Date): boolean {
    if (row.host === this.host) {
      const holder = row.pid === null ? [] : [{ pid: row.pid, startTime: row.pid_start ?? undefined }]
      return [...holder, ...keepersOf(row)].some(isSameProcessAlive)
    }
    if (row.session && this.sessions) {
      if (this.sessions.has(row.session)) return true
      const seen = this.endedSessions.get(row.session) ?? now.getTime()
      this.endedSessions.set(row.session, seen)
      return now.getTime() - seen < SESSION_END_GRACE_MS
    }
    this.warnSharedSqlite(row.host)
    return row.heartbeat_at >= new Date(now.getTime() - LEASE_MS).toISOString()
  }

  /** Whether a waiter is still there: its session (PostgreSQL), its process on this host. */
  waiterAlive(row: { host: string | null; pid: number | null; session?: string | null }): boolean {
    if (row.session && this.sessions && !this.sessions.has(row.session)) return false
    return row.host !== this.host || row.pid === null || isProcessAlive(row.pid)
  }

  private warnSharedSqlite(host: string | null): void {
    const name = host ?? '?'
    if (this.warnedHosts.has(name)) return
    this.warnedHosts.add(name)
    this.warn(
      `lab resource locks: this SQLite run store is shared with host ${name}, whose processes cannot be checked from here; its holds are leases of ${LEASE_MS / 1000} s, so a runner there that stalls longer loses its hold while it may still use the resource. Use a PostgreSQL store (RECIPES_DB=postgres://...) for resources shared across hosts.`,
    )
  }
}

/** The processes besides the asker whose life keeps a hold (the worker, its runner guard). */
export function keepersOf(row: { keepers: string | null }): ProcessIdentity[] {
  if (!row.keepers) return []
  try {
    return JSON.parse(row.keepers) as ProcessIdentity[]
  } catch {
    return []
  }
}
