import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { expect, test } from 'vitest'
import { REPO } from './e2e/project.ts'

/**
 * Which plugin/ folder may import which (the DEPS.list of this project). The pipeline
 * reads left to right: recipe → compile → runtime → scriptlet/context; nothing imports cli.
 */
const ALLOWED: Record<string, string[]> = {
  recipe: ['recipe', 'context'], // context only for the JsonValue type
  context: ['context'],
  scriptlet: ['scriptlet', 'context'],
  compile: ['compile', 'recipe', 'context', 'runtime', 'exporters', 'reporter', 'analysis'], // runtime only for the CompiledRecipe type
  runtime: ['runtime', 'recipe', 'scriptlet', 'context', 'executors', 'store', 'live'],
  store: ['store', 'context'],
  // How runs read to people (durations, sizes, status order and colours): below everything that shows a run.
  format: ['format', 'store', 'context'],
  // Exporters take plain run data (store/run-data.ts) and never know how a run was executed.
  exporters: ['exporters', 'store', 'context', 'charts', 'format'],
  // Charts draw plain run data, in the documents' status colours (format/); never the exporters, which draw with them.
  charts: ['charts', 'store', 'context', 'format'],
  // A stored run against its history, and the optional AI summary; worded with the reports'
  // number formats (format/), masked with runtime/redact.ts.
  analysis: ['analysis', 'store', 'context', 'format', 'runtime'],
  // The reporter (main process) reads the step meta contract, never the worker-side runner.
  // (live only for http-server.ts: the lock service is hardened like the other two servers.)
  // (format for the text of JUnit's skip notes, written by the documents' rule.)
  reporter: ['reporter', 'exporters', 'store', 'context', 'runtime', 'analysis', 'live', 'format'],
  executors: ['executors', 'recipe', 'scriptlet', 'context'],
  // The running recipe's ctx served over HTTP, its client and where runs publish it, the dashboard (with the runs' charts); no runner, no SQLite.
  live: ['live', 'context', 'store', 'charts'],
  // cli reads the runtime's data contracts (spec.ts, meta.ts), never the worker-side runner.
  // (executors only for `recipes step`, which runs one script as a step would.)
  cli: [
    'cli',
    'compile',
    'recipe',
    'scriptlet',
    'context',
    'store',
    'runtime',
    'exporters',
    'live',
    'analysis',
    'executors',
    'format',
  ],
  '.': ['compile', 'recipe', 'runtime'],
}
/** Packages that may only be used in the main process (never by the worker-side runtime). */
const MAIN_PROCESS_ONLY = ['vite', 'vitest/config', 'vitest/node']

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  )
}

/**
 * The modules a source text imports: static imports and re-exports, side-effect imports, and
 * `import('…')` with a literal path (lazy loads and type queries load code just the same).
 * Comments are left out first: a path quoted in a comment is not an import.
 */
