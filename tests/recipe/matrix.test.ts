import { describe, expect, test } from 'vitest'
import { formatRecipeIssues } from '../../plugin/recipe/errors.ts'
import {
  combinationLabel,
  combinationLabels,
  combinationRunNames,
  expandMatrix,
  MAX_MATRIX_COMBINATIONS,
} from '../../plugin/recipe/matrix.ts'
import { parseRecipe, readRecipe } from '../../plugin/recipe/parse.ts'
import type { VarDeclaration } from '../../plugin/recipe/vars.ts'

const FILE = 'recipes/x.yaml'
const VARS: VarDeclaration[] = [
  { name: 'dut', type: 'string' },
  { name: 'speed', type: 'number', default: 10 },
  { name: 'note', type: 'string', default: '' },
]

function combinations(raw: unknown): unknown {
  const { matrix, problems } = expandMatrix(raw, undefined, VARS)
  expect(problems).toEqual([])
  return matrix!.combinations
}

function recipe(matrix: string, vars = 'dut: { description: the switch }\n  speed: 10\n  note: ""'): string {
  return `vars:\n  ${vars}\nmatrix:\n${matrix}\nresources: ["dut:\${{ vars.dut }}"]\nsteps:\n  - { name: a, type: ts, module: m.ts, args: { dut: "\${{ vars.dut }}", speed: "\${{ vars.speed }}" } }\n`
}

function problems(text: string): string {
  return formatRecipeIssues(readRecipe(text, FILE).issues)
}

describe('matrix expansion', () => {
  test('one key: one combination per value, in order; values take the var type', () => {
    expect(combinations({ dut: ['a', 'b', 'c'] })).toEqual([{ dut: 'a' }, { dut: 'b' }, { dut: 'c' }])
    expect(combinations({ speed: ['10', 100] })).toEqual([{ speed: 10 }, { speed: 100 }])
  })

  test('several keys give their product, the first key varying slowest', () => {
    expect(combinations({ dut: ['a', 'b'], speed: [1, 2] })).toEqual([
      { dut: 'a', speed: 1 },
      { dut: 'a', speed: 2 },
      { dut: 'b', speed: 1 },
      { dut: 'b', speed: 2 },
    ])
  })

  test('exclude drops every combination matching one of its objects (partial objects match more)', () => {
    expect(combinations({ dut: ['a', 'b'], speed: [1, 2], exclude: [{ dut: 'a', speed: 2 }, { dut: 'b' }] })).toEqual([
      { dut: 'a', speed: 1 },
    ])
  })

  test('include adds values to the combinations it matches, or is a combination of its own', () => {
    expect(
      combinations({
        dut: ['a', 'b'],
        include: [{ dut: 'b', note: 'slow one' }, { dut: 'c', speed: 5 }, { dut: 'a' }],
      }),
    ).toEqual([{ dut: 'a' }, { dut: 'b', note: 'slow one' }, { dut: 'c', speed: 5 }])
    // Only include: its objects are the combinations.
    expect(combinations({ include: [{ dut: 'x' }, { dut: 'y', speed: 2 }] })).toEqual([
      { dut: 'x' },
      { dut: 'y', speed: 2 },
    ])
  })

  test('a combination is named by its values', () => {
    expect(combinationLabel({ dut: 'rack1-sw2', speed: 10 })).toBe('dut=rack1-sw2, speed=10')
  })

  test('group names are one line each, secrets masked, and distinct', () => {
    const mask = (text: string) => text.replaceAll('hunter2-long', '***')
    expect(combinationLabel({ dut: 'a\nb\tc\u0000d\u2028' })).toBe('dut=a\\nb\\tc\\u0000d\\u2028')
    expect(combinationLabels([{ dut: 'hunter2-long' }, { dut: 'x-hunter2-long' }], mask)).toEqual([
      'dut=***',
      'dut=x-***',
    ])
    // Masked alike, or a value holding what a label separates with: numbered in order.
    expect(
      combinationLabels([{ dut: 'hunter2-long' }, { dut: 'hunter2-long', speed: 1 }, { dut: '***' }], (text) =>
        text.replace('hunter2-long', '***'),
      ),
    ).toEqual(['dut=***', 'dut=***, speed=1', 'dut=*** #2'])
    expect(combinationLabels([{ dut: 'a, speed=1' }, { dut: 'a', speed: 1 }])).toEqual([
      'dut=a, speed=1',
      'dut=a, speed=1 #2',
    ])
  })

  test('run names are safe folder names, readable when exact, and never shared', () => {
    expect(combinationRunNames([{ dut: 'rack1-sw2', speed: 10 }])).toEqual(['dut_rack1-sw2_speed_10'])
    const lossy = [
      { dut: 'a/b' },
      { dut: 'a:b' },
      { dut: 'café' },
      { dut: 'cafè' },
      { dut: `${'x'.repeat(70)}A` },
      { dut: `${'x'.repeat(70)}B` },
      { dut: '../..' },
      { dut: 'x_speed_1' },
      { dut: 'x', speed: 1 },
      { a_b: 'c', d: 'e' },
      { a: 'b', c_d: 'e' },
    ]
    const names = combinationRunNames(lossy)
    expect(new Set(names).size, names.join('\n')).toBe(lossy.length)
    for (const name of names) {
      expect(name).toMatch(/^[A-Za-z0-9_.-]+$/)
      expect(name.length).toBeLessThanOrEqual(80)
    }
    // The same values always make the same name (shards, reruns).
    expect(combinationRunNames(lossy)).toEqual(names)
    // A secret is in no name, even as two secrets masked alike.
    const mask = (text: string) => text.replace(/hunter2-\w+/, '***')
    const secret = combinationRunNames([{ dut: 'hunter2-one' }, { dut: 'hunter2-two' }], mask)
    expect(new Set(secret).size).toBe(2)
    for (const name of secret) expect(name).not.toContain('hunter2')
  })

  test('the limit counts the combinations that run: exclude can bring a longer product under it', () => {
    const twenty = Array.from({ length: 20 }, (_, i) => `d${i}`)
    // 20 x 20 = 400, less the 10 x 20 excluded: 200 run.
    const exclude = twenty.slice(10).map((dut) => ({ dut }))
    const { matrix, problems } = expandMatrix({ dut: twenty, note: twenty, exclude }, undefined, VARS)
    expect(problems).toEqual([])
    expect(matrix!.combinations).toHaveLength(200)
    expect(matrix!.combinations[0]).toEqual({ dut: 'd0', note: 'd0' })
    // Past the limit after exclude, said with the count that would run.
    const fewer = expandMatrix({ dut: twenty, note: twenty, exclude: exclude.slice(3) }, undefined, VARS)
    expect(fewer.problems[0]!.message).toBe('matrix makes 260 combinations, more than 256 (400 listed, 140 excluded)')
    // Included combinations count: 200 + 57 of their own.
    const include = Array.from({ length: 57 }, (_, i) => ({ dut: `extra${i}` }))
    const more = expandMatrix({ dut: twenty, note: twenty, exclude, include }, undefined, VARS)
    expect(more.problems[0]!.message).toBe('matrix makes 257 combinations, more than 256')
  })

  test('a product too large to go through is refused at once, before exclude', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => `d${i}`)
    const started = performance.now()
    const { problems } = expandMatrix(
      { dut: hundred, note: hundred, speed: hundred.map((_, i) => i), exclude: [{ speed: 1 }] },
      undefined,
      VARS,
    )
    expect(problems[0]!.message).toBe(
      'matrix lists 1000000 combinations before exclude, more than 100000: exclude cannot bring so many under 256',
    )
    expect(performance.now() - started).toBeLessThan(1000)
  })

  test('the product is refused past the limit before it is built', () => {
    const many = Array.from({ length: 100 }, (_, i) => `d${i}`)
    const { matrix, problems } = expandMatrix({ dut: many, note: many }, undefined, VARS)
    expect(matrix).toBeUndefined()
    expect(problems[0]!.message).toContain(`10000 combinations, more than ${MAX_MATRIX_COMBINATIONS}`)
  })
})

