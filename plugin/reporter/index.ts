import { dirname, join, relative, resolve, sep } from 'node:path'
import { DefaultReporter, DotReporter, type Reporter, type TestCase, type TestModule, type Vitest } from 'vitest/node'
import { type AnalysisOptions, analyzeStoredRun, DEFAULT_AI_TIMEOUT_MS } from '../analysis/index.ts'
import {
  ALLURE_CONFIG_FILE,
  clearAllureResults,
  RUN_ALLURE_RESULTS,
  writeAllureConfig,
} from '../exporters/allure-folder.ts'
import { forgetChartsAhead, OFFICE_FORMATS, preloadWriters, type ReportFormat } from '../exporters/index.ts'
import { type RunReport, reportStoredRun } from '../exporters/report-run.ts'
import { describeAttempts, recipeStepMeta, setupNote } from '../runtime/meta.ts'
import type { AiSummary, RunData } from '../store/run-data.ts'
import { RunStore } from '../store/run-store.ts'
import { collectRuns, importRun, matrixCombinations, mergedModules, recordMissedSteps } from './collected-runs.ts'
import { DocumentsAhead } from './documents-ahead.ts'
import { addJUnitSkipNotes } from './junit-skip-notes.ts'
import { mapLimited } from './limit.ts'
import { combineShardCopies, matrixSummaryLines, writeMatrixSummary } from './matrix-summary.ts'

export interface RecipesReporterOptions {
  /** The store, absolute or relative to the root (RECIPES_DB wins). */
  db: string
  /** Where `<run_id>/report.*` go, absolute or relative to the root. */
  dir: string
  formats: readonly ReportFormat[]
  /** The step logs' folder, relative to the root (report.html embeds the logs). @default 'Logs' */
  logsDir?: string
  /** Office documents and report.html inside the VS Code extension too (skipped there by default: a click on one step should not write a workbook or load the chart engines). */
  office?: boolean
  /** How each run is analysed before its documents are written. */
  analysis?: AnalysisOptions
  /** Allure results of the runs, in `resultsDir` (absolute or relative to the root); skipped inside the VS Code extension. */
  allure?: { resultsDir: string }
}

/**
 * Added by the plugin to every Vitest run: once the run ends (or a sharded run's blobs are
 * merged with --merge-reports), it writes the documents of each recipe run from the store,
 * then, with the option `allure`, their Allure results (the folder holds this Vitest run's).
 * The runtime has already stored every step as it ended; this reporter only reads, except
 * at a merge, where runs recorded on other machines are imported from the tests' meta.
 */
export class RecipesReporter implements Reporter {
  /** How the plugin recognises its own reporter among the configured ones. */
  readonly name = 'vitest-recipes'
  private vitest: Vitest | undefined
  private readonly options: RecipesReporterOptions
  private preloaded = false
  /** Whether a reporter prints the tests' results in the terminal (default, verbose, dot...). */
  private terminal = true
  /** The documents of the runs whose recipe file has ended, written while the other files run. */
  private readonly ahead: DocumentsAhead
  /**
   * At --merge-reports, every module the blobs gave, in order: a matrix recipe sharded by
   * combination is in each shard's blob, and Vitest keeps only the last copy of a file.
   */
  private mergedCopies: TestModule[] = []

  constructor(options: RecipesReporterOptions) {
    this.options = options
    this.ahead = new DocumentsAhead(options)
  }

  onInit(vitest: Vitest): void {
    this.vitest = vitest
    this.preloaded = false
    this.mergedCopies = []
    // The reporters Vitest created from the config are on the instance in 4.1 and 5.1, untyped.
    const reporters = (vitest as unknown as { reporters?: readonly unknown[] }).reporters
    // A blocked or skipped step's JUnit testcase says why (the README promises `blocked: <step> failed`).
    addJUnitSkipNotes(reporters ?? [])
    // Lines of ours under the tests' results only where a reporter prints them (not into a JUnit or JSON report on stdout).
    this.terminal =
      reporters === undefined ||
      reporters.some((reporter) => reporter instanceof DefaultReporter || reporter instanceof DotReporter)
  }

