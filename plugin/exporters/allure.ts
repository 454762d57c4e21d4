import { historyEntryOf } from '../store/history-entry.ts'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ContentType, LabelName, Stage, Status, type Label, type Parameter } from 'allure-js-commons'
import {
  FileSystemWriter,
  getFrameworkLabel,
  getLanguageLabel,
  parseEnvInfo,
  ReporterRuntime,
} from 'allure-js-commons/sdk/reporter'
import type { JsonValue } from '../context/json-value.ts'
import { type RunData, type StepRow, testMetaOf } from '../store/run-data.ts'

export interface AllureTarget {
  /** The folder the result files go to. */
  resultsDir: string
  /** The project root: step log paths are relative to it. */
  root: string
  /** The run's documents folder (`<reports>/<run_id>/`): its `charts/*.png` are attached when present. */
  runDir: string
}

/**
 * How a step's status reads in Allure, and the note that says what Allure's status does not:
 * a step that did not run (blocked, skipped) is skipped; one that passed without running now
 * (cached, resumed), ran only as setup, or failed as its recipe expected, is passed (its own
 * status stays in the `recipe_status` label). A status this writer does not know is broken.
 */
export function allureStatusOf(status: string): Status {
  switch (status) {
    case 'passed':
    case 'setup':
    case 'cached':
    case 'resumed':
    case 'expected-error':
      return Status.PASSED
    case 'failed':
      return Status.FAILED
    case 'blocked':
    case 'skipped':
      return Status.SKIPPED
    default:
      return Status.BROKEN
  }
}

/**
 * The run's results in Allure's format, through allure-js-commons' own runtime and file writer
 * (the library allure-vitest is built on): one test result per step, named after it, with
 * `<recipe>#<step>` as full name, so Allure's test case id (md5 of the full name) and history
 * id (with the step's parameters, Allure's convention) are the same in every run of the
 * recipe: Allure's history and trends follow each step across runs. Each earlier attempt of a
 * retried step is a result of its own with the same ids, which Allure shows as a retry. An
 * Allure container holds the run as a fixture, "recipe run", with the analysis and the run's
 * chart images, set up for every step. Everything written comes from the store, already
 * redacted. Returns the number of step results written.
 */
export async function writeAllureResults(data: RunData, target: AllureTarget): Promise<number> {
  const runtime = new ReporterRuntime({ writer: new FileSystemWriter({ resultsDir: target.resultsDir }) })
  const { run } = data
  const runStart = Date.parse(run.startTime)
  const runStop = run.endTime === null ? undefined : Date.parse(run.endTime)

  const scope = runtime.startScope()
  const fixture = runtime.startFixture(scope, 'before', {
    name: 'recipe run',
    description: `Run ${run.runId} of ${run.recipe}: ${run.status}`,
    status: run.status === 'interrupted' || run.status === 'running' ? Status.BROKEN : Status.PASSED,
    statusDetails:
      run.status === 'interrupted'
        ? { message: 'The run was interrupted: the steps after the last one recorded did not report.' }
        : run.status === 'running'
          ? { message: 'The run had not ended when these results were written.' }
          : {},
    stage: Stage.FINISHED,
    start: runStart,
  })!
  if (data.analysis)
    runtime.writeAttachment(fixture, null, 'analysis', Buffer.from(data.analysis.summaryText), {
      contentType: ContentType.TEXT,
    })
  for (const [name, file] of chartsOf(target.runDir))
    runtime.writeAttachment(fixture, null, name, file, { contentType: ContentType.PNG })
  runtime.stopFixture(fixture, { stop: runStop ?? runStart })

  const labels = runLabels(data)
  const diffs = await ctxDiffs(data)
  const description = stepDescription(data)
  // Each step and attempt starts when the store says it did (steps side by side overlap on
  // Allure's timeline); one stored without a start time (schema 8 and before, a step that did
  // not run) follows the step before it, from the run's start, and an attempt without one
  // the attempt before it.
  let after = runStart
  for (const step of data.steps) {
    const start = timeOf(step.startTime) ?? after
    const fullName = `${run.recipe}#${step.step}`
    const parameters = parametersOf(step)
    const stepLabels = [...labels, { name: 'recipe_status', value: step.status }]
    const attempts = step.attemptLog
    let attemptStart = start
    attempts.slice(0, -1).forEach((attempt) => {
      attemptStart = timeOf(attempt.startTime) ?? attemptStart
      const retry = runtime.startTest({
        name: step.step,
        fullName,
        status: attempt.status === 'passed' ? Status.PASSED : Status.FAILED,
        statusDetails: attempt.reason === undefined ? {} : { message: attempt.reason },
        stage: Stage.FINISHED,
        labels: stepLabels,
        parameters: [...parameters, attemptParameter(attempt.attempt, attempts.length)],
        description: description(step),
        start: attemptStart,
      })
      attemptStart += attempt.durationMs
      runtime.stopTest(retry, { stop: attemptStart })
      runtime.writeTest(retry)
    })
    attemptStart = timeOf(attempts.at(-1)?.startTime) ?? attemptStart
    const uuid = runtime.startTest(
      {
        name: step.step,
        fullName,
        status: allureStatusOf(step.status),
        statusDetails: step.reason === null ? {} : { message: step.reason },
        stage: Stage.FINISHED,
        labels: stepLabels,
        parameters:
          attempts.length > 1 ? [...parameters, attemptParameter(attempts.length, attempts.length)] : parameters,
        description: description(step),
        start: attemptStart,
      },
      [scope],
    )
    if (step.logPath !== null) {
      const log = resolve(target.root, step.logPath)
      if (existsSync(log)) runtime.writeAttachment(uuid, null, 'log', log, { contentType: ContentType.TEXT })
    }
    const diff = diffs.get(step.step)
    if (diff)
      runtime.writeAttachment(uuid, null, 'ctx diff', Buffer.from(`[\n${diff.join(',\n')}\n]\n`), {
        contentType: ContentType.JSON,
      })
    if (step.envelope)
      runtime.writeAttachment(uuid, null, 'envelope', Buffer.from(JSON.stringify(step.envelope, null, 2)), {
        contentType: ContentType.JSON,
      })
    // A step's duration covers its attempts; the last one ends with it.
    const stop = Math.max(start + step.durationMs, attemptStart + (attempts.at(-1)?.durationMs ?? 0))
    runtime.stopTest(uuid, { stop })
    runtime.writeTest(uuid)
    after = Math.max(after, stop)
  }
  runtime.writeScope(scope)
  writeEnvironment(data, target.resultsDir)
  return data.steps.length
}

