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

/**
 * How long a step stopped at its deadline (or aborted) gets to report what its processes
 * printed before the runner moves on (runtime/deadline.ts): more than the executors' own
 * SIGTERM-then-SIGKILL of a process tree (twice executors/process-tree.ts's TERM_GRACE_MS).
 * An in-process step that never returns costs all of it.
 */
export const STOPPED_STEP_REPORT_WAIT_MS = 5000

/**
 * How long an in-process TypeScript step stopped at its deadline (or aborted) gets to return
 * before it is abandoned: it has no process to kill, so nothing is to be reported but its own
 * return, and one that watches `tools.signal` returns at once. One that never returns is
 * abandoned after this, not after STOPPED_STEP_REPORT_WAIT_MS (a hung step with retries lost
 * 5 s per attempt). Vitest's backstop still allows the longer wait (stepWorstCaseMs).
 */
export const IN_PROCESS_RETURN_WAIT_MS = 1000

/**
 * The longest a step may take with every retry and the delays between them, in ms: each
 * attempt may run to its deadline and then wait for its report, so Vitest's backstop
 * (compile/codegen.ts) never cuts the runner's own timeout and retries short.
 */
export function stepWorstCaseMs(step: Pick<RecipeStep, 'timeoutSec' | 'retry'>, defaultSec: number): number {
  const attempt = stepTimeoutMs(step, defaultSec) + STOPPED_STEP_REPORT_WAIT_MS
  return attempt * (step.retry.max + 1) + Math.round(step.retry.delaySec * 1000) * step.retry.max
}
