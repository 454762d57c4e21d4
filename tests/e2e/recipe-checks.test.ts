import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, REPO, SET_KEY_SCRIPTLET, stripAnsi, type JsonReport, type TestProject } from './project.ts'

// Bad input on purpose, as a newcomer writes it: each problem is found at compile time, in
// one round, at the line to fix, by `recipes` (exit 3) and under `vitest run` alike.

/** The classic "billion laughs": nine aliases of nine aliases..., far past yaml's alias limit. */
const ALIAS_BOMB = `a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
steps: [*e]
`

/** One file with every kind of problem that used to take a newcomer one run each. */
const EVERYTHING_WRONG = `steps:
  - name: load
    type: ts
    module: scriptlets/set_key.ts
    timeout: soon
  - name: load
    type: ts
    module: scriptlets/set_key.ts
    class: SetKey
  - name: compute
    type: ts
    module: scriptlets/set_kye.ts
    depends_on: [lod]
  - name: py_step
    type: python
    module: pysteps.compute
    class: ComputeNumbrs
`

const OVER_INDENTED = `steps:
  - name: a
    type: ts
     module: scriptlets/set_key.ts
    args: { key: demo.a_v1, value: 1 }
`

const UNDER_INDENTED = `steps:
  - name: a
    type: ts
   module: scriptlets/set_key.ts
`

const EXEC_NUMBERS = `steps:
  - name: argv
    type: exec
    cmd: [printf, "%s|", 1, 1.0, 10.0.0.1, 0x10, -2]
    parse: raw
    save: { net.argv_v1: output }
    success:
      ctx_equals: { net.argv_v1: "1|1.0|10.0.0.1|0x10|-2|" }
`

// A module whose names come from elsewhere cannot be checked statically: it is accepted, and runs.
const PYTHON_STAR = `steps:
  - name: star
    type: python
    module: pysteps.star
    class: ComputeNumbers
    success:
      ctx_equals: { py.numbers_v1: [1, 2, 3] }
`

const GOOD = `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.a_v1, value: 1 }
`

const PYTHON_MODULE = `"""Computes numbers.

class NotReallyHere: this docstring does not define anything.
"""
import json
from os import path as os_path


class ComputeNumbers:
    def run(self, ctx, params):
        ctx.set("py.numbers_v1", [1, 2, 3], who="compute")
        return {"status": "ok"}


def helper():
    class Nested:
        pass
    return Nested
`

let project: TestProject
let vitestReport: JsonReport
let vitestCode: number | null

beforeAll(async () => {
  project = createProject({
    'recipes/alias_bomb.yaml': ALIAS_BOMB,
    'recipes/everything_wrong.yaml': EVERYTHING_WRONG,
    'recipes/over_indented.yaml': OVER_INDENTED,
    'recipes/under_indented.yaml': UNDER_INDENTED,
    'recipes/good.yaml': GOOD,
    'recipes/exec_numbers.yaml': EXEC_NUMBERS,
    'recipes/python_star.yaml': PYTHON_STAR,
    'pysteps/star.py': 'from pysteps.compute import *  # noqa: F403\n',
    'scriptlets/set_key.ts': SET_KEY_SCRIPTLET,
    'pysteps/__init__.py': '',
    'pysteps/compute.py': PYTHON_MODULE,
  })
  const result = await project.vitestJson(['recipes/'])
  vitestReport = result.report
  vitestCode = result.code
})
afterAll(() => project?.remove())

function vitestMessageOf(file: string): string {
  const result = vitestReport.testResults.find((entry) => entry.name.endsWith(file))
  if (!result) throw new Error(`no result for ${file}`)
  return result.message
}

const ALIAS_BOMB_ERROR = `recipes/alias_bomb.yaml:2:8 RECIPE_YAML_SYNTAX: excessive alias count indicates a resource exhaustion attack: the aliases (*name) of this file expand to too many nodes
  2 | b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    |        ^
  Write the values out, or use fewer nested anchors and aliases.`

