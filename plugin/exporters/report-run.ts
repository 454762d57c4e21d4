import { join } from 'node:path'
import { TREND_RUNS } from '../charts/index.ts'
import type { AiSummary, AnalysisRow, RunData, TrendRun } from '../store/run-data.ts'
import type { RunStore } from '../store/run-store.ts'
import type { StepLogsPlace } from '../store/run-page.ts'
import type { AllureTarget } from './allure.ts'
import { drawChartsAhead, exportRun, type ExportOutcome, type ReportFormat } from './index.ts'

export interface RunReport {
  runId: string
  recipe: string
  status: string
  steps: number
  dir: string
  outcomes: ExportOutcome[]
  /** The AI summary of the analysis the documents show, when one was asked for. */
  ai?: AiSummary
  /** How the Allure results went, when they were asked for. */
  allure?: AllureOutcome
}

export interface AllureOutcome {
  resultsDir: string
  /** Step results written; absent when the writer failed. */
  results?: number
  error?: string
}

/** Makes the analysis of a run from its stored rows (plugin/analysis); undefined keeps the stored one. */
export type Analyze = (data: RunData) => Promise<AnalysisRow | undefined>

/**
 * Writes the documents of one stored run to `<reportsDir>/<run_id>/` (none when `formats` is
 * empty). `analyze` runs first and its analysis is recorded, so every document shows the
 * same one. With `allure`, the run's Allure results are written to `allure.resultsDir` after
 * the documents (and their charts); a failing Allure writer leaves the documents and the
 * store as they are. The charts' metric trends cover the test id's last TREND_RUNS runs up to
 * this one. `logs` says where the run's step logs are (report.html embeds them).
 */
export async function reportStoredRun(
  store: RunStore,
  runId: string,
  reportsDir: string,
  formats: readonly ReportFormat[],
  analyze: Analyze,
  allure?: Omit<AllureTarget, 'runDir'>,
  logs?: StepLogsPlace,
): Promise<RunReport | undefined> {
  let data = await store.readRun(runId)
  if (!data) return undefined
  const analysis = await analyze(data)
  if (analysis) {
    await store.recordAnalysis(runId, analysis)
    data = { ...data, analysis }
  }
  const dir = join(reportsDir, runId)
  const report: RunReport = {
    runId,
    recipe: data.run.recipe,
    status: data.run.status,
    steps: data.steps.length,
    dir,
    ...(data.analysis?.ai ? { ai: data.analysis.ai } : {}),
    outcomes:
      formats.length > 0
        ? await exportRun(data, dir, formats, { trend: await trendOf(store, data), ...(logs ? { logs } : {}) })
        : [],
  }
  if (allure) report.allure = await allureResults(data, { ...allure, runDir: dir })
  return report
}

async function allureResults(data: RunData, target: AllureTarget): Promise<AllureOutcome> {
  try {
    // The writer (and allure-js-commons) loads only when Allure results are asked for.
    const { writeAllureResults } = await import('./allure.ts')
    return { resultsDir: target.resultsDir, results: await writeAllureResults(data, target) }
  } catch (error) {
    return {
      resultsDir: target.resultsDir,
      error: `cannot write Allure results to ${target.resultsDir}: ${(error as Error).message || String(error)}`,
    }
  }
}

/**
 * Starts drawing the charts of a stored run that has ended, ahead of its documents
 * (drawChartsAhead): the reporter calls it as each recipe file ends, while others run.
 */
export async function drawStoredRunChartsAhead(store: RunStore, runId: string): Promise<void> {
  const data = await store.readRun(runId)
  if (data?.run.endTime) drawChartsAhead(data, await trendOf(store, data))
}

async function trendOf(store: RunStore, data: RunData): Promise<TrendRun[]> {
  return data.run.testId === null ? [] : store.trend(data.run.testId, data.run.runId, TREND_RUNS)
}
