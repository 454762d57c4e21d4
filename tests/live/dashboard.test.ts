import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { hostname } from 'node:os'
import { Dashboard } from '../../plugin/live/dashboard.ts'
import { publishEndpoint, withdrawEndpoint } from '../../plugin/live/endpoints.ts'
import { sendJson, startHttpServer } from '../../plugin/live/http-server.ts'
import { RunJournal } from '../../plugin/store/journal.ts'
import type { StepRow, StepStatus } from '../../plugin/store/run-data.ts'
import { RunStore } from '../../plugin/store/run-store.ts'

// The dashboard's routes and its live updates, without a browser (tests/e2e/dashboard.test.ts has one).
const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-dashboard-'))
const storePath = join(root, 'reports/results.sqlite')
let store: RunStore
let dashboard: Dashboard

const step = (name: string, idx: number, status: StepStatus, logPath: string | null = null): StepRow => ({
  step: name,
  idx,
  status,
  durationMs: 5 * idx,
  cpuMs: 1,
  peakRssBytes: 0,
  exitCode: status === 'failed' ? 1 : 0,
  attempts: 1,
  attemptLog: [],
  reason: status === 'failed' ? 'boom' : null,
  logPath,
  params: {},
  envelope: { status: 'ok', outputs: [], artifacts: [], warnings: [], metrics: { loss_pct: idx } },
})
const run = (runId: string, startTime: string, tester: string, tags: string[]) => ({
  runId,
  testId: 'DASH-U',
  recipe: 'recipes/d.yaml',
  startTime,
  vitestVersion: '4',
  metadata: { test_meta: { test_id: 'DASH-U', tester, tags } },
})

beforeAll(async () => {
  store = await RunStore.open(storePath, 'reports/results.sqlite')
  await store.beginRun(run('r1', '2026-11-01T10:00:00Z', 'ana', ['lab']))
  mkdirSync(join(root, 'Logs/r1'), { recursive: true })
  writeFileSync(join(root, 'Logs/r1/1_a.log'), 'step a failed: boom\n')
  await store.recordStep('r1', step('a', 1, 'failed', 'Logs/r1/1_a.log'), [], [])
  await store.finishRun('r1', 'failed', '2026-11-01T10:00:01Z')
  await store.beginRun(run('r2', '2026-11-20T10:00:00Z', 'bo', ['lab', 'nightly']))
  await store.recordStep('r2', step('a', 1, 'passed', '../../etc/passwd'), [], [])
  await store.finishRun('r2', 'passed', '2026-11-20T10:00:01Z')
  dashboard = await Dashboard.start({ root, store, storePath, host: '127.0.0.1', port: 0, pollMs: 50 })
})
afterAll(async () => {
  await dashboard.close()
  await store.close()
  rmSync(root, { recursive: true, force: true })
})

const get = async (path: string) => {
  const response = await fetch(`${dashboard.url}${path}`)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}
const ids = async (query: string) =>
  ((await get(`/api/runs?${query}`)).body.runs as { runId: string }[]).map((r) => r.runId)

/** A running recipe's ctx server as the dashboard finds it: answering `handle`, published beside the store for `runId`. */
async function servedRun(runId: string, startedAt: string, handle: Parameters<typeof startHttpServer>[0]['handle']) {
  const server = await startHttpServer({ name: 'a ctx server', host: '127.0.0.1', port: 0, listenHint: '', handle })
  const endpoint = publishEndpoint(storePath, {
    runId,
    recipe: 'recipes/d.yaml',
    testId: 'DASH-U',
    url: server.url,
    token: 't',
    pid: process.pid,
    host: hostname(),
    startedAt,
  })
  return {
    async close() {
      withdrawEndpoint(endpoint)
      await server.close()
    },
  }
}

test('serves the page on loopback, and refuses writes', async () => {
  expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  const page = await fetch(`${dashboard.url}/`)
  expect(page.headers.get('content-type')).toMatch(/text\/html/)
  expect(await page.text()).toMatch(/<title>vitest-recipes dashboard<\/title>/)
  const write = await fetch(`${dashboard.url}/api/runs`, { method: 'POST', body: 'x'.repeat(1024 * 1024) })
  expect(write.status).toBe(405)
  expect(await write.json()).toEqual({
    error: { code: 'HTTP_METHOD_NOT_ALLOWED', message: 'the dashboard takes GET requests only' },
  })
  expect(await get('/api/nope')).toEqual({
    status: 404,
    body: { error: { code: 'DASHBOARD_NOT_FOUND', message: 'no such page: /api/nope' } },
  })
})

