import { resolve } from 'node:path'
import type { JsonValue } from '../context/json-value.ts'
import type { JournalRecord } from './journal.ts'
import { locateStore, type StoreLocation } from './kept-store.ts'
import { type PastRun, readPastRuns } from './past-runs.ts'
import { ResourceLocks } from './resource-locks.ts'
import type { AnalysisRow, RunData, RunRow, TrendRun } from './run-data.ts'
import { RunLiveness } from './run-liveness.ts'
import * as progress from './run-progress-reads.ts'
import * as reads from './run-reads.ts'
import type { HistoryRun, RunFilter, RunSummary } from './run-reads.ts'
import { type RecordedWrite, RunRecording, type RunStart, type RunStatus, type StepRecord } from './run-recording.ts'
import type { SqlConnection, SqlRunner } from './sql.ts'
import { openPostgres, openSqlite, queryFailure, settleStore } from './store-open.ts'

export { combinedRows } from './run-recording.ts'
export type { RecordedWrite, RunRecorder, RunStart, RunStatus, StepRecord } from './run-recording.ts'
export type { HistoryRun, RunFilter, RunSummary } from './run-reads.ts'
export { RUN_LEASE_MS } from './run-liveness.ts'
export { SCHEMA_VERSION, StoreError } from './store-open.ts'

/**
 * The run store: every run of a recipe, its steps and its context, durable at each step
 * boundary (one transaction per step, never one per ctx.set), in an SQLite file (WAL mode, so
 * readers never block the writer and two processes can write one database) or a PostgreSQL
 * database shared by machines. Tables (stable; extra columns may be added): runs,
 * step_metrics, context_snapshots, context_history, analysis, resource_locks,
 * resource_waits, resource_holds (resource-locks.ts).
 *
 * Asynchronous throughout: on PostgreSQL every statement goes over the event loop, so the
 * Vitest process, the dashboard and the lock service keep answering while the store works.
 * This class is the facade the rest of the code uses; the work is done by job in
 * store-open.ts (open, migrate, errors), run-recording.ts, run-reads.ts and run-liveness.ts.
 */
export class RunStore {
  /** The store's path as shown to users (relative to the project root). */
  readonly path: string
  /** The store's absolute path (for PostgreSQL: where this machine keeps its journals). */
  readonly file: string
  private readonly db: SqlConnection
  /** The database session recording here (PostgreSQL's server process id); null on SQLite. */
  private readonly session: string | null
  private readonly liveness: RunLiveness
  private readonly recording: RunRecording
  private resourceLocks: ResourceLocks | undefined

  private constructor(file: string, path: string, db: SqlConnection, session: string | null = null) {
    this.file = file
    this.path = path
    this.db = db
    this.session = session
    this.liveness = new RunLiveness(db, session)
    this.recording = new RunRecording(db, session, this.liveness)
  }

  /**
   * Opens (creating and migrating as needed) the SQLite store at `path`, shown as `shown` in
   * errors. A damaged store throws a StoreError and is left byte for byte as it was.
   */
  static async open(path: string, shown = path): Promise<RunStore> {
    const db = await openSqlite(path, shown)
    const store = new RunStore(resolve(path), shown, db)
    try {
      return await settleStore(store)
    } catch (error) {
      await store.close()
      throw error
    }
  }

  /**
   * Opens (creating and migrating as needed) the PostgreSQL store at `url`, shown as `shown`
   * (no password); `local` is where this machine keeps the journals of the runs it records.
   * A host that cannot be reached or refuses the login is a StoreError naming the host.
   */
  static async openPostgres(url: string, shown: string, local: string): Promise<RunStore> {
    const db = await openPostgres(url, shown)
    const store = new RunStore(local, shown, db, String(db.session))
    try {
      return await settleStore(store)
    } catch (error) {
      await store.close()
      throw error
    }
  }

  /** Opens the store `locateStore` found: an SQLite file, or a PostgreSQL database by its URL. */
  static openLocated(located: StoreLocation): Promise<RunStore> {
    return located.url === undefined
      ? RunStore.open(located.path, located.shown)
      : RunStore.openPostgres(located.url, located.shown, located.path)
  }

  /**
   * Opens the store of the project at `root`: the environment variable RECIPES_DB, else `db`
   * (the plugin option), both relative to the root (or a postgres:// URL); errors show the
   * path relative to it, or the URL without its password.
   */
  static openIn(root: string, db: string): Promise<RunStore> {
    return RunStore.openLocated(locateStore(root, db))
  }

  /** Which database this store is in. */
  get dialect(): SqlConnection['dialect'] {
    return this.db.dialect
  }

  /** The lab resource locks kept in this store. */
  get locks(): ResourceLocks {
    this.resourceLocks ??= new ResourceLocks(this.db, this.session)
    return this.resourceLocks
  }

  // Recording (run-recording.ts).

  beginRun(run: RunStart): Promise<void> {
    return this.guard(() => this.recording.beginRun(run))
  }

  recordStep(
    runId: string,
    step: StepRecord,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): Promise<void> {
    return this.guard(() => this.recording.recordStep(runId, step, writes, values))
  }

  /** Writes made outside any step (the context API), in one transaction; their history rows belong to no step. */
  recordWrites(
    runId: string,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): Promise<void> {
    return this.guard(() => this.recording.recordWrites(runId, writes, values))
  }

  finishRun(runId: string, status: RunStatus, endTime?: string): Promise<void> {
    return this.guard(() => this.recording.finishRun(runId, status, endTime))
  }

