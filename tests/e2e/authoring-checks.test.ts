import { Ajv } from 'ajv'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parse } from 'yaml'
import { PRODUCE_SCRIPTLET } from './fixture-files.ts'
import { createProject, type TestProject } from './project.ts'

// What a recipe author meets before anything runs: reads that nothing upstream writes, a read
// racing its writer, args that do not fit the scriptlet. Through `vitest run` (a failing
// recipe file, no step run), `recipes validate` and `recipes plan` (exit 3).

const CONSUME = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'consume',
  reads: ['lab.value_v1'],
  outputs: ['lab.double_v1'],
  run(ctx, _params, { step }) {
    ctx.set('lab.double_v1', ctx.require<number>('lab.value_v1') * 2, { who: step })
  },
})
`
const LOAD = `import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'load',
  params: z.object({ src: z.string(), count: z.number().int().default(1) }),
  reads: [],
  outputs: ['lab.loaded_v1'],
  run(ctx, { src, count }, { step }) {
    ctx.set('lab.loaded_v1', { src, count }, { who: step })
  },
})
`
// Module-level reads: a function of the params names the key a parameter gives.
const PICK = `import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'pick',
  params: z.object({ from: z.string().default('lab.value_v1') }),
  reads: ({ from }) => [from],
  outputs: [],
  run(ctx, { from }) {
    return { status: 'ok', metrics: { picked: Number(ctx.require(from)) } }
  },
})
`

const RACE = `test_meta: { test_id: DF-RACE }
steps:
  - name: produce
    type: ts
    module: scriptlets/produce.ts
    parallel: true
  - name: consume
    type: ts
    module: scriptlets/consume.ts
    parallel: true
`
const MISSING = `test_meta: { test_id: DF-MISSING }
steps:
  - name: produce
    type: ts
    module: scriptlets/produce.ts
  - name: check_link
    type: shell
    cmd: scriptlets/check_link.sh
  - name: pick_other
    type: ts
    module: scriptlets/pick.ts
    args: { from: lab.other_v1 }
`
const TWICE = `test_meta: { test_id: DF-TWICE }
steps:
  - name: first
    type: ts
    module: scriptlets/produce.ts
    parallel: true
  - name: second
    type: ts
    module: scriptlets/produce.ts
    parallel: true
`
const GOOD = `test_meta: { test_id: DF-GOOD }
steps:
  - name: produce
    type: ts
    module: scriptlets/produce.ts
  - name: consume
    type: ts
    module: scriptlets/consume.ts
  - name: pick
    type: ts
    module: scriptlets/pick.ts
  - name: copy
    type: shell
    cmd: scriptlets/copy_file.sh
    args: { INPUT: Data/in.txt, RETRIES: "2" }
  - name: stats
    type: python
    module: scriptlets.stats_step
    class: Stats
    args: { column: value }
`
const PARAMS = `test_meta: { test_id: DF-PARAMS }
steps:
  - name: load
    type: ts
    module: scriptlets/load.ts
    args:
      srcc: Data/in.txt
      count: five
  - name: copy
    type: shell
    cmd: scriptlets/copy_file.sh
    args:
      RETRIES: many
  - name: stats
    type: python
    module: scriptlets.stats_step
    class: Stats
    args: { column: 3, colum: value }
  - name: bad_on_purpose
    type: ts
    module: scriptlets/load.ts
    args: { count: 2.5 }
    expect: error
`
const STATS_PY = `"""
NAME: stats_step.py
DESCRIPTION: Counts the rows of a column (a test scriptlet).
READS: none
OUTPUTS: lab.stats_v1
PARAMETERS:
  - column: str, required: the column to count
  - limit: int, optional (default 10): at most this many rows
"""


class Stats:
    def validate(self, ctx, params):
        pass

    def run(self, ctx, params):
        ctx.set("lab.stats_v1", {"column": params["column"]}, who="stats")
        return 0
