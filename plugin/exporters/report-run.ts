import { join } from 'node:path'
import type { RunData } from '../store/run-data.ts'
import type { RunStore } from '../store/run-store.ts'
import type { AllureTarget } from './allure.ts'
import { analyzeRun } from './analysis.ts'
import { exportRun, type ExportOutcome, type ReportFormat } from './index.ts'

export interface RunReport {
  runId: string
  recipe: string
  status: string
  steps: number
  dir: string
  outcomes: ExportOutcome[]
  /** How the Allure results went, when they were asked for. */
  allure?: AllureOutcome
}

export interface AllureOutcome {
  resultsDir: string
  /** Step results written; absent when the writer failed. */
  results?: number
  error?: string
}

/**
 * Writes the documents of one stored run to `<reportsDir>/<run_id>/`. The analysis is
 * computed from the stored rows and recorded first (kept when one exists, unless
 * `reanalyze`), so every document shows the same one. With `allure`, the run's Allure
 * results are written to `allure.resultsDir` after the documents (and their charts); a
 * failing Allure writer leaves the documents and the store as they are.
 */
export async function reportStoredRun(
  store: RunStore,
  runId: string,
  reportsDir: string,
  formats: readonly ReportFormat[],
  reanalyze = true,
  allure?: Omit<AllureTarget, 'runDir'>,
): Promise<RunReport | undefined> {
  let data = store.readRun(runId)
  if (!data) return undefined
  if (reanalyze || !data.analysis) {
    const analysis = analyzeRun(data)
    store.recordAnalysis(runId, analysis)
    data = { ...data, analysis }
  }
  const dir = join(reportsDir, runId)
  const report: RunReport = {
    runId,
    recipe: data.run.recipe,
    status: data.run.status,
    steps: data.steps.length,
    dir,
    outcomes: formats.length > 0 ? await exportRun(data, dir, formats) : [],
  }
  if (allure) report.allure = await allureResults(data, { ...allure, runDir: dir })
  return report
}

async function allureResults(data: RunData, target: AllureTarget): Promise<AllureOutcome> {
  try {
    // The writer (and allure-js-commons) loads only when Allure results are asked for.
    const { writeAllureResults } = await import('./allure.ts')
    return { resultsDir: target.resultsDir, results: writeAllureResults(data, target) }
  } catch (error) {
    return {
      resultsDir: target.resultsDir,
      error: `cannot write Allure results to ${target.resultsDir}: ${(error as Error).message || String(error)}`,
    }
  }
}
