import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, SET_KEY_SCRIPTLET, type JsonReport, type TestProject } from './project.ts'

// One project holds every broken recipe next to a good one: each broken file fails on its
// own with a message that points into it, and the good recipe still runs.
const BROKEN: Record<string, string> = {
  'recipes/yaml_syntax.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    args: { key: "demo.a_v1"
`,
  'recipes/unknown_key.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    depend_on: [b]
`,
  'recipes/wrong_type.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    timeout: soon
`,
  'recipes/bad_check.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    success:
      ctx_has_keys: demo.a_v1
`,
  'recipes/duplicate_name.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
  - name: a
    type: ts
    module: scriptlets/set_key.ts
`,
  'recipes/unknown_dependency.yaml': `steps:
  - name: load_numbers
    type: ts
    module: scriptlets/set_key.ts
  - name: compute
    type: ts
    module: scriptlets/set_key.ts
    depends_on: [load_number]
`,
  'recipes/cycle.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    depends_on: [b]
  - name: b
    type: ts
    module: scriptlets/set_key.ts
    depends_on: [a]
`,
  'recipes/missing_module.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_kye.ts
`,
  'recipes/missing_export.yaml': `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    class: SetKey
`,
  'recipes/outside.yaml': `steps:
  - name: a
    type: ts
    module: ../outside.ts
`,
  'recipes/missing_python.yaml': `steps:
  - name: a
    type: python
    module: scriptlets.python.steps.compute_nubmers
    class: ComputeNumbers
`,
  'recipes/bad_name.yaml': `steps:
  - name: "it's"
    type: ts
    module: scriptlets/set_key.ts
`,
}

const GOOD = `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.a_v1, value: 1 }
`

let project: TestProject
let report: JsonReport
let exitCode: number | null

beforeAll(async () => {
  project = createProject({ ...BROKEN, 'recipes/good.yaml': GOOD, 'scriptlets/set_key.ts': SET_KEY_SCRIPTLET })
  const result = await project.vitestJson(['recipes/'])
  report = result.report
  exitCode = result.code
})
afterAll(() => project?.remove())

function messageOf(file: string): string {
  const result = report.testResults.find((entry) => entry.name.endsWith(file))
  if (!result) throw new Error(`no result for ${file}`)
  return result.message.replace(project.root, '<root>')
}

test('the good recipe still runs and passes; the run fails', () => {
  const good = report.testResults.find((entry) => entry.name.endsWith('good.yaml'))
  expect(good?.assertionResults.map((test) => [test.title, test.status])).toEqual([['a', 'passed']])
  expect(exitCode).toBe(1)
  expect(report.testResults.filter((entry) => entry.status === 'failed')).toHaveLength(Object.keys(BROKEN).length)
})

describe('each broken recipe fails as its own file, pointing into it', () => {
  test('malformed YAML', () => {
    expect(messageOf('yaml_syntax.yaml')).toMatchInlineSnapshot(`
      "recipes/yaml_syntax.yaml:6:1 RECIPE_YAML_SYNTAX: Flow map in block collection must be sufficiently indented and end with a }
        6 | 
          | ^
        Fix the YAML syntax; an editor that knows the recipe schema (vitest-recipes/schema/recipe.schema.json) shows these as you type."
    `)
  })
  test('unknown key with a did-you-mean', () => {
    expect(messageOf('unknown_key.yaml')).toMatchInlineSnapshot(`
      "recipes/unknown_key.yaml:5:5 RECIPE_UNKNOWN_KEY: unknown key "depend_on" (at steps[0].depend_on)
        5 |     depend_on: [b]
          |     ^^^^^^^^^
        Did you mean "depends_on"?"
    `)
  })
  test('wrong type', () => {
    expect(messageOf('wrong_type.yaml')).toMatchInlineSnapshot(`
      "recipes/wrong_type.yaml:5:14 RECIPE_SCHEMA: invalid input: expected number, received string (at steps[0].timeout)
        5 |     timeout: soon
          |              ^^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values."
    `)
  })
  test('wrong type inside success checks', () => {
    expect(messageOf('bad_check.yaml')).toMatchInlineSnapshot(`
      "recipes/bad_check.yaml:6:21 RECIPE_SCHEMA: invalid input: expected array, received string (at steps[0].success.ctx_has_keys)
        6 |       ctx_has_keys: demo.a_v1
          |                     ^^^^^^^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values."
    `)
  })
  test('duplicate step name', () => {
    expect(messageOf('duplicate_name.yaml')).toMatchInlineSnapshot(`
      "recipes/duplicate_name.yaml:5:11 RECIPE_DUPLICATE_STEP: step name "a" is already used by steps[0] (at steps[1].name)
        5 |   - name: a
          |           ^
        Step names are test names: give each step its own name."
    `)
  })
  test('unknown depends_on with a did-you-mean', () => {
    expect(messageOf('unknown_dependency.yaml')).toMatchInlineSnapshot(`
      "recipes/unknown_dependency.yaml:8:18 RECIPE_UNKNOWN_DEPENDENCY: step "compute" depends on "load_number", which is not a step of this recipe (at steps[1].depends_on[0])
        8 |     depends_on: [load_number]
          |                  ^^^^^^^^^^^
        Did you mean "load_numbers"?"
    `)
  })
  test('dependency cycle', () => {
    expect(messageOf('cycle.yaml')).toMatchInlineSnapshot(`
      "recipes/cycle.yaml:5:17 RECIPE_DEPENDENCY_CYCLE: steps depend on each other in a cycle: a → b → a (at steps[0].depends_on)
        5 |     depends_on: [b]
          |                 ^^^
        Remove one of these depends_on entries so the steps can be ordered."
    `)
  })
  test('missing scriptlet module with a did-you-mean', () => {
    expect(messageOf('missing_module.yaml')).toMatchInlineSnapshot(`
      "recipes/missing_module.yaml:4:13 RECIPE_MODULE_NOT_FOUND: scriptlet module "scriptlets/set_kye.ts" does not exist (at steps[0].module)
        4 |     module: scriptlets/set_kye.ts
          |             ^^^^^^^^^^^^^^^^^^^^^
        Did you mean "scriptlets/set_key.ts"?"
    `)
  })
  test('missing scriptlet export', () => {
    expect(messageOf('missing_export.yaml')).toMatchInlineSnapshot(`
      "recipes/missing_export.yaml:5:12 RECIPE_EXPORT_NOT_FOUND: step "a": the module has no export named "SetKey"; its exports: default (at steps[0].class)
        5 |     class: SetKey
          |            ^^^^^^
        Fix the export name in the recipe or in the module."
    `)
  })
  test('module path outside the workspace', () => {
    expect(messageOf('outside.yaml')).toMatchInlineSnapshot(`
      "recipes/outside.yaml:4:13 RECIPE_PATH_OUTSIDE_WORKSPACE: module "../outside.ts" resolves outside the project root (at steps[0].module)
        4 |     module: ../outside.ts
          |             ^^^^^^^^^^^^^
        Scriptlets load only from inside the workspace: give a path relative to the project root, without ".."."
    `)
  })
  test('missing python module', () => {
    expect(messageOf('missing_python.yaml')).toMatchInlineSnapshot(`
      "recipes/missing_python.yaml:4:13 RECIPE_MODULE_NOT_FOUND: python module "scriptlets.python.steps.compute_nubmers" is not under the python path (.) (at steps[0].module)
        4 |     module: scriptlets.python.steps.compute_nubmers
          |             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
        Looked for scriptlets/python/steps/compute_nubmers.py, scriptlets/python/steps/compute_nubmers/__init__.py; set the plugin option python.path (or PYTHONPATH) to the folders your modules import from."
    `)
  })
  test('step name that is not safe as a test name', () => {
    expect(messageOf('bad_name.yaml')).toMatchInlineSnapshot(`
      "recipes/bad_name.yaml:2:11 RECIPE_SCHEMA: step names use letters, digits, "_", "-", ".", ":" and inner spaces (at most 120 characters) (at steps[0].name)
        2 |   - name: "it's"
          |           ^^^^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values."
    `)
  })
})
