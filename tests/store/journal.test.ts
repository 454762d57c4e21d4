import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { ingestJournals } from '../../plugin/store/ingest.ts'
import { journalFolderOf, RunJournal } from '../../plugin/store/journal.ts'
import { stepRecord, readRows } from './rows.ts'
import { RunStore } from '../../plugin/store/run-store.ts'

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-journal-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (runId: string) => ({
  runId,
  testId: 'J-1',
  recipe: 'recipes/j.yaml',
  startTime: '2026-01-01T00:00:00Z',
  vitestVersion: '4',
  metadata: {},
})
const step = stepRecord

const rows = readRows

/** A journal of a run with two steps: a key written, then changed and another deleted. */
function journalTwoSteps(path: string, runId: string, finish: boolean): RunJournal {
  const journal = RunJournal.create(path, 'j.sqlite', runId)
  const ctx = new Context()
  journal.beginRun(run(runId))
  const first = [ctx.set('j.a_v1', 1, { who: 'one' }), ctx.set('j.gone_v1', 'x', { who: 'one' })]
  journal.recordStep(runId, step('one', 1), first, [
    ['j.a_v1', 1],
    ['j.gone_v1', 'x'],
  ])
  journal.recordStep(
    runId,
    step('two', 2),
    [ctx.set('j.a_v1', 2, { who: 'two' })],
    [
      ['j.a_v1', 2],
      ['j.gone_v1', undefined],
    ],
  )
  if (finish) journal.finishRun(runId, 'passed', '2026-01-01T00:00:05Z')
  journal.close()
  return journal
}

test('the store opens with the journals of ended runs stored, in order, and removed', async () => {
  const path = join(dir, 'ended.sqlite')
  await (await RunStore.open(path)).close()
  const journal = journalTwoSteps(path, 'r1', true)
  expect(existsSync(journal.path)).toBe(true)
  await (await RunStore.open(path)).close()
  expect(existsSync(journal.path)).toBe(false)
  expect(rows(path, 'SELECT run_id, status, end_time FROM runs')).toEqual([
    { run_id: 'r1', status: 'passed', end_time: '2026-01-01T00:00:05Z' },
  ])
  expect(rows(path, 'SELECT step, seq FROM step_metrics ORDER BY seq')).toEqual([
    { step: 'one', seq: 1 },
    { step: 'two', seq: 2 },
  ])
  // Rows keep what changed (history-delta.ts): a value this small is kept whole, with no `before`.
  expect(rows(path, 'SELECT seq, key, before, after, change, step_seq FROM context_history ORDER BY seq')).toEqual([
    { seq: 1, key: 'j.a_v1', before: null, after: '1', change: null, step_seq: 1 },
    { seq: 2, key: 'j.gone_v1', before: null, after: '"x"', change: null, step_seq: 1 },
    { seq: 3, key: 'j.a_v1', before: null, after: '2', change: null, step_seq: 2 },
  ])
  // The deleted key is gone from the final ctx; the changed one holds its last value.
  expect(rows(path, 'SELECT key, value FROM context_snapshots')).toEqual([{ key: 'j.a_v1', value: '2' }])
})

test('a running journal is stored as far as it goes, twice by two stores without a duplicate, and kept', async () => {
  const path = join(dir, 'running.sqlite')
  await (await RunStore.open(path)).close()
  const journal = journalTwoSteps(path, 'r2', false)
  // A line still being written (no newline yet) is left for the next reading.
  appendFileSync(journal.path, '{"kind":"finish","status":"pas')
  const a = await RunStore.open(path)
  let b: RunStore | undefined
  try {
    expect(rows(path, 'SELECT status FROM runs')).toEqual([{ status: 'running' }])
    expect(rows(path, 'SELECT COUNT(*) AS n FROM step_metrics')).toEqual([{ n: 2 }])
    expect(rows(path, 'SELECT COUNT(*) AS n FROM context_history')).toEqual([{ n: 3 }])
    expect(existsSync(journal.path)).toBe(true)
    expect((await ingestJournals(a)).runs).toEqual([])
    appendFileSync(journal.path, 'sed","endTime":"2026-01-01T00:00:09Z"}\n')
    // b has read nothing yet: it replays the whole journal, which changes no row, then ends the run.
    b = await RunStore.open(path)
    expect(rows(path, 'SELECT status FROM runs')).toEqual([{ status: 'passed' }])
    expect(rows(path, 'SELECT COUNT(*) AS n FROM step_metrics')).toEqual([{ n: 2 }])
    expect(rows(path, 'SELECT COUNT(*) AS n FROM context_history')).toEqual([{ n: 3 }])
    expect(rows(path, 'SELECT key, value FROM context_snapshots')).toEqual([{ key: 'j.a_v1', value: '2' }])
    expect(existsSync(journal.path)).toBe(false)
    // a finds the journal gone: nothing to do, nothing thrown.
    expect((await ingestJournals(a)).runs).toEqual([])
  } finally {
    await a.close()
    b?.close()
  }
})

