import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { loadResumeSnapshot, RunJournal } from '../../plugin/store/run-journal.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-journal-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

function recordRun(runId: string, steps: [string, string, Record<string, number>][]) {
  const journal = new RunJournal(root, 'recipes/r.yaml', runId)
  const ctx = new Context()
  for (const [step, status, values] of steps) {
    const writes = Object.entries(values).map(([key, value]) => ctx.set(key, value, { who: step }))
    journal.record(step, status, writes)
  }
  journal.flush()
}

test('the snapshot at the end of a step replays the writes of the steps up to it, in order', async () => {
  recordRun('run-1', [
    ['load', 'passed', { 'n.raw_v1': 1 }],
    ['fix', 'passed', { 'n.raw_v1': 2, 'n.fixed_v1': 1 }],
    ['fail', 'failed', { 'n.partial_v1': 3 }],
    ['later', 'blocked', {}],
  ])
  expect(loadResumeSnapshot(root, 'recipes/r.yaml', 'fix')).toEqual({
    runId: 'run-1',
    values: { 'n.raw_v1': 2, 'n.fixed_v1': 1 },
    entries: [
      { step: 'load', writes: [['n.raw_v1', 1]] },
      { step: 'fix', writes: [['n.raw_v1', 2], ['n.fixed_v1', 1]] },
    ],
  })
  expect(loadResumeSnapshot(root, 'recipes/r.yaml', 'fail')).toMatchObject({ values: { 'n.partial_v1': 3 } })
})

test('a new run replaces the journal of the last one', async () => {
  recordRun('run-2', [['load', 'passed', { 'n.raw_v1': 9 }]])
  expect(readFileSync(join(root, 'reports/.state/recipes__r.yaml.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(2)
  expect(loadResumeSnapshot(root, 'recipes/r.yaml', 'fix')).toBe('the last run of recipes/r.yaml (run-2) did not reach step "fix", so there is no context to resume from')
})

test('resuming from the first step needs no journal; any other step does', () => {
  expect(loadResumeSnapshot(root, 'recipes/none.yaml', undefined)).toEqual({ runId: 'none', values: {}, entries: [] })
  expect(loadResumeSnapshot(root, 'recipes/none.yaml', 'load')).toMatch(/^no earlier run of recipes\/none.yaml is recorded/)
})
