#!/usr/bin/env node
// Execution-controls benchmark: what `parallel: true` buys for CPU-bound
// `requires_process: true` steps, and what step caching saves. Each round starts Vitest
// (its Node API, in this process) three times on a throwaway project:
//
//   1. recipes/cpu-parallel.yaml    two CPU-bound steps, requires_process + parallel: true
//      recipes/cpu-sequential.yaml  the same two steps, requires_process, one after the other
//      (one Vitest run, one file at a time, the order alternating between rounds)
//   2. recipes/cached.yaml          N CPU-bound in-process steps with `cache: true`, run with
//                                   noCache (every step runs, fresh results are cached) ...
//   3. recipes/cached.yaml          ... and run again: every step replays its cached writes
//
// Prints medians over rounds and the ratios parallel / sequential and cached / uncached.
//
//   node bench/controls/run.js [--cpu-ms 1500] [--cache-steps 3] [--cache-cpu-ms 300] [--rounds 4] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs the package built
// (`npm run build`): the throwaway project imports `vitest-recipes` through its package
// exports, and the worker threads of requires_process steps run dist/ code.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const RUN_OPTIONS_KEY = 'vitestRecipesRunOptions' // plugin/runtime/spec.ts: what `recipes run` provides

const FILES = {
  parallel: 'recipes/cpu-parallel.yaml',
  sequential: 'recipes/cpu-sequential.yaml',
  cached: 'recipes/cached.yaml',
}

const HELP = `Usage: node bench/controls/run.js [options]

Measures, with Vitest started in this process on a throwaway project:
  1. two CPU-bound requires_process steps (worker threads) marked parallel: true, against
     the same two steps run one after the other: wall time and ratio parallel / sequential;
  2. a recipe of cached steps (cache: true) run with noCache (every step runs) and run
     again (every step replays its cached ctx writes): wall time and ratio cached / uncached.

Options:
  --cpu-ms N         CPU time of each of the two CPU-bound steps, in ms (default 1500)
  --cache-steps N    steps in the cached recipe (default 3)
  --cache-cpu-ms N   CPU time of each step of the cached recipe, in ms (default 300)
  --rounds N         rounds; the first is a warm-up and is not counted (default 4, at least 2)
  --keep             keep the throwaway project (its path is printed) instead of deleting it
  -h, --help         show this help
`

function parseOptions() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        'cpu-ms': { type: 'string', default: '1500' },
        'cache-steps': { type: 'string', default: '3' },
        'cache-cpu-ms': { type: 'string', default: '300' },
        rounds: { type: 'string', default: '4' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (error) {
    fail(`${error.message}\n\n${HELP}`)
  }
  if (values.help) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const rounds = positiveInteger(values.rounds, '--rounds')
  if (rounds < 2) fail('--rounds must be at least 2: the first round is a warm-up and is not counted')
  return {
    cpuMs: positiveInteger(values['cpu-ms'], '--cpu-ms'),
    cacheSteps: positiveInteger(values['cache-steps'], '--cache-steps'),
    cacheCpuMs: positiveInteger(values['cache-cpu-ms'], '--cache-cpu-ms'),
    rounds,
    keep: values.keep,
  }
}

function positiveInteger(text, flag) {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) fail(`${flag} takes a positive integer, not "${text}"`)
  return value
}

function fail(message) {
  process.stderr.write(`bench/controls: ${message}\n`)
  process.exit(1)
}

// ---------------------------------------------------------------------------------------------
// The CPU-bound work, and how much of it takes the CPU time asked for

// One source for both: the scriptlets import it, and this script calibrates with it.
const BURN_SOURCE = `// Counts the primes up to limit by trial division: pure CPU, no allocation to speak of.
export function countPrimes(limit) {
  let count = 0
  for (let n = 2; n <= limit; n++) {
    let prime = true
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false
        break
      }
    }
    if (prime) count++
  }
  return count
}
`

/** The limit whose countPrimes takes about targetMs of CPU in this process (JIT warm). */
function calibrate(countPrimes, targetMs) {
  const cpuMsOf = (limit) => {
    const started = process.cpuUsage()
    countPrimes(limit)
    const used = process.cpuUsage(started)
    return (used.user + used.system) / 1000
  }
  cpuMsOf(50_000) // warm up the JIT
  let limit = 50_000
  let ms = cpuMsOf(limit)
  while (ms < 100) {
    limit *= 2
    ms = cpuMsOf(limit)
  }
  // Work grows about as limit^1.5 (√n trial divisions for each prime); two refinements suffice.
  for (let i = 0; i < 2; i++) {
    limit = Math.max(1000, Math.round(limit * (targetMs / ms) ** (1 / 1.5)))
    ms = cpuMsOf(limit)
  }
  return { limit, ms }
}

