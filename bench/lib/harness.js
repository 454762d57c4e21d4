// Shared harness of the benchmarks in bench/*/run.js: flags, the throwaway project, running
// Vitest in this process with a timing reporter, medians and tables.
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/** The root of this repository: the `vitest-recipes` package the throwaway projects import. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** The plugin's default stepTimeout (300 s), given to the hand-written tests too. */
export const STEP_TIMEOUT_MS = 300_000

// ---------------------------------------------------------------------------------------------
// Flags and failing

/** A `fail(message)` that prints `bench/<name>: message` to stderr and exits 1. */
export function failWith(name) {
  return (message) => {
    process.stderr.write(`bench/${name}: ${message}\n`)
    process.exit(1)
  }
}

/** Parses the command line: `options` plus --keep and -h/--help (prints `help` and exits 0). */
export function parseFlags(options, help, fail) {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        ...options,
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (error) {
    fail(`${error.message}\n\n${help}`)
  }
  if (values.help) {
    process.stdout.write(help)
    process.exit(0)
  }
  return values
}

/** `text` as a positive integer, or fails naming `flag`. */
export function positiveInteger(text, flag, fail) {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) fail(`${flag} takes a positive integer, not "${text}"`)
  return value
}

/** The --rounds value: a positive integer, at least 2 (the first round is a warm-up). */
export function parseRounds(text, fail) {
  const rounds = positiveInteger(text, '--rounds', fail)
  if (rounds < 2) fail('--rounds must be at least 2: the first round is a warm-up and is not counted')
  return rounds
}

// ---------------------------------------------------------------------------------------------
// The built package and Vitest

/** dist/ as the user sees it: relative to the working directory. */
export function distLabel() {
  return relative(process.cwd(), join(PACKAGE_ROOT, 'dist')) || 'dist'
}

/** Fails unless every one of `files` (relative to the repository) is built. */
export function requireDist(files, fail) {
  if (!files.every((file) => existsSync(join(PACKAGE_ROOT, file)))) {
    fail(
      `${distLabel()} is missing or incomplete: run \`npm run build\` first (the benchmark imports the built package).`,
    )
  }
}

/** Vitest's `startVitest`, or fails when vitest/node cannot be imported. */
export async function importStartVitest(fail) {
  try {
    return (await import('vitest/node')).startVitest
  } catch (error) {
    fail(`cannot import vitest/node (${error.message}): run \`npm install\` first.`)
  }
}

// ---------------------------------------------------------------------------------------------
// The throwaway project

/** `step_<i>`, zero-padded to the width of `steps`. */
export function stepName(i, steps) {
  return `step_${String(i).padStart(String(steps).length, '0')}`
}

/** Links this repository's dependencies, and the package itself as `vitest-recipes`, into root/node_modules. */
function linkNodeModules(root) {
  const modules = join(root, 'node_modules')
  mkdirSync(modules)
  for (const entry of readdirSync(join(PACKAGE_ROOT, 'node_modules'))) {
    // Skip .bin, .vite (Vitest's results cache must stay in the throwaway project), etc.
    if (entry.startsWith('.')) continue
    symlinkSync(join(PACKAGE_ROOT, 'node_modules', entry), join(modules, entry), 'junction')
  }
  symlinkSync(PACKAGE_ROOT, join(modules, 'vitest-recipes'), 'junction')
}

/** A Vitest config using the plugin as `plugin` (source text) on tests/**\/*.test.ts. */
function vitestConfig(plugin) {
  return `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

export default defineConfig({
  plugins: [${plugin}],
  test: {
    include: ['tests/**/*.test.ts'],
  },
})
`
}

/**
 * Creates the throwaway project `vitest-recipes-<name>-*` under the OS temp dir: node_modules, package.json, vitest.config.mjs.
 * The end-of-run documents are off by default: they are written after the files these benchmarks time
 * (bench/store measures them), and each round would print their paths.
 */
export function createProject(name, plugin = 'recipes({ reports: false })') {
  const root = realpathSync(mkdtempSync(join(tmpdir(), `vitest-recipes-${name}-`)))
  /** Writes `text` to `file` (relative to the project), creating its folder. */
  const write = (file, text) => {
    mkdirSync(dirname(join(root, file)), { recursive: true })
    writeFileSync(join(root, file), text)
  }
  linkNodeModules(root)
  write(
    'package.json',
    `${JSON.stringify({ name: `vitest-recipes-${name}-bench`, private: true, type: 'module' }, null, 2)}\n`,
  )
  write('vitest.config.mjs', vitestConfig(plugin))
  return { root, write }
}

