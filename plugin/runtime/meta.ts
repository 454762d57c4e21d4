import type { ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { StepRecord } from '../store/run-store.ts'
import type { Envelope } from '../scriptlet/envelope.ts'

export type StepStatus = 'passed' | 'failed' | 'blocked' | 'skipped' | 'cached' | 'resumed'

export interface AttemptRecord {
  reason: string
  durationMs: number
}

/** What each step test carries in `task.meta.recipeStep` for reporters. JSON only. */
export interface RecipeStepMeta {
  runId: string
  recipe: string
  testId: string
  step: string
  idx: number
  type: string
  status: StepStatus
  /** The args the recipe gave the step (secrets redacted). */
  params: JsonObject | JsonValue[]
  envelope?: Envelope
  /** The ctx writes the step made (with before/after values). */
  writes: ContextWrite[]
  durationMs: number
  /** CPU time of the step: its child process, or this process for in-process TypeScript steps. */
  cpuMs: number
  /** Peak RSS of the step's child process; growth of this process's peak RSS for in-process steps. */
  peakRssBytes: number
  /** The step log, relative to the project root (`Logs/<run_id>/<idx>_<step>.log`); none for a step that passed without output. */
  logPath?: string
  /** Steps that were filtered out (by -t or the IDE) and ran first as setup for this one. */
  setup: string[]
  /** Failed attempts before the last one, when the step retried. */
  attempts: AttemptRecord[]
  /** For a blocked step: the step that blocked it, and whether it failed or was skipped. */
  blockedBy?: string
  blockedReason?: 'failed' | 'skipped'
  /** For a skipped step: the outputs it declares that the ctx does not hold (its dependents are blocked). */
  missingOutputs?: string[]
  /** For a cached step: the run whose ctx writes were replayed. */
  cachedFrom?: string
  /** For a step before --resume-from: the run the ctx was restored from. */
  resumedFrom?: string
}

/** Where the step meta sits in `task.meta` / a reporter's `testCase.meta()`. */
export interface RecipeTaskMeta {
  recipeStep?: RecipeStepMeta
}

/** The step meta of a test, for reporters: `recipeStepMeta(testCase.meta())`; undefined for other tests. */
export function recipeStepMeta(meta: object): RecipeStepMeta | undefined {
  return (meta as RecipeTaskMeta).recipeStep
}

/** The store row of a step, from its meta: the same at the step boundary and when a merged report imports a run. */
export function stepRecordOf(meta: RecipeStepMeta): StepRecord {
  const error = meta.envelope?.status === 'error' ? meta.envelope : undefined
  return {
    step: meta.step,
    idx: meta.idx,
    status: meta.status,
    durationMs: meta.durationMs,
    cpuMs: meta.cpuMs,
    peakRssBytes: meta.peakRssBytes,
    exitCode: error ? error.exit_code : meta.status === 'passed' || meta.status === 'cached' ? 0 : null,
    attempts: meta.attempts.length + 1,
    reason:
      error?.reason ??
      (meta.blockedBy === undefined ? null : `blocked: ${meta.blockedBy} ${meta.blockedReason ?? 'failed'}`),
    logPath: meta.logPath ?? null,
    params: meta.params,
    envelope: (meta.envelope as JsonObject | undefined) ?? null,
  }
}
