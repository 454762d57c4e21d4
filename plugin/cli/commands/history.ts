import { median } from '../../analysis/baseline.ts'
import { MIN_RUNS_FLOOR } from '../../analysis/options.ts'
import { EXIT_OK } from '../../scriptlet/envelope.ts'
import type { HistoryRun } from '../../store/run-store.ts'
import { runWallMs } from '../../store/run-data.ts'
import { comparableStatus, describeSelection, type RunSelection, sameSelection } from '../../store/run-selection.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import { type CliIo, maskedIo } from '../io.ts'
import { createRedactor } from '../../runtime/redact.ts'
import { findRecipeFiles, loadProject, withStore } from '../project.ts'
import { didYouMean } from '../../recipe/did-you-mean.ts'
import { formatMs } from '../../format/run-format.ts'
import { parseVarFlags } from '../var-flags.ts'

export const HISTORY_HELP = `Usage: recipes history <test_id or recipe file> [--var name=value] [--limit N] [--json]

Prints the recent runs of a recipe from the run store (each with its wall time, start to
end), each step's duration in them, and flags, for the latest run, each step whose duration
regressed (above median + 3·MAD of the same step in the last 20 passing runs; with fewer
than 5 such runs nothing is flagged) or whose status flipped since the run before. A run of
some steps only (-t) is marked as such and compared only with runs of the same selection.

Options:
  --var <name=value>  Only runs whose recipe var took this value (repeatable)
  --limit <N>         How many runs to show (default 10)
  --json              Print JSON
  -h, --help          Show this help`

/** The latest run is compared with at most this many earlier passing runs. */
const MAX_BASELINE_RUNS = 20
/** Fewer earlier passing runs flag no regression: the median and MAD of 3 or 4 durations say little. */
export const MIN_BASELINE_RUNS = MIN_RUNS_FLOOR

export interface StepFinding {
  step: string
  status: string
  durationMs: number
  /** Earlier passing runs in which this step passed: the durations it is compared with. */
  baselineRuns: number
  medianMs?: number
  /** Set only with at least MIN_BASELINE_RUNS baseline runs. */
  thresholdMs?: number
  regressed: boolean
  flippedFrom?: string
}

/** A run as findRegressions compares it: its status, which steps it selected (if not all), each step's figures. */
export interface ComparedRun {
  status: string
  selection?: RunSelection
  steps: readonly { step: string; status: string; durationMs: number }[]
}

