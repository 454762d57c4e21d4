import type { ContextWrite } from '../context/context.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import type { RecipeStep } from '../recipe/types.ts'
import { EXIT_FAILED, errorEnvelope } from '../scriptlet/envelope.ts'
import type { ConcurrentWrites } from './concurrent-writes.ts'
import { StepFailedError } from './errors.ts'
import type { RecipeStepMeta, StepStatus } from './meta.ts'
import type { ResourceHolds } from './resource-holds.ts'
import type { RunSession, Started } from './run-session.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import type { StepMetrics } from './step-metrics.ts'

/**
 * A step's outcome as the runner holds it: its record (`meta`, the one record of a step:
 * on its test for reporters, stored as its row) and what its test must do with it.
 */
export interface StepResult {
  meta: RecipeStepMeta
  /** The error its test fails with. */
  failure?: Error
  /** Why its test is skipped (blocked, skipped, resumed). */
  note?: string
}

/** What a step's life needs from the run it belongs to: one per recipe file run. */
export interface RunScope {
  compiled: CompiledRecipe
  scriptlets: ReadonlyMap<string, Scriptlet>
  session: RunSession
  started: Started
  options: RunOptions
  concurrent: ConcurrentWrites
  /** Recipe option `step_metrics: true`: each step's figures go into ctx `_runner.step_metrics_v1`. */
  stepMetrics: StepMetrics | undefined
  /** The run's lab resources, when its recipe names any. */
  holds: ResourceHolds | undefined
}

/**
 * The step record, built here and nowhere else: who the step is (run, recipe, step, its
 * params with secrets redacted) and how it ended; the figures and the rest are the caller's
 * to fill in (field by field: an object spread per step costs more than a no-op step's record).
 */
export function stepRecord(
  step: RecipeStep,
  compiled: CompiledRecipe,
  session: RunSession,
  status: StepStatus,
  reason?: string,
): RecipeStepMeta {
  const redactor = session.redactor
  const meta: RecipeStepMeta = {
    runId: session.runId,
    recipe: compiled.recipe.file,
    testId: compiled.recipe.testMeta.test_id,
    step: step.name,
    idx: step.idx,
    type: step.type,
    status,
    params: redactor.active ? redactor.json(step.params) : step.params,
    writes: [],
    durationMs: 0,
    cpuMs: 0,
    peakRssBytes: 0,
    setup: [],
    attempts: [],
  }
  const vars = compiled.recipe.vars ?? {}
  if (Object.keys(vars).length > 0) meta.vars = redactor.active ? redactor.json(vars) : vars
  if (reason !== undefined) meta.reason = reason
  return meta
}

/** A step that failed without running (it could not start, resume or take its resources): its record and test failure. */
export function failedBeforeRunning(
  step: RecipeStep,
  compiled: CompiledRecipe,
  session: RunSession,
  reason: string,
  exitCode: number,
  cause?: unknown,
): StepResult {
  const envelope = errorEnvelope(step.name, reason, exitCode)
  const meta = stepRecord(step, compiled, session, 'failed', reason)
  meta.envelope = envelope
  return { meta, failure: new StepFailedError(step, envelope, reason, cause) }
}

/**
 * Stores a step's outcome, with the ctx writes it made (`writes`). When the store refuses it,
 * the step fails with that reason and a plain row (no writes, no envelope) is tried, so the
 * store still shows a failure. A file that keeps the store itself waits until its journal is
 * stored (the step is in the store when it ends); otherwise the record is one journal append.
 */
export async function storeResult(
  step: RecipeStep,
  scope: RunScope,
  result: StepResult,
  writes: readonly ContextWrite[],
  /** Whether the record lists the writes (a step that ran); a resumed step's restored writes are stored only. */
  describeWrites = true,
): Promise<StepResult> {
  try {
    // The runner's write of the step's figures is stored at the step's boundary, with its own writes.
    const figures = scope.stepMetrics?.record(scope.started.ctx, result.meta)
    const recorded = scope.session.recordStep(result.meta, figures ? [...writes, figures] : writes)
    // Reporters (--merge-reports, Allure, JSON) get what changed: never a whole value again at each write.
    if (describeWrites && writes.length > 0) result.meta.writes = recorded.slice(0, writes.length)
    const stored = scope.session.stored()
    if (stored) await stored
    return result
  } catch (error) {
    return refused(step, scope, result, error)
  }
}

/** The step's result once the store refused its record: failed, saying why, with a plain row tried. */
async function refused(step: RecipeStep, scope: RunScope, result: StepResult, error: unknown): Promise<StepResult> {
  const reason = `the run store could not record this step: ${error instanceof Error ? error.message : String(error)}`
  const meta: RecipeStepMeta = {
    ...result.meta,
    status: 'failed',
    reason: result.meta.reason ? `${result.meta.reason}; ${reason}` : reason,
    writes: [],
  }
  delete meta.envelope
  const envelope = errorEnvelope(step.name, reason, EXIT_FAILED)
  // The store's trouble is all in the reason: its frames (the journal, the ingest) are no place of
  // the user's, and would show as the step's. A step that failed itself keeps its own cause.
  const failed: StepResult = { meta, failure: new StepFailedError(step, envelope, reason, result.failure) }
  try {
    // The ctx says what the step's record says: failed (its value goes with the plain row).
    scope.stepMetrics?.record(scope.started.ctx, meta)
    scope.session.recordStep(meta, [])
    await scope.session.stored()
  } catch {
    // The store is gone for this step: the test failure is then the only record.
  }
  return failed
}
