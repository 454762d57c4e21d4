import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, expect, test } from 'vitest'
import { findRegressions } from '../../plugin/cli/commands/history.ts'
import { Context } from '../../plugin/context/context.ts'
import { loadResumeSnapshot } from '../../plugin/store/resume.ts'
import { RunStore, SCHEMA_VERSION, type HistoryRun } from '../../plugin/store/run-store.ts'

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-store-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const step = (name: string, idx: number, status = 'passed') => ({ step: name, idx, status, durationMs: 1, cpuMs: 0, peakRssBytes: 0, exitCode: 0, attempts: 1, reason: null, logPath: null })

test('resuming rebuilds the ctx at the end of the step before, from the last run of the recipe', () => {
  const store = RunStore.open(join(dir, 'a.sqlite'))
  const ctx = new Context()
  store.beginRun({ runId: 'r1', testId: 'T', recipe: 'recipes/r.yaml', startTime: '2026-01-01T00:00:00Z', vitestVersion: '4', metadata: {} })
  store.recordStep('r1', step('load', 1), [ctx.set('n.raw_v1', 1, { who: 'load' })], [['n.raw_v1', 1]])
  store.recordStep('r1', step('fix', 2), [ctx.set('n.raw_v1', 2, { who: 'fix' }), ctx.set('n.ok_v1', true, { who: 'fix' })], [])
  store.recordStep('r1', step('fail', 3, 'failed'), [ctx.set('n.partial_v1', 3, { who: 'fail' })], [])
  store.finishRun('r1', 'failed')
  expect(loadResumeSnapshot(store, 'recipes/r.yaml', 'fix')).toMatchObject({ runId: 'r1', values: { 'n.raw_v1': 2, 'n.ok_v1': true } })
  expect(loadResumeSnapshot(store, 'recipes/r.yaml', 'nope')).toBe('the last run of recipes/r.yaml (r1) did not reach step "nope", so there is no context to resume from')
  expect(loadResumeSnapshot(store, 'recipes/other.yaml', 'load')).toMatch(/^no earlier run of recipes\/other.yaml is recorded/)
  expect(loadResumeSnapshot(store, 'recipes/other.yaml', undefined)).toEqual({ runId: 'none', values: {}, writes: [] })
  store.close()
})

test('a database written by a newer version is refused, not rewritten', () => {
  const path = join(dir, 'newer.sqlite')
  const raw = new Database(path)
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  raw.close()
  expect(() => RunStore.open(path, 'reports/newer.sqlite')).toThrow(`reports/newer.sqlite has schema version ${SCHEMA_VERSION + 1}, newer than this vitest-recipes understands (${SCHEMA_VERSION})`)
})

test('history flags a step above median + 3·MAD of the earlier passing runs', () => {
  const run = (id: string, duration: number, status = 'passed'): HistoryRun => ({ runId: id, testId: 'T', recipe: 'r', startTime: id, endTime: id, status: status as HistoryRun['status'], steps: [{ step: 's', idx: 1, status, durationMs: duration }] })
  const steady = [run('5', 100), run('4', 102), run('3', 98), run('2', 101)]
  expect(findRegressions([run('6', 300), ...steady])[0]).toMatchObject({ regressed: true, medianMs: 100.5 })
  expect(findRegressions([run('6', 103), ...steady])[0]).toMatchObject({ regressed: false })
  expect(findRegressions([run('6', 100, 'failed'), ...steady])[0]).toMatchObject({ regressed: false, flippedFrom: 'passed' })
})
