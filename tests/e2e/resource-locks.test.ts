import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { Dashboard } from '../../plugin/live/dashboard.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { childEnv, createProject, REPO, type TestProject } from './project.ts'

// Several engineers' runs on one store (SQLite, RECIPES_DB) and one rack: each project is its
// own workspace, as on separate desks; the store is what they share.

const HOLDS_DUT = (seconds: number) => `test_meta: { test_id: LOCK-RUN }
resources: [dut:x]
steps:
  - name: use_dut
    type: exec
    cmd: [sleep, "${seconds}"]
    parse: raw
  - name: report
    type: exec
    cmd: [echo, done]
    parse: raw
`
const WAITS_BRIEFLY = `test_meta: { test_id: LOCK-WAIT }
resource_wait: 1
steps:
  - name: measure
    type: exec
    cmd: [echo, measured]
    parse: raw
    resources: [dut:y]
  - name: after
    type: exec
    cmd: [echo, after]
    parse: raw
    depends_on: []
`

let shared: string
let store: string
const projects: TestProject[] = []

function project(files: Record<string, string>): TestProject {
  const created = createProject(files)
  projects.push(created)
  return created
}

beforeAll(async () => {
  shared = mkdtempSync(join(tmpdir(), 'vitest-recipes-shared-store-'))
  store = join(shared, 'lab.sqlite')
})

afterAll(async () => {
  for (const created of projects) created.remove()
  rmSync(shared, { recursive: true, force: true })
})

interface Hold {
  run_id: string
  acquired_at: string
  released_at: string | null
  release: string | null
}

function holdsOf(resource: string): Hold[] {
  const db = new Database(store, { readonly: true })
  try {
    return db
      .prepare(
        'SELECT run_id, acquired_at, released_at, release FROM resource_holds WHERE resource = ? ORDER BY acquired_at',
      )
      .all(resource) as Hold[]
  } finally {
    db.close()
  }
}

test('three runs needing dut:x take turns: their holds never overlap, the later ones say who holds it and count the wait', async () => {
  const lab = [1, 2, 3].map(() => project({ 'recipes/rack.yaml': HOLDS_DUT(2) }))
  const results = await Promise.all(lab.map((each) => each.vitest(['run'], { env: { RECIPES_DB: store } })))
  for (const result of results) expect(result.code, result.output).toBe(0)
  const holds = holdsOf('dut:x')
  expect(holds).toHaveLength(3)
  for (const hold of holds) expect(hold.release).toBe('released')
  // With SQL, as an auditor would: no two holds of dut:x overlap.
  const db = new Database(store, { readonly: true })
  const overlaps = db
    .prepare(
      `SELECT count(*) AS n FROM resource_holds a JOIN resource_holds b
         ON a.resource = b.resource AND a.rowid < b.rowid
       WHERE a.resource = 'dut:x' AND a.acquired_at < b.released_at AND b.acquired_at < a.released_at`,
    )
    .get() as { n: number }
  const waits = db
    .prepare(
      `SELECT json_extract(envelope, '$.metrics.resource_wait_ms') AS waited FROM step_metrics
       WHERE step = 'use_dut' ORDER BY waited`,
    )
    .all() as { waited: number }[]
  const runs = db.prepare(`SELECT status FROM runs WHERE test_id = 'LOCK-RUN'`).all() as { status: string }[]
  db.close()
  expect(overlaps.n).toBe(0)
  expect(runs.map((run) => run.status)).toEqual(['passed', 'passed', 'passed'])
  // Every first step counts its wait; two of the three waited while another held the DUT.
  expect(waits).toHaveLength(3)
  expect(waits.filter((row) => row.waited > 1000)).toHaveLength(2)
  // ...and the reports show it with the step's other metrics.
  const documents = lab.map((each) => {
    const folder = readdirSync(join(each.root, 'reports')).find((name) => name.includes('-rack-'))!
    return each.read(`reports/${folder}/report.md`)
  })
  expect(documents.filter((text) => text.includes('resource_wait_ms')).length).toBe(3)
  const said = results.map((result) => result.output).join('\n')
  expect(said).toMatch(
    /vitest-recipes: use_dut: waiting for dut:x, held by run \d{8}T\d{6}Z-rack-[0-9a-f]+ \(test_id LOCK-RUN\) on host \S+ since \d\d:\d\d:\d\d UTC; \d+\.\d s so far/,
  )
}, 120_000)

