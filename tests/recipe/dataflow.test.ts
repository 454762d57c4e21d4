import { expect, test } from 'vitest'
import { checkDataflow, resumeReaders, uncheckedNote } from '../../plugin/recipe/dataflow.ts'
import type { ScriptletDeclaration } from '../../plugin/recipe/declarations.ts'
import { parseRecipe } from '../../plugin/recipe/parse.ts'

const step = (name: string, extra = '') =>
  `  - name: ${name}\n    type: ts\n    module: scriptlets/${name}.ts\n${extra}`
const recipe = (...steps: string[]) => parseRecipe(`steps:\n${steps.join('')}`, 'recipes/x.yaml')
const declares = (reads?: string[], outputs?: string[]): ScriptletDeclaration => {
  const declaration: ScriptletDeclaration = { file: 'scriptlets/s.ts', lines: { reads: 3 } }
  if (reads) declaration.reads = reads
  if (outputs) declaration.outputs = outputs
  return declaration
}
const messages = (report: ReturnType<typeof checkDataflow>) => report.issues.map((issue) => issue.message)

test('a key written by a step it depends on, directly or through others, is fine', () => {
  const parsed = recipe(
    step('load'),
    step('validate', '    depends_on: [load]\n'),
    step('mean', '    depends_on: [validate]\n'),
  )
  const report = checkDataflow(
    parsed,
    new Map([
      ['load', declares([], ['numbers.raw_v1'])],
      ['validate', declares(['numbers.raw_v1'], ['numbers.validated_v1'])],
      ['mean', declares(['numbers.raw_v1', 'numbers.validated_v1'], ['metrics.mean_v1'])],
    ]),
  )
  expect(report).toEqual({ issues: [], unchecked: [], unresolved: [] })
})

test('a sequential recipe (no depends_on) reads what any earlier step wrote; a later writer is named', () => {
  const parsed = recipe(step('a'), step('b'), step('c'))
  const report = checkDataflow(
    parsed,
    new Map([
      ['a', declares([], ['lab.a_v1'])],
      ['b', declares(['lab.a_v1', 'lab.c_v1'], [])],
      ['c', declares([], ['lab.c_v1'])],
    ]),
  )
  expect(messages(report)).toEqual(['step "b" reads "lab.c_v1", which "c" writes only after it ("c" depends on "b")'])
  expect(report.issues[0]!.location).toMatchObject({ file: 'recipes/x.yaml', line: 5, column: 5 })
})

test('parallel siblings: reading what the other writes is a race; an optional read too, a serial one is not', () => {
  const parsed = recipe(
    step('root'),
    step('w', '    depends_on: [root]\n    parallel: true\n'),
    step('r', '    depends_on: [root]\n    parallel: true\n'),
    step('s', '    depends_on: [root]\n'),
  )
  const race = checkDataflow(
    parsed,
    new Map([
      ['root', declares([], [])],
      ['w', declares([], ['lab.w_v1'])],
      ['r', declares(['lab.w_v1?'], [])],
      ['s', declares(['lab.w_v1?'], [])],
    ]),
  )
  expect(messages(race)).toEqual([
    'step "r" reads "lab.w_v1", which "w" writes, and the two may run at the same time (parallel, no depends_on between them)',
  ])
  const serial = checkDataflow(
    parsed,
    new Map([
      ['root', declares([], [])],
      ['w', declares([], ['lab.w_v1'])],
      ['r', declares([], [])],
      ['s', declares(['lab.w_v1'], [])],
    ]),
  )
  expect(messages(serial)).toEqual([
    'step "s" reads "lab.w_v1", which "w" writes, but it does not depend on "w": run alone (-t s) it would not find the key',
  ])
})

test('nothing writes the key: an error when every step before it declares its outputs, silence when one does not', () => {
  const parsed = recipe(step('a'), step('b'))
  const declared = checkDataflow(
    parsed,
    new Map([
      ['a', declares([], [])],
      ['b', declares(['lab.x_v1'], [])],
    ]),
  )
  expect(messages(declared)).toEqual(['step "b" reads "lab.x_v1", which no step it depends on writes'])
  const unknownWriter = checkDataflow(
    parsed,
    new Map([
      ['a', declares([])],
      ['b', declares(['lab.x_v1'], [])],
    ]),
  )
  expect(unknownWriter.issues).toEqual([])
  // A save: mapping writes the key even when the scriptlet declares nothing.
  const saved = checkDataflow(
    recipe(step('a', '    save: { lab.x_v1: value }\n'), step('b')),
    new Map([['b', declares(['lab.x_v1'], [])]]),
  )
  expect(saved.issues).toEqual([])
  expect(saved.unchecked).toEqual(['a'])
})

