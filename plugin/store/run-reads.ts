import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { type HistoryColumns, HistoryRebuilder } from './history-delta.ts'
import { readPastRuns } from './past-runs.ts'
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
import type { RunStatus } from './run-recording.ts'
import type { SqlConnection } from './sql.ts'

/**
 * Reading the store: a run whole (readRun), the runs of a test (history, trend), the
 * dashboard's list, a run a user names (findRun), and a cheap mark that changes whenever
 * anything is stored. What a resume and the record's completion read: run-progress-reads.ts.
 */

/** The test ids and recipes the store has runs of, the most recently run first: what a user can ask history for. */
export function recordedTests(db: SqlConnection, limit = 200): Promise<{ testId: string; recipe: string }[]> {
  return db.all(
    'SELECT test_id AS "testId", recipe FROM runs GROUP BY test_id, recipe ORDER BY MAX(start_time) DESC LIMIT ?',
    [limit],
  )
}

/** Recent runs of a test id (or recipe), newest first, with their steps. */
export async function history(
  db: SqlConnection,
  testIdOrRecipe: string,
  limit: number,
  vars: Readonly<Record<string, string>> = {},
): Promise<HistoryRun[]> {
  const byVars = varConditions(db.dialect, vars)
  const runs = await db.all<Omit<HistoryRun, 'steps' | 'selection'> & { metadata: string | null }>(
    `SELECT run_id AS "runId", test_id AS "testId", recipe, start_time AS "startTime", end_time AS "endTime", status, metadata FROM runs WHERE (test_id = ? OR recipe = ?)${byVars.sql.map((condition) => ` AND ${condition}`).join('')} ORDER BY start_time DESC, rowid DESC LIMIT ?`,
    [testIdOrRecipe, testIdOrRecipe, ...byVars.params, limit],
  )
  const withSteps: HistoryRun[] = []
  for (const { metadata, ...run } of runs) {
    const steps = await db.all<HistoryRun['steps'][number]>(
      'SELECT step, idx, status, duration_ms AS "durationMs" FROM step_metrics WHERE run_id = ? ORDER BY idx, seq',
      [run.runId],
    )
    const selection = selectionOf(parseObject(metadata))
    withSteps.push({ ...run, ...(selection ? { selection } : {}), steps })
  }
  return withSteps
}

/**
 * The last `limit` finished runs of `testId` up to and including `runId` (counted even while
 * it runs), oldest first, with each step's duration, status and numeric metrics: what the
 * trend charts of a run draw. Reads the runs through runs_by_test and each run's steps
 * through step_metrics' key; a run id the store does not hold gives no runs.
 */
export async function trend(db: SqlConnection, testId: string, runId: string, limit: number): Promise<TrendRun[]> {
  return (await readPastRuns(db, { runId, testId, recipe: '' }, limit, true)).reverse()
}

/** Runs, newest first, that match every filter given (the dashboard's list), with step counts and total duration. */
export async function listRuns(db: SqlConnection, filter: RunFilter = {}, limit = 200): Promise<RunSummary[]> {
  const where: string[] = []
  const params: unknown[] = []
  const add = (condition: string, value: string | undefined) => {
    if (!value) return
    where.push(condition)
    params.push(value)
  }
  add('test_id = ?', filter.testId)
  add('status = ?', filter.status)
  if (db.dialect === 'postgres') {
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
  const byVars = varConditions(db.dialect, filter.vars ?? {})
  where.push(...byVars.sql)
  params.push(...byVars.params)
  add('start_time >= ?', filter.from)
  add('start_time < ?', filter.to)
  const rows = await db.all<
    Omit<RunSummary, 'tester' | 'tags' | 'durationMs' | 'selection'> & { metadata: string | null }
  >(
    `SELECT run_id AS "runId", test_id AS "testId", recipe, start_time AS "startTime", end_time AS "endTime", status, host, metadata,
            (SELECT COUNT(*) FROM step_metrics s WHERE s.run_id = runs.run_id) AS steps,
            (SELECT COUNT(*) FROM step_metrics s WHERE s.run_id = runs.run_id AND s.status = 'failed') AS failed,
            (SELECT COALESCE(SUM(duration_ms), 0) FROM step_metrics s WHERE s.run_id = runs.run_id) AS "stepsMs"
     FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY start_time DESC, rowid DESC LIMIT ?`,
    [...params, limit],
  )
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
      ...(isObject(parsed?.vars) ? { vars: parsed.vars } : {}),
    }
  })
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Changes whenever a run, step, ctx write, analysis or run status is stored: watchers compare
 * it to know when to look again. Cheap (no table is read), so a dashboard can ask it often:
 * on SQLite the commits of other connections (data_version) and the rows this one changed;
 * on PostgreSQL the rows written to the run tables, from the server's statistics (which
 * other sessions publish within about a second).
 */
export async function changeMark(db: SqlConnection): Promise<string> {
  if (db.dialect === 'postgres') {
    const row = await db.get<{ n: number | string }>(
      `SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_user_tables
       WHERE relname IN ('runs', 'step_metrics', 'context_history', 'analysis')`,
    )
    return String(row?.n ?? 0)
  }
  const others = await db.get<{ data_version: number }>('PRAGMA data_version')
  const own = await db.get<{ n: number }>('SELECT total_changes() AS n')
  return `${others?.data_version}:${own?.n}`
}

export async function hasRun(db: SqlConnection, runId: string): Promise<boolean> {
  return (await db.get('SELECT 1 FROM runs WHERE run_id = ?', [runId])) !== undefined
}

/**
 * The run id a user means: `last` (the newest run, of `recipe` when given), an exact id, or
 * an unambiguous prefix of one. A sentence saying what is wrong when there is none.
 */
