// Scaling benchmark: does a recipe cost the same per step at 10,000 steps as at 1,000? A chain of
// no-op ts steps (no depends_on: each step needs the one before it), at two sizes, measured three ways:
// compile time per step (YAML → module, the compile API the plugin's transform calls, in this
// process), run time per step (Vitest's own test durations) and memory per step (peak RSS of the
// Vitest worker that ran the file, against a 1-step recipe). Prints each ratio with its target.
//
//   node bench/scaling/run.js [--small 1000] [--large 10000] [--rounds 3] [--compile-rounds 5] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs the package built
// (`npm run build`): the throwaway project imports `vitest-recipes` through its package exports.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  checkAllPassed,
  createProject,
  failWith,
  finishProject,
  importStartVitest,
  median,
  ms,
  PACKAGE_ROOT,
  parseFlags,
  parseRounds,
  positiveInteger,
  ratio,
  reportProblems,
  requireDist,
  roundLabel,
  runVitest,
  STEP_TIMEOUT_MS,
  stepName,
  table,
} from '../lib/harness.js'

const TIME_TARGET = 1.2
const MEMORY_TARGET_KB = 50
const RSS_DIR = 'rss'

const HELP = `Usage: node bench/scaling/run.js [options]

Compiles and runs chained recipes of no-op ts steps at two sizes and prints, per step, the
compile time, the run time (Vitest's test durations) and the memory (peak RSS of the Vitest
worker, against a 1-step recipe), with the ratios large / small.

Options:
  --small N            steps of the small recipe (default 1000)
  --large N            steps of the large recipe (default 10000)
  --rounds N           Vitest runs; the first is a warm-up and is not counted (default 3)
  --compile-rounds N   compiles of each size, after one warm-up (default 5)
  --ctx-set            each step also writes one ctx key of its own (ctx.set), instead of doing nothing
  --keep               keep the throwaway project (its path is printed) instead of deleting it
  -h, --help           show this help
`

const fail = failWith('scaling')

function parseOptions() {
  const values = parseFlags(
    {
      small: { type: 'string', default: '1000' },
      large: { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '3' },
      'compile-rounds': { type: 'string', default: '5' },
      'ctx-set': { type: 'boolean', default: false },
    },
    HELP,
    fail,
  )
  const small = positiveInteger(values.small, '--small', fail)
  const large = positiveInteger(values.large, '--large', fail)
  if (large <= small) fail(`--large (${large}) must be more steps than --small (${small})`)
  if (small < 2) fail('--small must be at least 2: memory per step is measured against a 1-step recipe')
  return {
    small,
    large,
    rounds: parseRounds(values.rounds, fail),
    compileRounds: positiveInteger(values['compile-rounds'], '--compile-rounds', fail),
    ctxSet: values['ctx-set'],
    keep: values.keep,
  }
}

// ---------------------------------------------------------------------------------------------
// The throwaway project

const recipeFile = (steps) => `recipes/chain-${steps}.yaml`
const handFile = (steps) => `tests/hand-${steps}.test.ts`

/** A chain of `steps` no-op ts steps, as tests/e2e/large-recipe.test.ts writes it (flow mappings, no depends_on). */
function chainRecipe(steps, ctxSet) {
  const names = Array.from({ length: steps }, (_, i) => stepName(i + 1, steps))
  const args = ctxSet ? ', args: { write: true }' : ''
  return `test_meta:
  test_id: BENCH-SCALING-${steps}
  description: ${steps} chained ${ctxSet ? 'ctx.set' : 'no-op'} ts steps, for bench/scaling/run.js
steps:
${names.map((name) => `  - { name: ${name}, type: ts, module: scriptlets/noop.ts${args} }\n`).join('')}`
}

/** The same calls by hand: one top-level test per step, the scriptlet's run on a Context. */
function handwrittenFile(steps, ctxSet) {
  const names = Array.from({ length: steps }, (_, i) => stepName(i + 1, steps))
  return `import { test } from 'vitest'
import { Context } from 'vitest-recipes/scriptlet'
import noop from '../scriptlets/noop.ts'

const ctx = new Context({}, { keyNaming: 'error' })
const log = (...args: unknown[]) => console.error(...args)

${names.map((name) => `test('${name}', { timeout: ${STEP_TIMEOUT_MS} }, async () => { await noop.run(ctx, ${ctxSet ? '{ write: true }' : '{}'}, { step: '${name}', root: '.', log }) })\n`).join('')}`
}

