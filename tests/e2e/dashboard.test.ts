import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, DEFAULT_CONFIG, REPO, type RunResult, type TestProject } from './project.ts'

// A person's view of the dashboard, in a real headless Chromium (Debian's chromium, installed
// by .ci/run; driven by playwright-core). Elsewhere it may be absent: then this file is skipped.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = spawnSync(CHROMIUM, ['--version'], { stdio: 'ignore' }).status === 0
/** One screenshot per main page, kept with the CI output. */
const SHOTS = join(REPO, 'reports', 'dashboard')

const RECIPE = `test_meta:
  test_id: DASH-01
  description: a recipe whose middle step waits for a key set from outside
  tester: ana
  tags: [lab, dashboard]
steps:
  - name: measure
    type: ts
    module: scriptlets/measure.ts
  - name: hold
    type: shell
    cmd: scriptlets/shell/hold_until.sh
    args: { KEY: lab.release_v1 }
    timeout: 90
  - name: finish
    type: ts
    module: scriptlets/measure.ts
`
const MEASURE = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'measure',
  run(ctx, _params, { step, progress }) {
    const runs = (ctx.get<number>('lab.count_v1') ?? 0) + 1
    ctx.set('lab.count_v1', runs, { who: step })
    // What the lab measured this run (the test gives each run its own).
    const latency = Number(process.env.LAB_LATENCY_MS ?? 10)
    progress?.(100, 'measured')
    return { status: 'ok', outputs: ['lab.count_v1'], metrics: { latency_ms: latency + runs, loss_pct: 0.5 } }
  },
})
`

let project: TestProject
let dashboard: ChildProcess | undefined
let dashboardUrl = ''
let dashboardOutput = ''

function startDashboard(root: string): Promise<string> {
  dashboard = spawn(process.execPath, [join(REPO, 'bin/recipes.js'), 'dashboard', '--port', '0'], {
    cwd: root,
    env: {
      ...process.env,
      VITEST: undefined,
      VITEST_WORKER_ID: undefined,
      VITEST_POOL_ID: undefined,
      NODE_OPTIONS: undefined,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new Promise((resolve, reject) => {
    let output = ''
    dashboard!.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      dashboardOutput = output
      const url = /recipes dashboard: (http:\/\/\S+?)\/ /.exec(output)?.[1]
      if (url) resolve(url)
    })
    dashboard!.stderr!.on('data', (chunk: Buffer) => (output += chunk))
    dashboard!.on('exit', (code) => reject(new Error(`the dashboard exited (${code}): ${output}`)))
  })
}

/**
 * Releases the held step of the run going on now (the newest running recipe). Gives up when
 * `run` ends first or after `limitMs`, saying what the run and the last `recipes ctx` printed.
 */
async function release(run: Promise<RunResult>, limitMs = 60_000): Promise<void> {
  let ended: RunResult | undefined
  void run.then((result) => (ended = result))
  const until = Date.now() + limitMs
  let last = ''
  for (;;) {
    const result = await project.recipes(['ctx', 'set', 'lab.release_v1', 'true', '--who', 'lab-console'])
    if (result.code === 0) return
    last = `exit ${result.code}: ${result.output.trim()}`
    if (ended || Date.now() > until)
      throw new Error(
        `could not release the held step (${ended ? `the run ended first, exit ${ended.code}` : `${limitMs} ms`}); ` +
          `the last recipes ctx set: ${last}\nthe run: ${ended?.output ?? '(still running)'}`,
      )
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** `promise`, or an error naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

beforeAll(async () => {
  if (!hasChromium) return
  // The run page shows the charts, which are drawn with the Office documents.
  project = createProject({ 'recipes/dash.yaml': RECIPE, 'scriptlets/measure.ts': MEASURE }, { config: DEFAULT_CONFIG })
  project.copyFixture('shell/hold_until.sh', 'scriptlets/shell/hold_until.sh')
  // A first run, so the trend has two points and the page has a finished run to show.
  const first = project.vitest(['run', 'recipes/'], { env: { LAB_LATENCY_MS: '20' } })
  await release(first)
  const done = await within(first, 30_000, () => 'the first run did not end within 30 s of its release')
  expect(done.code, done.output).toBe(0)
  dashboardUrl = await within(
    startDashboard(project.root),
    30_000,
    () => `the dashboard printed no address in 30 s: ${dashboardOutput}`,
  )
  mkdirSync(SHOTS, { recursive: true })
}, 120_000)

afterAll(() => {
  dashboard?.kill('SIGTERM')
  project?.remove()
})

test.skipIf(!hasChromium && !process.env.CI)(
  'a running recipe shows live: a step turns from running to passed without a reload; key history, metrics, charts and trend render',
  async () => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      const second = project.vitest(['run', 'recipes/'], { env: { LAB_LATENCY_MS: '35' } })
      await page.goto(`${dashboardUrl}/#/`)
      // The list shows the run going on now, filtered by tester and tag too.
      const running = page.locator('tr.run[data-status="running"]')
      await running.waitFor({ timeout: 30_000 })
      await page.screenshot({ path: join(SHOTS, 'runs.png'), fullPage: true })
      await page.goto(`${dashboardUrl}/#/?tester=ana&tag=dashboard`)
      await page.locator('tr.run').nth(1).waitFor()
      await page.goto(`${dashboardUrl}/#/?tester=nobody`)
      await page.getByText('No run matches.').waitFor()

      await page.goto(`${dashboardUrl}/#/`)
      await running.click()
      const hold = page.locator('#steps tr.step[data-step="hold"]')
      await expect.poll(() => hold.getAttribute('data-status'), { timeout: 30_000 }).toBe('running')
      // The step's progress line shows with it.
      await expect.poll(() => hold.locator('td.progress').textContent()).toBe('50% waiting for lab.release_v1')
      // The run's step durations, as the documents chart them, drawn while it runs: the running step among them.
      const live = page.locator('.run-charts figure[data-chart="step_durations"] img')
      await live.waitFor({ state: 'attached', timeout: 10_000 })
      // The charts are redrawn on their own refresh, which may come after the table's: the one drawn with the step running.
      const liveSvg = () => live.evaluate(async (img) => (await fetch((img as unknown as { src: string }).src)).text())
      await expect.poll(liveSvg, { timeout: 10_000 }).toMatch(/<svg[\s\S]*hold[\s\S]*running/)
      const reloads: string[] = []
      page.on('framenavigated', (frame) => reloads.push(frame.url()))
      const released = Date.now()
      await release(second)
      await expect.poll(() => hold.getAttribute('data-status'), { timeout: 10_000 }).toBe('passed')
      const latencyMs = Date.now() - released
      expect(reloads).toEqual([])
      // The step's change showed without a reload, soon after it happened.
      expect(latencyMs).toBeLessThan(10_000)
      await expect
        .poll(() => page.locator('h2 .status').getAttribute('data-status'), { timeout: 20_000 })
        .toBe('passed')
      const ended = await second
      expect(ended.code).toBe(0)
      // ...and in the terminal, for the shell step and for the TypeScript one (tools.progress).
      expect(ended.output).toMatch(/vitest-recipes: hold: 50% waiting for lab\.release_v1/)
      expect(ended.output).toMatch(/vitest-recipes: measure: 100% measured/)

      // A key's history: who wrote it, when, before → after; the outside write has no step.
      await page.locator('#context tr.key[data-key="lab.release_v1"]').click()
      const history = page.locator('#key-history table.history tbody tr')
      await history.first().waitFor()
      expect(await history.first().textContent()).toMatch(/lab-console\s*\(outside any step\)/)
      // A step's detail: params, envelope and its log.
      await page.locator('#steps tr.step[data-step="hold"]').click()
      await expect.poll(() => page.locator('#step-detail pre.log').textContent()).toMatch(/passed/)
      // The numeric metrics of the steps, listed (their trends are charts).
      expect(await page.locator('#metrics tr[data-metric]').count()).toBeGreaterThanOrEqual(4)
      // The documents' charts, served as SVG, drawn in the page (the run has ended).
      const durations = page.locator('.run-charts figure[data-chart="step_durations"] img')
      await durations.scrollIntoViewIfNeeded()
      await expect
        .poll(() => durations.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), {
          timeout: 10_000,
        })
        .toBeGreaterThan(300)
      expect(await page.locator('.run-charts figure').count()).toBeGreaterThanOrEqual(3)
      await page.screenshot({ path: join(SHOTS, 'run.png'), fullPage: true })

      // The trend: the steps' durations over the two runs and each metric across them, charted as charts/ defines them.
      await page.goto(`${dashboardUrl}/#/trend/DASH-01`)
      const trendImage = (name: string) => page.locator(`.run-charts figure[data-chart="${name}"] img`)
      const durationsOverRuns = trendImage('step_duration_trend')
      await durationsOverRuns.scrollIntoViewIfNeeded()
      await expect
        .poll(() => durationsOverRuns.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), {
          timeout: 10_000,
        })
        .toBeGreaterThan(300)
      const svgOf = (name: string) =>
        trendImage(name).evaluate(async (img) => (await fetch((img as unknown as { src: string }).src)).text())
      expect(await svgOf('step_duration_trend')).toMatch(/2 runs of DASH-01/)
      // The second run (its latency measured from 35) is the marked one.
      expect(await svgOf('metric_measure.latency_ms')).toMatch(/2 runs of DASH-01; this run: 3\d/)
      expect(await page.locator('svg').count()).toBe(0)
      await page.screenshot({ path: join(SHOTS, 'trend.png'), fullPage: true })
    } finally {
      await browser.close()
    }
  },
  120_000,
)