  /**
   * Marks a run interrupted, ended at its last ctx write (else now): a running one, or with
   * `evenIfEnded` one that ended too (its journal could not be stored whole).
   */
  interruptRun(runId: string, options: { evenIfEnded?: boolean } = {}): Promise<void> {
    return this.guard(() => this.recording.interruptRun(runId, options))
  }

  /** Runs `work` in one transaction holding the write lock (ingest.ts stores a journal's new records so). */
  writeLocked<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.guard(() => this.db.transaction(work, { immediate: true }))
  }

  /** Stores one journal record of `runId` in the transaction `tx` (ingest.ts); replaying one changes nothing. */
  storeJournalRecord(tx: SqlRunner, runId: string, record: JournalRecord): Promise<void> {
    return this.recording.storeJournalRecord(tx, runId, record)
  }

  /** Stores (or replaces) the analysis of a run. */
  recordAnalysis(runId: string, analysis: AnalysisRow): Promise<void> {
    return this.guard(() => this.recording.recordAnalysis(runId, analysis))
  }

  // Liveness (run-liveness.ts).

  /** Renews the heartbeat of the runs this store records (PostgreSQL; and claims them for this session). */
  heartbeat(now = new Date()): Promise<void> {
    return this.guard(() => this.liveness.heartbeat(now))
  }

  /**
   * Marks the runs left `running` by a process of this host that no longer exists (killed,
   * crashed); on PostgreSQL also those of any host whose recording session has ended or whose
   * heartbeat is older than RUN_LEASE_MS. Returns their ids.
   */
  markInterrupted(now = new Date()): Promise<string[]> {
    return this.guard(async () => {
      const gone = await this.liveness.abandonedRuns(now)
      for (const runId of gone) await this.recording.interruptRun(runId)
      return gone
    })
  }

  // Reads (run-reads.ts).

  /** The latest run of `recipe` other than `exceptRunId`. */
  /** `vars`: only runs whose recipe vars took these values (a matrix combination's own last run). */
  lastRun(
    recipe: string,
    exceptRunId?: string,
    vars: Readonly<Record<string, string>> = {},
  ): Promise<{ runId: string; status: RunStatus } | undefined> {
    return this.guard(() => progress.lastRun(this.db, recipe, exceptRunId, vars))
  }

  /** The step's sequence number in a run, if it was recorded. */
  stepSequence(runId: string, step: string): Promise<number | undefined> {
    return this.guard(() => progress.stepSequence(this.db, runId, step))
  }

  /** The ctx writes of a run up to and including step boundary `stepSeq`, in order. */
  writesUpTo(
    runId: string,
    stepSeq: number,
  ): Promise<{ step: string | null; key: string; value: JsonValue | undefined; who: string; ts: string }[]> {
    return this.guard(() => progress.writesUpTo(this.db, runId, stepSeq))
  }

  /** The test ids and recipes the store has runs of, the most recently run first: what a user can ask history for. */
  recordedTests(limit = 200): Promise<{ testId: string; recipe: string }[]> {
    return this.guard(() => reads.recordedTests(this.db, limit))
  }

  /** Recent runs of a test id (or recipe), newest first, with their steps. */
  /** `vars`: only runs whose recipe vars took these values. */
  history(testIdOrRecipe: string, limit: number, vars: Readonly<Record<string, string>> = {}): Promise<HistoryRun[]> {
    return this.guard(() => reads.history(this.db, testIdOrRecipe, limit, vars))
  }

  /** The last `limit` finished runs of `testId` up to and including `runId`, oldest first: what the trend charts draw. */
  trend(testId: string, runId: string, limit: number): Promise<TrendRun[]> {
    return this.guard(() => reads.trend(this.db, testId, runId, limit))
  }

  /** Runs, newest first, that match every filter given (the dashboard's list), with step counts and total duration. */
  listRuns(filter: RunFilter = {}, limit = 200): Promise<RunSummary[]> {
    return this.guard(() => reads.listRuns(this.db, filter, limit))
  }

  /** Changes whenever a run, step, ctx write, analysis or run status is stored (run-reads.ts). */
  changeMark(): Promise<string> {
    return this.guard(() => reads.changeMark(this.db))
  }

  /**
   * The earlier finished runs of a test_id (or of a recipe without one), newest first, with
   * each step's figures: the baseline the heuristic analysis compares a run with.
   */
  pastRuns(run: Pick<RunRow, 'runId' | 'testId' | 'recipe'>, limit: number): Promise<PastRun[]> {
    return this.guard(() => readPastRuns(this.db, run, limit))
  }

  /** A run's status and the steps it has rows for (with their sequence numbers); undefined for a run not recorded. */
  recordedSteps(runId: string): Promise<{ status: string; steps: Map<string, number> } | undefined> {
    return this.guard(() => progress.recordedSteps(this.db, runId))
  }

  hasRun(runId: string): Promise<boolean> {
    return this.guard(() => reads.hasRun(this.db, runId))
  }

  /** The run id a user means: `last`, an exact id, or an unambiguous prefix; else a sentence saying what is wrong. */
  findRun(wanted: string, recipe?: string): Promise<{ runId: string } | { error: string }> {
    return this.guard(() => reads.findRun(this.db, this.path, wanted, recipe))
  }

  /** Everything stored about one run, for the exporters; the ctx history is read as it is iterated. */
  readRun(runId: string): Promise<RunData | undefined> {
    return this.guard(() => reads.readRun(this.db, runId, (error) => queryFailure(error, this.path)))
  }

  async close(): Promise<void> {
    this.liveness.stop()
    await this.db.close()
  }

  /** Runs a query; the database's failures become a StoreError that names the store and says what to do. */
  private async guard<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query()
    } catch (error) {
      throw queryFailure(error, this.path)
    }
  }
}