test('the page draws no chart of its own: each is an image of a chart route, as charts/ defines it', async () => {
  const page = await (await fetch(`${dashboard.url}/`)).text()
  expect(page).not.toMatch(/<svg|<rect|<path|<circle|<polyline/)
  expect(page).toMatch(/`\/api\/trend\/\$\{encodeURIComponent\(testId\)\}\/charts`/)
  expect(page).toMatch(/`\/api\/runs\/\$\{encodeURIComponent\(run\.runId\)\}\/charts`/)
})

test('runs filter by test_id, status, tester, tag and date', async () => {
  expect(await ids('')).toEqual(['r2', 'r1'])
  expect(await ids('status=failed')).toEqual(['r1'])
  expect(await ids('tester=bo')).toEqual(['r2'])
  expect(await ids('tag=nightly')).toEqual(['r2'])
  expect(await ids('tag=lab')).toEqual(['r2', 'r1'])
  expect(await ids('from=2026-11-10')).toEqual(['r2'])
  expect(await ids('to=2026-11-10')).toEqual(['r1'])
  expect(await ids('testId=OTHER')).toEqual([])
  const [first] = (await get('/api/runs?tester=ana')).body.runs as Record<string, unknown>[]
  // A run's duration is its wall time (end - start); the sum of its step times is stepsMs.
  expect(first).toMatchObject({ steps: 1, failed: 1, durationMs: 1000, stepsMs: 5, tags: ['lab'], running: [] })
})

test("runs filter by their recipe vars (a device's runs), each listed with its values", async () => {
  // Another test id: the trend of DASH-U below stays as it is.
  const device = (runId: string, startTime: string, dut: string) => ({
    ...run(runId, startTime, 'ana', []),
    testId: 'DASH-V',
    metadata: { test_meta: { test_id: 'DASH-V' }, vars: { dut, ports: 48 } },
  })
  await store.beginRun(device('v1', '2026-11-21T10:00:00Z', 'sw-2'))
  await store.finishRun('v1', 'passed', '2026-11-21T10:00:01Z')
  await store.beginRun(device('v2', '2026-11-22T10:00:00Z', 'sw-3'))
  await store.finishRun('v2', 'passed', '2026-11-22T10:00:01Z')
  expect(await ids('var=dut%3Dsw-2')).toEqual(['v1'])
  expect(await ids('var=ports%3D48')).toEqual(['v2', 'v1'])
  expect(await ids('var=dut%3Dsw-3&var=ports%3D48')).toEqual(['v2'])
  expect(await ids('var=dut%3Dsw-9')).toEqual([])
  const [listed] = (await get('/api/runs?var=dut%3Dsw-2')).body.runs as Record<string, unknown>[]
  expect(listed!.vars).toEqual({ dut: 'sw-2', ports: 48 })
  expect(await get('/api/runs?var=dut')).toMatchObject({
    status: 400,
    body: { error: { code: 'DASHBOARD_BAD_FILTER', message: expect.stringContaining('var=<name>=<value>') } },
  })
})

test("a run's steps, its log (never a file outside the project), and a test id's trend", async () => {
  const { body } = await get('/api/runs/r1')
  expect(body.steps).toMatchObject([{ step: 'a', status: 'failed', reason: 'boom' }])
  const log = await fetch(`${dashboard.url}/api/runs/r1/log?step=a`)
  expect(await log.text()).toBe('step a failed: boom\n')
  expect((await fetch(`${dashboard.url}/api/runs/r2/log?step=a`)).status).toBe(403)
  expect(await get('/api/runs/nope')).toEqual({
    status: 404,
    body: { error: { code: 'DASHBOARD_NO_SUCH_RUN', message: 'no run "nope" in the store' } },
  })
  const trend = await get('/api/trend/DASH-U')
  expect(trend.body.runs).toMatchObject([
    { runId: 'r1', metrics: { 'a.loss_pct': 1 } },
    { runId: 'r2', metrics: { 'a.loss_pct': 1 } },
  ])
})

test('tells the page at once when a running recipe journals a step', async () => {
  const response = await fetch(`${dashboard.url}/api/events`)
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  const next = async () => decoder.decode((await reader.read()).value)
  const first = Number(/data: (\d+)/.exec(await next())![1])
  // A recipe file in another process journals its run (what the Vitest process would ingest each second).
  const journal = RunJournal.create(storePath, 'reports/results.sqlite', 'r3')
  journal.beginRun(run('r3', '2026-11-30T10:00:00Z', 'ana', []))
  journal.recordStep('r3', step('a', 1, 'passed'), [], [])
  const started = Date.now()
  const second = Number(/data: (\d+)/.exec(await next())![1])
  expect(second).toBeGreaterThan(first)
  expect(Date.now() - started).toBeLessThan(1000)
  expect(await ids('')).toContain('r3')
  await reader.cancel()
  journal.close()
})

