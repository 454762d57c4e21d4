import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { childEnv, createProject, REPO, type TestProject } from './project.ts'

// Who may read the dashboard, and what: a log only from inside Logs/ (not through a symlink
// that leads elsewhere), only under its own names (a page reaching it under another name is
// DNS rebinding), and only with its token when it listens beyond loopback (or when given one).

const FAILING = `#!/bin/sh
# NAME: fails.sh
echo "the link is down" >&2
exit 1
`

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = spawnSync(CHROMIUM, ['--version'], { stdio: 'ignore' }).status === 0

let project: TestProject
let outside: string
let runId = ''
const dashboards: ChildProcess[] = []

/** Starts `recipes dashboard` with `args`; resolves with what it printed on its first line. */
function startDashboard(args: string[]): Promise<{ url: URL; printed: string }> {
  const child = spawn(process.execPath, [join(REPO, 'bin/recipes.js'), 'dashboard', '--port', '0', ...args], {
    cwd: project.root,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  dashboards.push(child)
  return new Promise((resolve, reject) => {
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      const printed = /recipes dashboard: (http:\/\/\S+)/.exec(output)?.[1]
      if (printed) resolve({ url: new URL(printed), printed })
    })
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
    child.on('exit', (code) => reject(new Error(`the dashboard exited (${code}): ${output}`)))
  })
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A GET to the dashboard at 127.0.0.1 with the given headers (Host included: fetch cannot set it). */
function get(port: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sent = request({ host: '127.0.0.1', port: Number(port), path, headers }, (response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => {
        body += chunk
        // An event stream never ends: its first event is enough.
        if (response.headers['content-type'] === 'text/event-stream') response.destroy()
      })
      response.on('close', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
    })
    sent.on('error', reject)
    sent.end()
  })
}

beforeAll(async () => {
  outside = mkdtempSync(join(tmpdir(), 'vitest-recipes-outside-'))
  writeFileSync(join(outside, 'private.txt'), 'private: not a log\n')
  project = createProject({
    'scriptlets/shell/fails.sh': FAILING,
    'recipes/access.yaml': `test_meta: { test_id: ACCESS-01 }
steps:
  - { name: check_link, type: shell, cmd: scriptlets/shell/fails.sh }
`,
  })
  chmodSync(join(project.root, 'scriptlets/shell/fails.sh'), 0o755)
  const run = await project.vitest(['run'])
  expect(run.code, run.output).toBe(1)
  runId = readdirSync(join(project.root, 'Logs')).find((name) => !name.startsWith('.'))!
})
afterEach(() => {
  for (const child of dashboards.splice(0)) child.kill('SIGTERM')
})
afterAll(() => {
  project?.remove()
  rmSync(outside, { recursive: true, force: true })
})

test('a step log is served from Logs/; one replaced by a symlink to a file elsewhere is refused', async () => {
  const { url } = await startDashboard([])
  const log = `/api/runs/${encodeURIComponent(runId)}/log?step=check_link`
  const served = await get(url.port, log)
  expect(served.status).toBe(200)
  expect(served.body).toContain('the link is down')

  const [file] = readdirSync(join(project.root, 'Logs', runId))
  unlinkSync(join(project.root, 'Logs', runId, file!))
  symlinkSync(join(outside, 'private.txt'), join(project.root, 'Logs', runId, file!))
  const refused = await get(url.port, log)
  expect(refused.body).not.toContain('private: not a log')
  expect(refused.status).toBe(403)
})

describe('the Host header', () => {
  test('loopback names at its port are answered; any other name gets 421 (DNS rebinding)', async () => {
    const { url } = await startDashboard([])
    for (const host of [`127.0.0.1:${url.port}`, `localhost:${url.port}`, `[::1]:${url.port}`])
      expect((await get(url.port, '/api/runs', { host })).status, host).toBe(200)
    const rebound = await get(url.port, '/api/runs', { host: `attacker.example:${url.port}` })
    expect(rebound.status).toBe(421)
    expect(rebound.body).not.toContain('ACCESS-01')
    expect((await get(url.port, '/api/runs', { host: 'localhost:1' })).status).toBe(421)
  })
})

describe('the token', () => {
  test('listening beyond loopback, it makes one up, prints it with the URL and requires it', async () => {
    const { url } = await startDashboard(['--host', '0.0.0.0'])
    const token = url.searchParams.get('token')
    expect(token).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    const host = { host: `127.0.0.1:${url.port}` }
    const refused = await get(url.port, '/api/runs', host)
    expect(refused.status).toBe(401)
    expect(refused.body).not.toContain('ACCESS-01')
    expect((await get(url.port, '/', host)).status).toBe(401)

    // The first load carries it in the URL: the answer sets a cookie and sends the page on without it.
    const first = await get(url.port, `/?token=${token}`, host)
    expect(first.status).toBe(303)
    expect(first.headers.location).toBe('/')
    const cookie = String(first.headers['set-cookie']).split(';')[0]!
    expect(String(first.headers['set-cookie'])).toMatch(/HttpOnly/i)
    expect(String(first.headers['set-cookie'])).toMatch(/SameSite=Strict/i)
    // The page, its fetches and its event stream carry the cookie.
    expect((await get(url.port, '/', { ...host, cookie })).status).toBe(200)
    const runs = await get(url.port, '/api/runs', { ...host, cookie })
    expect(runs.status).toBe(200)
    expect(runs.body).toContain('ACCESS-01')
    const events = await get(url.port, '/api/events', { ...host, cookie })
    expect(events.status).toBe(200)
    expect(events.body).toMatch(/^data: /)
    // A script sends it as a bearer token.
    expect((await get(url.port, '/api/runs', { ...host, authorization: `Bearer ${token}` })).status).toBe(200)
    expect((await get(url.port, '/api/runs', { ...host, authorization: 'Bearer wrong' })).status).toBe(401)
  })

  test('--token sets it, and then it is required on loopback too', async () => {
    const { url, printed } = await startDashboard(['--token', 'lab-3-dashboard-token'])
    expect(printed).toContain('?token=lab-3-dashboard-token')
    expect((await get(url.port, '/api/runs')).status).toBe(401)
    expect((await get(url.port, '/api/runs?token=lab-3-dashboard-token')).status).toBe(200)
  })
})

test.skipIf(!hasChromium)(
  'in a browser, the printed address opens the page; its fetches and event stream work',
  async () => {
    const { printed } = await startDashboard(['--token', 'lab-3-dashboard-token'])
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage()
      await page.goto(printed)
      // The token left the address bar; the cookie carries it.
      expect(new URL(page.url()).search).toBe('')
      await page.locator('tr.run').first().waitFor({ timeout: 15_000 })
      await page.locator('#live.on').waitFor({ timeout: 15_000 })
    } finally {
      await browser.close()
    }
  },
)