test('the journal of a process that died is stored, its run marked interrupted, and the journal removed', async () => {
  const path = join(dir, 'killed.sqlite')
  await (await RunStore.open(path)).close()
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
  const journal = journalTwoSteps(path, 'r3', false)
  const text = readFileSync(journal.path, 'utf8').replace(`"pid":${process.pid}`, `"pid":${dead}`)
  writeFileSync(journal.path, text)
  await (await RunStore.open(path)).close()
  expect(rows(path, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }])
  expect(rows(path, 'SELECT step FROM step_metrics ORDER BY seq')).toEqual([{ step: 'one' }, { step: 'two' }])
  expect(readdirSync(journalFolderOf(path))).toEqual([])
})

test('a journal that cannot be written says which file and what to check', async () => {
  const path = join(dir, 'blocked.sqlite')
  writeFileSync(journalFolderOf(path), 'a file where the folder should be')
  const journal = RunJournal.create(path, 'reports/blocked.sqlite', 'r4')
  expect(() => journal.beginRun(run('r4'))).toThrow(
    /^the run journal reports\/blocked\.sqlite\.pending\/r4\.jsonl could not be written: .*; check that the store's folder is writable and the disk not full$/,
  )
})

test('writes made outside any step (the ctx API) are stored with their writers, between the steps, and a resume sees them', async () => {
  const { loadResumeSnapshot } = await import('../../plugin/store/resume.ts')
  const path = join(dir, 'api-writes.sqlite')
  await (await RunStore.open(path)).close()
  const journal = RunJournal.create(path, 'j.sqlite', 'r-api')
  const ctx = new Context()
  journal.beginRun(run('r-api'))
  journal.recordStep('r-api', step('one', 1), [ctx.set('j.a_v1', 1, { who: 'one' })], [['j.a_v1', 1]])
  // Between the steps, a traffic generator sets a key and a console deletes the step's.
  const outside = [ctx.set('lab.link_v1', 'up', { who: 'traffic-gen' }), ctx.delete('j.a_v1', { who: 'console' })!]
  journal.recordWrites('r-api', outside, [
    ['lab.link_v1', 'up'],
    ['j.a_v1', undefined],
  ])
  journal.recordStep('r-api', step('two', 2), [ctx.set('j.b_v1', 2, { who: 'two' })], [['j.b_v1', 2]])
  journal.finishRun('r-api', 'passed', '2026-01-01T00:00:05Z')
  journal.close()
  const store = await RunStore.open(path)
  try {
    expect(rows(path, 'SELECT seq, key, who, after, step, step_seq FROM context_history ORDER BY seq')).toEqual([
      { seq: 1, key: 'j.a_v1', who: 'one', after: '1', step: 'one', step_seq: 1 },
      { seq: 2, key: 'lab.link_v1', who: 'traffic-gen', after: '"up"', step: null, step_seq: 1 },
      // A delete has no value (SQL NULL), unlike a JSON null ('null').
      { seq: 3, key: 'j.a_v1', who: 'console', after: null, step: null, step_seq: 1 },
      { seq: 4, key: 'j.b_v1', who: 'two', after: '2', step: 'two', step_seq: 2 },
    ])
    expect(rows(path, 'SELECT key, value FROM context_snapshots ORDER BY key')).toEqual([
      { key: 'j.b_v1', value: '2' },
      { key: 'lab.link_v1', value: '"up"' },
    ])
    // Resuming from step two starts from the ctx step two saw: the API's writes included, the deleted key gone.
    expect(await loadResumeSnapshot(store, 'recipes/j.yaml', 'one')).toMatchObject({
      values: { 'lab.link_v1': 'up' },
    })
    const resumed = await loadResumeSnapshot(store, 'recipes/j.yaml', 'one')
    expect(typeof resumed !== 'string' && 'j.a_v1' in resumed.values).toBe(false)
  } finally {
    await store.close()
  }
})