describe('matrix errors, at their YAML line', () => {
  test('a key that is not a declared var', () => {
    expect(problems(recipe('  dut: [a]\n  sped: [1, 2]'))).toMatch(
      /recipes\/x\.yaml:7:3 RECIPE_MATRIX: matrix key "sped" is not a var of this recipe[\s\S]*speed/,
    )
  })

  test('an empty list, a value of the wrong type, a value twice', () => {
    const text = problems(recipe('  dut: []\n  speed: [1, fast, 1]'))
    expect(text).toMatch(/x\.yaml:6:8 RECIPE_MATRIX: matrix "dut" lists no values/)
    expect(text).toMatch(/x\.yaml:7:14 RECIPE_MATRIX: matrix value "fast" of "speed" is not a number/)
    expect(text).toMatch(/x\.yaml:7:20 RECIPE_MATRIX: matrix "speed" lists 1 twice/)
  })

  test('exclude by a key the matrix does not list, include naming an unknown var, an exclude that leaves nothing', () => {
    expect(problems(recipe('  dut: [a]\n  exclude: [{ note: x }]\n  include: [{ nope: 1 }]'))).toMatch(
      /x\.yaml:7:15 RECIPE_MATRIX: matrix exclude\[0\] names "note"[\s\S]*x\.yaml:8:15 RECIPE_MATRIX: matrix key "nope"/,
    )
    expect(problems(recipe('  dut: [a]\n  exclude: [{ dut: a }]'))).toMatch(
      /x\.yaml:7:\d+ RECIPE_MATRIX: matrix exclude leaves no combination/,
    )
  })

  test('too many combinations, at the matrix', () => {
    const list = Array.from({ length: 20 }, (_, i) => `d${i}`).join(', ')
    expect(problems(recipe(`  dut: [${list}]\n  note: [${list}]`))).toMatch(
      /x\.yaml:6:3 RECIPE_MATRIX: matrix makes 400 combinations, more than 256/,
    )
  })

  test('matrix_parallel below 1 is refused at its line', () => {
    expect(problems(`${recipe('  dut: [a]')}matrix_parallel: 0\n`)).toMatch(/x\.yaml:\d+:\d+ .*matrix_parallel/)
  })
})