/** The labels every step of the run carries. */
function runLabels(data: RunData): Label[] {
  const { run } = data
  const meta = testMetaOf(run)
  const labels: Label[] = [
    { name: LabelName.PARENT_SUITE, value: 'recipes' },
    { name: LabelName.SUITE, value: run.recipe },
    getFrameworkLabel('vitest-recipes'),
    getLanguageLabel(),
    // The timeline shows each run on a lane of its own.
    { name: LabelName.THREAD, value: run.runId },
    { name: 'run_id', value: run.runId },
  ]
  if (run.testId !== null) labels.push({ name: 'test_id', value: run.testId })
  if (typeof meta.tester === 'string') labels.push({ name: LabelName.OWNER, value: meta.tester })
  if (Array.isArray(meta.tags))
    for (const tag of meta.tags) labels.push({ name: LabelName.TAG, value: typeof tag === 'string' ? tag : text(tag) })
  if (run.host !== null) labels.push({ name: LabelName.HOST, value: run.host })
  return labels
}

/** Each named arg a parameter; positional args (exec steps) one parameter, `args`, as JSON. */
function parametersOf(step: StepRow): Parameter[] {
  if (Array.isArray(step.params)) return step.params.length > 0 ? [{ name: 'args', value: text(step.params) }] : []
  return Object.entries(step.params).map(([name, value]) => ({
    name,
    value: typeof value === 'string' ? value : text(value),
  }))
}

/** Which attempt a result is: excluded from the ids, so all attempts of a step are one test case and Allure's retries. */
function attemptParameter(attempt: number, of: number): Parameter {
  return { name: 'attempt', value: `${attempt} of ${of}`, excluded: true }
}

function stepDescription(data: RunData): (step: StepRow) => string {
  const recipe = testMetaOf(data.run).description
  return (step) =>
    [
      typeof recipe === 'string' ? `Recipe: ${recipe}` : undefined,
      `Step ${step.idx} of ${data.run.recipe}, run ${data.run.runId}: ${step.status}`,
    ]
      .filter(Boolean)
      .join('\n\n')
}

/** Each step's ctx writes as the JSON objects of its `ctx diff` attachment (key, who, before, after), by step. */
async function ctxDiffs(data: RunData): Promise<Map<string, string[]>> {
  const diffs = new Map<string, string[]>()
  for await (const row of data.history.rows()) {
    if (row.step === null) continue
    const entries = diffs.get(row.step) ?? []
    const { seq: _seq, ts: _ts, step: _step, ...entry } = historyEntryOf(row)
    entries.push(`  ${JSON.stringify(entry)}`)
    diffs.set(row.step, entries)
  }
  return diffs
}

/** The run's chart images (`<runDir>/charts/<name>.png`), by name; none when the folder is absent. */
function chartsOf(runDir: string): [string, string][] {
  const dir = join(runDir, 'charts')
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((file) => file.endsWith('.png'))
    .sort()
    .map((file) => [file.slice(0, -'.png'.length), join(dir, file)])
}

/**
 * environment.properties: the Vitest, Node and host of the runs in the folder. Several runs
 * share one folder (one Vitest run, or a merge of machines): a value that differs between
 * them lists each one.
 */
function writeEnvironment(data: RunData, resultsDir: string): void {
  const file = join(resultsDir, 'environment.properties')
  const env = existsSync(file) ? parseEnvInfo(readFileSync(file, 'utf8')) : {}
  const node = data.run.metadata.node
  const add = (key: string, value: string | null | undefined) => {
    if (!value) return
    const values = new Set((env[key] ?? '').split(', ').filter(Boolean)).add(value)
    env[key] = [...values].sort().join(', ')
  }
  add('vitest', data.run.vitestVersion)
  add('node', typeof node === 'string' ? node : undefined)
  add('host', data.run.host)
  new FileSystemWriter({ resultsDir }).writeEnvironmentInfo(env)
}

function text(value: JsonValue): string {
  return JSON.stringify(value)
}

/** A stored time (ISO) in ms since the epoch; undefined when there is none or it does not parse. */
function timeOf(time: string | null | undefined): number | undefined {
  if (!time) return undefined
  const ms = Date.parse(time)
  return Number.isFinite(ms) ? ms : undefined
}
