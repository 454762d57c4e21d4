import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import type { JsonObject } from '../../plugin/context/json-value.ts'
import { parseRecipe } from '../../plugin/recipe/parse.ts'
import { defineRecipe, type RecipeRun, type RecipeStepMeta, type StepTestContext } from '../../plugin/runtime/index.ts'
import { STEP_METRICS_KEY, withoutStepMetrics } from '../../plugin/runtime/step-metrics.ts'
import { defineScriptlet } from '../../plugin/scriptlet/index.ts'
import { compiledRecipe } from './compiled.ts'

// The runtime's `step_metrics: true` through its public entry (defineRecipe, runStep), with
// in-memory scriptlets: each test builds a recipe, runs its steps as Vitest would and reads
// the ctx with a last step that copies it.

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-step-metrics-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** What the `inspect` step saw: the whole ctx, and the history of the metrics key. */
let seen: { ctx: JsonObject; writers: string[] } | undefined

/** Both parallel steps wait here, so they run at the same time and end together. */
let gate: { open: () => void; opened: Promise<void>; running: number; most: number }
/** A third parallel step runs until the test opens this one: the other two end while it still runs. */
let slowGate: { open: () => void; opened: Promise<void> }

const modules = {
  'steps.ts': {
    set: defineScriptlet({
      name: 'set',
      run(ctx, params, { step }) {
        ctx.set((params as { key: string }).key, 1, { who: step })
      },
    }),
    together: defineScriptlet({
      name: 'together',
      async run(ctx, params, { step }) {
        gate.running++
        gate.most = Math.max(gate.most, gate.running)
        if (gate.running === 2) gate.open()
        await gate.opened
        ctx.set((params as { key: string }).key, step, { who: step })
        gate.running--
      },
    }),
    slow: defineScriptlet({
      name: 'slow',
      async run(ctx, _params, { step }) {
        await slowGate.opened
        ctx.set('demo.slow_v1', step, { who: step })
      },
    }),
    fail: defineScriptlet({
      name: 'fail',
      run() {
        throw new Error('the device did not answer')
      },
    }),
    inspect: defineScriptlet({
      name: 'inspect',
      run(ctx) {
        seen = { ctx: ctx.toJSON(), writers: ctx.history(STEP_METRICS_KEY).map((write) => write.who) }
      },
    }),
  },
}

function forget() {
  seen = undefined
}

let runs = 0
function recipeRun(yaml: string): { run: RecipeRun; tasks: StepTestContext['task'][] } {
  const recipe = parseRecipe(yaml, `recipes/metrics_${++runs}.yaml`)
  const run = defineRecipe(compiledRecipe(recipe, root, join(root, 'results.sqlite')), modules)
  const file = { tasks: [] as unknown[] }
  const tasks = recipe.steps.map((step) => ({ name: step.name, mode: 'run', meta: {}, file }))
  file.tasks.push(...tasks)
  return { run, tasks: tasks as unknown as StepTestContext['task'][] }
}

/** Runs step `name` as its test would; resolves to its record (a failing step's test throws: kept as `error`). */
async function runStep(
  { run, tasks }: ReturnType<typeof recipeRun>,
  name: string,
): Promise<RecipeStepMeta & { error?: string }> {
  const task = tasks.find((entry) => entry.name === name)!
  const context: StepTestContext = {
    task,
    skip: (note) => {
      throw new Error(`skipped: ${note}`)
    },
  }
  let error: string | undefined
  try {
    await run.runStep(name, context)
  } catch (thrown) {
    error = (thrown as Error).message
  }
  const meta = (task.meta as { recipeStep: RecipeStepMeta }).recipeStep
  return error === undefined ? meta : { ...meta, error }
}

function opening(): { open: () => void; opened: Promise<void> } {
  let open = () => {}
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { open, opened }
}

