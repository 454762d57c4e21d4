import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, DEFAULT_CONFIG, type JsonReport, type TestProject } from './project.ts'

// A ctx value over the limit (plugin option ctxValueMaxBytes, lowered to 2,000 bytes here) is
// refused by every writer, where it writes: a TypeScript step's ctx.set, a Python step's
// ctx.set, a shell step's envelope `ctx` map, `recipes ctx set` and `append` from inside a step
// (the ctx API), and each says to put large data under Data/. Values under it pass.

const LIMIT = 2000
const BIG = 'x'.repeat(LIMIT + 10)

const WRITES_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export const Writes = defineScriptlet({
  run(ctx, _params, { step }) {
    ctx.set('lab.small_v1', 'fits', { who: step })
    ctx.set('lab.big_v1', '${BIG}', { who: step })
  },
})
`
const WRITES_PY = `class Writes:
    def run(self, ctx, params):
        ctx.set("lab.py_big_v1", "x" * ${LIMIT + 10}, who="py")
`
const ENVELOPE_SH = `printf '{"status":"ok","ctx":{"lab.sh_big_v1":"%s"}}\\n' "$(head -c ${LIMIT + 10} /dev/zero | tr '\\0' x)"
`
const API_SH = `set -u
big="\\"$(head -c ${LIMIT + 10} /dev/zero | tr '\\0' x)\\""
node "$RECIPES_CLI" ctx set lab.api_big_v1 "$big" > /dev/null 2> set.err; echo "set $?" > api.codes
half="\\"$(head -c ${LIMIT / 2} /dev/zero | tr '\\0' x)\\""
node "$RECIPES_CLI" ctx append lab.api_list_v1 "$half" > /dev/null 2> append1.err; echo "append1 $?" >> api.codes
node "$RECIPES_CLI" ctx append lab.api_list_v1 "$half" > /dev/null 2> append2.err; echo "append2 $?" >> api.codes
echo '{"status":"ok"}'
`
const RECIPE = `test_meta: { test_id: LIMIT-1 }
steps:
  - { idx: 1, name: ts_big, type: ts, module: scriptlets/writes.ts, function: Writes, depends_on: [] }
  - { idx: 2, name: python_big, type: python, module: scriptlets.writes, class: Writes, depends_on: [] }
  - { idx: 3, name: shell_big, type: exec, cmd: [bash, scriptlets/envelope.sh], depends_on: [] }
  - { idx: 4, name: api_big, type: exec, cmd: [bash, scriptlets/api.sh], depends_on: [] }
`

let project: TestProject
let report: JsonReport
beforeAll(async () => {
  project = createProject(
    {
      'recipes/limit.yaml': RECIPE,
      'scriptlets/__init__.py': '',
      'scriptlets/writes.py': WRITES_PY,
      'scriptlets/writes.ts': WRITES_TS,
      'scriptlets/envelope.sh': ENVELOPE_SH,
      'scriptlets/api.sh': API_SH,
    },
    { config: DEFAULT_CONFIG.replace('recipes()', `recipes({ ctxValueMaxBytes: ${LIMIT}, reports: false })`) },
  )
  chmodSync(join(project.root, 'scriptlets/api.sh'), 0o755)
  report = (await project.vitestJson(['recipes/'])).report
}, 120_000)
afterAll(() => project?.remove())

function failureOf(step: string): string {
  const result = report.testResults[0]!.assertionResults.find((item) => item.title === step)!
  expect(result.status, step).toBe('failed')
  return result.failureMessages.join('\n')
}

const OVER = new RegExp(`over the ctx value limit of ${LIMIT} bytes \\(plugin option ctxValueMaxBytes\\)`)

test('a TypeScript step, a Python step and a shell envelope writing a value over the limit fail saying so', () => {
  for (const [step, key] of [
    ['ts_big', 'lab.big_v1'],
    ['python_big', 'lab.py_big_v1'],
    ['shell_big', 'lab.sh_big_v1'],
  ] as const) {
    const message = failureOf(step)
    expect(message, step).toMatch(OVER)
    expect(message, step).toContain(key)
    expect(message, step).toContain('Write large data to a file under Data/ and store its path in the ctx instead')
  }
})

test('recipes ctx set and append from a step: the one over the limit is refused (exit 1) with the reason; the others are written', () => {
  const read = (file: string) => readFileSync(join(project.root, file), 'utf8')
  expect(read('api.codes').trim().split('\n')).toEqual(['set 1', 'append1 0', 'append2 1'])
  expect(read('set.err')).toMatch(OVER)
  expect(read('set.err')).toContain('Data/')
  // The second append would make a list over the limit: the list it makes is what is measured.
  expect(read('append2.err')).toMatch(OVER)
  const api = report.testResults[0]!.assertionResults.find((item) => item.title === 'api_big')!
  expect(api.status).toBe('passed')
})
