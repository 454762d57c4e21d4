#!/usr/bin/env node
// PostgreSQL store benchmark: what a step boundary costs on the PostgreSQL run store (a server
// on loopback) against the SQLite store, in the same run. Per round, N steps of W ctx writes
// are recorded with RunStore.recordStep (one transaction per step, the runtime's way) into a
// fresh SQLite file and into a fresh PostgreSQL database; the order alternates between rounds.
//
// Prints µs per step for each, and PostgreSQL / SQLite.
//
//   node bench/postgres/run.js [--postgres URL] [--steps 500] [--writes 5] [--rounds 5] [--keep]
//
// The URL (or RECIPES_BENCH_PG, or RECIPES_TEST_PG) names a server and a user with CREATEDB:
// the benchmark creates a database of its own and drops it. Without one it says so and exits 0.
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs `npm run build`.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  failWith,
  median,
  PACKAGE_ROOT,
  parseFlags,
  parseRounds,
  positiveInteger,
  ratio,
  requireDist,
  roundLabel,
  stepName,
} from '../lib/harness.js'
import { postgresUrlOf, scratchDatabase } from '../lib/postgres.js'

const HELP = `Usage: node bench/postgres/run.js [--postgres URL] [--steps 500] [--writes 5] [--rounds 5] [--keep]

The cost of a step boundary (RunStore.recordStep) on the PostgreSQL store against SQLite.
The server: --postgres, else RECIPES_BENCH_PG, else RECIPES_TEST_PG (a user with CREATEDB).
`
const fail = failWith('postgres')
const values = parseFlags(
  {
    postgres: { type: 'string' },
    steps: { type: 'string', default: '500' },
    writes: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
  },
  HELP,
  fail,
)
const steps = positiveInteger(values.steps, '--steps', fail)
const writes = positiveInteger(values.writes, '--writes', fail)
const rounds = parseRounds(values.rounds, fail)
const url = postgresUrlOf(values.postgres)
if (!url) {
  process.stdout.write('skipped: no PostgreSQL (give --postgres URL, or set RECIPES_BENCH_PG)\n')
  process.exit(0)
}
requireDist(['dist/store/run-store.js'], fail)
const { RunStore } = await import(pathToFileURL(join(PACKAGE_ROOT, 'dist/store/run-store.js')).href)

/** `count` step boundaries of `perStep` ctx writes, as the runtime hands them to recordStep. */
function boundaries(count, perStep) {
  let n = 0
  return Array.from({ length: count }, (_, i) => {
    const name = stepName(i + 1, count)
    const stepWrites = Array.from({ length: perStep }, () => {
      n++
      return {
        ts: new Date().toISOString(),
        who: name,
        key: `bench.item_${n % 200}_v1`,
        after: { value: n, unit: 'ms' },
      }
    })
    return {
      record: {
        step: name,
        idx: i,
        status: 'passed',
        durationMs: 1.5,
        cpuMs: 1.2,
        peakRssBytes: 80_000_000,
        exitCode: null,
        attempts: 1,
        reason: null,
        logPath: null,
        params: { i },
        envelope: { status: 'ok', outputs: stepWrites.map((write) => write.key), metrics: {} },
      },
      writes: stepWrites,
      values: stepWrites.map((write) => [write.key, write.after]),
    }
  })
}

/** µs per step of recordStep into `store`, one run. */
async function timeSteps(store, runId, input) {
  await store.beginRun({
    runId,
    testId: 'BENCH-PG',
    recipe: 'recipes/bench.yaml',
    startTime: new Date().toISOString(),
    vitestVersion: 'bench',
    metadata: {},
  })
  const started = performance.now()
  for (const step of input) await store.recordStep(runId, step.record, step.writes, step.values)
  const perStep = ((performance.now() - started) * 1000) / input.length
  await store.finishRun(runId, 'passed')
  return perStep
}

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-bench-pg-'))
const database = await scratchDatabase(url, 'steps')
const input = boundaries(steps, writes)
const results = { sqlite: [], postgres: [] }
try {
  const sqlite = await RunStore.open(join(dir, 'bench.sqlite'))
  const postgres = await RunStore.openPostgres(database.url, 'bench', join(dir, 'pg'))
  const stores = { sqlite, postgres }
  for (let round = 0; round < rounds; round++) {
    const figures = {}
    const order = round % 2 === 0 ? ['sqlite', 'postgres'] : ['postgres', 'sqlite']
    for (const name of order) figures[name] = await timeSteps(stores[name], `run-${round}`, input)
    if (round > 0) for (const name of order) results[name].push(figures[name])
    process.stdout.write(
      `${roundLabel(round)}  SQLite ${figures.sqlite.toFixed(0)} µs/step, PostgreSQL ${figures.postgres.toFixed(0)} µs/step\n`,
    )
  }
  await sqlite.close()
  await postgres.close()
} finally {
  await database.drop()
  if (values.keep) process.stdout.write(`kept ${dir}\n`)
  else rmSync(dir, { recursive: true, force: true })
}

const lite = median(results.sqlite)
const server = median(results.postgres)
process.stdout.write(`
median over ${rounds - 1} rounds, ${steps} steps of ${writes} ctx writes each (one transaction per step)
  SQLite (WAL, synchronous=NORMAL)            ${lite.toFixed(0)} µs per step
  PostgreSQL on ${new URL(url).hostname} (commit waits for its WAL flush)   ${server.toFixed(0)} µs per step  (${ratio(server, lite).toFixed(1)}x SQLite)
`)
