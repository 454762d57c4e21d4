import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'
import type { ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { locateStore, type StoreLocation } from './kept-store.ts'
import { PostgresConnection, PostgresError } from './postgres/bridge.ts'
import { migratePostgres } from './postgres/schema.ts'
import { postgresHostOf } from './postgres/url.ts'
import { type SqlConnection, type SqlStatement, type SqlTransaction, sqliteConnection } from './sql.ts'
import { RESOURCE_LOCK_FAULT_COLUMNS, RESOURCE_LOCK_TABLES } from './resource-lock-schema.ts'
import { ResourceLocks } from './resource-locks.ts'
import { isProcessAlive } from './process-alive.ts'
import { ingestJournals } from './ingest.ts'
import type { JournalRecord } from './journal.ts'
import { cleanLeftovers } from './leftovers.ts'
import {
  HISTORY_CHANGE_COLUMN,
  type HistoryColumns,
  HistoryRebuilder,
  type HistoryWrite,
  historyColumnsOf,
  historyWriteOf,
} from './history-delta.ts'
import { type PastRun, readPastRuns } from './past-runs.ts'
import {
  type AiSummary,
  type AnalysisRow,
  type ContextRow,
  type HistoryRow,
  type RunData,
  type RunRow,
  runWallMs,
  type StepRow,
  type TrendRun,
} from './run-data.ts'
import { type RunSelection, selectionOf } from './run-selection.ts'

/**
 * The SQLite run store: every run of a recipe, its steps and its context, durable at each
 * step boundary (one transaction per step, never one per ctx.set). WAL mode, so readers
 * never block the writer and two processes can write one database. Tables (stable; extra
 * columns may be added): runs, step_metrics, context_snapshots, context_history, analysis,
 * resource_locks, resource_waits, resource_holds (resource-locks.ts).
 */

/** The schema version this code writes; a database with a higher one is refused. */
export const SCHEMA_VERSION = 8

/** A running run on a PostgreSQL store whose runner has not renewed its heartbeat for this long is interrupted. */
export const RUN_LEASE_MS = 60_000
/** How often a PostgreSQL store renews the heartbeat of the runs it records. */
const RUN_HEARTBEAT_MS = 5_000

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE runs (
      run_id TEXT PRIMARY KEY, test_id TEXT, recipe TEXT NOT NULL, start_time TEXT NOT NULL, end_time TEXT,
      status TEXT NOT NULL, host TEXT, vitest_version TEXT, metadata TEXT
    );
    CREATE INDEX runs_by_recipe ON runs (recipe, start_time);
    CREATE INDEX runs_by_test ON runs (test_id, start_time);
    CREATE TABLE step_metrics (
      run_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER, status TEXT NOT NULL, duration_ms REAL, cpu_ms REAL,
      peak_rss_bytes INTEGER, exit_code INTEGER, attempts INTEGER, reason TEXT, log_path TEXT, seq INTEGER NOT NULL,
      PRIMARY KEY (run_id, step)
    );
    CREATE TABLE context_snapshots (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, who TEXT, ts TEXT, PRIMARY KEY (run_id, key));
    CREATE TABLE context_history (
      run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, who TEXT, ts TEXT, before TEXT, after TEXT,
      step TEXT, step_seq INTEGER, PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE analysis (run_id TEXT PRIMARY KEY, summary_text TEXT, metrics TEXT);
  `,
  // What the reports show per step: the args it was called with (secrets redacted) and its envelope.
  2: `
    ALTER TABLE step_metrics ADD COLUMN params TEXT;
    ALTER TABLE step_metrics ADD COLUMN envelope TEXT;
  `,
  // Each attempt of a retried step: its status, reason and duration (JSON array).
  3: `
    ALTER TABLE step_metrics ADD COLUMN attempt_log TEXT;
  `,
  // The optional AI summary beside the heuristic analysis: its text, and how it was asked for (JSON).
  4: `
    ALTER TABLE analysis ADD COLUMN ai_summary TEXT;
    ALTER TABLE analysis ADD COLUMN ai_details TEXT;
  `,
  // Lab resource locks: who holds what, who waits, and every hold with its interval.
  5: RESOURCE_LOCK_TABLES,
  // Runs and locks across machines (the PostgreSQL store): the recording session and its heartbeat.
  6: `
    ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
    ALTER TABLE runs ADD COLUMN session TEXT;
    ALTER TABLE resource_locks ADD COLUMN session TEXT;
    ALTER TABLE resource_waits ADD COLUMN session TEXT;
  `,
  // Lab resources under faults: who keeps a hold alive, its generation, its bound, an operator's revocation.
  7: RESOURCE_LOCK_FAULT_COLUMNS,
  // History that grows with what changed (history-delta.ts): a write's patch against the key's previous value.
  8: HISTORY_CHANGE_COLUMN,
}

/**
 * `blocked`: no step failed, but a step could not run because a step it needs was skipped
 * without leaving its outputs (`recipes run --skip`); `interrupted`: the process died.
 */
export type RunStatus = 'running' | 'passed' | 'failed' | 'blocked' | 'interrupted'

export interface RunStart {
  runId: string
  testId: string
  recipe: string
  startTime: string
  vitestVersion: string
  metadata: JsonObject
}

/** A step as the runtime records it at its boundary; params, envelope and attempts are absent for rows of older callers. */
export type StepRecord = Omit<StepRow, 'params' | 'envelope' | 'attemptLog'> & {
  params?: StepRow['params']
  envelope?: StepRow['envelope']
  attemptLog?: StepRow['attemptLog']
}

/**
 * What a running recipe file records its run into: the store itself, or the run's journal
 * (journal.ts) when the Vitest process keeps the store and ingests it.
 */
export interface RunRecorder {
  beginRun(run: RunStart): void
  recordStep(
    runId: string,
    step: StepRecord,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void
  /**
   * Writes made outside any step (the context API: another process or host): their history,
   * attributed to their writer, and the current values of the keys they changed.
   */
  recordWrites(
    runId: string,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void
  finishRun(runId: string, status: RunStatus, endTime?: string): void
  close(): void
}

/**
 * A ctx write as a recorder takes it: what changed (history-delta.ts), or a write with its whole
 * before and after, kept as its value.
 */
export type RecordedWrite = HistoryWrite | ContextWrite

/** One step boundary, serialized and ready for its transaction. */
interface StepBoundary {
  runId: string
  /** The step's row; none for writes made outside any step. */
  row: unknown[] | undefined
  history: unknown[][]
  snapshot: { key: string; value: string | undefined; who?: string | null; ts?: string | null }[]
}

/** A store that cannot be used: corrupt, written by a newer version, not writable. */
export class StoreError extends Error {
  override name = 'StoreError'
}

export class RunStore implements RunRecorder {
  /** The store's path as shown to users (relative to the project root). */
  readonly path: string
  /** The store's absolute path. */
  readonly file: string
  private readonly db: SqlConnection
  /** The database session recording here (PostgreSQL's server process id); null on SQLite. */
  private readonly session: string | null
  /** Runs recorded through this store that have not finished: their heartbeat is renewed. */
  private readonly openRuns = new Set<string>()
  private heartbeatTimer: NodeJS.Timeout | undefined
  private readonly stepSeq = new Map<string, number>()
  private readonly historySeq = new Map<string, number>()
  private readonly prepared = new Map<string, SqlStatement>()
  private recordTransaction: SqlTransaction<[input: StepBoundary], void> | undefined

  private constructor(file: string, path: string, db: SqlConnection, session: string | null = null) {
    this.file = file
    this.path = path
    this.db = db
    this.session = session
  }

  /** Which database this store is in. */
  get dialect(): SqlConnection['dialect'] {
    return this.db.dialect
  }

  private resourceLocks: ResourceLocks | undefined
  /** The lab resource locks kept in this store. */
  get locks(): ResourceLocks {
    this.resourceLocks ??= new ResourceLocks(this.db, this.session)
    return this.resourceLocks
  }

  /**
   * Opens (creating and migrating as needed) the store at `path`, shown as `shown` in errors.
   * Nothing is written before the file has been read as a database: a damaged store throws a
   * StoreError and is left byte for byte as it was.
   */
  static open(path: string, shown = path): RunStore {
    let db: Database.Database | undefined
    try {
      checkWritable(path, shown)
      db = new Database(path, { timeout: 10_000 })
      // Reading the schema first: a damaged file fails here, before the journal mode or a migration writes to it.
      db.prepare('SELECT count(*) FROM sqlite_master').get()
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      const version = db.pragma('user_version', { simple: true }) as number
      if (version > SCHEMA_VERSION) {
        throw new StoreError(
          `${shown} has schema version ${version}, newer than this vitest-recipes understands (${SCHEMA_VERSION}): upgrade vitest-recipes, or point RECIPES_DB at another file`,
        )
      }
      if (version < SCHEMA_VERSION) {
        db.transaction(() => {
          // Read again under the write lock: another process (a `recipes ctx` while the run starts,
          // another shard) may have migrated the file meanwhile, and a migration runs once.
          const current = db!.pragma('user_version', { simple: true }) as number
          for (let next = current + 1; next <= SCHEMA_VERSION; next++) {
            db!.exec(MIGRATIONS[next]!)
            db!.pragma(`user_version = ${next}`)
          }
        }).immediate()
      }
      return RunStore.settled(new RunStore(resolve(path), shown, sqliteConnection(db)))
    } catch (error) {
      db?.close()
      throw storeError(error, `cannot open the run store ${shown}`, shown)
    }
  }

  /**
   * Opens (creating and migrating as needed) the PostgreSQL store at `url`, shown as `shown`
   * (no password); `local` is where this machine keeps the journals of the runs it records.
   * A host that cannot be reached or refuses the login is a StoreError naming the host.
   */
  static openPostgres(url: string, shown: string, local: string): RunStore {
    let db: PostgresConnection | undefined
    try {
      db = PostgresConnection.connect(url)
      const found = migratePostgres(db, SCHEMA_VERSION)
      if (found > SCHEMA_VERSION)
        throw new StoreError(
          `${shown} has schema version ${found}, newer than this vitest-recipes understands (${SCHEMA_VERSION}): upgrade vitest-recipes, or point RECIPES_DB at another database`,
        )
      return RunStore.settled(new RunStore(local, shown, db, String(db.session)))
    } catch (error) {
      db?.close()
      throw postgresError(error, `cannot open the run store ${shown}`, url)
    }
  }

  /**
   * A store just opened, with what killed runs left settled: their journals stored (ingest.ts)
   * and their other leftovers removed (leftovers.ts).
   */
  private static settled(store: RunStore): RunStore {
    ingestJournals(store)
    cleanLeftovers(store.file)
    return store
  }

  /** Opens the store `locateStore` found: an SQLite file, or a PostgreSQL database by its URL. */
  static openLocated(located: StoreLocation): RunStore {
    return located.url === undefined
      ? RunStore.open(located.path, located.shown)
      : RunStore.openPostgres(located.url, located.shown, located.path)
  }

  /**
   * Opens the store of the project at `root`: the environment variable RECIPES_DB, else `db`
   * (the plugin option), both relative to the root (or a postgres:// URL); errors show the
   * path relative to it, or the URL without its password.
   */
  static openIn(root: string, db: string): RunStore {
    return RunStore.openLocated(locateStore(root, db))
  }

  beginRun(run: RunStart): void {
    this.guard(() => this.insertRun(run, hostname(), process.pid, ''))
  }

  private insertRun(run: RunStart, host: string, pid: number, conflict: '' | 'ON CONFLICT (run_id) DO NOTHING'): void {
    this.db
      .prepare(
        `INSERT INTO runs (run_id, test_id, recipe, start_time, status, host, vitest_version, metadata, heartbeat_at, session)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ${conflict}`,
      )
      .run(
        run.runId,
        run.testId,
        run.recipe,
        run.startTime,
        'running',
        host,
        run.vitestVersion,
        JSON.stringify({ ...run.metadata, pid }),
        new Date().toISOString(),
        this.session,
      )
    this.keepAlive(run.runId)
  }

  /**
   * On PostgreSQL, the runs this store records have their heartbeat renewed (every 5 s, and
   * at each ingestion): a run whose runner stops renewing it, on any machine, is interrupted.
   */
  private keepAlive(runId: string): void {
    if (this.session === null) return
    this.openRuns.add(runId)
    this.heartbeatTimer ??= setInterval(() => {
      try {
        this.heartbeat()
      } catch {
        // The next step boundary says what is wrong with the store.
      }
    }, RUN_HEARTBEAT_MS).unref()
  }

  /** Renews the heartbeat of the runs this store records (and claims them for this session). */
  heartbeat(now = new Date()): void {
    if (this.session === null || this.openRuns.size === 0) return
    const update = this.db.prepare(
      "UPDATE runs SET heartbeat_at = ?, session = ? WHERE run_id = ? AND status = 'running'",
    )
    this.db
      .transaction(() => {
        for (const runId of this.openRuns) update.run(now.toISOString(), this.session, runId)
      })
      .immediate()
  }

  /**
   * One step boundary in one transaction: the step's row, its ctx writes (history, attributed
   * to the step) and the current values of the keys it changed (the run's final ctx so far).
   * Everything is serialized before the transaction starts: a value that cannot be stored
   * throws here and leaves the database as it was.
   */
  recordStep(
    runId: string,
    step: StepRecord,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void {
    const stepSeq = (this.stepSeq.get(runId) ?? 0) + 1
    const historySeq = this.historySeq.get(runId) ?? 0
    const boundary = boundaryOf(runId, step, writes, values, stepSeq, historySeq)
    this.guard(() => this.recordBoundary().immediate(boundary))
    this.stepSeq.set(runId, stepSeq)
    this.historySeq.set(runId, historySeq + writes.length)
  }

  /** Writes made outside any step, in one transaction; their history rows belong to no step. */
  recordWrites(
    runId: string,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void {
    const stepSeq = this.stepSeq.get(runId) ?? 0
    const historySeq = this.historySeq.get(runId) ?? 0
    const boundary = boundaryOf(runId, undefined, writes, values, stepSeq, historySeq)
    this.guard(() => this.recordBoundary().immediate(boundary))
    this.historySeq.set(runId, historySeq + writes.length)
  }

  /** Runs `work` in one transaction holding the write lock (ingest.ts stores a journal's new records so). */
  writeLocked(work: () => void): void {
    this.guard(() => this.db.transaction(work).immediate())
  }

  /** Stores one journal record of `runId` (ingest.ts); replaying one changes nothing. */
  storeJournalRecord(runId: string, record: JournalRecord): void {
    if (record.kind === 'begin') this.insertRun(record.run, record.host, record.pid, 'ON CONFLICT (run_id) DO NOTHING')
    else if (record.kind === 'finish') this.finishRun(runId, record.status, record.endTime)
    else {
      const values = record.values.map(({ key, value }): [string, JsonValue | undefined] => [key, value])
      const step = record.kind === 'step' ? record.step : undefined
      this.recordBoundary()(boundaryOf(runId, step, record.writes, values, record.seq, record.historySeq))
    }
  }

  /**
   * Marks a run interrupted, ended at its last ctx write (else now): a running one, or with
   * `evenIfEnded` one that ended too (its journal could not be stored whole).
   */
  interruptRun(runId: string, options: { evenIfEnded?: boolean } = {}): void {
    this.guard(() => {
      const row = this.db.prepare('SELECT status FROM runs WHERE run_id = ?').get(runId) as
        | { status: RunStatus }
        | undefined
      if (!row || (row.status !== 'running' && !options.evenIfEnded)) return
      const last = this.db.prepare('SELECT MAX(ts) AS ts FROM context_history WHERE run_id = ?').get(runId) as {
        ts: string | null
      }
      this.finishRun(runId, 'interrupted', last.ts ?? new Date().toISOString())
    })
  }

  /** The step boundary transaction, built once per store: it runs at every step boundary. */
  private recordBoundary(): SqlTransaction<[input: StepBoundary], void> {
    const db = this.db
    if (db instanceof PostgresConnection) {
      // One statement per boundary (atomic by itself): one round trip and one commit. Step
      // boundaries of different runs touch different rows, so they need not queue for the write lock.
      const record = (input: StepBoundary) => db.batch([oneStatement(combinedRows(boundaryStatements(input)))], false)
      this.recordTransaction ??= Object.assign(record, { immediate: record })
      return this.recordTransaction
    }
    // .immediate takes the write lock up front, so two processes never deadlock upgrading a read lock.
    this.recordTransaction ??= this.db.transaction((input: StepBoundary) => {
      for (const [sql, params] of boundaryStatements(input)) this.statement(sql).run(...params)
    })
    return this.recordTransaction
  }

  /** A statement of the step boundary, prepared once per store. */
  private statement(sql: string): SqlStatement {
    let statement = this.prepared.get(sql)
    if (!statement) {
      statement = this.db.prepare(sql)
      this.prepared.set(sql, statement)
    }
    return statement
  }

  finishRun(runId: string, status: RunStatus, endTime = new Date().toISOString()): void {
    this.guard(() => {
      this.db.prepare('UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?').run(status, endTime, runId)
    })
    this.openRuns.delete(runId)
  }

  /**
   * Marks the runs left `running` by a process of this host that no longer exists (killed,
   * crashed); on PostgreSQL also those of any host whose recording session has ended or whose
   * heartbeat is older than RUN_LEASE_MS. Returns their ids.
   */
  markInterrupted(now = new Date()): string[] {
    const running = this.db
      .prepare("SELECT run_id, metadata, host, session, heartbeat_at FROM runs WHERE status = 'running'")
      .all() as {
      run_id: string
      metadata: string
      host: string | null
      session: string | null
      heartbeat_at: string | null
    }[]
    const sessions = this.session === null ? undefined : this.liveSessions()
    const stale = new Date(now.getTime() - RUN_LEASE_MS).toISOString()
    const host = hostname()
    const marked: string[] = []
    for (const run of running) {
      const pid = (JSON.parse(run.metadata ?? '{}') as { pid?: number }).pid
      const gone =
        (run.host === host && pid !== undefined && !isProcessAlive(pid)) ||
        (sessions !== undefined &&
          ((run.session !== null && !sessions.has(run.session)) ||
            (run.heartbeat_at !== null && run.heartbeat_at < stale)))
      if (!gone) continue
      this.interruptRun(run.run_id)
      marked.push(run.run_id)
    }
    return marked
  }

  /** The PostgreSQL sessions connected now (server process ids), to tell a live runner from a dead one. */
  private liveSessions(): Set<string> {
    const rows = this.db.prepare('SELECT pid FROM pg_stat_activity').all() as { pid: number }[]
    return new Set(rows.map((row) => String(row.pid)))
  }

  /** The latest run of `recipe` other than `exceptRunId`. */
  lastRun(recipe: string, exceptRunId?: string): { runId: string; status: RunStatus } | undefined {
    return this.guard(() => {
      const row = this.db
        .prepare(
          `SELECT run_id AS "runId", status FROM runs WHERE recipe = ? AND run_id <> coalesce(?, '') ORDER BY start_time DESC, rowid DESC LIMIT 1`,
        )
        .get(recipe, exceptRunId ?? null) as { runId: string; status: RunStatus } | undefined
      return row
    })
  }

  /** The step's sequence number in a run, if it was recorded. */
  stepSequence(runId: string, step: string): number | undefined {
    return this.guard(() => {
      const row = this.db.prepare('SELECT seq FROM step_metrics WHERE run_id = ? AND step = ?').get(runId, step) as
        | { seq: number }
        | undefined
      return row?.seq
    })
  }

  /** The ctx writes of a run up to and including step boundary `stepSeq`, in order. */
  writesUpTo(
    runId: string,
    stepSeq: number,
  ): { step: string | null; key: string; value: JsonValue | undefined; who: string; ts: string }[] {
    return this.guard(() => {
      const rows = this.db
        .prepare(
          'SELECT seq, step, key, before, after, change, who, ts FROM context_history WHERE run_id = ? AND step_seq <= ? ORDER BY seq',
        )
        .all(runId, stepSeq) as (HistoryColumns & { seq: number; step: string | null; who: string; ts: string })[]
      // A write that deleted its key has no value (SQL NULL; JSON null is the text "null").
      const rebuilder = new HistoryRebuilder()
      return rows.map((row) => ({
        step: row.step,
        key: row.key,
        value: rebuilder.next(row).after,
        who: row.who,
        ts: row.ts,
      }))
    })
  }

  /** The test ids and recipes the store has runs of, the most recently run first: what a user can ask history for. */
  recordedTests(limit = 200): { testId: string; recipe: string }[] {
    return this.guard(
      () =>
        this.db
          .prepare(
            'SELECT test_id AS "testId", recipe FROM runs GROUP BY test_id, recipe ORDER BY MAX(start_time) DESC LIMIT ?',
          )
          .all(limit) as { testId: string; recipe: string }[],
    )
  }

  /** Recent runs of a test id (or recipe), newest first, with their steps. */
  history(testIdOrRecipe: string, limit: number): HistoryRun[] {
    return this.guard(() => {
      const runs = this.db
        .prepare(
          'SELECT run_id AS "runId", test_id AS "testId", recipe, start_time AS "startTime", end_time AS "endTime", status, metadata FROM runs WHERE test_id = ? OR recipe = ? ORDER BY start_time DESC, rowid DESC LIMIT ?',
        )
        .all(testIdOrRecipe, testIdOrRecipe, limit) as (Omit<HistoryRun, 'steps' | 'selection'> & {
        metadata: string | null
      })[]
      const steps = this.db.prepare(
        'SELECT step, idx, status, duration_ms AS "durationMs" FROM step_metrics WHERE run_id = ? ORDER BY idx, seq',
      )
      return runs.map(({ metadata, ...run }) => {
        const selection = selectionOf(parseObject(metadata))
        return { ...run, ...(selection ? { selection } : {}), steps: steps.all(run.runId) as HistoryRun['steps'] }
      })
    })
  }

  /**
   * The last `limit` finished runs of `testId` up to and including `runId` (counted even while
   * it runs), oldest first, with each step's duration, status and numeric metrics: what the
   * trend charts of a run draw. Reads the runs through runs_by_test and each run's steps
   * through step_metrics' key; a run id the store does not hold gives no runs.
   */
  trend(testId: string, runId: string, limit: number): TrendRun[] {
    return this.guard(() => readPastRuns(this.db, { runId, testId, recipe: '' }, limit, true).reverse())
  }

  /** Runs, newest first, that match every filter given (the dashboard's list), with step counts and total duration. */
  listRuns(filter: RunFilter = {}, limit = 200): RunSummary[] {
    const where: string[] = []
    const params: unknown[] = []
    const add = (condition: string, value: string | undefined) => {
      if (!value) return
      where.push(condition)
      params.push(value)
    }
    add('test_id = ?', filter.testId)
    add('status = ?', filter.status)
    if (this.db.dialect === 'postgres') {
      add("(metadata::jsonb #>> '{test_meta,tester}') = ?", filter.tester)
      add(
        `jsonb_typeof(metadata::jsonb #> '{test_meta,tags}') = 'array'
         AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(metadata::jsonb #> '{test_meta,tags}') AS tag WHERE tag = ?)`,
        filter.tag,
      )
    } else {
      add("json_extract(metadata, '$.test_meta.tester') = ?", filter.tester)
      add("EXISTS (SELECT 1 FROM json_each(metadata, '$.test_meta.tags') WHERE json_each.value = ?)", filter.tag)
    }
    add('start_time >= ?', filter.from)
    add('start_time < ?', filter.to)
    return this.guard(() => {
      const rows = this.db
        .prepare(
          `SELECT run_id AS "runId", test_id AS "testId", recipe, start_time AS "startTime", end_time AS "endTime", status, host, metadata,
                  (SELECT COUNT(*) FROM step_metrics s WHERE s.run_id = runs.run_id) AS steps,
                  (SELECT COUNT(*) FROM step_metrics s WHERE s.run_id = runs.run_id AND s.status = 'failed') AS failed,
                  (SELECT COALESCE(SUM(duration_ms), 0) FROM step_metrics s WHERE s.run_id = runs.run_id) AS "stepsMs"
           FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY start_time DESC, rowid DESC LIMIT ?`,
        )
        .all(...params, limit) as (Omit<RunSummary, 'tester' | 'tags' | 'durationMs' | 'selection'> & {
        metadata: string | null
      })[]
      return rows.map(({ metadata, ...row }) => {
        const parsed = parseObject(metadata)
        const meta = (parsed?.test_meta ?? {}) as { tester?: unknown; tags?: unknown }
        const selection = selectionOf(parsed)
        return {
          ...row,
          durationMs: runWallMs(row) ?? null,
          ...(selection ? { selection } : {}),
          tester: typeof meta.tester === 'string' ? meta.tester : null,
          tags: Array.isArray(meta.tags) ? meta.tags.filter((tag): tag is string => typeof tag === 'string') : [],
        }
      })
    })
  }

  /**
   * Changes whenever a run, step, ctx write, analysis or run status is stored: watchers compare
   * it to know when to look again. Cheap (no table is read), so a dashboard can ask it often:
   * on SQLite the commits of other connections (data_version) and the rows this one changed;
   * on PostgreSQL the rows written to the run tables, from the server's statistics (which
   * other sessions publish within about a second).
   */
  changeMark(): string {
    return this.guard(() => {
      if (this.db.dialect === 'postgres') {
        const row = this.statement(
          `SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_user_tables
           WHERE relname IN ('runs', 'step_metrics', 'context_history', 'analysis')`,
        ).get() as { n: number | string }
        return String(row.n)
      }
      const others = this.statement('PRAGMA data_version').get() as { data_version: number }
      const own = this.statement('SELECT total_changes() AS n').get() as { n: number }
      return `${others.data_version}:${own.n}`
    })
  }

  /** Stores (or replaces) the analysis of a run: a summary sentence block, its metrics and the AI summary when one was asked for. */
  recordAnalysis(runId: string, analysis: AnalysisRow): void {
    this.guard(() => {
      const { ai } = analysis
      this.db
        .prepare(upsert('analysis', ['run_id'], ['summary_text', 'metrics', 'ai_summary', 'ai_details']))
        .run(
          runId,
          analysis.summaryText,
          JSON.stringify(analysis.metrics),
          ai?.text ?? null,
          ai ? JSON.stringify({ ...ai, text: undefined }) : null,
        )
    })
  }

  /**
   * The earlier finished runs of a test_id (or of a recipe without one), newest first, with
   * each step's figures: the baseline the heuristic analysis compares a run with.
   */
  pastRuns(run: Pick<RunRow, 'runId' | 'testId' | 'recipe'>, limit: number): PastRun[] {
    return this.guard(() => readPastRuns(this.db, run, limit))
  }

  hasRun(runId: string): boolean {
    return this.guard(() => {
      return this.db.prepare('SELECT 1 FROM runs WHERE run_id = ?').get(runId) !== undefined
    })
  }

  /**
   * The run id a user means: `last` (the newest run, of `recipe` when given), an exact id, or
   * an unambiguous prefix of one. A sentence saying what is wrong when there is none.
   */
  findRun(wanted: string, recipe?: string): { runId: string } | { error: string } {
    return this.guard(() => {
      if (wanted === 'last') {
        const row = (
          recipe === undefined
            ? this.db.prepare('SELECT run_id FROM runs ORDER BY start_time DESC, rowid DESC LIMIT 1').get()
            : this.db
                .prepare('SELECT run_id FROM runs WHERE recipe = ? ORDER BY start_time DESC, rowid DESC LIMIT 1')
                .get(recipe)
        ) as { run_id: string } | undefined
        return row
          ? { runId: row.run_id }
          : {
              error: `${this.path} holds no runs${recipe === undefined ? '' : ` of ${recipe}`} yet: run a recipe first (npx vitest run recipes/)`,
            }
      }
      const rows = this.db
        .prepare(
          "SELECT run_id FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' ORDER BY start_time DESC LIMIT 6",
        )
        .all(wanted, `${wanted.replace(/[\\%_]/g, '\\$&')}%`) as { run_id: string }[]
      const exact = rows.find((row) => row.run_id === wanted)
      if (exact) return { runId: exact.run_id }
      if (rows.length === 1) return { runId: rows[0]!.run_id }
      if (rows.length === 0)
        return { error: `no run "${wanted}" in ${this.path}: \`recipes history <test_id>\` lists recent runs` }
      return {
        error: `"${wanted}" matches several runs (${rows
          .slice(0, 5)
          .map((row) => row.run_id)
          .join(', ')}${rows.length > 5 ? ', …' : ''}): give more of the id`,
      }
    })
  }

  /** Everything stored about one run, for the exporters; the ctx history is read lazily. */
  readRun(runId: string): RunData | undefined {
    return this.guard(() => {
      const run = this.db
        .prepare(
          'SELECT run_id AS "runId", test_id AS "testId", recipe, start_time AS "startTime", end_time AS "endTime", status, host, vitest_version AS "vitestVersion", metadata FROM runs WHERE run_id = ?',
        )
        .get(runId) as (Omit<RunRow, 'metadata'> & { metadata: string | null }) | undefined
      if (!run) return undefined
      const steps = (
        this.db
          .prepare(
            `SELECT step, idx, status, duration_ms AS "durationMs", cpu_ms AS "cpuMs", peak_rss_bytes AS "peakRssBytes", exit_code AS "exitCode", attempts, reason,
                    log_path AS "logPath", params, envelope, attempt_log AS "attemptLog"
             FROM step_metrics WHERE run_id = ? ORDER BY idx, seq`,
          )
          .all(runId) as (Omit<StepRow, 'params' | 'envelope' | 'attemptLog'> & {
          params: string | null
          envelope: string | null
          attemptLog: string | null
        })[]
      ).map((row) => ({
        ...row,
        attemptLog: row.attemptLog === null ? [] : (JSON.parse(row.attemptLog) as StepRow['attemptLog']),
        durationMs: row.durationMs ?? 0,
        cpuMs: row.cpuMs ?? 0,
        attempts: row.attempts ?? 1,
        params: row.params === null ? {} : (JSON.parse(row.params) as JsonObject | JsonValue[]),
        envelope: parseObject(row.envelope) ?? null,
      }))
      const context = (
        this.db
          .prepare('SELECT key, value, who, ts FROM context_snapshots WHERE run_id = ? ORDER BY key')
          .all(runId) as {
          key: string
          value: string
          who: string | null
          ts: string | null
        }[]
      ).map((row): ContextRow => ({ ...row, value: JSON.parse(row.value) as JsonValue }))
      const count = (
        this.db.prepare('SELECT COUNT(*) AS n FROM context_history WHERE run_id = ?').get(runId) as { n: number }
      ).n
      const historyRows = this.db.prepare(
        'SELECT seq, key, who, ts, step, before, after, change FROM context_history WHERE run_id = ? ORDER BY seq',
      )
      const analysis = this.db
        .prepare(
          'SELECT summary_text AS "summaryText", metrics, ai_summary AS "aiSummary", ai_details AS "aiDetails" FROM analysis WHERE run_id = ?',
        )
        .get(runId) as
        | { summaryText: string; metrics: string | null; aiSummary: string | null; aiDetails: string | null }
        | undefined
      return {
        run: { ...run, metadata: parseObject(run.metadata) ?? {} },
        steps,
        context,
        history: {
          count,
          *rows(): Iterable<HistoryRow> {
            // Each value rebuilt from the rows before it: a row keeps what its write changed.
            const rebuilder = new HistoryRebuilder()
            for (const row of historyRows.iterate(runId) as Iterable<
              HistoryColumns & { seq: number; who: string | null; ts: string | null; step: string | null }
            >) {
              const { change: _change, ...fields } = row
              yield { ...fields, ...rebuilder.next(row) }
            }
          },
        },
        analysis: analysis ? analysisRowOf(analysis) : undefined,
      }
    })
  }

  close(): void {
    clearInterval(this.heartbeatTimer)
    this.heartbeatTimer = undefined
    this.db.close()
  }

  /** Runs a query; the database's failures become a StoreError that names the store and says what to do. */
  private guard<T>(query: () => T): T {
    try {
      return query()
    } catch (error) {
      if (error instanceof PostgresError) throw postgresError(error, `the run store ${this.path} failed`, undefined)
      throw isSqliteError(error) ? storeError(error, `the run store ${this.path} failed`, this.path) : error
    }
  }
}

