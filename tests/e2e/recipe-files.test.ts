import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, SET_KEY_SCRIPTLET, type TestProject } from './project.ts'

// Recipe files as a lab keeps them: linked in from a shared checkout (a file or a folder,
// inside the project or outside it), and written on Windows (a BOM, CRLF line ends). Each
// step must still be a test at its YAML line (`vitest list --json`, the VS Code gutter) and
// run alone with -t.

const recipe = (id: string) =>
  `\uFEFFtest_meta:\r\n  test_id: ${id}\r\n  tags: [${id}]\r\nsteps:\r\n  - name: first\r\n    type: ts\r\n    module: scriptlets/set_key.ts\r\n    args: { key: demo.first_v1 }\r\n\r\n  - name: second\r\n    type: ts\r\n    module: scriptlets/set_key.ts\r\n    args: { key: demo.second_v1 }\r\n    depends_on: [first]\r\n`

let project: TestProject
let outside: string
beforeAll(() => {
  outside = mkdtempSync(join(tmpdir(), 'vitest-recipes-shared-'))
  writeFileSync(join(outside, 'outside.yaml'), recipe('outside'))
  project = createProject({
    'scriptlets/set_key.ts': SET_KEY_SCRIPTLET,
    'library/inside.yaml': recipe('inside'),
    'shared/rack.yaml': recipe('rack'),
  })
  mkdirSync(join(project.root, 'recipes'))
  symlinkSync('../library/inside.yaml', join(project.root, 'recipes/inside_link.yaml'))
  symlinkSync(join(outside, 'outside.yaml'), join(project.root, 'recipes/outside_link.yaml'))
  symlinkSync(join(project.root, 'shared'), join(project.root, 'recipes/rack_folder'))
})
afterAll(() => {
  project.remove()
  rmSync(outside, { recursive: true, force: true })
})

const LINKED = ['recipes/inside_link.yaml', 'recipes/outside_link.yaml', 'recipes/rack_folder/rack.yaml']

test('symlinked recipes are tests at their YAML lines, with their tags, and a step runs alone with -t', async () => {
  const listed = await project.vitest(['list', '--json'])
  expect(listed.code, listed.output).toBe(0)
  const entries = JSON.parse(listed.stdout.slice(listed.stdout.indexOf('['))) as {
    name: string
    file: string
    location?: { line: number; column: number }
  }[]
  expect(
    entries
      .map((entry) => [entry.file.slice(project.root.length + 1), entry.name, entry.location])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  ).toEqual(
    LINKED.flatMap((file) => [
      [file, 'first', { line: 5, column: 5 }],
      [file, 'second', { line: 10, column: 5 }],
    ]),
  )
  const one = await project.vitestJson(['recipes/outside_link.yaml', '-t', 'second', '--tags-filter=outside'])
  expect(one.code, one.output).toBe(0)
  expect(one.report.numPassedTests).toBe(1)
  const validated = await project.recipes(['validate'])
  expect(validated.code, validated.output).toBe(0)
  expect(validated.output).toContain('3 recipe(s)')
})

test('a recipe whose path Vitest cannot load (#) is said to be so by name', async () => {
  project.write('recipes/rack#2.yaml', recipe('hash'))
  const run = await project.vitest(['run'])
  expect(run.code).not.toBe(0)
  expect(run.output).toContain('recipes/rack#2.yaml: RECIPE_FILE_NAME')
  const validated = await project.recipes(['validate'])
  expect(validated.code).toBe(3)
  expect(validated.output).toContain('recipes/rack#2.yaml:1:1 RECIPE_FILE_NAME')
})
