#!/usr/bin/env node
// Executors benchmark: what a child-process step costs on top of the child process itself,
// and what the warm Python host saves over one python3 process per step. Seven test files
// run in one Vitest instance started in this process, once per round:
//
//   shell   recipes/shell.yaml            N `type: shell` no-op steps (scripts/noop.sh)
//           tests/shell-execa.test.ts     N tests, each `await execa(scripts/noop.sh)` + JSON.parse
//           tests/shell-spawn.test.ts     N tests, the same with node:child_process's spawn
//   python  recipes/python-module.yaml    N `type: python` module steps (warm host, one ctx.set each)
//           recipes/python-script.yaml    N `type: python` `script:` steps (python3 scripts/noop.py --params ...)
//           tests/python-spawn.test.ts    N tests, each `await execa('python3', ['-c', ...])` + JSON.parse
//           tests/python-pass.test.ts     5 tests, each `await execa('python3', ['-c', 'pass'])`
//
// Prints medians over rounds, the shell ratio recipe / execa with its per-step difference,
// the python per-step times with the ratio spawn / warm, and the two targets of issue 11:
// shell recipe / execa (at most 1.2x) and first python step / python3 -c pass (at most 1.5x).
//
//   node bench/executors/run.js [--steps 50] [--rounds 5] [--python python3] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs the package built
// (`npm run build`): the throwaway project imports `vitest-recipes` through its package exports.
import { spawnSync } from 'node:child_process'
import { chmodSync } from 'node:fs'
import { join } from 'node:path'
import {
  checkAllPassed,
  checkFiles,
  createProject,
  failWith,
  finishProject,
  importStartVitest,
  median,
  ms,
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

const FILES = {
  shellRecipe: 'recipes/shell.yaml',
  shellExeca: 'tests/shell-execa.test.ts',
  shellSpawn: 'tests/shell-spawn.test.ts',
  pythonModule: 'recipes/python-module.yaml',
  pythonScript: 'recipes/python-script.yaml',
  pythonSpawn: 'tests/python-spawn.test.ts',
  pythonPass: 'tests/python-pass.test.ts',
}
const ALL_FILES = Object.values(FILES)
/** Bare interpreter starts per round: the baseline of the first python step. */
const PASS_TESTS = 5

/** Issue 11's targets for the two figures this benchmark owns. */
const TARGETS = { shell: 1.2, firstPython: 1.5 }

const HELP = `Usage: node bench/executors/run.js [options]

Measures, in one Vitest run started in this process:
  1. a recipe of N no-op shell steps against a plain Vitest file of N tests that each
     await execa(<the same script>) and JSON.parse its stdout: ratio and per-step difference
     (and the same by hand with node:child_process's spawn);
  2. N python module steps (one warm Python host) against N python \`script:\` steps (one
     python3 process per step) and a plain Vitest file spawning \`python3 -c\` per test;
     the first python module step (it waits for the host to start) against a bare
     \`python3 -c pass\` spawned by a plain Vitest file.

Options:
  --steps N        steps per recipe and tests per hand-written file (default 50)
  --rounds N       Vitest runs; the first is a warm-up and is not counted (default 5)
  --python EXE     Python interpreter, for the plugin and the hand-written file (default python3)
  --keep           keep the throwaway project (its path is printed) instead of deleting it
  -h, --help       show this help
`

const fail = failWith('executors')

function parseOptions() {
  const values = parseFlags(
    {
      steps: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '5' },
      python: { type: 'string', default: 'python3' },
    },
    HELP,
    fail,
  )
  const steps = positiveInteger(values.steps, '--steps', fail)
  const rounds = parseRounds(values.rounds, fail)
  return { steps, rounds, python: values.python, keep: values.keep }
}

// ---------------------------------------------------------------------------------------------
// The throwaway project

// What every python step does, in all three forms: read its params, write one ctx key.
// The script and the `-c` program are the same code; the module step does it through ctx.set.
const PYTHON_SCRIPT = `import json
import sys

params = json.loads(sys.argv[sys.argv.index("--params") + 1])
print(json.dumps({"status": "ok", "ctx": {params["key"]: True}}))
`