test("a finished run's charts: their list, each as SVG; an unknown chart is refused", async () => {
  const { body } = await get('/api/runs/r2/charts')
  expect(body.charts).toEqual([
    { name: 'step_durations', title: 'Step durations' },
    { name: 'step_sequence', title: 'Step graph' },
    { name: 'metric_a.loss_pct', title: 'a.loss_pct' },
  ])
  const svg = await fetch(`${dashboard.url}/api/runs/r2/charts/metric_a.loss_pct.svg`)
  expect(svg.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8')
  // The trend covers r1 and r2, the run itself last.
  expect(await svg.text()).toMatch(/^<svg[\s\S]*2 runs of DASH-U; this run: 1/)
  expect((await get('/api/runs/r2/charts/nope.svg')).body).toEqual({
    error: { code: 'DASHBOARD_NO_SUCH_CHART', message: 'run r2 has no chart "nope"' },
  })
})

test("a test id's trend charts as charts/ defines them: its steps' durations over the runs, each metric's trend", async () => {
  const { body } = await get('/api/trend/DASH-U/charts')
  expect(body.charts).toEqual([
    { name: 'step_duration_trend', title: 'Step durations over runs' },
    { name: 'metric_a.loss_pct', title: 'a.loss_pct' },
  ])
  const svg = await fetch(`${dashboard.url}/api/trend/DASH-U/charts/step_duration_trend.svg`)
  expect(svg.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8')
  expect(await svg.text()).toMatch(/^<svg[\s\S]*runs of DASH-U/)
  expect(await get('/api/trend/DASH-U/charts/nope.svg')).toEqual({
    status: 404,
    body: { error: { code: 'DASHBOARD_NO_SUCH_CHART', message: 'test id DASH-U has no chart "nope"' } },
  })
  expect(await get('/api/trend/NOPE/charts')).toEqual({
    status: 404,
    body: { error: { code: 'DASHBOARD_NO_SUCH_TEST', message: 'no run of test id "NOPE" in the store' } },
  })
})

test('a run still going has its charts too, never cached, its running steps drawn with the ones done', async () => {
  await store.beginRun(run('r4', '2026-11-21T10:00:00Z', 'bo', []))
  await store.recordStep('r4', step('a', 1, 'passed'), [], [])
  // The run's ctx server says which step runs now, as a recipe file's does.
  const served = await servedRun('r4', '2026-11-21T10:00:00Z', (_request, response) =>
    sendJson(response, 200, { running: [{ step: 'slow_probe', since: new Date(Date.now() - 3000).toISOString() }] }),
  )
  try {
    await expect.poll(async () => (await get('/api/runs/r4')).body.running, { timeout: 5000 }).toHaveLength(1)
    expect((await get('/api/runs/r4/charts')).body.charts).toContainEqual({
      name: 'step_durations',
      title: 'Step durations',
    })
    const svg = await fetch(`${dashboard.url}/api/runs/r4/charts/step_durations.svg`)
    expect(svg.status).toBe(200)
    expect(svg.headers.get('cache-control')).toBe('no-store')
    const text = await svg.text()
    expect(text).toContain('1. a')
    expect(text).toContain('2. slow_probe')
    expect(text).toContain('running')
  } finally {
    await served.close()
    await store.finishRun('r4', 'passed', '2026-11-21T10:00:01Z')
  }
  const finished = await fetch(`${dashboard.url}/api/runs/r4/charts/step_durations.svg`)
  expect(finished.headers.get('cache-control')).toBe('private, max-age=60')
})

test("a running recipe's ctx server too busy to answer a look keeps its running steps shown, for a while, not forever", async () => {
  // A dashboard of its own that keeps a missed answer 2.5 s (10 s by default).
  const watching = await Dashboard.start({
    root,
    store,
    storePath,
    host: '127.0.0.1',
    port: 0,
    pollMs: 50,
    keptAnswerMs: 2500,
  })
  await store.beginRun(run('r6', '2026-11-21T11:00:00Z', 'bo', []))
  // It answers, then (stalled) takes longer than a look waits (1 s): `late` counts the looks it missed.
  let stalled = false
  let late = 0
  const served = await servedRun('r6', '2026-11-21T11:00:00Z', async (_request, response) => {
    if (stalled) {
      await new Promise((resolve) => setTimeout(resolve, 1200))
      late++
    }
    sendJson(response, 200, { running: [{ step: 'busy_probe', since: new Date().toISOString() }] })
  })
  const runningNow = async () => {
    const body = (await (await fetch(`${watching.url}/api/runs/r6`)).json()) as { running: { step: string }[] }
    return body.running.map((item) => item.step)
  }
  try {
    await expect.poll(runningNow, { timeout: 5000 }).toEqual(['busy_probe'])
    stalled = true
    const since = Date.now()
    // A look that timed out still shows the step running...
    await expect.poll(() => late, { timeout: 5000 }).toBeGreaterThanOrEqual(1)
    if (Date.now() - since < 2000) expect(await runningNow()).toEqual(['busy_probe'])
    // ...until the kept answer is older than keptAnswerMs: a frozen runner shows what the store says.
    await expect.poll(runningNow, { timeout: 8000 }).toEqual([])
  } finally {
    await served.close()
    await watching.close()
    await store.finishRun('r6', 'passed', '2026-11-21T11:00:01Z')
  }
})

test('a selection run (-t) is marked in the run list and left out of the trend of the whole recipe', async () => {
  const record = async (runId: string, minute: number, selection?: { selected: string[]; setup: string[] }) => {
    const startTime = `2026-11-25T10:${String(minute).padStart(2, '0')}:00Z`
    await store.beginRun({
      ...run(runId, startTime, 'ana', []),
      testId: 'DASH-S',
      metadata: selection ? { selection } : {},
    })
    await store.recordStep(runId, step('boot', 1, selection ? 'setup' : 'passed'), [], [])
    await store.recordStep(runId, step('b', 2, 'passed'), [], [])
    await store.finishRun(runId, 'passed', startTime.replace(':00Z', ':02Z'))
  }
  const selection = { selected: ['b'], setup: ['boot'] }
  await record('s1', 1)
  await record('s2', 2, selection)
  await record('s3', 3)
  const runs = (await get('/api/runs?testId=DASH-S')).body.runs as Record<string, unknown>[]
  expect(runs.map((item) => [item.runId, item.selection, item.durationMs])).toEqual([
    ['s3', undefined, 2000],
    ['s2', selection, 2000],
    ['s1', undefined, 2000],
  ])
  const trend = (await get('/api/trend/DASH-S')).body
  expect(trend).toMatchObject({ selection: null })
  expect((trend.runs as { runId: string }[]).map((item) => item.runId)).toEqual(['s1', 's3'])
})

test('"running now" shows a step waiting for a lab resource: what it waits for, since when, and who holds it (run, step, host, pid)', async () => {
  await store.beginRun(run('r-wait', '2026-11-30T11:00:00Z', 'ana', []))
  const locks = store.locks
  expect(
    await locks.tryAcquire({ resources: ['dut:x'], runId: 'bench-7', testId: 'BENCH-7', step: 'flash' }),
  ).toMatchObject({ acquired: true })
  const asked = await locks.tryAcquire({ resources: ['dut:x'], runId: 'r-wait', testId: 'DASH-U', step: 'measure' })
  expect(asked.acquired).toBe(false)
  try {
    const runningOf = async (path: string) => {
      const { body } = await get(path)
      const runs = (body.runs as { runId: string; running: unknown[] }[] | undefined) ?? [body]
      return (runs.find((each) => (each as { runId?: string }).runId === 'r-wait') ?? body).running as unknown[]
    }
    const expected = {
      step: 'measure',
      since: (asked as { waitingSince: string }).waitingSince,
      waiting: {
        resources: ['dut:x'],
        heldBy: [
          {
            resource: 'dut:x',
            runId: 'bench-7',
            testId: 'BENCH-7',
            step: 'flash',
            host: hostname(),
            pid: process.pid,
            since: expect.any(String),
          },
        ],
      },
    }
    await expect.poll(() => runningOf('/api/runs'), { timeout: 5000 }).toEqual([expected])
    expect((await get('/api/runs/r-wait')).body.running as unknown[]).toEqual([expected])
    // Once it holds the resource it no longer waits.
    await locks.release('bench-7')
    expect(
      (await locks.tryAcquire({ resources: ['dut:x'], runId: 'r-wait', testId: 'DASH-U', step: 'measure' })).acquired,
    ).toBe(true)
    await expect.poll(() => runningOf('/api/runs'), { timeout: 5000 }).toEqual([])
  } finally {
    await locks.release('bench-7')
    await locks.release('r-wait')
    await store.finishRun('r-wait', 'passed')
  }
})
