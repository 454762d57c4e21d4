import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { PRODUCE_SCRIPTLET } from './fixture-files.ts'
import { createProject, type RunResult, type TestProject } from './project.ts'

// What a lab engineer meets in the first hour (issue #25): a failed ctx_matches that does not
// show the value, a typo in test_meta taken silently (and hints naming this repository's
// examples), and a recipe whose problems arrive one round at a time.

const PASSWORD = 'lab-pass-7731-x'

const PORTS_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'ports',
  run(ctx, _params, { step }) {
    const samples = Array.from({ length: 400 }, (_, i) => i)
    // The secret starts a few characters before the shown value is cut.
    const pad = 'x'.repeat(196)
    ctx.set('dut.ports_v1', { up: 12, down: 3, pad, login: process.env.LAB_PASSWORD ?? '', samples }, { who: step })
  },
})
`
const PORTS = `test_meta: { test_id: PORTS-1 }
steps:
  - name: count_ports
    type: ts
    module: scriptlets/ports.ts
    success:
      ctx_matches:
        dut.ports_v1: { type: object, properties: { up: { type: integer, minimum: 40 } } }
`
// The older Python framework's test_meta, block style.
const LEGACY_META = `test_meta:
  test_id: T-001
  tester: Alice
  description: Example pipeline
steps:
  - name: count_ports
    type: ts
    module: scriptlets/ports.ts
`
const META_TYPO = `test_meta: { testid: X-1, tester: bob }
steps:
  - name: count_ports
    type: ts
    module: scriptlets/ports.ts
`

const LOAD = `import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'load',
  params: z.object({ src: z.string() }),
  reads: [],
  outputs: ['lab.loaded_v1'],
  run(ctx, { src }, { step }) {
    ctx.set('lab.loaded_v1', src, { who: step })
  },
})
`
const CONSUME = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'consume',
  reads: ['lab.other_v1'],
  outputs: [],
  run() {},
})
`
const COMPUTE_PY = `class ComputeNumbers:
    def run(self, ctx, params):
        return 0
`
// Each step has a schema error next to a problem of another kind; every one must be reported.
const ONE_ROUND = `test_meta: { test_id: ONE-ROUND }
steps:
  - name: produce
    type: ts
    module: scriptlets/produce.ts
    class: Produce
    timeout: soon
  - name: load
    type: ts
    module: scriptlets/load.ts
    retry: lots
    args: { srcc: Data/in.txt }
  - name: compute
    type: python
    module: pysteps.compute
    class: ComputeNumbrs
    parallel: maybe
    depends_on: [load]
  - name: consume
    type: ts
    module: scriptlets/consume.ts
    description: 3
    depends_on: [load]
`

let project: TestProject
let run: RunResult

beforeAll(async () => {
  project = createProject({
    'scriptlets/ports.ts': PORTS_TS,
    'scriptlets/produce.ts': PRODUCE_SCRIPTLET,
    'scriptlets/load.ts': LOAD,
    'scriptlets/consume.ts': CONSUME,
    'pysteps/__init__.py': '',
    'pysteps/compute.py': COMPUTE_PY,
    'recipes/ports.yaml': PORTS,
    'recipes/legacy_meta.yaml': LEGACY_META,
    'recipes/meta_typo.yaml': META_TYPO,
    'recipes/one_round.yaml': ONE_ROUND,
  })
  run = await project.vitest(['run', 'recipes/'], { env: { LAB_PASSWORD: PASSWORD } })
})
afterAll(() => project?.remove())

/** The `file:line:col CODE` heads of the problems a message lists. */
function problemHeads(text: string): string[] {
  return [...text.matchAll(/^(recipes\/\S+:\d+:\d+ [A-Z_]+):/gm)].map((match) => match[1]!)
}

