import { setTimeout as sleep } from 'node:timers/promises'
import type { ContextWrite } from '../context/context.ts'
import type { JsonObject } from '../context/json-value.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { EXIT_DEPENDENCY, EXIT_FAILED, errorEnvelope } from '../scriptlet/envelope.ts'
import { andThen, type MaybePromise } from '../scriptlet/maybe-async.ts'
import type { ConcurrentWrites } from './concurrent-writes.ts'
import { describeScriptlet, StepFailedError } from './errors.ts'
import type { AttemptRecord, RecipeStepMeta, StepStatus } from './meta.ts'
import type { RunSession, Started } from './run-session.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import { type Attempt, attemptStep } from './step-attempt.ts'
import { StepStopped } from './deadline.ts'
import type { StepLog } from './step-log.ts'
import type { ResourceHolds } from './resource-holds.ts'
import type { StepMetrics } from './step-metrics.ts'
import type { StepTest } from './test-console.ts'

/** A step's outcome as the runner holds it: the record, and what its test must do. */
export interface StepResult {
  meta: RecipeStepMeta
  /** The error its test fails with. */
  failure?: Error
  /** Why its test is skipped (blocked, skipped, resumed). */
  note?: string
}

/** What a step execution needs from the run it belongs to. */
export interface ExecutionScope {
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
  /** The record of a step before anything is known of its outcome. */
  emptyMeta(step: RecipeStep, status: StepStatus): RecipeStepMeta
}

export interface ExecutionRequest {
  /** The selected step this one runs for as setup (it was filtered out). */
  setupFor?: string
  /** Steps this one ran first as setup. */
  setup: string[]
  /** The test the step runs in (for a setup step, the selected one's): what it prints shows under it. */
  test?: StepTest
  /** Vitest's abort signal of the test the step runs in (with the runner's own: a lab resource lost). */
  testSignal?: AbortSignal
  /** Variables for the processes the step starts, besides the run's (the generations of its lab resources). */
  env?: Record<string, string>
}

/**
 * The life of one step, from start to record: its attempts (retried as `retry:` says, the
 * ctx restored before each), its log, which always ends with the outcome, and its row in
 * the store. Never throws: whatever a scriptlet throws, or a log or store write refuses,
 * ends as the step's outcome, computed once. A step with one attempt stays synchronous
 * for as long as the step itself is (see maybe-async.ts).
 */
export function executeStep(
  step: RecipeStep,
  scope: ExecutionScope,
  request: ExecutionRequest,
): MaybePromise<StepResult> {
  scope.session.bindTest(step.name, request.test)
  const holds = scope.holds
  if (holds?.needs(step)) return executeHolding(step, scope, request, holds)
  return executeUnlocked(step, scope, request)
}

/**
 * A step with lab resources to take: it waits for them (the wait is its metric
 * `resource_wait_ms`), runs, and gives back its own; one that waited past the limit fails
 * with who held them (exit code 2: a dependency not satisfied), and does not run.
 */
async function executeHolding(
  step: RecipeStep,
  scope: ExecutionScope,
  request: ExecutionRequest,
  holds: ResourceHolds,
): Promise<StepResult> {
  const acquired = await holds.acquire(step)
  if ('failure' in acquired) {
    const log = scope.started.logs.open(step.idx, step.name)
    const reason = scope.session.redactor.text(acquired.failure)
    log.line(`step ${step.name} did not run: ${reason}`)
    const envelope = errorEnvelope(step.name, reason, EXIT_DEPENDENCY)
    const meta = scope.emptyMeta(step, 'failed')
    meta.envelope = envelope
    meta.reason = reason
    meta.setup = request.setup
    if (request.setupFor !== undefined) meta.setupFor = request.setupFor
    meta.logPath = log.close().path
    return recordResult(step, scope, { meta, failure: new StepFailedError(step, envelope, reason) }, [])
  }
  // A hold lost while the step runs (freed by an operator, past its bound) stops it: its
  // processes are killed and it fails saying what was lost, before the hold is given back.
  const lost = new AbortController()
  const unwatch = holds.watch(step, (reason) => lost.abort(new StepStopped(reason)))
  const testSignal = request.testSignal ? AbortSignal.any([request.testSignal, lost.signal]) : lost.signal
  try {
    const env = holds.environment(step)
    return await executeUnlocked(step, scope, { ...request, testSignal, env }, acquired.waitedMs)
  } finally {
    unwatch()
    if (lost.signal.aborted) await holds.stepStopped(step)
    await holds.releaseStep(step).catch((error: unknown) => {
      console.warn(
        `vitest-recipes: ${step.name}: could not release ${step.resources.join(', ')} (${message(error)}); released when the lease runs out`,
      )
    })
  }
}

