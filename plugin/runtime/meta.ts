import type { ContextWrite } from '../context/context.ts'
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