describe('a failed success.ctx_matches shows the value and the rule', () => {
  test('in the terminal: the value (shortened, secrets masked), the rule and the key path; no array diff', () => {
    const output = run.output
    expect(output).toContain('success.ctx_matches (recipes/ports.yaml:7:7): ctx "dut.ports_v1" does not match')
    expect(output).toMatch(
      /dut\.ports_v1\.up must be >= 40 \(rule: minimum: 40 at #\/properties\/up\/minimum\); it is 12/,
    )
    expect(output).toMatch(
      /value of dut\.ports_v1: \{"up":12,"down":3,"pad":"x+","login":"\*\*\*","sa… \(\d+ characters in all\)/,
    )
    expect(output).toMatch(/… \(\d+ characters in all\)/)
    expect(output).not.toContain('399]')
    expect(output).not.toContain('to deeply equal')
    expect(output).not.toContain(PASSWORD.slice(0, 6))
  })

  test('as recorded: the run store keeps the same reason', async () => {
    const shown = await project.recipes(['history', 'PORTS-1', '--json'])
    expect(shown.code, shown.output).toBe(0)
    const runs = JSON.parse(shown.stdout) as { runs: { runId: string }[] }
    const report = project.read(`reports/${runs.runs[0]!.runId}/report.md`)
    expect(report).toContain('dut.ports_v1.up must be >= 40')
    expect(report).not.toContain(PASSWORD.slice(0, 6))
  })
})

describe('test_meta', () => {
  test('an unknown key is refused with a did-you-mean, at file:line:col, by recipes validate', async () => {
    const result = await project.recipes(['validate', 'recipes/meta_typo.yaml'])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain('recipes/meta_typo.yaml:1:14 RECIPE_UNKNOWN_KEY: unknown key "testid"')
    expect(result.stderr).toContain('Did you mean "test_id"?')
  })

  test('and by vitest run, which runs no step of it', () => {
    expect(run.output).toContain('recipes/meta_typo.yaml:1:14 RECIPE_UNKNOWN_KEY: unknown key "testid"')
  })

  test("the older framework's keys (test_id, tester, description) are accepted", async () => {
    const result = await project.recipes(['validate', 'recipes/legacy_meta.yaml'])
    expect(result.stderr).not.toContain('RECIPE_')
    expect(result.code).toBe(0)
  })

  test("recipes history of an unknown test_id names the project's own runs, never this repository's examples", async () => {
    const result = await project.recipes(['history', 'PORTS-2'])
    expect(result.code).toBe(3)
    expect(result.output).toContain('no run of "PORTS-2" is recorded')
    expect(result.output).toContain('Did you mean "PORTS-1"?')
    expect(result.output).toContain('T-001')
    expect(result.output).not.toMatch(/CUR-05|05_metrics/)
    const unrelated = await project.recipes(['history', 'X-1'])
    expect(unrelated.output).toContain('PORTS-1')
    expect(unrelated.output).toContain('recipes/ports.yaml')
    expect(unrelated.output).not.toMatch(/CUR-05|05_metrics|Did you mean/)
  })
})

test("a misspelt recipe path is refused with a did-you-mean from the project's own recipes, never a stack trace", async () => {
  for (const command of ['validate', 'plan', 'run', 'list']) {
    const result = await project.recipes([command, 'recipes/port.yaml'])
    expect(result.code, `${command}: ${result.output}`).toBe(3)
    expect(result.stderr).toContain('no recipe file at "recipes/port.yaml"; did you mean "recipes/ports.yaml"?')
    expect(result.output).not.toMatch(/^\s+at /m)
  }
  const unrelated = await project.recipes(['validate', 'lab/zzz.yaml'])
  expect(unrelated.code).toBe(3)
  expect(unrelated.stderr).toContain(
    'no recipe file at "lab/zzz.yaml" (recipes of this project: recipes/legacy_meta.yaml,',
  )
})

describe('every problem of a recipe in one round', () => {
  const expected = [
    'recipes/one_round.yaml:6:12 RECIPE_EXPORT_NOT_FOUND',
    'recipes/one_round.yaml:7:14 RECIPE_SCHEMA',
    'recipes/one_round.yaml:11:12 RECIPE_SCHEMA',
    'recipes/one_round.yaml:12:5 RECIPE_PARAMS',
    'recipes/one_round.yaml:12:13 RECIPE_PARAMS',
    'recipes/one_round.yaml:16:12 RECIPE_EXPORT_NOT_FOUND',
    'recipes/one_round.yaml:17:15 RECIPE_SCHEMA',
    'recipes/one_round.yaml:19:5 RECIPE_DATAFLOW',
    'recipes/one_round.yaml:22:18 RECIPE_SCHEMA',
  ]

  test('recipes validate: schema errors, missing exports, args and dataflow together', async () => {
    const result = await project.recipes(['validate', 'recipes/one_round.yaml'])
    expect(result.code).toBe(3)
    const heads = problemHeads(result.stderr)
    expect(heads).toEqual(expected)
    expect(result.stderr).toContain('Did you mean "ComputeNumbers"?')
    expect(result.stderr).toContain('"lab.other_v1"')
  })

  test('vitest run: the same problems in the failing file', () => {
    expect(problemHeads(run.output)).toEqual(expected)
  })
})