test('a matrix recipe reads as its first combination unless told which; the values come from the matrix', () => {
  const text = recipe('  dut: [sw1, sw2]\n  speed: [1, 2]')
  const first = parseRecipe(text, FILE)
  expect(first.combination).toEqual({ dut: 'sw1', speed: 1 })
  expect(first.matrix!.combinations).toHaveLength(4)
  expect(first.matrix!.parallel).toBe(4)
  expect(first.resources).toEqual(['dut:sw1'])
  // A combination's values win over --var and the environment, and are recorded as from the matrix.
  const fourth = parseRecipe(text, FILE, {
    vars: { matrix: { dut: 'sw2', speed: 2 }, cli: { dut: 'other', note: 'n' }, env: { RECIPES_VAR_SPEED: '9' } },
  })
  expect(fourth.steps[0]!.params).toEqual({ dut: 'sw2', speed: 2 })
  expect(fourth.vars).toEqual({ dut: 'sw2', speed: 2, note: 'n' })
  expect(fourth.varsFrom).toEqual({ dut: 'matrix', speed: 'matrix', note: 'cli' })
})

test('checkRecipe (recipes validate, the compiler) reads every combination: one that cannot be is refused naming it', async () => {
  const { checkRecipe } = await import('../../plugin/recipe/check.ts')
  const root = process.cwd()
  const text = `vars:\n  dut: { description: the switch }\n  speed: 10\nmatrix:\n  include: [{ dut: a }, { speed: 5 }]\nsteps:\n  - { name: a, type: ts, module: scriptlets/steps/load_numbers.ts, args: { dut: "\${{ vars.dut }}" } }\n`
  const checked = checkRecipe(text, FILE, root, { pythonPath: [], vars: {} })
  expect(checked.recipe).toBeUndefined()
  expect(formatRecipeIssues(checked.issues)).toMatch(
    /x\.yaml:7:\d+ RECIPE_UNSET_VAR: var "dut" is not set: it has no default and no value was given \(combination speed=5\)/,
  )
  const sound = checkRecipe(text.replace('{ speed: 5 }', '{ dut: b, speed: 5 }'), FILE, root, {
    pythonPath: [],
    vars: {},
  })
  expect(sound.issues).toEqual([])
  expect(sound.combinations!.map((recipe) => [recipe.combination, recipe.steps[0]!.params])).toEqual([
    [{ dut: 'a' }, { dut: 'a' }],
    [{ dut: 'b', speed: 5 }, { dut: 'b' }],
  ])
})

test('checkRecipe reads every combination even when the first has problems: each value-made problem names its combination, a shared one is said once', async () => {
  const { checkRecipe } = await import('../../plugin/recipe/check.ts')
  const text = `vars:\n  dut: { description: the switch }\nmatrix:\n  dut: ["rack 1", sw2, "lab 9"]\nresources: ["dut:\${{ vars.dut }}"]\ntest_meta: { tags: 3 }\nsteps:\n  - { name: a, type: ts, module: scriptlets/steps/load_numbers.ts, args: { dut: "\${{ vars.dut }}" } }\n`
  const checked = checkRecipe(text, FILE, process.cwd(), { pythonPath: [], vars: {} })
  const messages = checked.issues.map((issue) => issue.message)
  expect(messages.filter((message) => message.includes('dut:rack 1'))).toEqual([
    expect.stringMatching(/\(combination dut=rack 1\)$/),
  ])
  expect(messages.filter((message) => message.includes('dut:lab 9'))).toEqual([
    expect.stringMatching(/\(combination dut=lab 9\)$/),
  ])
  expect(messages.some((message) => message.includes('sw2'))).toBe(false)
  // The same problem in every combination is the recipe's own: once, no combination named.
  const tags = checked.issues.filter((issue) => issue.path === 'test_meta.tags')
  expect(tags).toHaveLength(1)
  expect(tags[0]!.message).not.toContain('combination')
  // Each combination that could be read is there to be checked against its scriptlets.
  expect(checked.combinations!.map((recipe) => recipe.combination)).toEqual([
    { dut: 'rack 1' },
    { dut: 'sw2' },
    { dut: 'lab 9' },
  ])
})

test('combinationIssues: one reading is as it is; across combinations, only what every one has goes unnamed', async () => {
  const { combinationIssues } = await import('../../plugin/recipe/matrix.ts')
  const issue = (message: string, line = 3) => ({
    code: 'RECIPE_SCHEMA' as const,
    message,
    location: { file: FILE, line, column: 1 },
  })
  expect(combinationIssues([{ combination: undefined, issues: [issue('x'), issue('x')] }])).toEqual([
    issue('x'),
    issue('x'),
  ])
  const merged = combinationIssues([
    { combination: { dut: 'a' }, issues: [issue('shared'), issue('only a', 4)] },
    { combination: { dut: 'b' }, issues: [issue('shared'), issue('shared', 5)] },
  ])
  expect(merged.map((found) => found.message)).toEqual([
    'shared',
    'only a (combination dut=a)',
    'shared (combination dut=b)',
  ])
})
