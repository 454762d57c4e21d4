import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, type RunResult, type TestProject } from './project.ts'

const RECIPE = `test_meta:
  test_id: LIVE-E2E
  description: the ctx served while the recipe runs, read and written from outside and from steps
steps:
  - name: tick
    type: shell
    cmd: scriptlets/shell/live_ticker.sh
    timeout: 60
  - name: samples
    type: python
    module: scriptlets.python.live_samples
    class: CollectSamples
    args: { values: [3, 5] }
    success:
      ctx_equals:
        data.samples_v1: [3, 5]
  - name: script
    type: python
    script: scriptlets/python/live_script.py
  - name: after
    type: shell
    cmd: scriptlets/shell/ctx_file.sh
    args: { KEY: files.seen_v1 }
    success:
      ctx_equals:
        lab.go_v1: now
        lab.script_v1: from a script
`

let project: TestProject
const LIVE = 'reports/results.sqlite.live'

beforeAll(() => {
  project = createProject({ 'recipes/live.yaml': RECIPE })
  project.copyFixture('shell/live_ticker.sh', 'scriptlets/shell/live_ticker.sh')
  project.copyFixture('shell/ctx_file.sh', 'scriptlets/shell/ctx_file.sh')
  project.copyFixture('python/live_samples.py', 'scriptlets/python/live_samples.py')
  project.copyFixture('python/live_script.py', 'scriptlets/python/live_script.py')
})
afterAll(() => project.remove())

const ctx = (...args: string[]) => project.recipes(['ctx', ...args])
const json = (result: RunResult) => JSON.parse(result.stdout) as Record<string, unknown>

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  seconds = 30,
  why: () => string = () => '',
): Promise<T> {
  const end = Date.now() + seconds * 1000
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > end) throw new Error(`waited ${seconds} s for ${what}; ${why()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

test('a running recipe serves its ctx: steps and outside callers read and write it as it runs, and every write is recorded', async () => {
  const running = project.vitest(['run', 'recipes/'])
  let ended: RunResult | undefined
  void running.then((result) => (ended = result))

  // The step's own writes show from outside while it runs.
  let last: RunResult | undefined
  const ticks = await until(
    'the ticker step to report a tick',
    async () => {
      // A run that ended before its first tick will never tick: say what it printed.
      if (ended) throw new Error(`the run ended (exit ${ended.code}) before its first tick:\n${ended.output}`)
      last = await ctx('get', 'lab.ticks_v1')
      return last.code === 0 && json(last).value !== undefined ? json(last) : undefined
    },
    30,
    () => `the last recipes ctx get: exit ${last?.code}: ${last?.output.trim()}`,
  )
  expect(ticks).toMatchObject({ key: 'lab.ticks_v1', value: expect.any(Number), revision: expect.any(Number) })
  expect(ticks.run).toMatch(/-live-/)

  // Where the run is published: a file only the user can read, in a folder only the user can enter.
  const [endpointFile] = readdirSync(join(project.root, LIVE))
  expect(statSync(join(project.root, LIVE, endpointFile!)).mode & 0o777).toBe(0o600)
  expect(statSync(join(project.root, LIVE)).mode & 0o777).toBe(0o700)

  // Refusals, with their exit codes: a bad key (3), a value that is not JSON (3), a stale revision (1).
  const badKey = await ctx('set', 'LinkState', '"up"')
  expect(badKey.code).toBe(3)
  expect(badKey.stderr).toMatch(/keys are named namespace\.entity_vN/)
  const notJson = await ctx('set', 'lab.go_v1', 'now')
  expect(notJson.code).toBe(3)
  expect(notJson.stderr).toMatch(/is not JSON/)
  const stale = await ctx('set', 'lab.ticks_v1', '0', '--revision', '1')
  expect(stale.code).toBe(1)
  expect(json(stale).error).toMatchObject({ code: 'CTX_REVISION_CONFLICT' })

  // An outside write reaches the running step, which then ends.
  const go = await ctx('set', 'lab.go_v1', '"now"', '--who', 'lab-console')
  expect(go.code, go.output).toBe(0)
  expect(json(go)).toMatchObject({ key: 'lab.go_v1', value: 'now' })

  const result = await running
  expect(result.code, result.output).toBe(0)
  expect(result.output).toMatch(/4 passed/)
  // The run ended: it is no longer published.
  expect(existsSync(join(project.root, LIVE, endpointFile!))).toBe(false)

  // The store holds every write with its writer: the console's between the steps, the Python step's through the API.
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const history = db
      .prepare(
        "SELECT key, who, step, after FROM context_history WHERE key IN ('lab.go_v1', 'data.samples_v1', 'lab.script_v1') ORDER BY seq",
      )
      .all()
    expect(history).toEqual([
      { key: 'lab.go_v1', who: 'lab-console', step: null, after: '"now"' },
      { key: 'data.samples_v1', who: 'samples', step: null, after: '[3]' },
      { key: 'data.samples_v1', who: 'samples', step: null, after: '[3,5]' },
      { key: 'lab.script_v1', who: 'script', step: null, after: '"from a script"' },
    ])
    const ticksWritten = db.prepare("SELECT COUNT(*) AS n FROM context_history WHERE key = 'lab.ticks_v1'").get() as {
      n: number
    }
    expect(ticksWritten.n).toBe(json(await ctx('get', 'lab.ticks_v1')).value as number)
  } finally {
    db.close()
  }
})

test('after the run, reads come from the store and writes are refused', async () => {
  const read = await ctx('get', 'lab.go_v1')
  expect(read.code).toBe(0)
  expect(json(read)).toMatchObject({ live: false, key: 'lab.go_v1', value: 'now' })
  expect(json(await ctx('full')).values).toMatchObject({ 'lab.go_v1': 'now', 'data.samples_v1': [3, 5] })
  const missing = await ctx('get', 'lab.never_v1')
  expect(missing.code).toBe(1)
  const write = await ctx('set', 'lab.late_v1', '1')
  expect(write.code).toBe(2)
  expect(write.stderr).toMatch(/is not running \(passed\): its ctx can no longer change/)
  const unknown = await ctx('get', 'lab.go_v1', '--run', 'no-such-run')
  expect(unknown.code).toBe(3)
  expect(unknown.stderr).toMatch(/no run "no-such-run"/)
  const usage = await ctx('frobnicate')
  expect(usage.code).toBe(3)
  expect(usage.stderr).toMatch(/unknown operation "frobnicate"/)
})
