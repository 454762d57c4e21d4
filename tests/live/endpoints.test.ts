import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { liveEndpoints, liveFolderOf, publishEndpoint } from '../../plugin/live/endpoints.ts'

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-endpoints-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const endpoint = (runId: string, pid: number, startedAt: string) => ({
  runId,
  recipe: 'recipes/r.yaml',
  testId: 'R',
  url: 'http://127.0.0.1:1',
  token: `token-of-${runId}`,
  pid,
  host: hostname(),
  startedAt,
})

test('running recipes are listed newest first; one whose process was killed is dropped and its file removed', () => {
  const store = join(dir, 'results.sqlite')
  // A process that has ended: what a SIGKILLed run leaves behind.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
  const older = publishEndpoint(store, endpoint('r-old', process.pid, '2026-11-30T10:00:00Z'))
  publishEndpoint(store, endpoint('r-new', process.pid, '2026-11-30T11:00:00Z'))
  const killed = publishEndpoint(store, endpoint('r-killed', Number(dead), '2026-11-30T12:00:00Z'))
  expect(statSync(older).mode & 0o777).toBe(0o600)
  expect(statSync(liveFolderOf(store)).mode & 0o777).toBe(0o700)
  expect(liveEndpoints(store).map((found) => found.runId)).toEqual(['r-new', 'r-old'])
  expect(existsSync(killed)).toBe(false)
  expect(liveEndpoints(join(dir, 'no-such.sqlite'))).toEqual([])
})
