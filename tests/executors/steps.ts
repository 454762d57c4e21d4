import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Context } from '../../plugin/context/context.ts'
import { StepContext } from '../../plugin/context/step-context.ts'
import type { ExecutorInput } from '../../plugin/executors/types.ts'
import type { RecipeStep } from '../../plugin/recipe/types.ts'
import { REPO } from '../e2e/project.ts'

/** The fixtures folder: the project root of executor tests, so fixture paths resolve as in a recipe. */
export const FIXTURES = join(REPO, 'tests/fixtures')

/**
 * What an executor gets for one step: the step as the recipe compiler would give it (only
 * the fields executors read), a fresh context, and a step timeout of `timeoutMs`.
 */
export function stepInput(
  step: Pick<RecipeStep, 'name' | 'type'> & Partial<RecipeStep>,
  { timeoutMs = 20_000, ctx = new Context() }: { timeoutMs?: number; ctx?: Context } = {},
): ExecutorInput & { stepCtx: StepContext } {
  const stepCtx = new StepContext(ctx)
  const full = { params: {}, parse: 'json', save: {}, ...step } as RecipeStep
  return { step: full, ctx: stepCtx, stepCtx, root: FIXTURES, signal: AbortSignal.timeout(timeoutMs) }
}

/** Pids whose command line holds `marker`, from /proc. */
export function processesWithMarker(marker: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry))
    } catch {
      // Ended while we looked.
    }
  }
  return pids
}
