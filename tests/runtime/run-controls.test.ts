import { describe, expect, test, vi } from 'vitest'
import { readStoredRun, runRecipe, STEPS, useRuntimeProjects } from './harness.ts'

// What a run is asked to do, through the runtime's entry points without Vitest: steps left
// out (--skip), steps selected by the test name filter (-t: Vitest marks the others skipped),
// a run resumed from a step (--resume-from), the step cache and --no-cache, debug logs.

// What `recipes run` provides to the test workers (--skip, --no-cache, --resume-from); the defaults otherwise.
const runOptions = vi.hoisted(() => ({
  skip: [] as string[],
  noCache: false,
  debug: false,
  resumeFrom: undefined as string | undefined,
}))
vi.mock(import('../../plugin/runtime/run-options.ts'), async (importOriginal) => ({
  ...(await importOriginal()),
  readRunOptions: () => {
    const { resumeFrom, ...options } = runOptions
    return { ...options, skip: [...options.skip], ...(resumeFrom === undefined ? {} : { resumeFrom }) }
  },
}))

const projectWith = useRuntimeProjects(() => {
  runOptions.skip = []
  runOptions.noCache = false
  runOptions.resumeFrom = undefined
})

describe('--skip', () => {
  test('a skipped step is skipped; one that leaves a declared output missing blocks the steps that need it', async () => {
    runOptions.skip = ['produce', 'optional']
    const project = projectWith(`steps:
  - { idx: 1, name: produce, type: ts, module: ${STEPS}, function: produce }
  - { idx: 2, name: optional, type: ts, module: ${STEPS}, function: set, args: { key: lab.optional_v1 }, depends_on: [] }
  - { idx: 3, name: after_optional, type: ts, module: ${STEPS}, function: set, args: { key: lab.after_v1 }, depends_on: [optional] }
  - { idx: 4, name: consume, type: ts, module: ${STEPS}, function: set, args: { key: lab.used_v1 }, depends_on: [produce] }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    expect(tests.produce!.state).toBe('skip')
    expect(tests.produce!.note).toBe('skipped (--skip)')
    expect(tests.produce!.meta).toMatchObject({ status: 'skipped', missingOutputs: ['lab.value_v1'], attempts: [] })
    // A step that declares no output leaves nothing missing: the steps after it run.
    expect(tests.optional!.meta!.missingOutputs).toBeUndefined()
    expect(tests.after_optional!.state).toBe('pass')
    expect(tests.consume!.state).toBe('skip')
    expect(tests.consume!.note).toBe(
      'blocked: produce was skipped and its outputs (lab.value_v1) are not in ctx (dependency not satisfied)',
    )
    expect(tests.consume!.meta).toMatchObject({ status: 'blocked', blockedBy: 'produce', blockedReason: 'skipped' })
    const stored = await readStoredRun(project, runId)
    expect(stored?.run.status).toBe('blocked')
    expect(stored?.steps.map((row) => [row.step, row.status, row.attempts])).toEqual([
      ['produce', 'skipped', 0],
      ['optional', 'skipped', 0],
      ['after_optional', 'passed', 1],
      ['consume', 'blocked', 0],
    ])
  })
})

describe('selection (-t)', () => {
  const chain = `steps:
  - { idx: 1, name: one, type: ts, module: ${STEPS}, function: set, args: { key: chain.one_v1 } }
  - { idx: 2, name: two, type: ts, module: ${STEPS}, function: set, args: { key: chain.two_v1 } }
  - { idx: 3, name: three, type: ts, module: ${STEPS}, function: set, args: { key: chain.three_v1 }, success: { ctx_has_keys: [chain.one_v1, chain.two_v1] } }
  - { idx: 4, name: four, type: ts, module: ${STEPS}, function: set, args: { key: chain.four_v1 } }
`
  test('the steps a selected step needs run first as setup, in order, inside its test, which says so', async () => {
    const project = projectWith(chain)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml', { only: ['three'] })
    expect(tests.three!.state).toBe('pass')
    expect(tests.three!.meta).toMatchObject({ status: 'passed', setup: ['one', 'two'] })
    expect(tests.three!.annotations).toEqual([
      {
        message:
          'three ran one, two first as setup (filtered out by the test filter: -t, --tags-filter or the IDE); its time includes theirs',
        type: 'notice',
      },
    ])
    // The filtered-out tests carry their setup record too (reporters read it there).
    expect(tests.one!.meta).toMatchObject({ status: 'setup', setupFor: 'three' })
    expect(tests.two!.meta).toMatchObject({ status: 'setup', setupFor: 'three' })
    expect(tests.four!.meta).toBeUndefined()
    expect(project.read(tests.one!.meta!.logPath!)).toMatch(
      /starts as setup for three\n(.*\n)*.*passed in \d+ ms \(setup for three\)\n$/,
    )
    const stored = await readStoredRun(project, runId)
    expect(stored?.run.status).toBe('passed')
    expect(stored?.run.metadata.selection).toEqual({ selected: ['three'], setup: ['one', 'two'] })
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['one', 'setup'],
      ['two', 'setup'],
      ['three', 'passed'],
    ])
  })

  test('a setup step that fails fails the selected step, naming it', async () => {
    const project = projectWith(
      chain.replace('args: { key: chain.two_v1 }', 'args: { key: chain.two_v1, fail: no device }'),
    )
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml', { only: ['three'] })
    expect(tests.three!.state).toBe('fail')
    expect(tests.three!.error!.message).toBe(
      'Step "three" could not run: "two", which it needs and which ran first as setup, failed',
    )
    expect((tests.three!.error!.cause as Error).message).toContain('failed with exit code 1: no device')
    expect(tests.three!.meta).toMatchObject({ status: 'blocked', blockedBy: 'two' })
    expect(tests.two!.meta).toMatchObject({ status: 'failed', setupFor: 'three', reason: 'no device' })
    const stored = await readStoredRun(project, runId)
    expect(stored?.run.status).toBe('failed')
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['one', 'setup'],
      ['two', 'failed'],
      ['three', 'blocked'],
    ])
  })
})

describe('--resume-from', () => {
  const recipe = `steps:
  - { idx: 1, name: load, type: ts, module: ${STEPS}, function: set, args: { key: numbers.raw_v1, value: [1, 2, 3] } }
  - { idx: 2, name: inject, type: ts, module: ${STEPS}, function: flaky, args: { counter: Data/inject.count, succeed_on: 1, key: lab.inject_v1 } }
  - { idx: 3, name: compute, type: ts, module: ${STEPS}, function: set, args: { key: metrics.count_v1, value: 3 }, success: { ctx_equals: { numbers.raw_v1: [1, 2, 3], lab.inject_v1: 1 } } }
`
  test('the steps before it do not run: their ctx comes from the last run, and they are recorded as resumed', async () => {
    const project = projectWith(recipe)
    const full = await runRecipe(project, 'recipes/x.yaml')
    expect(full.tests.compute!.state).toBe('pass')
    runOptions.resumeFrom = 'compute'
    const resumed = await runRecipe(project, 'recipes/x.yaml')
    expect(resumed.tests.load!.state).toBe('skip')
    expect(resumed.tests.load!.note).toBe(`resumed: ctx restored from run ${full.runId}`)
    expect(resumed.tests.inject!.meta).toMatchObject({ status: 'resumed', resumedFrom: full.runId, attempts: [] })
    expect(resumed.tests.compute!.state).toBe('pass')
    expect(project.read('Data/inject.count')).toBe('x')
    const stored = await readStoredRun(project, resumed.runId)
    expect(stored?.run).toMatchObject({ status: 'passed', metadata: { resumed_from: full.runId } })
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['load', 'resumed'],
      ['inject', 'resumed'],
      ['compute', 'passed'],
    ])
  })

  test('with no earlier run, the step resumed from fails saying why and the steps before it are skipped', async () => {
    const project = projectWith(recipe)
    runOptions.resumeFrom = 'compute'
    const { tests } = await runRecipe(project, 'recipes/x.yaml')
    expect(tests.load!.note).toBe('not run: --resume-from a later step')
    expect(tests.compute!.state).toBe('fail')
    expect(tests.compute!.error!.message).toMatch(/cannot resume from "compute": no earlier run of recipes\/x.yaml/)
    expect(tests.compute!.meta).toMatchObject({ status: 'failed', envelope: { exit_code: 2 } })
  })
})

describe('cache', () => {
  test('the second run replays the recorded writes; --no-cache and a changed input run the step again', async () => {
    const project = projectWith(
      `steps:
  - { idx: 1, name: measure, type: ts, module: ${STEPS}, function: flaky, args: { counter: Data/measure.count, succeed_on: 1, key: cache.value_v1 }, cache: { inputs: [Data/input.txt] } }
  - { idx: 2, name: use, type: ts, module: ${STEPS}, function: set, args: { key: cache.used_v1 }, success: { ctx_equals: { cache.value_v1: 1 } } }
`,
      { 'Data/input.txt': 'v1\n' },
    )
    const first = await runRecipe(project, 'recipes/x.yaml')
    expect(first.tests.measure!.meta!.status).toBe('passed')
    const second = await runRecipe(project, 'recipes/x.yaml')
    expect(second.tests.measure!.state).toBe('pass')
    expect(second.tests.measure!.meta).toMatchObject({ status: 'cached', cachedFrom: first.runId })
    expect(second.tests.measure!.annotations.map((note) => note.message)).toEqual([
      `cached: replayed the ctx writes of run ${first.runId}`,
      'log: 1_measure.log',
    ])
    expect(second.tests.use!.state).toBe('pass')
    expect(project.read('Data/measure.count')).toBe('x')
    expect(project.read(second.tests.measure!.meta!.logPath!)).toMatch(
      new RegExp(`cached: replayed the ctx writes of run ${first.runId}\n$`),
    )
    const stored = await readStoredRun(project, second.runId)
    expect(stored?.steps.map((row) => [row.step, row.status, row.exitCode])).toEqual([
      ['measure', 'cached', 0],
      ['use', 'passed', 0],
    ])
    expect(stored?.context.find((row) => row.key === 'cache.value_v1')?.value).toBe(1)

    runOptions.noCache = true
    const fresh = await runRecipe(project, 'recipes/x.yaml')
    expect(fresh.tests.measure!.meta!.status).toBe('passed')
    runOptions.noCache = false
    project.write('Data/input.txt', 'v2\n')
    const changed = await runRecipe(project, 'recipes/x.yaml')
    expect(changed.tests.measure!.meta!.status).toBe('passed')
    expect(project.read('Data/measure.count')).toBe('xxx')
  })
})

describe('debug mode', () => {
  test("RECIPES_DEBUG=1, or a store_on_ram.txt marker saying debug, logs each step's params and ctx diff; otherwise neither", async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: load, type: ts, module: ${STEPS}, function: set, args: { key: lab.port_v1, value: 7 } }
`)
    const logOf = async () => {
      const { tests } = await runRecipe(project, 'recipes/x.yaml')
      const path = tests.load!.meta!.logPath
      return path === undefined ? '' : project.read(path)
    }
    vi.stubEnv('RECIPES_DEBUG', '1')
    const debug = await logOf()
    expect(debug).toContain('params {"key":"lab.port_v1","value":7}')
    expect(debug).toContain('ctx diff {"lab.port_v1":{"before":null,"after":7}}')
    vi.stubEnv('RECIPES_DEBUG', '')
    // A step that passed silently has no log at all outside debug mode.
    expect(await logOf()).toBe('')
    project.write('store_on_ram.txt', 'debug\n')
    expect(await logOf()).toContain('params {"key":"lab.port_v1","value":7}')
  })
})
