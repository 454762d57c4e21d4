import { Buffer } from 'node:buffer'
import { afterEach, expect, test } from 'vitest'
import { compileRecipe } from '../../plugin/compile/vite-plugin.ts'

const root = process.cwd()
const FILE = `${root}/recipes/m.yaml`
const RECIPE = `vars:
  dut: { description: the switch }
  ports: 48
matrix:
  dut: [sw1, sw2]
  ports: [24, 48]
  exclude: [{ dut: sw2, ports: 24 }]
matrix_parallel: 2
resources: ["dut:\${{ vars.dut }}"]
steps:
  - name: load
    type: ts
    module: scriptlets/steps/load_numbers.ts
  - name: side
    type: ts
    module: scriptlets/steps/load_numbers.ts
    parallel: true
    depends_on: [load]
`

function specs(
  code: string,
): { recipe: { resources: string[]; vars: object; combination: object; matrix?: unknown } }[] {
  return [...code.matchAll(/Buffer\.from\("([^"]+)", "base64"\)/g)].map((match) =>
    JSON.parse(Buffer.from(match[1]!, 'base64').toString()),
  )
}

afterEach(() => {
  delete process.env.RECIPES_MATRIX_SHARD
  delete process.env.RECIPES_VAR_DUT
})

test('a matrix recipe compiles to one concurrent group per combination, each with its own spec; steps keep their order and lines', () => {
  const { code, map, warnings } = compileRecipe(RECIPE, FILE, root)
  expect(warnings).toEqual([])
  const lines = code.split('\n')
  const groups = lines.filter((line) => line.startsWith('describe('))
  expect(groups).toEqual([
    'describe("dut=sw1, ports=24", { concurrent: true }, () => {',
    'describe("dut=sw1, ports=48", { concurrent: true }, () => {',
    'describe("dut=sw2, ports=48", { concurrent: true }, () => {',
  ])
  expect(code).toContain('const __matrix = defineMatrix(2);')
  // A sequential step stays sequential inside its concurrent group; a parallel one runs beside its neighbours.
  expect(lines.filter((line) => line.includes("test('load'")).every((line) => line.includes('concurrent: false'))).toBe(
    true,
  )
  expect(lines.filter((line) => line.includes("test('side'")).every((line) => line.includes('concurrent: true'))).toBe(
    true,
  )
  const compiled = specs(code)
  expect(compiled.map((spec) => [spec.recipe.combination, spec.recipe.resources])).toEqual([
    [{ dut: 'sw1', ports: 24 }, ['dut:sw1']],
    [{ dut: 'sw1', ports: 48 }, ['dut:sw1']],
    [{ dut: 'sw2', ports: 48 }, ['dut:sw2']],
  ])
  // Each spec carries its own combination, not the whole list.
  expect(compiled.every((spec) => spec.recipe.matrix === undefined)).toBe(true)
  // Every step test line maps to its step's YAML line.
  const mapped = (map as unknown as { mappings: string }).mappings.split(';')
  const loadLines = lines.flatMap((line, i) => (line.includes("test('load'") ? [i] : []))
  expect(loadLines).toHaveLength(3)
  for (const i of loadLines) expect(mapped[i]).not.toBe('')
})

test('RECIPES_MATRIX_SHARD=i/n keeps every i-th combination of n; the others are listed, skipped', () => {
  process.env.RECIPES_MATRIX_SHARD = '2/2'
  const groups = compileRecipe(RECIPE, FILE, root)
    .code.split('\n')
    .filter((line) => line.startsWith('describe'))
  expect(groups.map((line) => line.slice(0, line.indexOf('"', 15) + 1))).toEqual([
    'describe.skip("dut=sw1, ports=24"',
    'describe("dut=sw1, ports=48"',
    'describe.skip("dut=sw2, ports=48"',
  ])
  process.env.RECIPES_MATRIX_SHARD = '3/2'
  expect(compileRecipe(RECIPE, FILE, root).code).toContain('failRecipe(')
})

test('a combination that cannot compile fails the file naming the combination; a var given from outside for a matrix key is ignored, said so', () => {
  const unset = RECIPE.replace('exclude: [{ dut: sw2, ports: 24 }]', 'include: [{ ports: 10 }]')
  const failing = compileRecipe(unset, FILE, root).code
  expect(failing).toMatch(/failRecipe(AfterChecks)?\(/)
  expect(failing).toContain('var \\"dut\\" is not set')
  expect(failing).toContain('(combination ports=10)')
  process.env.RECIPES_VAR_DUT = 'sw9'
  expect(compileRecipe(RECIPE, FILE, root).warnings).toEqual([
    expect.stringMatching(
      /recipes\/m\.yaml: RECIPES_VAR_DUT=sw9 \(the environment\) is not used: the matrix gives dut its values; run one combination with -t "dut=sw1"/,
    ),
  ])
})

test("a combination's group and run are its own and name no secret, whatever its values", () => {
  const secret = 'Xq7-lab-Pa55-w0rd'
  const long = 'x'.repeat(70)
  // Values a run id drops or cuts, a newline, two secrets (masked alike), a value holding `, ports=`.
  const values = ['a/b', 'a:b', 'café', 'cafè', `${long}A`, `${long}B`, 'l1\nl2', secret, `${secret}2`, 'sw1, ports=24']
  const recipe = RECIPE.replace('dut: [sw1, sw2]', `dut: [${values.map((value) => JSON.stringify(value)).join(', ')}]`)
    .replace('ports: [24, 48]', 'ports: [24]')
    .replace('exclude: [{ dut: sw2, ports: 24 }]', 'include: [{ dut: sw1, ports: 24 }]')
    .replace(/^resources: .*\n/m, '')
  process.env.LAB_PASSWORD = secret
  process.env.LAB_SPARE_PASSWORD = `${secret}2`
  try {
    const { code } = compileRecipe(recipe, FILE, root)
    const groups = [...code.matchAll(/describe\((".*?[^\\]"), \{ concurrent/g)].map((match) => JSON.parse(match[1]!))
    expect(groups).toHaveLength(values.length + 1)
    expect(new Set(groups).size, groups.join('\n')).toBe(groups.length)
    for (const group of groups) {
      expect(group).not.toContain(secret)
      expect(group).not.toMatch(/[\n\r]/)
    }
    expect(groups).toContain('dut=l1\\nl2, ports=24')
    expect(groups).toContain('dut=***, ports=24')
    const names = specs(code).map((spec) => (spec as { runName?: string }).runName)
    expect(new Set(names).size, names.join('\n')).toBe(groups.length)
    for (const name of names) {
      expect(name).toMatch(/^[A-Za-z0-9_.-]+$/)
      expect(name).not.toContain(secret)
    }
  } finally {
    delete process.env.LAB_PASSWORD
    delete process.env.LAB_SPARE_PASSWORD
  }
})
