import { chmodSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { escapedForms, fileText, findLeaks, projectFiles } from './leak-search.ts'
import { createProject, DEFAULT_CONFIG, type RunResult, type TestProject } from './project.ts'

// The side doors of masking: a secret in the name of a ctx writer (TS, the ctx CLI's --who,
// Python's live.set(who=)), a secret with quotes and a backslash logged JSON-escaped in debug
// mode, and secrets the recipe never lists, declared once for the project by the plugin option
// `secrets` (a name and a pattern of names). The recipe has no `secrets:` of its own.
const LAB_PASSWORD = 'Sw1tch"S3c\\ret-2026!'
const SWITCH_ENABLE = 'en-able-7731-x'
const LAB_RACK_PASS = 'r@ck"pa\\ss/5519'
const ENV = { LAB_PASSWORD, SWITCH_ENABLE, LAB_RACK_PASS, RECIPES_DEBUG: '1' }

const SIDE_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
const env = (name: string) => process.env[name] ?? ''
export const WritesAs = defineScriptlet({
  run(ctx, _params, tools) {
    ctx.set('lab.who_v1', 'set', { who: 'tech-' + env('LAB_PASSWORD') })
    // Debug mode logs the ctx diff as JSON: the value's quotes and backslash come out escaped.
    ctx.set('lab.rack_v1', { pass: env('LAB_RACK_PASS'), enable: env('SWITCH_ENABLE') }, { who: tools.step })
    tools.log('enable is', env('SWITCH_ENABLE'))
    tools.progress?.(50, 'rack ' + env('LAB_RACK_PASS'))
  },
})
`
const WHO_SH = `set -euo pipefail
node "$RECIPES_CLI" ctx set lab.shell_who_v1 '"from shell"' --who "tech-$SWITCH_ENABLE" >&2
echo '{"status":"ok"}'
`
// Run on its own with recipes step: the project's secrets are masked there too.
const STANDALONE_SH = `echo "rack pass $LAB_RACK_PASS" >&2
printf '{"status":"ok","warnings":["enable %s"]}\\n' "$SWITCH_ENABLE"
`
const SIDE_PY = `import os
from vitest_recipes import live

class WritesAs:
    def run(self, ctx, params):
        live.set("lab.py_who_v1", 1, who="tech-" + os.environ["LAB_RACK_PASS"])
        ctx.set("lab.py_ctx_v1", 2, who="py-" + os.environ["SWITCH_ENABLE"])
`
const RECIPE = `test_meta: { test_id: SIDE-1, tester: lab }
steps:
  - { idx: 1, name: ts_who, type: ts, module: scriptlets/side.ts, function: WritesAs, depends_on: [] }
  - { idx: 2, name: shell_who, type: exec, cmd: [bash, scriptlets/who.sh], depends_on: [] }
  - { idx: 3, name: python_who, type: python, module: scriptlets.side, class: WritesAs, depends_on: [] }
`
const CONFIG = DEFAULT_CONFIG.replace(
  'recipes()',
  "recipes({ secrets: ['SWITCH_ENABLE', /^LAB_.*_PASS$/], reports: { formats: ['md', 'xlsx', 'docx'] }, allure: true })",
)

let project: TestProject
const outputs: RunResult[] = []

beforeAll(async () => {
  project = createProject(
    {
      'recipes/side.yaml': RECIPE,
      'scriptlets/__init__.py': '',
      'scriptlets/side.py': SIDE_PY,
      'scriptlets/side.ts': SIDE_TS,
      'scriptlets/who.sh': WHO_SH,
      'scriptlets/standalone.sh': STANDALONE_SH,
    },
    { config: CONFIG },
  )
  outputs.push(await project.vitest(['run', 'recipes/', '--reporter=default', '--reporter=junit'], { env: ENV }))
  outputs.push(await project.recipes(['report', '--format', 'json,md', '--out', 'reports-again'], { env: ENV }))
  outputs.push(await project.recipes(['history'], { env: ENV }))
  chmodSync(join(project.root, 'scriptlets/standalone.sh'), 0o755)
  outputs.push(await project.recipes(['step', 'scriptlets/standalone.sh'], { env: ENV }))
}, 180_000)
afterAll(() => project?.remove())

test('the run happened: every writer wrote, in debug mode, and the documents were written', async () => {
  expect(outputs[0]!.output).toContain('3 passed')
  expect(outputs[0]!.code).toBe(0)
  expect(outputs[1]!.code).toBe(0)
  const written = projectFiles(project.root).map((file) => relative(project.root, file))
  expect(written.filter((file) => /^reports\/[^/]+\/report\.(md|xlsx|docx)$/.test(file))).toHaveLength(3)
  expect(written.some((file) => /^reports-again\/[^/]+\/report\.json$/.test(file))).toBe(true)
  expect(written.some((file) => file.startsWith('reports/allure-results/'))).toBe(true)
  // Debug mode logged the ctx diff of the TS step (where the escaped form would be).
  const log = written.find((file) => /^Logs\/[^/]+\/1_ts_who\.log$/.test(file))
  expect(log && project.read(log)).toContain('ctx diff')
})

test('recipes step masks the secrets the project declares (plugin option secrets), as a run does', () => {
  const step = outputs[3]!
  expect(step.code, step.output).toBe(0)
  expect(JSON.parse(step.stdout.trim())).toMatchObject({ status: 'ok', warnings: ['enable ***'] })
  expect(step.stderr).toContain('rack pass ***')
})

test('the writers are recorded, their names masked where a secret was in them', async () => {
  const report = projectFiles(project.root).find((file) => /reports-again\/[^/]+\/report\.json$/.test(file))!
  const text = await fileText(report)
  expect(text).toContain('tech-***')
  expect(text).toContain('py-***')
})

test('no file the run wrote and nothing printed holds a secret, as it is or JSON-escaped', async () => {
  const files = projectFiles(project.root).filter((file) => !relative(project.root, file).startsWith('scriptlets/'))
  const texts = await Promise.all(
    files.map(async (file) => `${relative(project.root, file)}:\n${await fileText(file)}`),
  )
  const everything = [...outputs.map((result) => result.output), ...texts].join('\n')
  const forms = [LAB_PASSWORD, SWITCH_ENABLE, LAB_RACK_PASS].flatMap(escapedForms)
  expect(findLeaks(everything, forms)).toEqual([])
})