export async function historyCommand(args: string[], given: CliIo): Promise<number> {
  let io = given
  const { values, positionals } = parseCommandArgs(
    args,
    {
      limit: { type: 'string' },
      var: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'history',
  )
  if (values.help) {
    io.stdout(`${HISTORY_HELP}\n`)
    return EXIT_OK
  }
  if (positionals.length !== 1)
    throw new UsageError('recipes history needs a test_id or a recipe file (see recipes history --help)')
  const limit = Number(values.limit ?? 10)
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit takes a whole number above 0, not "${values.limit}"`)
  const project = await loadProject(io.cwd)
  // Runs keep a secret value masked (a var's, in a run id): asked for by it, they are found by the mask, and never shown.
  const redactor = createRedactor(project.options.secrets ?? [])
  io = maskedIo(given, redactor.text)
  const vars = Object.fromEntries(
    Object.entries(parseVarFlags(values.var)).map(([name, value]) => [name, redactor.text(value)]),
  )
  const wanted = positionals[0]!
  const { shown, earlier, recorded, storePath } = await withStore(project, async (store) => {
    const shown = await store.history(wanted, limit, vars)
    return {
      shown,
      // The latest run's earlier runs of the same steps (the whole recipe, or the same -t selection).
      earlier: shown[0] ? await store.pastRuns(shown[0], MAX_BASELINE_RUNS) : [],
      recorded: shown.length > 0 ? [] : await store.recordedTests(),
      storePath: store.path,
    }
  })
  const latest = shown[0]
  if (!latest && Object.keys(vars).length > 0)
    throw new UsageError(
      `no run of "${wanted}" with ${Object.entries(vars)
        .map(([name, value]) => `${name}=${value}`)
        .join(', ')} is recorded in ${storePath} (without --var, recipes history shows every run)`,
    )
  if (!latest) throw new UsageError(noRunMessage(wanted, recorded, storePath, findRecipeFiles(project)))
  const compared = [latest, ...earlier]
  const findings = findRegressions(compared)
  const baselineRuns = selectBaseline(compared).length
  if (values.json) {
    const baseline = { runs: baselineRuns, minimum: MIN_BASELINE_RUNS, maximum: MAX_BASELINE_RUNS }
    // durationMs: the run's wall time (null while it runs); each step's own time is in its steps.
    const runs = shown.map((run) => ({ ...run, durationMs: runWallMs(run) ?? null }))
    io.stdout(`${JSON.stringify({ runs, baseline, latest: findings }, null, 2)}\n`)
    return EXIT_OK
  }
  const lines = [
    `${latest.testId} (${latest.recipe}): ${shown.length} most recent run(s), newest first; duration: wall time, start to end`,
  ]
  for (const run of shown) {
    const wall = runWallMs(run)
    lines.push(
      `  ${run.runId.padEnd(48)} ${run.startTime.replace('T', ' ').slice(0, 19)}  ${run.status.padEnd(11)} ${(wall === undefined ? '–' : formatMs(wall)).padStart(9)}${run.selection ? `  ${describeSelection(run.selection)}` : ''}`,
    )
  }
  lines.push(...durationMatrix(shown))
  const which = latest.selection
    ? `latest run, step by step (a selection run: -t ${latest.selection.selected.join(', ')}), compared only with runs of the same selection`
    : 'latest run, step by step'
  lines.push(
    baselineRuns < MIN_BASELINE_RUNS
      ? `${which}; baseline: ${plural(baselineRuns)} (need ${MIN_BASELINE_RUNS} to flag regressions):`
      : `${which}; baseline: ${plural(baselineRuns)} (the earlier passing runs, at most ${MAX_BASELINE_RUNS}):`,
  )
  for (const finding of findings) {
    const notes = [
      finding.medianMs === undefined ? '' : `median ${formatMs(finding.medianMs)}`,
      // Said once in the heading when the whole baseline is short; here for a step with fewer passes than the run.
      baselineRuns >= MIN_BASELINE_RUNS && finding.baselineRuns < MIN_BASELINE_RUNS
        ? `passed in ${plural(finding.baselineRuns)} of them (need ${MIN_BASELINE_RUNS})`
        : '',
      finding.regressed ? `REGRESSED: above ${formatMs(finding.thresholdMs!)} (median + 3·MAD)` : '',
      finding.flippedFrom ? `STATUS FLIP: ${finding.flippedFrom} → ${finding.status}` : '',
    ].filter(Boolean)
    lines.push(
      `  ${finding.step.padEnd(28)} ${finding.status.padEnd(8)} ${formatMs(finding.durationMs).padStart(9)}  ${notes.join('; ')}`,
    )
  }
  io.stdout(`${lines.join('\n')}\n`)
  return EXIT_OK
}

const LISTED_TESTS = 8

/**
 * Why history has nothing to show, with what the user can ask for instead: only what this
 * project has (test ids and recipes with recorded runs, its own recipe files), never examples.
 */
function noRunMessage(
  wanted: string,
  recorded: readonly { testId: string; recipe: string }[],
  storePath: string,
  recipeFiles: readonly string[],
): string {
  if (recorded.length === 0) {
    const example = recipeFiles[0] ? `npx vitest run ${recipeFiles[0]}` : 'npx vitest run'
    return `no run of "${wanted}" is recorded: ${storePath} holds no runs yet; run a recipe first (${example})`
  }
  const suggestion = didYouMean(wanted, [
    ...new Set([...recorded.map((item) => item.testId), ...recorded.map((item) => item.recipe)]),
  ])
  const listed = recorded.slice(0, LISTED_TESTS).map((item) => `${item.testId} (${item.recipe})`)
  const more = recorded.length > LISTED_TESTS ? `, and ${recorded.length - LISTED_TESTS} more` : ''
  return [
    `no run of "${wanted}" is recorded in ${storePath}.`,
    suggestion ? ` Did you mean "${suggestion}"?` : '',
    ` Give a test_id or a recipe file with runs: ${listed.join(', ')}${more}.`,
  ].join('')
}

const MATRIX_RUNS = 8

/** Each step's duration in the shown runs (newest first): a status other than passed is shown instead of a time. */
function durationMatrix(runs: readonly HistoryRun[]): string[] {
  const columns = runs.slice(0, MATRIX_RUNS)
  const names = [...new Set(columns.flatMap((run) => run.steps.map((step) => step.step)))]
  if (names.length === 0) return []
  const cell = (run: HistoryRun, name: string) => {
    const step = run.steps.find((item) => item.step === name)
    if (!step) return '–'
    return step.status === 'passed' || step.status === 'cached' ? formatMs(step.durationMs ?? 0) : step.status
  }
  const width = Math.max(28, ...names.map((name) => name.length + 1))
  const selections = columns.some((run) => run.selection)
  return [
    `step durations in the ${columns.length} newest run(s), newest first (– not recorded${selections ? '; -t: a selection run, where only the selected steps and their setup ran' : ''}):`,
    `  ${''.padEnd(width)}${columns.map((run, i) => `#${i + 1}${run.selection ? ' -t' : ''}`.padStart(10)).join('')}`,
    ...names.map((name) => `  ${name.padEnd(width)}${columns.map((run) => cell(run, name).padStart(10)).join('')}`),
  ]
}

/** The earlier runs (newest first) of the same steps as the newest run of `runs`: the whole recipe, or the same -t selection. */
function comparableRuns(runs: readonly ComparedRun[]): ComparedRun[] {
  const [latest, ...earlier] = runs
  return latest ? earlier.filter((run) => sameSelection(run.selection, latest.selection)) : []
}

/** The earlier passing runs (newest first) the newest run of `runs` is compared with. */
function selectBaseline(runs: readonly ComparedRun[]): ComparedRun[] {
  return comparableRuns(runs)
    .filter((run) => run.status === 'passed')
    .slice(0, MAX_BASELINE_RUNS)
}

/**
 * For each step of the newest run of `runs` (newest first): regression against earlier
 * passing runs (only with at least MIN_BASELINE_RUNS of them for that step), and status
 * flips since the run before. Only runs of the same steps are compared (a selection run
 * covers only a part of the recipe), and a step run as setup counts as passed.
 */
export function findRegressions(runs: readonly ComparedRun[]): StepFinding[] {
  const latest = runs[0]
  if (!latest) return []
  const previous = comparableRuns(runs)[0]
  const baseline = selectBaseline(runs)
  return latest.steps.map((step) => {
    const durations = baseline.flatMap((run) =>
      run.steps
        .filter((other) => other.step === step.step && comparableStatus(other.status) === 'passed')
        .map((other) => other.durationMs),
    )
    const finding: StepFinding = {
      step: step.step,
      status: step.status,
      durationMs: step.durationMs,
      baselineRuns: durations.length,
      regressed: false,
    }
    if (durations.length > 0) finding.medianMs = median(durations)
    if (durations.length >= MIN_BASELINE_RUNS) {
      const center = finding.medianMs!
      const mad = median(durations.map((duration) => Math.abs(duration - center)))
      finding.thresholdMs = center + 3 * mad
      finding.regressed = comparableStatus(step.status) === 'passed' && step.durationMs > finding.thresholdMs
    }
    const before = previous?.steps.find((other) => other.step === step.step)?.status
    if (before !== undefined && comparableStatus(before) !== comparableStatus(step.status)) finding.flippedFrom = before
    return finding
  })
}

function plural(runs: number): string {
  return `${runs} run${runs === 1 ? '' : 's'}`
}
