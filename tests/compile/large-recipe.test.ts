import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { compileRecipe } from '../../plugin/compile/vite-plugin.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-large-'))
mkdirSync(join(root, 'scriptlets'))
writeFileSync(join(root, 'scriptlets/noop.ts'), 'export default { run() {} }\n')
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** A recipe of `count` steps without depends_on: each step needs the one before it. */
function chainRecipe(count: number): string {
  const steps = Array.from(
    { length: count },
    (_, i) => `  - name: step_${i}\n    type: ts\n    module: scriptlets/noop.ts\n    timeout: 1\n`,
  )
  return `steps:\n${steps.join('')}`
}

function compileTimed(count: number): { ms: number; code: string } {
  const source = chainRecipe(count)
  const started = performance.now()
  const { code } = compileRecipe(source, join(root, 'recipes/chain.yaml'), root)
  return { ms: performance.now() - started, code }
}

test('a 10,000-step chain compiles (parse, plan, workspace checks, codegen, source map grow linearly)', () => {
  compileTimed(200) // warm-up: the first call pays for zod's and yaml's own set-up
  const small = compileTimed(1_000)
  const large = compileTimed(10_000)
  // Timings vary with the machine: they are printed, not asserted.
  console.log(
    `compile 1,000 steps: ${small.ms.toFixed(0)} ms; 10,000 steps: ${large.ms.toFixed(0)} ms; ratio ${(large.ms / small.ms).toFixed(1)}`,
  )
  const tests = large.code.split('\n').filter((line) => line.startsWith('test('))
  expect(tests).toHaveLength(10_000)
  // Each Vitest timeout covers every earlier step (1 s each, and its 5 s report wait) as possible setup, plus its own and a grace.
  expect(tests[0]).toContain(`test('step_0', { timeout: 16000 }`)
  expect(tests[9_999]).toContain(`test('step_9999', { timeout: ${10_000 * 6000 + 10_000} }`)
}, 120_000)

test('Vitest timeouts of very long chains are capped where setTimeout still works', () => {
  const steps = Array.from({ length: 3 }, (_, i) => `  - { name: s${i}, type: ts, module: scriptlets/noop.ts }\n`)
  const { code } = compileRecipe(`steps:\n${steps.join('')}`, join(root, 'recipes/long.yaml'), root, {
    stepTimeout: 1_000_000,
  })
  expect(code).toContain(`test('s2', { timeout: ${2 ** 31 - 1} }`)
})
