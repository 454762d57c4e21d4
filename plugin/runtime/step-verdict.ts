import type { RecipeStep } from '../recipe/types.ts'
import { StepFailedError } from './errors.ts'
import type { AttemptRecord, StepStatus } from './meta.ts'
import type { Attempt } from './step-attempt.ts'

/**
 * The judge stage of a step's life: what its attempts come to. Each attempt was judged
 * against the recipe already (step-outcome.ts: the envelope, `expect:`, the success checks);
 * this decides whether to try again (`retry.on`) and the step's status from its last attempt.
 */

/** The attempt as the step record keeps it: its number, how it ended, why, how long it took. */
export function attemptRecord(number: number, attempt: Attempt): AttemptRecord {
  const record: AttemptRecord = {
    attempt: number,
    status: attempt.failure ? 'failed' : 'passed',
    durationMs: attempt.durationMs,
    startTime: new Date(attempt.startedAtMs).toISOString(),
  }
  if (attempt.failure) record.reason = failureReason(attempt)
  return record
}

/** Whether a failure with this reason is one `retry.on` retries (all failures when it lists none). */
export function retries(step: RecipeStep, reason: string): boolean {
  return step.retry.on.length === 0 || step.retry.on.some((pattern) => new RegExp(pattern).test(reason))
}

/** The step's status from its last attempt. */
export function statusOf(last: Attempt, setupFor: string | undefined): StepStatus {
  if (last.failure) return 'failed'
  if (last.cached) return 'cached'
  if (last.execution.envelope.status === 'error') return 'expected-error'
  return setupFor === undefined ? 'passed' : 'setup'
}

/** Why an attempt failed, in one line (the record's reason). */
export function failureReason({ execution, failure }: Pick<Attempt, 'execution' | 'failure'>): string {
  const { envelope } = execution
  const problem = failure instanceof StepFailedError ? failure.problem : (failure?.message ?? 'failed')
  // A failed expectation (wrong reason or exit code for `expect: error`) says more than the reason itself.
  if (envelope.status === 'error' && envelope.reason && !problem.startsWith('failed as expected, but'))
    return envelope.reason
  return firstLine(problem)
}

/** The last line of every step log: what happened. */
export function outcomeLine(
  step: RecipeStep,
  last: Attempt,
  attempts: readonly AttemptRecord[],
  setupFor: string | undefined,
): string {
  const { envelope, stopped } = last.execution
  const took = `in ${Math.round(attempts.reduce((sum, item) => sum + item.durationMs, 0))} ms`
  const tries = attempts.length > 1 ? ` on attempt ${attempts.length} of ${step.retry.max + 1}` : ''
  if (stopped === 'timeout') {
    const abandoned = step.type === 'ts' ? 'the in-process step was abandoned' : 'its processes were killed'
    return `failed: ${envelope.status === 'error' ? envelope.reason : ''}; ${abandoned}`
  }
  if (stopped === 'aborted') return `failed: stopped because Vitest aborted the test`
  if (last.failure) return `failed${tries}: ${firstLine(failureReason(last))}`
  if (last.cached) return `cached: replayed the ctx writes of run ${last.cached.runId}`
  if (envelope.status === 'error') return `expected error matched${tries} ${took}: ${firstLine(envelope.reason)}`
  return `passed${tries} ${took}${setupFor === undefined ? '' : ` (setup for ${setupFor})`}`
}

export function firstLine(text: string): string {
  const end = text.indexOf('\n')
  return end < 0 ? text : text.slice(0, end)
}
