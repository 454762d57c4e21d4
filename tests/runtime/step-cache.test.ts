import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { parseRecipe } from '../../plugin/recipe/parse.ts'
import { StepCache, stepCacheKey } from '../../plugin/runtime/step-cache.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-cache-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
writeFileSync(join(root, 'step.ts'), 'export default { run() {} }\n')
writeFileSync(join(root, 'input.csv'), 'a\n')

const stepOf = (args: string) =>
  parseRecipe(
    `steps:\n  - { name: s, type: ts, module: step.ts, cache: { inputs: [input.csv] }, args: ${args} }\n`,
    'r.yaml',
  ).steps[0]!
const keyOf = (args = '{ n: 1 }', context = {}) =>
  stepCacheKey({ step: stepOf(args), root, sourceFiles: ['step.ts'], context })

test('the key changes with the args, the scriptlet source, the declared inputs and the starting ctx, and with nothing else', () => {
  const base = keyOf()
  expect(keyOf()).toBe(base)
  expect(keyOf('{ n: 2 }')).not.toBe(base)
  expect(keyOf('{ n: 1 }', { 'a.b_v1': 1 })).not.toBe(base)
  // Key order in the ctx does not matter.
  expect(keyOf('{ n: 1 }', { 'a.b_v1': 1, 'a.c_v1': 2 })).toBe(keyOf('{ n: 1 }', { 'a.c_v1': 2, 'a.b_v1': 1 }))
  writeFileSync(join(root, 'input.csv'), 'b\n')
  expect(keyOf()).not.toBe(base)
  writeFileSync(join(root, 'step.ts'), 'export default { run() { return } }\n')
  expect(keyOf()).not.toBe(base)
})

test('entries are written whole (temp file + rename) and a damaged entry reads as a miss', () => {
  const cache = new StepCache(join(root, '.cache'))
  const entry = {
    runId: 'r1',
    recipe: 'r.yaml',
    step: 's',
    createdAt: 'now',
    envelope: { status: 'ok' as const, outputs: [], artifacts: [], metrics: {}, warnings: [] },
    writes: [['a.b_v1', 1]] as [string, number][],
  }
  cache.write('abc', entry)
  expect(cache.read('abc')).toEqual(entry)
  expect(readdirSync(join(root, '.cache'))).toEqual(['abc.json'])
  writeFileSync(join(root, '.cache', 'bad.json'), '{"runId"')
  expect(cache.read('bad')).toBeUndefined()
  expect(cache.read('missing')).toBeUndefined()
})