  // The first recipe step to end starts loading the Office writers, so that they are ready
  // when the run ends instead of adding their load time to the documents.
  onTestCaseResult(testCase: TestCase): void {
    if (this.preloaded || !recipeStepMeta(testCase.meta())) return
    this.preloaded = true
    const formats = this.documentFormats()
    if (formats) preloadWriters(formats)
  }

  // As each recipe file ends, its runs' documents are written while the other files run (documents-ahead.ts).
  async onTestModuleEnd(testModule: TestModule): Promise<void> {
    this.sayAttempts(testModule)
    this.sayWhatRanAsSetup(testModule)
    const vitest = this.vitest
    // Merging, a matrix file's copies are summed up once all blobs are read (onTestRunEnd).
    if (vitest?.config.mergeReports) this.mergedCopies.push(testModule)
    else this.sayMatrix([testModule])
    const formats = this.documentFormats()
    if (!vitest || !this.preloaded || !formats || formats.length === 0) return
    const runs = collectRuns([testModule])
    if (runs.size === 0) return
    const root = vitest.config.root
    await this.ahead.start(root, runs.keys(), formats, async (store, runId) => {
      // What the store missed of the run (a journal append refused) is in its tests' meta.
      await recordMissedSteps(store, runId, runs.get(runId)!)
      return this.writeRun(store, runId, root, formats)
    })
  }

  /**
   * Writes a run's documents in `formats` from the store, analysed first (an AI summary waits
   * until `aiUntil` at most), with its Allure results where `allure` says.
   */
  private writeRun(
    store: RunStore,
    runId: string,
    root: string,
    formats: readonly ReportFormat[],
    aiUntil?: number,
    allure?: { resultsDir: string; root: string },
  ): Promise<RunReport | undefined> {
    const analyze = (data: RunData) => analyzeStoredRun(store, data, this.options.analysis, aiUntil)
    return reportStoredRun(store, runId, resolve(root, this.options.dir), formats, analyze, allure, this.logs(root))
  }

  private logs(root: string): { root: string; logsDir: string } {
    return { root, logsDir: resolve(root, this.options.logsDir ?? 'Logs') }
  }

  /**
   * After the module's results, a line for each retried step: what its attempts came to
   * (`passed on attempt 2 of 3`). Vitest shows only ✓ or ✗ under the step's name, which
   * must stay the step's name alone (-t and the VS Code extension match on it).
   */
  private sayAttempts(testModule: TestModule): void {
    const vitest = this.vitest
    if (!vitest || !this.terminal) return
    let recipe: string | undefined
    for (const testCase of testModule.children.allTests()) {
      const meta = recipeStepMeta(testCase.meta())
      const attempts = meta && describeAttempts(meta)
      if (attempts === undefined) continue
      recipe ??= relative(vitest.config.root, testModule.moduleId)
      vitest.logger.log(`   ↻ ${recipe} > ${testCase.name}: ${attempts}`)
    }
  }

  /**
   * The terminal says which steps ran as setup inside a selected step's test: Vitest reports
   * those steps skipped, and its default reporter prints no annotation of a test that passed.
   */
  private sayWhatRanAsSetup(testModule: TestModule): void {
    if (!this.terminal) return
    for (const test of testModule.children.allTests()) {
      const meta = recipeStepMeta(test.meta())
      const note = meta && setupNote(meta)
      if (note) this.vitest?.logger.log(` vitest-recipes  ${note}`)
    }
  }

