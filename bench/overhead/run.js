#!/usr/bin/env node
// Overhead benchmark: a recipe of N no-op TypeScript steps against the same steps written by
// hand as a plain Vitest test file and as a Gherkin scenario run by @amiceli/vitest-cucumber,
// all run by one Vitest instance started in this process. Prints medians over rounds and the
// ratios recipe / hand-written and recipe / vitest-cucumber (target: at most 1.5x each, issue 26).
// A fourth file, the floor, is the hand-written one plus only the work the runner's guarantees
// require of each step (one getrusage per step boundary, the step's record built, serialized and
// appended to a journal with one write(2), the record on the test for reporters): what no
// runner keeping those guarantees can go below, printed as floor / hand-written.
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
const FLOOR_FILE = 'tests/floor.test.ts'
const FILES = [RECIPE_FILE, HANDWRITTEN_FILE, CUCUMBER_FILE, FLOOR_FILE]

const HELP = `Usage: node bench/overhead/run.js [options]

Runs a recipe of N no-op ts steps, the same steps hand-written as a plain Vitest test file,
and the same steps as one Gherkin scenario run by @amiceli/vitest-cucumber, in one Vitest run
started in this process, and prints the ratios recipe / hand-written and recipe / cucumber.
The floor file is the hand-written one plus only what the runner's guarantees require of a
step (one getrusage per step boundary, its record serialized and appended with one write(2), the record
on the test): floor / hand-written is as low as a runner keeping them can go.

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

  // The floor: the hand-written steps plus the work each step's guarantees require, and nothing else.
  write(
    FLOOR_FILE,
    `import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { afterAll, test } from 'vitest'
import { Context } from 'vitest-recipes/scriptlet'
import noop from '../scriptlets/noop.ts'

const ctx = new Context({}, { keyNaming: 'error' })
const root = ${JSON.stringify(root)}
const log = (...args: unknown[]) => console.error(...args)
const params = ${params}
mkdirSync(\`\${root}/reports/floor\`, { recursive: true })
const journal = openSync(\`\${root}/reports/floor/\${process.pid}.jsonl\`, 'a')
afterAll(() => closeSync(journal))

/** The reading that ended the previous step opens the next (one getrusage per step boundary, as the runner may). */
let lastReading: NodeJS.ResourceUsage | undefined

/** One step as the guarantees require: CPU time and peak RSS at each end, the record appended with one write, on the test. */
async function step(name: string, idx: number, task: { meta: Record<string, unknown> }) {
  const before = lastReading ?? process.resourceUsage()
  const startedAt = performance.now()
  const startTime = new Date().toISOString()
  await noop.run(ctx, params, { step: name, root, log })
  const after = process.resourceUsage()
  lastReading = after
  const durationMs = performance.now() - startedAt
  const record = {
    runId: 'floor', recipe: 'tests/floor.test.ts', testId: 'BENCH-FLOOR', step: name, idx, type: 'ts', status: 'passed',
    params, writes: [], durationMs, startTime, setup: [],
    cpuMs: (after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime) / 1000,
    peakRssBytes: Math.max(0, after.maxRSS - before.maxRSS) * 1024,
    attempts: [{ attempt: 1, status: 'passed', durationMs, startTime }],
    envelope: { status: 'ok', outputs: [], artifacts: [], metrics: {}, warnings: [] },
  }
  writeSync(journal, \`\${JSON.stringify({ kind: 'step', seq: idx, step: record })}\\n\`)
  task.meta.recipeStep = record
}

${names.map((name, i) => `test('${name}', { timeout: ${STEP_TIMEOUT_MS} }, async (context) => { await step('${name}', ${i + 1}, context.task) })\n`).join('')}`,
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
      const [recipe, hand, cucumber, floor] = FILES.map((file) => round.modules.get(file))
      console.log(
        `${roundLabel(i)}  file time: recipe ${ms(recipe.moduleMs)}, hand ${ms(hand.moduleMs)}, cucumber ${ms(cucumber.moduleMs)}, floor ${ms(floor.moduleMs)}  (run ${ms(round.wallMs)})`,
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
        'floor',
        'recipe/hand',
        'recipe/cucumber',
        'floor/hand',
        'per step',
      ],
    ]
    for (const [label, field] of fields) {
      const [recipe, hand, cucumber, floor] = FILES.map((file) => pick(file, field))
      rows.push([
        label,
        ms(recipe),
        ms(hand),
        ms(cucumber),
        ms(floor),
        `${ratio(recipe, hand).toFixed(2)}x`,
        `${ratio(recipe, cucumber).toFixed(2)}x`,
        `${ratio(floor, hand).toFixed(2)}x`,
        `${(((recipe - hand) / steps) * 1000).toFixed(0)} µs`,
      ])
    }
    console.log(`\n${table(rows)}`)
    console.log(
      `\n(per step: (recipe - hand-written) / ${steps} steps; floor: hand-written + what the guarantees require)`,
    )
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
    const hand = pick(HANDWRITTEN_FILE, 'moduleMs')
    const floor = pick(FLOOR_FILE, 'moduleMs')
    console.log(
      `floor / hand-written,     ${'file time (tests + hooks)'.padEnd(38)} ${ratio(floor, hand).toFixed(2)}x  ` +
        `(the guarantees alone; the runner's own work on top: ${(((pick(RECIPE_FILE, 'moduleMs') - floor) / steps) * 1000).toFixed(0)} µs a step)`,
    )
  } finally {
    finishProject(root, options.keep)
  }
  // A measurement, not a test: a ratio over the target still exits 0.
  process.exitCode = 0
}

await main()
