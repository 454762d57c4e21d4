import { setTimeout as sleep } from 'node:timers/promises'
import type { ContextWrite } from '../context/context.ts'
import type { JsonObject } from '../context/json-value.ts'
import type { RecipeStep } from '../recipe/types.ts'
import { EXIT_DEPENDENCY } from '../scriptlet/envelope.ts'
import { describeScriptlet, StepFailedError } from './errors.ts'
import type { AttemptRecord, RecipeStepMeta } from './meta.ts'
import type { ResourceHolds } from './resource-holds.ts'
import { StepStopped } from './deadline.ts'
import { type Attempt, attemptStep } from './step-attempt.ts'
import type { StepLog } from './step-log.ts'
import type { Outcomes, StepPlanner, StepTestContext } from './step-plan.ts'
import { failedBeforeRunning, type RunScope, type StepResult, stepRecord, storeResult } from './step-record.ts'
import { attemptRecord, failureReason, firstLine, outcomeLine, retries, statusOf } from './step-verdict.ts'

/** A step on its way: which step, in which test, for whom, with what. */
interface StepRun {
  step: RecipeStep
  /** The test the step runs in (a setup step: the selected one's): what it prints shows under it. */
  test: StepTestContext
  /** The selected step this one runs for as setup (it was filtered out). */
  setupFor: string | undefined
  /** Steps this one ran first as setup. */
  setup: string[]
  /** Vitest's abort signal of the test (with the runner's own once a lab resource is held). */
  testSignal: AbortSignal | undefined
  /** Variables for the processes the step starts, besides the run's (the generations of its lab resources). */
  env?: Record<string, string>
  /** How long the step waited for its lab resources, when it had any to take. */
  resourceWaitMs?: number
}

/**
 * The one owner of a step's life, for every step of a recipe file's run. A step lives
 * through five stages, in order:
 *
 *  1. select or set up — it does not run (--skip, --resume-from), is blocked by a step it
 *     needs, or runs after the filtered-out steps it needs have run as setup (step-plan.ts);
 *  2. wait for resources — its lab resources, held while it runs (resource-holds.ts);
 *  3. attempts under the deadline — each attempt (step-attempt.ts) runs the scriptlet or
 *     replays the cache under the step's deadline, and is judged against the recipe; a
 *     failed one is tried again as `retry:` says, the ctx restored first;
 *  4. judge — the step's status from its attempts, and its log's last line (step-verdict.ts);
 *  5. record — the step record, built in one place and stored (step-record.ts).
 *
 * Each step's outcome is computed once, whatever went wrong, and recorded once: later
 * callers (a step that needs it, its own test after it ran as setup) get the same one.
 */
export class StepLives implements Outcomes {
  private readonly scope: RunScope
  private readonly planner: StepPlanner
  /** Every step's outcome, as a promise set before the step starts: nothing runs twice. */
  private readonly outcomes = new Map<string, Promise<StepResult>>()
  private readonly ended = new Map<string, StepResult>()
  private readonly awaited = new Map<string, ((result: StepResult) => void)[]>()

  constructor(scope: RunScope, planner: StepPlanner) {
    this.scope = scope
    this.planner = planner
  }

  /** The outcome of `step` run in its own test. */
  outcome(step: RecipeStep, test: StepTestContext): Promise<StepResult> {
    return this.once(step, () => this.live(step, test, undefined, undefined))
  }

  runAsSetup(step: RecipeStep, selected: RecipeStep, test: StepTestContext, setup: string[]): Promise<StepResult> {
    return this.once(step, () => this.live(step, test, selected.name, setup))
  }

  settled(name: string): StepResult | undefined {
    return this.ended.get(name)
  }

  started(name: string): Promise<StepResult> | undefined {
    return this.outcomes.get(name)
  }

  waitFor(name: string): Promise<StepResult> {
    return new Promise((resolve) => this.awaited.set(name, [...(this.awaited.get(name) ?? []), resolve]))
  }

  /** The outcomes of the steps that have ended. */
  results(): IterableIterator<StepResult> {
    return this.ended.values()
  }

  /** Computes `step`'s outcome once; whatever `live` throws becomes the step's failure. */
  private once(step: RecipeStep, live: () => Promise<StepResult>): Promise<StepResult> {
    const existing = this.outcomes.get(step.name)
    if (existing) return existing
    const ended = (result: StepResult) => {
      this.ended.set(step.name, result)
      for (const resolve of this.awaited.get(step.name) ?? []) resolve(result)
      this.awaited.delete(step.name)
      return result
    }
    const outcome = live().then(ended, async (error: unknown) => ended(await this.unexpected(step, error)))
    this.outcomes.set(step.name, outcome)
    return outcome
  }

