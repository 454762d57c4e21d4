#!/usr/bin/env node
// Reports benchmark: how long the end-of-run documents (report.xlsx, .docx, .md, .html) take to write.
//
//   1. the example recipes (recipes/ of this repository) in a real `vitest run recipes/`, a
//      child process per run, with the default reports and with `reports: false`: the time
//      from the end of the tests (onTestRunEnd) to the process's exit, the difference being
//      what the documents add to the run
//   2. a 1,000-step run (10 ctx writes per step, 500 final ctx keys) stored with the built
//      store (dist/): its xlsx + docx with reportStoredRun, against a JSON dump of the same run
//   3. a run whose ctx holds 100,000 keys (and a few large values): its xlsx + docx + md in a
//      fresh child process, the wall time and the process's peak RSS, against the JSON dump;
//      and its report.html alone
//
// Prints medians over rounds with each target beside its figure.
//
//   node bench/reports/run.js [--rounds 3] [--steps 1000] [--keys 100000] [--skip-recipes] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs the package built
// (`npm run build`): the throwaway project and parts 2 and 3 import dist/.
import { execFileSync, spawn } from 'node:child_process'
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  createProject,
  failWith,
  finishProject,
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

/** Set in the child process that writes one run's documents (see documentsChild). */
const CHILD_ENV = 'VITEST_RECIPES_BENCH_REPORTS_CHILD'
/** Where the timing reporter of part 1 writes the time the tests ended (epoch ms). */
const RUN_END_FILE = '.bench-run-end'

const HELP = `Usage: node bench/reports/run.js [options]

Measures the end-of-run documents (report.xlsx, report.docx, report.md, report.html):
  1. the example recipes in a real \`vitest run recipes/\` (a child process per run), with the
     default reports against the same run with reports: false: the time from the end of the
     tests to the process's exit, and the difference (target: documents at most 0.5 s);
  2. xlsx + docx of a 1,000-step run stored with the built store (target: at most 1.5 s);
  3. xlsx + docx + md of a run whose ctx holds 100,000 keys, in a fresh child process
     (targets: at most 10 s and 500 MB peak RSS); docx alone and html alone beside it.

Options:
  --rounds N       rounds of parts 1 and 2; the first is a warm-up and is not counted (default 3, at least 2)
  --steps N        steps of the run in part 2 (default 1000)
  --keys N         ctx keys of the run in part 3 (default 100000)
  --skip-recipes   leave out part 1 (the slowest: two Vitest runs per round)
  --keep           keep the temp dirs (their paths are printed) instead of deleting them
  -h, --help       show this help
`

const fail = failWith('reports')

function parseOptions() {
  const values = parseFlags(
    {
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '1000' },
      keys: { type: 'string', default: '100000' },
      'skip-recipes': { type: 'boolean', default: false },
    },
    HELP,
    fail,
  )
  return {
    rounds: parseRounds(values.rounds, fail),
    steps: positiveInteger(values.steps, '--steps', fail),
    keys: positiveInteger(values.keys, '--keys', fail),
    skipRecipes: values['skip-recipes'],
    keep: values.keep,
  }
}

/** A module of dist/, imported by file URL. */
const importDist = (file) => import(pathToFileURL(join(PACKAGE_ROOT, 'dist', file)).href)

/** user + system CPU time of a process.cpuUsage() difference, in ms (every thread of the process). */
const cpuMs = ({ user, system }) => (user + system) / 1000
const seconds = (value) => `${(value / 1000).toFixed(2)} s`
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`
const verdict = (value, limit) => (value <= limit ? 'within target' : 'OVER target')

// ---------------------------------------------------------------------------------------------
// Part 1: the example recipes in a real `vitest run recipes/`

/** A reporter that writes the epoch time the tests ended (the start of the documents) to RUN_END_FILE. */
const TIMING_REPORTER = `import { writeFileSync } from 'node:fs'
export default class RunEndReporter {
  onTestRunEnd() {
    writeFileSync(${JSON.stringify(RUN_END_FILE)}, String(performance.timeOrigin + performance.now()))
  }
}
`

const configWith = (plugin) => `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