function executeUnlocked(
  step: RecipeStep,
  scope: ExecutionScope,
  request: ExecutionRequest,
  resourceWaitMs?: number,
): MaybePromise<StepResult> {
  const { logs, debug } = scope.started
  const log = logs.open(step.idx, step.name)
  const role = request.setupFor === undefined ? '' : ` as setup for ${request.setupFor}`
  log.line(`step ${step.name} (${describeScriptlet(step)}) starts${role}`)
  if (debug) log.line(`params ${JSON.stringify(step.params)}`)
  if (resourceWaitMs !== undefined) log.line(`lab resources: waited ${resourceWaitMs} ms`)
  const job: StepJob =
    resourceWaitMs === undefined ? { step, scope, request, log } : { step, scope, request, log, resourceWaitMs }
  if (step.retry.max > 0) return retryStep(job)
  return andThen(attemptStep(step, scope, log, request), (attempt) =>
    concludeStep(job, attempt, [attemptRecord(1, attempt)]),
  )
}

/** A step being executed, and where its outcome goes. */
interface StepJob {
  step: RecipeStep
  scope: ExecutionScope
  request: ExecutionRequest
  log: StepLog
  /** How long the step waited for its lab resources, when it had any to take. */
  resourceWaitMs?: number
}

async function retryStep(job: StepJob): Promise<StepResult> {
  const { step, scope, request, log } = job
  const { ctx } = scope.started
  const maxAttempts = step.retry.max + 1
  const before = ctx.snapshot()
  const attempts: AttemptRecord[] = []
  let attempt: Attempt | undefined
  for (let number = 1; number <= maxAttempts; number++) {
    if (number > 1) {
      log.line(`attempt ${number} of ${maxAttempts}${step.retry.delaySec > 0 ? ` after ${step.retry.delaySec} s` : ''}`)
      if (step.retry.delaySec > 0) await sleep(step.retry.delaySec * 1000)
      ctx.restore(before)
    }
    attempt = await attemptStep(step, scope, log, request)
    const record = attemptRecord(number, attempt)
    attempts.push(record)
    // A step stopped from outside (Vitest's abort, a lab resource lost) is not tried again.
    if (!attempt.failure || number === maxAttempts || request.testSignal?.aborted) break
    if (!retries(step, record.reason!)) {
      log.line(`failed: ${firstLine(record.reason!)} (not retried: the reason does not match retry.on)`)
      break
    }
    log.line(`attempt ${number} failed: ${firstLine(record.reason!)}`)
  }
  return concludeStep(job, attempt!, attempts)
}

function attemptRecord(number: number, attempt: Attempt): AttemptRecord {
  const reason = attempt.failure ? failureReason(attempt) : undefined
  return {
    attempt: number,
    status: attempt.failure ? 'failed' : 'passed',
    ...(reason === undefined ? {} : { reason }),
    durationMs: attempt.durationMs,
  }
}

/** The step's outcome from its last attempt: the log's last line, the log file when it has something to say, the record. */
function concludeStep(job: StepJob, last: Attempt, attempts: AttemptRecord[]): MaybePromise<StepResult> {
  const { step, scope, request, log } = job
  const failure = last.failure
  const expectedError = !failure && last.envelope.status === 'error'
  log.line(outcomeLine(step, last, attempts, request.setupFor))
  const status: StepStatus = failure
    ? 'failed'
    : last.cached
      ? 'cached'
      : expectedError
        ? 'expected-error'
        : request.setupFor !== undefined
          ? 'setup'
          : 'passed'

  // A step that passed silently has nothing to read in a log (its timing is in the meta):
  // skipping its file saves a file creation per step, the biggest cost of a no-op step.
  const logged = Boolean(
    failure ||
      last.execution.stdout ||
      last.execution.stderr ||
      scope.started.debug ||
      status !== 'passed' ||
      attempts.length > 1,
  )
  if (!logged) return recordOutcome(job, last, attempts, status, failure, undefined)
  const closed = log.close()
  return closed.written.then(
    () => recordOutcome(job, last, attempts, status, failure, closed.path),
    (error: unknown) => {
      const reason = `its log ${closed.path} could not be written: ${message(error)}`
      return recordOutcome(job, last, attempts, status, new StepFailedError(step, last.envelope, reason), closed.path)
    },
  )
}

/** The step's record, stored. */
function recordOutcome(
  { step, scope, request, resourceWaitMs }: StepJob,
  last: Attempt,
  attempts: AttemptRecord[],
  status: StepStatus,
  failure: Error | undefined,
  logPath: string | undefined,
): MaybePromise<StepResult> {
  const redact = scope.session.redactor
  // Built field by field: object spreads cost more here than the rest of a no-op step's record.
  const meta = scope.emptyMeta(step, failure ? 'failed' : status)
  // The lock wait is one of the step's metrics: the reports and the analysis show it with the others.
  meta.envelope = redact.json(
    resourceWaitMs === undefined
      ? last.envelope
      : { ...last.envelope, metrics: { ...(last.envelope.metrics as JsonObject), resource_wait_ms: resourceWaitMs } },
  )
  meta.durationMs =
    attempts.length === 1 ? attempts[0]!.durationMs : attempts.reduce((sum, item) => sum + item.durationMs, 0)
  const { resources } = last.execution
  meta.cpuMs = resources.cpuMs
  meta.peakRssBytes = resources.peakRssMeasured === false ? null : resources.peakRssBytes
  meta.setup = request.setup
  meta.attempts = attempts.map((item) =>
    item.reason === undefined ? item : { ...item, reason: redact.text(item.reason) },
  )
  if (step.retry.max > 0) meta.maxAttempts = step.retry.max + 1
  if (failure) meta.reason = redact.text(failureReason({ ...last, failure }))
  else if (last.envelope.status === 'error') meta.reason = redact.text(last.envelope.reason)
  if (request.setupFor !== undefined) meta.setupFor = request.setupFor
  if (logPath) meta.logPath = logPath
  if (last.cached) meta.cachedFrom = last.cached.runId
  if (last.stopped) meta.timedOut = true
  // The step's writes go in its meta as the history records them (what changed), by recordResult.
  if (!failure) return recordResult(step, scope, { meta }, last.writes, true)
  return recordResult(step, scope, { meta, failure }, last.writes, true)
}