/** The statements of a step boundary. */
const BOUNDARY_SQL = {
  insertStep: upsert(
    'step_metrics',
    ['run_id', 'step'],
    [
      'idx',
      'status',
      'duration_ms',
      'cpu_ms',
      'peak_rss_bytes',
      'exit_code',
      'attempts',
      'reason',
      'log_path',
      'seq',
      'params',
      'envelope',
      'attempt_log',
    ],
  ),
  insertHistory: upsert(
    'context_history',
    ['run_id', 'seq'],
    ['key', 'who', 'ts', 'before', 'after', 'change', 'step', 'step_seq'],
  ),
  upsertValue: upsert('context_snapshots', ['run_id', 'key'], ['value', 'who', 'ts']),
  deleteValue: 'DELETE FROM context_snapshots WHERE run_id = ? AND key = ?',
}

/** A step boundary as statements, in the order the SQLite transaction runs them. */
function boundaryStatements(input: StepBoundary): [string, unknown[]][] {
  const statements: [string, unknown[]][] = []
  if (input.row) statements.push([BOUNDARY_SQL.insertStep, input.row])
  for (const entry of input.history) statements.push([BOUNDARY_SQL.insertHistory, entry])
  for (const entry of input.snapshot) {
    if (entry.value === undefined) statements.push([BOUNDARY_SQL.deleteValue, [input.runId, entry.key]])
    else statements.push([BOUNDARY_SQL.upsertValue, [input.runId, entry.key, entry.value, entry.who, entry.ts]])
  }
  return statements
}