export default defineConfig({
  plugins: [${plugin}],
  test: { include: ['tests/**/*.test.ts'], reporters: ['default', './timing-reporter.mjs'] },
})
`

/** How many example recipes the repository has (the issue's figure was taken with 10; 09 and example_ctx came later). */
const EXAMPLE_COUNT = readdirSync(join(PACKAGE_ROOT, 'recipes')).filter((name) => /\.ya?ml$/.test(name)).length

/** The example workspace: this repository's recipes and everything they read. */
function createExampleProject() {
  const project = createProject('reports', 'recipes()')
  for (const folder of ['recipes', 'scriptlets', 'Data', 'templates'])
    cpSync(join(PACKAGE_ROOT, folder), join(project.root, folder), { recursive: true })
  project.write('timing-reporter.mjs', TIMING_REPORTER)
  project.write('vitest.reports.config.mjs', configWith('recipes()'))
  project.write('vitest.noreports.config.mjs', configWith("recipes({ reports: false, db: 'noreports.sqlite' })"))
  return project
}

/**
 * One `vitest run recipes/` in a child process, as a user runs it: the time from the end of
 * the tests to the exit, the whole run's wall time, and the reporter's own "written in" line.
 */
function runRecipes(root, config) {
  rmSync(join(root, RUN_END_FILE), { force: true })
  return new Promise((done) => {
    const started = performance.timeOrigin + performance.now()
    const child = spawn(
      process.execPath,
      [join(PACKAGE_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', 'recipes/', '--config', config],
      { cwd: root, env: { ...process.env, CI: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.on('close', (code) => {
      const exited = performance.timeOrigin + performance.now()
      let runEnd
      try {
        runEnd = Number(readFileSync(join(root, RUN_END_FILE), 'utf8'))
      } catch {
        fail(`\`vitest run recipes/ --config ${config}\` ended (exit code ${code}) before its tests did:\n${output}`)
      }
      if (code !== 0) fail(`\`vitest run recipes/ --config ${config}\` failed (exit code ${code}):\n${output}`)
      const written = /written in (\d+\.\d) s/.exec(output)
      done({ afterTests: exited - runEnd, wall: exited - started, written: written ? Number(written[1]) : undefined })
    })
  })
}

async function measureRecipes({ rounds }) {
  const project = createExampleProject()
  const counted = []
  try {
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first: neither always runs on a cold page cache.
      const order = i % 2 ? ['noreports', 'reports'] : ['reports', 'noreports']
      const round = {}
      for (const name of order) round[name] = await runRecipes(project.root, `vitest.${name}.config.mjs`)
      round.documents = round.reports.afterTests - round.noreports.afterTests
      console.log(
        `${roundLabel(i)}  after the tests: reports ${formatMs(round.reports.afterTests, 0)}, reports: false ${formatMs(round.noreports.afterTests, 0)}; documents ${formatMs(round.documents, 0)} (reporter says ${round.reports.written ?? '?'} s); whole run ${seconds(round.reports.wall)} vs ${seconds(round.noreports.wall)}`,
      )
      if (i > 0) counted.push(round)
    }
  } finally {
    finishProject(project.root, false)
  }
  const pick = (get) => median(counted.map(get))
  return {
    documents: pick((round) => round.documents),
    reportsAfter: pick((round) => round.reports.afterTests),
    noreportsAfter: pick((round) => round.noreports.afterTests),
    written: pick((round) => round.reports.written ?? Number.NaN),
    wallReports: pick((round) => round.reports.wall),
    wallNoreports: pick((round) => round.noreports.wall),
  }
}

function printRecipes(figures, { rounds }) {
  const rows = [
    [`median over ${rounds - 1} rounds, ${EXAMPLE_COUNT} example recipes`, 'tests end → exit', 'whole run'],
    ['reports: default (xlsx, docx, md, html)', formatMs(figures.reportsAfter, 0), seconds(figures.wallReports)],
    ['reports: false (baseline)', formatMs(figures.noreportsAfter, 0), seconds(figures.wallNoreports)],
  ]
  console.log(`\n${table(rows)}`)
  console.log(
    `\ndocuments: ${seconds(figures.documents)} (target ≤ 0.5 s: ${verdict(figures.documents, 500)}); the reporter's own "written in": ${figures.written.toFixed(1)} s`,
  )
  console.log(
    `whole run with reports / without: ${ratio(figures.wallReports, figures.wallNoreports).toFixed(2)}x (the writers load while the tests run)`,
  )
}

// ---------------------------------------------------------------------------------------------
// Runs stored with the built store (parts 2 and 3)

const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z')
const isoAt = (offsetMs) => new Date(BASE_TIME + offsetMs).toISOString()

