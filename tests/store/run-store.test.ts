import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, expect, test } from 'vitest'
import { findRegressions } from '../../plugin/cli/commands/history.ts'
import { selectionOfSteps } from '../../plugin/store/run-selection.ts'
import { Context } from '../../plugin/context/context.ts'
import { loadResumeSnapshot } from '../../plugin/store/resume.ts'
import { stepRecord } from './rows.ts'
import { RunStore, SCHEMA_VERSION, type HistoryRun } from '../../plugin/store/run-store.ts'
import { REPO } from '../e2e/project.ts'

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-store-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const step = stepRecord

test('resuming rebuilds the ctx at the end of the step before, from the last run of the recipe', async () => {
  const store = await RunStore.open(join(dir, 'a.sqlite'))
  const ctx = new Context()
  await store.beginRun({
    runId: 'r1',
    testId: 'T',
    recipe: 'recipes/r.yaml',
    startTime: '2026-01-01T00:00:00Z',
    vitestVersion: '4',
    metadata: {},
  })
  await store.recordStep('r1', step('load', 1), [ctx.set('n.raw_v1', 1, { who: 'load' })], [['n.raw_v1', 1]])
  await store.recordStep(
    'r1',
    step('fix', 2),
    [ctx.set('n.raw_v1', 2, { who: 'fix' }), ctx.set('n.ok_v1', true, { who: 'fix' })],
    [],
  )
  await store.recordStep('r1', step('fail', 3, 'failed'), [ctx.set('n.partial_v1', 3, { who: 'fail' })], [])
  await store.finishRun('r1', 'failed')
  expect(await loadResumeSnapshot(store, 'recipes/r.yaml', 'fix')).toMatchObject({
    runId: 'r1',
    values: { 'n.raw_v1': 2, 'n.ok_v1': true },
  })
  expect(await loadResumeSnapshot(store, 'recipes/r.yaml', 'nope')).toBe(
    'the last run of recipes/r.yaml (r1) did not reach step "nope", so there is no context to resume from',
  )
  expect(await loadResumeSnapshot(store, 'recipes/other.yaml', 'load')).toMatch(
    /^no earlier run of recipes\/other.yaml is recorded/,
  )
  expect(await loadResumeSnapshot(store, 'recipes/other.yaml', undefined)).toEqual({
    runId: 'none',
    values: {},
    writes: [],
  })
  await store.close()
})

test('a database written by a newer version is refused, not rewritten', async () => {
  const path = join(dir, 'newer.sqlite')
  const raw = new Database(path)
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  raw.close()
  await expect(RunStore.open(path, 'reports/newer.sqlite')).rejects.toThrow(
    `reports/newer.sqlite has schema version ${SCHEMA_VERSION + 1}, newer than this vitest-recipes understands (${SCHEMA_VERSION})`,
  )
})

test('history flags a step above median + 3·MAD of the earlier passing runs, given at least 5 of them', async () => {
  const run = (id: string, duration: number, status = 'passed'): HistoryRun => ({
    runId: id,
    testId: 'T',
    recipe: 'r',
    startTime: id,
    endTime: id,
    status: status as HistoryRun['status'],
    steps: [{ step: 's', idx: 1, status, durationMs: duration }],
  })
  const steady = [run('5', 100), run('4', 102), run('3', 98), run('2', 101), run('1', 99)]
  expect(findRegressions([run('6', 300), ...steady])[0]).toMatchObject({ regressed: true, medianMs: 100 })
  expect(findRegressions([run('6', 300), ...steady.slice(0, 4)])[0]).toMatchObject({
    regressed: false,
    baselineRuns: 4,
  })
  expect(findRegressions([run('6', 103), ...steady])[0]).toMatchObject({ regressed: false })
  expect(findRegressions([run('6', 100, 'failed'), ...steady])[0]).toMatchObject({
    regressed: false,
    flippedFrom: 'passed',
  })
})