function writeProject({ steps, python }) {
  const { root, write } = createProject(
    'executors',
    `recipes({ reports: false, python: { executable: ${JSON.stringify(python)} } })`,
  )

  // The shell step: prints an ok envelope and nothing else.
  write('scripts/noop.sh', `#!/bin/sh\necho '{"status":"ok"}'\n`)
  chmodSync(join(root, 'scripts/noop.sh'), 0o755)
  // The python script step (python3 scripts/noop.py --params '{"key": ...}').
  write('scripts/noop.py', PYTHON_SCRIPT)
  // The python module step, a class scriptlet run by the warm host (python.path defaults to the root).
  write('scriptlets/__init__.py', '')
  write(
    'scriptlets/noop.py',
    `class Noop:
    def run(self, ctx, params):
        ctx.set(params["key"], True, who="noop")
`,
  )

  const names = Array.from({ length: steps }, (_, i) => stepName(i + 1, steps))
  const key = (name) => `bench.${name}_v1`
  const recipe = (id, description, step) =>
    `test_meta:\n  test_id: ${id}\n  description: ${description}\nsteps:\n${names.map((name) => `  - name: ${name}\n${step(name)}`).join('')}`

  write(
    FILES.shellRecipe,
    recipe(
      'BENCH-EXEC-SHELL',
      `${steps} no-op shell steps, for bench/executors/run.js`,
      () => `    type: shell\n    script: scripts/noop.sh\n`,
    ),
  )
  write(
    FILES.pythonModule,
    recipe(
      'BENCH-EXEC-PY-MODULE',
      `${steps} python module steps (warm host), for bench/executors/run.js`,
      (name) => `    type: python\n    module: scriptlets.noop\n    class: Noop\n    args: { key: ${key(name)} }\n`,
    ),
  )
  write(
    FILES.pythonScript,
    recipe(
      'BENCH-EXEC-PY-SCRIPT',
      `${steps} python script steps (one process each), for bench/executors/run.js`,
      (name) => `    type: python\n    script: scripts/noop.py\n    args: { key: ${key(name)} }\n`,
    ),
  )

  // By hand: the same processes through execa, one top-level test each, same timeout.
  write(
    FILES.shellExeca,
    `import { test } from 'vitest'
import { execa } from 'execa'

const script = ${JSON.stringify(join(root, 'scripts/noop.sh'))}

async function step() {
  const { stdout } = await execa(script)
  const envelope = JSON.parse(stdout)
  if (envelope.status !== 'ok') throw new Error(\`not ok: \${stdout}\`)
}

${names.map((name) => `test('${name}', { timeout: ${STEP_TIMEOUT_MS} }, step)\n`).join('')}`,
  )
  // The bare process: what is left of a step once neither execa nor the plugin adds anything.
  write(
    FILES.shellSpawn,
    `import { test } from 'vitest'
import { spawn } from 'node:child_process'

const script = ${JSON.stringify(join(root, 'scripts/noop.sh'))}

function step() {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(script, [], { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk))
    child.on('error', reject)
    child.on('close', () => {
      if (JSON.parse(stdout).status !== 'ok') reject(new Error(\`not ok: \${stdout}\`))
      else resolve()
    })
  })
}

${names.map((name) => `test('${name}', { timeout: ${STEP_TIMEOUT_MS} }, step)\n`).join('')}`,
  )
  write(
    FILES.pythonPass,
    `import { test } from 'vitest'
import { execa } from 'execa'

const python = ${JSON.stringify(python)}

${Array.from({ length: PASS_TESTS }, (_, i) => `test('pass_${i + 1}', { timeout: ${STEP_TIMEOUT_MS} }, async () => { await execa(python, ['-c', 'pass']) })\n`).join('')}`,
  )
  write(
    FILES.pythonSpawn,
    `import { test } from 'vitest'
import { execa } from 'execa'

const python = ${JSON.stringify(python)}
const program = ${JSON.stringify(PYTHON_SCRIPT)}

async function step(key: string) {
  const { stdout } = await execa(python, ['-c', program, '--params', JSON.stringify({ key })])
  const envelope = JSON.parse(stdout)
  if (envelope.status !== 'ok' || envelope.ctx?.[key] !== true) throw new Error(\`not ok: \${stdout}\`)
}

${names.map((name) => `test('${name}', { timeout: ${STEP_TIMEOUT_MS} }, () => step('${key(name)}'))\n`).join('')}`,
  )
  return root
}