/**
 * Stores a step's outcome. When the store refuses it, the step fails with that reason and
 * a plain row (no writes, no envelope) is tried, so the store still shows a failure.
 * Synchronous when the record is a journal append; a file that keeps the store itself
 * waits until its journal is stored (the step is in the store when it ends).
 */
export function recordResult(
  step: RecipeStep,
  scope: ExecutionScope,
  result: StepResult,
  writes: readonly ContextWrite[],
  describeWrites = false,
): MaybePromise<StepResult> {
  try {
    // The runner's write of the step's figures is stored at the step's boundary, with its own writes.
    const figures = scope.stepMetrics?.record(scope.started.ctx, result.meta)
    const recorded = scope.session.recordStep(result.meta, figures ? [...writes, figures] : writes)
    // Reporters (--merge-reports, Allure, JSON) get what changed: never a whole value again at each write.
    if (describeWrites && writes.length > 0) result.meta.writes = recorded.slice(0, writes.length)
    const stored = scope.session.stored()
    if (!stored) return result
    return stored.then(
      () => result,
      (error: unknown) => refusedResult(step, scope, result, error),
    )
  } catch (error) {
    return refusedResult(step, scope, result, error)
  }
}

/** The step's result once the store refused its record: failed, saying why, with a plain row tried. */
function refusedResult(
  step: RecipeStep,
  scope: ExecutionScope,
  result: StepResult,
  error: unknown,
): MaybePromise<StepResult> {
  const reason = `the run store could not record this step: ${message(error)}`
  const meta: RecipeStepMeta = {
    ...result.meta,
    status: 'failed',
    reason: result.meta.reason ? `${result.meta.reason}; ${reason}` : reason,
    writes: [],
  }
  delete meta.envelope
  const envelope = errorEnvelope(step.name, reason, EXIT_FAILED)
  const failed: StepResult = { meta, failure: new StepFailedError(step, envelope, reason, result.failure ?? error) }
  try {
    // The ctx says what the step's record says: failed (its value goes with the plain row).
    scope.stepMetrics?.record(scope.started.ctx, meta)
    scope.session.recordStep(meta, [])
    const stored = scope.session.stored()
    // The store is gone for this step: the test failure is then the only record.
    if (stored)
      return stored.then(
        () => failed,
        () => failed,
      )
  } catch {
    // The store is gone for this step: the test failure below is then the only record.
  }
  return failed
}

/** Whether a failure with this reason is one `retry.on` retries (all failures when it lists none). */
function retries(step: RecipeStep, reason: string): boolean {
  return step.retry.on.length === 0 || step.retry.on.some((pattern) => new RegExp(pattern).test(reason))
}

function failureReason({ envelope, failure }: Pick<Attempt, 'envelope' | 'failure'>): string {
  const problem = failure instanceof StepFailedError ? failure.problem : (failure?.message ?? 'failed')
  // A failed expectation (wrong reason or exit code for `expect: error`) says more than the reason itself.
  if (envelope.status === 'error' && envelope.reason && !problem.startsWith('failed as expected, but'))
    return envelope.reason
  return firstLine(problem)
}

/** The last line of every step log: what happened. */
function outcomeLine(step: RecipeStep, last: Attempt, attempts: AttemptRecord[], setupFor: string | undefined): string {
  const took = `in ${Math.round(attempts.reduce((sum, item) => sum + item.durationMs, 0))} ms`
  const tries = attempts.length > 1 ? ` on attempt ${attempts.length} of ${step.retry.max + 1}` : ''
  if (last.stopped === 'timeout') {
    const stopped = step.type === 'ts' ? 'the in-process step was abandoned' : 'its processes were killed'
    return `failed: ${reasonOf(last)}; ${stopped}`
  }
  if (last.stopped === 'aborted') return `failed: stopped because Vitest aborted the test`
  if (last.failure) return `failed${tries}: ${firstLine(failureReason(last))}`
  if (last.cached) return `cached: replayed the ctx writes of run ${last.cached.runId}`
  if (last.envelope.status === 'error')
    return `expected error matched${tries} ${took}: ${firstLine(last.envelope.reason)}`
  return `passed${tries} ${took}${setupFor === undefined ? '' : ` (setup for ${setupFor})`}`
}

function reasonOf(attempt: Attempt): string {
  return attempt.envelope.status === 'error' ? attempt.envelope.reason : ''
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? ''
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