/** Rows per combined INSERT: well below PostgreSQL's 65,535 parameters for the widest row (15). */
const ROWS_PER_INSERT = 500

/**
 * Consecutive single-row INSERTs of one statement as multi-row ones (`VALUES (…), (…)`): a
 * step boundary with 50 ctx writes is then 3 statements on the server, not 101. Rows of one
 * boundary never share a key, which a multi-row upsert requires.
 */
export function combinedRows(statements: readonly [string, unknown[]][]): [string, unknown[]][] {
  const combined: [string, unknown[]][] = []
  let index = 0
  while (index < statements.length) {
    const [sql, params] = statements[index]!
    const tuple = /VALUES (\([?, ]+\))/.exec(sql)
    let end = index + 1
    while (tuple && end < statements.length && end - index < ROWS_PER_INSERT && statements[end]![0] === sql) end++
    if (!tuple || end === index + 1) combined.push([sql, params])
    else {
      const rows = statements.slice(index, end)
      combined.push([
        sql.replace(tuple[0], `VALUES ${rows.map(() => tuple[1]).join(', ')}`),
        rows.flatMap(([, rowParams]) => rowParams),
      ])
    }
    index = end
  }
  return combined
}

/**
 * Writes to different rows as one PostgreSQL statement: all but the last in data-modifying
 * WITH clauses. One statement is one transaction, so no BEGIN and COMMIT round trips.
 */
