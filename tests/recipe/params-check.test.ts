import { expect, test } from 'vitest'
import { z } from 'zod'
import type { ScriptletDeclaration } from '../../plugin/recipe/declarations.ts'
import { checkStepParams } from '../../plugin/recipe/params-check.ts'
import { parseRecipe } from '../../plugin/recipe/parse.ts'

const stepOf = (yaml: string) => parseRecipe(`steps:\n${yaml}`, 'recipes/x.yaml').steps[0]!
const header = (params: NonNullable<ScriptletDeclaration['params']>): ScriptletDeclaration => ({
  file: 'scriptlets/copy.sh',
  params,
  lines: { params: 6 },
})
const copy = header([
  { name: 'INPUT', type: 'string', required: true },
  { name: 'COUNT', type: 'integer', required: false, default: 1 },
  { name: 'RATIO', type: 'number', required: false },
  { name: 'STRICT', type: 'boolean', required: false },
  { name: 'ITEMS', type: 'array', required: false },
])
const messages = (issues: ReturnType<typeof checkStepParams>) => issues.map((issue) => issue.message)

test('header params: unknown with a did-you-mean, missing, wrong types; located at the key', () => {
  const step = stepOf(
    '  - name: copy\n    type: shell\n    cmd: scriptlets/copy.sh\n    args:\n      INPT: a.txt\n      COUNT: 2.5\n      ITEMS: none\n',
  )
  const issues = checkStepParams(step, copy)
  expect(messages(issues)).toEqual([
    'step "copy" gives "INPT", which its scriptlet does not take',
    'step "copy" does not give the required parameter "INPUT"',
    'parameter "COUNT" of step "copy" is the number 2.5, but scriptlets/copy.sh declares a whole number (int)',
    'parameter "ITEMS" of step "copy" is the text "none", but scriptlets/copy.sh declares a list',
  ])
  expect(issues[0]!.hint).toBe(
    'Did you mean "INPUT"? It takes: INPUT, COUNT, RATIO, STRICT, ITEMS (declared at scriptlets/copy.sh:6).',
  )
  expect(issues[0]!.location).toMatchObject({ line: 6, column: 7 })
  expect(issues[1]!.location).toMatchObject({ line: 5, column: 5 })
  expect(issues[0]!.path).toBe('steps[0].args.INPT')
})

test('shell args arrive as text: text that reads as the declared type fits; python args are JSON and must match', () => {
  const shell = stepOf(
    '  - name: copy\n    type: shell\n    cmd: scriptlets/copy.sh\n    args: { INPUT: 7, COUNT: "3", RATIO: "0.5", STRICT: "true" }\n',
  )
  expect(checkStepParams(shell, copy)).toEqual([])
  const python = stepOf(
    '  - name: copy\n    type: python\n    module: scriptlets.copy\n    args: { INPUT: 7, COUNT: "3" }\n',
  )
  expect(messages(checkStepParams(python, copy))).toEqual([
    'parameter "INPUT" of step "copy" is the whole number 7, but scriptlets/copy.sh declares a text (str)',
    'parameter "COUNT" of step "copy" is the text "3", but scriptlets/copy.sh declares a whole number (int)',
  ])
})

test('nothing declared, argv lists and negative steps are not checked', () => {
  expect(
    checkStepParams(stepOf('  - name: a\n    type: shell\n    cmd: x.sh\n    args: { ANY: 1 }\n'), undefined),
  ).toEqual([])
  expect(checkStepParams(stepOf('  - name: a\n    type: shell\n    cmd: x.sh\n    args: [one, two]\n'), copy)).toEqual(
    [],
  )
  expect(
    checkStepParams(
      stepOf('  - name: a\n    type: shell\n    cmd: x.sh\n    args: { X: 1 }\n    expect: error\n'),
      copy,
    ),
  ).toEqual([])
  expect(
    checkStepParams(stepOf('  - name: a\n    type: shell\n    cmd: x.sh\n    args: { X: 1 }\n'), {
      file: 'x.sh',
      lines: {},
    }),
  ).toEqual([])
})

test('a zod schema: its own messages; unknown keys of a plain or strict object, not of a loose one', () => {
  const step = stepOf(
    '  - name: load\n    type: ts\n    module: scriptlets/load.ts\n    args: { srcc: a.txt, count: five }\n',
  )
  const declared = (schema: z.ZodType): ScriptletDeclaration => ({
    file: 'scriptlets/load.ts',
    schema,
    lines: { params: 4 },
  })
  const plain = z.object({ src: z.string(), count: z.number().default(1) })
  const found = checkStepParams(step, declared(plain))
  expect(messages(found)).toEqual([
    'step "load" gives "srcc", which its scriptlet does not take',
    'step "load" does not give the required parameter "src" (Invalid input: expected string, received undefined)',
    'parameter "count" of step "load": Invalid input: expected number, received string',
  ])
  expect(found[0]!.hint).toContain('Did you mean "src"?')
  expect(found[2]!.hint).toBe("Fix count; the scriptlet's zod schema is at scriptlets/load.ts:4.")
  expect(messages(checkStepParams(step, declared(z.strictObject(plain.shape))))).toHaveLength(3)
  expect(messages(checkStepParams(step, declared(z.looseObject(plain.shape))))).toEqual([
    'step "load" does not give the required parameter "src" (Invalid input: expected string, received undefined)',
    'parameter "count" of step "load": Invalid input: expected number, received string',
  ])
  // A refinement over the whole params object is reported as it is.
  const refined = plain.refine((p) => p.count > 0, { message: 'count must be positive' })
  const good = stepOf(
    '  - name: load\n    type: ts\n    module: scriptlets/load.ts\n    args: { src: a.txt, count: -1 }\n',
  )
  expect(messages(checkStepParams(good, declared(refined)))).toEqual([
    'parameter "args" of step "load": count must be positive',
  ])
})
