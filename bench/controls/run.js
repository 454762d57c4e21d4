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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  checkFiles,
  createProject,
  distLabel,
  failWith,
  finishProject,
  importStartVitest,
  median,
  ms as formatMs,
  parseFlags,
  parseRounds,
  positiveInteger,
  ratio,
  reportProblems,
  requireDist,
  roundLabel,
  runVitest,
  table,
} from '../lib/harness.js'

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

const fail = failWith('controls')

function parseOptions() {
  const values = parseFlags(
    {
      'cpu-ms': { type: 'string', default: '1500' },
      'cache-steps': { type: 'string', default: '3' },
      'cache-cpu-ms': { type: 'string', default: '300' },
      rounds: { type: 'string', default: '4' },
    },
    HELP,
    fail,
  )
  const rounds = parseRounds(values.rounds, fail)
  return {
    cpuMs: positiveInteger(values['cpu-ms'], '--cpu-ms', fail),
    cacheSteps: positiveInteger(values['cache-steps'], '--cache-steps', fail),
    cacheCpuMs: positiveInteger(values['cache-cpu-ms'], '--cache-cpu-ms', fail),
    rounds,
    keep: values.keep,
  }
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
  const { root, write } = createProject('controls')

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
  write(
    FILES.parallel,
    `test_meta:\n  test_id: BENCH-CPU-PARALLEL\nsteps:\n${cpuStep('burn_a', true)}${cpuStep('burn_b', true)}`,
  )
  // No depends_on anywhere: each step needs the one before it, so they run in sequence.
  write(
    FILES.sequential,
    `test_meta:\n  test_id: BENCH-CPU-SEQUENTIAL\nsteps:\n${cpuStep('burn_a', false)}${cpuStep('burn_b', false)}`,
  )

  // Each step counts a slightly different range, so no two steps share a cache entry.
  const cachedSteps = Array.from(
    { length: cacheSteps },
    (_, i) =>
      `  - name: cached_${i + 1}\n    type: ts\n    module: scriptlets/burn.ts\n    args: { limit: ${cacheLimit + i}, key: bench.cached_${i + 1}_v1 }\n    cache: true\n`,
  )
  write(FILES.cached, `test_meta:\n  test_id: BENCH-CACHED\nsteps:\n${cachedSteps.join('')}`)
  return root
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** A test file's module timings, and each step's recipe meta. */
function stepTimings(testModule, diagnostic) {
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
  return {
    steps,
    moduleMs: diagnostic.duration,
    collectMs: diagnostic.collectDuration,
    fileMs: diagnostic.collectDuration + diagnostic.duration,
  }
}

/** One Vitest run of `files` (in this order), with the run options `recipes run` would provide. */
function runRecipes(startVitest, root, files, runOptions) {
  return runVitest(startVitest, root, {
    summarize: stepTimings,
    files,
    config: { provide: { [RUN_OPTIONS_KEY]: { skip: [], noCache: false, debug: false, ...runOptions } } },
  })
}

/** Problems that make a run's timings meaningless: files that did not run, steps not in the expected status. */
function check(run, expected) {
  return checkFiles(run, Object.keys(expected), (result, file) =>
    result.steps
      .filter((step) => step.state !== 'passed' || step.status !== expected[file])
      .map(
        (step) =>
          `${file}: step ${step.name} is ${step.state}/${step.status ?? 'no meta'}, expected passed/${expected[file]}${step.error ? `: ${step.error.split('\n')[0]}` : ''}`,
      ),
  )
}

// ---------------------------------------------------------------------------------------------
// Printing

const ms = (value) => formatMs(value, 0)

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  requireDist(['dist/index.js', 'dist/scriptlet/index.js', 'dist/context/context.js'], fail)
  const startVitest = await importStartVitest(fail)

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
  console.log(
    `${availableParallelism()} CPU(s) available (${cpus()[0]?.model ?? 'unknown model'}); ${rounds} rounds, the first one a warm-up`,
  )
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
        cpuRun = await runRecipes(startVitest, root, order, {})
        // noCache: every step runs (and caches its fresh result), then the same recipe replays it.
        uncachedRun = await runRecipes(startVitest, root, [FILES.cached], { noCache: true })
        cachedRun = await runRecipes(startVitest, root, [FILES.cached], {})
      } catch (error) {
        console.error(
          `round ${i + 1}: Vitest could not run the benchmark's recipes (is ${distLabel()} being rebuilt?):\n  ${String(
            error?.message ?? error,
          )
            .split('\n')
            .slice(0, 4)
            .join('\n  ')}`,
        )
        process.exitCode = 1
        return
      }
      const problems = [
        ...check(cpuRun, { [FILES.parallel]: 'passed', [FILES.sequential]: 'passed' }),
        ...check(uncachedRun, { [FILES.cached]: 'passed' }).map((problem) => `noCache run: ${problem}`),
        ...check(cachedRun, { [FILES.cached]: 'cached' }).map((problem) => `cached run: ${problem}`),
      ]
      if (problems.length > 0) {
        reportProblems(i, "the benchmark's recipes did not run as intended", problems)
        return
      }
      const round = {
        parallel: cpuRun.modules.get(FILES.parallel),
        sequential: cpuRun.modules.get(FILES.sequential),
        uncached: { ...uncachedRun.modules.get(FILES.cached), wallMs: uncachedRun.wallMs },
        cached: { ...cachedRun.modules.get(FILES.cached), wallMs: cachedRun.wallMs },
      }
      console.log(
        `${roundLabel(i)}  cpu steps: parallel ${ms(round.parallel.moduleMs)}, sequential ${ms(round.sequential.moduleMs)}  ` +
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
    const cpuRows = [[`median over ${counted.length} rounds`, 'parallel', 'sequential', 'parallel/sequential']]
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
    const cacheRows = [[`median over ${counted.length} rounds`, 'cached', 'uncached', 'cached/uncached']]
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
    console.log(
      `\nparallel / sequential (recipe file wall time): ${ratio(pick('parallel', moduleMs), pick('sequential', moduleMs)).toFixed(2)}x  (speed-up ${speedup.toFixed(2)}x; at best ${Math.min(2, availableParallelism()).toFixed(2)}x on ${availableParallelism()} CPU(s))`,
    )
    console.log(
      `cached / uncached (recipe file wall time):     ${ratio(pick('cached', moduleMs), pick('uncached', moduleMs)).toFixed(2)}x`,
    )
  } finally {
    finishProject(root, options.keep)
  }
  // A measurement, not a test: whatever the figures, exit 0.
  process.exitCode = 0
}

await main()
