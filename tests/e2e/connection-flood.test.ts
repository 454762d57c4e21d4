import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, REPO, runCommand, type TestProject } from './project.ts'

// A local client can connect to a running recipe's ctx port without its token. Thousands of
// idle connections must not exhaust the worker's file descriptors: the server takes a bounded
// number, drops idle ones, and the next step (which spawns a program, and whose resources are
// sampled from /proc) still passes. The run gets a low descriptor limit (1024) so exhausting
// it takes a second, not 24,000 sockets.

const LIMIT = 1024
const FLOOD = 1500
const LIVE = 'reports/results.sqlite.live'

const RECIPE = `test_meta: { test_id: FLOOD-01 }
steps:
  - name: wait_for_flood
    type: exec
    cmd: [sh, -c, 'while [ ! -f Data/go ]; do sleep 0.05; done; echo "{\\"status\\":\\"ok\\"}"']
    timeout: 60
  - name: after_flood
    type: exec
    cmd: [sh, -c, 'sleep 0.2; echo "{\\"status\\":\\"ok\\"}"']
`

let project: TestProject
const sockets: Socket[] = []

beforeAll(() => {
  project = createProject({ 'recipes/flood.yaml': RECIPE, 'Data/.keep': '' })
})
afterAll(() => {
  for (const socket of sockets) socket.destroy()
  project?.remove()
})

/** The ctx server's URL once the run published it. */
async function publishedUrl(limitMs = 30_000): Promise<URL> {
  const folder = join(project.root, LIVE)
  const deadline = Date.now() + limitMs
  while (Date.now() < deadline) {
    const file = existsSync(folder) ? readdirSync(folder).find((name) => name.endsWith('.json')) : undefined
    if (file) return new URL(JSON.parse(readFileSync(join(folder, file), 'utf8')).url)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('the run never published its ctx server')
}

/** Opens `count` idle connections; resolves when each connected, failed or was closed (or after `limitMs`). */
function flood(url: URL, count: number, limitMs = 5000): Promise<{ connected: number }> {
  return new Promise((resolve) => {
    let settled = 0
    let connected = 0
    const done = () => resolve({ connected })
    const timer = setTimeout(done, limitMs)
    for (let i = 0; i < count; i++) {
      const socket = connect(Number(url.port), url.hostname)
      sockets.push(socket)
      const settle = () => {
        if (++settled === count) {
          clearTimeout(timer)
          done()
        }
      }
      socket.once('connect', () => {
        connected++
        settle()
      })
      socket.once('error', settle)
    }
  })
}

test(`${FLOOD} idle connections to the ctx port fail no step of a run limited to ${LIMIT} descriptors`, async () => {
  const vitest = join(REPO, 'node_modules/vitest/vitest.mjs')
  const running = runCommand('prlimit', [`--nofile=${LIMIT}`, process.execPath, vitest, 'run'], project.root)
  const url = await publishedUrl()
  const { connected } = await flood(url, FLOOD)
  expect(connected).toBeGreaterThan(0)
  writeFileSync(join(project.root, 'Data/go'), '')
  const result = await running
  expect(result.output).not.toMatch(/EMFILE/)
  expect(result.code, result.output).toBe(0)
  expect(result.output).toMatch(/2 passed/)
})