test('a step that waits past resource_wait fails with who holds the resource; the steps after it still run, and the run is recorded', async () => {
  const holder = await RunStore.open(store)
  expect(
    (await holder.locks.tryAcquire({ resources: ['dut:y'], runId: 'bench-run-7', testId: 'BENCH-7' })).acquired,
  ).toBe(true)
  const renew = setInterval(() => void holder.locks.heartbeat(), 500)
  try {
    const lab = project({ 'recipes/wait.yaml': WAITS_BRIEFLY })
    const report = await lab.vitestJson(['recipes/'], { env: { RECIPES_DB: store } })
    expect(report.code).toBe(1)
    const steps = report.report.testResults[0]!.assertionResults
    expect(steps.map((step) => [step.title, step.status])).toEqual([
      ['measure', 'failed'],
      ['after', 'passed'],
    ])
    expect(steps[0]!.failureMessages[0]).toMatch(
      /recipes\/wait\.yaml:4\) waited 1\.\d s \(the limit\) for dut:y, held by run bench-run-7 \(test_id BENCH-7\) on host \S+ since \d\d:\d\d:\d\d UTC/,
    )
    const db = new Database(store, { readonly: true })
    const row = db
      .prepare(
        `SELECT s.status, s.exit_code, s.reason FROM step_metrics s JOIN runs r USING (run_id)
         WHERE r.test_id = 'LOCK-WAIT' AND s.step = 'measure'`,
      )
      .get() as { status: string; exit_code: number; reason: string }
    const waiting = db.prepare(`SELECT count(*) AS n FROM resource_waits WHERE resource = 'dut:y'`).get() as {
      n: number
    }
    db.close()
    expect(row).toMatchObject({ status: 'failed', exit_code: 2 })
    expect(row.reason).toContain('held by run bench-run-7')
    // It gave up its place in the queue.
    expect(waiting.n).toBe(0)
  } finally {
    clearInterval(renew)
    await holder.locks.release('bench-run-7')
    await holder.close()
  }
}, 60_000)

test('a SIGKILLed holder releases its resource within seconds: the next run gets it, and the killed run is interrupted', async () => {
  const first = project({ 'recipes/rack.yaml': HOLDS_DUT(60) })
  const killed = spawn(process.execPath, [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run'], {
    cwd: first.root,
    env: childEnv({ RECIPES_DB: store, CI: 'true' }),
    stdio: 'ignore',
    detached: true,
  })
  try {
    // Until the first run holds dut:x.
    for (let tries = 0; ; tries++) {
      const held = holdsOf('dut:x').filter((hold) => hold.released_at === null)
      if (held.length === 1) break
      if (tries > 300) throw new Error('the first run never held dut:x')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    // The whole Vitest process group, as when a CI runner is killed.
    process.kill(-killed.pid!, 'SIGKILL')
  }
  const second = project({ 'recipes/rack.yaml': HOLDS_DUT(0).replace('LOCK-RUN', 'LOCK-NEXT') })
  const result = await second.vitest(['run'], { env: { RECIPES_DB: store } })
  expect(result.code, result.output).toBe(0)
  const holds = holdsOf('dut:x')
  const dead = holds.at(-2)!
  expect(dead.release).toMatch(/^expired: its holder's processes on \S+ are gone/)
  expect(holds.at(-1)!.release).toBe('released')
  const db = new Database(store, { readonly: true })
  const statuses = db
    .prepare(`SELECT test_id, status FROM runs WHERE run_id = ? OR test_id = 'LOCK-NEXT'`)
    .all(dead.run_id) as { test_id: string; status: string }[]
  db.close()
  expect(statuses).toEqual(
    expect.arrayContaining([
      { test_id: 'LOCK-RUN', status: 'interrupted' },
      { test_id: 'LOCK-NEXT', status: 'passed' },
    ]),
  )
}, 120_000)

test('while a run waits for a held resource, the dashboard\'s "running now" shows its step waiting: for what, since when, held by whom', async () => {
  const holder = await RunStore.open(store)
  expect(
    (
      await holder.locks.tryAcquire({
        resources: ['dut:w'],
        runId: 'bench-run-9',
        testId: 'BENCH-9',
        step: 'calibrate',
      })
    ).acquired,
  ).toBe(true)
  const renew = setInterval(() => void holder.locks.heartbeat(), 500)
  const lab = project({
    'recipes/waits.yaml': `test_meta: { test_id: LOCK-SEE }
resource_wait: 60
steps:
  - name: measure
    type: exec
    cmd: [echo, measured]
    parse: raw
    resources: [dut:w]
`,
  })
  const dashboard = await Dashboard.start({
    root: lab.root,
    store: holder,
    storePath: store,
    host: '127.0.0.1',
    port: 0,
    pollMs: 100,
  })
  const running = lab.vitest(['run'], { env: { RECIPES_DB: store } })
  try {
    const waiting = async () => {
      const { runs } = (await (await fetch(`${dashboard.url}/api/runs?testId=LOCK-SEE`)).json()) as {
        runs: { status: string; running: Record<string, any>[] }[]
      }
      return runs.find((run) => run.status === 'running')?.running ?? []
    }
    await expect.poll(waiting, { timeout: 30_000, interval: 200 }).toEqual([
      {
        step: 'measure',
        since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        waiting: {
          resources: ['dut:w'],
          heldBy: [
            {
              resource: 'dut:w',
              runId: 'bench-run-9',
              testId: 'BENCH-9',
              step: 'calibrate',
              host: hostname(),
              pid: process.pid,
              since: expect.any(String),
            },
          ],
        },
      },
    ])
    await holder.locks.release('bench-run-9')
    const result = await running
    expect(result.code, result.output).toBe(0)
    await expect.poll(waiting, { timeout: 5_000 }).toEqual([])
  } finally {
    clearInterval(renew)
    await holder.locks.release('bench-run-9')
    await running.catch(() => undefined)
    await dashboard.close()
    await holder.close()
  }
}, 90_000)
