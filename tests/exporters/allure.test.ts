import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { clearAllureResults, writeAllureConfig } from '../../plugin/exporters/allure-folder.ts'
import { allureStatusOf, writeAllureResults } from '../../plugin/exporters/allure.ts'
import type { RunData, StepRow } from '../../plugin/store/run-data.ts'

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-allure-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const step = (name: string, idx: number, extra: Partial<StepRow> = {}): StepRow => ({
  step: name,
  idx,
  status: 'passed',
  durationMs: 100,
  cpuMs: 5,
  peakRssBytes: 0,
  exitCode: 0,
  attempts: 1,
  attemptLog: [{ attempt: 1, status: 'passed', durationMs: 100 }],
  reason: null,
  logPath: null,
  params: {},
  envelope: null,
  ...extra,
})

function run(runId: string, steps: StepRow[]): RunData {
  return {
    run: {
      runId,
      testId: 'LAB-1',
      recipe: 'recipes/lab.yaml',
      startTime: '2026-01-01T00:00:00.000Z',
      endTime: '2026-01-01T00:00:02.000Z',
      status: 'failed',
      host: 'bench-3',
      vitestVersion: '4.1.0',
      metadata: {
        node: 'v20.19.0',
        test_meta: { test_id: 'LAB-1', tester: 'ann', tags: ['a', 'b'], description: 'Lab' },
      },
    },
    steps,
    context: [],
    history: {
      count: 2,
      rows: () => [
        { seq: 1, key: 'dut.power_v1', who: 'boot', ts: null, step: 'boot', before: undefined, after: 'on' },
        { seq: 2, key: 'dut.power_v1', who: 'flash', ts: null, step: 'flash', before: 'on', after: 'off' },
      ],
    },
    analysis: { summaryText: 'Run failed: 4 steps recorded.', metrics: {} },
  }
}

type Written = {
  uuid: string
  name: string
  fullName: string
  testCaseId: string
  historyId: string
  status: string
  statusDetails: { message?: string }
  labels: { name: string; value: string }[]
  parameters: { name: string; value: string; excluded?: boolean }[]
  attachments: { name: string; source: string; type: string }[]
  start: number
  stop: number
}

function results(resultsDir: string): Written[] {
  return readdirSync(resultsDir)
    .filter((file) => file.endsWith('-result.json'))
    .map((file) => JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as Written)
    .sort((a, b) => a.start - b.start || a.name.localeCompare(b.name))
}

test('each step status reads as an Allure status; what Allure cannot say stays in recipe_status', () => {
  expect(
    ['passed', 'failed', 'blocked', 'skipped', 'setup', 'cached', 'resumed', 'expected-error', 'interrupted'].map(
      (status) => `${status}:${allureStatusOf(status)}`,
    ),
  ).toEqual([
    'passed:passed',
    'failed:failed',
    'blocked:skipped',
    'skipped:skipped',
    'setup:passed',
    'cached:passed',
    'resumed:passed',
    'expected-error:passed',
    'interrupted:broken',
  ])
})