test('negative steps, keys of the runner and a step reading what it writes itself are not errors', () => {
  const parsed = { ...recipe(step('a'), step('b', '    expect: error\n'), step('c')), stepMetrics: true }
  const report = checkDataflow(
    parsed,
    new Map([
      ['a', declares([], [])],
      ['b', declares(['lab.missing_v1'], [])],
      ['c', declares(['_runner.step_metrics_v1', 'lab.count_v1'], ['lab.count_v1'])],
    ]),
  )
  expect(report.issues).toEqual([])
  // The runner writes its step figures only when the recipe asks for them.
  const figures = new Map([['a', declares(['_runner.step_metrics_v1'], [])]])
  expect(messages(checkDataflow(recipe(step('a')), figures))).toEqual([
    'step "a" reads "_runner.step_metrics_v1", which the runner writes only for a recipe with step_metrics: true',
  ])
  expect(checkDataflow({ ...recipe(step('a')), stepMetrics: true }, figures).issues).toEqual([])
})

test('two writers of one key without an order between them are named, unless the recipe accepts the last write', () => {
  const steps = [
    step('a', '    parallel: true\n'),
    step('b', '    parallel: true\n'),
    step('c', '    depends_on: [a]\n'),
  ]
  const declarations = new Map([
    ['a', declares([], ['lab.k_v1'])],
    ['b', declares([], ['lab.k_v1'])],
    ['c', declares([], ['lab.k_v1'])],
  ])
  expect(messages(checkDataflow(recipe(...steps), declarations))).toEqual([
    '"lab.k_v1" is written by both "a" and "b", with no order between them: which value stays depends on timing',
    '"lab.k_v1" is written by both "b" and "c", with no order between them: which value stays depends on timing',
  ])
  const relaxed = parseRecipe(`conflicts: last_write_wins\nsteps:\n${steps.join('')}`, 'recipes/x.yaml')
  expect(checkDataflow(relaxed, declarations).issues).toEqual([])
})

test('the unchecked note lists the steps that declare no reads and keys their args do not name, in one line', () => {
  const parsed = recipe(step('a'), step('b', '    args: { other: 1 }\n'))
  const report = checkDataflow(parsed, new Map([['b', declares(['{key}'], [])]]))
  expect(uncheckedNote('recipes/x.yaml', report)).toBe(
    'recipes/x.yaml: dataflow unchecked for 1 step(s) whose scriptlets do not declare what they read: a; step "b" declares {key}, which its args do not name: not checked',
  )
  expect(
    uncheckedNote('recipes/x.yaml', checkDataflow(recipe(step('a')), new Map([['a', declares([], [])]]))),
  ).toBeUndefined()
})

test('a long chain where every step reads what an earlier one wrote', () => {
  const count = 2000
  const steps = Array.from({ length: count }, (_, i) => step(`s${i}`))
  const declarations = new Map(
    Array.from({ length: count }, (_, i) => [`s${i}`, declares(i === 0 ? [] : [`lab.k${i - 1}_v1`], [`lab.k${i}_v1`])]),
  )
  const parsed = recipe(...steps)
  expect(checkDataflow(parsed, declarations).issues).toEqual([])
  // A reader two steps after the writer: found through the chain, not only among direct needs.
  declarations.set('s1999', declares(['lab.k1000_v1'], []))
  expect(checkDataflow(parsed, declarations).issues).toEqual([])
})

test('what the steps a resume runs read: declared reads resolved against args, success-check keys; undeclared or unresolved is unknown', () => {
  const parsed = recipe(
    step('login'),
    step('use', '    args: { key: auth.token_v1 }\n    success:\n      ctx_equals: { lab.state_v1: up }\n'),
    step('skipped'),
    step('legacy'),
    step('loose'),
  )
  const readers = resumeReaders(
    parsed,
    new Map([
      ['login', declares([], ['auth.token_v1'])],
      ['use', declares(['{key}', 'lab.count_v1?'])],
      ['skipped', declares(['auth.token_v1'])],
      ['legacy', undefined],
      ['loose', declares(['{missing}'])],
    ]),
    1,
    ['skipped'],
  )
  expect(readers).toEqual([
    { step: 'use', reads: ['auth.token_v1', 'lab.count_v1', 'lab.state_v1'] },
    { step: 'legacy', reads: undefined },
    { step: 'loose', reads: undefined },
  ])
})