`

let project: TestProject

beforeAll(() => {
  project = createProject({
    'scriptlets/produce.ts': PRODUCE_SCRIPTLET,
    'scriptlets/consume.ts': CONSUME,
    'scriptlets/load.ts': LOAD,
    'scriptlets/pick.ts': PICK,
    'scriptlets/__init__.py': '',
    'scriptlets/stats_step.py': STATS_PY,
    'Data/in.txt': 'lab\n',
    'recipes/race.yaml': RACE,
    'recipes/missing.yaml': MISSING,
    'recipes/twice.yaml': TWICE,
    'recipes/good.yaml': GOOD,
    'recipes/params.yaml': PARAMS,
  })
  project.copyFixture('shell/check_link.sh', 'scriptlets/check_link.sh')
  project.copyFixture('shell/copy_file.sh', 'scriptlets/copy_file.sh')
})

afterAll(() => project?.remove())

describe('dataflow', () => {
  test('a read racing its writer, a read nothing upstream writes and a key written twice: located errors, exit 3', async () => {
    const result = await project.recipes([
      'validate',
      'recipes/race.yaml',
      'recipes/missing.yaml',
      'recipes/twice.yaml',
    ])
    expect(result.code, result.output).toBe(3)
    // The race names both steps and the key, at the reader's YAML line, and where the read is declared.
    expect(result.output).toContain(
      'recipes/race.yaml:7:5 RECIPE_DATAFLOW: step "consume" reads "lab.value_v1", which "produce" writes, and the two may run at the same time',
    )
    expect(result.output).toContain(
      'Add "produce" to depends_on of "consume"; the read is declared at scriptlets/consume.ts:4.',
    )
    expect(result.output).toContain(
      'recipes/missing.yaml:6:5 RECIPE_DATAFLOW: step "check_link" reads "lab.link_v1", which no step it depends on writes',
    )
    expect(result.output).toContain('scriptlets/check_link.sh:4')
    // A key named by a parameter is the key checked.
    expect(result.output).toContain('step "pick_other" reads "lab.other_v1", which no step it depends on writes')
    expect(result.output).toContain(
      'recipes/twice.yaml:7:5 RECIPE_DATAFLOW: "lab.value_v1" is written by both "first" and "second", with no order between them',
    )
    // The code frame shows the YAML line.
    expect(result.output).toMatch(/7 \| {3}- name: consume/)
  })

  test('vitest run fails the recipe file before any step runs; the other recipes keep running', async () => {
    const result = await project.vitestJson(['recipes/race.yaml', 'recipes/good.yaml'])
    expect(result.code).toBe(1)
    const race = result.report.testResults.find((file) => file.name.endsWith('race.yaml'))!
    expect(race.status).toBe('failed')
    expect(race.message).toContain('RECIPE_DATAFLOW: step "consume" reads "lab.value_v1"')
    expect(race.assertionResults).toEqual([])
    const good = result.report.testResults.find((file) => file.name.endsWith('good.yaml'))!
    expect(good.assertionResults.map((step) => [step.title, step.status])).toEqual([
      ['produce', 'passed'],
      ['consume', 'passed'],
      ['pick', 'passed'],
      ['copy', 'passed'],
      ['stats', 'passed'],
    ])
  })

  test('recipes plan refuses the recipe with the same error; a sound recipe plans, and what is unchecked is said once', async () => {
    const race = await project.recipes(['plan', 'recipes/race.yaml'])
    expect(race.code).toBe(3)
    expect(race.output).toContain('RECIPE_DATAFLOW: step "consume" reads "lab.value_v1"')
    const good = await project.recipes(['validate', 'recipes/good.yaml'])
    expect(good.code, good.output).toBe(0)
    expect(good.output).not.toContain('unchecked')
    project.write(
      'recipes/undeclared.yaml',
      `steps:\n  - name: produce\n    type: ts\n    module: scriptlets/produce.ts\n  - name: hold\n    type: exec\n    cmd: [sleep, "0"]\n  - name: echo\n    type: exec\n    cmd: [echo, '{"status":"ok"}']\n`,
    )
    const undeclared = await project.recipes(['validate', 'recipes/undeclared.yaml'])
    expect(undeclared.code, undeclared.output).toBe(0)
    const notes = undeclared.output.split('\n').filter((line) => line.includes('unchecked'))
    expect(notes).toEqual([
      'note: recipes/undeclared.yaml: dataflow unchecked for 2 step(s) whose scriptlets do not declare what they read: hold, echo',
    ])
  })
})

describe('parameters', () => {
  test('unknown (did you mean), missing and mistyped args of ts, shell and python scriptlets: located, exit 3', async () => {
    const result = await project.recipes(['validate', 'recipes/params.yaml'])
    expect(result.code, result.output).toBe(3)
    const output = result.output
    expect(output).toContain(
      'recipes/params.yaml:7:7 RECIPE_PARAMS: step "load" gives "srcc", which its scriptlet does not take',
    )
    expect(output).toContain('Did you mean "src"? It takes: src, count (declared at scriptlets/load.ts:5).')
    expect(output).toContain('step "load" does not give the required parameter "src"')
    expect(output).toMatch(
      /recipes\/params\.yaml:8:7 RECIPE_PARAMS: parameter "count" of step "load": .*expected number/,
    )
    expect(output).toContain('step "copy" does not give the required parameter "INPUT"')
    expect(output).toContain(
      'recipes/params.yaml:13:7 RECIPE_PARAMS: parameter "RETRIES" of step "copy" is the text "many", but scriptlets/copy_file.sh declares a whole number (int)',
    )
    expect(output).toContain(
      'parameter "column" of step "stats" is the whole number 3, but scriptlets/stats_step.py declares a text (str)',
    )
    expect(output).toContain('step "stats" gives "colum", which its scriptlet does not take')
    expect(output).toContain('Did you mean "column"?')
    // The negative step is a deliberate test of bad params: not refused.
    expect(output).not.toContain('bad_on_purpose')
  })

  test("recipes validate warns of an arg the older framework's YAML read as a boolean, at its line, and passes", async () => {
    project.write(
      'recipes/legacy_bool.yaml',
      `steps:\n  - name: probe\n    type: exec\n    cmd: [echo, '{"status":"ok"}']\n    params:\n      verbose: off\n`,
    )
    const result = await project.recipes(['validate', 'recipes/legacy_bool.yaml'])
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toContain(
      'recipes/legacy_bool.yaml:6:16 RECIPE_YAML_BOOLEAN warning: params.verbose of step "probe" is the text "off"; the older framework (PyYAML) read it as false.',
    )
  })

  test('vitest run and recipes run refuse the same recipe before any step runs', async () => {
    const vitest = await project.vitestJson(['recipes/params.yaml'])
    expect(vitest.code).toBe(1)
    const file = vitest.report.testResults[0]!
    expect(file.assertionResults).toEqual([])
    expect(file.message).toContain('RECIPE_PARAMS: step "load" gives "srcc"')
    const run = await project.recipes(['run', 'recipes/params.yaml'])
    expect(run.code).toBe(3)
    expect(run.output).toContain('step "copy" does not give the required parameter "INPUT"')
  })
})

describe('the editor schema', () => {
  test("recipes schema --project knows each scriptlet's args: a YAML validator flags what the compile check refuses", async () => {
    const result = await project.recipes(['schema', '--project', '--out', '.vscode/recipes.schema.json'])
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toContain(
      'recipes schema: args of 4 scriptlet(s); 3 declare no parameters: scriptlets/check_link.sh, scriptlets/consume.ts, scriptlets/produce.ts',
    )
    const schema = JSON.parse(project.read('.vscode/recipes.schema.json')) as Record<string, unknown>
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema)
    expect(validate(parse(project.read('recipes/good.yaml'))), JSON.stringify(validate.errors)).toBe(true)
    expect(validate(parse(project.read('recipes/params.yaml')))).toBe(false)
    const problems = (validate.errors ?? []).map(
      (error) => `${error.instancePath} ${error.message} ${JSON.stringify(error.params)}`,
    )
    // load.ts (zod): srcc is unknown, src missing, count not a whole number.
    expect(problems).toContain('/steps/0/args must NOT have additional properties {"additionalProperty":"srcc"}')
    expect(problems).toContain('/steps/0/args must have required property \'src\' {"missingProperty":"src"}')
    expect(problems).toContain('/steps/0/args/count must be integer {"type":"integer"}')
    // copy_file.sh (PARAMS header): INPUT missing; python (PARAMETERS): colum unknown.
    expect(problems).toContain('/steps/1/args must have required property \'INPUT\' {"missingProperty":"INPUT"}')
    expect(problems).toContain('/steps/2/args must NOT have additional properties {"additionalProperty":"colum"}')
  })
})
