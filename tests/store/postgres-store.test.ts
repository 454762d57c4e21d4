import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { collect } from '../../plugin/store/run-data.ts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { SESSION_END_GRACE_MS } from '../../plugin/store/resource-locks.ts'
import { loadResumeSnapshot } from '../../plugin/store/resume.ts'
import { RUN_LEASE_MS, RunStore, SCHEMA_VERSION, StoreError } from '../../plugin/store/run-store.ts'
import { REPO } from '../e2e/project.ts'
import { freshDatabase, noPostgres, query, TEST_PG } from '../postgres.ts'
import { stepRow } from './rows.ts'

// The PostgreSQL run store against a real server (RECIPES_TEST_PG; .ci/run starts one): the
// same public API as the SQLite store, checked by recording the same runs into both and
// reading everything back, plus what only a shared server has (sessions of other machines).

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-pg-'))
const opened: RunStore[] = []
let database: { url: string; drop: () => Promise<void> } | undefined
afterAll(async () => {
  for (const store of opened.splice(0)) await store.close()
  await database?.drop()
  rmSync(dir, { recursive: true, force: true })
})

async function openPg(url = database!.url): Promise<RunStore> {
  const store = await RunStore.openPostgres(url, 'pg', join(dir, `local-${opened.length}`))
  opened.push(store)
  return store
}

/** Two runs of one test with steps, ctx writes (a deletion among them), metrics and an analysis. */
async function record(store: RunStore): Promise<void> {
  for (const [n, runId] of ['20260101T000000Z-a', '20260101T000100Z-b'].entries()) {
    const ctx = new Context()
    await store.beginRun({
      runId,
      testId: 'PG-1',
      recipe: 'recipes/pg.yaml',
      startTime: `2026-01-01T00:0${n}:00.000Z`,
      vitestVersion: '4',
      metadata: {
        test_meta: { tester: n === 0 ? 'ann' : 'bob', tags: ['smoke', `n${n}`] },
        vars: { dut: `sw${n}`, ports: 48 + n, fast: n === 0 },
      },
    })
    const load = ctx.set('n.raw_v1', [1, 2, n], { who: 'load' })
    await store.recordStep(
      runId,
      stepRow('load', {
        idx: 1,
        durationMs: 12.5 + n,
        peakRssBytes: 3_000_000_000,
        params: { count: 3, secret: '***' },
        envelope: { status: 'ok', metrics: { rate: { value: 10 + n, unit: 'Gbps' } } },
      }),
      [load],
      [['n.raw_v1', [1, 2, n]]],
    )
    const writes = [ctx.set('n.sum_v1', 3 + n, { who: 'sum' }), ctx.delete('n.raw_v1', { who: 'sum' })!]
    await store.recordStep(
      runId,
      stepRow('sum', { idx: 2, status: n === 0 ? 'passed' : 'failed', reason: n === 0 ? null : 'too low' }),
      writes,
      [
        ['n.sum_v1', 3 + n],
        ['n.raw_v1', undefined],
      ],
    )
    await store.recordAnalysis(runId, { summaryText: `run ${n}`, metrics: { steps: 2 } })
    await store.finishRun(runId, n === 0 ? 'passed' : 'failed', `2026-01-01T00:0${n}:30.000Z`)
  }
}

/** Everything the public API reads about the recorded runs (write times, taken as recorded, left out). */
async function readBack(store: RunStore) {
  const run = (await store.readRun('20260101T000100Z-b'))!
  return withoutTimes({
    run: { ...run, history: { count: run.history.count, rows: await collect(run.history.rows()) } },
    history: await store.history('PG-1', 10),
    recorded: await store.recordedTests(),
    byTester: (await store.listRuns({ tester: 'ann' })).map((row) => row.runId),
    byTag: (await store.listRuns({ tag: 'n1' })).map((row) => [row.runId, row.steps, row.failed, row.durationMs]),
    // Each value compared as its text: a number as written, a boolean as true/false.
    byVars: await Promise.all(
      [{ dut: 'sw1' }, { ports: '48', fast: 'true' }, { fast: 'false' }, { dut: 'sw1', ports: '48' }].map(
        async (vars) => (await store.history('PG-1', 10, vars)).map((run) => run.runId),
      ),
    ),
    listByVar: (await store.listRuns({ vars: { dut: 'sw0' } })).map((row) => row.runId),
    trend: await store.trend('PG-1', '20260101T000100Z-b', 5),
    past: await store.pastRuns(run.run, 5),
    last: await store.lastRun('recipes/pg.yaml'),
    lastOther: await store.lastRun('recipes/pg.yaml', '20260101T000100Z-b'),
    prefix: await store.findRun('20260101T0000'),
    ambiguous: await store.findRun('2026'),
    writes: await store.writesUpTo('20260101T000000Z-a', 1),
    sequence: await store.stepSequence('20260101T000000Z-a', 'sum'),
    resume: await loadResumeSnapshot(store, 'recipes/pg.yaml', 'load'),
  })
}

