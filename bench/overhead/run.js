#!/usr/bin/env node
// Overhead benchmark: a recipe of N no-op TypeScript steps against the same steps written by
// hand as a plain Vitest test file, both run by one Vitest instance started in this process.
// Prints medians over rounds and the ratio recipe / hand-written (target: at most 1.5x).
//
//   node bench/overhead/run.js [--steps 200] [--rounds 5] [--ctx-set] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs the package built
// (`npm run build`): the throwaway project imports `vitest-recipes` through its package exports.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const TARGET = 1.5
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const RECIPE_FILE = 'recipes/overhead.yaml'
const HANDWRITTEN_FILE = 'tests/handwritten.test.ts'
const STEP_TIMEOUT_MS = 300_000 // the plugin's default stepTimeout (300 s), given to the hand-written tests too

const HELP = `Usage: node bench/overhead/run.js [options]

Runs a recipe of N no-op ts steps and the same steps hand-written as a plain Vitest test
file, in one Vitest run started in this process, and prints the ratio recipe / hand-written.

Options:
  --steps N    steps in the recipe and tests in the hand-written file (default 200)
  --rounds N   Vitest runs; the first is a warm-up and is not counted (default 5)
  --ctx-set    each step also writes one ctx key (ctx.set), instead of doing nothing
  --keep       keep the throwaway project (its path is printed) instead of deleting it
  -h, --help   show this help
`

function parseOptions() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        steps: { type: 'string', default: '200' },
        rounds: { type: 'string', default: '5' },
        'ctx-set': { type: 'boolean', default: false },
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
  const steps = positiveInteger(values.steps, '--steps')
  const rounds = positiveInteger(values.rounds, '--rounds')
  if (rounds < 2) fail('--rounds must be at least 2: the first round is a warm-up and is not counted')
  return { steps, rounds, ctxSet: values['ctx-set'], keep: values.keep }
}

function positiveInteger(text, flag) {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) fail(`${flag} takes a positive integer, not "${text}"`)
  return value
}

function fail(message) {
  process.stderr.write(`bench/overhead: ${message}\n`)
  process.exit(1)
}

// ---------------------------------------------------------------------------------------------
// The throwaway project

function stepName(i, steps) {
  return `step_${String(i).padStart(String(steps).length, '0')}`
}

function writeProject({ steps, ctxSet }) {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'vitest-recipes-overhead-')))
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

  write('package.json', `${JSON.stringify({ name: 'vitest-recipes-overhead-bench', private: true, type: 'module' }, null, 2)}\n`)
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

  // The step: does nothing, or writes one key when its params say so.
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

  const names = Array.from({ length: steps }, (_, i) => stepName(i + 1, steps))
  const args = ctxSet ? '\n    args: { write: true }' : ''
  write(
    RECIPE_FILE,
    `test_meta:
  test_id: BENCH-OVERHEAD
  description: ${steps} ${ctxSet ? 'ctx.set' : 'no-op'} ts steps, for bench/overhead/run.js
steps:
${names.map((name) => `  - name: ${name}\n    type: ts\n    module: scriptlets/noop.ts${args}\n`).join('')}`,
  )

  // The same steps by hand: the same scriptlet's run, on a Context, one top-level test per step.
  const params = ctxSet ? '{ write: true }' : '{}'
  write(
    HANDWRITTEN_FILE,
    `import { test } from 'vitest'
import { Context } from 'vitest-recipes/scriptlet'
import noop from '../scriptlets/noop.ts'

const ctx = new Context({}, { keyNaming: 'error' })
const root = ${JSON.stringify(root)}
const log = (...args: unknown[]) => console.error(...args)
const params = ${params}

${names.map((name) => `test('${name}', { timeout: ${STEP_TIMEOUT_MS} }, async () => { await noop.run(ctx, params, { step: '${name}', root, log }) })\n`).join('')}`,
  )
  return root
}

