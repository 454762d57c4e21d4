import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { stepDurationsSpec } from '../../plugin/charts/run-specs.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, type RunResult, type TestProject } from './project.ts'

// Execution controls through the real `recipes` CLI: parallel fan-in, worker threads,
// timeouts (process kills, Vitest's backstop), caching and --no-cache, the CLI's checks of
// --skip and --resume-from, and plan. What the runtime decides inside a run (write conflicts,
// retry, a changed cache input, what --skip blocks, what --resume-from restores) is tested
// without Vitest in tests/runtime/ (step-life, run-controls); through the CLI, --skip and
// --resume-from are in the-record.test.ts, retry through vitest run in run-recipes.test.ts.
const TIMING = 'scriptlets/timing.ts'
const RECIPES: Record<string, string> = {
  'recipes/fan_in.yaml': `steps:
  - { idx: 1, name: a, type: ts, module: ${TIMING}, function: Wait, args: { key: fan.a_v1, ms: 600 }, parallel: true, success: { ctx_has_keys: [fan.a_v1] } }
  - { idx: 2, name: b, type: ts, module: ${TIMING}, function: Wait, args: { key: fan.b_v1, ms: 600 }, parallel: true }
  - { idx: 3, name: c, type: ts, module: ${TIMING}, function: Wait, args: { key: fan.c_v1, ms: 600 }, parallel: true, depends_on: [a] }
  - { idx: 4, name: total, type: ts, module: ${TIMING}, function: Sum, args: { keys: [fan.a_v1, fan.b_v1, fan.c_v1], into: fan.total_v1 }, depends_on: [a, b, c] }
`,
  'recipes/cpu.yaml': `steps:
  - { idx: 1, name: primes_a, type: ts, module: ${TIMING}, function: CountPrimes, args: { limit: 20000, key: cpu.primes_a_v1 }, parallel: true }
  - { idx: 2, name: primes_b, type: ts, module: ${TIMING}, function: CountPrimes, args: { limit: 30000, key: cpu.primes_b_v1 }, parallel: true }
  - idx: 3
    name: check
    type: ts
    module: scriptlets/set_key.ts
    args: { key: cpu.done_v1 }
    depends_on: [primes_a, primes_b]
    success:
      ctx_equals: { cpu.primes_a_v1: 2262, cpu.primes_b_v1: 3245 }
`,
  'recipes/hang.yaml': `steps:
  - { idx: 1, name: hang, type: shell, cmd: scriptlets/shell/sleeper.sh, args: [MARKER], timeout: 1 }
`,
  'recipes/hung.yaml': `steps:
  - { idx: 1, name: hung, type: ts, module: scriptlets/misbehaving.ts, function: Hangs, timeout: 1, retry: { max: 2 } }
  - { idx: 2, name: after, type: ts, module: scriptlets/set_key.ts, args: { key: hung.after_v1 } }
`,
  'recipes/cached.yaml': `steps:
  - { idx: 1, name: measure, type: ts, module: ${TIMING}, function: Counted, args: { counter: Data/measure.count, key: cache.value_v1, value: 42 }, cache: { inputs: [Data/input.txt] } }
  - { idx: 2, name: use, type: ts, module: scriptlets/set_key.ts, args: { key: cache.used_v1 }, success: { ctx_equals: { cache.value_v1: 42 } } }
`,
  'recipes/resilience.yaml': `steps:
  - { idx: 1, name: load, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v1, value: [1, 2, 3] } }
  - { idx: 2, name: inject_failure, type: ts, module: ${TIMING}, function: Counted, args: { counter: Data/inject.count, key: resilience.inject_ok_v1, value: true }, success: { ctx_has_keys: [resilience.inject_ok_v1] } }
  - idx: 3
    name: compute
    type: ts
    module: scriptlets/set_key.ts
    args: { key: metrics.count_v1, value: 3 }
    success:
      ctx_equals: { numbers.raw_v1: [1, 2, 3], resilience.inject_ok_v1: true }
`,
}

let project: TestProject
const marker = `vr-hang-${process.pid}`

beforeAll(() => {
  project = createProject({ ...RECIPES, ...fixtureScriptlets(), 'Data/input.txt': 'v1\n' })
  project.copyFixture('scriptlets/timing.ts', TIMING)
  project.copyFixture('scriptlets/misbehaving.ts', 'scriptlets/misbehaving.ts')
  project.copyFixture('shell/sleeper.sh', 'scriptlets/shell/sleeper.sh')
  project.write('recipes/hang.yaml', RECIPES['recipes/hang.yaml']!.replace('MARKER', marker))
})
afterAll(() => project?.remove())