// ---------------------------------------------------------------------------------------------
// The throwaway project

function writeProject({ cpuLimit, cacheLimit, cacheSteps }) {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'vitest-recipes-controls-')))
  const write = (file, text) => {
    mkdirSync(dirname(join(root, file)), { recursive: true })
    writeFileSync(join(root, file), text)
  }

  // node_modules: this package's dependencies, and the package itself, all as symlinks.
  const modules = join(root, 'node_modules')
  mkdirSync(modules)
  for (const entry of readdirSync(join(PACKAGE_ROOT, 'node_modules'))) {
    // Skip .bin, .vite (Vitest's results cache must stay in the throwaway project), etc.
    if (entry.startsWith('.')) continue
    symlinkSync(join(PACKAGE_ROOT, 'node_modules', entry), join(modules, entry), 'junction')
  }
  symlinkSync(PACKAGE_ROOT, join(modules, 'vitest-recipes'), 'junction')

  write('package.json', `${JSON.stringify({ name: 'vitest-recipes-controls-bench', private: true, type: 'module' }, null, 2)}\n`)
  write(
    'vitest.config.mjs',
    `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

export default defineConfig({
  plugins: [recipes()],
  test: {
    include: ['tests/**/*.test.ts'],
  },
})
`,
  )

  write('scriptlets/burn-core.mjs', BURN_SOURCE)
  // The recipe decides where it runs: requires_process: true → a worker thread, else in-process.
  write(
    'scriptlets/burn.ts',
    `import { defineScriptlet } from 'vitest-recipes/scriptlet'
// @ts-ignore: plain JavaScript shared with bench/controls/run.js
import { countPrimes } from './burn-core.mjs'

export default defineScriptlet({
  name: 'burn',
  run(ctx, params, { step }) {
    const { limit, key } = params as { limit: number; key: string }
    ctx.set(key, countPrimes(limit) as number, { who: step })
  },
})
`,
  )

  // `depends_on: []` matters: in a recipe where no step declares depends_on, each step needs
  // the one before it, and step-level `parallel: true` alone would still run them in turn.
  const cpuStep = (name, parallel) =>
    `  - name: ${name}\n    type: ts\n    module: scriptlets/burn.ts\n    args: { limit: ${cpuLimit}, key: bench.${name}_v1 }\n    requires_process: true\n${parallel ? '    parallel: true\n    depends_on: []\n' : ''}`
  write(FILES.parallel, `test_meta:\n  test_id: BENCH-CPU-PARALLEL\nsteps:\n${cpuStep('burn_a', true)}${cpuStep('burn_b', true)}`)
  // No depends_on anywhere: each step needs the one before it, so they run in sequence.
  write(FILES.sequential, `test_meta:\n  test_id: BENCH-CPU-SEQUENTIAL\nsteps:\n${cpuStep('burn_a', false)}${cpuStep('burn_b', false)}`)

  // Each step counts a slightly different range, so no two steps share a cache entry.
  const cachedSteps = Array.from(
    { length: cacheSteps },
    (_, i) => `  - name: cached_${i + 1}\n    type: ts\n    module: scriptlets/burn.ts\n    args: { limit: ${cacheLimit + i}, key: bench.cached_${i + 1}_v1 }\n    cache: true\n`,
  )
  write(FILES.cached, `test_meta:\n  test_id: BENCH-CACHED\nsteps:\n${cachedSteps.join('')}`)
  return root
}

// ---------------------------------------------------------------------------------------------
// Measuring

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** A reporter that keeps, per test file, Vitest's own timings and each step's recipe meta. */
function createCollector() {
  const modules = new Map()
  const runErrors = []
  return {
    modules,
    runErrors,
    reporter: {
      onTestModuleEnd(testModule) {
        const diagnostic = testModule.diagnostic()
        const steps = []
        for (const testCase of testModule.children.allTests()) {
          const meta = testCase.meta()?.recipeStep
          steps.push({
            name: testCase.name,
            state: testCase.result().state,
            error: testCase.result().errors?.[0]?.message,
            status: meta?.status,
            durationMs: meta?.durationMs ?? 0,
            cpuMs: meta?.cpuMs ?? 0,
          })
        }
        modules.set(testModule.relativeModuleId.split('\\').join('/'), {
          steps,
          errors: testModule.errors().map((error) => error.message),
          moduleMs: diagnostic.duration,
          collectMs: diagnostic.collectDuration,
          fileMs: diagnostic.collectDuration + diagnostic.duration,
        })
      },
      onTestRunEnd(_modules, errors) {
        runErrors.push(...errors.map((error) => error.message ?? String(error)))
      },
    },
  }
}

