import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { EXITS_SCRIPT, STEPS_MODULE } from './fixtures.ts'
import { createRuntimeProject, readStoredRun, runRecipe, type RuntimeProject, stepSummary } from './harness.ts'

// A step's life through the runtime's entry points (defineRecipe, runStep, finish), without
// Vitest: each step ends as its test should (pass, fail, skip), with the record on its test,
// in its log and in the store. The end-to-end files prove the same through `vitest run` once
// per feature; the cases are here.

// What `recipes run` provides to the test workers (--skip, --no-cache); the defaults otherwise.
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
beforeEach(() => {
  runOptions.skip = []
  runOptions.noCache = false
  runOptions.resumeFrom = undefined
  // Each project's own store and the default logs, whatever the environment says.
  vi.stubEnv('RECIPES_DB', '')
  vi.stubEnv('RECIPES_DEBUG', '')
  return () => vi.unstubAllEnvs()
})

const projects: RuntimeProject[] = []
afterAll(() => {
  for (const project of projects) project.remove()
})

/** A project with the fixture scriptlets and `recipes/x.yaml` holding `recipe`. */
function projectWith(recipe: string, files: Record<string, string> = {}): RuntimeProject {
  const project = createRuntimeProject({ 'scriptlets/steps.ts': STEPS_MODULE, 'recipes/x.yaml': recipe, ...files })
  project.write('scriptlets/exits.sh', EXITS_SCRIPT, 0o755)
  projects.push(project)
  return project
}

const STEPS = 'scriptlets/steps.ts'
const FIXTURES = join(import.meta.dirname, '../fixtures')

describe('a step that passes', () => {
  test('its test passes; the record, the store row and the ctx say what it did', async () => {
    const project = projectWith(`test_meta: { test_id: LIFE-1 }
steps:
  - { idx: 1, name: load, type: ts, module: ${STEPS}, function: set, args: { key: lab.port_v1, value: 7 } }
`)
    const { runId, tests, finishError } = await runRecipe(project, 'recipes/x.yaml')
    expect(finishError).toBeUndefined()
    expect(tests.load!.state).toBe('pass')
    expect(tests.load!.annotations).toEqual([])
    expect(tests.load!.meta).toMatchObject({
      runId,
      recipe: 'recipes/x.yaml',
      testId: 'LIFE-1',
      step: 'load',
      idx: 1,
      type: 'ts',
      status: 'passed',
      params: { key: 'lab.port_v1', value: 7 },
      envelope: { status: 'ok', outputs: ['lab.port_v1'] },
      attempts: [{ attempt: 1, status: 'passed', durationMs: expect.any(Number) }],
      setup: [],
      writes: [expect.objectContaining({ key: 'lab.port_v1', who: 'load', value: 7 })],
    })
    // A step that passed silently has no log file.
    expect(tests.load!.meta!.logPath).toBeUndefined()
    expect(tests.load!.meta!.reason).toBeUndefined()
    const stored = await readStoredRun(project, runId)
    expect(stored?.run).toMatchObject({ status: 'passed', testId: 'LIFE-1', recipe: 'recipes/x.yaml' })
    expect(stored?.steps).toEqual([
      expect.objectContaining({ step: 'load', status: 'passed', exitCode: 0, attempts: 1, reason: null }),
    ])
    expect(stored?.context.map((row) => [row.key, row.value, row.who])).toEqual([['lab.port_v1', 7, 'load']])
  })
})

