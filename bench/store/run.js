#!/usr/bin/env node
// Run-store benchmark: what the SQLite run store costs at each step boundary, and how long the
// reports of a long run take to write. No Vitest: the script drives the built store and
// exporters (dist/) directly, in a temp dir.
//
//   1. flush cost per step: N steps of W ctx writes each, recorded with RunStore.recordStep
//      (one transaction per step, what the runtime does), against the same rows committed
//      one ctx.set at a time, and one row at a time (autocommit), on a second database;
//      plus recordStep of a step with no writes (the fixed cost of a step boundary)
//   2. export time of a 1,000-step run (10,000 ctx writes, 500 final ctx keys): reportStoredRun
//      per format (xlsx, docx, md, json), against JSON.stringify of the same run written with
//      writeFileSync; and the peak RSS growth of each, in a child process
//
// Prints medians over rounds and the ratios batched / per-write and format / JSON dump.
//
//   node bench/store/run.js [--steps 2000] [--writes 5] [--export-steps 1000] [--rounds 5] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs the package built
// (`npm run build`): it imports dist/store/run-store.js and dist/exporters/ directly.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  distLabel,
  failWith,
  median,
  ms as formatMs,
  PACKAGE_ROOT,
  parseFlags,
  parseRounds,
  positiveInteger,
  ratio,
  requireDist,
  roundLabel,
  stepName,
  table,
} from '../lib/harness.js'

const FORMATS = ['xlsx', 'docx', 'md', 'json']
/** Keys the export run's ctx writes cycle through: its final ctx has this many keys. */
const EXPORT_KEYS = 500
/** ctx writes per step of the export run. */
const EXPORT_WRITES = 10
/** Set in the child process that measures one export's peak RSS (see rssChild). */
const RSS_CHILD_ENV = 'VITEST_RECIPES_BENCH_STORE_RSS'
/** Said when a writer fails: the exporters load their writer modules from dist/ on use. */
const REBUILT = ` (is ${distLabel()} being rebuilt? \`npm run build\` deletes it first)`

const HELP = `Usage: node bench/store/run.js [options]

Measures the built run store and exporters (dist/) in a temp dir, no Vitest:
  1. flush cost per step: N steps of W ctx writes each recorded with RunStore.recordStep
     (one transaction per step) against the same rows committed one ctx.set at a time and
     one row at a time; and recordStep of a step with no writes (the fixed cost);
  2. export time of a long run (10 ctx writes per step, ${EXPORT_KEYS} final ctx keys): reportStoredRun
     per format (xlsx, docx, md, json) against a JSON.stringify + writeFileSync dump of the
     same run, and each one's peak RSS growth (measured in a child process);
  3. store growth per KB of appended data (600 appends of 1 KB), and a 100,000-write run;
  4. a step boundary on the PostgreSQL store against SQLite (bench/postgres), when
     RECIPES_BENCH_PG or RECIPES_TEST_PG names a server.

Options:
  --steps N          steps recorded per round in part 1 (default 2000)
  --writes N         ctx writes per step in part 1 (default 5)
  --export-steps N   steps of the run exported in part 2 (default 1000)
  --rounds N         rounds; the first is a warm-up and is not counted (default 5, at least 2)
  --keep             keep the temp dir (its path is printed) instead of deleting it
  -h, --help         show this help
`

const fail = failWith('store')

