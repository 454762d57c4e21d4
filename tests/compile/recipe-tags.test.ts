import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, expect, test, vi } from 'vitest'
import { isVitestTagName, recipeFiles, recipeTagDefinitions, stepTestTags } from '../../plugin/compile/recipe-tags.ts'
import { compileRecipe } from '../../plugin/compile/vite-plugin.ts'
import { DEFAULT_RECIPE_GLOBS } from '../../plugin/compile/options.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-tags-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const write = (path: string, text: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true })
  writeFileSync(join(root, path), text)
}
write('scriptlets/a.ts', 'export default { run() {} }\n')
write(
  'recipes/a.yaml',
  `test_meta: { test_id: A, tags: [smoke, lab] }
steps:
  - { name: one, type: ts, module: scriptlets/a.ts, tags: [soak, smoke] }
  - { name: two, type: ts, module: scriptlets/a.ts }
`,
)
write(
  'recipes/nested/b.yml',
  'test_meta: { test_id: B, tags: [smoke] }\nsteps:\n  - { name: x, type: ts, module: scriptlets/a.ts }\n',
)
// Read as written: a recipe with problems still defines its tags (it fails in its own test module).
write('recipes/broken.yaml', 'test_meta: { tags: [broken-tag], bogus: 1 }\nsteps: 3\n')
write('recipes/not-yaml.yaml', 'steps: [unclosed\n')
write(
  'recipes/vars.yaml',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe's text
  'vars: { SITE: { default: lab-a } }\ntest_meta: { test_id: V, tags: ["site-${{ vars.SITE }}", plain] }\nsteps:\n  - { name: x, type: ts, module: scriptlets/a.ts }\n',
)
write(
  'matrix/devices.yaml',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe's text
  'vars: { dut: { description: d }, speed: 10 }\nmatrix: { dut: [rack-a, rack-b], speed: [10, 100], exclude: [{ dut: rack-b, speed: 100 }] }\ntest_meta: { test_id: M, tags: ["${{ vars.dut }}", lab, "speed-${{ vars.speed }}"] }\nsteps:\n  - { name: probe, type: ts, module: scriptlets/a.ts, tags: [probe, rack-b] }\n',
)
write(
  'matrix/step-var.yaml',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe's text
  'vars: { SITE: lab-a }\nsteps:\n  - { name: x, type: ts, module: scriptlets/a.ts, tags: ["site-${{ vars.SITE }}"] }\n',
)
// Vitest refuses to start with a tag name that has a space or an operator: left undefined.
write(
  'matrix/bad-names.yaml',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe's text
  'vars: { dut: { description: d } }\nmatrix: { dut: ["rack 1", rack-2] }\ntest_meta: { test_id: B, tags: ["${{ vars.dut }}", "a|b", not, ok] }\nsteps:\n  - { name: x, type: ts, module: scriptlets/a.ts }\n',
)
write('recipes/notes.txt', 'tags: [not-a-recipe]\n')
write('other/c.yaml', 'test_meta: { tags: [outside] }\n')
write('recipes/node_modules/d.yaml', 'test_meta: { tags: [in-node-modules] }\n')

test('every tag of the recipes the globs match, with the recipes (and steps) it comes from, sorted by name', () => {
  expect(recipeTagDefinitions(root, DEFAULT_RECIPE_GLOBS, undefined, { env: {} })).toEqual([
    { name: 'broken-tag', description: 'recipe tag: recipes/broken.yaml' },
    { name: 'lab', description: 'recipe tag: recipes/a.yaml' },
    { name: 'plain', description: 'recipe tag: recipes/vars.yaml' },
    { name: 'site-lab-a', description: 'recipe tag: recipes/vars.yaml' },
    { name: 'smoke', description: 'recipe tag: recipes/a.yaml, recipes/a.yaml (step one), recipes/nested/b.yml' },
    { name: 'soak', description: 'recipe tag: recipes/a.yaml (step one)' },
  ])
})

test("a tag written with a var has the var's value as the run gets it (--var, RECIPES_VAR_*)", () => {
  const tags = recipeTagDefinitions(root, ['recipes/vars.yaml'], undefined, { env: { RECIPES_VAR_SITE: 'lab-b' } })
  expect(tags.map((tag) => tag.name)).toEqual(['plain', 'site-lab-b'])
})