function oneStatement(statements: readonly [string, unknown[]][]): [string, unknown[]] {
  if (statements.length === 1) return statements[0]!
  const last = statements.at(-1)!
  const clauses = statements.slice(0, -1).map(([sql], i) => `w${i} AS (${sql})`)
  return [`WITH ${clauses.join(', ')} ${last[0]}`, statements.flatMap(([, params]) => params)]
}

/**
 * `INSERT … ON CONFLICT (key) DO UPDATE` (SQLite 3.24+ and PostgreSQL alike): the row replaces
 * the one with its key, as SQLite's INSERT OR REPLACE did.
 */
function upsert(table: string, key: string[], columns: string[]): string {
  const all = [...key, ...columns]
  return `INSERT INTO ${table} (${all.join(', ')}) VALUES (${all.map(() => '?').join(', ')})
    ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${columns.map((column) => `${column} = excluded.${column}`).join(', ')}`
}

/**
 * A PostgreSQL failure as a StoreError: what was being done, at which host (`url` when known;
 * never its password), what went wrong and what to do.
 */
function postgresError(error: unknown, doing: string, url: string | undefined): StoreError {
  if (error instanceof StoreError) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown }).code
  const host = url === undefined ? undefined : postgresHostOf(url)
  let hint = 'check the database and RECIPES_DB (or the plugin option db)'
  if (code === '28P01' || code === '28000')
    hint = `the server at ${host ?? 'the host'} refused the login: check the user and password (in the URL or PGPASSWORD) and pg_hba.conf`
  else if (code === '3D000')
    hint = `the database does not exist on ${host ?? 'the host'}: create it (createdb), or name another one in the URL`
  else if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'ETIMEDOUT' ||
    code === 'EHOSTUNREACH' ||
    /timeout/i.test(message)
  )
    hint = `PostgreSQL cannot be reached at ${host ?? 'the host'}: check that it runs and accepts TCP connections there, and the host and port in RECIPES_DB`
  else if (code === '42501')
    hint =
      'the user may not create or write the tables: grant it CREATE on the schema (or run the first migration as the owner)'
  return new StoreError(`${doing}: ${message}; ${hint}`)
}