  /** A step's life, its stages in order. */
  private async live(
    step: RecipeStep,
    test: StepTestContext,
    setupFor: string | undefined,
    setups: string[] | undefined,
  ): Promise<StepResult> {
    const { scope } = this
    // 1. Select or set up.
    const plan =
      setupFor === undefined
        ? (this.planner.planNow(step, scope.started, this) ??
          (await this.planner.plan(step, test, scope.started, this)))
        : await this.planner.planSetup(step, this.planner.step(setupFor), test, scope.started, this)
    if (!plan.runs) return this.recordNotRun(step, plan.result, plan.restored)
    setups?.push(step.name)
    scope.session.bindTest(step.name, test.task)
    const run: StepRun = { step, test, setupFor, setup: plan.setup, testSignal: test.signal }
    // 2. Wait for resources.
    const holds = scope.holds
    if (holds?.needs(step)) return this.holding(run, holds)
    return this.attemptJudgeRecord(run)
  }

  /**
   * A step with lab resources to take: it waits for them (the wait is its metric
   * `resource_wait_ms`), runs, and gives back its own; one that waited past the limit fails
   * with who held them (exit code 2: a dependency not satisfied), and does not run. A hold
   * lost while the step runs (freed by an operator, past its bound) stops it: its processes
   * are killed and it fails saying what was lost, before the hold is given back.
   */
  private async holding(run: StepRun, holds: ResourceHolds): Promise<StepResult> {
    const { step } = run
    const { scope } = this
    const acquired = await holds.acquire(step)
    if ('failure' in acquired) {
      const reason = scope.session.redactor.text(acquired.failure)
      const log = scope.started.logs.open(step.idx, step.name)
      log.line(`step ${step.name} did not run: ${reason}`)
      const result = failedBeforeRunning(step, scope.compiled, scope.session, reason, EXIT_DEPENDENCY)
      result.meta.setup = run.setup
      if (run.setupFor !== undefined) result.meta.setupFor = run.setupFor
      result.meta.logPath = log.close().path
      return storeResult(step, scope, result, [])
    }
    const lost = new AbortController()
    const unwatch = holds.watch(step, (reason) => lost.abort(new StepStopped(reason)))
    try {
      return await this.attemptJudgeRecord({
        ...run,
        testSignal: run.testSignal ? AbortSignal.any([run.testSignal, lost.signal]) : lost.signal,
        env: holds.environment(step),
        resourceWaitMs: acquired.waitedMs,
      })
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

  /** Stages 3 to 5: the attempts under the deadline, the verdict, the record. */
  private async attemptJudgeRecord(run: StepRun): Promise<StepResult> {
    const { step, setupFor, resourceWaitMs } = run
    const { logs, debug } = this.scope.started
    const log = logs.open(step.idx, step.name)
    // Lines are made only if the log is written: a step that passes silently writes none.
    log.line(
      () =>
        `step ${step.name} (${describeScriptlet(step)}) starts${setupFor === undefined ? '' : ` as setup for ${setupFor}`}`,
    )
    if (debug) log.line(`params ${JSON.stringify(step.params)}`)
    if (resourceWaitMs !== undefined) log.line(`lab resources: waited ${resourceWaitMs} ms`)
    // 3. Attempts under the deadline.
    const { last, attempts } = await this.attempts(run, log)
    // 4. Judge.
    const status = statusOf(last, setupFor)
    let failure = last.failure
    log.line(() => outcomeLine(step, last, attempts, setupFor))
    // A step that passed silently has nothing to read in a log (its timing is in the record):
    // skipping its file saves a file creation per step, the biggest cost of a no-op step.
    let logPath: string | undefined
    const { stdout, stderr } = last.execution
    if (failure || stdout || stderr || debug || status !== 'passed' || attempts.length > 1) {
      const closed = log.close()
      logPath = closed.path
      try {
        await closed.written
      } catch (error) {
        failure = new StepFailedError(
          step,
          last.execution.envelope,
          `its log ${closed.path} could not be written: ${message(error)}`,
        )
      }
    }
    // 5. Record.
    return this.record(run, last, attempts, failure ? 'failed' : status, failure, logPath)
  }

  /** The step's attempts: one, or as many as `retry:` allows while they fail, the ctx restored before each. */
  private async attempts(run: StepRun, log: StepLog): Promise<{ last: Attempt; attempts: AttemptRecord[] }> {
    const { step } = run
    const request = { test: run.test.task, testSignal: run.testSignal, env: run.env }
    const maxAttempts = step.retry.max + 1
    if (maxAttempts === 1) {
      const last = await attemptStep(step, this.scope, log, request)
      return { last, attempts: [attemptRecord(1, last)] }
    }
    const { ctx } = this.scope.started
    const before = ctx.snapshot()
    const attempts: AttemptRecord[] = []
    let last: Attempt | undefined
    for (let number = 1; number <= maxAttempts; number++) {
      if (number > 1) {
        log.line(
          `attempt ${number} of ${maxAttempts}${step.retry.delaySec > 0 ? ` after ${step.retry.delaySec} s` : ''}`,
        )
        if (step.retry.delaySec > 0) await sleep(step.retry.delaySec * 1000)
        ctx.restore(before)
      }
      last = await attemptStep(step, this.scope, log, request)
      const record = attemptRecord(number, last)
      attempts.push(record)
      // A step stopped from outside (Vitest's abort, a lab resource lost) is not tried again.
      if (!last.failure || number === maxAttempts || run.testSignal?.aborted) break
      if (!retries(step, record.reason!)) {
        log.line(`failed: ${firstLine(record.reason!)} (not retried: the reason does not match retry.on)`)
        break
      }
      log.line(`attempt ${number} failed: ${firstLine(record.reason!)}`)
    }
    return { last: last!, attempts }
  }

  /** The record of a step that ran, stored with the ctx writes of its last attempt. */
  private record(
    run: StepRun,
    last: Attempt,
    attempts: AttemptRecord[],
    status: RecipeStepMeta['status'],
    failure: Error | undefined,
    logPath: string | undefined,
  ): Promise<StepResult> {
    const { step, resourceWaitMs } = run
    const { compiled, session } = this.scope
    const redact = session.redactor
    const { envelope, resources, stopped } = last.execution
    const meta = stepRecord(step, compiled, session, status)
    // The lock wait is one of the step's metrics: the reports and the analysis show it with the others.
    const recorded =
      resourceWaitMs === undefined
        ? envelope
        : { ...envelope, metrics: { ...(envelope.metrics as JsonObject), resource_wait_ms: resourceWaitMs } }
    meta.envelope = redact.active ? redact.json(recorded) : recorded
    meta.durationMs =
      attempts.length === 1 ? attempts[0]!.durationMs : attempts.reduce((sum, item) => sum + item.durationMs, 0)
    // The step began with its first attempt (a wait for lab resources is before it, in its metrics).
    const started = attempts[0]!.startTime
    if (started !== undefined) meta.startTime = started
    meta.cpuMs = resources.cpuMs
    meta.peakRssBytes = resources.peakRssMeasured === false ? null : resources.peakRssBytes
    meta.setup = run.setup
    meta.attempts = redact.active
      ? attempts.map((item) => (item.reason === undefined ? item : { ...item, reason: redact.text(item.reason) }))
      : attempts
    if (step.retry.max > 0) meta.maxAttempts = step.retry.max + 1
    if (failure) meta.reason = redact.text(failureReason({ execution: last.execution, failure }))
    else if (envelope.status === 'error') meta.reason = redact.text(envelope.reason)
    if (run.setupFor !== undefined) meta.setupFor = run.setupFor
    if (logPath) meta.logPath = logPath
    if (last.cached) meta.cachedFrom = last.cached.runId
    if (stopped) meta.timedOut = true
    return storeResult(step, this.scope, failure ? { meta, failure } : { meta }, last.writes)
  }

  /**
   * Records a step that did not run (skipped, blocked, resumed): a later --resume-from
   * finds where the run ended; its log says why it did not run.
   */
  private recordNotRun(step: RecipeStep, result: StepResult, restored: readonly ContextWrite[]): Promise<StepResult> {
    const log = this.scope.started.logs.open(step.idx, step.name)
    log.line(`step ${step.name} did not run: ${result.meta.reason ?? result.meta.status}`)
    result.meta.logPath = log.close().path
    return storeResult(step, this.scope, result, restored, false)
  }

  /** What could not have gone wrong did: the step fails with it, and is recorded if the store allows. */
  private unexpected(step: RecipeStep, error: unknown): Promise<StepResult> {
    const reason = `internal error while running the step: ${message(error)}`
    const result = failedBeforeRunning(step, this.scope.compiled, this.scope.session, reason, 1, error)
    return storeResult(step, this.scope, result, [])
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