function withoutTimes<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (key, inner) => (key === 'ts' ? typeof inner : inner))) as T
}

describe.skipIf(noPostgres)('the PostgreSQL store', () => {
  beforeAll(async () => {
    database = await freshDatabase('store')
  })

  test('records and reads back exactly what the SQLite store does', async () => {
    const sqlite = await RunStore.open(join(dir, 'same.sqlite'))
    await record(sqlite)
    const expected = await readBack(sqlite)
    await sqlite.close()
    const pg = await openPg()
    await record(pg)
    const actual = await readBack(pg)
    expect(actual).toEqual(expected)
    // Not vacuous: the runs, steps, metrics and ctx are there.
    expect(actual.history.map((run) => run.steps.length)).toEqual([2, 2])
    expect(actual.run.steps[0]!.peakRssBytes).toBe(3_000_000_000)
    // The two runs took different vars (dut sw0, sw1): a run's trend holds the runs with its own vars only.
    expect(actual.trend.map((run) => run.steps[0]!.metrics)).toEqual([{ 'rate.value': 11 }])
    expect(actual.run.context).toEqual([expect.objectContaining({ key: 'n.sum_v1', value: 4 })])
    expect(actual.run.history.rows.map((row) => [row.key, row.after ?? 'deleted'])).toEqual([
      ['n.raw_v1', [1, 2, 1]],
      ['n.sum_v1', 4],
      ['n.raw_v1', 'deleted'],
    ])
    expect(actual.resume).toBeDefined()
    expect(actual.byVars).toEqual([['20260101T000100Z-b'], ['20260101T000000Z-a'], ['20260101T000100Z-b'], []])
    expect(actual.listByVar).toEqual(['20260101T000000Z-a'])
  })

  test('runs of a -t selection are told apart by the same rule as on SQLite (the JSON of the metadata)', async () => {
    const recordSelections = async (store: RunStore) => {
      const runs: [string, string[] | undefined][] = [
        ['s0-full', undefined],
        ['s1-sel', ['sum']],
        ['s2-other', ['load', 'sum']],
        ['s3-full', undefined],
        ['s4-sel', ['sum']],
      ]
      for (const [n, [runId, selected]] of runs.entries()) {
        const startTime = `2026-02-01T00:0${n}:00.000Z`
        const metadata = selected ? { selection: { selected, setup: ['load'] } } : {}
        await store.beginRun({
          runId,
          testId: 'PG-S',
          recipe: 'recipes/s.yaml',
          startTime,
          vitestVersion: '4',
          metadata,
        })
        await store.recordStep(runId, stepRow('sum', { idx: 2 }), [], [])
        await store.finishRun(runId, 'passed', startTime.replace(':00.000Z', ':01.000Z'))
      }
      const of = (runId: string) => ({ runId, testId: 'PG-S', recipe: 'recipes/s.yaml' })
      return {
        pastFull: (await store.pastRuns(of('s3-full'), 10)).map((run) => run.runId),
        pastSelection: (await store.pastRuns(of('s4-sel'), 10)).map((run) => [run.runId, run.selection]),
        trend: (await store.trend('PG-S', 's4-sel', 10)).map((run) => run.runId),
        history: (await store.history('PG-S', 10)).map((run) => [run.runId, run.selection]),
        list: (await store.listRuns({ testId: 'PG-S' })).map((run) => [run.runId, run.durationMs, run.selection]),
      }
    }
    const sqlite = await RunStore.open(join(dir, 'selections.sqlite'))
    const expected = await recordSelections(sqlite)
    await sqlite.close()
    const actual = await recordSelections(await openPg())
    expect(actual).toEqual(expected)
    expect(actual.pastFull).toEqual(['s0-full'])
    expect(actual.pastSelection).toEqual([['s1-sel', { selected: ['sum'], setup: ['load'] }]])
    expect(actual.trend).toEqual(['s1-sel', 's4-sel'])
    expect(actual.list[0]).toEqual(['s4-sel', 1000, { selected: ['sum'], setup: ['load'] }])
  })

  test('the tables are the SQLite ones, at the same schema version', async () => {
    expect(await query(database!.url, 'SELECT version FROM recipes_schema')).toEqual([{ version: SCHEMA_VERSION }])
    const tables = await query<{ table_name: string }>(
      database!.url,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    )
    expect(tables.map((row) => row.table_name)).toEqual([
      'analysis',
      'context_history',
      'context_snapshots',
      'recipes_schema',
      'resource_holds',
      'resource_locks',
      'resource_waits',
      'runs',
      'step_metrics',
    ])
  })

  test('a run whose recording session ended is interrupted at the next open, from any machine', async () => {
    const runner = await openPg()
    await runner.beginRun({
      runId: 'r-dies',
      testId: 'PG-2',
      recipe: 'recipes/dies.yaml',
      startTime: new Date().toISOString(),
      vitestVersion: '4',
      metadata: {},
    })
    await runner.recordStep('r-dies', stepRow('first'), [], [])
    // Another machine's runner: this host's pid rule must not be what marks it.
    await query(database!.url, "UPDATE runs SET host = 'rack-runner-7' WHERE run_id = 'r-dies'")
    const reader = await openPg()
    expect(await reader.markInterrupted()).toEqual([])
    await runner.close()
    expect(await reader.markInterrupted()).toEqual(['r-dies'])
    const run = (await reader.readRun('r-dies'))!
    expect(run.run.status).toBe('interrupted')
    expect(run.steps.map((step) => step.step)).toEqual(['first'])
  })

  test('a run whose heartbeat stopped for RUN_LEASE_MS is interrupted, though its session lives (a partitioned runner)', async () => {
    const runner = await openPg()
    await runner.beginRun({
      runId: 'r-silent',
      testId: 'PG-3',
      recipe: 'recipes/silent.yaml',
      startTime: new Date().toISOString(),
      vitestVersion: '4',
      metadata: {},
    })
    await query(database!.url, "UPDATE runs SET host = 'rack-runner-8' WHERE run_id = 'r-silent'")
    const reader = await openPg()
    const now = Date.now()
    expect(await reader.markInterrupted(new Date(now + RUN_LEASE_MS - 5_000))).toEqual([])
    expect(await reader.markInterrupted(new Date(now + RUN_LEASE_MS + 5_000))).toEqual(['r-silent'])
    // A heartbeat renews it: a live runner's run is not taken from it.
    await runner.beginRun({
      runId: 'r-beating',
      testId: 'PG-3',
      recipe: 'recipes/silent.yaml',
      startTime: new Date().toISOString(),
      vitestVersion: '4',
      metadata: {},
    })
    await runner.heartbeat(new Date(now + RUN_LEASE_MS))
    expect(await reader.markInterrupted(new Date(now + RUN_LEASE_MS + 5_000))).toEqual([])
  })

  test('a hold of another host lasts while its database session does; once it ended, it is freed after the grace its runner guard needs', async () => {
    const holder = await openPg()
    const other = await openPg()
    expect(await holder.locks.tryAcquire({ resources: ['dut:pg'], runId: 'h1', testId: 'T' })).toMatchObject({
      acquired: true,
    })
    // As if on another host: this process (alive) says nothing about it; its session does.
    await query(database!.url, "UPDATE resource_locks SET host = 'bench-7' WHERE run_id = 'h1'")
    const now = Date.now()
    // Long past the lease: a live session keeps the hold (a frozen runner there keeps its connection).
    const late = new Date(now + 60_000)
    expect(await other.locks.tryAcquire({ resources: ['dut:pg'], runId: 'h2', testId: 'T' }, late)).toMatchObject({
      acquired: false,
      holders: [{ resource: 'dut:pg', runId: 'h1', host: 'bench-7' }],
    })
    await holder.close()
    const ended = new Date(now + 61_000)
    expect((await other.locks.tryAcquire({ resources: ['dut:pg'], runId: 'h2', testId: 'T' }, ended)).acquired).toBe(
      false,
    )
    const afterGrace = new Date(ended.getTime() + SESSION_END_GRACE_MS)
    expect(await other.locks.tryAcquire({ resources: ['dut:pg'], runId: 'h2', testId: 'T' }, afterGrace)).toMatchObject(
      {
        acquired: true,
      },
    )
    expect((await other.locks.list(afterGrace)).holders.map((row) => row.runId)).toEqual(['h2'])
    const [hold] = await query<{ release: string }>(
      database!.url,
      "SELECT release FROM resource_holds WHERE run_id = 'h1'",
    )
    expect(hold!.release).toMatch(/^expired: the database session of process \d+ on bench-7 ended$/)
  })

  test('a hold of this host outlives its session while its process lives (judged by pid, as on SQLite)', async () => {
    const holder = await openPg()
    const other = await openPg()
    expect(await holder.locks.tryAcquire({ resources: ['dut:pg2'], runId: 'k1', testId: 'T' })).toMatchObject({
      acquired: true,
    })
    await holder.close()
    expect((await other.locks.tryAcquire({ resources: ['dut:pg2'], runId: 'k2', testId: 'T' })).acquired).toBe(false)
  })

  test('processes opening a new database at the same moment all succeed, and it is migrated once', async () => {
    const fresh = await freshDatabase('race')
    try {
      const store = join(REPO, 'dist/store/run-store.js')
      const code = `const { RunStore } = await import(${JSON.stringify(store)}); (await RunStore.openPostgres(process.argv[1], 'pg', process.argv[2])).close()`
      const exits = await Promise.all(
        Array.from(
          { length: 6 },
          (_, i) =>
            new Promise<string>((resolve) => {
              const child = spawn(
                process.execPath,
                ['--input-type=module', '-e', code, fresh.url, join(dir, `race-${i}`)],
                {
                  stdio: ['ignore', 'ignore', 'pipe'],
                },
              )
              let stderr = ''
              child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
              child.on('close', (exit) => resolve(exit === 0 ? 'opened' : stderr.trim()))
            }),
        ),
      )
      expect(exits).toEqual(Array(6).fill('opened'))
      expect(await query(fresh.url, 'SELECT version FROM recipes_schema')).toEqual([{ version: SCHEMA_VERSION }])
    } finally {
      await fresh.drop()
    }
  }, 60_000)

  test('a half-migrated database (a migration applied, its version not written) is migrated again without a "column already exists"', async () => {
    const fresh = await freshDatabase('half')
    try {
      await (await openPg(fresh.url)).close()
      await query(fresh.url, `UPDATE recipes_schema SET version = ${SCHEMA_VERSION - 2}`)
      await (await openPg(fresh.url)).close()
      expect(await query(fresh.url, 'SELECT version FROM recipes_schema')).toEqual([{ version: SCHEMA_VERSION }])
    } finally {
      await fresh.drop()
    }
  })

  test('a database written by a newer version is refused, not rewritten', async () => {
    const fresh = await freshDatabase('newer')
    try {
      await (await openPg(fresh.url)).close()
      await query(fresh.url, 'UPDATE recipes_schema SET version = 99')
      await expect(openPg(fresh.url)).rejects.toThrow(/schema version 99, newer than this vitest-recipes understands/)
      expect(await query(fresh.url, 'SELECT version FROM recipes_schema')).toEqual([{ version: 99 }])
    } finally {
      await fresh.drop()
    }
  })
})