function isSqliteError(error: unknown): error is Error & { code: string } {
  return error instanceof Database.SqliteError
}

/**
 * Refuses a store that cannot be written before SQLite opens it (SQLite would fall back to
 * read-only and fail at the first write): a read-only file or folder, a folder that is a file.
 */
function checkWritable(path: string, shown: string): void {
  let folder = dirname(path)
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder)
  if (!statSync(folder).isDirectory())
    throw new StoreError(
      `cannot open the run store ${shown}: ${folder} is a file, not a folder; point RECIPES_DB (or the plugin option db) at a path whose folders are folders`,
    )
  mkdirSync(dirname(path), { recursive: true })
  if (existsSync(path) && statSync(path).isDirectory())
    throw new StoreError(
      `cannot open the run store ${shown}: it is a folder; point RECIPES_DB (or the plugin option db) at a file, for example ${shown}/results.sqlite`,
    )
  try {
    accessSync(dirname(path), constants.W_OK)
  } catch {
    throw new StoreError(
      `cannot open the run store ${shown}: its folder ${dirname(path)} is read-only (the store writes ${shown}-wal and ${shown}-shm next to it); make the folder writable, or point RECIPES_DB at a file in a writable folder`,
    )
  }
  try {
    if (existsSync(path)) accessSync(path, constants.W_OK)
  } catch {
    throw new StoreError(
      `cannot open the run store ${shown}: the file is read-only; make it writable (chmod u+w ${shown}), or point RECIPES_DB at another file`,
    )
  }
}

