import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, REPO, type TestProject } from './project.ts'

/** A time as the store keeps it (when an attempt began). */
const ISO_TIME = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

// The store and the reports say what happened, and only that: listing runs nothing,
// statuses are true (blocked, setup, expected-error), whatever a scriptlet throws is
// recorded as its failure, every attempt is kept, logs end with the outcome, and the
// documents list steps in recipe order. Each case is checked with SQL and in the reports.
// What a step's record says inside one run (a log that cannot be written, a timed-out
// in-process step abandoned, a store refusing a record) is tested without Vitest in
// tests/runtime/ (run-session, step-life); here, what needs the real `vitest` and `recipes` processes.
const SET_KEY = 'scriptlets/set_key.ts'
const ODD = 'scriptlets/misbehaving.ts'
const RECIPES: Record<string, string> = {
  'recipes/chain.yaml': `test_meta: { test_id: CHAIN-1 }
steps:
  - { idx: 1, name: one, type: ts, module: ${SET_KEY}, args: { key: chain.one_v1 }, success: { ctx_has_keys: [chain.one_v1] } }
  - { idx: 2, name: two, type: ts, module: ${SET_KEY}, args: { key: chain.two_v1 } }
  - { idx: 3, name: three, type: ts, module: ${SET_KEY}, args: { key: chain.three_v1 } }
`,
  'recipes/odd.yaml': `test_meta: { test_id: ODD-1 }
steps:
  - { idx: 1, name: bigint, type: ts, module: ${ODD}, function: ThrowsOddDetails, args: { kind: bigint }, depends_on: [] }
  - { idx: 2, name: cycle, type: ts, module: ${ODD}, function: ThrowsOddDetails, args: { kind: cycle }, depends_on: [] }
  - { idx: 3, name: callback, type: ts, module: ${ODD}, function: ThrowsOddDetails, args: { kind: function }, depends_on: [] }
  - { idx: 4, name: folder_input, type: ts, module: ${SET_KEY}, args: { key: odd.cached_v1 }, cache: { inputs: [Data] }, depends_on: [] }
  - { idx: 5, name: after, type: ts, module: ${SET_KEY}, args: { key: odd.after_v1 }, depends_on: [bigint] }
`,
  'recipes/outcomes.yaml': `test_meta: { test_id: OUT-1 }
steps:
  - { idx: 1, name: prints, type: ts, module: ${ODD}, function: Prints, args: { key: out.printed_v1 } }
  - { idx: 2, name: refused, type: ts, module: ${SET_KEY}, args: { key: out.x_v1, fail: "login refused" }, expect: { status: error, reason_matches: refused } }
  - { idx: 3, name: flaky, type: ts, module: scriptlets/classes.ts, class: Flaky, args: { succeed_on: 3, counter: Data/flaky.count }, retry: { max: 2 } }
  - { idx: 4, name: stubborn, type: ts, module: ${SET_KEY}, args: { key: out.y_v1, fail: "wrong firmware" }, retry: { max: 2, on: [timeout] } }
  - { idx: 5, name: after_stubborn, type: ts, module: ${SET_KEY}, args: { key: out.z_v1 } }
`,
  'recipes/order.yaml': `test_meta: { test_id: ORDER-1 }
parallel: true
steps:
  - { idx: 1, name: slow_first, type: ts, module: scriptlets/timing.ts, function: Wait, args: { key: order.a_v1, ms: 600 }, parallel: true }
  - { idx: 2, name: quick_second, type: ts, module: scriptlets/timing.ts, function: Wait, args: { key: order.b_v1, ms: 10 }, parallel: true }
`,
}

let project: TestProject
const dbPath = () => join(project.root, 'reports/results.sqlite')
function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath(), { readonly: true })
  try {
    return db.prepare(sql).all(...params) as T[]
  } finally {
    db.close()
  }
}
const lastRunOf = (recipe: string) =>
  query<{ run_id: string; status: string }>(
    'SELECT run_id, status FROM runs WHERE recipe = ? ORDER BY start_time DESC, rowid DESC LIMIT 1',
    recipe,
  )[0]!
const stepsOf = (runId: string) =>
  query<{ step: string; status: string; attempts: number; reason: string | null; attempt_log: string | null }>(
    'SELECT step, status, attempts, reason, attempt_log FROM step_metrics WHERE run_id = ? ORDER BY idx',
    runId,
  )