  /**
   * After a matrix recipe's results, its combinations side by side (matrix-summary.ts): in
   * the terminal, and as `matrix-<recipe>.md` beside the runs' documents. `copies`: the
   * recipe's module, or at --merge-reports its copy from each shard's blob.
   */
  private sayMatrix(copies: readonly TestModule[]): void {
    const vitest = this.vitest
    if (!vitest || copies.length === 0) return
    const combinations = combineShardCopies(copies.map(matrixCombinations))
    if (!combinations.some((combination) => combination.steps.length > 0)) return
    const recipe = relative(vitest.config.root, copies[0]!.moduleId).split(sep).join('/')
    if (this.terminal) for (const line of matrixSummaryLines(recipe, combinations)) vitest.logger.log(line)
    if (!this.documentFormats()?.length) return
    try {
      writeMatrixSummary(resolve(vitest.config.root, this.options.dir), recipe, combinations)
    } catch (problem) {
      vitest.logger.error(
        `vitest-recipes: the matrix summary of ${recipe} was not written: ${(problem as Error).message} (each combination's documents and the run store are kept)`,
      )
    }
  }

  async onTestRunEnd(testModules: ReadonlyArray<TestModule>): Promise<void> {
    // Taken as they end, one run at a time below; all of them before this returns.
    const { reports: pendingAhead, closed: finished } = this.ahead.handOver()
    const vitest = this.vitest
    const modules = vitest && this.modulesOfRun(vitest, testModules)
    const runs = modules && collectRuns(modules)
    if (vitest?.config.mergeReports) this.sayMergedMatrices(modules ?? [])
    const formats = this.documentFormats()
    if (!vitest || !runs || runs.size === 0 || !formats) {
      await finished
      return
    }
    const root = vitest.config.root
    const log = (line: string) => vitest.logger.log(line)
    const error = (line: string) => vitest.logger.error(line)

    let store: RunStore
    try {
      store = await RunStore.openIn(root, this.options.db)
    } catch (problem) {
      error(`vitest-recipes: no reports written: ${(problem as Error).message}`)
      return
    }
    const started = performance.now()
    // The AI summaries of all runs ending now share one wait of timeoutMs.
    const ai = this.options.analysis?.ai
    const aiUntil = ai ? started + (ai.timeoutMs ?? DEFAULT_AI_TIMEOUT_MS) : undefined
    const shown = (path: string) => relative(root, path) || '.'
    const written = formats.length > 0
    const allure = this.allureResults(root, error)
    let allureRuns = 0
    // Long exports (many runs, big workbooks) show progress: a line per run as it is done.
    if (written)
      log(
        `\n vitest-recipes  reports of ${runs.size} run${runs.size === 1 ? '' : 's'} (${formats.join(', ')}) in ${shown(resolve(root, this.options.dir))}/`,
      )
    try {
      // Several runs' documents are written side by side; each run's lines are printed in run order.
      const reports = mapLimited([...runs], PARALLEL_RUNS, async ([runId, collected]) => {
        try {
          const early = await pendingAhead.get(runId)?.catch(() => undefined)
          if (early) {
            // Its documents are written: only its Allure results are left (this Vitest run's folder was emptied above).
            if (!allure) return { runId, report: early }
            const results = await reportStoredRun(
              store,
              runId,
              resolve(root, this.options.dir),
              [],
              async () => undefined,
              allure,
            )
            return { runId, report: { ...early, ...(results?.allure ? { allure: results.allure } : {}) } }
          }
          if (!(await store.hasRun(runId))) await importRun(store, runId, collected, vitest.version)
          else await recordMissedSteps(store, runId, collected)
          return { runId, report: await this.writeRun(store, runId, root, formats, aiUntil, allure) }
        } catch (problem) {
          return { runId, problem: problem as Error }
        }
      })
      for (const pending of reports) {
        const { runId, report, problem } = await pending
        if (problem) {
          error(`   ✗ the reports of run ${runId} failed: ${problem.message} (its steps are in the run store)`)
          continue
        }
        if (!report) continue
        if (report.ai) log(`   ${report.recipe}  ${describeAi(report.ai)}`)
        // A folder is named only when a document is in it: the lines below say what was not written.
        if (written)
          log(
            `   ${report.recipe}  ${report.status}  ${report.outcomes.some((item) => item.error === undefined) ? `${shown(report.dir)}/` : 'no documents written'}`,
          )
        for (const outcome of report.outcomes.filter((item) => item.error !== undefined)) {
          error(
            `   ✗ report.${outcome.format} of run ${report.runId} was not written: ${outcome.error} (the other reports and the run store are kept; \`npx recipes report --run ${report.runId}\` retries)`,
          )
        }
        if (report.allure?.error !== undefined)
          error(
            `   ✗ the Allure results of run ${runId} were not written: ${report.allure.error} (the reports and the run store are kept; \`npx recipes report --run ${runId} --format allure\` writes them to ${shown(join(report.dir, RUN_ALLURE_RESULTS))}/)`,
          )
        else if (report.allure) allureRuns++
      }
    } finally {
      await finished
      await store.close()
      forgetChartsAhead()
    }
    if (written) log(`   written in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    if (allure && allureRuns > 0)
      log(
        ` vitest-recipes  Allure results of ${allureRuns} run${allureRuns === 1 ? '' : 's'} in ${shown(allure.resultsDir)}/ (a report with their history: npx allure generate --config ${shown(join(dirname(allure.resultsDir), ALLURE_CONFIG_FILE))})`,
      )
  }

  /**
   * The modules whose runs this Vitest run reports: the ended ones; at --merge-reports every
   * copy the blobs gave (the shards of a matrix each ran some of its combinations).
   */
  private modulesOfRun(vitest: Vitest, ended: ReadonlyArray<TestModule>): ReadonlyArray<TestModule> {
    if (!vitest.config.mergeReports) return ended
    const copies = [...this.mergedCopies]
    this.mergedCopies = []
    return [...new Set([...copies, ...(ended.length > 0 ? ended : mergedModules(vitest))])]
  }

  /** At --merge-reports, each matrix recipe's summary from all its shards' copies, once. */
  private sayMergedMatrices(modules: ReadonlyArray<TestModule>): void {
    const byFile = new Map<string, TestModule[]>()
    for (const module of modules) byFile.set(module.moduleId, [...(byFile.get(module.moduleId) ?? []), module])
    for (const copies of byFile.values()) this.sayMatrix(copies)
  }

  /**
   * Where this Vitest run's Allure results go, emptied of the previous run's (one folder, one
   * launch), with an Allure config beside it unless there is one; undefined when they are
   * not written here (no option, the VS Code extension, or a folder that cannot be prepared).
   */
  private allureResults(root: string, error: (line: string) => void): { resultsDir: string; root: string } | undefined {
    if (!this.options.allure || process.env.VITEST_VSCODE) return undefined
    const resultsDir = resolve(root, this.options.allure.resultsDir)
    try {
      clearAllureResults(resultsDir)
      writeAllureConfig(resultsDir)
    } catch (problem) {
      error(`vitest-recipes: no Allure results written: cannot prepare ${resultsDir}: ${(problem as Error).message}`)
      return undefined
    }
    return { resultsDir, root }
  }

  /** The formats this run writes, or undefined when it writes none here (a shard's blob reports at the merge). */
  private documentFormats(): readonly ReportFormat[] | undefined {
    const vitest = this.vitest
    if (!vitest) return undefined
    const reporters = vitest.config.reporters as unknown[]
    // A shard writing a blob reports at the merge, where all shards' runs come together.
    if (reporters.some((reporter) => reporter === 'blob' || (Array.isArray(reporter) && reporter[0] === 'blob')))
      return undefined
    return process.env.VITEST_VSCODE && !this.options.office
      ? this.options.formats.filter((format) => !OFFICE_FORMATS.includes(format))
      : this.options.formats
  }
}

/** One line on the AI summary of a run: answered, or why not (the documents say the same). */
function describeAi(ai: AiSummary): string {
  const took = `${(ai.ms / 1000).toFixed(1)} s`
  return ai.status === 'answered'
    ? `AI summary from ${ai.model} at ${ai.endpoint} in ${took} (a suggestion: check it against the data)`
    : `AI summary unavailable (${ai.model} at ${ai.endpoint}): ${ai.reason}`
}

/** How many runs have their documents written at once: enough to overlap their file and zip work, few enough to bound memory. */
const PARALLEL_RUNS = 4
