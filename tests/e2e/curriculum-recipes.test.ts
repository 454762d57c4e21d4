import { cpSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, type JsonReport, REPO, type RunResult, type TestProject } from './project.ts'

// The curriculum's last module (recipes/12_advanced_full.yaml) and the older reference example
// (recipes/example_numbers.yaml), as they are in this repository, run in a copy of the
// workspace: twice as `vitest run recipes/` (the second run must pass from the cache and
// clean nothing), then with -t as the older `--only aggregate_metrics generate_report`.

const ADVANCED = 'recipes/12_advanced_full.yaml'
const MATRIX = 'recipes/13_matrix.yaml'
const EXAMPLE = 'recipes/example_numbers.yaml'
const INTERMEDIATE = 'Data/advanced_normalized.json'

type Run = RunResult & { report: JsonReport }
type StepMeta = Record<string, any>

let project: TestProject
let first: Run
let second: Run
let selected: Run
/** Whether the intermediate artifact was there after each full run. */
const intermediateLeft: boolean[] = []

beforeAll(async () => {
  project = createProject({})
  for (const path of [
    ADVANCED,
    EXAMPLE,
    MATRIX,
    'scriptlets',
    'templates/advanced_report_template.md',
    'Data/numbers.txt',
    'Data/example_numbers.csv',
  ]) {
    cpSync(join(REPO, path), join(project.root, path), {
      recursive: true,
      filter: (source) => !source.includes('__pycache__'),
    })
  }
  first = await project.vitestJson(['recipes/'])
  intermediateLeft.push(existsSync(join(project.root, INTERMEDIATE)))
  second = await project.vitestJson(['recipes/'])
  intermediateLeft.push(existsSync(join(project.root, INTERMEDIATE)))
  selected = await project.vitestJson([ADVANCED, '-t', 'aggregate_metrics|generate_report'])
}, 300_000)
afterAll(() => project?.remove())

function tests(run: Run, file: string) {
  const result = run.report.testResults.find((entry) => entry.name.endsWith(file))
  if (!result) throw new Error(`no results for ${file}: ${run.output}`)
  return result.assertionResults
}
function metaOf(run: Run, file: string, step: string): StepMeta {
  const meta = tests(run, file).find((entry) => entry.title === step)?.meta?.recipeStep
  if (!meta) throw new Error(`step ${step} of ${file} has no record`)
  return meta
}
/** The value a step wrote to `key` (its last write; the meta carries it whole when no patch is shorter). */
function written(run: Run, step: string, key: string, file = ADVANCED): unknown {
  return metaOf(run, file, step)
    .writes.filter((write: { key: string }) => write.key === key)
    .at(-1)?.value
}
/** A key of a finished run's final ctx, through `recipes ctx get`. */
async function ctxOf(run: Run, key: string, file = ADVANCED): Promise<unknown> {
  // From a step that ran as selected: a setup step's filtered-out test may reach the report
  // without its record (Vitest reports skipped tests early); the store has every step.
  const runId = tests(run, file).find((entry) => entry.status === 'passed' && entry.meta?.recipeStep)?.meta?.recipeStep
    ?.runId as string | undefined
  if (!runId) throw new Error(`no step of ${file} carries its run id: ${run.output}`)
  const result = await project.recipes(['ctx', 'get', key, '--run', runId])
  expect(result.code, result.output).toBe(0)
  return (JSON.parse(result.stdout) as { value: unknown }).value
}

