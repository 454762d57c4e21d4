import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { collect } from '../../plugin/store/run-data.ts'
import { afterAll, describe, expect, test } from 'vitest'
import { Context, type ContextWrite } from '../../plugin/context/context.ts'
import type { JsonValue } from '../../plugin/context/json-value.ts'
import { createRedactor } from '../../plugin/runtime/redact.ts'
import { HistoryTracker } from '../../plugin/store/history-delta.ts'
import { RunJournal } from '../../plugin/store/journal.ts'
import { loadResumeSnapshot } from '../../plugin/store/resume.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { freshDatabase, noPostgres } from '../postgres.ts'
import { stepRow } from './rows.ts'

// The store keeps what each ctx write changed (history-delta.ts) and rebuilds the values on read.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-history-'))
const databases: { drop: () => Promise<void> }[] = []
afterAll(async () => {
  for (const database of databases) await database.drop()
  rmSync(dir, { recursive: true, force: true })
})
const MB = 1024 * 1024
const item = (n: number) => ({ n, text: String(n % 10).repeat(1000) })

async function begin(store: RunStore | RunJournal, runId: string): Promise<void> {
  await store.beginRun({
    runId,
    testId: 'H-1',
    recipe: 'recipes/h.yaml',
    startTime: '2026-01-01T00:00:00Z',
    vitestVersion: '4',
    metadata: {},
  })
}

/** Records `steps` (each a list of ctx operations) as a session does: every write a change of the one recorded before. */
async function recordRun(
  store: RunStore | RunJournal,
  runId: string,
  steps: ((ctx: Context) => ContextWrite[])[],
  tracker = new HistoryTracker(),
): Promise<ContextWrite[]> {
  const ctx = new Context()
  const all: ContextWrite[] = []
  await begin(store, runId)
  for (const [n, run] of steps.entries()) {
    const writes = run(ctx)
    const { writes: recorded, commit } = tracker.track(writes)
    await store.recordStep(
      runId,
      stepRow(`s${n}`, { idx: n + 1 }),
      recorded,
      [...new Set(writes.map((write) => write.key))].map((key) => [key, ctx.get(key)]),
    )
    commit()
    all.push(...writes)
  }
  await store.finishRun(runId, 'passed')
  return all
}

const append = (n: number) => (ctx: Context) => [
  ctx.set('s.list_v1', [...(ctx.get<JsonValue[]>('s.list_v1') ?? []), item(n)], { who: `s${n}` }),
]

describe.each([
  ['SQLite', async () => await RunStore.open(join(dir, `${Math.random()}.sqlite`))],
  [
    'PostgreSQL',
    async () => {
      const database = await freshDatabase('history-delta')
      databases.push(database)
      return await RunStore.openPostgres(database.url, 'pg', join(dir, `pg-${Math.random()}`))
    },
  ],
])('%s', (name, open) => {
  test.skipIf(name === 'PostgreSQL' && noPostgres)(
    'the rows rebuild exactly the values written: appends, a field, a delete',
    async () => {
      const store = await open()
      const ports = Object.fromEntries(
        Array.from({ length: 300 }, (_, n) => [`p${n}`, { speed: 100, label: 'x'.repeat(50) }]),
      )
      const written = await recordRun(store, 'r1', [
        ...Array.from({ length: 20 }, (_, n) => append(n)),
        (ctx) => [
          ctx.set('s.ports_v1', { ports, state: 'new' }, { who: 'edit' }),
          ctx.set(
            's.ports_v1',
            { ports: { ...ports, p9: { speed: 10, label: 'y' } }, state: 'ready' },
            { who: 'edit' },
          ),
          ctx.delete('s.list_v1', { who: 'edit' })!,
          ctx.set('s.list_v1', [item(99)], { who: 'edit' }),
        ],
      ])
      const rows = await collect((await store.readRun('r1'))!.history.rows())
      expect(rows.map((row) => [row.key, row.before, row.after])).toEqual(
        written.map((write) => [write.key, write.before, write.deleted ? undefined : write.after]),
      )
      // The resume snapshot rebuilds the ctx of the end of a step from the same rows.
      const snapshot = await loadResumeSnapshot(store, 'recipes/h.yaml', 's9')
      expect(typeof snapshot !== 'string' && snapshot.values['s.list_v1']).toEqual(
        Array.from({ length: 10 }, (_, n) => item(n)),
      )
      await store.close()
    },
  )
})

test('a change of one field of a large object is stored as that field', async () => {
  const path = join(dir, 'field.sqlite')
  const store = await RunStore.open(path)
  const big = { rows: Array.from({ length: 1000 }, (_, n) => ({ n, label: 'x'.repeat(100) })), state: 'new' }
  await recordRun(store, 'r1', [
    (ctx) => [ctx.set('s.big_v1', big, { who: 'a' }), ctx.set('s.big_v1', { ...big, state: 'ready' }, { who: 'b' })],
  ])
  await store.close()
  const db = new Database(path, { readonly: true })
  const second = db.prepare('SELECT before, after, change FROM context_history WHERE seq = 2').get()
  db.close()
  expect(second).toEqual({ before: null, after: null, change: '[{"op":"replace","path":"/state","value":"ready"}]' })
})

