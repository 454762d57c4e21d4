import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, REPO, type TestProject } from './project.ts'

// The SQLite run store through the real CLI: rows checked with SQL, a run killed with
// SIGKILL, two processes writing one database, a corrupt database, `recipes history`.
const TIMING = 'scriptlets/timing.ts'
const RECIPES: Record<string, string> = {
  'recipes/stored.yaml': `test_meta: { test_id: STORE-1, tester: ci }
steps:
  - { idx: 1, name: load, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v1, value: [1, 2, 3] } }
  - { idx: 2, name: update, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v1, value: [4] } }
  - { idx: 3, name: broken, type: ts, module: scriptlets/set_key.ts, args: { key: demo.x_v1, fail: "device did not answer" } }
  - { idx: 4, name: after, type: ts, module: scriptlets/set_key.ts, args: { key: demo.y_v1 } }
`,
  'recipes/slow.yaml': `test_meta: { test_id: SLOW-1 }
steps:
  - { idx: 1, name: quick, type: ts, module: scriptlets/set_key.ts, args: { key: demo.quick_v1, value: 1 } }
  - { idx: 2, name: stuck, type: ts, module: ${TIMING}, function: Wait, args: { key: demo.stuck_v1, ms: 60000 } }
`,
  'recipes/other.yaml': `test_meta: { test_id: OTHER-1 }
steps:
  - { idx: 1, name: one, type: ts, module: ${TIMING}, function: Wait, args: { key: demo.one_v1, ms: 200 } }
  - { idx: 2, name: two, type: ts, module: ${TIMING}, function: Wait, args: { key: demo.two_v1, ms: 200 } }
`,
}

let project: TestProject
const db = () => new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })

beforeAll(() => {
  project = createProject({ ...RECIPES, ...fixtureScriptlets() })
  project.copyFixture('scriptlets/timing.ts', TIMING)
})
afterAll(() => project?.remove())

describe('a run leaves a queryable record', () => {
  test('runs, step_metrics, context_history and context_snapshots', async () => {
    const result = await project.recipes(['run', 'recipes/stored.yaml'])
    expect(result.code).toBe(1)
    const store = db()
    try {
      const run = store.prepare('SELECT * FROM runs').get() as Record<string, string>
      expect(run).toMatchObject({
        test_id: 'STORE-1',
        recipe: 'recipes/stored.yaml',
        status: 'failed',
        vitest_version: expect.stringMatching(/^\d+\./),
      })
      expect(JSON.parse(run.metadata!)).toMatchObject({ test_meta: { tester: 'ci' } })
      expect(
        store.prepare('SELECT step, idx, status, exit_code, attempts, reason FROM step_metrics ORDER BY seq').all(),
      ).toEqual([
        { step: 'load', idx: 1, status: 'passed', exit_code: 0, attempts: 1, reason: null },
        { step: 'update', idx: 2, status: 'passed', exit_code: 0, attempts: 1, reason: null },
        { step: 'broken', idx: 3, status: 'failed', exit_code: 1, attempts: 1, reason: 'device did not answer' },
        { step: 'after', idx: 4, status: 'blocked', exit_code: null, attempts: 0, reason: 'blocked: broken failed' },
      ])
      // A write records what changed (schema 8): the whole value when that is smaller than a
      // JSON Patch against the previous one, as both are here; `before` is rebuilt on read.
      expect(
        store.prepare('SELECT seq, key, who, before, after, change FROM context_history ORDER BY seq').all(),
      ).toEqual([
        { seq: 1, key: 'numbers.raw_v1', who: 'load', before: null, after: '[1,2,3]', change: null },
        { seq: 2, key: 'numbers.raw_v1', who: 'update', before: null, after: '[4]', change: null },
      ])
      expect(store.prepare('SELECT key, value, who FROM context_snapshots').all()).toEqual([
        { key: 'numbers.raw_v1', value: '[4]', who: 'update' },
      ])
    } finally {
      store.close()
    }
  })

  test('recipes history shows the runs and flags a status flip', async () => {
    project.write('recipes/stored.yaml', RECIPES['recipes/stored.yaml']!.replace(', fail: "device did not answer"', ''))
    await project.recipes(['run', 'recipes/stored.yaml'])
    const history = await project.recipes(['history', 'STORE-1'])
    expect(history.code).toBe(0)
    expect(history.stdout).toMatch(/STORE-1 \(recipes\/stored.yaml\): 2 most recent run\(s\)/)
    expect(history.stdout).toMatch(/broken\s+passed .* STATUS FLIP: failed → passed/)
    // Each step's duration per run, newest first; a step that did not pass shows its status.
    expect(history.stdout).toMatch(/step durations in the 2 newest run\(s\)/)
    expect(history.stdout).toMatch(/\n {2}broken\s+\d+\.\d ms\s+failed\n/)
    expect(history.stdout).toMatch(/\n {2}after\s+\d+\.\d ms\s+blocked\n/)
  })
})