/** `error` as a StoreError: `doing` and what went wrong, then what to do about it. */
function storeError(error: unknown, doing: string, shown: string): StoreError {
  if (error instanceof StoreError) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown }).code
  let hint = 'check that the file and its folder are writable, or point RECIPES_DB at another file'
  // Neither SQLite's nor the file system's: the advice above would send the user the wrong way.
  if (!isSqliteError(error) && typeof code !== 'string')
    hint = 'this is a fault of vitest-recipes, not of the file: please report it with this message'
  else if (
    code === 'SQLITE_CORRUPT' ||
    code === 'SQLITE_NOTADB' ||
    /not a database|malformed|file is encrypted/i.test(message)
  )
    hint = `it is not a readable SQLite database (corrupt?): move it aside (mv ${shown} ${shown}.damaged; nothing in it was changed) and a new store is created at the next run, or point RECIPES_DB at another file`
  else if (typeof code === 'string' && code.startsWith('SQLITE_READONLY'))
    hint = `the file or its folder is read-only: make both writable (chmod u+w), or point RECIPES_DB at another file`
  else if (code === 'SQLITE_BUSY')
    hint =
      'another process held it locked for more than 10 s: wait for it to finish, or point RECIPES_DB at another file'
  else if (code === 'SQLITE_FULL') hint = 'the disk is full: free some space'
  return new StoreError(`${doing}: ${message}; ${hint}`)
}

