import { join, relative, resolve } from 'node:path'
import { clearAllureResults, RUN_ALLURE_RESULTS } from '../../exporters/allure-folder.ts'
import { DEFAULT_FORMATS, DEFAULT_REPORTS_DIR, REPORT_FORMATS, type ReportFormat } from '../../exporters/index.ts'
import { analyzeStoredRun } from '../../analysis/index.ts'
import { reportStoredRun } from '../../exporters/report-run.ts'
import { didYouMean } from '../../recipe/did-you-mean.ts'
import { EXIT_FAILED, EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs, splitList, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { loadProject, openStore } from '../project.ts'
import { projectPath } from '../../recipe/project-path.ts'

/** What --format takes: the documents, and `allure` for the run's Allure results. */
const FORMATS = [...REPORT_FORMATS, 'allure'] as const

export const REPORT_HELP = `Usage: recipes report [--run <run_id>|last] [--recipe <file>] [--format ${FORMATS.join(',')}] [--out <dir>] [--analyze]

Writes the documents of a stored run again (or for the first time): <out>/<run_id>/report.<format>;
with allure, its Allure results in <out>/<run_id>/${RUN_ALLURE_RESULTS}/ (replacing those written there before).
Reads the run store only; runs nothing. Exit 1 when a document could not be written.

Options:
  --run <id>       A run id (or an unambiguous start of one), or "last" (default)
  --recipe <file>  With --run last: the last run of this recipe
  --format <list>  Comma-separated, from ${FORMATS.join(', ')} (default ${DEFAULT_FORMATS.join(',')})
  --out <dir>      Reports folder (default: the plugin's reports.dir, else reports)
  --analyze        Analyse the run again (against the history stored since, and the AI summary
                   when the plugin's analysis.ai is set); by default the stored analysis is kept
  -h, --help       Show this help`

export async function reportCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      run: { type: 'string' },
      recipe: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      analyze: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'report',
  )
  if (values.help) {
    io.stdout(`${REPORT_HELP}\n`)
    return EXIT_OK
  }
  if (positionals.length > 0)
    throw new UsageError(
      `recipes report takes no positional arguments (got "${positionals[0]}"); use --run <id> (see recipes report --help)`,
    )
  if (values.recipe !== undefined && values.run !== undefined && values.run !== 'last')
    throw new UsageError('--recipe picks the last run of a recipe: use it without --run, or give --run <id> alone')
  const formats = values.format === undefined ? [...DEFAULT_FORMATS] : splitList([values.format]).map(checkFormat)
  if (formats.length === 0) throw new UsageError(`--format needs at least one of ${FORMATS.join(', ')}`)
  const documents = formats.filter((format): format is ReportFormat => format !== 'allure')
  const project = await loadProject(io.cwd)
  const reportsOption = project.options.reports
  const out = resolve(
    io.cwd,
    values.out ?? resolve(project.root, (reportsOption ? reportsOption.dir : undefined) ?? DEFAULT_REPORTS_DIR),
  )
  const recipe = values.recipe === undefined ? undefined : projectPath(project.root, resolve(io.cwd, values.recipe))

  const store = await openStore(project)
  try {
    const found = await store.findRun(values.run ?? 'last', recipe)
    if ('error' in found) throw new UsageError(found.error)
    let allure: { resultsDir: string; root: string } | undefined
    if (formats.includes('allure')) {
      allure = { resultsDir: join(out, found.runId, RUN_ALLURE_RESULTS), root: project.root }
      clearAllureResults(allure.resultsDir)
    }
    const report = await reportStoredRun(
      store,
      found.runId,
      out,
      documents,
      async (data) =>
        values.analyze || !data.analysis ? analyzeStoredRun(store, data, project.options.analysis || {}) : undefined,
      allure,
      { root: project.root, logsDir: resolve(project.root, project.options.logsDir ?? 'Logs') },
    )
    if (!report) throw new UsageError(`run ${found.runId} disappeared from ${store.path} while reading it`)
    const shown = (path: string) => (relative(io.cwd, path).startsWith('..') ? path : relative(io.cwd, path) || '.')
    io.stdout(
      `${report.recipe}  run ${report.runId}  ${report.status}, ${report.steps} step${report.steps === 1 ? '' : 's'}\n`,
    )
    let failed = 0
    for (const outcome of report.outcomes) {
      if (outcome.file) io.stdout(`  ${shown(outcome.file)}  (${outcome.ms.toFixed(0)} ms)\n`)
      else {
        failed++
        io.stderr(`recipes: report.${outcome.format} was not written: ${outcome.error}\n`)
      }
    }
    if (report.allure?.error !== undefined) {
      failed++
      io.stderr(`recipes: the Allure results were not written: ${report.allure.error}\n`)
    } else if (report.allure) {
      const results = shown(report.allure.resultsDir)
      io.stdout(
        `  ${results}/  (${report.allure.results} step results; a report: npx allure generate ${results} -o ${shown(join(report.dir, 'allure-report'))})\n`,
      )
    }
    return failed > 0 ? EXIT_FAILED : EXIT_OK
  } finally {
    await store.close()
  }
}

function checkFormat(format: string): (typeof FORMATS)[number] {
  if ((FORMATS as readonly string[]).includes(format)) return format as (typeof FORMATS)[number]
  const suggestion = didYouMean(format, FORMATS)
  throw new UsageError(
    `unknown report format "${format}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (formats: ${FORMATS.join(', ')})`,
  )
}