describe('recipes/12_advanced_full.yaml (CUR-12)', () => {
  test('the first run passes: a cache miss, and cleanup removes the intermediate artifact', () => {
    expect(first.code, first.output).toBe(0)
    expect(tests(first, ADVANCED).map((entry) => [entry.title, entry.status])).toEqual(
      [
        'load_numbers',
        'validate_numbers',
        'normalize_numbers',
        'cache_numbers',
        'compute_metrics_v1',
        'compute_metrics_v2',
        'compute_mean',
        'compute_median',
        'compute_std',
        'prime_factors',
        'aggregate_metrics',
        'resource_audit',
        'generate_report',
        'cleanup_intermediate',
      ].map((step) => [step, 'passed']),
    )
    expect(metaOf(first, ADVANCED, 'normalize_numbers').status).toBe('passed')
    expect(written(first, 'cache_numbers', 'cache.numbers_hit_v1')).toBe(false)
    expect(written(first, 'cache_numbers', 'cache.numbers_hash_v1')).toMatch(/^[0-9a-f]{64}$/)
    expect(written(first, 'cleanup_intermediate', 'cleanup.removed_v1')).toEqual([INTERMEDIATE])
    expect(intermediateLeft[0]).toBe(false)
  })

  test("_runner.step_metrics_v1 holds each step's measured figures, the ones of its record, written by _runner", async () => {
    const figures = (await ctxOf(first, '_runner.step_metrics_v1')) as Record<string, Record<string, unknown>>
    const steps = tests(first, ADVANCED).map((entry) => entry.title)
    expect(Object.keys(figures).sort()).toEqual([...steps].sort())
    for (const step of steps) {
      const meta = metaOf(first, ADVANCED, step)
      expect(figures[step], step).toEqual({
        status: 'passed',
        duration_ms: meta.durationMs,
        cpu_ms: meta.cpuMs,
        ...(meta.peakRssBytes === null ? {} : { peak_rss_mb: meta.peakRssBytes / 2 ** 20 }),
        attempts: 1,
      })
      expect(meta.durationMs, step).toBeGreaterThan(0)
    }
    // The CPU step ran in a worker thread: busy time, and no RSS of its own.
    expect(figures.prime_factors!.cpu_ms).toBeGreaterThan(0)
    expect(figures.prime_factors).not.toHaveProperty('peak_rss_mb')
  })

  test('resource.audit_v1 sums up the figures of every step before it', () => {
    const audit = written(first, 'resource_audit', 'resource.audit_v1') as Record<string, any>
    const before = tests(first, ADVANCED)
      .map((entry) => metaOf(first, ADVANCED, entry.title))
      .filter((meta) => meta.idx < 12)
    const sum = (pick: (meta: StepMeta) => number) => before.reduce((total, meta) => total + pick(meta), 0)
    const measured = before.filter((meta) => meta.peakRssBytes !== null)
    const peak = Math.max(...measured.map((meta) => meta.peakRssBytes / 2 ** 20))
    expect(audit).toMatchObject({
      steps: 11,
      by_status: { passed: 11 },
      rss_measured_steps: measured.length,
    })
    expect(audit.total_duration_ms).toBeCloseTo(
      sum((meta) => meta.durationMs),
      2,
    )
    expect(audit.total_cpu_ms).toBeCloseTo(
      sum((meta) => meta.cpuMs),
      2,
    )
    expect(audit.peak_rss_mb).toBeCloseTo(peak, 2)
    const slowest = [...before].sort((a, b) => b.durationMs - a.durationMs).slice(0, 3)
    expect(audit.slowest.map((row: { step: string }) => row.step)).toEqual(slowest.map((meta) => meta.step))
  })

  test('the second run passes too: normalize_numbers from the cache, a cache hit, and nothing to clean', () => {
    expect(second.code, second.output).toBe(0)
    expect(tests(second, ADVANCED).every((entry) => entry.status === 'passed')).toBe(true)
    expect(metaOf(second, ADVANCED, 'normalize_numbers')).toMatchObject({
      status: 'cached',
      cachedFrom: metaOf(first, ADVANCED, 'normalize_numbers').runId,
    })
    expect(written(second, 'cache_numbers', 'cache.numbers_hit_v1')).toBe(true)
    expect(written(second, 'cache_numbers', 'cache.numbers_hash_v1')).toBe(
      written(first, 'cache_numbers', 'cache.numbers_hash_v1'),
    )
    expect(written(second, 'cleanup_intermediate', 'cleanup.removed_v1')).toEqual([])
    expect(intermediateLeft[1]).toBe(false)
    expect(written(second, 'resource_audit', 'resource.audit_v1')).toMatchObject({
      steps: 11,
      by_status: { passed: 10, cached: 1 },
    })
  })

  test('-t "aggregate_metrics|generate_report" runs those two, the steps they need first as setup', async () => {
    expect(selected.code, selected.output).toBe(0)
    const statuses = Object.fromEntries(tests(selected, ADVANCED).map((entry) => [entry.title, entry.status]))
    expect(Object.entries(statuses).filter(([, status]) => status === 'passed')).toEqual([
      ['aggregate_metrics', 'passed'],
      ['generate_report', 'passed'],
    ])
    // The runner's record of the run: every step they need ran as setup; cleanup_intermediate did not run.
    const figures = (await ctxOf(selected, '_runner.step_metrics_v1')) as Record<string, { status: string }>
    const recorded = Object.fromEntries(Object.entries(figures).map(([step, entry]) => [step, entry.status]))
    expect(recorded).toEqual(
      Object.fromEntries(
        Object.keys(statuses)
          .filter((step) => step !== 'cleanup_intermediate')
          .map((step) => [step, step === 'aggregate_metrics' || step === 'generate_report' ? 'passed' : 'setup']),
      ),
    )
    expect(await ctxOf(selected, 'resource.audit_v1')).toMatchObject({
      steps: 11,
      by_status: { setup: 10, passed: 1 },
    })
    expect(await ctxOf(selected, 'report.path_v1')).toBe('Data/advanced_report.md')
    const report = project.read('Data/advanced_report.md')
    expect(report).toContain('seen before\n(`cache.numbers_hit_v1`): true.')
    expect(report).toContain('Steps audited: 11;')
  })
})

