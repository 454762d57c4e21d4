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
  // Exporters take plain run data (store/run-data.ts) and never know how a run was executed.
  exporters: ['exporters', 'store', 'context', 'charts'],
  // Charts draw plain run data, in the documents' status colours (exporters/format.ts).
  charts: ['charts', 'store', 'context', 'exporters'],
  // A stored run against its history, and the optional AI summary; worded with the reports'
  // number formats (exporters/format.ts), masked with runtime/redact.ts.
  analysis: ['analysis', 'store', 'context', 'exporters', 'runtime'],
  // The reporter (main process) reads the step meta contract, never the worker-side runner.
  // (live only for http-server.ts: the lock service is hardened like the other two servers.)
  reporter: ['reporter', 'exporters', 'store', 'context', 'runtime', 'analysis', 'live'],
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

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)].map((match) => match[1]!)
}

// redact.ts and output-capture.ts: the masking a run applies, which `recipes step` applies too
// (leaf modules that load no runner).
const CLI_MAY_IMPORT_FROM_RUNTIME = ['spec.ts', 'meta.ts', 'redact.ts', 'output-capture.ts']

test('plugin folders import only what their stage may', () => {
  const plugin = join(REPO, 'plugin')
  const violations: string[] = []
  for (const file of sourceFiles(plugin)) {
    const folder = relative(plugin, file).split('/').length > 1 ? relative(plugin, file).split('/')[0]! : '.'
    for (const specifier of importsOf(file)) {
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
        ['runtime', 'executors', 'scriptlet', 'context', 'recipe', 'store', 'exporters', 'charts'].includes(folder) &&
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
