import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, DEFAULT_CONFIG, REPO, type TestProject } from './project.ts'

// report.html, as a person opens it: one run of a small project with the default documents,
// its report.html opened from disk (file://, as a CI artifact is) in a real headless Chromium
// (Debian's chromium, installed by .ci/run; driven by playwright-core). Without Chromium the
// browser test is skipped outside CI.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = spawnSync(CHROMIUM, ['--version'], { stdio: 'ignore' }).status === 0
/** A screenshot of the page, kept with the CI output. */
const SHOTS = join(REPO, 'reports', 'report-html')

const PASSWORD = 'Vq7-lab-switch-passphrase-93'
/** A ctx value and log line that would end the page's script, were the data not escaped. */
const HOSTILE = '</script><script>document.title = "broken"</script><!-- <script>'

const MEASURE = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'measure',
  run(ctx, _params, { step, log }) {
    log('logging in with', process.env.SWITCH_PASSWORD)
    console.log(${JSON.stringify(`printed ${HOSTILE}`)})
    ctx.set('lab.note_v1', 'first note', { who: step })
    ctx.set('lab.note_v1', ${JSON.stringify(HOSTILE)}, { who: step })
    return { metrics: { throughput_gbps: 9.41, loss_pct: 0.02 } }
  },
})
`
const RECIPE = `test_meta: { test_id: HTML-1, tester: dana, description: A run a person opens from disk }
secrets: [SWITCH_PASSWORD]
steps:
  - { idx: 1, name: measure, type: ts, module: scriptlets/measure.ts }
  - { idx: 2, name: check_firmware, type: ts, module: scriptlets/set_key.ts, args: { key: dut.fw_v1, fail: "firmware 1.2 is below 1.4" }, retry: 1 }
  - { idx: 3, name: archive, type: ts, module: scriptlets/set_key.ts, args: { key: dut.archive_v1 } }
`

let project: TestProject
let dir = ''
let output = ''

beforeAll(async () => {
  project = createProject(
    { 'recipes/html.yaml': RECIPE, ...fixtureScriptlets(), 'scriptlets/measure.ts': MEASURE },
    { config: DEFAULT_CONFIG },
  )
  const result = await project.vitest(['run', 'recipes/'], { env: { SWITCH_PASSWORD: PASSWORD } })
  output = result.output
  expect(result.code, output).toBe(1)
  const runs = readdirSync(join(project.root, 'reports')).filter((name) => /^\d{8}T/.test(name))
  expect(runs).toHaveLength(1)
  dir = join(project.root, 'reports', runs[0]!)
}, 120_000)
afterAll(() => project?.remove())

test('a run writes report.html beside its other documents, by default; recipes report --format html writes it again', async () => {
  expect(readdirSync(dir).sort()).toEqual(['charts', 'report.docx', 'report.html', 'report.md', 'report.xlsx'])
  expect(output).toMatch(/reports of 1 run \(xlsx, docx, md, html\)/)
  const html = readFileSync(join(dir, 'report.html'), 'utf8')
  // Masked as the stored log is.
  expect(html).not.toContain(PASSWORD)
  const again = await project.recipes(['report', '--format', 'html', '--out', 'again'])
  expect(again.code, again.output).toBe(0)
  expect(again.output).toMatch(/again\/\S+\/report\.html {2}\(\d+ ms\)/)
  expect(existsSync(join(project.root, 'again'))).toBe(true)
  const wrong = await project.recipes(['report', '--format', 'htm'])
  expect(wrong.code, wrong.output).toBe(3)
  expect(wrong.output).toContain('unknown report format "htm"; did you mean "html"?')
}, 60_000)

test.skipIf(!hasChromium && !process.env.CI)(
  'report.html opened from disk shows the run page: summary, a failed step with its reason and attempts, a chart, a key history, a step log; no request, no console error',
  async () => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      const file = pathToFileURL(join(dir, 'report.html')).href
      const requests: string[] = []
      const problems: string[] = []
      page.on('request', (request) => requests.push(request.url()))
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text())
      })
      page.on('pageerror', (error) => problems.push(error.message))
      await page.goto(file)

      // The summary: the run's status, test id, and the analysis.
      await page.locator('h2 .status[data-status="failed"]').waitFor({ timeout: 10_000 })
      expect(await page.locator('main > p').first().textContent()).toContain('HTML-1')
      expect(await page.locator('.panel pre').first().textContent()).toContain('check_firmware failed')
      // The step table with the failed step's reason and attempts; its detail is open.
      const failed = page.locator('#steps tr.step[data-step="check_firmware"]')
      expect(await failed.getAttribute('data-status')).toBe('failed')
      expect(await failed.locator('td').nth(4).textContent()).toBe('2')
      expect(await failed.locator('td').nth(5).textContent()).toContain('firmware 1.2 is below 1.4')
      const detail = page.locator('#step-detail .panel[data-step="check_firmware"]')
      expect(await detail.textContent()).toMatch(/Attempts: 1: failed \(.*firmware 1\.2 is below 1\.4\).*; 2: failed/)
      // A chart, drawn (an image with a width), from inside the file.
      const durations = page.locator('.run-charts figure[data-chart="step_durations"] img')
      await durations.scrollIntoViewIfNeeded()
      await expect
        .poll(() => durations.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth))
        .toBeGreaterThan(300)
      expect(await page.locator('.run-charts figure').count()).toBeGreaterThanOrEqual(3)
      // A key's history, the hostile value shown as text.
      await page.locator('#context tr.key[data-key="lab.note_v1"]').click()
      const history = page.locator('#key-history table.history tbody tr')
      await history.nth(1).waitFor()
      expect(await history.nth(1).textContent()).toContain('</script><script>')
      // A step's log, masked.
      await page.locator('#steps tr.step[data-step="measure"]').click()
      const log = await page.locator('#step-detail pre.log').textContent()
      expect(log).toContain('logging in with ***')
      expect(log).toContain(`printed ${HOSTILE}`)
      expect(log).not.toContain(PASSWORD)
      expect(await page.title()).toBe('HTML-1 — A run a person opens from disk')
      mkdirSync(SHOTS, { recursive: true })
      await page.screenshot({ path: join(SHOTS, 'report.png'), fullPage: true })

      expect(requests.filter((url) => url !== file && !url.startsWith('data:'))).toEqual([])
      expect(problems).toEqual([])
    } finally {
      await browser.close()
    }
  },
  60_000,
)