export async function findRun(
  db: SqlConnection,
  path: string,
  wanted: string,
  recipe?: string,
): Promise<{ runId: string } | { error: string }> {
  if (wanted === 'last') {
    const row =
      recipe === undefined
        ? await db.get<{ run_id: string }>('SELECT run_id FROM runs ORDER BY start_time DESC, rowid DESC LIMIT 1')
        : await db.get<{ run_id: string }>(
            'SELECT run_id FROM runs WHERE recipe = ? ORDER BY start_time DESC, rowid DESC LIMIT 1',
            [recipe],
          )
    return row
      ? { runId: row.run_id }
      : {
          error: `${path} holds no runs${recipe === undefined ? '' : ` of ${recipe}`} yet: run a recipe first (npx vitest run recipes/)`,
        }
  }
  const rows = await db.all<{ run_id: string }>(
    "SELECT run_id FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' ORDER BY start_time DESC LIMIT 6",
    [wanted, `${wanted.replace(/[\\%_]/g, '\\$&')}%`],
  )
  const exact = rows.find((row) => row.run_id === wanted)
  if (exact) return { runId: exact.run_id }
  if (rows.length === 1) return { runId: rows[0]!.run_id }
  if (rows.length === 0)
    return { error: `no run "${wanted}" in ${path}: \`recipes history <test_id>\` lists recent runs` }
  return {
    error: `"${wanted}" matches several runs (${rows
      .slice(0, 5)
      .map((row) => row.run_id)
      .join(', ')}${rows.length > 5 ? ', …' : ''}): give more of the id`,
  }
}

/**
 * Everything stored about one run, for the exporters. The ctx history is read when it is
 * iterated, through a cursor: never held whole. `guard` turns the database's failures while
 * iterating into the store's errors.
 */
export async function readRun(
  db: SqlConnection,
  runId: string,
  guard: (error: unknown) => unknown = (error) => error,
): Promise<RunData | undefined> {
  const run = await db.get<Omit<RunRow, 'metadata'> & { metadata: string | null }>(
    'SELECT run_id AS "runId", test_id AS "testId", recipe, start_time AS "startTime", end_time AS "endTime", status, host, vitest_version AS "vitestVersion", metadata FROM runs WHERE run_id = ?',
    [runId],
  )
  if (!run) return undefined
  const steps = (
    await db.all<
      Omit<StepRow, 'params' | 'envelope' | 'attemptLog'> & {
        params: string | null
        envelope: string | null
        attemptLog: string | null
      }
    >(
      `SELECT step, idx, status, duration_ms AS "durationMs", cpu_ms AS "cpuMs", peak_rss_bytes AS "peakRssBytes", exit_code AS "exitCode", attempts, reason,
              log_path AS "logPath", params, envelope, attempt_log AS "attemptLog", start_time AS "startTime"
       FROM step_metrics WHERE run_id = ? ORDER BY idx, seq`,
      [runId],
    )
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
    await db.all<{ key: string; value: string; who: string | null; ts: string | null }>(
      'SELECT key, value, who, ts FROM context_snapshots WHERE run_id = ? ORDER BY key',
      [runId],
    )
  ).map((row): ContextRow => ({ ...row, value: JSON.parse(row.value) as JsonValue }))
  const count = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM context_history WHERE run_id = ?', [runId]))?.n
  const analysis = await db.get<{
    summaryText: string
    metrics: string | null
    aiSummary: string | null
    aiDetails: string | null
  }>(
    'SELECT summary_text AS "summaryText", metrics, ai_summary AS "aiSummary", ai_details AS "aiDetails" FROM analysis WHERE run_id = ?',
    [runId],
  )
  return {
    run: { ...run, metadata: parseObject(run.metadata) ?? {} },
    steps,
    context,
    history: {
      count: Number(count ?? 0),
      async *rows(): AsyncIterable<HistoryRow> {
        // Each value rebuilt from the rows before it: a row keeps what its write changed.
        const rebuilder = new HistoryRebuilder()
        const rows = db.iterate<
          HistoryColumns & { seq: number; who: string | null; ts: string | null; step: string | null }
        >('SELECT seq, key, who, ts, step, before, after, change FROM context_history WHERE run_id = ? ORDER BY seq', [
          runId,
        ])
        try {
          for await (const row of rows) {
            const { change: _change, ...fields } = row
            yield { ...fields, ...rebuilder.next(row) }
          }
        } catch (error) {
          throw guard(error)
        }
      },
    },
    analysis: analysis ? analysisRowOf(analysis) : undefined,
  }
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

/**
 * SQL conditions (and their parameters) for runs whose vars took the given values, each value
 * as its text: a number 48 matches "48", true matches "true". Var names are identifiers
 * (VAR_NAME_PATTERN), and are passed as parameters anyway.
 */
export function varConditions(
  dialect: string,
  vars: Readonly<Record<string, string>>,
): { sql: string[]; params: unknown[] } {
  const sql: string[] = []
  const params: unknown[] = []
  for (const [name, value] of Object.entries(vars)) {
    if (dialect === 'postgres') {
      sql.push("(metadata::jsonb -> 'vars' ->> ?) = ?")
      params.push(name, value)
    } else {
      const path = `$.vars.${name}`
      sql.push(
        "(CASE json_type(metadata, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(metadata, ?) AS TEXT) END) = ?",
      )
      params.push(path, path, value)
    }
  }
  return { sql, params }
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
  /** Runs whose recipe vars took these values (metadata.vars; a value compared as its text: 48 matches "48"). */
  vars?: Readonly<Record<string, string>>
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
  /** The values its recipe vars took (a matrix combination's, a device's). */
  vars?: JsonObject
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