describe('a YAML alias bomb', () => {
  test('is one failing file under vitest run; the other recipes still run', () => {
    expect(vitestMessageOf('alias_bomb.yaml')).toBe(ALIAS_BOMB_ERROR)
    const good = vitestReport.testResults.find((entry) => entry.name.endsWith('good.yaml'))
    expect(good?.assertionResults.map((entry) => [entry.title, entry.status])).toEqual([['a', 'passed']])
    expect(vitestCode).toBe(1)
  })

  test('recipes validate with no argument lists it and every other bad recipe, exit 3', async () => {
    const result = await project.recipes(['validate'])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(ALIAS_BOMB_ERROR)
    expect(result.stderr).toContain('recipes/everything_wrong.yaml:5:14 RECIPE_SCHEMA')
    expect(result.stderr).toContain('recipes/over_indented.yaml:4:6 RECIPE_YAML_SYNTAX')
    expect(result.stderr).not.toContain('good.yaml')
  })

  test('every recipes command that reads it exits 3 with the located error', async () => {
    for (const args of [
      ['validate', 'recipes/alias_bomb.yaml'],
      ['plan', 'recipes/alias_bomb.yaml'],
      ['list', 'recipes/alias_bomb.yaml'],
      ['run', 'recipes/alias_bomb.yaml'],
    ]) {
      const result = await project.recipes(args)
      expect([args.join(' '), result.code]).toEqual([args.join(' '), 3])
      expect(result.output).not.toMatch(/\n\s+at .*\.js:\d+/)
      if (args[0] !== 'list')
        expect(stripAnsi(result.output)).toContain('recipes/alias_bomb.yaml:2:8 RECIPE_YAML_SYNTAX')
    }
  }, 60_000)
})

const EVERYTHING_WRONG_ERRORS = `6 problems found:

recipes/everything_wrong.yaml:5:14 RECIPE_SCHEMA: invalid input: expected number, received string (at steps[0].timeout)
  5 |     timeout: soon
    |              ^^^^
  See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values.

recipes/everything_wrong.yaml:6:11 RECIPE_DUPLICATE_STEP: step name "load" is already used by steps[0] (at steps[1].name)
  6 |   - name: load
    |           ^^^^
  Step names are test names: give each step its own name.

recipes/everything_wrong.yaml:9:12 RECIPE_EXPORT_NOT_FOUND: step "load": the module has no export named "SetKey"; its exports: default (at steps[1].class)
  9 |     class: SetKey
    |            ^^^^^^
  Fix the export name in the recipe or in the module.

recipes/everything_wrong.yaml:12:13 RECIPE_MODULE_NOT_FOUND: scriptlet module "scriptlets/set_kye.ts" does not exist (at steps[2].module)
  12 |     module: scriptlets/set_kye.ts
     |             ^^^^^^^^^^^^^^^^^^^^^
  Did you mean "scriptlets/set_key.ts"?

recipes/everything_wrong.yaml:13:18 RECIPE_UNKNOWN_DEPENDENCY: step "compute" depends on "lod", which is not a step of this recipe (at steps[2].depends_on[0])
  13 |     depends_on: [lod]
     |                  ^^^
  Did you mean "load"?

recipes/everything_wrong.yaml:17:12 RECIPE_EXPORT_NOT_FOUND: step "py_step": python module pysteps.compute (pysteps/compute.py) defines no "ComputeNumbrs"; it defines: json, os_path, ComputeNumbers, helper (at steps[3].class)
  17 |     class: ComputeNumbrs
     |            ^^^^^^^^^^^^^
  Did you mean "ComputeNumbers"?`

describe("a recipe's problems arrive in one round", () => {
  test('recipes validate reports schema, duplicate, dependency, module and export problems together', async () => {
    const result = await project.recipes(['validate', 'recipes/everything_wrong.yaml'])
    expect(result.code).toBe(3)
    expect(result.stderr.trim()).toBe(EVERYTHING_WRONG_ERRORS)
  })

  test('vitest run fails the file with the same list', () => {
    expect(vitestMessageOf('everything_wrong.yaml')).toBe(
      EVERYTHING_WRONG_ERRORS.replace('6 problems found:', '6 problems in this recipe:'),
    )
  })
})