describe.skipIf(noPostgres)('a PostgreSQL store that cannot be used', () => {
  const failure = async (url: string): Promise<StoreError> => {
    try {
      await RunStore.openPostgres(url, 'shown', join(dir, 'unused'))
    } catch (error) {
      return error as StoreError
    }
    throw new Error('it opened')
  }

  test('a refused login names the host and user, never the password', async () => {
    const url = new URL(TEST_PG!)
    url.password = 'not-the-password-s3cret'
    const error = await failure(url.href)
    expect(error).toBeInstanceOf(StoreError)
    expect(error.message).toContain(`password authentication failed for user "${decodeURIComponent(url.username)}"`)
    expect(error.message).toMatch(/the server at 127\.0\.0\.1:\d+ refused the login: check the user and password/)
    expect(error.message).not.toContain('s3cret')
  })

  test('a host where nothing listens is named, with what to check', async () => {
    const error = await failure('postgres://lab:hunter2-s3cret@127.0.0.1:9/recipes')
    expect(error.message).toMatch(/PostgreSQL cannot be reached at 127\.0\.0\.1:9: check that it runs/)
    expect(error.message).not.toContain('s3cret')
  })

  test('a database that does not exist says so', async () => {
    const url = new URL(TEST_PG!)
    url.pathname = '/recipes_no_such_database'
    expect((await failure(url.href)).message).toMatch(/the database does not exist on 127\.0\.0\.1:\d+: create it/)
  })
})
