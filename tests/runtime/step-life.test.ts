import { describe, expect, test } from 'vitest'
import { readStoredRun, runRecipe, type RuntimeProject, STEPS, stepSummary, useRuntimeProjects } from './harness.ts'

// A step's life through the runtime's entry points (defineRecipe, runStep, finish), without
// Vitest: each step ends as its test should (pass, fail, skip), with the record on its test,
// in its log and in the store. The end-to-end files prove the same through `vitest run` once
// per feature; the cases are here. What a run is asked to do (--skip, -t, --resume-from,
// the cache) is in run-controls.test.ts; what the run cannot write and secrets in run-session.test.ts.

const projectWith = useRuntimeProjects()

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
    const before = Date.now()
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const after = Date.now()
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
      { message: 'log: 1_flaky.log', type: 'notice' },
    ])
    expect(project.read('Data/flaky.count')).toBe('xx')
    expect(project.read(flaky.meta!.logPath!)).toMatch(
      /attempt 1 failed: transient failure on attempt 1\n.*attempt 2 of 3\n(.*\n)*.*passed on attempt 2 of 3 in \d+ ms\n$/,
    )
    const stored = await readStoredRun(project, runId)
    expect(stepSummary(stored)).toEqual([['flaky', 'passed', 2, null]])
    expect(stored?.steps[0]?.attemptLog.map((attempt) => attempt.status)).toEqual(['failed', 'passed'])
    // When the step and each attempt began, on the wall clock: the step with its first attempt, the second after the first ended.
    const [first, second] = stored!.steps[0]!.attemptLog.map((attempt) => Date.parse(attempt.startTime!))
    expect(stored?.steps[0]?.startTime).toBe(flaky.meta!.attempts[0]!.startTime)
    expect(flaky.meta!.startTime).toBe(stored?.steps[0]?.startTime)
    expect(first).toBeGreaterThanOrEqual(before)
    expect(second).toBeGreaterThanOrEqual(first! + Math.floor(stored!.steps[0]!.attemptLog[0]!.durationMs))
    expect(second).toBeLessThanOrEqual(after)
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
      `failed: transient failure on attempt 2 (log: ${tests.dead!.meta!.logPath})`,
      'failed on all 2 attempts (attempt 1: failed (transient failure on attempt 1); attempt 2: failed (transient failure on attempt 2))',
      'log: 1_dead.log',
    ])
    expect(project.read('Data/dead.count')).toBe('xx')
    expect(tests.stubborn!.meta).toMatchObject({ status: 'failed', maxAttempts: 3, reason: 'wrong firmware' })
    expect(tests.stubborn!.meta!.attempts).toHaveLength(1)
    expect(tests.stubborn!.annotations.map((note) => note.message)).toEqual([
      `failed: wrong firmware (log: ${tests.stubborn!.meta!.logPath})`,
      'failed on attempt 1 of 3, not retried',
      'log: 2_stubborn.log',
    ])
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