describe('a step that fails', () => {
  const recipe = `steps:
  - { idx: 1, name: connect, type: ts, module: ${STEPS}, function: set, args: { key: lab.link_v1, fail: no carrier on port 3 } }
  - { idx: 2, name: probe, type: shell, cmd: scriptlets/exits.sh, args: ["4"], depends_on: [] }
  - { idx: 3, name: configure, type: ts, module: ${STEPS}, function: set, args: { key: lab.config_v1 }, depends_on: [connect] }
  - { idx: 4, name: verify, type: ts, module: ${STEPS}, function: set, args: { key: lab.verified_v1 }, depends_on: [configure] }
  - { idx: 5, name: unrelated, type: ts, module: ${STEPS}, function: set, args: { key: lab.other_v1 }, depends_on: [] }
`
  let project: RuntimeProject
  let result: Awaited<ReturnType<typeof runRecipe>>
  test('a thrown error fails its test with the step, its scriptlet, its line, the exit code and the reason', async () => {
    project = projectWith(recipe)
    result = await runRecipe(project, 'recipes/x.yaml')
    const connect = result.tests.connect!
    expect(connect.state).toBe('fail')
    expect(connect.error!.message).toBe(
      'Step "connect" (scriptlets/steps.ts#set, recipes/x.yaml:2) failed with exit code 1: no carrier on port 3',
    )
    expect(connect.meta).toMatchObject({
      status: 'failed',
      reason: 'no carrier on port 3',
      envelope: { status: 'error', exit_code: 1, reason: 'no carrier on port 3' },
      attempts: [{ attempt: 1, status: 'failed', reason: 'no carrier on port 3' }],
    })
    expect(project.read(connect.meta!.logPath!)).toMatch(
      /^.*step connect \(scriptlets\/steps.ts#set\) starts\n(.*\n)*.*failed: no carrier on port 3\n$/,
    )
  })

  test("a shell step's exit code and stderr tail are its failure", () => {
    const probe = result.tests.probe!
    expect(probe.state).toBe('fail')
    expect(probe.error!.message).toContain(
      'Step "probe" (shell scriptlets/exits.sh, recipes/x.yaml:3) failed with exit code 4:',
    )
    expect(probe.error!.message).toContain('--- stderr (last lines)\ncannot reach the switch at 10.0.0.1')
    expect(probe.meta).toMatchObject({ status: 'failed', envelope: { status: 'error', exit_code: 4 } })
  })

  test('the steps that need it are blocked, transitively, naming it; independent steps still run', () => {
    const { configure, verify, unrelated } = result.tests
    expect(configure!.state).toBe('skip')
    expect(configure!.note).toBe('blocked: connect failed')
    expect(configure!.meta).toMatchObject({
      status: 'blocked',
      blockedBy: 'connect',
      blockedReason: 'failed',
      attempts: [],
    })
    expect(verify!.meta).toMatchObject({ status: 'blocked', blockedBy: 'connect', reason: 'blocked: connect failed' })
    expect(project.read(verify!.meta!.logPath!)).toMatch(/step verify did not run: blocked: connect failed\n$/)
    expect(unrelated!.state).toBe('pass')
  })

  test('the store has each step as it ended, the exit codes, and the run failed', async () => {
    const stored = await readStoredRun(project, result.runId)
    expect(stored?.run.status).toBe('failed')
    expect(stepSummary(stored)).toEqual([
      ['connect', 'failed', 1, 'no carrier on port 3'],
      ['probe', 'failed', 1, expect.stringContaining('exit')],
      ['configure', 'blocked', 0, 'blocked: connect failed'],
      ['verify', 'blocked', 0, 'blocked: connect failed'],
      ['unrelated', 'passed', 1, null],
    ])
    expect(stored?.steps.map((row) => row.exitCode)).toEqual([1, 4, null, null, 0])
  })
})

describe('parallel steps', () => {
  test('a parallel step waits for a need that runs beside it; two writing one key at once: the second fails naming both', async () => {
    const project = projectWith(`parallel: true
steps:
  - { idx: 1, name: a, type: ts, module: ${STEPS}, function: waits, args: { key: fan.a_v1, ms: 150 } }
  - { idx: 2, name: b, type: ts, module: ${STEPS}, function: waits, args: { key: fan.b_v1, ms: 150 }, depends_on: [] }
  - { idx: 3, name: c, type: ts, module: ${STEPS}, function: waits, args: { key: fan.c_v1, ms: 10 }, depends_on: [a] }
  - { idx: 4, name: first, type: ts, module: ${STEPS}, function: waits, args: { key: shared.value_v1, ms: 100 }, depends_on: [] }
  - { idx: 5, name: second, type: ts, module: ${STEPS}, function: waits, args: { key: shared.value_v1, ms: 200 }, depends_on: [] }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const span = (step: string) => tests[step]!.meta!.writes[0]!.value as { start: number; end: number }
    expect(span('a').start).toBeLessThan(span('b').end)
    expect(span('b').start).toBeLessThan(span('a').end)
    expect(span('c').start).toBeGreaterThanOrEqual(span('a').end)
    expect(tests.first!.state).toBe('pass')
    expect(tests.second!.state).toBe('fail')
    expect(tests.second!.error!.message).toBe(
      'Step "second" (scriptlets/steps.ts#waits, recipes/x.yaml:7) failed with exit code 1: ctx.set("shared.value_v1") by step "second" conflicts with step "first", which ran at the same time and wrote it too. Give each parallel step its own keys, or set conflicts: last_write_wins in the recipe.',
    )
    const stored = await readStoredRun(project, runId)
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['a', 'passed'],
      ['b', 'passed'],
      ['c', 'passed'],
      ['first', 'passed'],
      ['second', 'failed'],
    ])
  })
})

describe('expect: error', () => {
  test('a step failing as expected passes as expected-error; a different reason, exit code or a success fails it', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: refused, type: ts, module: ${STEPS}, function: set, args: { key: a.b_v1, fail: login refused }, expect: { status: error, reason_matches: refused } }
  - { idx: 2, name: wrong_reason, type: ts, module: ${STEPS}, function: set, args: { key: a.c_v1, fail: timeout }, expect: { status: error, reason_matches: refused }, depends_on: [] }
  - { idx: 3, name: wrong_code, type: shell, cmd: scriptlets/exits.sh, args: ["4"], expect: { status: error, exit_code: 2 }, depends_on: [] }
  - { idx: 4, name: succeeded, type: ts, module: ${STEPS}, function: set, args: { key: a.d_v1 }, expect: error, depends_on: [] }
  - { idx: 5, name: after, type: ts, module: ${STEPS}, function: set, args: { key: a.e_v1 }, depends_on: [refused] }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    expect(tests.refused!.state).toBe('pass')
    expect(tests.refused!.meta).toMatchObject({ status: 'expected-error', reason: 'login refused' })
    expect(project.read(tests.refused!.meta!.logPath!)).toMatch(/expected error matched in \d+ ms: login refused\n$/)
    expect(tests.wrong_reason!.error!.message).toContain(
      'failed as expected, but its reason "timeout" does not match /refused/ (expect.reason_matches)',
    )
    expect(tests.wrong_code!.error!.message).toContain(
      'failed as expected, but with exit code 4 instead of 2 (expect.exit_code)',
    )
    expect(tests.succeeded!.error!.message).toContain('succeeded, but the recipe expects it to fail (expect: error)')
    // An expected error satisfies the steps that need it.
    expect(tests.after!.state).toBe('pass')
    const stored = await readStoredRun(project, runId)
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['refused', 'expected-error'],
      ['wrong_reason', 'failed'],
      ['wrong_code', 'failed'],
      ['succeeded', 'failed'],
      ['after', 'passed'],
    ])
    expect(stored?.steps[2]?.reason).toBe('failed as expected, but with exit code 4 instead of 2 (expect.exit_code)')
  })
})

describe('retry', () => {
  test('a step that passes on attempt 2 starts it from the ctx it had before attempt 1; every attempt is recorded', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: flaky, type: ts, module: ${STEPS}, function: flaky, args: { counter: Data/flaky.count, succeed_on: 2, key: lab.flaky_v1 }, retry: { max: 2, on: [transient] } }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const flaky = tests.flaky!
    expect(flaky.state).toBe('pass')
    expect(flaky.meta).toMatchObject({
      status: 'passed',
      maxAttempts: 3,
      attempts: [
        { attempt: 1, status: 'failed', reason: 'transient failure on attempt 1', durationMs: expect.any(Number) },
        { attempt: 2, status: 'passed', durationMs: expect.any(Number) },
      ],
    })
    expect(flaky.annotations).toEqual([
      {
        message: 'passed on attempt 2 of 3 (attempt 1: failed (transient failure on attempt 1); attempt 2: passed)',
        type: 'notice',
      },
    ])
    expect(project.read('Data/flaky.count')).toBe('xx')
    expect(project.read(flaky.meta!.logPath!)).toMatch(
      /attempt 1 failed: transient failure on attempt 1\n.*attempt 2 of 3\n(.*\n)*.*passed on attempt 2 of 3 in \d+ ms\n$/,
    )
    const stored = await readStoredRun(project, runId)
    expect(stepSummary(stored)).toEqual([['flaky', 'passed', 2, null]])
    expect(stored?.steps[0]?.attemptLog.map((attempt) => attempt.status)).toEqual(['failed', 'passed'])
    expect(stored?.context.find((row) => row.key === 'lab.flaky_v1')?.value).toBe(2)
  })

  test('a step that fails on every attempt fails with the last reason; one whose reason retry.on does not match runs once', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: dead, type: ts, module: ${STEPS}, function: flaky, args: { counter: Data/dead.count, succeed_on: 0, key: lab.dead_v1 }, retry: { max: 1 } }
  - { idx: 2, name: stubborn, type: ts, module: ${STEPS}, function: set, args: { key: lab.fw_v1, fail: wrong firmware }, retry: { max: 2, on: [timeout, transient] }, depends_on: [] }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    expect(tests.dead!.state).toBe('fail')
    expect(tests.dead!.error!.message).toContain('failed with exit code 1: transient failure on attempt 2')
    expect(tests.dead!.meta!.attempts.map((attempt) => [attempt.attempt, attempt.status, attempt.reason])).toEqual([
      [1, 'failed', 'transient failure on attempt 1'],
      [2, 'failed', 'transient failure on attempt 2'],
    ])
    expect(tests.dead!.annotations.map((note) => note.message)).toEqual([
      'failed on all 2 attempts (attempt 1: failed (transient failure on attempt 1); attempt 2: failed (transient failure on attempt 2))',
    ])
    expect(project.read('Data/dead.count')).toBe('xx')
    expect(tests.stubborn!.meta).toMatchObject({ status: 'failed', maxAttempts: 3, reason: 'wrong firmware' })
    expect(tests.stubborn!.meta!.attempts).toHaveLength(1)
    expect(tests.stubborn!.annotations.map((note) => note.message)).toEqual(['failed on attempt 1 of 3, not retried'])
    expect(project.read(tests.stubborn!.meta!.logPath!)).toMatch(
      /failed: wrong firmware \(not retried: the reason does not match retry.on\)\n.*failed: wrong firmware\n$/,
    )
    const stored = await readStoredRun(project, runId)
    expect(stepSummary(stored)).toEqual([
      ['dead', 'failed', 2, 'transient failure on attempt 2'],
      ['stubborn', 'failed', 1, 'wrong firmware'],
    ])
  })
})

describe('time', () => {
  test('an in-process step past its deadline times out on every attempt; it is abandoned and its late write refused', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: late, type: ts, module: ${STEPS}, function: late, args: { key: lab.late_v1, ms: 600 }, timeout: 0.2, retry: { max: 1 } }
  - { idx: 2, name: after, type: ts, module: ${STEPS}, function: set, args: { key: lab.after_v1 } }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const late = tests.late!
    expect(late.state).toBe('fail')
    expect(late.error!.message).toContain('failed with exit code 1: timed out after 0.2 s')
    expect(late.meta).toMatchObject({
      status: 'failed',
      timedOut: true,
      reason: 'timed out after 0.2 s',
      maxAttempts: 2,
    })
    expect(late.meta!.attempts.map((attempt) => [attempt.status, attempt.reason])).toEqual([
      ['failed', 'timed out after 0.2 s'],
      ['failed', 'timed out after 0.2 s'],
    ])
    expect(project.read(late.meta!.logPath!)).toMatch(
      /failed: timed out after 0\.2 s; the in-process step was abandoned\n$/,
    )
    expect(tests.after!.meta).toMatchObject({ status: 'blocked', blockedBy: 'late' })
    // The abandoned attempts wrote after their deadline: the run's ctx never got it.
    await new Promise((resolve) => setTimeout(resolve, 700))
    const stored = await readStoredRun(project, runId)
    expect(stepSummary(stored)).toEqual([
      ['late', 'failed', 2, 'timed out after 0.2 s'],
      ['after', 'blocked', 0, 'blocked: late failed'],
    ])
    expect(stored?.context).toEqual([])
  })

  test('a step whose test Vitest aborts is stopped, not retried, and says so', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: waits, type: ts, module: ${STEPS}, function: untilAborted, timeout: 30, retry: { max: 2 } }
`)
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const { tests } = await runRecipe(project, 'recipes/x.yaml', { signals: { waits: controller.signal } })
    expect(tests.waits!.state).toBe('fail')
    expect(tests.waits!.meta).toMatchObject({
      status: 'failed',
      timedOut: true,
      reason: 'stopped: Vitest aborted the test (its timeout, or the run was cancelled)',
    })
    expect(tests.waits!.meta!.attempts).toHaveLength(1)
  })
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
        message: 'three ran one, two first as setup (filtered out by the test name filter); its time includes theirs',
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

test('a success check that fails fails its step, naming the check and its line', async () => {
  const project = projectWith(`steps:
  - idx: 1
    name: measure
    type: ts
    module: ${STEPS}
    function: set
    args: { key: lab.speed_v1, value: 100 }
    success:
      ctx_equals: { lab.speed_v1: 1000 }
`)
  const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
  expect(tests.measure!.state).toBe('fail')
  expect(tests.measure!.error!.message).toContain('success.ctx_equals (recipes/x.yaml:')
  expect(tests.measure!.meta).toMatchObject({ status: 'failed', reason: expect.stringContaining('ctx_equals') })
  const stored = await readStoredRun(project, runId)
  expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([['measure', 'failed']])
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

describe('what the runner cannot write', () => {
  test('a store that refuses a step record fails the step saying so; the run is kept and stored once the store is repaired', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: first, type: ts, module: ${STEPS}, function: set, args: { key: x.first_v1 } }
  - { idx: 2, name: second, type: ts, module: ${STEPS}, function: set, args: { key: x.second_v1 } }
`)
    const { default: Database } = await import('better-sqlite3')
    const { runId, tests, finishError } = await runRecipe(project, 'recipes/x.yaml', {
      beforeTest(step) {
        if (step !== 'second') return
        const store = new Database(project.db)
        store.exec('ALTER TABLE step_metrics RENAME TO step_metrics_moved')
        store.close()
      },
    })
    expect(tests.first!.state).toBe('pass')
    expect(tests.second!.state).toBe('fail')
    expect(tests.second!.error!.message).toMatch(
      /^Step "second" \(scriptlets\/steps.ts#set, recipes\/x.yaml:3\) the run store could not record this step: .*no such table: step_metrics/,
    )
    expect(tests.second!.meta).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^the run store could not record this step: .*no such table: step_metrics/),
      writes: [],
    })
    expect(tests.second!.meta!.envelope).toBeUndefined()
    expect(finishError?.message).toMatch(/no such table: step_metrics/)
    // Nothing is lost: the journal stays until a store that works takes it.
    const store = new Database(project.db)
    store.exec('ALTER TABLE step_metrics_moved RENAME TO step_metrics')
    store.close()
    const stored = await readStoredRun(project, runId)
    expect(stored?.run.status).toBe('failed')
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['first', 'passed'],
      ['second', 'failed'],
    ])
    expect(stored?.steps[1]?.reason).toMatch(/^the run store could not record this step: /)
  })

  test('a step log that cannot be written fails its step with that reason; in RAM mode the run end says so', async () => {
    const recipe = `steps:
  - { idx: 1, name: loud, type: ts, module: ${STEPS}, function: prints, args: { key: x.loud_v1 } }
  - { idx: 2, name: quiet, type: ts, module: ${STEPS}, function: set, args: { key: x.quiet_v1 }, depends_on: [] }
`
    const project = projectWith(recipe)
    // Logs is a file: no step log can be written under it.
    writeFileSync(join(project.root, 'Logs'), 'not a folder')
    const { runId, tests, finishError } = await runRecipe(project, 'recipes/x.yaml')
    expect(finishError).toBeUndefined()
    expect(tests.loud!.state).toBe('fail')
    expect(tests.loud!.error!.message).toMatch(/its log Logs\/.*\/1_loud\.log could not be written: (ENOTDIR|EEXIST)/)
    expect(tests.loud!.meta).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('could not be written'),
    })
    // A step that passed silently writes no log: nothing to refuse.
    expect(tests.quiet!.state).toBe('pass')
    const stored = await readStoredRun(project, runId)
    expect(stored?.run.status).toBe('failed')
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['loud', 'failed'],
      ['quiet', 'passed'],
    ])
    // RAM mode writes the logs when the file ends: the failure comes then.
    project.write('store_on_ram.txt', '')
    const ram = await runRecipe(project, 'recipes/x.yaml')
    expect(ram.tests.loud!.state).toBe('pass')
    expect(ram.finishError?.message).toMatch(/could not write 1 step log\(s\)/)
  })
})

describe('secrets', () => {
  const secret = 'Pa55-word-for-the-lab-switch'
  const token = 'tok-0123456789abcdef'
  beforeEach(() => {
    vi.stubEnv('RUNTIME_SWITCH_PASSWORD', secret)
    // A secret by its name alone (…_TOKEN), which no recipe declares.
    vi.stubEnv('LAB_API_TOKEN', token)
    vi.stubEnv('SWITCH_PASSWORD', secret)
  })

  test('a TS step: masked in the failure, the record, the log, the ctx and the store', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: login, type: ts, module: ${STEPS}, function: leaks, args: { variable: RUNTIME_SWITCH_PASSWORD } }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const login = tests.login!
    expect(login.state).toBe('fail')
    expect(login.error!.message).toContain('login refused for password ***')
    expect(login.error!.message).not.toContain(secret)
    expect(String(login.error!.stack)).not.toContain(secret)
    expect(login.meta!.reason).toBe('login refused for password ***')
    expect(JSON.stringify(login.meta)).not.toContain(secret)
    const log = project.read(login.meta!.logPath!)
    expect(log).toContain('logging in with ***')
    expect(log).not.toContain(secret)
    const stored = await readStoredRun(project, runId)
    expect(JSON.stringify(stored?.steps)).not.toContain(secret)
    expect(stored?.steps[0]?.reason).toBe('login refused for password ***')
    // The store keeps a reference to the variable, so --resume-from can restore the real value.
    expect(stored?.context.find((row) => row.key === 'lab.login_v1')?.value).toEqual({
      user: 'admin',
      password: '***{RUNTIME_SWITCH_PASSWORD}',
    })
  })

  test("a shell step in debug mode: its stderr, its envelope's reason and its params masked, by name pattern too", async () => {
    vi.stubEnv('RECIPES_DEBUG', '1')
    const project = projectWith(`secrets: [SWITCH_PASSWORD]
steps:
  - { idx: 1, name: login, type: shell, cmd: scriptlets/leaks_secret.sh, args: { user: admin } }
`)
    project.write('scriptlets/leaks_secret.sh', readFileSync(join(FIXTURES, 'shell/leaks_secret.sh'), 'utf8'), 0o755)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const login = tests.login!
    expect(login.state).toBe('fail')
    expect(login.error!.message).toContain('failed with exit code 1: login with *** refused')
    expect(login.error!.message).toContain('using token *** and password ***')
    const log = project.read(login.meta!.logPath!)
    expect(log).toContain('using token *** and password ***')
    expect(log).toContain('params {"user":"admin"}')
    const stored = await readStoredRun(project, runId)
    const everything = [
      login.error!.message,
      String(login.error!.stack),
      JSON.stringify(login.meta),
      log,
      JSON.stringify(stored),
    ].join('\n')
    expect(everything).not.toContain(secret)
    expect(everything).not.toContain(token)
    expect(stored?.steps[0]?.reason).toBe('login with *** refused')
  })
})