test("a matrix recipe's tags written with its vars: every combination's values are defined, each naming the combinations it is from unless it is from all", () => {
  expect(recipeTagDefinitions(root, ['matrix/devices.yaml'], undefined, { env: {} })).toEqual([
    { name: 'lab', description: 'recipe tag: matrix/devices.yaml' },
    { name: 'probe', description: 'recipe tag: matrix/devices.yaml (step probe)' },
    { name: 'rack-a', description: 'recipe tag: matrix/devices.yaml for dut=rack-a, speed=10 | dut=rack-a, speed=100' },
    {
      name: 'rack-b',
      description: 'recipe tag: matrix/devices.yaml for dut=rack-b, speed=10, matrix/devices.yaml (step probe)',
    },
    {
      name: 'speed-10',
      description: 'recipe tag: matrix/devices.yaml for dut=rack-a, speed=10 | dut=rack-b, speed=10',
    },
    { name: 'speed-100', description: 'recipe tag: matrix/devices.yaml for dut=rack-a, speed=100' },
  ])
})

test("a step's tag written with a var is not defined (vars cannot be used there: the recipe fails at that line), so Vitest still starts", () => {
  expect(recipeTagDefinitions(root, ['matrix/step-var.yaml'], undefined, { env: {} })).toEqual([])
  const text = readFileSync(join(root, 'matrix/step-var.yaml'), 'utf8')
  expect(compileRecipe(text, join(root, 'matrix/step-var.yaml'), root).code).toContain('RECIPE_VAR_NOT_ALLOWED')
})

test('a tag Vitest cannot name (a space, an operator) is not defined: Vitest would refuse to start', () => {
  expect(recipeTagDefinitions(root, ['matrix/bad-names.yaml'], undefined, { env: {} }).map((tag) => tag.name)).toEqual([
    'ok',
    'rack-2',
  ])
  expect(isVitestTagName('rack-2')).toBe(true)
  for (const name of ['rack 1', 'a|b', 'x&y', '!x', 'f(x)', 'a*', 'not', 'AND', ''])
    expect(isVitestTagName(name)).toBe(false)
  const text = readFileSync(join(root, 'matrix/bad-names.yaml'), 'utf8')
  const { code, warnings } = compileRecipe(
    text,
    join(root, 'matrix/bad-names.yaml'),
    root,
    {},
    new Set(['ok', 'rack-2']),
  )
  expect(code).toContain('tags: ["ok"]')
  expect(code).toContain('tags: ["rack-2","ok"]')
  expect(warnings).toEqual([
    `matrix/bad-names.yaml: the tags "rack 1", "a|b", "not" cannot be Vitest tags (a space, one of ! * & | ( ), or and, or, not): its steps' tests go without them; the run keeps them as labels`,
  ])
})

test("each combination's tests carry its own tags, all defined from the definitions", () => {
  const text = readFileSync(join(root, 'matrix/devices.yaml'), 'utf8')
  const defined = new Set(
    recipeTagDefinitions(root, ['matrix/devices.yaml'], undefined, { env: {} }).map((tag) => tag.name),
  )
  const { code, warnings } = compileRecipe(text, join(root, 'matrix/devices.yaml'), root, {}, defined)
  expect(warnings).toEqual([])
  const tagsOf = (label: string) => {
    const group = code.slice(code.indexOf(`describe(${JSON.stringify(label)}`))
    return /tags: (\[[^\]]*\])/.exec(group.slice(0, group.indexOf('});')))?.[1]
  }
  expect(tagsOf('dut=rack-a, speed=10')).toBe('["rack-a","lab","speed-10","probe","rack-b"]')
  expect(tagsOf('dut=rack-a, speed=100')).toBe('["rack-a","lab","speed-100","probe","rack-b"]')
  expect(tagsOf('dut=rack-b, speed=10')).toBe('["rack-b","lab","speed-10","probe"]')
})

test("a combination's tag Vitest does not define is said, like the first combination's", () => {
  const text = readFileSync(join(root, 'matrix/devices.yaml'), 'utf8')
  const { warnings } = compileRecipe(
    text,
    join(root, 'matrix/devices.yaml'),
    root,
    {},
    new Set(['rack-a', 'lab', 'speed-10', 'probe']),
  )
  expect(warnings).toEqual([
    "matrix/devices.yaml: the tags rack-b, speed-100 are not defined for Vitest yet (the plugin defines the recipes' tags when Vitest starts): its steps run without them until Vitest restarts",
  ])
})

