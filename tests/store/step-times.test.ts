import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, test } from 'vitest'
import { RunJournal } from '../../plugin/store/journal.ts'
import type { StepRow } from '../../plugin/store/run-data.ts'
import { RunStore, SCHEMA_VERSION } from '../../plugin/store/run-store.ts'
import { freshDatabase, noPostgres, query } from '../postgres.ts'
import { stepRow } from './rows.ts'

// Each step's start time and each attempt's, from the runtime's record through the store
// (SQLite and PostgreSQL), its migration and the run journal: what the timeline draws
// parallel steps side by side with.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-step-times-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (runId: string) => ({
  runId,
  testId: 'T-1',
  recipe: 'recipes/t.yaml',
  startTime: '2026-03-01T10:00:00.000Z',
  vitestVersion: '4',
  metadata: {},
})

/** Two steps that ran side by side (b started before a ended), a retried one, one that did not run. */
const STEPS: StepRow[] = [
  stepRow('a', { idx: 1, durationMs: 600, startTime: '2026-03-01T10:00:00.100Z' }),
  stepRow('b', { idx: 2, durationMs: 600, startTime: '2026-03-01T10:00:00.150Z' }),
  stepRow('retried', {
    idx: 3,
    durationMs: 50,
    attempts: 2,
    startTime: '2026-03-01T10:00:00.800Z',
    attemptLog: [
      { attempt: 1, status: 'failed', reason: 'busy', durationMs: 30, startTime: '2026-03-01T10:00:00.800Z' },
      { attempt: 2, status: 'passed', durationMs: 20, startTime: '2026-03-01T10:00:01.030Z' },
    ],
  }),
  stepRow('blocked', { idx: 4, status: 'blocked', durationMs: 0, attempts: 0, startTime: null }),
]

const timesOf = (steps: readonly StepRow[]) =>
  steps.map((step) => ({
    step: step.step,
    startTime: step.startTime,
    attempts: step.attemptLog.map((attempt) => attempt.startTime),
  }))

const EXPECTED = [
  { step: 'a', startTime: '2026-03-01T10:00:00.100Z', attempts: [] },
  { step: 'b', startTime: '2026-03-01T10:00:00.150Z', attempts: [] },
  {
    step: 'retried',
    startTime: '2026-03-01T10:00:00.800Z',
    attempts: ['2026-03-01T10:00:00.800Z', '2026-03-01T10:00:01.030Z'],
  },
  { step: 'blocked', startTime: null, attempts: [] },
]

async function recordSteps(store: RunStore, runId: string): Promise<void> {
  await store.beginRun(run(runId))
  for (const step of STEPS) await store.recordStep(runId, step, [], [])
  await store.finishRun(runId, 'passed', '2026-03-01T10:00:02.000Z')
}

test("SQLite: each step's start time and each attempt's are stored and read back; a step that did not run has none", async () => {
  const store = await RunStore.open(join(dir, 'times.sqlite'))
  try {
    await recordSteps(store, 'r1')
    expect(timesOf((await store.readRun('r1'))!.steps)).toEqual(EXPECTED)
  } finally {
    await store.close()
  }
})

test('SQLite: a store of the schema before step start times is migrated; its old rows have none, new rows have theirs', async () => {
  const path = join(dir, 'old.sqlite')
  // A store as schema 8 left it: step_metrics without start_time.
  await (await RunStore.open(path)).close()
  const raw = new Database(path)
  const columns = (raw.prepare('PRAGMA table_info(step_metrics)').all() as { name: string }[]).map((c) => c.name)
  if (columns.includes('start_time')) raw.exec('ALTER TABLE step_metrics DROP COLUMN start_time')
  raw.exec(`PRAGMA user_version = 8;
    INSERT INTO runs (run_id, test_id, recipe, start_time, end_time, status) VALUES ('old', 'T-1', 'recipes/t.yaml', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'passed');
    INSERT INTO step_metrics (run_id, step, idx, status, duration_ms, attempts, seq, attempt_log)
      VALUES ('old', 'load', 1, 'passed', 5, 1, 1, '[{"attempt":1,"status":"passed","durationMs":5}]');`)
  raw.close()
  const store = await RunStore.open(path)
  try {
    const old = (await store.readRun('old'))!
    expect(timesOf(old.steps)).toEqual([{ step: 'load', startTime: null, attempts: [undefined] }])
    await recordSteps(store, 'new')
    expect(timesOf((await store.readRun('new'))!.steps)).toEqual(EXPECTED)
  } finally {
    await store.close()
  }
  const check = new Database(path, { readonly: true })
  expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
  check.close()
})

test("the journal of a killed run keeps each step's start time and each attempt's when it is ingested", async () => {
  const path = join(dir, 'killed.sqlite')
  await (await RunStore.open(path)).close()
  const journal = RunJournal.create(path, 'killed.sqlite', 'k1')
  journal.beginRun(run('k1'))
  for (const step of STEPS.slice(0, 3)) journal.recordStep('k1', step, [], [])
  journal.close()
  // The process that wrote it is gone (SIGKILL): no finish record, a dead pid.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
  writeFileSync(journal.path, readFileSync(journal.path, 'utf8').replace(`"pid":${process.pid}`, `"pid":${dead}`))
  const store = await RunStore.open(path)
  try {
    const data = (await store.readRun('k1'))!
    expect(data.run.status).toBe('interrupted')
    expect(timesOf(data.steps)).toEqual(EXPECTED.slice(0, 3))
  } finally {
    await store.close()
  }
})

describe.skipIf(noPostgres)('PostgreSQL', () => {
  test("each step's start time and each attempt's are stored and read back, as on SQLite", async () => {
    const database = await freshDatabase('step_times')
    try {
      const store = await RunStore.openPostgres(database.url, 'pg', join(dir, 'pg-local'))
      try {
        await recordSteps(store, 'r1')
        expect(timesOf((await store.readRun('r1'))!.steps)).toEqual(EXPECTED)
      } finally {
        await store.close()
      }
    } finally {
      await database.drop()
    }
  })

  test('a database of the schema before step start times is migrated; its old rows have none', async () => {
    const database = await freshDatabase('step_times_old')
    try {
      await (await RunStore.openPostgres(database.url, 'pg', join(dir, 'pg-old'))).close()
      // The database as schema 8 left it.
      await query(database.url, 'ALTER TABLE step_metrics DROP COLUMN IF EXISTS start_time')
      await query(database.url, 'UPDATE recipes_schema SET version = 8')
      await query(
        database.url,
        `INSERT INTO runs (run_id, test_id, recipe, start_time, end_time, status) VALUES ('old', 'T-1', 'recipes/t.yaml', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'passed')`,
      )
      await query(
        database.url,
        `INSERT INTO step_metrics (run_id, step, idx, status, duration_ms, attempts, seq) VALUES ('old', 'load', 1, 'passed', 5, 1, 1)`,
      )
      const store = await RunStore.openPostgres(database.url, 'pg', join(dir, 'pg-old'))
      try {
        expect(timesOf((await store.readRun('old'))!.steps)).toEqual([{ step: 'load', startTime: null, attempts: [] }])
        await recordSteps(store, 'new')
        expect(timesOf((await store.readRun('new'))!.steps)).toEqual(EXPECTED)
      } finally {
        await store.close()
      }
      expect(await query(database.url, 'SELECT version FROM recipes_schema')).toEqual([{ version: SCHEMA_VERSION }])
    } finally {
      await database.drop()
    }
  })
})