test('a result per step and per earlier attempt: ids stable across runs, labels, parameters, attachments, a run fixture', async () => {
  const root = join(dir, 'project')
  mkdirSync(join(root, 'Logs/r1'), { recursive: true })
  writeFileSync(join(root, 'Logs/r1/1_boot.log'), 'booting port 3\n')
  const runDir = join(root, 'reports/r1')
  mkdirSync(join(runDir, 'charts'), { recursive: true })
  writeFileSync(join(runDir, 'charts/step_durations.png'), 'PNG')
  const steps = [
    step('boot', 1, { params: { port: 3, mode: 'fast' }, logPath: 'Logs/r1/1_boot.log', envelope: { status: 'ok' } }),
    step('flash', 2, {
      status: 'failed',
      durationMs: 300,
      attempts: 2,
      attemptLog: [
        { attempt: 1, status: 'failed', reason: 'timed out', durationMs: 100 },
        { attempt: 2, status: 'failed', reason: 'checksum mismatch', durationMs: 200 },
      ],
      reason: 'checksum mismatch',
      params: ['--fw', '1.4'],
    }),
    step('report', 3, {
      status: 'blocked',
      durationMs: 0,
      attempts: 0,
      attemptLog: [],
      reason: 'blocked: flash failed',
    }),
    step('restore', 4, { status: 'cached' }),
    step('ping', 5, {
      durationMs: 0,
      attempts: 2,
      attemptLog: [
        { attempt: 1, status: 'failed', reason: 'no route', durationMs: 0 },
        { attempt: 2, status: 'passed', durationMs: 0 },
      ],
    }),
  ]
  const first = join(dir, 'first')
  expect(await writeAllureResults(run('r1', steps), { resultsDir: first, root, runDir })).toBe(5)
  const all = results(first)
  // Instant attempts stay instants where the step ran (not stamped with the time of writing).
  const t0 = Date.parse('2026-01-01T00:00:00.000Z')
  const pings = all.filter((item) => item.name === 'ping')
  expect(pings.map((item) => `${item.status} ${item.start - t0}-${item.stop - t0}`).sort()).toEqual([
    'failed 500-500',
    'passed 500-500',
  ])
  const written = all.filter((item) => item.name !== 'ping')
  expect(written.map((item) => `${item.name}:${item.status}`)).toEqual([
    'boot:passed',
    'flash:failed',
    'flash:failed',
    'report:skipped',
    'restore:passed',
  ])
  const [boot, retry, flash, blocked, cached] = written as [Written, Written, Written, Written, Written]
  // Laid out in idx order from the run's start; a retried step's attempts one after the other.
  expect([boot.start, boot.stop, retry.start, retry.stop, flash.start, flash.stop]).toEqual([
    t0,
    t0 + 100,
    t0 + 100,
    t0 + 200,
    t0 + 200,
    t0 + 400,
  ])
  expect(boot.fullName).toBe('recipes/lab.yaml#boot')
  expect(boot.labels.map((label) => `${label.name}=${label.value}`)).toEqual(
    expect.arrayContaining([
      'parentSuite=recipes',
      'suite=recipes/lab.yaml',
      'test_id=LAB-1',
      'owner=ann',
      'tag=a',
      'tag=b',
      'host=bench-3',
      'thread=r1',
      'framework=vitest-recipes',
      'language=javascript',
      'recipe_status=passed',
    ]),
  )
  expect(boot.parameters).toEqual([
    { name: 'port', value: '3' },
    { name: 'mode', value: 'fast' },
  ])
  const attached = (item: Written) =>
    Object.fromEntries(
      item.attachments.map((attachment) => [attachment.name, readFileSync(join(first, attachment.source), 'utf8')]),
    )
  expect(attached(boot).log).toBe('booting port 3\n')
  expect(JSON.parse(attached(boot)['ctx diff']!)).toEqual([
    { key: 'dut.power_v1', who: 'boot', before: null, after: 'on' },
  ])
  expect(JSON.parse(attached(boot).envelope!)).toEqual({ status: 'ok' })

  // The earlier attempt is Allure's retry: the same ids, its attempt an excluded parameter.
  expect(retry.historyId).toBe(flash.historyId)
  expect(retry.statusDetails.message).toBe('timed out')
  expect(flash.statusDetails.message).toBe('checksum mismatch')
  expect(flash.parameters).toEqual([
    { name: 'args', value: '["--fw","1.4"]' },
    { name: 'attempt', value: '2 of 2', excluded: true },
  ])
  expect(JSON.parse(attached(flash)['ctx diff']!)).toEqual([
    { key: 'dut.power_v1', who: 'flash', before: 'on', after: 'off' },
  ])
  expect(blocked.statusDetails.message).toBe('blocked: flash failed')
  expect(cached.labels).toContainEqual({ name: 'recipe_status', value: 'cached' })

  // The run is a fixture set up for each step (not the retry): the analysis and the charts.
  const containers = readdirSync(first).filter((file) => file.endsWith('-container.json'))
  expect(containers).toHaveLength(1)
  const container = JSON.parse(readFileSync(join(first, containers[0]!), 'utf8'))
  const ping = pings.find((item) => item.status === 'passed')!
  expect(container.children.sort()).toEqual([boot.uuid, flash.uuid, blocked.uuid, cached.uuid, ping.uuid].sort())
  expect(container.befores[0].name).toBe('recipe run')
  expect(
    container.befores[0].attachments.map((item: { name: string; type: string }) => `${item.name}:${item.type}`),
  ).toEqual(['analysis:text/plain', 'step_durations:image/png'])
  expect(readFileSync(join(first, 'environment.properties'), 'utf8').split('\n').sort()).toEqual([
    'host=bench-3',
    'node=v20.19.0',
    'vitest=4.1.0',
  ])

  // Another run of the recipe, elsewhere: the same history ids, so Allure's history joins them.
  const second = join(dir, 'second')
  const other = run('r2', steps)
  other.run.host = 'bench-4'
  await writeAllureResults(other, { resultsDir: second, root, runDir: join(root, 'reports/r2') })
  expect(results(second).map((item) => item.historyId)).toEqual(all.map((item) => item.historyId))
  expect(new Set(all.map((item) => item.historyId)).size).toBe(5)
  // Runs from two hosts in one folder: environment.properties lists both.
  await writeAllureResults(other, { resultsDir: first, root, runDir: join(root, 'reports/r2') })
  expect(readFileSync(join(first, 'environment.properties'), 'utf8')).toContain('host=bench-3, bench-4')
})