const logOf = (runId: string, name: string) => readFileSync(join(project.root, 'Logs', runId, name), 'utf8')

beforeAll(() => {
  project = createProject({ ...RECIPES, ...fixtureScriptlets(), 'Data/.keep': '' })
  project.copyFixture('scriptlets/timing.ts', 'scriptlets/timing.ts')
  project.copyFixture('scriptlets/misbehaving.ts', ODD)
})
afterAll(() => project?.remove())

describe('listing is not running', () => {
  test('vitest list records no run, and a later --resume-from still finds the real last run', async () => {
    const listed = await project.vitest(['list', 'recipes/'])
    expect(listed.code).toBe(0)
    expect(listed.output).toContain('chain.yaml > one')
    expect(existsSync(dbPath())).toBe(false)

    expect((await project.recipes(['run', 'recipes/chain.yaml'])).code).toBe(0)
    await project.vitest(['list', 'recipes/'])
    expect(query('SELECT status FROM runs')).toEqual([{ status: 'passed' }])
    const resumed = await project.recipes(['run', 'recipes/chain.yaml', '--resume-from', 'three'])
    expect(resumed.code).toBe(0)
    expect(query('SELECT status FROM runs ORDER BY rowid')).toEqual([{ status: 'passed' }, { status: 'passed' }])
    const history = await project.recipes(['history', 'CHAIN-1'])
    expect(history.output).not.toContain('interrupted')
  })
})

