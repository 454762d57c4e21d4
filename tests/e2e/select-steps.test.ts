import { afterAll, beforeAll, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, type TestProject } from './project.ts'

const RECIPE = `# a recipe whose steps depend on each other
test_meta:
  test_id: SEL-1
steps:
  - idx: 1
    name: load_numbers
    type: ts
    module: scriptlets/set_key.ts
    args: { key: numbers.raw_v1, value: [1, 2, 3] }

  - name: validate_numbers
    idx: 2
    type: ts
    module: scriptlets/classes.ts
    class: ValidateNumbers
    args: { min_count: 2 }
    depends_on: [load_numbers]

  - idx: 3
    name: unrelated
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.other_v1 }
    depends_on: []

  - idx: 4
    name: report
    type: ts
    module: scriptlets/set_key.ts
    args: { key: report.path_v1 }
    depends_on: [validate_numbers]
`

let project: TestProject
beforeAll(() => {
  project = createProject({ 'recipes/select.yaml': RECIPE, ...fixtureScriptlets() })
})
afterAll(() => project?.remove())

test('vitest list --json reports every step at its YAML line', async () => {
  const result = await project.vitest(['list', 'recipes/', '--json'])
  expect(result.code).toBe(0)
  const listed = JSON.parse(result.stdout) as {
    name: string
    file: string
    location: { line: number; column: number }
  }[]
  expect(listed.map(({ name, location }) => ({ name, location }))).toEqual([
    { name: 'load_numbers', location: { line: 5, column: 5 } },
    { name: 'validate_numbers', location: { line: 11, column: 5 } },
    { name: 'unrelated', location: { line: 19, column: 5 } },
    { name: 'report', location: { line: 26, column: 5 } },
  ])
})

test('-t runs a step whose dependencies were filtered out: they run first as setup and are reported skipped', async () => {
  const { code, report } = await project.vitestJson(['recipes/', '-t', 'validate_numbers'])
  expect(code).toBe(0)
  const tests = report.testResults[0]!.assertionResults
  expect(tests.map((entry) => [entry.title, entry.status])).toEqual([
    ['load_numbers', 'skipped'],
    ['validate_numbers', 'passed'],
    ['unrelated', 'skipped'],
    ['report', 'skipped'],
  ])
  const selected = tests[1]!
  expect(selected.meta?.recipeStep.setup).toEqual(['load_numbers'])
})