test('steps with stored start times start when they did: steps side by side overlap, an attempt starts where it ran; one without follows the one before', async () => {
  const root = join(dir, 'timed')
  const runDir = join(root, 'reports/r9')
  mkdirSync(runDir, { recursive: true })
  const t0 = Date.parse('2026-01-01T00:00:00.000Z')
  const at = (ms: number) => new Date(t0 + ms).toISOString()
  const steps = [
    step('port_a', 1, {
      durationMs: 500,
      startTime: at(100),
      attemptLog: [{ attempt: 1, status: 'passed', durationMs: 500, startTime: at(100) }],
    }),
    step('port_b', 2, {
      durationMs: 400,
      startTime: at(150),
      attemptLog: [{ attempt: 1, status: 'passed', durationMs: 400, startTime: at(150) }],
    }),
    step('flash', 3, {
      durationMs: 300,
      attempts: 2,
      startTime: at(700),
      attemptLog: [
        { attempt: 1, status: 'failed', reason: 'busy', durationMs: 100, startTime: at(700) },
        { attempt: 2, status: 'passed', durationMs: 200, startTime: at(1000) },
      ],
    }),
    step('report', 4, { status: 'blocked', durationMs: 0, attempts: 0, attemptLog: [], startTime: null }),
  ]
  const out = join(dir, 'timed-results')
  await writeAllureResults(run('r9', steps), { resultsDir: out, root, runDir })
  expect(results(out).map((item) => `${item.name} ${item.status} ${item.start - t0}-${item.stop - t0}`)).toEqual([
    'port_a passed 100-600',
    'port_b passed 150-550',
    'flash failed 700-800',
    'flash passed 1000-1200',
    'report skipped 1200-1200',
  ])
})

test('clearAllureResults empties a results folder of Allure files only; the config is written once, never replaced', async () => {
  const results = join(dir, 'reports/allure-results')
  await writeAllureResults(run('r3', [step('boot', 1, { envelope: { status: 'ok' } })]), {
    resultsDir: results,
    root: dir,
    runDir: join(dir, 'none'),
  })
  writeFileSync(join(results, 'README.txt'), 'mine')
  clearAllureResults(results)
  expect(readdirSync(results)).toEqual(['README.txt'])
  clearAllureResults(join(dir, 'no-such-folder'))

  writeAllureConfig(results)
  const config = readFileSync(join(dir, 'reports/allurerc.mjs'), 'utf8')
  expect(config).toContain("historyPath: here('allure-history.jsonl')")
  expect(config).toContain('resultsDir: here("allure-results")')
  writeFileSync(join(dir, 'reports/allurerc.mjs'), '// edited')
  writeAllureConfig(results)
  expect(readFileSync(join(dir, 'reports/allurerc.mjs'), 'utf8')).toBe('// edited')
})