test('history compares a run only with runs of the same steps, and a step run as setup is no status flip', async () => {
  const selection = { selected: ['s'], setup: ['boot'] }
  const run = (id: string, duration: number, selected = false): HistoryRun => ({
    runId: id,
    testId: 'T',
    recipe: 'r',
    startTime: id,
    endTime: id,
    status: 'passed',
    ...(selected ? { selection } : {}),
    steps: [
      { step: 'boot', idx: 0, status: selected ? 'setup' : 'passed', durationMs: 50 },
      { step: 's', idx: 1, status: 'passed', durationMs: duration },
    ],
  })
  // Newest first: full runs of 100 ms, selection runs of 400 ms (run 'x'), interleaved.
  const runs = [run('9', 100), run('8', 400, true), run('7', 101), run('6', 401, true), run('5', 99)]
  runs.push(run('4', 400, true), run('3', 100), run('2', 399, true), run('1', 102), run('0', 400, true))
  const full = findRegressions(runs)
  expect(
    full.map(({ step, flippedFrom, baselineRuns, regressed }) => ({ step, flippedFrom, baselineRuns, regressed })),
  ).toEqual([
    { step: 'boot', flippedFrom: undefined, baselineRuns: 4, regressed: false },
    { step: 's', flippedFrom: undefined, baselineRuns: 4, regressed: false },
  ])
  const selected = findRegressions(runs.slice(1))
  expect(selected[1]).toMatchObject({ baselineRuns: 4, medianMs: 400, regressed: false })
  expect(selected[0]!.flippedFrom).toBeUndefined()
  // A setup step that passed in a full run and ran as setup in the next is no flip either.
  expect(
    findRegressions([{ ...run('b', 100), steps: run('b', 100, true).steps }, run('a', 100)])[0]!.flippedFrom,
  ).toBeUndefined()
})

test('a store written by schema 1 is migrated in place, keeping its runs', async () => {
  const path = join(dir, 'v1.sqlite')
  const raw = new Database(path)
  raw.exec(`CREATE TABLE runs (run_id TEXT PRIMARY KEY, test_id TEXT, recipe TEXT NOT NULL, start_time TEXT NOT NULL, end_time TEXT, status TEXT NOT NULL, host TEXT, vitest_version TEXT, metadata TEXT);
    CREATE TABLE step_metrics (run_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER, status TEXT NOT NULL, duration_ms REAL, cpu_ms REAL, peak_rss_bytes INTEGER, exit_code INTEGER, attempts INTEGER, reason TEXT, log_path TEXT, seq INTEGER NOT NULL, PRIMARY KEY (run_id, step));
    CREATE TABLE context_snapshots (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, who TEXT, ts TEXT, PRIMARY KEY (run_id, key));
    CREATE TABLE context_history (run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, who TEXT, ts TEXT, before TEXT, after TEXT, step TEXT, step_seq INTEGER, PRIMARY KEY (run_id, seq));
    CREATE TABLE analysis (run_id TEXT PRIMARY KEY, summary_text TEXT, metrics TEXT);
    INSERT INTO runs VALUES ('old', 'T', 'recipes/r.yaml', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'passed', 'h', '4.1.0', '{}');
    INSERT INTO step_metrics VALUES ('old', 'load', 1, 'passed', 5, 1, 0, 0, 1, NULL, NULL, 1);
    PRAGMA user_version = 1;`)
  raw.close()
  const store = await RunStore.open(path)
  const old = (await store.readRun('old'))!
  expect(old.steps).toEqual([expect.objectContaining({ step: 'load', status: 'passed', params: {}, envelope: null })])
  await store.beginRun({
    runId: 'new',
    testId: 'T',
    recipe: 'recipes/r.yaml',
    startTime: '2026-01-02T00:00:00Z',
    vitestVersion: '4',
    metadata: {},
  })
  await store.recordStep(
    'new',
    { ...step('load', 1), params: { src: 'Data/n.txt' }, envelope: { status: 'ok', metrics: { count: 3 } } },
    [],
    [],
  )
  expect((await store.readRun('new'))!.steps[0]).toMatchObject({
    params: { src: 'Data/n.txt' },
    envelope: { metrics: { count: 3 } },
  })
  await store.close()
  const check = new Database(path, { readonly: true })
  expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
  check.close()
})

