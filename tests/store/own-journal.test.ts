import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { RunJournal } from '../../plugin/store/journal.ts'
import { OwnJournal } from '../../plugin/store/own-journal.ts'
import { collect } from '../../plugin/store/run-data.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { freshDatabase, noPostgres } from '../postgres.ts'
import { stepRecord } from './rows.ts'

// A recipe file that keeps the store itself (no Vitest process does) journals as every file
// does, and stores its own journal at each step boundary: once `flush` resolves, the step is
// in the store; at the end the journal is gone. The same on SQLite and PostgreSQL.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-own-journal-'))
const databases: { drop: () => Promise<void> }[] = []
afterAll(async () => {
  for (const database of databases) await database.drop()
  rmSync(dir, { recursive: true, force: true })
})

async function exercise(store: RunStore, local: string): Promise<void> {
  const journal = RunJournal.create(local, 'shown', 'own-1')
  const recorder = new OwnJournal(journal, store)
  const reader = await RunStore.openLocated(store.dialect === 'sqlite' ? { path: local, shown: 'reader' } : readerOf)
  try {
    recorder.beginRun({
      runId: 'own-1',
      testId: 'OWN-1',
      recipe: 'recipes/own.yaml',
      startTime: '2026-12-01T00:00:00.000Z',
      vitestVersion: '4',
      metadata: {},
    })
    expect(recorder.pending()).toBe(true)
    await recorder.flush()
    expect(recorder.pending()).toBe(false)
    expect((await reader.readRun('own-1'))?.run.status).toBe('running')

    const ctx = new Context()
    const write = ctx.set('own.n_v1', 1, { who: 'first' })
    recorder.recordStep('own-1', stepRecord('first', 1), [write], [['own.n_v1', 1]])
    await recorder.flush()
    const run = (await reader.readRun('own-1'))!
    expect(run.steps.map((step) => [step.step, step.status])).toEqual([['first', 'passed']])
    expect((await collect(run.history.rows())).map((row) => [row.key, row.after])).toEqual([['own.n_v1', 1]])

    recorder.recordWrites('own-1', [ctx.set('own.m_v1', 2, { who: 'api' })], [['own.m_v1', 2]])
    recorder.finishRun('own-1', 'passed', '2026-12-01T00:00:05.000Z')
    await recorder.close()
    const done = (await reader.readRun('own-1'))!
    expect(done.run.status).toBe('passed')
    expect(done.context.map((row) => [row.key, row.value])).toEqual([
      ['own.m_v1', 2],
      ['own.n_v1', 1],
    ])
    // Stored whole: the journal is removed.
    expect(existsSync(journal.path)).toBe(false)
  } finally {
    await reader.close()
  }
}
let readerOf: { path: string; shown: string; url: string }

test('on SQLite: each flush stores the journal so far; closing stores the end and removes the journal', async () => {
  const path = join(dir, 'own.sqlite')
  await exercise(await RunStore.open(path), path)
})

describe.skipIf(noPostgres)('on PostgreSQL', () => {
  test('each flush stores the journal so far; closing stores the end and removes the journal', async () => {
    const database = await freshDatabase('own_journal')
    databases.push(database)
    const local = join(dir, 'pg-local')
    readerOf = { path: join(dir, 'pg-reader'), shown: 'pg', url: database.url }
    await exercise(await RunStore.openPostgres(database.url, 'pg', local), local)
  })
})