describe('statuses are true', () => {
  test('--skip that blocks a dependent: exit 2, the run is stored, reported and listed as blocked', async () => {
    const result = await project.recipes(['run', 'recipes/chain.yaml', '--skip', 'one'])
    expect(result.code).toBe(2)
    const run = lastRunOf('recipes/chain.yaml')
    expect(run.status).toBe('blocked')
    expect(stepsOf(run.run_id).map(({ step, status, attempts }) => [step, status, attempts])).toEqual([
      ['one', 'skipped', 0],
      ['two', 'blocked', 0],
      ['three', 'blocked', 0],
    ])
    const markdown = readFileSync(join(project.root, 'reports', run.run_id, 'report.md'), 'utf8')
    expect(markdown).toMatch(/status: blocked|\*\*blocked\*\*|Run blocked/)
    expect(markdown).toContain('| 2 | two | blocked |')
    const history = await project.recipes(['history', 'CHAIN-1'])
    expect(history.output).toMatch(/blocked/)
    expect(logOf(run.run_id, '2_two.log')).toMatch(/did not run: blocked: one was skipped.*\n$/)
  })

  test('steps run as setup for a -t selection are stored as setup, and their logs say so', async () => {
    const result = await project.vitestJson(['run', 'recipes/chain.yaml', '-t', 'three'])
    expect(result.code).toBe(0)
    const tests = result.report.testResults[0]!.assertionResults
    // Vitest 5 can report a filtered-out test before the step runs as setup and sets its meta
    // (most often with other files running beside it): there the store is the record of setup.
    const vitestMajor = Number(
      (
        JSON.parse(readFileSync(join(REPO, 'node_modules/vitest/package.json'), 'utf8')) as { version: string }
      ).version.split('.')[0],
    )
    expect(tests.map((item) => [item.title, item.status])).toEqual([
      ['one', 'skipped'],
      ['two', 'skipped'],
      ['three', 'passed'],
    ])
    const metas = tests.map((item) => item.meta?.recipeStep?.status)
    const setupMetas = vitestMajor >= 5 ? ['setup', undefined] : ['setup']
    expect(setupMetas).toContain(metas[0])
    expect(setupMetas).toContain(metas[1])
    expect(metas[2]).toBe('passed')
    const run = lastRunOf('recipes/chain.yaml')
    expect(run.status).toBe('passed')
    expect(stepsOf(run.run_id).map(({ step, status }) => [step, status])).toEqual([
      ['one', 'setup'],
      ['two', 'setup'],
      ['three', 'passed'],
    ])
    // A setup step names the selected step it ran for, however deep in the chain it is.
    expect(logOf(run.run_id, '1_one.log')).toMatch(
      /starts as setup for three\n.*passed in \d+ ms \(setup for three\)\n$/,
    )
  })

  test('whatever a scriptlet throws is its own failure, recorded once; the run is failed, never passed', async () => {
    mkdirSync(join(project.root, 'Data/inputs'), { recursive: true })
    const result = await project.vitestJson(['run', 'recipes/odd.yaml'])
    expect(result.code).toBe(1)
    const run = lastRunOf('recipes/odd.yaml')
    expect(run.status).toBe('failed')
    const steps = stepsOf(run.run_id)
    expect(steps.map(({ step, status, reason }) => [step, status, reason])).toEqual([
      ['bigint', 'failed', 'link check failed (bigint)'],
      ['cycle', 'failed', 'link check failed (cycle)'],
      ['callback', 'failed', 'link check failed (function)'],
      ['folder_input', 'failed', expect.stringMatching(/^cache: cannot compute the step's cache key \(EISDIR/)],
      ['after', 'blocked', 'blocked: bigint failed'],
    ])
    const envelopes = query<{ step: string; envelope: string }>(
      'SELECT step, envelope FROM step_metrics WHERE run_id = ? AND idx <= 3 ORDER BY idx',
      run.run_id,
    ).map((row) => JSON.parse(row.envelope).details)
    expect(envelopes).toEqual([
      { kind: 'bigint', counter: '1180591620717411303424' },
      { kind: 'cycle', self: '[circular]' },
      { kind: 'function', callback: '[function onLinkDown]' },
    ])
    expect(result.output).toContain('link check failed (bigint)')
    expect(result.output).not.toMatch(/Do not know how to serialize|Converting circular structure/)
  })

  test('a store that fails under a running recipe fails the Vitest run saying so; every step is kept and stored once the store opens again, which adds the missing table and says so', async () => {
    const damaged = createProject({
      'recipes/x.yaml': `steps:
  - { idx: 1, name: first, type: ts, module: scriptlets/set_key.ts, args: { key: x.first_v1 } }
  - { idx: 2, name: damage, type: ts, module: ${ODD}, function: MovesStepTable, args: { db: reports/results.sqlite } }
  - { idx: 3, name: after, type: ts, module: scriptlets/set_key.ts, args: { key: x.after_v1 } }
`,
      ...fixtureScriptlets(),
    })
    try {
      damaged.copyFixture('scriptlets/misbehaving.ts', ODD)
      const result = await damaged.vitest(['run', 'recipes/'])
      expect(result.code).toBe(1)
      expect(result.output).toContain(
        'vitest-recipes: the run store could not store what the recipe files recorded: the run store reports/results.sqlite failed: no such table: step_metrics',
      )
      expect(result.output).toContain('Nothing is lost: the records stay in reports/results.sqlite.pending/')
      expect(result.output).not.toMatch(/\n\s+at /)
      // Each step was recorded when it ended (its journal line); the store gets them when it next
      // opens (here the reporter's, as the run ends): the table the damage took is made again,
      // empty, said so, and the journals are stored in it.
      expect(result.output).toContain(
        'vitest-recipes: RUN_STORE_REPAIRED: the run store reports/results.sqlite lacked part of its schema (table step_metrics',
      )
      const db = new Database(join(damaged.root, 'reports/results.sqlite'))
      try {
        // What the Vitest process stored before the damage (it stores every second): `first` at most.
        const before = db.prepare('SELECT step FROM step_metrics_moved').all() as { step: string }[]
        expect(before.filter((row) => row.step !== 'first')).toEqual([])
      } finally {
        db.close()
      }
      const history = await damaged.recipes(['history', 'recipes/x.yaml'])
      expect(history.code, history.output).toBe(0)
      const repaired = new Database(join(damaged.root, 'reports/results.sqlite'), { readonly: true })
      try {
        expect(repaired.prepare('SELECT status FROM runs').all()).toEqual([{ status: 'passed' }])
        expect(repaired.prepare('SELECT step, status FROM step_metrics ORDER BY idx').all()).toEqual([
          { step: 'first', status: 'passed' },
          { step: 'damage', status: 'passed' },
          { step: 'after', status: 'passed' },
        ])
      } finally {
        repaired.close()
      }
      expect(readdirSync(join(damaged.root, 'reports/results.sqlite.pending'))).toEqual([])
    } finally {
      damaged.remove()
    }
  })
})

describe('attempts, logs and order', () => {
  let runId: string
  let output: string
  beforeAll(async () => {
    const result = await project.vitestJson(['run', 'recipes/outcomes.yaml'])
    output = result.output
    runId = lastRunOf('recipes/outcomes.yaml').run_id
  })

  test('every attempt is stored; a failure retry.on does not match runs once, and Vitest says once', () => {
    const steps = Object.fromEntries(stepsOf(runId).map((row) => [row.step, row]))
    expect(steps.flaky).toMatchObject({ status: 'passed', attempts: 3 })
    expect(JSON.parse(steps.flaky!.attempt_log!)).toEqual([
      {
        attempt: 1,
        status: 'failed',
        reason: 'transient failure on attempt 1',
        durationMs: expect.any(Number),
        startTime: ISO_TIME,
      },
      {
        attempt: 2,
        status: 'failed',
        reason: 'transient failure on attempt 2',
        durationMs: expect.any(Number),
        startTime: ISO_TIME,
      },
      { attempt: 3, status: 'passed', durationMs: expect.any(Number), startTime: ISO_TIME },
    ])
    expect(steps.stubborn).toMatchObject({ status: 'failed', attempts: 1, reason: 'wrong firmware' })
    expect(output).not.toMatch(/retry x/)
    // Once as the test's error (the default reporter may repeat it in its summary), and once
    // as the step's annotation, which names its log: never once per attempt.
    const annotations = output.match(/failed: wrong firmware \(log: [^)]*\)/g) ?? []
    expect(annotations.length).toBeLessThanOrEqual(1)
    expect(output.match(/wrong firmware/g)?.length ?? 0).toBeLessThanOrEqual(2 + annotations.length)
    const markdown = readFileSync(join(project.root, 'reports', runId, 'report.md'), 'utf8')
    expect(markdown).toContain('flaky: attempt 1 failed (transient failure on attempt 1)')
    expect(markdown).toMatch(/Passed after retrying: flaky \(3 attempts/)
  })

  test('every log ends with what happened; a printing TypeScript step gets its log', () => {
    const printed = logOf(runId, '1_prints.log')
    expect(printed).toContain('console.log from prints')
    expect(printed).toContain('console.error from prints')
    expect(printed).toContain('stdout.write from prints')
    expect(printed).toMatch(/passed in \d+ ms\n$/)
    expect(logOf(runId, '2_refused.log')).toMatch(/expected error matched in \d+ ms: login refused\n$/)
    expect(logOf(runId, '3_flaky.log')).toMatch(/attempt 1 failed: transient failure on attempt 1\n/)
    expect(logOf(runId, '3_flaky.log')).toMatch(/passed on attempt 3 of 3 in \d+ ms\n$/)
    expect(logOf(runId, '4_stubborn.log')).toMatch(
      /failed: wrong firmware \(not retried: the reason does not match retry.on\)\n.*failed: wrong firmware\n$/,
    )
    expect(logOf(runId, '5_after_stubborn.log')).toMatch(/did not run: blocked: stubborn failed\n$/)
    expect(stepsOf(runId).find((row) => row.step === 'refused')).toMatchObject({ status: 'expected-error' })
  })

  test('reports list steps in recipe order, not in the order they finished', async () => {
    expect((await project.vitest(['run', 'recipes/order.yaml'])).code).toBe(0)
    const run = lastRunOf('recipes/order.yaml')
    expect(query('SELECT step FROM step_metrics WHERE run_id = ? ORDER BY seq', run.run_id)).toEqual([
      { step: 'quick_second' },
      { step: 'slow_first' },
    ])
    const markdown = readFileSync(join(project.root, 'reports', run.run_id, 'report.md'), 'utf8')
    expect(markdown.indexOf('| 1 | slow_first |')).toBeGreaterThan(0)
    expect(markdown.indexOf('| 1 | slow_first |')).toBeLessThan(markdown.indexOf('| 2 | quick_second |'))
  })
})

test('the repository keeps its fixtures', () => {
  expect(readFileSync(join(REPO, 'tests/fixtures/scriptlets/misbehaving.ts'), 'utf8')).toContain('ThrowsOddDetails')
})