async function run(
  args: string[],
): Promise<
  RunResult & { tests: Record<string, { status: string; meta: Record<string, any> | undefined; failure: string }> }
> {
  const outputFile = join(project.root, 'report.json')
  const result = await project.recipes([
    'run',
    ...args,
    '--',
    '--reporter=json',
    `--outputFile=${outputFile}`,
    '--reporter=default',
  ])
  if (process.env.DEBUG_E2E) console.log(result.output)
  const report = JSON.parse(readFileSync(outputFile, 'utf8')) as {
    testResults: {
      assertionResults: {
        title: string
        status: string
        meta?: { recipeStep?: Record<string, any> }
        failureMessages: string[]
      }[]
    }[]
  }
  const tests = Object.fromEntries(
    report.testResults
      .flatMap((file) => file.assertionResults)
      .map((item) => [
        item.title,
        {
          status: item.status,
          meta: item.meta?.recipeStep,
          failure: (item.failureMessages[0] ?? '').split('\n    at ')[0]!,
        },
      ]),
  )
  return { ...result, tests }
}

describe('DAG and parallel steps', () => {
  test('parallel steps run side by side and the fan-in waits for all of them', async () => {
    const result = await run(['recipes/fan_in.yaml'])
    expect(result.code).toBe(0)
    // The meta carries each write as the store records it: the first of a key in the run with its value.
    const span = (step: string) => result.tests[step]!.meta!.writes[0].value as { start: number; end: number }
    // a and b overlap; c waits for a (its dependency) even though it is parallel too.
    expect(span('a').start).toBeLessThan(span('b').end)
    expect(span('b').start).toBeLessThan(span('a').end)
    expect(span('c').start).toBeGreaterThanOrEqual(span('a').end)
    expect(result.tests.total!.meta!.writes[0].value).toBe(3)
    // The store keeps when each step began (so does each step's record): a and b side by side on the
    // run's clock, c after a; the step chart draws a and b overlapping, each on its lane.
    const store = await RunStore.openIn(project.root, 'reports/results.sqlite')
    try {
      const data = (await store.readRun(result.tests.a!.meta!.runId))!
      const clock = (name: string) => {
        const step = data.steps.find((row) => row.step === name)!
        expect(step.attemptLog[0]!.startTime).toBe(step.startTime)
        const start = Date.parse(step.startTime!)
        return { start, end: start + step.durationMs }
      }
      expect(result.tests.a!.meta!.startTime).toBe(data.steps.find((row) => row.step === 'a')!.startTime)
      expect(clock('a').start).toBeLessThan(clock('b').end)
      expect(clock('b').start).toBeLessThan(clock('a').end)
      expect(clock('c').start).toBeGreaterThan(clock('a').start + 500)
      const layer = (stepDurationsSpec(data.steps).spec as { layer: { data: { values: Record<string, any>[] } }[] })
        .layer[0]!
      const bar = (name: string) => layer.data.values.find((value) => value.row.endsWith(`. ${name}`))!
      expect(bar('a').row).not.toBe(bar('b').row)
      expect(bar('a').start < bar('b').end && bar('b').start < bar('a').end).toBe(true)
    } finally {
      await store.close()
    }
  })

  test('CPU-bound steps run in worker threads and their writes come back as the step', async () => {
    const result = await run(['recipes/cpu.yaml'])
    expect(result.code).toBe(0)
    // A worker thread's own peak memory cannot be told apart from the process's: not measured, never 0.
    expect(result.tests.primes_a!.meta!.peakRssBytes).toBeNull()
    expect(result.tests.primes_a!.meta!.writes).toEqual([
      expect.objectContaining({ key: 'cpu.primes_a_v1', who: 'primes_a', value: 2262 }),
    ])
  })
})

test('a timed-out step fails and leaves no process behind', async () => {
  const result = await run(['recipes/hang.yaml'])
  expect(result.code).toBe(1)
  expect(result.tests.hang!.failure).toContain('failed with exit code 1: timed out after 1 s')
  expect(project.read(result.tests.hang!.meta!.logPath)).toMatch(
    /failed: timed out after 1 s; its processes were killed\n$/,
  )
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const left = (() => {
    try {
      return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' })
    } catch {
      return ''
    }
  })()
  expect(left).toBe('')
})