function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\/|(?<![:'"`\\])\/\/.*$/gm, '')
  const patterns = [
    /^(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm,
    /^import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*(?:'([^']+)'|"([^"]+)"|`([^`$]+)`)\s*\)/g,
  ]
  return patterns.flatMap((pattern) =>
    [...code.matchAll(pattern)].map((match) => match.slice(1).find((group) => group !== undefined)!),
  )
}

test('the fence sees static, side-effect and dynamic imports with a literal path, not paths in comments', () => {
  const text = [
    "import { a } from '../store/a.ts'",
    "import type {\n  B,\n} from '../store/b.ts'",
    "export { c } from './c.ts'",
    "import './side-effect.ts'",
    "  const { d } = await import('../store/d.ts')",
    '  const e = () => import("../exporters/e.ts")',
    '  type F = typeof import(`../charts/f.ts`)',
    "  // await import('../cli/commented.ts')",
    "  /* import('../cli/in-a-block.ts') */",
    '  const g = await import(name) // not a literal: nothing to check',
  ].join('\n')
  expect(importsOf(`/**\n${text}\n */`)).toEqual([])
  expect(importsOf(text).sort()).toEqual(
    [
      '../store/a.ts',
      '../store/b.ts',
      './c.ts',
      './side-effect.ts',
      '../store/d.ts',
      '../exporters/e.ts',
      '../charts/f.ts',
    ].sort(),
  )
})

// redact.ts and output-capture.ts: the masking a run applies, which `recipes step` applies too
// (leaf modules that load no runner).
const CLI_MAY_IMPORT_FROM_RUNTIME = ['spec.ts', 'meta.ts', 'redact.ts', 'output-capture.ts']

test('plugin folders import only what their stage may', () => {
  const plugin = join(REPO, 'plugin')
  const violations: string[] = []
  for (const file of sourceFiles(plugin)) {
    const folder = relative(plugin, file).split('/').length > 1 ? relative(plugin, file).split('/')[0]! : '.'
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) {
        const target = relative(plugin, join(file, '..', specifier)).split('/')
        const targetFolder = target.length > 1 ? target[0]! : '.'
        const mainProcess = folder === 'cli' || folder === 'reporter'
        const allowed =
          ALLOWED[folder]?.includes(targetFolder) &&
          !(mainProcess && targetFolder === 'runtime' && !CLI_MAY_IMPORT_FROM_RUNTIME.includes(target.at(-1)!)) &&
          !(folder === 'reporter' && targetFolder === 'live' && target.at(-1) !== 'http-server.ts')
        if (!allowed) violations.push(`${relative(REPO, file)} imports ${specifier} (${folder} → ${targetFolder})`)
      } else if (
        ['runtime', 'executors', 'scriptlet', 'context', 'recipe', 'store', 'exporters', 'charts', 'format'].includes(
          folder,
        ) &&
        MAIN_PROCESS_ONLY.includes(specifier)
      ) {
        violations.push(`${relative(REPO, file)} imports the main-process package ${specifier}`)
      }
    }
  }
  expect(violations).toEqual([])
})

// The store talks to PostgreSQL on the event loop: no thread of the Vitest process, the
// dashboard or a recipe file ever waits blocked for another (issue #24, point 5).
test('nothing in plugin/ or workers/ blocks a thread with Atomics.wait', () => {
  const files = [
    ...sourceFiles(join(REPO, 'plugin')),
    ...readdirSync(join(REPO, 'workers'))
      .filter((name) => /\.(m?js|ts)$/.test(name))
      .map((name) => join(REPO, 'workers', name)),
  ]
  const blocking = files.filter((file) => /\bAtomics\s*\.\s*wait\b/.test(readFileSync(file, 'utf8')))
  expect(blocking.map((file) => relative(REPO, file))).toEqual([])
})

// A step's life is async from end to end; only the executor boundary may answer at once
// (a no-op in-process step then costs no timer, signal or promise). Issue #26, point 1.
test('the sync-or-async MaybePromise stays at the executor boundary', () => {
  const boundary = [
    'plugin/scriptlet/maybe-async.ts',
    'plugin/scriptlet/invoke.ts',
    'plugin/executors/typescript.ts',
    'plugin/runtime/deadline.ts',
    // Its runExecutor: the call of the executor the deadline runs.
    'plugin/runtime/step-attempt.ts',
  ]
  const using = sourceFiles(join(REPO, 'plugin'))
    .filter((file) => /\b(MaybePromise|andThen)\b/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(REPO, file))
    .filter((file) => !boundary.includes(file))
  expect(using).toEqual([])
  // Nor spelled out: no function of the life answers a value or a promise of it.
  const life = ['recipe-run', 'step-life', 'step-plan', 'step-attempt', 'step-outcome', 'step-verdict', 'step-record']
  const spelled = life
    .map((name) => `plugin/runtime/${name}.ts`)
    .filter((file) => /\):\s*[^{;]*\|\s*Promise</.test(readFileSync(join(REPO, file), 'utf8')))
  expect(spelled).toEqual([])
})

// The step record is built in one place (runtime/step-record.ts): nowhere else writes a
// RecipeStepMeta from scratch (issue #26, point 1).
test('the step record is built only by stepRecord', () => {
  const building = sourceFiles(join(REPO, 'plugin', 'runtime'))
    .filter((file) => !file.endsWith('step-record.ts'))
    .filter((file) => /:\s*RecipeStepMeta\s*=\s*\{/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(REPO, file))
  expect(building).toEqual([])
})