describe('recipe option step_metrics', () => {
  test('off by default: the ctx holds exactly what the steps wrote', async () => {
    const recipe = recipeRun(`steps:
  - { name: first, type: ts, module: steps.ts, function: set, args: { key: demo.first_v1 } }
  - { name: inspect, type: ts, module: steps.ts, function: inspect }
`)
    forget()
    expect((await runStep(recipe, 'first')).status).toBe('passed')
    expect((await runStep(recipe, 'inspect')).status).toBe('passed')
    await recipe.run.finish()
    expect(seen?.ctx).toEqual({ 'demo.first_v1': 1 })
    expect(seen?.writers).toEqual([])
  })

  test("on: each step's figures, the very ones of its record, written by _runner after it ends", async () => {
    const recipe = recipeRun(`step_metrics: true
steps:
  - { name: first, type: ts, module: steps.ts, function: set, args: { key: demo.first_v1 } }
  - { name: second, type: ts, module: steps.ts, function: set, args: { key: demo.second_v1 } }
  - { name: inspect, type: ts, module: steps.ts, function: inspect }
`)
    forget()
    const first = await runStep(recipe, 'first')
    const second = await runStep(recipe, 'second')
    await runStep(recipe, 'inspect')
    await recipe.run.finish()
    const figures = (meta: RecipeStepMeta) => ({
      status: 'passed',
      duration_ms: meta.durationMs,
      cpu_ms: meta.cpuMs,
      ...(meta.peakRssBytes === null ? {} : { peak_rss_mb: meta.peakRssBytes / 2 ** 20 }),
      attempts: 1,
    })
    expect(first.durationMs).toBeGreaterThan(0)
    expect(seen?.ctx[STEP_METRICS_KEY]).toEqual({ first: figures(first), second: figures(second) })
    expect(seen?.writers).toEqual(['_runner', '_runner'])
    // The step's own record lists only its own writes.
    expect(first.writes.map((write) => write.key)).toEqual(['demo.first_v1'])
  })

  test('parallel steps that end together each add their entry, without a conflict', async () => {
    // left and right end together while slow still runs, so the conflict check still
    // watches them: had the runner written through their steps, the second would conflict.
    const recipe = recipeRun(`step_metrics: true
steps:
  - { name: slow, type: ts, module: steps.ts, function: slow, parallel: true, depends_on: [] }
  - { name: left, type: ts, module: steps.ts, function: together, args: { key: demo.left_v1 }, parallel: true, depends_on: [] }
  - { name: right, type: ts, module: steps.ts, function: together, args: { key: demo.right_v1 }, parallel: true, depends_on: [] }
  - { name: inspect, type: ts, module: steps.ts, function: inspect, depends_on: [slow, left, right] }
`)
    forget()
    gate = { ...opening(), running: 0, most: 0 }
    slowGate = opening()
    const slow = runStep(recipe, 'slow')
    const [left, right] = await Promise.all([runStep(recipe, 'left'), runStep(recipe, 'right')])
    expect(gate.most).toBe(2)
    expect([left.status, left.error, right.status, right.error]).toEqual(['passed', undefined, 'passed', undefined])
    slowGate.open()
    expect((await slow).status).toBe('passed')
    expect((await runStep(recipe, 'inspect')).status).toBe('passed')
    await recipe.run.finish()
    expect(Object.keys(seen?.ctx[STEP_METRICS_KEY] as JsonObject)).toEqual(['left', 'right', 'slow'])
    expect(seen?.ctx).toMatchObject({ 'demo.left_v1': 'left', 'demo.right_v1': 'right', 'demo.slow_v1': 'slow' })
  })

  test('a failed step is recorded with its status; a blocked one, which did not run, is not', async () => {
    const recipe = recipeRun(`step_metrics: true
steps:
  - { idx: 1, name: broken, type: ts, module: steps.ts, function: fail, depends_on: [] }
  - { idx: 2, name: after_broken, type: ts, module: steps.ts, function: set, args: { key: demo.after_v1 }, depends_on: [broken] }
  - { idx: 3, name: inspect, type: ts, module: steps.ts, function: inspect, depends_on: [] }
`)
    forget()
    const broken = await runStep(recipe, 'broken')
    expect(broken.error).toContain('the device did not answer')
    expect((await runStep(recipe, 'after_broken')).status).toBe('blocked')
    await runStep(recipe, 'inspect')
    await recipe.run.finish()
    expect(seen?.ctx[STEP_METRICS_KEY]).toEqual({
      broken: { status: 'failed', duration_ms: broken.durationMs, cpu_ms: broken.cpuMs, ...rss(broken), attempts: 1 },
    })
  })
})

test("a step's cache key does not cover the runner's figures, which change every run", () => {
  const ctx = { 'numbers.raw_v1': [1, 2], [STEP_METRICS_KEY]: { load: { status: 'passed', duration_ms: 1.5 } } }
  expect(withoutStepMetrics(ctx)).toEqual({ 'numbers.raw_v1': [1, 2] })
  const plain = { 'numbers.raw_v1': [1, 2] }
  expect(withoutStepMetrics(plain)).toBe(plain)
})

function rss(meta: RecipeStepMeta): JsonObject {
  return meta.peakRssBytes === null ? {} : { peak_rss_mb: meta.peakRssBytes / 2 ** 20 }
}
