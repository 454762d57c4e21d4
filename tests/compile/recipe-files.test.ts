import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { recipeFiles, recipeTagDefinitions } from '../../plugin/compile/recipe-tags.ts'
import { findRecipeFiles } from '../../plugin/cli/project.ts'
import { checkRecipe } from '../../plugin/recipe/check.ts'

// Recipe files as labs keep them: linked in from a shared checkout, inside the project or
// outside it, one file or a whole folder. Vitest's globs follow symlinks; every reader of the
// plugin must find the same files.

const base = mkdtempSync(join(tmpdir(), 'vitest-recipes-files-'))
const root = join(base, 'project')
const outside = join(base, 'shared-recipes')
afterAll(() => rmSync(base, { recursive: true, force: true }))
const write = (path: string, text: string) => {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text)
}
const recipe = (tag: string) =>
  `test_meta: { test_id: ${tag}, tags: [${tag}] }\nsteps:\n  - { name: one, type: ts, module: scriptlets/a.ts }\n`
write(join(root, 'scriptlets/a.ts'), 'export default { run() {} }\n')
write(join(root, 'recipes/own.yaml'), recipe('own'))
write(join(root, 'library/inside.yaml'), recipe('inside'))
write(join(outside, 'outside.yaml'), recipe('outside'))
write(join(outside, 'rack/folder.yaml'), recipe('folder'))
symlinkSync('../library/inside.yaml', join(root, 'recipes/inside_link.yaml'))
symlinkSync(join(outside, 'outside.yaml'), join(root, 'recipes/outside_link.yaml'))
symlinkSync(join(outside, 'rack'), join(root, 'recipes/rack'))
// A link to its own folder, and one that points nowhere: walked once, and skipped.
symlinkSync('.', join(root, 'recipes/rack_loop'))
symlinkSync('missing.yaml', join(root, 'recipes/dangling.yaml'))

const expected = [
  'recipes/inside_link.yaml',
  'recipes/outside_link.yaml',
  'recipes/own.yaml',
  'recipes/rack/folder.yaml',
]

test('symlinked recipe files and folders, inside the project or outside it, are recipes (as Vitest finds them)', () => {
  expect(recipeFiles(root, ['recipes/**/*.yaml']).map((file) => file.slice(root.length + 1))).toEqual(expected)
})

test("their tags are defined for Vitest (strict tags would refuse a linked recipe's tests otherwise)", () => {
  expect(recipeTagDefinitions(root, ['recipes/**/*.yaml']).map((tag) => tag.name)).toEqual([
    'folder',
    'inside',
    'outside',
    'own',
  ])
})

test('the CLI (validate, plan, list, run) finds the same recipes', () => {
  expect(findRecipeFiles({ root, options: {} } as Parameters<typeof findRecipeFiles>[0])).toEqual(expected)
})

test('a recipe path Vitest cannot use (# or ?, %20) is an error that says so, before anything runs', () => {
  for (const [file, bad] of [
    ['recipes/rack#2.yaml', '#'],
    ['recipes/what?.yaml', '?'],
    ['recipes/rack 2/x.yaml', undefined],
    ['recipes/p%20c.yaml', '%20'],
    ['recipes/100%.yaml', undefined],
    ["recipes/o'brien réseau.yaml", undefined],
  ] as const) {
    const issues = checkRecipe(recipe('t'), file, root, { pythonPath: ['.'] }).issues
    if (bad === undefined) expect(issues).toEqual([])
    else
      expect(issues).toEqual([
        expect.objectContaining({
          code: 'RECIPE_FILE_NAME',
          location: { file, line: 1, column: 1 },
          message: expect.stringContaining(JSON.stringify(bad)),
        }),
      ])
  }
})

test('a recipe too large to read compiles to a small failing module: its source map does not carry the 50 MB', async () => {
  const { compileRecipe } = await import('../../plugin/compile/vite-plugin.ts')
  const row = '  # a pasted data table\n'
  const text = `steps: []\n${row.repeat(Math.ceil(50e6 / row.length))}`
  const started = performance.now()
  const { code, map } = compileRecipe(text, join(root, 'recipes/big.yaml'), root)
  expect(performance.now() - started).toBeLessThan(2_000)
  expect(code).toContain('RECIPE_TOO_LARGE')
  expect(JSON.stringify(map).length).toBeLessThan(10_000)
})
