import type { JsonValue } from '../context/json-value.ts'
import { type HistoryColumns, HistoryRebuilder } from './history-delta.ts'
import type { RunStatus } from './run-recording.ts'
import { varConditions } from './run-reads.ts'
import type { SqlConnection } from './sql.ts'

// What a resume reads of an earlier run (lastRun, stepSequence, writesUpTo), and what the
// record's completion reads of a run being recorded (recordedSteps).

/** The latest run of `recipe` other than `exceptRunId`. */
export function lastRun(
  db: SqlConnection,
  recipe: string,
  exceptRunId?: string,
  vars: Readonly<Record<string, string>> = {},
): Promise<{ runId: string; status: RunStatus } | undefined> {
  const byVars = varConditions(db.dialect, vars)
  return db.get(
    `SELECT run_id AS "runId", status FROM runs WHERE recipe = ? AND run_id <> coalesce(?, '')${byVars.sql.map((condition) => ` AND ${condition}`).join('')} ORDER BY start_time DESC, rowid DESC LIMIT 1`,
    [recipe, exceptRunId ?? null, ...byVars.params],
  )
}

/** The step's sequence number in a run, if it was recorded. */
export async function stepSequence(db: SqlConnection, runId: string, step: string): Promise<number | undefined> {
  const row = await db.get<{ seq: number }>('SELECT seq FROM step_metrics WHERE run_id = ? AND step = ?', [runId, step])
  return row?.seq
}

/** A run's status and the steps it has rows for, with their sequence numbers; undefined for a run not recorded. */
export async function recordedSteps(
  db: SqlConnection,
  runId: string,
): Promise<{ status: string; steps: Map<string, number> } | undefined> {
  const run = await db.get<{ status: string }>('SELECT status FROM runs WHERE run_id = ?', [runId])
  if (!run) return undefined
  const rows = await db.all<{ step: string; seq: number }>('SELECT step, seq FROM step_metrics WHERE run_id = ?', [
    runId,
  ])
  return { status: run.status, steps: new Map(rows.map((row) => [row.step, Number(row.seq)])) }
}

/** The ctx writes of a run up to and including step boundary `stepSeq`, in order. */
export async function writesUpTo(
  db: SqlConnection,
  runId: string,
  stepSeq: number,
): Promise<{ step: string | null; key: string; value: JsonValue | undefined; who: string; ts: string }[]> {
  const rows = await db.all<HistoryColumns & { seq: number; step: string | null; who: string; ts: string }>(
    'SELECT seq, step, key, before, after, change, who, ts FROM context_history WHERE run_id = ? AND step_seq <= ? ORDER BY seq',
    [runId, stepSeq],
  )
  // A write that deleted its key has no value (SQL NULL; JSON null is the text "null").
  const rebuilder = new HistoryRebuilder()
  return rows.map((row) => ({
    step: row.step,
    key: row.key,
    value: rebuilder.next(row).after,
    who: row.who,
    ts: row.ts,
  }))
}