/** A step record as the runtime gives RunStore.recordStep; every tenth step failed. */
function stepRecord(i, name, outputs) {
  const failed = i % 10 === 3
  return {
    step: name,
    idx: i + 1,
    status: failed ? 'failed' : 'passed',
    durationMs: 5 + (i % 97) * 1.7,
    cpuMs: 3 + (i % 89),
    peakRssBytes: 90_000_000 + i * 1024,
    exitCode: failed ? 1 : null,
    attempts: 1,
    reason: failed ? `measured latency ${10 + (i % 50)} ms is above the limit of 30 ms on host-${i % 8}` : null,
    logPath: `.logs/${name}.log`,
    params: { target: `host-${i % 8}`, options: { mode: i % 2 ? 'fast' : 'thorough', tags: ['bench'] } },
    envelope: failed
      ? { status: 'error', reason: 'latency above limit', exit_code: 1, step: name, ts: isoAt(i) }
      : { status: 'ok', outputs, artifacts: [], metrics: { latency_ms: 10 + (i % 50) * 0.5, count: i }, warnings: [] },
  }
}

/**
 * Records a run of `steps` steps in a fresh store at `path`: step i writes the keys
 * `keysOf(i)` returns ([key, value] pairs); returns the run id.
 */
async function recordRun(RunStore, path, runId, steps, keysOf) {
  const store = await RunStore.open(path)
  try {
    await store.beginRun({
      runId,
      testId: 'BENCH-REPORTS',
      recipe: 'recipes/bench-reports.yaml',
      startTime: isoAt(0),
      vitestVersion: 'bench',
      metadata: { test_meta: { test_id: 'BENCH-REPORTS', description: 'bench/reports/run.js' } },
    })
    const current = new Map()
    let n = 0
    for (let i = 0; i < steps; i++) {
      const name = stepName(i + 1, steps)
      const writes = keysOf(i).map(([key, after]) => {
        const write = { ts: isoAt(n++), who: name, key, before: current.get(key), after }
        current.set(key, after)
        return write
      })
      const changed = [...new Set(writes.map((write) => write.key))]
      await store.recordStep(
        runId,
        stepRecord(i, name, changed),
        writes,
        changed.map((key) => [key, current.get(key)]),
      )
    }
    await store.finishRun(runId, 'failed', isoAt(steps * 100))
    return { keys: current.size, writes: n }
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

/** reportStoredRun of `formats`, each run analysed first as the reporter does; fails when a document is missing, empty or failed. */
async function writeDocuments(reportStoredRun, store, runId, dir, formats) {
  const { analyzeStoredRun } = await importDist('analysis/index.js')
  const report = await reportStoredRun(store, runId, dir, formats, (data) => analyzeStoredRun(store, data))
  if (!report) fail(`no run ${runId} in the store`)
  const sizes = {}
  for (const outcome of report.outcomes) {
    if (outcome.error) fail(`report.${outcome.format} failed: ${outcome.error}`)
    sizes[outcome.format] = statSync(outcome.file).size
    if (sizes[outcome.format] === 0) fail(`report.${outcome.format} is empty`)
  }
  return sizes
}

// ---------------------------------------------------------------------------------------------
// Part 2: xlsx + docx of a 1,000-step run

const LONG_RUN_KEYS = 500
const LONG_RUN_WRITES = 10

async function measureLongRun(dir, { steps, rounds }) {
  const { RunStore } = await importDist('store/run-store.js')
  const loadStarted = performance.now()
  const { reportStoredRun } = await importDist('exporters/report-run.js')
  // As the reporter does while the tests run: exceljs loads here, docx in the Word writer's thread.
  ;(await importDist('exporters/index.js')).preloadWriters(['xlsx', 'docx'])
  await importDist('exporters/xlsx.js')
  const loadMs = performance.now() - loadStarted
  const path = join(dir, 'long.sqlite')
  const recorded = await recordRun(RunStore, path, 'run-long', steps, (i) =>
    Array.from({ length: LONG_RUN_WRITES }, (_, j) => {
      const n = i * LONG_RUN_WRITES + j
      return [`bench.item_${String(n % LONG_RUN_KEYS).padStart(3, '0')}_v1`, { value: n, unit: 'ms', ok: n % 7 !== 0 }]
    }),
  )
  console.log(
    `recorded the run: ${steps} steps, ${recorded.writes} ctx writes, ${recorded.keys} final ctx keys; loading the writers took ${formatMs(loadMs, 0)}\n`,
  )
  const store = await RunStore.open(path)
  const counted = []
  try {
    for (let i = 0; i < rounds; i++) {
      const out = join(dir, 'long', `round-${i + 1}`)
      let started = performance.now()
      await jsonDump(store, 'run-long', join(out, 'dump.json'))
      const dump = performance.now() - started
      started = performance.now()
      const cpuBefore = process.cpuUsage()
      const sizes = await writeDocuments(reportStoredRun, store, 'run-long', out, ['xlsx', 'docx'])
      const documents = performance.now() - started
      const cpu = cpuMs(process.cpuUsage(cpuBefore))
      console.log(
        `${roundLabel(i)}  xlsx + docx ${formatMs(documents, 0)} (CPU ${formatMs(cpu, 0)}, both threads), JSON dump ${formatMs(dump, 0)}`,
      )
      if (i > 0) counted.push({ documents, cpu, dump, sizes })
      rmSync(out, { recursive: true, force: true })
    }
  } finally {
    await store.close()
  }
  return {
    documents: median(counted.map((round) => round.documents)),
    cpu: median(counted.map((round) => round.cpu)),
    dump: median(counted.map((round) => round.dump)),
    sizes: counted.at(-1).sizes,
    loadMs,
  }
}

function printLongRun(figures, { steps, rounds }) {
  const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`
  console.log(
    `\nmedian over ${rounds - 1} rounds: xlsx + docx ${formatMs(figures.documents, 0)}, CPU ${formatMs(figures.cpu, 0)} (report.xlsx ${kib(figures.sizes.xlsx)}, report.docx ${kib(figures.sizes.docx)}), JSON dump ${formatMs(figures.dump, 0)}: ${ratio(figures.documents, figures.dump).toFixed(1)}x the dump`,
  )
  console.log(
    `${steps}-step run, xlsx + docx: ${seconds(figures.documents)} (target ≤ 1.5 s: ${verdict(figures.documents, 1500)}); loading the writers, once per process and while the tests run: ${formatMs(figures.loadMs, 0)}`,
  )
}

// ---------------------------------------------------------------------------------------------
// Part 3: a run whose ctx holds 100,000 keys, in a fresh child process

/** Steps of the big-ctx run; the last one also writes a few large values. */
const BIG_RUN_STEPS = 20

/** The big-ctx run: `keys` small keys spread over BIG_RUN_STEPS steps, plus three large values. */
function bigRunKeys(keys) {
  const perStep = Math.ceil(keys / BIG_RUN_STEPS)
  return (i) => {
    const writes = []
    for (let n = i * perStep; n < Math.min(keys, (i + 1) * perStep); n++)
      writes.push([`inventory.port_${String(n).padStart(6, '0')}_v1`, { port: n, speed_gbps: 100, up: n % 13 !== 0 }])
    if (i === BIG_RUN_STEPS - 1) {
      writes.push(['capture.raw_v1', 'x'.repeat(2_000_000)])
      writes.push(['capture.samples_v1', Array.from({ length: 100_000 }, (_, k) => k * 0.5)])
      writes.push(['capture.table_v1', Object.fromEntries(Array.from({ length: 10_000 }, (_, k) => [`row_${k}`, k]))])
    }
    return writes
  }
}

/** Runs this script as a child that writes `formats` (or the JSON dump) of the run, and returns its figures. */
function runChild(task) {
  let out
  try {
    out = execFileSync(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_ENV]: JSON.stringify(task) },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1024 * 1024,
    })
  } catch (error) {
    fail(
      `the child process writing ${task.formats.join(' + ')} failed (${error.status === null ? `signal ${error.signal}` : `exit code ${error.status}`}; its error is above)`,
    )
  }
  return JSON.parse(out.trim().split('\n').at(-1))
}

/** In the child: load the writers (as a run does while its tests go), then time the documents and read the peak RSS. */
async function documentsChild({ path, runId, dir, formats }) {
  const { RunStore } = await importDist('store/run-store.js')
  const { reportStoredRun } = await importDist('exporters/report-run.js')
  ;(await importDist('exporters/index.js')).preloadWriters(formats)
  await importDist('exporters/xlsx.js')
  const store = await RunStore.open(path)
  try {
    const rssBefore = process.memoryUsage.rss()
    const started = performance.now()
    const cpuBefore = process.cpuUsage()
    let sizes = {}
    if (formats[0] === 'dump') await jsonDump(store, runId, join(dir, 'dump.json'))
    else sizes = await writeDocuments(reportStoredRun, store, runId, dir, formats)
    const wallMs = performance.now() - started
    const cpu = cpuMs(process.cpuUsage(cpuBefore))
    process.stdout.write(
      `${JSON.stringify({ wallMs, cpu, rssBefore, peakRss: process.resourceUsage().maxRSS * 1024, sizes })}\n`,
    )
  } finally {
    await store.close()
  }
}

async function measureBigContext(dir, { keys }) {
  const { RunStore } = await importDist('store/run-store.js')
  const path = join(dir, 'big.sqlite')
  const started = performance.now()
  const recorded = await recordRun(RunStore, path, 'run-big', BIG_RUN_STEPS, bigRunKeys(keys))
  console.log(
    `recorded the run: ${BIG_RUN_STEPS} steps, ${recorded.writes} ctx writes, ${recorded.keys} final ctx keys (a 2 MB string, a 100,000-number array and a 10,000-key object among them) in ${formatMs(performance.now() - started, 0)}\n`,
  )
  const task = (formats) => ({ path, runId: 'run-big', dir: join(dir, 'big', formats.join('-')), formats })
  const dump = runChild(task(['dump']))
  const documents = runChild(task(['xlsx', 'docx', 'md']))
  const docxAlone = runChild(task(['docx']))
  const htmlAlone = runChild(task(['html']))
  return { dump, documents, docxAlone, htmlAlone }
}

function printBigContext({ dump, documents, docxAlone, htmlAlone }, { keys }) {
  const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`
  const rows = [
    [`a run with ${keys} ctx keys, fresh child each`, 'wall', 'CPU', 'peak RSS', 'RSS before', 'files'],
    [
      'JSON dump (baseline)',
      formatMs(dump.wallMs, 0),
      formatMs(dump.cpu, 0),
      mib(dump.peakRss),
      mib(dump.rssBefore),
      '',
    ],
    [
      'xlsx + docx + md (reportStoredRun)',
      formatMs(documents.wallMs, 0),
      formatMs(documents.cpu, 0),
      mib(documents.peakRss),
      mib(documents.rssBefore),
      Object.entries(documents.sizes)
        .map(([format, bytes]) => `${format} ${kib(bytes)}`)
        .join(', '),
    ],
    [
      'docx alone',
      formatMs(docxAlone.wallMs, 0),
      formatMs(docxAlone.cpu, 0),
      mib(docxAlone.peakRss),
      mib(docxAlone.rssBefore),
      kib(docxAlone.sizes.docx),
    ],
    [
      'html alone',
      formatMs(htmlAlone.wallMs, 0),
      formatMs(htmlAlone.cpu, 0),
      mib(htmlAlone.peakRss),
      mib(htmlAlone.rssBefore),
      kib(htmlAlone.sizes.html),
    ],
  ]
  console.log(table(rows))
  console.log(
    `\n(CPU: every thread of the child; peak RSS: the child's resourceUsage().maxRSS, writers and store loaded; RSS before: just before the documents)`,
  )
  console.log(
    `${keys}-key ctx, documents: ${seconds(documents.wallMs)} (target ≤ 10 s: ${verdict(documents.wallMs, 10_000)}), ${ratio(documents.wallMs, dump.wallMs).toFixed(1)}x the JSON dump; peak RSS ${mib(documents.peakRss)} (target ≤ 500 MB: ${verdict(documents.peakRss, 500_000_000)})`,
  )
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  requireDist(
    ['dist/index.js', 'dist/store/run-store.js', 'dist/exporters/report-run.js', 'dist/exporters/xlsx.js'],
    fail,
  )
  const started = performance.now()
  const work = realpathSync(mkdtempSync(join(tmpdir(), 'vitest-recipes-reports-')))
  // fail() exits at once, past the finally below: delete the temp dir on the way out too.
  if (!options.keep) process.on('exit', () => rmSync(work, { recursive: true, force: true }))
  console.log('vitest-recipes reports: the documents a run writes at its end')
  console.log(`${availableParallelism()} CPU(s) available; ${options.rounds} rounds, the first one a warm-up\n`)
  try {
    if (!options.skipRecipes) {
      console.log(`1. the ${EXAMPLE_COUNT} example recipes: \`vitest run recipes/\`, default reports vs reports: false`)
      printRecipes(await measureRecipes(options), options)
      console.log('')
    }
    console.log(`2. xlsx + docx of a ${options.steps}-step run`)
    printLongRun(await measureLongRun(work, options), options)
    console.log(`\n3. a run whose ctx holds ${options.keys} keys`)
    printBigContext(await measureBigContext(work, options), options)
  } finally {
    if (options.keep) console.log(`\nkept the temp dir: ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
  console.log(`\ntotal: ${formatMs(performance.now() - started, 0)}`)
  // A measurement, not a test: whatever the figures, exit 0.
  process.exitCode = 0
}

if (process.env[CHILD_ENV]) await documentsChild(JSON.parse(process.env[CHILD_ENV]))
else await main()