test('recipes that use numbers in an exec argv, or a python module read with import *, compile and pass', () => {
  const statuses = vitestReport.testResults
    .filter((entry) => /(exec_numbers|python_star)\.yaml$/.test(entry.name))
    .map((entry) => [entry.name.replace(/^.*\//, ''), entry.message, entry.assertionResults.map((a) => a.status)])
  expect(statuses).toEqual([
    ['exec_numbers.yaml', '', ['passed']],
    ['python_star.yaml', '', ['passed']],
  ])
})

test('a key indented less than its siblings is reported at the key, not the blank before it', () => {
  expect(vitestMessageOf('under_indented.yaml')).toMatchInlineSnapshot(`
    "recipes/under_indented.yaml:4:4 RECIPE_YAML_SYNTAX: Sequence item without - indicator
      4 |    module: scriptlets/set_key.ts
        |    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      Indent the key like the other keys of its mapping (a new list item starts with "- ")."
  `)
})

// yaml itself reports an over-indented key at the line above it (where the value it swallowed starts).
test('a key indented deeper than its siblings is reported at its own line', () => {
  expect(vitestMessageOf('over_indented.yaml')).toMatchInlineSnapshot(`
    "recipes/over_indented.yaml:4:6 RECIPE_YAML_SYNTAX: this line is indented deeper than the key above it, so YAML reads it as part of that value
      4 |      module: scriptlets/set_key.ts
        |      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      Indent the key like the other keys of its mapping (a new list item starts with "- ")."
  `)
})

describe('python modules reachable through PYTHONPATH', () => {
  // The older framework's layout: scriptlets import as `steps.x` and run with PYTHONPATH=.:orchestrator.
  const OLDER_LAYOUT = {
    'recipes/older.yaml': `steps:
  - name: compute
    type: python
    module: steps.compute_numbers
    class: ComputeNumbers
    success:
      ctx_equals: { py.numbers_v1: [1, 2, 3] }
`,
    'orchestrator/steps/__init__.py': '',
    'orchestrator/steps/compute_numbers.py': PYTHON_MODULE,
  }
  let older: TestProject
  beforeAll(() => {
    older = createProject(OLDER_LAYOUT)
  })
  afterAll(() => older?.remove())

  /** `recipes` with PYTHONPATH set as the older framework's users set it. */
  function recipesWith(args: string[], pythonPath: string | undefined) {
    const result = spawnSync(process.execPath, [join(REPO, 'bin/recipes.js'), ...args], {
      cwd: older.root,
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: pythonPath, NO_COLOR: '1', VITEST: undefined, NODE_OPTIONS: undefined },
    })
    return { code: result.status, stderr: stripAnsi(result.stderr) }
  }

  test('compile and run with PYTHONPATH=.:orchestrator, relative entries from the project root', async () => {
    const { report, code } = await older.vitestJson(['recipes/'], { env: { PYTHONPATH: '.:orchestrator' } })
    expect(report.testResults.map((entry) => [entry.message, entry.assertionResults.map((a) => a.status)])).toEqual([
      ['', ['passed']],
    ])
    expect(code).toBe(0)
    expect(recipesWith(['validate', 'recipes/'], '.:orchestrator')).toMatchObject({ code: 0 })
  })

  test('without it the module is not found, and the hint names PYTHONPATH', () => {
    const result = recipesWith(['validate', 'recipes/'], undefined)
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(
      'recipes/older.yaml:4:13 RECIPE_MODULE_NOT_FOUND: python module "steps.compute_numbers" is not under the python path (.)',
    )
    expect(result.stderr).toContain('set the plugin option python.path (or PYTHONPATH)')
  })

  test('a misspelt class is still caught through PYTHONPATH', () => {
    older.write(
      'recipes/older.yaml',
      OLDER_LAYOUT['recipes/older.yaml'].replace('class: ComputeNumbers', 'class: Compute'),
    )
    const result = recipesWith(['validate', 'recipes/'], '.:orchestrator')
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(
      'RECIPE_EXPORT_NOT_FOUND: step "compute": python module steps.compute_numbers (orchestrator/steps/compute_numbers.py) defines no "Compute"',
    )
  })
})
