import { join } from 'node:path'
import type { AiSummary, AnalysisRow, RunData } from '../store/run-data.ts'
import type { RunStore } from '../store/run-store.ts'
import { exportRun, type ExportOutcome, type ReportFormat } from './index.ts'

export interface RunReport {
  runId: string
  recipe: string
  status: string
  steps: number
  dir: string
  outcomes: ExportOutcome[]
  /** The AI summary of the analysis the documents show, when one was asked for. */
  ai?: AiSummary
}

/** Makes the analysis of a run from its stored rows (plugin/analysis); undefined keeps the stored one. */
export type Analyze = (data: RunData) => Promise<AnalysisRow | undefined>

/**
 * Writes the documents of one stored run to `<reportsDir>/<run_id>/` (none when `formats` is
 * empty). `analyze` runs first and its analysis is recorded, so every document shows the
 * same one.
 */
export async function reportStoredRun(
  store: RunStore,
  runId: string,
  reportsDir: string,
  formats: readonly ReportFormat[],
  analyze: Analyze,
): Promise<RunReport | undefined> {
  let data = store.readRun(runId)
  if (!data) return undefined
  const analysis = await analyze(data)
  if (analysis) {
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
    ...(data.analysis?.ai ? { ai: data.analysis.ai } : {}),
    outcomes: formats.length === 0 ? [] : await exportRun(data, dir, formats),
  }
}