/** Deletes the throwaway project, or with --keep prints where it is. */
export function finishProject(root, keep) {
  if (keep) console.log(`\nkept the project: ${root}  (cd there and run \`npx vitest run\` to try it by hand)`)
  else rmSync(root, { recursive: true, force: true })
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** The median of `values` (numbers). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** A path with forward slashes. */
const slashes = (path) => path.split('\\').join('/')

/** A reporter that keeps, per test file, `summarize(testModule, diagnostic)` plus the file's errors, and the run's errors. */
export function createCollector(summarize) {
  const modules = new Map()
  const runErrors = []
  const reporter = {
    onTestModuleEnd(testModule) {
      const errors = testModule.errors().map((error) => error.message)
      modules.set(slashes(testModule.relativeModuleId), { ...summarize(testModule, testModule.diagnostic()), errors })
    },
    onTestRunEnd(_modules, errors) {
      runErrors.push(...errors.map((error) => error.message ?? String(error)))
    },
  }
  return { modules, runErrors, reporter }
}

/** Runs the given files in this order, whatever Vitest's results cache says. */
export function fixedOrderSequencer(order) {
  return class FixedOrderSequencer {
    async shard(files) {
      return files
    }
    async sort(files) {
      const rank = (spec) => order.findIndex((file) => slashes(spec.moduleId).endsWith(file))
      return [...files].sort((a, b) => rank(a) - rank(b))
    }
  }
}

/** One Vitest run in this process, one file at a time in `order`: the collector's modules and runErrors, and wallMs. */
export async function runVitest(startVitest, root, { summarize, files = [], order = files, config = {} }) {
  const collector = createCollector(summarize)
  const started = performance.now()
  const vitest = await startVitest(
    'test',
    files,
    {
      root,
      config: join(root, 'vitest.config.mjs'),
      watch: false,
      reporters: [collector.reporter],
      // One file at a time: the files never compete for the CPU.
      fileParallelism: false,
      sequence: { sequencer: fixedOrderSequencer(order) },
      ...config,
    },
    {},
    {},
  )
  const wallMs = performance.now() - started
  if (vitest?.shouldKeepServer?.()) await vitest.close()
  return { ...collector, wallMs }
}

/** Problems of a run: its errors, `files` that did not run or have errors, and whatever `problemsOf(result, file)` finds. */
export function checkFiles(run, files, problemsOf) {
  const problems = [...run.runErrors]
  for (const file of files) {
    const result = run.modules.get(file)
    if (!result) {
      problems.push(`${file} did not run`)
      continue
    }
    problems.push(...result.errors.map((message) => `${file}: ${message}`))
    problems.push(...problemsOf(result, file))
  }
  return problems
}

/** Problems of a run whose `files` should each have `steps` tests, all passed. */
export function checkAllPassed(run, files, steps) {
  return checkFiles(run, files, (result, file) =>
    result.tests !== steps || result.passed !== steps
      ? [`${file}: ${result.passed} of ${result.tests} tests passed, expected ${steps} of ${steps}`]
      : [],
  )
}

/** Prints why round `i` cannot be counted (the first 10 problems) and sets exit code 1. */
export function reportProblems(i, what, problems) {
  console.error(`round ${i + 1}: ${what}, so its timings mean nothing:\n  ${problems.slice(0, 10).join('\n  ')}`)
  process.exitCode = 1
}

// ---------------------------------------------------------------------------------------------
// Printing

/** `value` in ms with `digits` decimals. */
export const ms = (value, digits = 1) => `${value.toFixed(digits)} ms`

/** a / b, NaN when b is not positive. */
export const ratio = (a, b) => (b > 0 ? a / b : Number.NaN)

/** `round <n>` padded to the width of `round 1 (warm-up)`, marking the warm-up. */
export const roundLabel = (i) => `round ${i + 1}${i === 0 ? ' (warm-up)' : '          '}`

/** Rows of cells as aligned columns: the first left-aligned, the others right-aligned. */
export function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
        .join('   '),
    )
    .join('\n')
}