function analysisRowOf(row: {
  summaryText: string
  metrics: string | null
  aiSummary: string | null
  aiDetails: string | null
}): AnalysisRow {
  const analysis: AnalysisRow = { summaryText: row.summaryText, metrics: parseObject(row.metrics) ?? {} }
  const details = parseObject(row.aiDetails)
  if (details)
    analysis.ai = { ...(details as unknown as AiSummary), ...(row.aiSummary === null ? {} : { text: row.aiSummary }) }
  return analysis
}

function parseObject(text: string | null): JsonObject | undefined {
  if (text === null) return undefined
  const value = JSON.parse(text) as JsonValue
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined
}

/** What the dashboard filters runs by; each one given must match. Dates are ISO prefixes (2026-11-30). */
export interface RunFilter {
  testId?: string
  status?: string
  tester?: string
  tag?: string
  /** start_time at or after. */
  from?: string
  /** start_time before. */
  to?: string
}

/** A run in the dashboard's list: its row, who ran it with which tags, and its steps counted. */
export interface RunSummary extends Omit<RunRow, 'vitestVersion' | 'metadata'> {
  tester: string | null
  tags: string[]
  steps: number
  failed: number
  /** The run's wall time (end - start); null while it runs. */
  durationMs: number | null
  /** The sum of its step times (parallel steps overlap: not the run's duration). */
  stepsMs: number
  /** Set for a run of some steps only (-t). */
  selection?: RunSelection
}