// Runs in each Vitest worker after the file's own hooks (after hooks run in reverse order of
// registration): the worker's peak RSS, once everything the file held (store flush included) is done.
// VmHWM, not resourceUsage().maxRSS: Linux carries the forking process's peak into the child's
// maxRSS across fork + exec, so a worker forked by a big Vitest process would report that instead.
const RSS_SETUP = `import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll } from 'vitest'

const dir = join(dirname(fileURLToPath(import.meta.url)), '${RSS_DIR}')
const highWaterKb = () => Number(/^VmHWM:\\s*(\\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1])
// Hooks take fixtures first (an object pattern), the suite (here the file) second.
afterAll(({}, suite) => {
  mkdirSync(dir, { recursive: true })
  const file = basename(suite.file.filepath)
  writeFileSync(join(dir, file + '.json'), JSON.stringify({ pid: process.pid, peakRssKb: highWaterKb() }))
})
`

function writeProject({ small, large, ctxSet }) {
  const { root, write } = createProject('scaling')
  // The step: does nothing, or writes one key of its own when its params say so.
  write(
    'scriptlets/noop.ts',
    `import { defineScriptlet } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'noop',
  run(ctx, params, { step }) {
    if ((params as { write?: boolean } | undefined)?.write) ctx.set(\`bench.\${step}_v1\`, true, { who: step })
  },
})
`,
  )
  for (const steps of [1, small, large]) write(recipeFile(steps), chainRecipe(steps, ctxSet))
  for (const steps of [1, large]) write(handFile(steps), handwrittenFile(steps, ctxSet))
  write('rss-setup.mjs', RSS_SETUP)
  return root
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** A test file's timings as Vitest records them. */
function fileTimings(testModule, diagnostic) {
  let tests = 0
  let passed = 0
  let testsMs = 0
  for (const testCase of testModule.children.allTests()) {
    tests++
    if (testCase.result().state === 'passed') passed++
    testsMs += testCase.diagnostic()?.duration ?? 0
  }
  return { tests, passed, testsMs, collectMs: diagnostic.collectDuration, moduleMs: diagnostic.duration }
}

/** Peak RSS (KB) of the worker that ran each file, as the setup file wrote it; then clears them. */
function readPeakRss(root) {
  const dir = join(root, RSS_DIR)
  const peaks = new Map()
  for (const entry of readdirSync(dir)) {
    const { pid, peakRssKb } = JSON.parse(readFileSync(join(dir, entry), 'utf8'))
    peaks.set(entry.replace(/\.json$/, ''), { pid, peakRssKb })
  }
  rmSync(dir, { recursive: true, force: true })
  return peaks
}

/** Median ms of `compile(steps, source)` over `rounds`, the sizes interleaved so machine load hits both alike. */
function timeCompiles(compile, sources, rounds) {
  for (const [steps, source] of sources) compile(steps, source) // warm-up: zod's and yaml's own set-up
  const times = new Map([...sources.keys()].map((steps) => [steps, []]))
  for (let i = 0; i < rounds; i++) {
    for (const [steps, source] of sources) {
      const started = performance.now()
      compile(steps, source)
      times.get(steps).push(performance.now() - started)
    }
  }
  return new Map([...times].map(([steps, values]) => [steps, median(values)]))
}

// ---------------------------------------------------------------------------------------------
// Printing

const verdict = (value, target, unit = 'x') =>
  `${unit === 'x' ? `${value.toFixed(2)}x` : `${value.toFixed(1)} ${unit}`}  (target ≤ ${target}${unit === 'x' ? 'x' : ` ${unit}`}: ${value <= target ? 'met' : 'NOT met'})`
const perStep = (total, steps) => `${((total / steps) * 1000).toFixed(0)} µs`

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  requireDist(['dist/index.js', 'dist/scriptlet/index.js', 'dist/runtime/index.js'], fail)
  const startVitest = await importStartVitest(fail)
  const { compileRecipe } = await import(pathToFileURL(join(PACKAGE_ROOT, 'dist/index.js')).href)

  const { small, large, rounds } = options
  const root = writeProject(options)
  const what = options.ctxSet ? 'ctx.set' : 'no-op'
  console.log(`vitest-recipes scaling: chained ${what} ts steps, ${small} vs ${large} steps (and a 1-step baseline)`)
  console.log(`project: ${root}\n`)

  try {
    // 1. Compile: the compile API the plugin's transform calls (parse, check, plan, codegen, source map).
    const sources = new Map([small, large].map((steps) => [steps, readFileSync(join(root, recipeFile(steps)), 'utf8')]))
    const compileMs = timeCompiles(
      (steps, source) => compileRecipe(source, join(root, recipeFile(steps)), root),
      sources,
      options.compileRounds,
    )
    const compileRatio = ratio(compileMs.get(large) / large, compileMs.get(small) / small)
    console.log(`compile (YAML → module, in this process), median of ${options.compileRounds}:`)
    console.log(
      table([
        ['steps', 'compile', 'per step'],
        ...[small, large].map((steps) => [
          String(steps),
          ms(compileMs.get(steps)),
          perStep(compileMs.get(steps), steps),
        ]),
      ]),
    )
    console.log(`compile per step, ${large} / ${small}:  ${verdict(compileRatio, TIME_TARGET)}\n`)

    // 2 and 3. Run time and memory: every file in one Vitest run per round, one file at a time, each in its own worker.
    console.log(`${rounds} Vitest rounds (first one is a warm-up), one file at a time, each file in its own worker`)
    const files = [recipeFile(1), recipeFile(small), recipeFile(large), handFile(1), handFile(large)]
    const counted = []
    for (let i = 0; i < rounds; i++) {
      // Rotate the order, so no file always gets the warmest Vite server.
      const order = files.map((_, j) => files[(i + j) % files.length])
      const round = await runVitest(startVitest, root, {
        summarize: fileTimings,
        order,
        config: { setupFiles: [join(root, 'rss-setup.mjs')], isolate: true },
      })
      const problems = [
        ...checkAllPassed(round, [recipeFile(1), handFile(1)], 1),
        ...checkAllPassed(round, [recipeFile(small)], small),
        ...checkAllPassed(round, [recipeFile(large), handFile(large)], large),
      ]
      if (problems.length > 0) {
        reportProblems(i, "the benchmark's tests did not all pass", problems)
        return
      }
      const peaks = readPeakRss(root)
      const pids = new Set([...peaks.values()].map((peak) => peak.pid))
      if (pids.size !== files.length) {
        reportProblems(i, 'the files did not each run in a worker of their own', [`${pids.size} workers`])
        return
      }
      const timings = round.modules
      const rss = (file) => peaks.get(file.split('/').at(-1)).peakRssKb
      console.log(
        `${roundLabel(i)}  tests: ${small} ${ms(timings.get(recipeFile(small)).testsMs, 0)}, ` +
          `${large} ${ms(timings.get(recipeFile(large)).testsMs, 0)}  ` +
          `peak RSS: 1 step ${(rss(recipeFile(1)) / 1024).toFixed(0)} MB, ${large} ${(rss(recipeFile(large)) / 1024).toFixed(0)} MB  ` +
          `(run ${(round.wallMs / 1000).toFixed(1)} s)`,
      )
      if (i > 0) counted.push({ timings, rss })
    }

    const pick = (file, field) => median(counted.map((round) => round.timings.get(file)[field]))
    const rows = [
      [
        `median over ${counted.length} rounds`,
        `${small} steps`,
        `${large} steps`,
        'per step ratio',
        `hand-written, ${large} tests`,
      ],
    ]
    for (const [label, field] of [
      ['tests (Σ test durations)', 'testsMs'],
      ['collect (compile in Vite + import)', 'collectMs'],
      ['module duration (tests + hooks)', 'moduleMs'],
    ]) {
      const a = pick(recipeFile(small), field)
      const b = pick(recipeFile(large), field)
      const hand = pick(handFile(large), field)
      rows.push([
        label,
        `${ms(a, 0)} (${perStep(a, small)})`,
        `${ms(b, 0)} (${perStep(b, large)})`,
        `${ratio(b / large, a / small).toFixed(2)}x`,
        `${ms(hand, 0)} (${perStep(hand, large)})`,
      ])
    }
    console.log(`\n${table(rows)}`)

    // Memory: (peak RSS at N steps − peak RSS at 1 step) / (N − 1), the same for the hand-written file.
    const memoryPerStep = (big, one) => median(counted.map((round) => (round.rss(big) - round.rss(one)) / (large - 1)))
    const recipeKb = memoryPerStep(recipeFile(large), recipeFile(1))
    const handKb = memoryPerStep(handFile(large), handFile(1))
    const peakMb = (file) => `${(median(counted.map((round) => round.rss(file))) / 1024).toFixed(0)} MB`
    console.log(
      `\n${table([
        ['peak RSS of the Vitest worker (median)', '1 step / test', `${large} steps / tests`, 'per step'],
        ['recipe', peakMb(recipeFile(1)), peakMb(recipeFile(large)), `${recipeKb.toFixed(1)} KB`],
        ['hand-written Vitest file', peakMb(handFile(1)), peakMb(handFile(large)), `${handKb.toFixed(1)} KB`],
      ])}`,
    )
    console.log(`(per step: (peak at ${large} − peak at 1) / ${large - 1})`)

    const testsRatio = ratio(pick(recipeFile(large), 'testsMs') / large, pick(recipeFile(small), 'testsMs') / small)
    console.log(`\ncompile per step, ${large} / ${small}:   ${verdict(compileRatio, TIME_TARGET)}`)
    console.log(`run time per step, ${large} / ${small}:  ${verdict(testsRatio, TIME_TARGET)}`)
    console.log(`memory per step at ${large}:        ${verdict(recipeKb, MEMORY_TARGET_KB, 'KB')}`)
  } finally {
    finishProject(root, options.keep)
  }
  // A measurement, not a test: a figure over its target still exits 0.
  process.exitCode = 0
}

await main()