function parseOptions() {
  const values = parseFlags(
    {
      steps: { type: 'string', default: '2000' },
      writes: { type: 'string', default: '5' },
      'export-steps': { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5' },
    },
    HELP,
    fail,
  )
  return {
    steps: positiveInteger(values.steps, '--steps', fail),
    writes: positiveInteger(values.writes, '--writes', fail),
    exportSteps: positiveInteger(values['export-steps'], '--export-steps', fail),
    rounds: parseRounds(values.rounds, fail),
    keep: values.keep,
  }
}

/** A module of dist/, imported by file URL. */
const importDist = (file) => import(pathToFileURL(join(PACKAGE_ROOT, 'dist', file)).href)

// ---------------------------------------------------------------------------------------------
// Synthetic steps: what the runtime hands RunStore.recordStep

const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z')
const isoAt = (offsetMs) => new Date(BASE_TIME + offsetMs).toISOString()

/** A small ctx value, like a scriptlet's measurement. */
const ctxValue = (n) => ({ value: n, unit: 'ms', ok: n % 7 !== 0, samples: [n, n + 1, n + 2] })

/**
 * `steps` step boundaries as recordStep takes them: the step record, its ctx writes
 * (ContextWrite: ts, who, key, before, after) and the current values of the keys it changed.
 * Keys cycle through `keys` names, so later writes replace earlier values (`before` is set).
 * `record(i, name, keysWritten)` gives the rest of each step record.
 */
function syntheticSteps(steps, writes, keys, record) {
  const current = new Map()
  let n = 0
  return Array.from({ length: steps }, (_, i) => {
    const name = stepName(i + 1, steps)
    const stepWrites = []
    for (let j = 0; j < writes; j++, n++) {
      const key = `bench.item_${String(n % keys).padStart(3, '0')}_v1`
      const after = ctxValue(n)
      stepWrites.push({ ts: isoAt(n), who: name, key, before: current.get(key), after })
      current.set(key, after)
    }
    const changed = [...new Set(stepWrites.map((write) => write.key))]
    return {
      record: { step: name, idx: i, ...record(i, name, changed) },
      writes: stepWrites,
      values: changed.map((key) => [key, current.get(key)]),
    }
  })
}

/** Part 1's steps: all passed, a small ok envelope naming the keys written. */
const flushStep = (i, _name, keys) => ({
  status: 'passed',
  durationMs: 1.5,
  cpuMs: 1.2,
  peakRssBytes: 80_000_000,
  exitCode: null,
  attempts: 1,
  reason: null,
  logPath: null,
  params: { i },
  envelope: { status: 'ok', outputs: keys, artifacts: [], metrics: {}, warnings: [] },
})

/** Part 2's steps: 70% passed, 10% each failed, blocked, skipped; 3 numeric metrics per run step. */
function exportStep(i, name, keys) {
  const params = {
    target: `host-${i % 8}`,
    retries: i % 3,
    options: { mode: i % 2 ? 'fast' : 'thorough', tags: ['bench', `group-${i % 10}`] },
  }
  const common = {
    durationMs: 5 + (i % 97) * 1.7,
    cpuMs: 3 + (i % 89),
    peakRssBytes: 90_000_000 + i * 1024,
    exitCode: null,
    attempts: 1,
    reason: null,
    logPath: `.logs/${name}.log`,
    params,
  }
  const metrics = { latency_ms: 10 + (i % 50) * 0.5, count: i, throughput: 1000 / (1 + (i % 13)) }
  switch (i % 10) {
    case 3:
      return {
        ...common,
        status: 'failed',
        exitCode: 1,
        attempts: 2,
        reason: `measured latency ${metrics.latency_ms} ms is above the limit of 30 ms on ${params.target}`,
        envelope: {
          status: 'error',
          reason: `latency above limit on ${params.target}`,
          details: { limit: 30, measured: metrics.latency_ms },
          exit_code: 1,
          step: name,
          ts: isoAt(i),
          metrics,
        },
      }
    case 6:
      return {
        ...common,
        status: 'blocked',
        durationMs: 0,
        cpuMs: 0,
        peakRssBytes: 0,
        reason: `blocked: step ${name.replace(/\d+$/, (n) => String(Number(n) - 3).padStart(n.length, '0'))} failed`,
        envelope: null,
      }
    case 9:
      return {
        ...common,
        status: 'skipped',
        durationMs: 0,
        cpuMs: 0,
        peakRssBytes: 0,
        reason: 'skipped: --skip',
        envelope: null,
      }
    default:
      return {
        ...common,
        status: 'passed',
        envelope: { status: 'ok', outputs: keys.slice(0, 3), artifacts: [`out/${name}.csv`], metrics, warnings: [] },
      }
  }
}

// ---------------------------------------------------------------------------------------------
// Part 1: flush cost per step

// The statements RunStore.recordStep runs (plugin/store/run-store.ts), for the baselines below.
const INSERT_STEP = `INSERT OR REPLACE INTO step_metrics (run_id, step, idx, status, duration_ms, cpu_ms, peak_rss_bytes, exit_code, attempts, reason, log_path, seq, params, envelope)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
const INSERT_HISTORY =
  'INSERT INTO context_history (run_id, seq, key, who, ts, before, after, step, step_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'
const UPSERT_VALUE = 'INSERT OR REPLACE INTO context_snapshots (run_id, key, value, who, ts) VALUES (?, ?, ?, ?, ?)'

const json = (value) => (value === undefined ? null : JSON.stringify(value))

const runStart = (runId) => ({
  runId,
  testId: 'BENCH-STORE',
  recipe: 'recipes/bench-store.yaml',
  startTime: isoAt(0),
  vitestVersion: 'bench',
  metadata: { test_meta: { test_id: 'BENCH-STORE', description: 'bench/store/run.js' } },
})

/** A fresh store at `path` with one run begun: the schema RunStore creates, in WAL mode. */
async function freshStore(RunStore, path, runId) {
  const store = await RunStore.open(path)
  await store.beginRun(runStart(runId))
  return store
}

/** µs per step of RunStore.recordStep: one transaction per step boundary, the runtime's way. */
async function timeRecordStep(RunStore, path, steps) {
  const store = await freshStore(RunStore, path, 'run-batched')
  try {
    const started = performance.now()
    for (const step of steps) await store.recordStep('run-batched', step.record, step.writes, step.values)
    return ((performance.now() - started) * 1000) / steps.length
  } finally {
    await store.close()
  }
}

/**
 * µs per step of the same rows committed without batching, on a store of the same schema and
 * pragmas (created by RunStore.open, then reopened with better-sqlite3 itself):
 *
 * - `perSet`: what a write-through store would do, one transaction per ctx.set (its history
 *   row and the key's current value together, so a reader never sees one without the other),
 *   plus one for the step row at the boundary: W + 1 commits per step instead of 1.
 * - `perRow`: every row its own autocommit INSERT: 1 + 2W commits per step.
 *
 * Same statements, same JSON serialization, same rows as recordStep: only where the
 * transactions end differs. WAL with synchronous = NORMAL, as RunStore opens it, so a commit
 * appends to the WAL without an fsync; the cost compared is SQLite's per-commit work.
 */
async function timeUnbatched(RunStore, Database, path, steps, mode) {
  await (await freshStore(RunStore, path, 'run-unbatched')).close()
  const db = new Database(path, { timeout: 10_000 })
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    const insertStep = db.prepare(INSERT_STEP)
    const insertHistory = db.prepare(INSERT_HISTORY)
    const upsertValue = db.prepare(UPSERT_VALUE)
    const runId = 'run-unbatched'
    const history = (write, seq, step, stepSeq) =>
      insertHistory.run(
        runId,
        seq,
        write.key,
        write.who,
        write.ts,
        json(write.before),
        json(write.after),
        step,
        stepSeq,
      )
    const value = (write) => upsertValue.run(runId, write.key, JSON.stringify(write.after), write.who, write.ts)
    const setInOneTransaction = db.transaction((write, seq, step, stepSeq) => {
      history(write, seq, step, stepSeq)
      value(write)
    })
    let historySeq = 0
    let stepSeq = 0
    const started = performance.now()
    for (const { record, writes } of steps) {
      stepSeq++
      for (const write of writes) {
        if (mode === 'perSet') setInOneTransaction(write, ++historySeq, record.step, stepSeq)
        else {
          history(write, ++historySeq, record.step, stepSeq)
          value(write)
        }
      }
      insertStep.run(
        runId,
        record.step,
        record.idx,
        record.status,
        record.durationMs,
        record.cpuMs,
        record.peakRssBytes,
        record.exitCode,
        record.attempts,
        record.reason,
        record.logPath,
        stepSeq,
        json(record.params),
        json(record.envelope ?? undefined),
      )
    }
    return ((performance.now() - started) * 1000) / steps.length
  } finally {
    db.close()
  }
}

async function measureFlush(dir, { steps, writes, rounds }) {
  const { RunStore } = await importDist('store/run-store.js')
  const Database = (await import('better-sqlite3')).default
  const withWrites = syntheticSteps(steps, writes, EXPORT_KEYS, flushStep)
  const noWrites = syntheticSteps(steps, 0, EXPORT_KEYS, flushStep)
  const variants = {
    batched: (path) => timeRecordStep(RunStore, path, withWrites),
    perSet: (path) => timeUnbatched(RunStore, Database, path, withWrites, 'perSet'),
    perRow: (path) => timeUnbatched(RunStore, Database, path, withWrites, 'perRow'),
    empty: (path) => timeRecordStep(RunStore, path, noWrites),
  }
  const names = Object.keys(variants)
  const counted = []
  for (let i = 0; i < rounds; i++) {
    const round = {}
    // Rotate the order between rounds: none always runs first (cold page cache, GC debt).
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length]
      const path = join(dir, `flush-${i + 1}-${name}.sqlite`)
      round[name] = await variants[name](path)
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
    }
    const us = (value) => `${value.toFixed(1)} µs`
    console.log(
      `${roundLabel(i)}  recordStep ${us(round.batched)}, per ctx.set ${us(round.perSet)}, per row ${us(round.perRow)}, no writes ${us(round.empty)}  (per step)`,
    )
    if (i > 0) counted.push(round)
  }
  return Object.fromEntries(names.map((name) => [name, median(counted.map((round) => round[name]))]))
}

function printFlush(flush, { steps, writes, rounds }) {
  const us = (value) => `${value.toFixed(1)} µs`
  const perWrite = (value) => `${(value / writes).toFixed(1)} µs`
  const rows = [
    [
      `median over ${rounds - 1} rounds, ${steps} steps × ${writes} writes`,
      'per step',
      'per ctx write',
      'commits/step',
      'batched/this',
    ],
    ['recordStep: 1 transaction per step (the store)', us(flush.batched), perWrite(flush.batched), '1', '1.00x'],
    [
      '1 transaction per ctx.set (+1 for the step row)',
      us(flush.perSet),
      perWrite(flush.perSet),
      String(writes + 1),
      `${ratio(flush.batched, flush.perSet).toFixed(2)}x`,
    ],
    [
      '1 autocommit INSERT per row',
      us(flush.perRow),
      perWrite(flush.perRow),
      String(2 * writes + 1),
      `${ratio(flush.batched, flush.perRow).toFixed(2)}x`,
    ],
    ['recordStep of a step with no writes (fixed cost)', us(flush.empty), '', '1', ''],
  ]
  console.log(`\n${table(rows)}`)
  console.log(
    `\n(per ctx write: per step / ${writes}; a write is one context_history row plus one context_snapshots upsert)`,
  )
  console.log(
    `batched / per ctx.set: ${ratio(flush.batched, flush.perSet).toFixed(2)}x  (${ratio(flush.perSet, flush.batched).toFixed(1)}x faster to batch)`,
  )
  console.log(
    `recordStep cost per ctx write above the fixed cost: ${((flush.batched - flush.empty) / writes).toFixed(1)} µs`,
  )
}

// ---------------------------------------------------------------------------------------------
// Part 2: export time of a long run

/** Records the export run: `exportSteps` steps of 10 ctx writes, ending failed. */
async function buildExportRun(RunStore, path, exportSteps) {
  const runId = 'run-export'
  const store = await freshStore(RunStore, path, runId)
  try {
    for (const step of syntheticSteps(exportSteps, EXPORT_WRITES, EXPORT_KEYS, exportStep))
      await store.recordStep(runId, step.record, step.writes, step.values)
    await store.finishRun(runId, 'failed', isoAt(exportSteps * 100))
    const data = await store.readRun(runId)
    const expected = {
      steps: exportSteps,
      history: exportSteps * EXPORT_WRITES,
      context: Math.min(EXPORT_KEYS, exportSteps * EXPORT_WRITES),
    }
    const found = { steps: data?.steps.length, history: data?.history.count, context: data?.context.length }
    if (JSON.stringify(found) !== JSON.stringify(expected))
      fail(`the export run holds ${JSON.stringify(found)}, expected ${JSON.stringify(expected)}`)
    return runId
  } finally {
    await store.close()
  }
}

/** The cheapest possible dump, the baseline: read the run, JSON.stringify it whole, writeFileSync. */
async function jsonDump(store, runId, file) {
  const data = await store.readRun(runId)
  const history = []
  for await (const row of data.history.rows()) history.push(row)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify({ ...data, history }))
}

/** Fails unless `file` exists and is not empty. */
function requireOutput(file, what) {
  if (!existsSync(file)) fail(`${what} wrote no ${file}`)
  if (statSync(file).size === 0) fail(`${what} wrote an empty ${file}`)
  return statSync(file).size
}

/** One timed export: `format` with reportStoredRun (wall time, and the writer's own ms), or 'dump'. */
async function timeExport(modules, store, runId, dir, format) {
  if (format === 'dump') {
    const file = join(dir, 'dump.json')
    const started = performance.now()
    await jsonDump(store, runId, file)
    const wallMs = performance.now() - started
    return { wallMs, writerMs: wallMs, bytes: requireOutput(file, 'the JSON dump') }
  }
  const started = performance.now()
  const report = await modules.reportStoredRun(store, runId, dir, [format], (data) =>
    modules.analyzeStoredRun(store, data),
  )
  const wallMs = performance.now() - started
  const outcome = report?.outcomes[0]
  if (!outcome) fail(`reportStoredRun found no run ${runId}`)
  if (outcome.error) fail(`the ${format} report failed: ${outcome.error}${REBUILT}`)
  return { wallMs, writerMs: outcome.ms, bytes: requireOutput(outcome.file, `the ${format} report`) }
}

/**
 * The peak RSS growth of one export, in a fresh child process (this one's high-water mark is
 * already set by everything before): the child loads the store and the writer (exceljs,
 * docx), opens the store and collects its heap first, then exports (readRun included, as in
 * the timed rounds). Growth = the peak during the export − the RSS just before it; the peak is
 * the new maxRSS when the export raised it, else the highest RSS sampled every 2 ms.
 * Steady to about a MiB between runs.
 */
function measureRss(dbPath, runId, dir, format) {
  let out
  try {
    out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], {
      env: { ...process.env, [RSS_CHILD_ENV]: JSON.stringify({ dbPath, runId, dir, format }) },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
  } catch (error) {
    fail(
      `the child process measuring the peak RSS of ${format} failed (${error.status === null ? `signal ${error.signal}` : `exit code ${error.status}`}; its error is above)${REBUILT}`,
    )
  }
  return JSON.parse(out.trim().split('\n').at(-1))
}

async function rssChild({ dbPath, runId, dir, format }) {
  const { RunStore } = await importDist('store/run-store.js')
  const { reportStoredRun } = await importDist('exporters/report-run.js')
  const { analyzeStoredRun } = await importDist('analysis/index.js')
  if (format === 'xlsx') await importDist('exporters/xlsx.js')
  if (format === 'docx') await importDist('exporters/docx.js')
  const store = await RunStore.open(dbPath)
  try {
    globalThis.gc?.() // the child runs with --expose-gc: start from a collected heap
    const highWaterBefore = process.resourceUsage().maxRSS * 1024
    const rssBefore = process.memoryUsage.rss()
    // The writers are async (streams, zip): sample between their chunks too, for a peak that
    // stays under the high-water mark the child reached while loading.
    let sampled = rssBefore
    const sampler = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage.rss())), 2)
    if (format === 'dump') await jsonDump(store, runId, join(dir, 'dump.json'))
    else {
      const analyze = (data) => analyzeStoredRun(store, data)
      const outcome = (await reportStoredRun(store, runId, dir, [format], analyze))?.outcomes[0]
      if (!outcome || outcome.error) throw new Error(`the ${format} report failed: ${outcome?.error ?? 'no run'}`)
    }
    clearInterval(sampler)
    const highWaterAfter = process.resourceUsage().maxRSS * 1024
    // A new high-water mark is the export's peak; otherwise the samples are the best figure.
    const peak = highWaterAfter > highWaterBefore ? highWaterAfter : Math.max(sampled, process.memoryUsage.rss())
    process.stdout.write(
      `${JSON.stringify({ rssBefore, growth: peak - rssBefore, peak, newHighWater: highWaterAfter > highWaterBefore })}\n`,
    )
  } finally {
    await store.close()
  }
}

async function measureExport(dir, { exportSteps, rounds }) {
  const { RunStore } = await importDist('store/run-store.js')
  // As the reporter does: each run analysed (against its history), then its documents written.
  const modules = { ...(await importDist('exporters/report-run.js')), ...(await importDist('analysis/index.js')) }
  const dbPath = join(dir, 'export.sqlite')
  const started = performance.now()
  const runId = await buildExportRun(RunStore, dbPath, exportSteps)
  console.log(
    `recorded the run: ${exportSteps} steps, ${exportSteps * EXPORT_WRITES} ctx writes, ${Math.min(EXPORT_KEYS, exportSteps * EXPORT_WRITES)} final ctx keys (${formatMs(performance.now() - started, 0)})\n`,
  )

  const names = ['dump', ...FORMATS]
  const counted = []
  const store = await RunStore.open(dbPath)
  try {
    for (let i = 0; i < rounds; i++) {
      const round = {}
      // Rotate the order between rounds; the warm-up also pays for loading exceljs and docx.
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length]
        const out = join(dir, 'reports', `round-${i + 1}`)
        round[name] = await timeExport(modules, store, runId, out, name)
      }
      console.log(
        `${roundLabel(i)}  ${names.map((name) => `${name === 'dump' ? 'JSON dump' : name} ${formatMs(round[name].wallMs, 0)}`).join(', ')}`,
      )
      if (i > 0) counted.push(round)
      rmSync(join(dir, 'reports', `round-${i + 1}`), { recursive: true, force: true })
    }
  } finally {
    await store.close()
  }

  const rss = {}
  for (const name of names) rss[name] = measureRss(dbPath, runId, join(dir, 'reports', 'rss'), name)
  const pick = (name, field) => median(counted.map((round) => round[name][field]))
  return { names, rss, pick, bytes: (name) => counted.at(-1)[name].bytes }
}

function printExport({ names, rss, pick, bytes }, { exportSteps, rounds }) {
  const mib = (value) => `${(value / 1024 / 1024).toFixed(1)} MiB`
  const kib = (value) => `${(value / 1024).toFixed(0)} KiB`
  const dump = pick('dump', 'wallMs')
  const rows = [
    [
      `median over ${rounds - 1} rounds, ${exportSteps} steps`,
      'report',
      'writer alone',
      'report/dump',
      'file',
      'peak RSS growth',
    ],
  ]
  for (const name of names) {
    const label = name === 'dump' ? 'JSON dump (baseline)' : `${name} (reportStoredRun)`
    rows.push([
      label,
      formatMs(pick(name, 'wallMs')),
      name === 'dump' ? '' : formatMs(pick(name, 'writerMs')),
      `${ratio(pick(name, 'wallMs'), dump).toFixed(2)}x`,
      kib(bytes(name)),
      mib(rss[name].growth),
    ])
  }
  console.log(`\n${table(rows)}`)
  console.log(`\n(report: reportStoredRun wall time, one format at a time: readRun + analysis + the writer + rename;`)
  console.log(` writer alone: the ms its outcome reports; JSON dump: readRun + JSON.stringify + writeFileSync;`)
  console.log(
    ` peak RSS growth: in a fresh child process, the peak RSS during the report (readRun included) − the RSS before it,`,
  )
  console.log(` writer already loaded and heap collected)`)
  console.log(
    `xlsx / JSON dump: ${ratio(pick('xlsx', 'wallMs'), dump).toFixed(2)}x; xlsx peak RSS growth ${mib(rss.xlsx.growth)} (peak ${mib(rss.xlsx.peak)})`,
  )
}

// ---------------------------------------------------------------------------------------------
// 3. Store growth per KB of appended data (issue 24): a list that gets N items of 1 KB, each
// write recorded as a session records it (history-delta.ts: the item, not the whole list),
// through a run journal and ingested, as under `vitest run`. Once with all appends in one step,
// once with one append per step boundary; then a 100,000-write run's RSS growth.

/** Set in the child process that records the 100,000-write run alone, so its peak RSS is its own. */
const GROWTH_CHILD_ENV = 'VITEST_RECIPES_BENCH_STORE_GROWTH'

async function measureGrowth(dir, { manyOnly = false } = {}) {
  const { RunStore } = await importDist('store/run-store.js')
  const { RunJournal } = await importDist('store/journal.js')
  const { HistoryTracker } = await importDist('store/history-delta.js')
  const { Context } = await importDist('context/context.js')
  const row = (name, idx) => ({
    step: name,
    idx,
    status: 'passed',
    durationMs: 1,
    cpuMs: 0,
    peakRssBytes: 0,
    exitCode: 0,
    attempts: 1,
    reason: null,
    logPath: null,
  })
  const record = async (path, runId, boundaries, writesPerBoundary, write) => {
    await (await RunStore.open(path)).close()
    const before = statSync(path).size
    const journal = RunJournal.create(path, 'growth.sqlite', runId)
    const tracker = new HistoryTracker()
    const ctx = new Context()
    journal.beginRun({
      runId,
      testId: 'G',
      recipe: 'g.yaml',
      startTime: new Date().toISOString(),
      vitestVersion: '4',
      metadata: {},
    })
    let n = 0
    for (let b = 0; b < boundaries; b++) {
      const writes = []
      for (let w = 0; w < writesPerBoundary; w++) writes.push(write(ctx, n++))
      const { writes: recorded, commit } = tracker.track(writes)
      const keys = [...new Set(writes.map((item) => item.key))]
      journal.recordStep(
        runId,
        row(`s${b}`, b + 1),
        recorded,
        keys.map((key) => [key, ctx.get(key)]),
      )
      commit()
    }
    journal.finishRun(runId, 'passed')
    const journalBytes = statSync(journal.path).size
    journal.close()
    await (await RunStore.open(path)).close()
    const wal = existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0
    return { journalBytes, growth: statSync(path).size + wal - before }
  }
  const item = (n) => ({ n, text: String(n % 10).repeat(1000) })
  const append = (ctx, n) =>
    ctx.set('samples.list_v1', [...(ctx.get('samples.list_v1') ?? []), item(n)], { who: 'sampler' })
  if (manyOnly) {
    // In a fresh process: its peak RSS (the kernel's high-water mark) over the run is the run's.
    const rssBefore = process.memoryUsage().rss
    const many = await record(join(dir, 'growth-100k.sqlite'), 'g100k', 1000, 100, (ctx, n) =>
      ctx.set(`load.key_${n % 500}_v1`, { n, rate: n * 1.5 }, { who: 'load' }),
    )
    return {
      many,
      peakGrowth: process.resourceUsage().maxRSS * 1024 - rssBefore,
      peak: process.resourceUsage().maxRSS * 1024,
    }
  }
  const appendedKb = (600 * JSON.stringify(item(0)).length) / 1024
  const oneStep = await record(join(dir, 'growth-1.sqlite'), 'g1', 1, 600, append)
  const boundaries = await record(join(dir, 'growth-600.sqlite'), 'g600', 600, 1, append)
  const child = execFileSync(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, [GROWTH_CHILD_ENV]: dir },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const { many, peakGrowth, peak } = JSON.parse(child.trim().split('\n').at(-1))
  return { appendedKb, oneStep, boundaries, many, rssGrowth: peakGrowth, peak }
}

function printGrowth({ appendedKb, oneStep, boundaries, many, rssGrowth, peak }) {
  const mib = (value) => `${(value / 1024 / 1024).toFixed(1)} MiB`
  const kib = (value) => `${(value / 1024).toFixed(0)} KiB`
  const perKb = (bytes) => `${(bytes / 1024 / appendedKb).toFixed(2)} KB/KB`
  console.log(
    `\n${table([
      ['600 appends of 1 KB', 'store growth', 'store growth per KB appended', 'journal (largest)'],
      ['in one step', kib(oneStep.growth), perKb(oneStep.growth), kib(oneStep.journalBytes)],
      ['one per step boundary', kib(boundaries.growth), perKb(boundaries.growth), kib(boundaries.journalBytes)],
    ])}`,
  )
  console.log(
    `(${appendedKb.toFixed(0)} KB appended; the store keeps each item in the history and once in the final ctx)`,
  )
  console.log(
    `100,000 ctx writes (1,000 boundaries × 100, 500 keys): store growth ${mib(many.growth)}, journal ${mib(many.journalBytes)}, peak RSS growth ${mib(rssGrowth)} (peak ${mib(peak)}, in a process of its own)`,
  )
}

// ---------------------------------------------------------------------------------------------

/**
 * Part 4: bench/postgres's step boundary figure (PostgreSQL / SQLite, measured side by side in
 * its own process), when a server is named (--postgres, RECIPES_BENCH_PG or RECIPES_TEST_PG).
 */
function measurePostgresBoundary() {
  const url = process.env.RECIPES_BENCH_PG ?? process.env.RECIPES_TEST_PG
  if (!url) {
    console.log('   no PostgreSQL server named (RECIPES_BENCH_PG or RECIPES_TEST_PG): not measured')
    return
  }
  try {
    const out = execFileSync(
      process.execPath,
      [join(PACKAGE_ROOT, 'bench/postgres/run.js'), '--postgres', url, '--rounds', '3', '--steps', '300'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    )
    for (const line of out.trimEnd().split('\n')) console.log(`   ${line}`)
  } catch (error) {
    console.log(`   could not measure: ${error.message.split('\n')[0]}`)
  }
}

async function main() {
  const options = parseOptions()
  requireDist(
    [
      'dist/store/run-store.js',
      'dist/exporters/index.js',
      'dist/exporters/report-run.js',
      'dist/exporters/xlsx.js',
      'dist/exporters/docx.js',
    ],
    fail,
  )
  const started = performance.now()
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'vitest-recipes-store-')))
  // fail() exits at once, past the finally below: delete the temp dir on the way out too.
  if (!options.keep) process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  console.log(`vitest-recipes run store: flush cost per step, and export time of a ${options.exportSteps}-step run`)
  console.log(
    `${availableParallelism()} CPU(s) available; ${options.rounds} rounds, the first one a warm-up; better-sqlite3, WAL, synchronous = NORMAL`,
  )
  console.log(`temp dir: ${dir}\n`)
  try {
    console.log(
      `1. flush cost per step: ${options.steps} steps × ${options.writes} ctx writes, a fresh database per round and variant`,
    )
    const flush = await measureFlush(dir, options)
    printFlush(flush, options)

    console.log(`\n2. export time of a ${options.exportSteps}-step run`)
    const exported = await measureExport(dir, options)
    printExport(exported, options)

    console.log('\n3. store growth per KB of appended data, and a 100,000-write run')
    printGrowth(await measureGrowth(dir))

    console.log('\n4. a step boundary on the PostgreSQL store against SQLite (bench/postgres, in the same run)')
    measurePostgresBoundary()
  } finally {
    if (options.keep) console.log(`\nkept the temp dir: ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
  console.log(`\ntotal: ${formatMs(performance.now() - started, 0)}`)
  // A measurement, not a test: whatever the figures, exit 0.
  process.exitCode = 0
}

if (process.env[GROWTH_CHILD_ENV])
  console.log(JSON.stringify(await measureGrowth(process.env[GROWTH_CHILD_ENV], { manyOnly: true })))
else if (process.env[RSS_CHILD_ENV]) await rssChild(JSON.parse(process.env[RSS_CHILD_ENV]))
else await main()
