import { hostname } from 'node:os'
import type { ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { type HistoryWrite, historyColumnsOf, historyWriteOf } from './history-delta.ts'
import type { JournalRecord } from './journal.ts'
import type { AnalysisRow, StepRow } from './run-data.ts'
import type { RunLiveness } from './run-liveness.ts'
import type { SqlConnection, SqlRunner } from './sql.ts'

/**
 * Recording runs into the store: a run's row, each step boundary in one transaction (the
 * step's row, its ctx writes as history, the current values of the keys it changed), writes
 * made outside any step, the run's end, its analysis, and the records of a journal
 * (ingest.ts). Every statement is given the runner to use: the connection, or the
 * transaction it is part of.
 */

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
 * What a running recipe file records its run into: the run's journal (journal.ts), one
 * synchronous append per record. `flush`, when there is one, stores what was recorded so far
 * (a recipe file that keeps the store itself ingests its own journal: runtime/run-session.ts).
 */
export interface RunRecorder {
  beginRun(run: RunStart): void
  recordStep(
    runId: string,
    step: StepRow,
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
  /** Whether records wait to be stored by `flush`. */
  pending?(): boolean
  /** Stores the records so far; throws when the store refuses them. */
  flush?(): Promise<void>
  close(): void | Promise<void>
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

export class RunRecording {
  private readonly db: SqlConnection
  /** The database session recording here (PostgreSQL's server process id); null on SQLite. */
  private readonly session: string | null
  private readonly liveness: RunLiveness
  private readonly stepSeq = new Map<string, number>()
  private readonly historySeq = new Map<string, number>()

  constructor(db: SqlConnection, session: string | null, liveness: RunLiveness) {
    this.db = db
    this.session = session
    this.liveness = liveness
  }

  beginRun(run: RunStart): Promise<void> {
    return this.insertRun(this.db, run, hostname(), process.pid, '')
  }

  private async insertRun(
    db: SqlRunner,
    run: RunStart,
    host: string,
    pid: number,
    conflict: '' | 'ON CONFLICT (run_id) DO NOTHING',
  ): Promise<void> {
    await db.run(
      `INSERT INTO runs (run_id, test_id, recipe, start_time, status, host, vitest_version, metadata, heartbeat_at, session)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ${conflict}`,
      [
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
      ],
    )
    this.liveness.keepAlive(run.runId)
  }

  /**
   * One step boundary in one transaction: the step's row, its ctx writes (history, attributed
   * to the step) and the current values of the keys it changed (the run's final ctx so far).
   * Everything is serialized before the transaction starts: a value that cannot be stored
   * throws here and leaves the database as it was.
   */
  async recordStep(
    runId: string,
    step: StepRecord,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): Promise<void> {
    const stepSeq = (this.stepSeq.get(runId) ?? 0) + 1
    const historySeq = this.historySeq.get(runId) ?? 0
    const boundary = boundaryOf(runId, step, writes, values, stepSeq, historySeq)
    // Taken before the transaction: a boundary recorded meanwhile numbers after this one.
    this.stepSeq.set(runId, stepSeq)
    this.historySeq.set(runId, historySeq + writes.length)
    try {
      await this.recordBoundary(this.db, boundary)
    } catch (error) {
      if (this.stepSeq.get(runId) === stepSeq && this.historySeq.get(runId) === historySeq + writes.length) {
        this.stepSeq.set(runId, stepSeq - 1)
        this.historySeq.set(runId, historySeq)
      }
      throw error
    }
  }

  /** Writes made outside any step, in one transaction; their history rows belong to no step. */
  async recordWrites(
    runId: string,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): Promise<void> {
    const stepSeq = this.stepSeq.get(runId) ?? 0
    const historySeq = this.historySeq.get(runId) ?? 0
    const boundary = boundaryOf(runId, undefined, writes, values, stepSeq, historySeq)
    this.historySeq.set(runId, historySeq + writes.length)
    try {
      await this.recordBoundary(this.db, boundary)
    } catch (error) {
      if (this.historySeq.get(runId) === historySeq + writes.length) this.historySeq.set(runId, historySeq)
      throw error
    }
  }

  /** Stores one journal record of `runId` (ingest.ts), in the transaction `tx`; replaying one changes nothing. */
  async storeJournalRecord(tx: SqlRunner, runId: string, record: JournalRecord): Promise<void> {
    if (record.kind === 'begin')
      await this.insertRun(tx, record.run, record.host, record.pid, 'ON CONFLICT (run_id) DO NOTHING')
    else if (record.kind === 'finish') await this.finishRun(runId, record.status, record.endTime, tx)
    else {
      const values = record.values.map(({ key, value }): [string, JsonValue | undefined] => [key, value])
      const step = record.kind === 'step' ? record.step : undefined
      await this.recordBoundary(tx, boundaryOf(runId, step, record.writes, values, record.seq, record.historySeq))
    }
  }

  /**
   * Marks a run interrupted, ended at its last ctx write (else now): a running one, or with
   * `evenIfEnded` one that ended too (its journal could not be stored whole).
   */
  async interruptRun(runId: string, options: { evenIfEnded?: boolean } = {}): Promise<void> {
    const row = await this.db.get<{ status: RunStatus }>('SELECT status FROM runs WHERE run_id = ?', [runId])
    if (!row || (row.status !== 'running' && !options.evenIfEnded)) return
    const last = await this.db.get<{ ts: string | null }>(
      'SELECT MAX(ts) AS ts FROM context_history WHERE run_id = ?',
      [runId],
    )
    await this.finishRun(runId, 'interrupted', last?.ts ?? new Date().toISOString())
  }

  async finishRun(
    runId: string,
    status: RunStatus,
    endTime = new Date().toISOString(),
    db: SqlRunner = this.db,
  ): Promise<void> {
    await db.run('UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?', [status, endTime, runId])
    this.liveness.finished(runId)
  }

  /** Stores (or replaces) the analysis of a run: a summary sentence block, its metrics and the AI summary when one was asked for. */
  async recordAnalysis(runId: string, analysis: AnalysisRow): Promise<void> {
    const { ai } = analysis
    await this.db.run(upsert('analysis', ['run_id'], ['summary_text', 'metrics', 'ai_summary', 'ai_details']), [
      runId,
      analysis.summaryText,
      JSON.stringify(analysis.metrics),
      ai?.text ?? null,
      ai ? JSON.stringify({ ...ai, text: undefined }) : null,
    ])
  }

  /**
   * A step boundary's statements: on PostgreSQL one statement (atomic by itself: one round
   * trip and one commit; boundaries of different runs touch different rows, so they need not
   * queue for the write lock); on SQLite in one transaction that takes the write lock up front.
   */
  private async recordBoundary(db: SqlRunner, input: StepBoundary): Promise<void> {
    const statements = boundaryStatements(input)
    if (statements.length === 0) return
    if (db.dialect === 'postgres') {
      const [sql, params] = oneStatement(combinedRows(statements))
      await db.run(sql, params)
      return
    }
    await db.transaction(
      async (tx) => {
        for (const [sql, params] of statements) await tx.run(sql, params)
      },
      { immediate: true },
    )
  }
}

/**
 * Schema 9 (SQLite and PostgreSQL alike): when each step began running (ISO), so steps that ran
 * side by side are drawn overlapping; rows stored before it have none (NULL).
 */
export const STEP_START_COLUMN = `
  ALTER TABLE step_metrics ADD COLUMN start_time TEXT;
`

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
      'start_time',
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

/** Rows per combined INSERT: well below PostgreSQL's 65,535 parameters for the widest row (16). */
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
export function upsert(table: string, key: string[], columns: string[]): string {
  const all = [...key, ...columns]
  return `INSERT INTO ${table} (${all.join(', ')}) VALUES (${all.map(() => '?').join(', ')})
    ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${columns.map((column) => `${column} = excluded.${column}`).join(', ')}`
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
    step.startTime ?? null,
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