/** The interpreter behind `python` (a shim may stand in front of it) and what starting it costs. */
function describePython(python) {
  const probe = spawnSync(python, ['-c', 'import sys; print(sys.version.split()[0]); print(sys.executable)'], {
    encoding: 'utf8',
  })
  if (probe.status !== 0)
    fail(
      `cannot run "${python}" (${probe.error?.message ?? probe.stderr.trim()}): install Python 3 or pass --python <interpreter>.`,
    )
  const [version, executable] = probe.stdout.trim().split('\n')
  const startMs = (file) => {
    const samples = []
    for (let i = 0; i < 10; i++) {
      const started = performance.now()
      spawnSync(file, ['-c', 'pass'])
      samples.push(performance.now() - started)
    }
    return median(samples)
  }
  return {
    version,
    executable,
    startMs: startMs(python),
    directStartMs: executable && executable !== python ? startMs(executable) : undefined,
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** A test file's own timings, as Vitest records them, and every test's duration. */
function fileTimings(testModule, diagnostic) {
  const durations = []
  let passed = 0
  let executorMs = 0
  for (const testCase of testModule.children.allTests()) {
    if (testCase.result().state === 'passed') passed++
    durations.push(testCase.diagnostic()?.duration ?? 0)
    // Recipe steps only: the executor's own time, as the runtime records it in the step's meta.
    executorMs += testCase.meta().recipeStep?.durationMs ?? 0
  }
  return {
    tests: durations.length,
    passed,
    durations,
    testsMs: durations.reduce((sum, value) => sum + value, 0),
    executorMs,
    medianTestMs: durations.length > 0 ? median(durations) : 0,
    firstTestMs: durations[0] ?? 0,
    collectMs: diagnostic.collectDuration,
    fileMs: diagnostic.collectDuration + diagnostic.duration,
  }
}

// ---------------------------------------------------------------------------------------------
// Printing

const ms2 = (value) => ms(value, 2)
const signedMs = (value) => `${value >= 0 ? '+' : ''}${value.toFixed(2)} ms`
const times = (value) => `${value.toFixed(2)}x`

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  requireDist(['dist/index.js', 'dist/runtime/index.js', 'dist/executors/python-host.js'], fail)
  const interpreter = describePython(options.python)
  const startVitest = await importStartVitest(fail)

  const root = writeProject(options)
  const { steps, rounds } = options
  console.log(
    `vitest-recipes executors: ${steps} steps per file, shell steps vs execa, warm python host vs a python process per step`,
  )
  console.log(
    `${rounds} rounds (first one is a warm-up), one Vitest instance per round started in this process, one file at a time`,
  )
  console.log(
    `Node ${process.version}; Python ${interpreter.version}: "${options.python}" runs ${interpreter.executable}`,
  )
  console.log(
    `bare start of the interpreter, outside Vitest (median of 10 \`-c pass\`): ${options.python} ${ms(interpreter.startMs)}` +
      (interpreter.executable !== options.python ? `, ${interpreter.executable} ${ms(interpreter.directStartMs)}` : ''),
  )
  if (interpreter.directStartMs !== undefined && interpreter.startMs - interpreter.directStartMs > 10) {
    console.log(
      `  note: "${options.python}" is a wrapper (a pyenv/asdf shim?) that costs ${ms(interpreter.startMs - interpreter.directStartMs)} per process; try --python ${interpreter.executable}`,
    )
  }
  console.log(`project: ${root}\n`)

  const counted = []
  try {
    for (let i = 0; i < rounds; i++) {
      // Rotate the file order, so no file always runs first (or last) in a round.
      const order = ALL_FILES.map((_, j) => ALL_FILES[(i + j) % ALL_FILES.length])
      let round
      try {
        round = await runVitest(startVitest, root, { summarize: fileTimings, order })
      } catch (error) {
        // For example dist/ rebuilt (so briefly missing) while the benchmark runs.
        console.error(`round ${i + 1}: Vitest could not run: ${error.message.split('\n').slice(0, 6).join('\n  ')}`)
        process.exitCode = 1
        return
      }
      const problems = [
        ...checkAllPassed(
          round,
          ALL_FILES.filter((file) => file !== FILES.pythonPass),
          steps,
        ),
        // The run's own errors are in the list above already.
        ...checkFiles({ ...round, runErrors: [] }, [FILES.pythonPass], (result, file) =>
          result.passed === PASS_TESTS ? [] : [`${file}: ${result.passed} of ${PASS_TESTS} tests passed`],
        ),
      ]
      if (problems.length > 0) {
        reportProblems(i, "the benchmark's tests did not all pass", problems)
        return
      }
      const get = (file) => round.modules.get(file).testsMs
      console.log(
        `${roundLabel(i)}  Σ tests: shell ${ms(get(FILES.shellRecipe))}, execa ${ms(get(FILES.shellExeca))}, spawn ${ms(get(FILES.shellSpawn))}  |  ` +
          `py module ${ms(get(FILES.pythonModule))} (first ${ms(round.modules.get(FILES.pythonModule).firstTestMs)}), py script ${ms(get(FILES.pythonScript))}, python3 -c ${ms(get(FILES.pythonSpawn))}, -c pass ${ms(round.modules.get(FILES.pythonPass).medianTestMs)}  (run ${ms(round.wallMs)})`,
      )
      if (i > 0) counted.push(round)
    }

    const pick = (file, field) => median(counted.map((round) => round.modules.get(file)[field]))
    const header = `median over ${counted.length} rounds`

    // 1. Shell steps against execa by hand.
    {
      const recipe = (field) => pick(FILES.shellRecipe, field)
      const hand = (field) => pick(FILES.shellExeca, field)
      const bare = (field) => pick(FILES.shellSpawn, field)
      const rows = [[header, 'shell recipe', 'execa by hand', 'recipe/hand', 'diff per step', 'spawn by hand']]
      const row = (label, r, h, diff, format = ms, b = undefined) =>
        rows.push([label, format(r), format(h), times(ratio(r, h)), signedMs(diff), b === undefined ? '–' : format(b)])
      row(
        'Σ test durations',
        recipe('testsMs'),
        hand('testsMs'),
        (recipe('testsMs') - hand('testsMs')) / steps,
        ms,
        bare('testsMs'),
      )
      row(
        '  per step (Σ / N)',
        recipe('testsMs') / steps,
        hand('testsMs') / steps,
        (recipe('testsMs') - hand('testsMs')) / steps,
        ms2,
        bare('testsMs') / steps,
      )
      rows.push(['  in the executor (step meta), per step', ms2(recipe('executorMs') / steps), '–', '', '', '–'])
      row(
        'median test',
        recipe('medianTestMs'),
        hand('medianTestMs'),
        recipe('medianTestMs') - hand('medianTestMs'),
        ms2,
        bare('medianTestMs'),
      )
      row(
        'whole file (collect + tests + hooks)',
        recipe('fileMs'),
        hand('fileMs'),
        (recipe('fileMs') - hand('fileMs')) / steps,
        ms,
        bare('fileMs'),
      )
      console.log(
        `\n1. shell: ${steps} no-op \`type: shell\` steps vs ${steps} tests doing \`await execa(script)\` + JSON.parse` +
          ' (and the same with node:child_process spawn)',
      )
      console.log(table(rows))
      console.log(`(diff per step: (recipe - hand) / ${steps} for the sums, recipe - hand for the median test)`)
      console.log(
        `recipe / spawn by hand (what the plugin adds to the bare process): ${times(ratio(recipe('testsMs'), bare('testsMs')))}, ` +
          `${signedMs((recipe('testsMs') - bare('testsMs')) / steps)} per step`,
      )
    }

    // 2. Python: warm host against a process per step.
    {
      const columns = [
        ['warm host (module)', FILES.pythonModule],
        ['script: (process/step)', FILES.pythonScript],
        ['python3 -c by hand', FILES.pythonSpawn],
      ]
      const rows = [[header, ...columns.map(([label]) => label)]]
      rows.push(['Σ test durations', ...columns.map(([, file]) => ms(pick(file, 'testsMs')))])
      rows.push(['  per step (Σ / N)', ...columns.map(([, file]) => ms2(pick(file, 'testsMs') / steps))])
      rows.push([
        '  in the executor (step meta), per step',
        ...columns.map(([, file]) => (file === FILES.pythonSpawn ? '–' : ms2(pick(file, 'executorMs') / steps))),
      ])
      rows.push(['median test', ...columns.map(([, file]) => ms2(pick(file, 'medianTestMs')))])
      rows.push(['first test (host start for module)', ...columns.map(([, file]) => ms2(pick(file, 'firstTestMs')))])
      rows.push(['whole file (collect + tests + hooks)', ...columns.map(([, file]) => ms(pick(file, 'fileMs')))])
      console.log(`\n2. python: ${steps} steps each writing one ctx key: warm host vs one python process per step`)
      console.log(table(rows))

      const warm = pick(FILES.pythonModule, 'testsMs') / steps
      const script = pick(FILES.pythonScript, 'testsMs') / steps
      const spawn = pick(FILES.pythonSpawn, 'testsMs') / steps
      const warmMedian = pick(FILES.pythonModule, 'medianTestMs')
      const scriptMedian = pick(FILES.pythonScript, 'medianTestMs')
      const spawnMedian = pick(FILES.pythonSpawn, 'medianTestMs')
      const ratioRows = [['ratio', 'per step (Σ / N)', 'median test']]
      ratioRows.push([
        'spawn / warm: script: steps / warm host',
        times(ratio(script, warm)),
        times(ratio(scriptMedian, warmMedian)),
      ])
      ratioRows.push([
        'spawn / warm: python3 -c by hand / warm host',
        times(ratio(spawn, warm)),
        times(ratio(spawnMedian, warmMedian)),
      ])
      ratioRows.push([
        'script: steps / python3 -c by hand',
        times(ratio(script, spawn)),
        times(ratio(scriptMedian, spawnMedian)),
      ])
      console.log('')
      console.log(table(ratioRows))
      console.log(
        `script: step overhead over a bare python3 spawn: ${signedMs(script - spawn)} per step; ` +
          `warm host saves ${ms2(script - warm)} per step over script: steps (host start, paid once per recipe file: ~${ms(pick(FILES.pythonModule, 'firstTestMs') - warmMedian)})`,
      )
    }

    // 3. Issue 11's targets: each round's ratio (both sides under the same load), median over rounds.
    {
      const perRound = (file, field, baseFile, baseField) =>
        median(counted.map((round) => ratio(round.modules.get(file)[field], round.modules.get(baseFile)[baseField])))
      const verdict = (value, target) => (value <= target ? 'within target' : 'over target')
      const shell = perRound(FILES.shellRecipe, 'testsMs', FILES.shellExeca, 'testsMs')
      const firstPython = perRound(FILES.pythonModule, 'firstTestMs', FILES.pythonPass, 'medianTestMs')
      console.log(`\n3. issue 11 targets (each round's ratio, median over ${counted.length} rounds)`)
      console.log(
        `shell recipe/execa: ${shell.toFixed(2)} (target ≤ ${TARGETS.shell}x, ${verdict(shell, TARGETS.shell)}): ` +
          `Σ of ${steps} shell steps ${ms(pick(FILES.shellRecipe, 'testsMs'))}, of ${steps} execa spawns ${ms(pick(FILES.shellExeca, 'testsMs'))}`,
      )
      console.log(
        `first python step / python3 -c pass: ${firstPython.toFixed(2)} (target ≤ ${TARGETS.firstPython}x, ${verdict(firstPython, TARGETS.firstPython)}): ` +
          `first module step ${ms(pick(FILES.pythonModule, 'firstTestMs'))}, ${options.python} -c pass ${ms(pick(FILES.pythonPass, 'medianTestMs'))} (median of ${PASS_TESTS} spawns by execa in Vitest)`,
      )
    }
  } finally {
    finishProject(root, options.keep)
  }
  // A measurement, not a test: whatever the ratios, exit 0.
  process.exitCode = 0
}

await main()
