import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, DEFAULT_CONFIG, type TestProject } from './project.ts'

// The recipes CLI reads its options (run store, recipe globs, reports folder) from the
// project's vitest.config: a config it cannot load must stop it, never send it to the defaults.
const SMOKE = `test_meta: { test_id: SMOKE-1 }
steps:
  - { idx: 1, name: load, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v1, value: [1, 2] } }
`
const withOptions = (options: string) => DEFAULT_CONFIG.replace('recipes()', `recipes(${options})`)
/** Every command that loads the config, with arguments that would succeed on a good one. */
const COMMANDS = [
  ['run', 'recipes/smoke.yaml'],
  ['plan', 'recipes/smoke.yaml'],
  ['list'],
  ['validate'],
  ['report', '--format', 'md'],
  ['history', 'SMOKE-1'],
]

let project: TestProject
const storedRuns = () => {
  const store = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    return store.prepare('SELECT test_id, status FROM runs').all()
  } finally {
    store.close()
  }
}

beforeAll(async () => {
  // One real run in the default store: the store a silent fallback to the defaults would use.
  project = createProject(
    { 'recipes/smoke.yaml': SMOKE, ...fixtureScriptlets() },
    { config: withOptions('{ reports: false }') },
  )
  const seeded = await project.vitest(['run', 'recipes/'])
  expect(seeded.code, seeded.output).toBe(0)
})
afterAll(() => project?.remove())

describe('a vitest.config that the CLI cannot use stops it with exit 3', () => {
  test('a bad plugin option stops every command that reads the config, naming the file and the option', async () => {
    project.write('vitest.config.ts', withOptions("{ db: 'lab.sqlite', keyNaming: 'wrn', reports: false }"))
    const results = await Promise.all(COMMANDS.map((args) => project.recipes(args)))
    results.forEach((result, index) => {
      const command = COMMANDS[index]!.join(' ')
      expect({ command, code: result.code, stdout: result.stdout }).toEqual({ command, code: 3, stdout: '' })
      expect(result.stderr).toBe(results[0]!.stderr)
    })
    expect(results[0]!.stderr).toMatchInlineSnapshot(`
      "recipes: vitest.config.ts could not be loaded (CONFIG_INVALID): vitest-recipes: invalid plugin options in your vitest config: keyNaming must be 'error', 'warn' or 'off', not "wrn"
        The recipes CLI takes its options (run store, recipe globs) from vitest.config.ts: fix it, \`npx vitest run\` shows the same error.
      "
    `)
    // Nothing ran, no store was opened in its place, no report was written.
    expect(existsSync(join(project.root, 'lab.sqlite'))).toBe(false)
    expect(storedRuns()).toEqual([{ test_id: 'SMOKE-1', status: 'passed' }])
    expect(readdirSync(join(project.root, 'reports')).filter((name) => !name.startsWith('results.sqlite'))).toEqual([])
  })

  test('a config that fails to load: a syntax error, a throw, a missing import, a bad reports format', async () => {
    const configs = {
      syntax: "import { defineConfig } from 'vitest/config'\nexport default defineConfig({ plugins: [ }\n",
      throws: "throw new Error('LAB_HOST is not set: export LAB_HOST=bench-3')\n",
      relativeImport: "import settings from './lab-settings.ts'\nexport default { test: settings }\n",
      packageImport: "import recipes from 'vitest-recipez'\nexport default { plugins: [recipes()] }\n",
      reportFormat: withOptions("{ reports: { formats: ['pdf'] } }"),
    }
    const reasons: Record<string, string | undefined> = {}
    for (const [name, config] of Object.entries(configs)) {
      project.write('vitest.config.ts', config)
      const result = await project.recipes(['history', 'SMOKE-1'])
      expect({ name, code: result.code, stdout: result.stdout }).toEqual({ name, code: 3, stdout: '' })
      // No stack from inside Vite's config loader, and never the temporary bundle's name.
      expect(result.stderr).not.toMatch(/\n\s+at |\.vite-temp/)
      reasons[name] = /^recipes: vitest\.config\.ts could not be loaded \(CONFIG_INVALID\): (.*)$/m.exec(
        result.stderr,
      )?.[1]
    }
    expect(reasons).toMatchInlineSnapshot(`
      {
        "packageImport": "Cannot find package 'vitest-recipez' imported from vitest.config.ts",
        "relativeImport": "vitest.config.ts:1: [UNRESOLVED_IMPORT] Could not resolve './lab-settings.ts' in vitest.config.ts",
        "reportFormat": "vitest-recipes: invalid plugin options in your vitest config: reports.formats must list some of 'xlsx', 'docx', 'md', 'html', 'json', not ["pdf"]",
        "syntax": "vitest.config.ts:2:42: [PARSE_ERROR] Unexpected token",
        "throws": "LAB_HOST is not set: export LAB_HOST=bench-3",
      }
    `)
  })

  test('a project with no config file at all uses the defaults', async () => {
    rmSync(join(project.root, 'vitest.config.ts'))
    const [list, history] = await Promise.all([project.recipes(['list']), project.recipes(['history', 'SMOKE-1'])])
    expect(list.code).toBe(0)
    expect(list.stdout).toContain('recipes/smoke.yaml — SMOKE-1')
    // The default store, reports/results.sqlite, holds the run of beforeAll.
    expect(history.code, history.output).toBe(0)
    expect(history.stdout).toMatch(/SMOKE-1 \(recipes\/smoke\.yaml\): 1 most recent run\(s\)/)
  })
})