test("a hung in-process step with retries times out on every attempt under the runner's deadline, never Vitest's backstop", async () => {
  // Each attempt runs 1 s, then waits 5 s for a report that never comes. The backstop was
  // 3 x 1 s + 10 s: Vitest aborted the step in its third attempt ("stopped: Vitest aborted the
  // test") and the step after it, blocked, showed the seconds the runner still spent.
  const result = await run(['recipes/hung.yaml'])
  expect(result.code).toBe(1)
  const hung = result.tests.hung!
  expect(hung.failure).toContain('timed out after 1 s')
  expect(hung.failure).not.toContain('Vitest aborted')
  expect(hung.meta!.attempts.map((attempt: { reason: string }) => attempt.reason)).toEqual([
    'timed out after 1 s',
    'timed out after 1 s',
    'timed out after 1 s',
  ])
  expect(result.tests.after!.status).toBe('skipped')
  expect(result.tests.after!.meta!.durationMs).toBeLessThan(1000)
}, 60_000)

describe('caching', () => {
  test('the second run replays the recorded writes; --no-cache (provided to the workers) runs the step again', async () => {
    const first = await run(['recipes/cached.yaml'])
    expect(first.code).toBe(0)
    expect(first.tests.measure!.meta!.status).toBe('passed')
    const second = await run(['recipes/cached.yaml'])
    expect(second.code).toBe(0)
    expect(second.tests.measure!.meta).toMatchObject({ status: 'cached', cachedFrom: first.tests.measure!.meta!.runId })
    expect(second.tests.use!.status).toBe('passed')
    expect(project.read(second.tests.measure!.meta!.logPath)).toMatch(
      new RegExp(`cached: replayed the ctx writes of run ${first.tests.measure!.meta!.runId}\n$`),
    )
    expect(project.read('Data/measure.count')).toBe('x')
    await run(['recipes/cached.yaml', '--no-cache'])
    expect(project.read('Data/measure.count')).toBe('xx')
  })
})

describe('--skip and --resume-from', () => {
  test('--resume-from with nothing to resume from: a clear error and exit code 2', async () => {
    project.write('recipes/never_run.yaml', RECIPES['recipes/fan_in.yaml']!)
    const result = await project.recipes(['run', 'recipes/never_run.yaml', '--resume-from', 'total'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatchInlineSnapshot(`
      "recipes: cannot resume from "total": no earlier run of recipes/never_run.yaml is recorded in reports/results.sqlite; run the recipe once before resuming it
      "
    `)
  })

  test('unknown step names are a usage error (exit 3)', async () => {
    const result = await project.recipes(['run', 'recipes/resilience.yaml', '--skip', 'inject_failur'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatchInlineSnapshot(`
      "recipes: --skip: no selected recipe has a step named "inject_failur"; did you mean "inject_failure"?
      "
    `)
  })
})

describe('recipes plan', () => {
  test('text: DAG levels and what --skip would block; runs nothing', async () => {
    const result = await project.recipes(['plan', 'recipes/fan_in.yaml', '--skip', 'a'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatchInlineSnapshot(`
      "recipes/fan_in.yaml — fan_in
      level 1 (parallel)
          1 a                            skipped  ts  (line 2)
          2 b                            run      ts  (line 3)
      level 2
          3 c                            blocked  ts; needs a  (line 4)
      level 3
          4 total                        blocked  ts; needs a, b, c  (line 5)
      "
    `)
  })
  test('json and mermaid', async () => {
    const json = await project.recipes(['plan', 'recipes/fan_in.yaml', '--format', 'json', '--only', 'c'])
    const plan = JSON.parse(json.stdout) as { steps: { name: string; action: string; level: number }[] }
    expect(plan.steps.map((step) => [step.name, step.action, step.level])).toEqual([
      ['a', 'setup', 1],
      ['b', 'filtered', 1],
      ['c', 'run', 2],
      ['total', 'filtered', 3],
    ])
    const mermaid = await project.recipes(['run', '--dry-run', 'recipes/fan_in.yaml', '--format', 'mermaid'])
    expect(mermaid.stdout).toContain('s_a --> s_c')
  })
})