describe('recipes/example_numbers.yaml (EX-NUM)', () => {
  test('compute_numbers writes numbers.stats_v1 and compute_median metrics.median_v1, on every run', () => {
    for (const run of [first, second]) {
      expect(tests(run, EXAMPLE).map((entry) => [entry.title, entry.status])).toEqual([
        ['compute_numbers', 'passed'],
        ['compute_median', 'passed'],
      ])
      expect(written(run, 'compute_numbers', 'numbers.stats_v1', EXAMPLE)).toEqual({
        count: 5,
        mean: 4,
        min: 1,
        max: 10,
      })
      expect(written(run, 'compute_median', 'metrics.median_v1', EXAMPLE)).toBe(3)
    }
  })
})

describe('recipes/13_matrix.yaml (CUR-13)', () => {
  test('one qualification over three simulated switches: each its own run, with its own values, side by side', () => {
    const results = tests(first, MATRIX)
    expect(results).toHaveLength(9)
    expect(results.every((entry) => entry.status === 'passed')).toBe(true)
    const runs = new Map<string, StepMeta[]>()
    for (const entry of results) {
      const meta = entry.meta?.recipeStep as StepMeta
      runs.set(meta.runId, [...(runs.get(meta.runId) ?? []), meta])
    }
    expect(runs.size).toBe(3)
    const spans: [number, number][] = []
    for (const steps of runs.values()) {
      const dut = steps[0]!.vars.dut as string
      expect(steps.map((step) => step.vars.dut)).toEqual([dut, dut, dut])
      const ports = steps.find((step) => step.step === 'check_ports')!
      expect(ports.writes.at(-1).value).toMatchObject({ dut, total: 48 })
      const start = Math.min(...steps.map((step) => Date.parse(step.startTime)))
      const end = Math.max(...steps.map((step) => Date.parse(step.startTime) + step.durationMs))
      spans.push([start, end])
    }
    expect(new Set([...runs.values()].map((steps) => steps[0]!.vars.dut))).toEqual(
      new Set(['rack1-sw1', 'rack1-sw2', 'rack1-sw3']),
    )
    // Distinct resources (dut:<switch>): the three runs overlap in time.
    const latestStart = Math.max(...spans.map(([start]) => start))
    const earliestEnd = Math.min(...spans.map(([, end]) => end))
    expect(latestStart).toBeLessThan(earliestEnd)
  })
})