test('the exclude option and other globs are honoured; only the folders the globs start with are read', () => {
  expect(
    recipeFiles(root, ['recipes/**/*.yaml'], ['**/broken.yaml']).map((file) => file.slice(root.length + 1)),
  ).toEqual(['recipes/a.yaml', 'recipes/not-yaml.yaml', 'recipes/vars.yaml'])
  expect(recipeTagDefinitions(root, ['other/*.yaml']).map((tag) => tag.name)).toEqual(['outside'])
  expect(recipeTagDefinitions(root, ['missing/**/*.yaml'])).toEqual([])
})

test("a step's test gets its recipe's tags and its own, each once", () => {
  expect(stepTestTags(['smoke', 'lab'], ['soak', 'smoke', ''])).toEqual(['smoke', 'lab', 'soak'])
  const { code } = compileRecipe(
    'test_meta: { test_id: A, tags: [smoke] }\nsteps:\n  - { name: one, type: ts, module: scriptlets/a.ts, tags: [soak] }\n  - { name: two, type: exec, cmd: [echo] }\n',
    join(root, 'recipes/t.yaml'),
    root,
  )
  expect(code).toContain(`test('one', { timeout: 315000, tags: ["smoke","soak"] }`)
  expect(code).toContain(`test('two', { timeout: 620000, tags: ["smoke"] }`)
  const untagged = compileRecipe(
    'steps:\n  - { name: two, type: exec, cmd: [echo] }\n',
    join(root, 'recipes/t.yaml'),
    root,
  )
  expect(untagged.code).toContain(`test('two', { timeout: 315000 }`)
})

test('a tag Vitest does not define (added after it started) is left off the tests, with a warning to restart', () => {
  const { code, warnings } = compileRecipe(
    'test_meta: { test_id: A, tags: [smoke, fresh] }\nsteps:\n  - { name: one, type: exec, cmd: [echo], tags: [newer] }\n',
    join(root, 'recipes/t.yaml'),
    root,
    {},
    new Set(['smoke']),
  )
  expect(code).toContain(`test('one', { timeout: 315000, tags: ["smoke"] }`)
  expect(warnings).toEqual([
    "recipes/t.yaml: the tags fresh, newer are not defined for Vitest yet (the plugin defines the recipes' tags when Vitest starts): its steps run without them until Vitest restarts",
  ])
})

type Hooks = {
  config: (config: { root?: string; test?: Record<string, unknown> }) => void
  configureVitest: (context: unknown) => Promise<void>
}

test("the config hook defines the recipes' tags for Vitest, keeping a tag the config defines itself", async () => {
  const { recipes } = await import('../../plugin/compile/vite-plugin.ts')
  const config = { root, test: { tags: [{ name: 'smoke', description: 'our own', timeout: 5 }] } }
  ;(recipes({ include: ['recipes/a.yaml'] }) as unknown as Hooks).config(config)
  expect(config.test.tags).toEqual([
    { name: 'smoke', description: 'our own', timeout: 5 },
    { name: 'lab', description: 'recipe tag: recipes/a.yaml' },
    { name: 'soak', description: 'recipe tag: recipes/a.yaml (step one)' },
  ])
})

test('a Vitest without test tags gets one note, however many projects carry the plugin', async () => {
  const { recipes } = await import('../../plugin/compile/vite-plugin.ts')
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
  try {
    for (let i = 0; i < 2; i++) {
      const plugin = recipes({ reports: false }) as unknown as Hooks
      await plugin.configureVitest({
        vitest: { version: '4.0.18', config: { reporters: [] } },
        project: { config: {} },
      })
    }
    const notes = warn.mock.calls.filter(([text]) => String(text).includes('has no test tags'))
    expect(notes).toEqual([
      [
        'vitest-recipes: this Vitest (4.0.18) has no test tags (Vitest 4.1+): recipe and step tags are not Vitest tags here, so --tags-filter and --list-tags do not see them',
      ],
    ])
  } finally {
    warn.mockRestore()
  }
})