/** Runs the given files in this order, whatever Vitest's results cache says. */
function fixedOrderSequencer(order) {
  return class FixedOrderSequencer {
    async shard(files) {
      return files
    }
    async sort(files) {
      const rank = (spec) => order.findIndex((file) => spec.moduleId.split('\\').join('/').endsWith(file))
      return [...files].sort((a, b) => rank(a) - rank(b))
    }
  }
}

/** One Vitest run of `files` (in this order), with the run options `recipes run` would provide. */
async function runVitest(startVitest, root, files, runOptions) {
  const collector = createCollector()
  const started = performance.now()
  const vitest = await startVitest(
    'test',
    files,
    {
      root,
      config: join(root, 'vitest.config.mjs'),
      watch: false,
      reporters: [collector.reporter],
      // One file at a time: the parallel and the sequential recipe never compete for the CPU.
      fileParallelism: false,
      sequence: { sequencer: fixedOrderSequencer(files) },
      provide: { [RUN_OPTIONS_KEY]: { skip: [], noCache: false, debug: false, ...runOptions } },
    },
    {},
    {},
  )
  const wallMs = performance.now() - started
  if (vitest?.shouldKeepServer?.()) await vitest.close()
  return { ...collector, wallMs }
}

/** Problems that make a run's timings meaningless: files that did not run, steps not in the expected status. */
function check(run, expected) {
  const problems = [...run.runErrors]
  for (const [file, status] of Object.entries(expected)) {
    const result = run.modules.get(file)
    if (!result) {
      problems.push(`${file} did not run`)
      continue
    }
    problems.push(...result.errors.map((message) => `${file}: ${message}`))
    for (const step of result.steps) {
      if (step.state !== 'passed' || step.status !== status) problems.push(`${file}: step ${step.name} is ${step.state}/${step.status ?? 'no meta'}, expected passed/${status}${step.error ? `: ${step.error.split('\n')[0]}` : ''}`)
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Printing

const ms = (value) => `${value.toFixed(0)} ms`
const ratio = (a, b) => (b > 0 ? a / b : Number.NaN)

function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  return rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('   ')).join('\n')
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  if (!existsSync(join(PACKAGE_ROOT, 'dist/index.js')) || !existsSync(join(PACKAGE_ROOT, 'dist/scriptlet/index.js')) || !existsSync(join(PACKAGE_ROOT, 'dist/context/context.js'))) {
    fail(`${relative(process.cwd(), join(PACKAGE_ROOT, 'dist')) || 'dist'} is missing or incomplete: run \`npm run build\` first (the benchmark imports the built package).`)
  }
  let startVitest
  try {
    ;({ startVitest } = await import('vitest/node'))
  } catch (error) {
    fail(`cannot import vitest/node (${error.message}): run \`npm install\` first.`)
  }

  // Calibrate with the very function the steps run (written out, then imported).
  const scratch = mkdtempSync(join(tmpdir(), 'vitest-recipes-controls-burn-'))
  writeFileSync(join(scratch, 'burn-core.mjs'), BURN_SOURCE)
  const { countPrimes } = await import(pathToFileURL(join(scratch, 'burn-core.mjs')).href)
  rmSync(scratch, { recursive: true, force: true })
  const cpu = calibrate(countPrimes, options.cpuMs)
  const cache = calibrate(countPrimes, options.cacheCpuMs)

  const root = writeProject({ cpuLimit: cpu.limit, cacheLimit: cache.limit, cacheSteps: options.cacheSteps })
  const { rounds } = options
  console.log(`vitest-recipes execution controls: parallel requires_process steps, and step caching`)
  console.log(`${availableParallelism()} CPU(s) available (${cpus()[0]?.model ?? 'unknown model'}); ${rounds} rounds, the first one a warm-up`)
  console.log(`CPU-bound step: count primes up to ${cpu.limit} (${ms(cpu.ms)} of CPU here, in this thread)`)
  console.log(`cached recipe: ${options.cacheSteps} in-process steps of about ${ms(cache.ms)} of CPU each`)
  console.log(`project: ${root}\n`)

  const counted = []
  try {
    for (let i = 0; i < rounds; i++) {
      // Alternate which CPU recipe runs first, so neither always gets the warmer Vite server.
      const order = i % 2 === 0 ? [FILES.parallel, FILES.sequential] : [FILES.sequential, FILES.parallel]
      let cpuRun, uncachedRun, cachedRun
      try {
        cpuRun = await runVitest(startVitest, root, order, {})
        // noCache: every step runs (and caches its fresh result), then the same recipe replays it.
        uncachedRun = await runVitest(startVitest, root, [FILES.cached], { noCache: true })
        cachedRun = await runVitest(startVitest, root, [FILES.cached], {})
      } catch (error) {
        console.error(`round ${i + 1}: Vitest could not run the benchmark's recipes (is ${relative(process.cwd(), join(PACKAGE_ROOT, 'dist')) || 'dist'} being rebuilt?):\n  ${String(error?.message ?? error).split('\n').slice(0, 4).join('\n  ')}`)
        process.exitCode = 1
        return
      }
      const problems = [
        ...check(cpuRun, { [FILES.parallel]: 'passed', [FILES.sequential]: 'passed' }),
        ...check(uncachedRun, { [FILES.cached]: 'passed' }).map((problem) => `noCache run: ${problem}`),
        ...check(cachedRun, { [FILES.cached]: 'cached' }).map((problem) => `cached run: ${problem}`),
      ]
      if (problems.length > 0) {
        console.error(`round ${i + 1}: the benchmark's recipes did not run as intended, so its timings mean nothing:\n  ${problems.slice(0, 10).join('\n  ')}`)
        process.exitCode = 1
        return
      }
      const round = {
        parallel: cpuRun.modules.get(FILES.parallel),
        sequential: cpuRun.modules.get(FILES.sequential),
        uncached: { ...uncachedRun.modules.get(FILES.cached), wallMs: uncachedRun.wallMs },
        cached: { ...cachedRun.modules.get(FILES.cached), wallMs: cachedRun.wallMs },
      }
      console.log(
        `round ${i + 1}${i === 0 ? ' (warm-up)' : '          '}  cpu steps: parallel ${ms(round.parallel.moduleMs)}, sequential ${ms(round.sequential.moduleMs)}  ` +
          `cache: uncached ${ms(round.uncached.moduleMs)}, cached ${ms(round.cached.moduleMs)}`,
      )
      if (i > 0) counted.push(round)
    }

    const pick = (which, read) => median(counted.map((round) => read(round[which])))
    const sumOf = (field) => (result) => result.steps.reduce((sum, step) => sum + step[field], 0)
    const maxOf = (field) => (result) => Math.max(...result.steps.map((step) => step[field]))
    const moduleMs = (result) => result.moduleMs
    const fileMs = (result) => result.fileMs

    console.log(`\n1. two CPU-bound requires_process steps (worker threads), parallel: true vs in sequence`)
    const cpuRows = [['median over ' + counted.length + ' rounds', 'parallel', 'sequential', 'parallel/sequential']]
    for (const [label, read] of [
      ['recipe file: tests + hooks (wall)', moduleMs],
      ['whole file (collect + tests + hooks)', fileMs],
      ['slowest step (runner, worker included)', maxOf('durationMs')],
      ['Σ step CPU time (in the workers)', sumOf('cpuMs')],
    ]) {
      const parallel = pick('parallel', read)
      const sequential = pick('sequential', read)
      cpuRows.push([label, ms(parallel), ms(sequential), `${ratio(parallel, sequential).toFixed(2)}x`])
    }
    console.log(table(cpuRows))

    console.log(`\n2. ${options.cacheSteps} cached steps (cache: true): first run / noCache vs a cache hit`)
    const cacheRows = [['median over ' + counted.length + ' rounds', 'cached', 'uncached', 'cached/uncached']]
    for (const [label, read] of [
      ['recipe file: tests + hooks (wall)', moduleMs],
      ['whole file (collect + tests + hooks)', fileMs],
      ['Σ step durations (runner)', sumOf('durationMs')],
      ['whole Vitest run (startVitest)', (result) => result.wallMs],
    ]) {
      const cached = pick('cached', read)
      const uncached = pick('uncached', read)
      cacheRows.push([label, ms(cached), ms(uncached), `${ratio(cached, uncached).toFixed(2)}x`])
    }
    console.log(table(cacheRows))

    const speedup = ratio(pick('sequential', moduleMs), pick('parallel', moduleMs))
    console.log(`\nparallel / sequential (recipe file wall time): ${ratio(pick('parallel', moduleMs), pick('sequential', moduleMs)).toFixed(2)}x  (speed-up ${speedup.toFixed(2)}x; at best ${Math.min(2, availableParallelism()).toFixed(2)}x on ${availableParallelism()} CPU(s))`)
    console.log(`cached / uncached (recipe file wall time):     ${ratio(pick('cached', moduleMs), pick('uncached', moduleMs)).toFixed(2)}x`)
  } finally {
    if (options.keep) console.log(`\nkept the project: ${root}  (cd there and run \`npx vitest run\` to try it by hand)`)
    else rmSync(root, { recursive: true, force: true })
  }
  // A measurement, not a test: whatever the figures, exit 0.
  process.exitCode = 0
}

await main()