export interface HistoryRun {
  runId: string
  testId: string
  recipe: string
  startTime: string
  endTime: string | null
  status: RunStatus
  /** Set for a run of some steps only (-t): compared only with runs of the same selection. */
  selection?: RunSelection
  steps: { step: string; idx: number; status: string; durationMs: number }[]
}

function json(value: JsonValue | undefined): string | null {
  return value === undefined ? null : JSON.stringify(value)
}

/** A step boundary serialized for its transaction: the step row, its history rows, the changed values. */
function boundaryOf(
  runId: string,
  step: StepRecord | undefined,
  writes: readonly RecordedWrite[],
  values: readonly [string, JsonValue | undefined][],
  stepSeq: number,
  historySeq: number,
): StepBoundary {
  const last = new Map(writes.map((write) => [write.key, write]))
  const row = step && [
    runId,
    step.step,
    step.idx,
    step.status,
    step.durationMs,
    step.cpuMs,
    step.peakRssBytes,
    step.exitCode,
    step.attempts,
    step.reason,
    step.logPath,
    stepSeq,
    json(step.params),
    json(step.envelope ?? undefined),
    step.attemptLog === undefined ? null : JSON.stringify(step.attemptLog),
  ]
  let seq = historySeq
  const history = writes.map((recorded) => {
    const write = historyWriteOf(recorded)
    const { after, change } = historyColumnsOf(write)
    // No before: the row before it of the same key says it (HistoryRebuilder).
    return [runId, ++seq, write.key, write.who, write.ts, null, after, change, step?.step ?? null, stepSeq]
  })
  const snapshot = values.map(([key, value]) =>
    value === undefined
      ? { key, value: undefined }
      : { key, value: JSON.stringify(value), who: last.get(key)?.who ?? null, ts: last.get(key)?.ts ?? null },
  )
  return { runId, row, history, snapshot }
}