// ---------------------------------------------------------------------------------------------
// Measuring

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** A reporter that keeps, per test file, Vitest's own timings. */
function createCollector() {
  const modules = new Map()
  const runErrors = []
  return {
    modules,
    runErrors,
    reporter: {
      onTestModuleEnd(testModule) {
        const diagnostic = testModule.diagnostic()
        let tests = 0
        let passed = 0
        let testsMs = 0
        for (const testCase of testModule.children.allTests()) {
          tests++
          if (testCase.result().state === 'passed') passed++
          testsMs += testCase.diagnostic()?.duration ?? 0
        }
        const imports = Object.entries(diagnostic.importDurations ?? {})
        modules.set(testModule.relativeModuleId.split('\\').join('/'), {
          tests,
          passed,
          errors: testModule.errors().map((error) => error.message),
          testsMs,
          moduleMs: diagnostic.duration,
          collectMs: diagnostic.collectDuration,
          prepareMs: diagnostic.prepareDuration,
          setupMs: diagnostic.setupDuration,
          environmentMs: diagnostic.environmentSetupDuration,
          fileMs: diagnostic.collectDuration + diagnostic.duration,
          imports,
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

async function runRound(startVitest, root, order) {
  const collector = createCollector()
  const started = performance.now()
  const vitest = await startVitest(
    'test',
    [],
    {
      root,
      config: join(root, 'vitest.config.mjs'),
      watch: false,
      reporters: [collector.reporter],
      // One file at a time: the two files never compete for the CPU.
      fileParallelism: false,
      sequence: { sequencer: fixedOrderSequencer(order) },
      // Keep the slowest imports of each file (diagnostic().importDurations), printed below.
      experimental: { importDurations: { limit: 8 } },
    },
    {},
    {},
  )
  const wallMs = performance.now() - started
  if (vitest?.shouldKeepServer?.()) await vitest.close()
  return { ...collector, wallMs }
}

function checkRound(round, steps) {
  const problems = [...round.runErrors]
  for (const file of [RECIPE_FILE, HANDWRITTEN_FILE]) {
    const result = round.modules.get(file)
    if (!result) problems.push(`${file} did not run`)
    else {
      problems.push(...result.errors.map((message) => `${file}: ${message}`))
      if (result.tests !== steps || result.passed !== steps) problems.push(`${file}: ${result.passed} of ${result.tests} tests passed, expected ${steps} of ${steps}`)
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Printing

const ms = (value) => `${value.toFixed(1)} ms`
const ratio = (a, b) => (b > 0 ? a / b : Number.NaN)
const verdict = (value) => `${value.toFixed(2)}x  (target ≤ ${TARGET.toFixed(1)}x: ${value <= TARGET ? 'met' : 'NOT met'})`

function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  return rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('   ')).join('\n')
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  if (!existsSync(join(PACKAGE_ROOT, 'dist/index.js')) || !existsSync(join(PACKAGE_ROOT, 'dist/scriptlet/index.js')) || !existsSync(join(PACKAGE_ROOT, 'dist/runtime/index.js'))) {
    fail(`${relative(process.cwd(), join(PACKAGE_ROOT, 'dist')) || 'dist'} is missing or incomplete: run \`npm run build\` first (the benchmark imports the built package).`)
  }
  let startVitest
  try {
    ;({ startVitest } = await import('vitest/node'))
  } catch (error) {
    fail(`cannot import vitest/node (${error.message}): run \`npm install\` first.`)
  }
  const { compileRecipe } = await import(pathToFileURL(join(PACKAGE_ROOT, 'dist/index.js')).href)

  const root = writeProject(options)
  const { steps, rounds } = options
  console.log(`vitest-recipes overhead: ${steps} ${options.ctxSet ? 'ctx.set' : 'no-op'} ts steps, recipe vs hand-written Vitest file`)
  console.log(`${rounds} rounds (first one is a warm-up), one Vitest instance per round started in this process, one file at a time`)
  console.log(`project: ${root}\n`)

  const counted = []
  try {
    for (let i = 0; i < rounds; i++) {
      // Alternate which file runs first, so neither always gets the warmer Vite server.
      const order = i % 2 === 0 ? [RECIPE_FILE, HANDWRITTEN_FILE] : [HANDWRITTEN_FILE, RECIPE_FILE]
      const round = await runRound(startVitest, root, order)
      const problems = checkRound(round, steps)
      if (problems.length > 0) {
        console.error(`round ${i + 1}: the benchmark's tests did not all pass, so its timings mean nothing:\n  ${problems.slice(0, 10).join('\n  ')}`)
        process.exitCode = 1
        return
      }
      const recipe = round.modules.get(RECIPE_FILE)
      const hand = round.modules.get(HANDWRITTEN_FILE)
      console.log(
        `round ${i + 1}${i === 0 ? ' (warm-up)' : '          '}  tests: recipe ${ms(recipe.testsMs)}, hand ${ms(hand.testsMs)}  ` +
          `file: recipe ${ms(recipe.fileMs)}, hand ${ms(hand.fileMs)}  (run ${ms(round.wallMs)})`,
      )
      if (i > 0) counted.push(round)
    }

    // The YAML → module compile alone, as the Vite plugin's transform does it.
    const source = readFileSync(join(root, RECIPE_FILE), 'utf8')
    const compileTimes = []
    for (let i = 0; i < 10; i++) {
      const started = performance.now()
      compileRecipe(source, join(root, RECIPE_FILE), root)
      compileTimes.push(performance.now() - started)
    }

    const pick = (file, field) => median(counted.map((round) => round.modules.get(file)[field]))
    const fields = [
      ['tests (Σ test durations)', 'testsMs'],
      ['module duration (tests + hooks)', 'moduleMs'],
      ['collect (import the file)', 'collectMs'],
      ['whole file (collect + module duration)', 'fileMs'],
      ['prepare (runner setup)', 'prepareMs'],
      ['environment setup', 'environmentMs'],
    ]
    const rows = [['median over ' + counted.length + ' rounds', 'recipe', 'hand-written', 'recipe/hand', 'per step']]
    for (const [label, field] of fields) {
      const recipe = pick(RECIPE_FILE, field)
      const hand = pick(HANDWRITTEN_FILE, field)
      rows.push([label, ms(recipe), ms(hand), `${ratio(recipe, hand).toFixed(2)}x`, `${(((recipe - hand) / steps) * 1000).toFixed(0)} µs`])
    }
    console.log(`\n${table(rows)}`)
    console.log(`\n(per step: (recipe - hand-written) / ${steps} steps)`)
    console.log(`recipe compile alone (parse + codegen, in the Vite server, part of collect): ${ms(median(compileTimes))}`)

    // Where collect time goes: each file's slowest imports (last counted round).
    const shorten = (id) => (id.startsWith(PACKAGE_ROOT + '/') ? relative(PACKAGE_ROOT, id) : id.startsWith(root + '/') ? relative(root, id) : id)
    for (const file of [RECIPE_FILE, HANDWRITTEN_FILE]) {
      const slowest = [...counted.at(-1).modules.get(file).imports].sort(([, a], [, b]) => b.totalTime - a.totalTime).slice(0, 6)
      if (slowest.length === 0) continue
      console.log(`\nslowest imports of ${file} (last round; total / self):`)
      for (const [id, duration] of slowest) {
        console.log(`  ${ms(duration.totalTime).padStart(9)} / ${ms(duration.selfTime).padStart(8)}  ${shorten(id)}${duration.external ? '  (external)' : ''}`)
      }
    }

    const testsRatio = ratio(pick(RECIPE_FILE, 'testsMs'), pick(HANDWRITTEN_FILE, 'testsMs'))
    const fileRatio = ratio(pick(RECIPE_FILE, 'fileMs'), pick(HANDWRITTEN_FILE, 'fileMs'))
    console.log(`\nrecipe / hand-written, tests only:  ${verdict(testsRatio)}`)
    console.log(`recipe / hand-written, whole file:  ${verdict(fileRatio)}`)
  } finally {
    if (options.keep) console.log(`\nkept the project: ${root}  (cd there and run \`npx vitest run\` to try it by hand)`)
    else rmSync(root, { recursive: true, force: true })
  }
  // A measurement, not a test: a ratio over the target still exits 0.
  process.exitCode = 0
}

await main()
