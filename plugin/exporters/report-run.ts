import { join } from 'node:path'
import { TREND_RUNS } from '../charts/index.ts'
import type { RunStore } from '../store/run-store.ts'
import { analyzeRun } from './analysis.ts'
import type { RunData } from '../store/run-data.ts'
import { drawChartsAhead, exportRun, type ExportOutcome, type ReportFormat } from './index.ts'

export interface RunReport {
  runId: string
  recipe: string
  status: string
  steps: number
  dir: string
  outcomes: ExportOutcome[]
}

/**
 * Writes the documents of one stored run to `<reportsDir>/<run_id>/`. The analysis is
 * computed from the stored rows and recorded first (kept when one exists, unless
 * `reanalyze`), so every document shows the same one. The charts' metric trends cover the
 * test id's last TREND_RUNS runs up to this one.
 */
export async function reportStoredRun(
  store: RunStore,
  runId: string,
  reportsDir: string,
  formats: readonly ReportFormat[],
  reanalyze = true,
): Promise<RunReport | undefined> {
  let data = store.readRun(runId)
  if (!data) return undefined
  if (reanalyze || !data.analysis) {
    const analysis = analyzeRun(data)
    store.recordAnalysis(runId, analysis)
    data = { ...data, analysis }
  }
  const dir = join(reportsDir, runId)
  return {
    runId,
    recipe: data.run.recipe,
    status: data.run.status,
    steps: data.steps.length,
    dir,
    outcomes: await exportRun(data, dir, formats, { trend: trendOf(store, data) }),
  }
}

/**
 * Starts drawing the charts of a stored run that has ended, ahead of its documents
 * (drawChartsAhead): the reporter calls it as each recipe file ends, while others run.
 */
export function drawStoredRunChartsAhead(store: RunStore, runId: string): void {
  const data = store.readRun(runId)
  if (data?.run.endTime) drawChartsAhead(data, trendOf(store, data))
}

function trendOf(store: RunStore, data: RunData) {
  return data.run.testId === null ? [] : store.trend(data.run.testId, data.run.runId, TREND_RUNS)
}
