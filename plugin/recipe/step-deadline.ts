import type { RecipeStep } from './types.ts'

/** Seconds a step may run when neither its recipe entry nor the plugin option stepTimeout says. */
export const DEFAULT_STEP_TIMEOUT_SEC = 300

/**
 * A step's deadline for one attempt, in ms: the recipe's `timeout`, else `defaultSec` (the
 * plugin option stepTimeout, itself defaulting to DEFAULT_STEP_TIMEOUT_SEC). The runner kills
 * the step at this deadline; the Vitest timeout is derived from it (compile/codegen.ts).
 */
export function stepTimeoutMs(step: Pick<RecipeStep, 'timeoutSec'>, defaultSec: number): number {
  return Math.round((step.timeoutSec ?? defaultSec) * 1000)
}

/** The longest a step may take with every retry and the delays between them, in ms. */
export function stepWorstCaseMs(step: Pick<RecipeStep, 'timeoutSec' | 'retry'>, defaultSec: number): number {
  return (
    stepTimeoutMs(step, defaultSec) * (step.retry.max + 1) + Math.round(step.retry.delaySec * 1000) * step.retry.max
  )
}