test('findRun: last, an exact id, an unambiguous prefix; a sentence otherwise', async () => {
  const store = await RunStore.open(join(dir, 'find.sqlite'), 'reports/find.sqlite')
  expect(await store.findRun('last')).toEqual({
    error: 'reports/find.sqlite holds no runs yet: run a recipe first (npx vitest run recipes/)',
  })
  for (const [runId, recipe, start] of [
    ['20260101T000000Z-a-1111', 'recipes/a.yaml', '2026-01-01T00:00:00Z'],
    ['20260102T000000Z-b-2222', 'recipes/b.yaml', '2026-01-02T00:00:00Z'],
    ['20260102T000000Z-b-2233', 'recipes/b.yaml', '2026-01-02T00:00:01Z'],
  ]) {
    await store.beginRun({
      runId: runId!,
      testId: 'T',
      recipe: recipe!,
      startTime: start!,
      vitestVersion: '4',
      metadata: {},
    })
  }
  expect(await store.findRun('last')).toEqual({ runId: '20260102T000000Z-b-2233' })
  expect(await store.findRun('last', 'recipes/a.yaml')).toEqual({ runId: '20260101T000000Z-a-1111' })
  expect(await store.findRun('20260101')).toEqual({ runId: '20260101T000000Z-a-1111' })
  expect(await store.findRun('20260102T000000Z-b-22')).toEqual({
    error: expect.stringContaining('matches several runs (20260102T000000Z-b-2233, 20260102T000000Z-b-2222)'),
  })
  expect(await store.findRun('2026%')).toEqual({
    error: 'no run "2026%" in reports/find.sqlite: `recipes history <test_id>` lists recent runs',
  })
  await store.close()
})

test('trend: the last finished runs of a test id up to a given run, oldest first, with durations and numeric metrics', async () => {
  const store = await RunStore.open(join(dir, 'trend.sqlite'))
  const begin = async (runId: string, testId: string, startTime: string) =>
    await store.beginRun({ runId, testId, recipe: 'recipes/t.yaml', startTime, vitestVersion: '4', metadata: {} })
  const measure = async (
    runId: string,
    value: number,
    metrics: unknown = { rate: value, nested: { p99: value * 2 }, label: 'x' },
  ) =>
    await store.recordStep(
      runId,
      { ...step('measure', 1), durationMs: value, envelope: { status: 'ok', metrics } as never },
      [],
      [],
    )
  for (const [n, start] of ['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04'].entries()) {
    await begin(`t${n}`, 'TREND-1', `${start}T00:00:00Z`)
    await measure(`t${n}`, n + 1)
    await store.finishRun(`t${n}`, 'passed')
  }
  // Another test id, a run still going, and a step whose metrics are not an object: none of them counts.
  await begin('other', 'TREND-2', '2026-01-02T12:00:00Z')
  await store.finishRun('other', 'passed')
  await begin('open', 'TREND-1', '2026-01-02T18:00:00Z')
  await begin('scalar', 'TREND-1', '2026-01-02T20:00:00Z')
  await measure('scalar', 9, 'not an object')
  await store.finishRun('scalar', 'passed')

  const trend = await store.trend('TREND-1', 't2', 3)
  expect(trend.map((run) => run.runId)).toEqual(['t1', 'scalar', 't2'])
  // Each step also carries the figures the analysis compares (cpuMs, peakRssBytes, attempts).
  expect(trend[0]).toMatchObject({
    runId: 't1',
    startTime: '2026-01-02T00:00:00Z',
    status: 'passed',
    steps: [{ step: 'measure', idx: 1, status: 'passed', durationMs: 2, metrics: { rate: 2, 'nested.p99': 4 } }],
  })
  expect(trend[1]!.steps[0]!.metrics).toEqual({})
  // The run asked about counts while it goes; an unknown run gives none.
  expect((await store.trend('TREND-1', 'open', 10)).map((run) => run.runId)).toEqual(['t0', 't1', 'open'])
  expect(await store.trend('TREND-1', 'no-such-run', 10)).toEqual([])
  await store.close()
})

