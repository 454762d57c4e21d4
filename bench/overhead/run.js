#!/usr/bin/env node
// Overhead benchmark: a recipe of N no-op TypeScript steps against the same steps written by
// hand as a plain Vitest test file and as a Gherkin scenario run by @amiceli/vitest-cucumber,
// all run by one Vitest instance started in this process. Prints medians over rounds and the
// ratios recipe / hand-written and recipe / vitest-cucumber (target: at most 1.5x each, issue 26).
//
//   node bench/overhead/run.js [--steps 200] [--rounds 5] [--ctx-set] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs the package built
// (`npm run build`): the throwaway project imports `vitest-recipes` through its package exports.
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
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

const TARGET = 1.5
const RECIPE_FILE = 'recipes/overhead.yaml'
const HANDWRITTEN_FILE = 'tests/handwritten.test.ts'
const CUCUMBER_FILE = 'tests/cucumber.test.ts'
const FILES = [RECIPE_FILE, HANDWRITTEN_FILE, CUCUMBER_FILE]

const HELP = `Usage: node bench/overhead/run.js [options]

Runs a recipe of N no-op ts steps, the same steps hand-written as a plain Vitest test file,
and the same steps as one Gherkin scenario run by @amiceli/vitest-cucumber, in one Vitest run
started in this process, and prints the ratios recipe / hand-written and recipe / cucumber.

Options:
  --steps N    steps in the recipe and tests in the hand-written file (default 200)
  --rounds N   Vitest runs; the first is a warm-up and is not counted (default 5)
  --ctx-set    each step also writes one ctx key (ctx.set), instead of doing nothing
  --keep       keep the throwaway project (its path is printed) instead of deleting it
  -h, --help   show this help
`

const fail = failWith('overhead')

function parseOptions() {
  const values = parseFlags(
    {
      steps: { type: 'string', default: '200' },
      rounds: { type: 'string', default: '5' },
      'ctx-set': { type: 'boolean', default: false },
    },
    HELP,
    fail,
  )
  const steps = positiveInteger(values.steps, '--steps', fail)
  const rounds = parseRounds(values.rounds, fail)
  return { steps, rounds, ctxSet: values['ctx-set'], keep: values.keep }
}

// ---------------------------------------------------------------------------------------------
// The throwaway project

