import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { journalFolderOf, RunJournal } from '../../plugin/store/journal.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { freshDatabase, noPostgres, query } from '../postgres.ts'
import { stepRow } from './rows.ts'

// On PostgreSQL each workspace keeps the journals of the runs it records in
// `.recipes/postgres/<db>.pending/`. A run killed there may be marked interrupted by any other
// workspace first (its session is gone); its journal must still be stored and removed when
// its own workspace next opens the store, not left there forever.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-pg-journals-'))
let database: { url: string; drop: () => Promise<void> } | undefined
afterAll(async () => {
  await database?.drop()
  rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(noPostgres)('PostgreSQL journals of killed runs', () => {
  beforeAll(async () => {
    database = await freshDatabase('pg_journals')
  })

  test('the pending journal of a killed run, already marked interrupted elsewhere, is stored and removed at the next open', async () => {
    const local = join(dir, 'workspace')
    await (await RunStore.openPostgres(database!.url, 'pg', local)).close()
    const journal = RunJournal.create(local, 'pg', 'r-killed')
    const ctx = new Context()
    journal.beginRun({
      runId: 'r-killed',
      testId: 'PGJ-1',
      recipe: 'recipes/killed.yaml',
      startTime: new Date().toISOString(),
      vitestVersion: '4',
      metadata: {},
    })
    journal.recordStep('r-killed', stepRow('first'), [ctx.set('k.a_v1', 1, { who: 'first' })], [['k.a_v1', 1]])
    journal.close()
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
    writeFileSync(journal.path, readFileSync(journal.path, 'utf8').replace(`"pid":${process.pid}`, `"pid":${dead}`))
    // Another workspace stored its run row first and marked it interrupted (its session had ended).
    await query(
      database!.url,
      "INSERT INTO runs (run_id, test_id, recipe, start_time, status, end_time) VALUES ('r-killed', 'PGJ-1', 'recipes/killed.yaml', $1, 'interrupted', $1)",
      [new Date().toISOString()],
    )
    const store = await RunStore.openPostgres(database!.url, 'pg', local)
    try {
      expect(existsSync(journal.path)).toBe(false)
      expect(readdirSync(journalFolderOf(local))).toEqual([])
      const run = (await store.readRun('r-killed'))!
      expect(run.run.status).toBe('interrupted')
      expect(run.steps.map((step) => step.step)).toEqual(['first'])
    } finally {
      await store.close()
    }
  })
})