// A new store opened by several processes at once (a run starting while `recipes ctx` polls,
// shards sharing RECIPES_DB): each migrates under the write lock, so none finds a table another
// just created. The processes use the built store (dist/), as the CLI and the Vitest process do.
test('processes opening a new store at the same moment all succeed, and it is migrated once', async () => {
  const { spawn } = await import('node:child_process')
  const store = join(REPO, 'dist/store/run-store.js')
  const code = `const { RunStore } = await import(${JSON.stringify(store)}); (await RunStore.open(process.argv[1])).close()`
  for (let round = 0; round < 8; round++) {
    const path = join(dir, `raced-${round}.sqlite`)
    const exits = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<string>((resolve) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', code, path], {
              stdio: ['ignore', 'ignore', 'pipe'],
            })
            let stderr = ''
            child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
            child.on('close', (exit) => resolve(exit === 0 ? 'opened' : stderr.trim()))
          }),
      ),
    )
    expect(exits).toEqual(Array(6).fill('opened'))
    const db = new Database(path, { readonly: true })
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
    db.close()
  }
}, 60_000)

test('a run imported at --merge-reports is told a selection run from its steps: those that ran in their own tests, and their setup', async () => {
  const meta = (step: string, idx: number, extra: { setup?: string[]; setupFor?: string } = {}) => ({
    step,
    idx,
    setup: extra.setup ?? [],
    ...(extra.setupFor ? { setupFor: extra.setupFor } : {}),
  })
  // A full run: every test of the file ran as itself.
  expect(selectionOfSteps([meta('a', 1), meta('b', 2), meta('c', 3)], 3)).toBeUndefined()
  // -t c: a and b ran as setup (one of them without its own meta, as Vitest 5 may report it).
  expect(selectionOfSteps([meta('c', 3, { setup: ['a', 'b'] }), meta('b', 2, { setupFor: 'c' })], 4)).toEqual({
    selected: ['c'],
    setup: ['a', 'b'],
  })
})

/** Each table's columns and each index of the SQLite store at `path`, to compare with a new store's. */
function schemaOf(path: string): Record<string, string[]> {
  const db = new Database(path, { readonly: true })
  try {
    const tables = db
      .prepare("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as {
      name: string
      type: string
    }[]
    return Object.fromEntries(
      tables.map(({ name, type }) => [
        name,
        type === 'table'
          ? (db.pragma(`table_info(${name})`) as { name: string }[]).map((column) => column.name)
          : [type],
      ]),
    )
  } finally {
    db.close()
  }
}

test('a half-migrated store (a migration applied, its version not written; or a column or table missing under the current version) is completed at open, keeping its runs', async () => {
  const fresh = join(dir, 'fresh.sqlite')
  await (await RunStore.open(fresh)).close()
  const wanted = schemaOf(fresh)
  const recorded = async (path: string) => {
    const store = await RunStore.open(path)
    await store.beginRun({
      runId: 'kept',
      testId: 'T',
      recipe: 'recipes/r.yaml',
      startTime: '2026-01-01T00:00:00Z',
      vitestVersion: '4',
      metadata: {},
    })
    await store.recordStep('kept', step('load', 1), [], [])
    await store.finishRun('kept', 'passed')
    await store.close()
  }
  const damages = {
    // The last migration's column is there, its version is not: migrating again said "duplicate column name".
    'version-behind': `PRAGMA user_version = ${SCHEMA_VERSION - 1}`,
    // The current version, with a column and a table of it missing: every record failed with "no such column".
    'parts-missing': 'ALTER TABLE step_metrics DROP COLUMN start_time; DROP TABLE analysis; DROP INDEX runs_by_test',
  }
  for (const [name, damage] of Object.entries(damages)) {
    const path = join(dir, `${name}.sqlite`)
    await recorded(path)
    const raw = new Database(path)
    raw.exec(damage)
    raw.close()
    const store = await RunStore.open(path, `reports/${name}.sqlite`)
    expect(
      (await store.readRun('kept'))?.steps.map((row) => row.step),
      name,
    ).toEqual(['load'])
    await store.beginRun({
      runId: 'next',
      testId: 'T',
      recipe: 'recipes/r.yaml',
      startTime: '2026-01-02T00:00:00Z',
      vitestVersion: '4',
      metadata: {},
    })
    await store.recordStep('next', { ...step('load', 1), startTime: '2026-01-02T00:00:01Z' }, [], [])
    await store.close()
    expect(schemaOf(path), name).toEqual(wanted)
    const check = new Database(path, { readonly: true })
    expect(check.pragma('user_version', { simple: true }), name).toBe(SCHEMA_VERSION)
    check.close()
  }
})