/** Records 600 appends of 1 KB, one per step boundary, through a journal; its size, then the store's once ingested. */
async function appendAtBoundaries(path: string): Promise<{ journalBytes: number; storeBytes: number }> {
  await (await RunStore.open(path)).close()
  const journal = RunJournal.create(path, 'appends.sqlite', 'r1')
  await recordRun(
    journal,
    'r1',
    Array.from({ length: 600 }, (_, n) => append(n)),
  )
  const journalBytes = statSync(journal.path).size
  journal.close()
  await (await RunStore.open(path)).close()
  return { journalBytes, storeBytes: statSync(path).size }
}

let boundaries: { journalBytes: number; storeBytes: number } | undefined

test('600 appends of 1 KB at 600 step boundaries grow the store by a few MB', async () => {
  boundaries = await appendAtBoundaries(join(dir, 'appends.sqlite'))
  expect(boundaries.storeBytes).toBeLessThan(4 * MB)
})

// Each journal record marks the values its own writes leave instead of carrying them
// (journal-values.ts): before, a key that grew across 600 boundaries made a 185 MB journal.
test('…and the journal too: its records carry what changed, not the whole current value of each changed key', async () => {
  expect(boundaries!.journalBytes).toBeLessThan(3 * MB)
})

test('a secret inside a patch is kept as a reference, and --resume-from puts it back', async () => {
  const env = { LAB_PASSWORD: 'hunter2-very-secret' }
  const redactor = createRedactor([], env)
  const store = await RunStore.open(join(dir, 'secret.sqlite'))
  const tracker = new HistoryTracker((value) => redactor.reference(value))
  await recordRun(
    store,
    'r1',
    [
      (ctx) => [ctx.set('s.conf_v1', { hosts: ['a'], big: 'x'.repeat(500) }, { who: 'a' })],
      (ctx) => [
        ctx.set('s.conf_v1', { hosts: ['a', `admin:${env.LAB_PASSWORD}@b`], big: 'x'.repeat(500) }, { who: 'b' }),
      ],
    ],
    tracker,
  )
  const rows = await collect((await store.readRun('r1'))!.history.rows())
  expect(JSON.stringify(rows)).not.toContain(env.LAB_PASSWORD)
  expect((rows[1]!.after as { hosts: string[] }).hosts).toEqual(['a', 'admin:***{LAB_PASSWORD}@b'])
  const snapshot = await loadResumeSnapshot(store, 'recipes/h.yaml', 's1', undefined, env)
  expect(typeof snapshot !== 'string' && snapshot.values['s.conf_v1']).toMatchObject({
    hosts: ['a', `admin:${env.LAB_PASSWORD}@b`],
  })
  await store.close()
})

test('a store of schema 7 (whole before and after) still reads, and takes patches after it is migrated', async () => {
  const path = join(dir, 'schema-7.sqlite')
  await (await RunStore.open(path)).close()
  const db = new Database(path)
  db.exec(
    'ALTER TABLE context_history DROP COLUMN change; ALTER TABLE step_metrics DROP COLUMN start_time; PRAGMA user_version = 7',
  )
  db.prepare(
    "INSERT INTO runs (run_id, recipe, start_time, status, metadata) VALUES ('old', 'recipes/h.yaml', '2025-01-01', 'passed', '{}')",
  ).run()
  db.prepare("INSERT INTO step_metrics (run_id, step, idx, status, seq) VALUES ('old', 's0', 1, 'passed', 1)").run()
  const insert = db.prepare(
    'INSERT INTO context_history (run_id, seq, key, who, ts, before, after, step, step_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  insert.run('old', 1, 's.list_v1', 'a', 't1', null, '[1]', 's0', 1)
  insert.run('old', 2, 's.list_v1', 'a', 't2', '[1]', '[1,2]', 's0', 1)
  insert.run('old', 3, 's.gone_v1', 'a', 't3', null, '"x"', 's0', 1)
  insert.run('old', 4, 's.gone_v1', 'a', 't4', '"x"', null, 's0', 1)
  db.close()
  const store = await RunStore.open(path)
  expect(
    (await collect((await store.readRun('old'))!.history.rows())).map((row) => [row.key, row.before, row.after]),
  ).toEqual([
    ['s.list_v1', undefined, [1]],
    ['s.list_v1', [1], [1, 2]],
    ['s.gone_v1', undefined, 'x'],
    ['s.gone_v1', 'x', undefined],
  ])
  const snapshot = await loadResumeSnapshot(store, 'recipes/h.yaml', 's0')
  expect(typeof snapshot !== 'string' && snapshot.values).toEqual({ 's.list_v1': [1, 2] })
  await store.close()
})