test('a run killed with SIGKILL is marked interrupted, with every step it finished', async () => {
  const child = spawn(process.execPath, [join(REPO, 'bin/recipes.js'), 'run', 'recipes/slow.yaml'], {
    cwd: project.root,
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, VITEST: undefined },
  })
  const deadline = Date.now() + 60_000
  let finished = 0
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    try {
      const store = db()
      finished = (store.prepare("SELECT COUNT(*) AS n FROM step_metrics WHERE step = 'quick'").get() as { n: number }).n
      store.close()
    } catch {
      // Not created yet.
    }
    if (finished) break
  }
  expect(finished).toBe(1)
  process.kill(-child.pid!, 'SIGKILL')
  await new Promise((resolve) => setTimeout(resolve, 500))
  // The next open of the store (any command) notices the dead run.
  await project.recipes(['history', 'SLOW-1'])
  const store = db()
  try {
    expect(store.prepare("SELECT status FROM runs WHERE test_id = 'SLOW-1'").get()).toEqual({ status: 'interrupted' })
    expect(
      store
        .prepare(
          "SELECT step, status FROM step_metrics WHERE run_id = (SELECT run_id FROM runs WHERE test_id = 'SLOW-1')",
        )
        .all(),
    ).toEqual([{ step: 'quick', status: 'passed' }])
    expect(
      store
        .prepare("SELECT key FROM context_history WHERE run_id = (SELECT run_id FROM runs WHERE test_id = 'SLOW-1')")
        .all(),
    ).toEqual([{ key: 'demo.quick_v1' }])
  } finally {
    store.close()
  }
  // The killed run never reached the reporter; its documents can still be written from the store.
  const report = await project.recipes(['report', '--recipe', 'recipes/slow.yaml', '--format', 'md'])
  expect(report.code).toBe(0)
  const runDir = report.stdout.match(/reports\/(\S+)\/report\.md/)![1]!
  const md = project.read(`reports/${runDir}/report.md`)
  expect(md).toContain('| status | interrupted |')
  expect(md).toMatch(/\| 1 \| quick \| passed \|/)
  expect(md).not.toContain('stuck')
  expect(md).toContain('The run was interrupted: the steps after the last one recorded did not report.')
})

test('two processes writing one database at once both keep all their rows', async () => {
  const [first, second] = await Promise.all([
    project.recipes(['run', 'recipes/other.yaml']),
    project.recipes(['run', 'recipes/other.yaml']),
  ])
  expect([first.code, second.code]).toEqual([0, 0])
  const store = db()
  try {
    const runs = store.prepare("SELECT run_id FROM runs WHERE test_id = 'OTHER-1'").all() as { run_id: string }[]
    expect(runs).toHaveLength(2)
    for (const { run_id } of runs) {
      expect(store.prepare('SELECT COUNT(*) AS n FROM step_metrics WHERE run_id = ?').get(run_id)).toEqual({ n: 2 })
    }
  } finally {
    store.close()
  }
})

test('a corrupt database is a clear error, and nothing overwrites it', async () => {
  const corrupt = createProject({ 'recipes/a.yaml': RECIPES['recipes/stored.yaml']!, ...fixtureScriptlets() })
  try {
    writeFileSync(join(corrupt.root, 'reports.sqlite'), 'this is not a database, but a lab notebook')
    const result = await corrupt.recipes(['history', 'STORE-1'])
    expect(result.code).toBe(3)
    const run = await corrupt.vitest(['run'], { env: { RECIPES_DB: 'reports.sqlite' } })
    expect(run.code).toBe(1)
    expect(run.output).toContain(
      'the run could not start: cannot open the run store reports.sqlite: file is not a database; it is not a readable SQLite database (corrupt?): move it aside',
    )
    expect(corrupt.read('reports.sqlite')).toBe('this is not a database, but a lab notebook')
  } finally {
    corrupt.remove()
  }
})
