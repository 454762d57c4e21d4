import { expect, test } from 'vitest'
import type { RecipeStep } from '../../plugin/recipe/types.ts'
import { inOrderLimited, setupBatches } from '../../plugin/runtime/setup-plan.ts'

/** Steps in recipe order: `name`, `name~` for a parallel one, with what each needs. */
function recipe(spec: Record<string, string[]>): RecipeStep[] {
  return Object.entries(spec).map(
    ([name, needs]) => ({ name: name.replace('~', ''), needs, parallel: name.endsWith('~') }) as unknown as RecipeStep,
  )
}
const names = (batches: RecipeStep[][]) => batches.map((batch) => batch.map((step) => step.name))
const stepOf = (steps: RecipeStep[], name: string) => steps.find((step) => step.name === name)!
const nothing = () => false

test('neighbouring parallel steps a selected step needs run side by side; sequential ones alone, in recipe order', () => {
  const steps = recipe({ 'a~': [], 'b~': [], 'c~': [], fan_in: ['a', 'b'] })
  expect(names(setupBatches(steps, stepOf(steps, 'fan_in'), nothing, nothing))).toEqual([['a', 'b']])
  const chain = recipe({ load: [], validate: ['load'], report: ['validate'] })
  expect(names(setupBatches(chain, stepOf(chain, 'report'), nothing, nothing))).toEqual([['load'], ['validate']])
})

test('a sequential step between two parallel ones splits their group, even when it is not set up', () => {
  const steps = recipe({ 'a~': [], between: [], 'b~': [], 'c~': [], end: ['a', 'b', 'c'] })
  expect(names(setupBatches(steps, stepOf(steps, 'end'), nothing, nothing))).toEqual([['a'], ['b', 'c']])
})

test('a parallel group keeps the steps that need each other (the runner makes them wait), and what they need comes first', () => {
  const steps = recipe({ boot: [], 'a~': ['boot'], 'b~': ['a'], end: ['b'] })
  expect(names(setupBatches(steps, stepOf(steps, 'end'), nothing, nothing))).toEqual([['boot'], ['a', 'b']])
})

test('steps that ran, or run beside the selected one, are not set up, nor what they need; a preset step needs nothing set up', () => {
  const steps = recipe({ boot: [], 'a~': ['boot'], 'b~': ['boot'], end: ['a', 'b'] })
  const done = (name: string) => name === 'a'
  expect(names(setupBatches(steps, stepOf(steps, 'end'), done, nothing))).toEqual([['boot'], ['b']])
  const skipped = (step: RecipeStep) => step.name === 'a' || step.name === 'b'
  expect(names(setupBatches(steps, stepOf(steps, 'end'), nothing, skipped))).toEqual([['a', 'b']])
})

test('a batch runs at most `limit` steps at a time (Vitest maxConcurrency), started in order, results in order', async () => {
  let running = 0
  let most = 0
  const started: number[] = []
  const results = await inOrderLimited([1, 2, 3, 4, 5], 2, async (item) => {
    started.push(item)
    most = Math.max(most, ++running)
    await new Promise((resolve) => setTimeout(resolve, 5 * (6 - item)))
    running--
    return item * 10
  })
  expect(results).toEqual([10, 20, 30, 40, 50])
  expect(started).toEqual([1, 2, 3, 4, 5])
  expect(most).toBe(2)
})
