import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { Envelope } from '../scriptlet/envelope.ts'
import type { HistoryWrite } from '../store/history-delta.ts'
import type { AttemptRow, StepRow, StepStatus } from '../store/run-data.ts'

export type { StepStatus } from '../store/run-data.ts'

/** One attempt of a step: its number (1 = first), how it ended, why, and how long it took. */
export type AttemptRecord = AttemptRow

/**
 * What a step produced, as the runtime records it: the one record of a step, carried in
 * `task.meta.recipeStep` for reporters, stored at the step boundary (`stepRowOf`), and
 * imported from there at --merge-reports. JSON only.
 */
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
  /** The run's vars, when its recipe has any (secrets redacted): --merge-reports records them with the run it imports. */
  vars?: JsonObject
  envelope?: Envelope
  /** Why the step did not pass, or why it did not run (blocked, skipped, resumed). */
  reason?: string
  /**
   * The ctx writes the step made, as the store records them (secrets as references): the
   * first of a key in the run with its value, later ones the RFC 6902 patch against the key's
   * previous recorded value (an append is the item), or the value when that is smaller.
   */
  writes: HistoryWrite[]
  durationMs: number
  /** When the step began running (ISO): its first attempt's start. Absent for a step that did not run. */
  startTime?: string
  /** CPU time of the step: its child process, or this process for in-process TypeScript steps. */
  cpuMs: number
  /**
   * Peak RSS of the step's process tree, or of its own work in the Python host; growth of this
   * process's peak RSS for in-process steps; null where it is not measured (worker threads).
   */
  peakRssBytes: number | null
  /** The step log, relative to the project root (`Logs/<run_id>/<idx>_<step>.log`); none for a step that passed silently. */
  logPath?: string
  /** Steps that were filtered out (by -t or the IDE) and ran first as setup for this one. */
  setup: string[]
  /** For a step run as setup: the selected step that needed it. */
  setupFor?: string
  /** Every attempt the step made, in order; empty for a step that did not run. */
  attempts: AttemptRecord[]
  /** How many attempts the step was allowed (`retry.max` + 1), for a step with a retry. */
  maxAttempts?: number
  /** For a blocked step: the step that blocked it, and whether it failed or was skipped. */
  blockedBy?: string
  blockedReason?: 'failed' | 'skipped'
  /** For a skipped step: the outputs it declares that the ctx does not hold (its dependents are blocked). */
  missingOutputs?: string[]
  /** For a cached step: the run whose ctx writes were replayed. */
  cachedFrom?: string
  /** For a step before --resume-from: the run the ctx was restored from. */
  resumedFrom?: string
  /** Whether the step ran out of time (its processes were killed, an in-process step abandoned). */
  timedOut?: boolean
}

/** Where the step meta sits in `task.meta` / a reporter's `testCase.meta()`. */
export interface RecipeTaskMeta {
  recipeStep?: RecipeStepMeta
}

/** The step meta of a test, for reporters: `recipeStepMeta(testCase.meta())`; undefined for other tests. */
export function recipeStepMeta(meta: object): RecipeStepMeta | undefined {
  return (meta as RecipeTaskMeta).recipeStep
}

/**
 * What a step's attempts came to, for a step that was retried or could have been: `passed
 * on attempt 2 of 3`, `failed on all 3 attempts`, `failed on attempt 1 of 3, not retried`;
 * undefined for a step that ran once and had no retry, or passed at once.
 */
export function describeAttempts(
  meta: Pick<RecipeStepMeta, 'status' | 'attempts' | 'maxAttempts'>,
): string | undefined {
  const made = meta.attempts.length
  const allowed = Math.max(meta.maxAttempts ?? made, made)
  if (made === 0 || allowed <= 1) return undefined
  if (meta.status === 'failed')
    return made === allowed
      ? `failed on all ${allowed} attempts`
      : `failed on attempt ${made} of ${allowed}, not retried`
  if (made === 1) return undefined
  const ended = meta.status === 'expected-error' ? 'failed as expected' : 'passed'
  return `${ended} on attempt ${made} of ${allowed}`
}

/**
 * What a selected step's test says when steps filtered out by -t (or the IDE) ran first as
 * setup inside it: which ones, and that its time includes theirs. Undefined when none did.
 */
export function setupNote(meta: Pick<RecipeStepMeta, 'step' | 'setup'>): string | undefined {
  if (meta.setup.length === 0) return undefined
  return `${meta.step} ran ${meta.setup.join(', ')} first as setup (filtered out by the test filter: -t, --tags-filter or the IDE); its time includes theirs`
}

/** Statuses after which the steps that need this one may run. */
const SATISFYING: ReadonlySet<StepStatus> = new Set(['passed', 'setup', 'cached', 'resumed', 'expected-error'])

/**
 * Whether a step that ended so lets the steps that need it run: it passed (in any of the
 * ways a step passes), or it was skipped and the ctx still holds every output it declares.
 * The runner and `recipes plan` both decide with this.
 */
export function satisfiesDependents(status: StepStatus, missingOutputs: readonly string[] = []): boolean {
  return SATISFYING.has(status) || (status === 'skipped' && missingOutputs.length === 0)
}

/**
 * The run's status from its steps', the worst first: `failed` (a step failed), `blocked`
 * (none failed, but a step could not run because a step it needs was skipped), `passed`.
 */
export function runStatusOf(statuses: Iterable<StepStatus>): 'passed' | 'failed' | 'blocked' {
  let status: 'passed' | 'blocked' = 'passed'
  for (const step of statuses) {
    if (step === 'failed') return 'failed'
    if (step === 'blocked') status = 'blocked'
  }
  return status
}

/** The store row of a step, from its meta: the same at the step boundary and when a merged report imports a run. */
export function stepRowOf(meta: RecipeStepMeta): StepRow {
  const error = meta.envelope?.status === 'error' ? meta.envelope : undefined
  const passed = meta.status === 'passed' || meta.status === 'setup' || meta.status === 'cached'
  return {
    step: meta.step,
    idx: meta.idx,
    status: meta.status,
    durationMs: meta.durationMs,
    startTime: meta.startTime ?? null,
    cpuMs: meta.cpuMs,
    peakRssBytes: meta.peakRssBytes,
    exitCode: error ? error.exit_code : passed ? 0 : null,
    attempts: meta.attempts.length,
    attemptLog: meta.attempts,
    reason: meta.reason ?? null,
    logPath: meta.logPath ?? null,
    params: meta.params,
    envelope: (meta.envelope as JsonObject | undefined) ?? null,
  }
}
