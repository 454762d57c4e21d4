import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, resolve, sep } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, REPO, type TestProject } from './project.ts'

// The HTML reporter of @vitest/ui (issue 29), as a person opens it: one real
// `vitest run --reporter=html --reporter=default` of a small project whose step fails, its report
// served over HTTP (the page fetches its data, which a browser refuses from file://) and opened
// in a real headless Chromium (Debian's chromium, installed by .ci/run; driven by
// playwright-core). Without Chromium the test is skipped outside CI.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = spawnSync(CHROMIUM, ['--version'], { stdio: 'ignore' }).status === 0
/** A screenshot of the failed step's page, kept with the CI output. */
const SHOTS = join(REPO, 'reports', 'vitest-ui')

/** A line only the step's log holds: the failure message quotes stderr's last lines only. */
const MARKER = 'marker-only-in-the-log-5c1e'
const BREAKS = `#!/bin/sh
echo "${MARKER}" >&2
for i in $(seq 1 15); do echo "still trying ($i)" >&2; done
exit 1
`
const RECIPE = `test_meta:
  test_id: UI-1
steps:
  - name: warm_up
    type: exec
    cmd: [echo, '{"status":"ok"}']
  - name: breaks
    type: shell
    cmd: scriptlets/shell/breaks.sh
`

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
}

/** A static file server for `root` on a free loopback port; resolves to its base URL. */
function serve(root: string) {
  const server = createServer((request, response) => {
    const path = resolve(root, `.${decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)}`)
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'index.html') : path
    if (!(file === root || file.startsWith(root + sep)) || !existsSync(file)) {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
    response.end(readFileSync(file))
  })
  return new Promise<{ url: string; close: () => void }>((resolveServer) =>
    server.listen(0, '127.0.0.1', () =>
      resolveServer({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
        close: () => server.close(),
      }),
    ),
  )
}

let project: TestProject
beforeAll(() => {
  project = createProject({ 'recipes/ui.yaml': RECIPE, 'scriptlets/shell/breaks.sh': BREAKS })
  chmodSync(join(project.root, 'scriptlets/shell/breaks.sh'), 0o755)
})
afterAll(() => project?.remove())

test.skipIf(!hasChromium && !process.env.CI)(
  "the HTML reporter of @vitest/ui shows a failed step's reason and, from its attachment, its log",
  async () => {
    const result = await project.vitest(['run', '--reporter=html', '--reporter=default'])
    expect(result.code, result.output).toBe(1)
    expect(result.output).toContain('Report is generated')
    // Where the reporter writes by default: html/ on Vitest 4, .vitest/ on Vitest 5.
    const reportDir = ['html', '.vitest']
      .map((dir) => join(project.root, dir))
      .find((dir) => existsSync(join(dir, 'index.html')))
    expect(reportDir, 'no index.html in html/ or .vitest/').toBeDefined()

    const server = await serve(reportDir!)
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      const problems: string[] = []
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text())
      })
      page.on('pageerror', (error) => problems.push(error.message))
      // The page links a web font from Google; this machine has no network, so that one
      // request gets an empty stylesheet. Anything else from outside would be a finding.
      const outside: string[] = []
      await page.route(
        (url) => !url.href.startsWith(server.url),
        (route) => {
          outside.push(route.request().url())
          return route.fulfill({ status: 200, contentType: 'text/css', body: '' })
        },
      )
      // The page fetches the run's data after it loads: wait until nothing is in flight.
      await page.goto(server.url, { waitUntil: 'networkidle' })
      mkdirSync(SHOTS, { recursive: true })

      // The failed step's test, opened from the explorer.
      const breaks = page.getByTestId('explorer-item').filter({ has: page.getByText('breaks', { exact: true }) })
      const notes = page.getByRole('note')
      // The reason, an annotation of its own.
      const reason = notes.filter({ hasText: 'failed: scriptlets/shell/breaks.sh exited with code 1' })
      // A click the explorer takes while it is still drawing its tree can be lost (seen once on
      // a loaded CI machine: the item was clicked, no test opened). Click again then; a page
      // that opens the test without the annotation fails all three times.
      for (let attempt = 1; ; attempt++) {
        await breaks.click({ timeout: 15_000 })
        try {
          await reason.waitFor({ timeout: 10_000 })
          break
        } catch (error) {
          await page.screenshot({ path: join(SHOTS, `not-opened-${attempt}.png`) })
          if (attempt === 3) throw error
        }
      }
      expect(await reason.textContent()).toContain('recipes/ui.yaml:7:5')
      // The log: not quoted in the page itself, but attached to its annotation.
      const log = notes.filter({ hasText: 'log: 2_breaks.log' })
      expect(await log.textContent()).toContain('recipes/ui.yaml:7:5')
      expect(await page.locator('body').textContent()).not.toContain(MARKER)
      const link = log.getByRole('link', { name: 'Download' })
      expect(await link.count(), 'the log annotation has no attachment to open').toBe(1)
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
      expect(download.url().startsWith(server.url), download.url()).toBe(true)
      const text = readFileSync((await download.path())!, 'utf8')
      expect(text).toContain('step breaks (shell scriptlets/shell/breaks.sh) starts')
      expect(text).toContain(MARKER)
      expect(text).toContain('failed: scriptlets/shell/breaks.sh exited with code 1')
      await page.screenshot({ path: join(SHOTS, 'failed-step.png') })

      expect(
        outside.every((url) => /^https:\/\/fonts\.(googleapis|gstatic)\.com\//.test(url)),
        outside.join('\n'),
      ).toBe(true)
      expect(problems).toEqual([])
    } finally {
      await browser.close()
      server.close()
    }
  },
  90_000,
)
