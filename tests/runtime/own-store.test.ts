import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { parseRecipe } from '../../plugin/recipe/parse.ts'
import { defineRecipe, type StepTestContext } from '../../plugin/runtime/index.ts'
import { defineScriptlet } from '../../plugin/scriptlet/index.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { compiledRecipe } from './compiled.ts'

// A recipe file run where no Vitest process keeps the store (no keeper provided it, as here):
// the file opens the store itself, journals each step as every file does and stores its own
// journal at the step boundary: when a step's test ends, the step is in the store.

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-own-store-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const modules = {
  'steps.ts': {
    set: defineScriptlet({
      name: 'set',
      run(ctx, params, { step }) {
        ctx.set((params as { key: string }).key, step, { who: step })
      },
    }),
  },
}

test('each step is in the store when its test ends; the journal is gone once the run ends', async () => {
  const db = join(root, 'results.sqlite')
  const recipe = parseRecipe(
    `test_meta: { test_id: OWN-STORE }
steps:
  - { name: first, type: ts, module: steps.ts, function: set, args: { key: demo.first_v1 } }
  - { name: second, type: ts, module: steps.ts, function: set, args: { key: demo.second_v1 } }
`,
    'recipes/own.yaml',
  )
  const run = defineRecipe(compiledRecipe(recipe, root, db), modules)
  const file = { tasks: [] as unknown[] }
  const tasks = recipe.steps.map((step) => ({ name: step.name, mode: 'run', meta: {}, file }))
  file.tasks.push(...tasks)
  const context = (name: string) =>
    ({
      task: tasks.find((task) => task.name === name),
      skip: (note: string) => {
        throw new Error(`skipped: ${note}`)
      },
    }) as unknown as StepTestContext
  const reader = await RunStore.open(db)
  try {
    const steps = async () => {
      const found = await reader.findRun('last')
      if ('error' in found) return []
      return (await reader.readRun(found.runId))?.steps.map((step) => [step.step, step.status]) ?? []
    }
    await run.runStep('first', context('first'))
    expect(await steps()).toEqual([['first', 'passed']])
    await run.runStep('second', context('second'))
    expect(await steps()).toEqual([
      ['first', 'passed'],
      ['second', 'passed'],
    ])
    await run.finish()
    const found = await reader.findRun('last')
    const stored = 'runId' in found ? await reader.readRun(found.runId) : undefined
    expect(stored?.run.status).toBe('passed')
    expect(stored?.context.map((row) => [row.key, row.value])).toEqual([
      ['demo.first_v1', 'first'],
      ['demo.second_v1', 'second'],
    ])
    const pending = join(root, 'results.sqlite.pending')
    expect(existsSync(pending) ? readdirSync(pending) : []).toEqual([])
  } finally {
    await reader.close()
  }
})