function writeProject({ steps, ctxSet }) {
  const { root, write } = createProject('overhead')

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

  // The same steps as the closest peer runs them: a scenario of N steps, each a test calling the scriptlet.
  write(
    'features/overhead.feature',
    `Feature: Overhead
  Scenario: ${steps} steps
${names.map((name, i) => `    ${i === 0 ? 'Given' : 'And'} ${name}\n`).join('')}`,
  )
  write(
    CUCUMBER_FILE,
    `import { describeFeature, loadFeature } from '@amiceli/vitest-cucumber'
import { Context } from 'vitest-recipes/scriptlet'
import noop from '../scriptlets/noop.ts'

const feature = await loadFeature(${JSON.stringify(join(root, 'features/overhead.feature'))})
const ctx = new Context({}, { keyNaming: 'error' })
const root = ${JSON.stringify(root)}
const log = (...args: unknown[]) => console.error(...args)
const params = ${params}

describeFeature(feature, ({ Scenario }) => {
  Scenario('${steps} steps', ({ Given, And }) => {
${names.map((name, i) => `    ${i === 0 ? 'Given' : 'And'}('${name}', async () => { await noop.run(ctx, params, { step: '${name}', root, log }) })\n`).join('')}  })
})
`,
  )
  return root
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** A test file's own timings, as Vitest records them. */
function fileTimings(testModule, diagnostic) {
  let tests = 0
  let passed = 0
  let testsMs = 0
  for (const testCase of testModule.children.allTests()) {
    tests++
    if (testCase.result().state === 'passed') passed++
    testsMs += testCase.diagnostic()?.duration ?? 0
  }
  return {
    tests,
    passed,
    testsMs,
    moduleMs: diagnostic.duration,
    collectMs: diagnostic.collectDuration,
    prepareMs: diagnostic.prepareDuration,
    setupMs: diagnostic.setupDuration,
    environmentMs: diagnostic.environmentSetupDuration,
    // The plugin's setup file (runtime/preload) counts: what it starts overlaps collect, it must not hide.
    fileMs: diagnostic.setupDuration + diagnostic.collectDuration + diagnostic.duration,
    imports: Object.entries(diagnostic.importDurations ?? {}),
  }
}

/** One round: the three files in one Vitest run, in `order`. */
function runRound(startVitest, root, order) {
  return runVitest(startVitest, root, {
    summarize: fileTimings,
    order,
    // Keep the slowest imports of each file (diagnostic().importDurations), printed below.
    config: { experimental: { importDurations: { limit: 8 } } },
  })
}

// ---------------------------------------------------------------------------------------------
// Printing

const verdict = (value) =>
  `${value.toFixed(2)}x  (target ≤ ${TARGET.toFixed(2)}x: ${value <= TARGET ? 'met' : 'NOT met'})`

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  requireDist(['dist/index.js', 'dist/scriptlet/index.js', 'dist/runtime/index.js'], fail)
  const startVitest = await importStartVitest(fail)
  const { compileRecipe } = await import(pathToFileURL(join(PACKAGE_ROOT, 'dist/index.js')).href)

  const root = writeProject(options)
  const { steps, rounds } = options
  console.log(
    `vitest-recipes overhead: ${steps} ${options.ctxSet ? 'ctx.set' : 'no-op'} ts steps, recipe vs hand-written Vitest file`,
  )
  console.log(
    `${rounds} rounds (first one is a warm-up), one Vitest instance per round started in this process, one file at a time`,
  )
  console.log(`project: ${root}\n`)

  const counted = []
  try {
    for (let i = 0; i < rounds; i++) {
      // Rotate which file runs first, so none always gets the warmer Vite server.
      const order = [...FILES.slice(i % FILES.length), ...FILES.slice(0, i % FILES.length)]
      const round = await runRound(startVitest, root, order)
      const problems = checkAllPassed(round, FILES, steps)
      if (problems.length > 0) {
        reportProblems(i, "the benchmark's tests did not all pass", problems)
        return
      }
      const [recipe, hand, cucumber] = FILES.map((file) => round.modules.get(file))
      console.log(
        `${roundLabel(i)}  tests: recipe ${ms(recipe.testsMs)}, hand ${ms(hand.testsMs)}, cucumber ${ms(cucumber.testsMs)}  ` +
          `file: recipe ${ms(recipe.fileMs)}, hand ${ms(hand.fileMs)}, cucumber ${ms(cucumber.fileMs)}  (run ${ms(round.wallMs)})`,
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
      ['whole file (setup + collect + module duration)', 'fileMs'],
      ['setup (setup files)', 'setupMs'],
      ['prepare (runner setup)', 'prepareMs'],
      ['environment setup', 'environmentMs'],
    ]
    const rows = [
      [
        `median over ${counted.length} rounds`,
        'recipe',
        'hand-written',
        'cucumber',
        'recipe/hand',
        'recipe/cucumber',
        'per step',
      ],
    ]
    for (const [label, field] of fields) {
      const [recipe, hand, cucumber] = FILES.map((file) => pick(file, field))
      rows.push([
        label,
        ms(recipe),
        ms(hand),
        ms(cucumber),
        `${ratio(recipe, hand).toFixed(2)}x`,
        `${ratio(recipe, cucumber).toFixed(2)}x`,
        `${(((recipe - hand) / steps) * 1000).toFixed(0)} µs`,
      ])
    }
    console.log(`\n${table(rows)}`)
    console.log(`\n(per step: (recipe - hand-written) / ${steps} steps)`)
    console.log(
      `recipe compile alone (parse + codegen, in the Vite server, part of collect): ${ms(median(compileTimes))}`,
    )

    // Where collect time goes: each file's slowest imports (last counted round).
    const shorten = (id) =>
      id.startsWith(`${PACKAGE_ROOT}/`)
        ? relative(PACKAGE_ROOT, id)
        : id.startsWith(`${root}/`)
          ? relative(root, id)
          : id
    for (const file of FILES) {
      const slowest = [...counted.at(-1).modules.get(file).imports]
        .sort(([, a], [, b]) => b.totalTime - a.totalTime)
        .slice(0, 6)
      if (slowest.length === 0) continue
      console.log(`\nslowest imports of ${file} (last round; total / self):`)
      for (const [id, duration] of slowest) {
        console.log(
          `  ${ms(duration.totalTime).padStart(9)} / ${ms(duration.selfTime).padStart(8)}  ${shorten(id)}${duration.external ? '  (external)' : ''}`,
        )
      }
    }

    console.log('')
    for (const [label, field] of [
      ['file time (tests + hooks)', 'moduleMs'],
      ['whole file (setup + collect + tests + hooks)', 'fileMs'],
    ]) {
      const recipe = pick(RECIPE_FILE, field)
      console.log(
        `recipe / hand-written,    ${label.padEnd(38)} ${verdict(ratio(recipe, pick(HANDWRITTEN_FILE, field)))}`,
      )
      console.log(`recipe / vitest-cucumber, ${label.padEnd(38)} ${verdict(ratio(recipe, pick(CUCUMBER_FILE, field)))}`)
    }
  } finally {
    finishProject(root, options.keep)
  }
  // A measurement, not a test: a ratio over the target still exits 0.
  process.exitCode = 0
}

await main()
