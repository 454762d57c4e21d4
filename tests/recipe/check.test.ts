import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { checkRecipe } from '../../plugin/recipe/check.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-check-'))
mkdirSync(join(root, 'scriptlets'))
for (const name of ['load.ts', 'probe.ts'])
  writeFileSync(join(root, 'scriptlets', name), 'export default { run() {} }\n')
afterAll(() => rmSync(root, { recursive: true, force: true }))

const hintsFor = (module: string) =>
  checkRecipe(`steps:\n  - { name: a, type: ts, module: ${module} }\n`, 'recipes/x.yaml', root, {
    pythonPath: ['.'],
  }).issues.map((issue) => [issue.code, issue.hint])

test("a missing module's hint names what the project has, never an example it lacks", () => {
  expect(hintsFor('scriptlets/prob.ts')).toEqual([['RECIPE_MODULE_NOT_FOUND', 'Did you mean "scriptlets/probe.ts"?']])
  expect(hintsFor('scriptlets/zzzzzz.ts')).toEqual([
    ['RECIPE_MODULE_NOT_FOUND', 'Paths are relative to the project root; scriptlets/ holds load.ts, probe.ts.'],
  ])
  expect(hintsFor('lib/steps/x.ts')).toEqual([
    ['RECIPE_MODULE_NOT_FOUND', 'Paths are relative to the project root, which has no folder lib/steps/.'],
  ])
})
