import type { JsonValue } from '../context/json-value.ts'
import { flatMetrics, type RunRow, type TrendRun, type TrendStep } from './run-data.ts'
import { type RunSelection, selectedStepsSql, selectionOf } from './run-selection.ts'
import type { SqlConnection, SqlRunner } from './sql.ts'

/** A finished run of the same test: its status and each step's figures. */
export interface PastRun extends TrendRun {
  steps: PastStep[]
  /** Set for a run of some steps only (-t): it is compared only with runs of the same selection. */
  selection?: RunSelection
}

export interface PastStep extends TrendStep {
  cpuMs: number
  peakRssBytes: number | null
  attempts: number
}

/**
 * The `limit` newest finished runs of `run`'s test_id (of its recipe when it has none) that
 * started before it and ran the same steps (the whole recipe, or the same -t selection: such
 * a run covers only a part of the recipe) with the same vars (a device, a matrix combination, is
 * compared with its own earlier runs), newest first; with `includeRun`, `run` itself
 * first (even while it runs). Other running runs are left out: their figures are not final.
 * Runs that started at the same time are ordered as they were stored. Reads the runs through the (test_id |
 * recipe, start_time) indexes, each run's steps through step_metrics' key, and of each
 * envelope only its metrics (envelopes can be large, and a 10k-step recipe has 20 runs here).
 */
export async function readPastRuns(
  db: SqlRunner,
  run: Pick<RunRow, 'runId' | 'testId' | 'recipe'>,
  limit: number,
  includeRun = false,
): Promise<PastRun[]> {
  const selected = selectedStepsSql(db.dialect)
  const vars = varsSql(db.dialect)
  const anchor = await db.get<{ startTime: string; rowid: number; selected: string; vars: string }>(
    `SELECT start_time AS "startTime", rowid, ${selected} AS selected, ${vars} AS vars FROM runs WHERE run_id = ?`,
    [run.runId],
  )
  if (!anchor) return []
  const byTest = run.testId !== null
  const runs = await db.all<Omit<PastRun, 'steps' | 'selection'> & { selection: string | null }>(
    `SELECT run_id AS "runId", start_time AS "startTime", status, ${selectionSql(db.dialect)} AS selection FROM runs
       WHERE ${byTest ? 'test_id' : 'recipe'} = ?
         AND ((end_time IS NOT NULL AND status <> 'running') OR run_id = ?)
         AND (start_time < ? OR (start_time = ? AND rowid ${includeRun ? '<=' : '<'} ?))
         AND ${selected} = ?
         AND ${vars} = ?
       ORDER BY start_time DESC, rowid DESC LIMIT ?`,
    [
      byTest ? run.testId : run.recipe,
      includeRun ? run.runId : null,
      anchor.startTime,
      anchor.startTime,
      anchor.rowid,
      anchor.selected,
      anchor.vars,
      limit,
    ],
  )
  const stepsSql = `SELECT step, idx, status, duration_ms AS "durationMs", cpu_ms AS "cpuMs", peak_rss_bytes AS "peakRssBytes", attempts,
            ${
              db.dialect === 'postgres'
                ? "CASE WHEN envelope IS NOT NULL THEN (envelope::jsonb -> 'metrics')::text END"
                : "CASE WHEN json_valid(envelope) THEN json_extract(envelope, '$.metrics') END"
            } AS metrics
     FROM step_metrics WHERE run_id = ? ORDER BY idx, seq`
  const past: PastRun[] = []
  for (const { selection, ...found } of runs) {
    const steps = await db.all<Omit<PastStep, 'metrics'> & { metrics: string | null }>(stepsSql, [found.runId])
    past.push({
      ...found,
      ...selectionField(selection),
      steps: steps.map(({ metrics, ...step }) => ({
        ...step,
        durationMs: step.durationMs ?? 0,
        cpuMs: step.cpuMs ?? 0,
        attempts: step.attempts ?? 1,
        metrics: metrics === null ? {} : flatMetrics(parseJson(metrics)),
      })),
    })
  }
  return past
}

/** SQL for a `runs` row's selection as JSON text (null for a whole run). */
function selectionSql(dialect: SqlConnection['dialect']): string {
  return dialect === 'postgres' ? "(metadata::jsonb -> 'selection')::text" : "json_extract(metadata, '$.selection')"
}

function selectionField(text: string | null): { selection?: RunSelection } {
  if (text === null) return {}
  const selection = selectionOf({ selection: parseJson(text) })
  return selection ? { selection } : {}
}

function parseJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue
  } catch {
    return null
  }
}

/** A run's vars (metadata.vars) as comparable text; '' for a run without vars. */
function varsSql(dialect: string): string {
  return dialect === 'postgres'
    ? "COALESCE((metadata::jsonb -> 'vars')::text, '')"
    : "COALESCE(json_extract(metadata, '$.vars'), '')"
}
