import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { RunStore } from '../../plugin/store/run-store.ts'
import { createProject, type TestProject } from './project.ts'

// `recipes locks` reads the holds and waits of the project's run store. The test holds locks
// for fake runs through the store API, as this process (alive, and renewing the leases every
// second while the CLI runs, as a holding run does), then reads them with the real CLI.

let project: TestProject
let store: RunStore
let heartbeat: NodeJS.Timeout

beforeAll(async () => {
  project = createProject({})
  store = await RunStore.openIn(project.root, 'reports/results.sqlite')
  heartbeat = setInterval(() => void store.locks.heartbeat(), 1000)
})
afterAll(async () => {
  clearInterval(heartbeat)
  store?.close()
  project?.remove()
})

test('recipes locks lists holders and waiters as a table and as JSON, then says when nothing is held', async () => {
  const locks = store.locks
  expect(
    await locks.tryAcquire({
      resources: ['dut:rack3-sw1', 'scope:tek-1'],
      runId: 'run-a',
      testId: 'LAB-1',
      maxHoldMs: 3_600_000,
    }),
  ).toMatchObject({ acquired: true })
  expect(
    await locks.tryAcquire({ resources: ['psu:bench-2'], runId: 'run-a', testId: 'LAB-1', step: 'measure_power' }),
  ).toMatchObject({ acquired: true })
  expect(
    (await locks.tryAcquire({ resources: ['dut:rack3-sw1'], runId: 'run-b', testId: 'LAB-2', step: 'flash' })).acquired,
  ).toBe(false)
  // A hold of a process of this host that is gone (a SIGKILLed run) is not shown.
  const gone = spawnSync(process.execPath, ['-e', '']).pid!
  const raw = new Database(join(project.root, 'reports/results.sqlite'))
  raw
    .prepare(
      `INSERT INTO resource_locks (resource, run_id, test_id, step, host, pid, acquired_at, heartbeat_at)
       VALUES ('chamber:t1', 'run-dead', 'LAB-9', NULL, ?, ?, ?, ?)`,
    )
    .run(hostname(), gone, new Date().toISOString(), new Date().toISOString())
  raw.close()

  const [text, json, one, help, extra] = await Promise.all([
    project.recipes(['locks']),
    project.recipes(['locks', '--json']),
    project.recipes(['locks', '--resource', 'psu:bench-2']),
    project.recipes(['locks', '--help']),
    project.recipes(['locks', 'dut:rack3-sw1']),
  ])

  expect(text.code, text.output).toBe(0)
  const lines = text.stdout.trimEnd().split('\n')
  expect(lines[0]).toBe('held (3):')
  const heading = lines[1]!
  expect(heading.split(/ {2,}/).map((cell) => cell.trim())).toEqual([
    '',
    'RESOURCE',
    'GEN',
    'RUN',
    'TEST',
    'STEP',
    'HOST',
    'PID',
    'SINCE (UTC)',
    'HELD FOR',
    'BOUND',
    'HEARTBEAT',
  ])
  const held = lines.slice(2, 5)
  const pid = String(process.pid)
  expect(held[0]).toMatch(
    new RegExp(
      `^ {2}dut:rack3-sw1 +1 +run-a +LAB-1 +\\(whole run\\) +${hostname()} +${pid} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +\\d+s +1h 00m +\\ds ago$`,
    ),
  )
  expect(held[1]).toMatch(/^ {2}psu:bench-2 +1 +run-a +LAB-1 +measure_power +.* none +\ds ago$/)
  expect(held[2]).toMatch(/^ {2}scope:tek-1 +1 +run-a +LAB-1 +\(whole run\) +/)
  // Aligned: every column starts where its heading does.
  for (const column of ['RUN', 'TEST', 'STEP', 'HOST', 'PID', 'SINCE (UTC)']) {
    const at = heading.indexOf(column)
    for (const row of held) expect(row[at - 1], `${column} in ${row}`).toBe(' ')
    for (const row of held) expect(row[at], `${column} in ${row}`).not.toBe(' ')
  }
  expect(lines[5]).toBe('waiting (1), first come first served:')
  expect(lines[6]!.split(/ {2,}/).map((cell) => cell.trim())).toEqual([
    '',
    'RESOURCE',
    'RUN',
    'TEST',
    'STEP',
    'HOST',
    'WAITING SINCE (UTC)',
    'WAITING FOR',
  ])
  expect(lines[7]).toMatch(
    new RegExp(`^ {2}dut:rack3-sw1 +run-b +LAB-2 +flash +${hostname()} +\\d{4}-\\d\\d-\\d\\d [\\d:]{8} +\\d+s$`),
  )
  expect(lines).toHaveLength(8)
  expect(text.stdout).not.toContain('chamber:t1')

  expect(json.code, json.output).toBe(0)
  const me = { host: hostname(), pid: process.pid }
  const listed = JSON.parse(json.stdout) as { holders: unknown[]; waiters: unknown[] }
  expect(listed).toEqual({
    holders: [
      {
        resource: 'dut:rack3-sw1',
        runId: 'run-a',
        testId: 'LAB-1',
        step: null,
        ...me,
        since: expect.any(String),
        heartbeatAt: expect.any(String),
        generation: 1,
        maxHoldMs: 3_600_000,
      },
      {
        resource: 'psu:bench-2',
        runId: 'run-a',
        testId: 'LAB-1',
        step: 'measure_power',
        ...me,
        since: expect.any(String),
        heartbeatAt: expect.any(String),
        generation: 1,
      },
      {
        resource: 'scope:tek-1',
        runId: 'run-a',
        testId: 'LAB-1',
        step: null,
        ...me,
        since: expect.any(String),
        heartbeatAt: expect.any(String),
        generation: 1,
        maxHoldMs: 3_600_000,
      },
    ],
    waiters: [
      {
        resource: 'dut:rack3-sw1',
        runId: 'run-b',
        testId: 'LAB-2',
        step: 'flash',
        host: me.host,
        since: expect.any(String),
      },
    ],
  })

  expect(one.code, one.output).toBe(0)
  expect(one.stdout).toMatch(/^held \(1\):\n.*\n {2}psu:bench-2 +1 +run-a .*\nwaiting: none\n$/)

  expect(help.code).toBe(0)
  expect(help.stdout).toMatch(/^Usage: recipes locks \[--resource <name>\]\.\.\. \[--json\]/)
  expect(extra.code).toBe(3)
  expect(extra.stderr).toContain(
    'recipes locks takes no arguments, not "dut:rack3-sw1" (to see one resource: --resource dut:rack3-sw1)',
  )

  await locks.release('run-a')
  await locks.stopWaiting('run-b')
  const [empty, emptyJson, emptyOne] = await Promise.all([
    project.recipes(['locks']),
    project.recipes(['locks', '--json']),
    project.recipes(['locks', '--resource', 'dut:rack3-sw1']),
  ])
  expect(empty.code, empty.output).toBe(0)
  expect(empty.stdout).toBe('no lab resource is held or waited for\n')
  expect(JSON.parse(emptyJson.stdout)).toEqual({ holders: [], waiters: [] })
  expect(emptyOne.stdout).toBe('dut:rack3-sw1: not held or waited for\n')
})
