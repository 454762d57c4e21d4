import type { TestContext } from 'vitest'
import type { ContextWrite } from '../context/context.ts'
import { declaredOutputs } from '../recipe/declared-outputs.ts'
import { prestartPythonHost } from '../executors/python-host-process.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { toJsonSafe } from '../scriptlet/json-safe.ts'
import { EXIT_DEPENDENCY, errorEnvelope } from '../scriptlet/envelope.ts'
import { ConcurrentWrites } from './concurrent-writes.ts'
import { StepMetrics } from './step-metrics.ts'
import { SetupStepFailedError, StepFailedError } from './errors.ts'
import {
  type AttemptRecord,
  describeAttempts,
  type RecipeStepMeta,
  type RecipeTaskMeta,
  runStatusOf,
  type StepStatus,
  satisfiesDependents,
  setupNote,
} from './meta.ts'
import { ResourceHolds } from './resource-holds.ts'
import { inOrderLimited, setupBatches } from './setup-plan.ts'
import type { RunSelection } from '../store/run-selection.ts'
import { readMaxConcurrency, readRunOptions } from './run-options.ts'
import { RunSession, type Started } from './run-session.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import { type ExecutionScope, executeStep, recordResult, type StepResult } from './step-execution.ts'
import { andThen, type MaybePromise } from '../scriptlet/maybe-async.ts'

/** The parts of Vitest's test context the runner uses. */
export interface StepTestContext {
  task: TestContext['task']
  skip: (note?: string) => never
  annotate?: (message: string, type?: string) => Promise<unknown>
  /** Aborted when Vitest gives up on the test (its timeout, a cancelled run). */
  signal?: AbortSignal
}

interface Blocker {
  step: string
  reason: 'failed' | 'skipped'
  /** The blocking step failed while running as setup for the blocked one. */
  setupFailure?: Error
}

/** The note on a retried step's test: what its attempts came to, then each attempt (a single one is the failure itself). */
function attemptsNote(summary: string, attempts: readonly AttemptRecord[]): string {
  if (attempts.length <= 1) return summary
  const each = attempts.map(
    (attempt) => `attempt ${attempt.attempt}: ${attempt.status}${attempt.reason ? ` (${attempt.reason})` : ''}`,
  )
  return `${summary} (${each.join('; ')})`
}

/**
 * Runs a recipe's steps inside their tests, one instance per recipe file. Each step's
 * outcome is computed once (memoized, whatever went wrong) and recorded once: a step whose
 * needed steps were filtered out runs them first as setup; a step whose needed step failed
 * (or was skipped without leaving its outputs) is blocked. Parallel steps wait for needed
 * steps that run beside them. Nothing happens at import: the run starts with its first step.
 */
export class RecipeRun {
  private readonly compiled: CompiledRecipe
  private readonly steps: Map<string, RecipeStep>
  /** Each step's position in the recipe (a lookup per step: indexOf made long recipes quadratic). */
  private readonly positions: Map<string, number>
  private readonly scriptlets: ReadonlyMap<string, Scriptlet>
  private readonly options: RunOptions
  /** How many steps run as setup side by side at most: Vitest's maxConcurrency for the file's tests. */
  private readonly maxConcurrency = readMaxConcurrency()
  private readonly session: RunSession
  private readonly concurrent = new ConcurrentWrites()
  /** Recipe option `step_metrics: true`: the figures of each step that ran, in ctx. */
  private readonly stepMetrics: StepMetrics | undefined
  /** Every step's outcome, as a promise set before the step starts: nothing runs twice. */
  private readonly outcomes = new Map<string, MaybePromise<StepResult>>()
  private readonly settled = new Map<string, StepResult>()
  private readonly awaited = new Map<string, ((result: StepResult) => void)[]>()
  private tests: Map<string, StepTestContext['task']['file']['tasks'][number]> | undefined
  private scoped: ExecutionScope | undefined

  constructor(compiled: CompiledRecipe, scriptlets: ReadonlyMap<string, Scriptlet>, runId: string) {
    this.compiled = compiled
    this.scriptlets = scriptlets
    this.options = readRunOptions()
    this.steps = new Map(compiled.recipe.steps.map((step) => [step.name, step]))
    this.positions = new Map(compiled.recipe.steps.map((step, position) => [step.name, position]))
    this.session = new RunSession(compiled, runId, this.options, scriptlets)
    this.stepMetrics = compiled.recipe.stepMetrics ? new StepMetrics() : undefined
    // The first python module step need not wait for the interpreter: it starts while Vitest collects (runs nothing).
    if (compiled.recipe.steps.some((step) => step.type === 'python' && step.module !== undefined))
      prestartPythonHost({ executable: compiled.python.executable, path: compiled.python.path, root: compiled.root })
  }

  /**
   * Called by each generated step test. Synchronous when the step is (see maybe-async.ts):
   * a step that passed on its first attempt then ends its test without a microtask.
   */
  runStep(name: string, test: StepTestContext): MaybePromise<void> {
    const step = this.step(name)
    const started = this.session.current
    if (!started) return this.startThenRun(step, test)
    return andThen(
      this.settle(step, () => this.resolve(step, test, started)),
      (result) => this.conclude(test, result),
    )
  }

  /** The first step starts the run (the store, the ctx, the logs). */
  private async startThenRun(step: RecipeStep, test: StepTestContext): Promise<void> {
    let started: Started
    try {
      started = await this.session.start(this.selectionOf(test))
    } catch (error) {
      throw new Error(`vitest-recipes: the run could not start: ${(error as Error).message}`)
    }
    const result = await this.settle(step, () => this.resolve(step, test, started))
    return this.conclude(test, result)
  }

  /**
   * Which steps this run runs, when the test name filter (-t, the IDE) kept only some: Vitest
   * marks the others skipped before the run. The setup is what the kept steps need of the
   * others (transitively), less what --skip leaves out. Undefined when every step runs.
   */
  private selectionOf(test: StepTestContext): RunSelection | undefined {
    const steps = this.compiled.recipe.steps
    const selected = steps.filter((step) => this.testOf(step.name, test)?.mode === 'run').map((step) => step.name)
    if (selected.length === steps.length) return undefined
    const kept = new Set(selected)
    const setup = new Set<string>()
    const pending = selected.flatMap((name) => this.step(name).needs)
    while (pending.length > 0) {
      const name = pending.pop()!
      if (kept.has(name) || setup.has(name) || this.options.skip.includes(name)) continue
      setup.add(name)
      pending.push(...this.step(name).needs)
    }
    return { selected, setup: steps.filter((step) => setup.has(step.name)).map((step) => step.name) }
  }

  /** Ends a step's test as its outcome says: its record on the test, then pass, fail or skip. */
  private conclude(test: StepTestContext, result: StepResult): MaybePromise<void> {
    const attempts = describeAttempts(result.meta)
    // The common case, a step that passed on its first attempt: nothing to annotate.
    if (result.meta.setup.length === 0 && result.meta.status !== 'cached' && attempts === undefined)
      return this.report(test, result)
    return this.annotate(test, result, attempts)
  }

  private async annotate(test: StepTestContext, result: StepResult, attempts: string | undefined): Promise<void> {
    const setup = setupNote(result.meta)
    if (setup) await test.annotate?.(setup, 'notice')
    if (result.meta.status === 'cached')
      await test.annotate?.(`cached: replayed the ctx writes of run ${result.meta.cachedFrom}`, 'notice')
    if (attempts !== undefined) await test.annotate?.(attemptsNote(attempts, result.meta.attempts), 'notice')
    this.report(test, result)
  }

  /** Ends the recipe file: the run's status from its steps', then every resource released. */
  async finish(): Promise<void> {
    const statuses = [...this.settled.values()].map((result) => result.meta.status)
    try {
      // Before the run's status: whoever waits for its resources goes on as soon as it ends.
      await this.scoped?.holds?.releaseAll()
    } catch (error) {
      console.warn(
        `vitest-recipes: could not release the run's lab resources (${(error as Error).message}); they are released when their lease runs out`,
      )
    }
    await this.session.finish(runStatusOf(statuses))
  }

  /**
   * The outcome of `step`, computed once: later callers get the same one (a promise while it
   * runs). Whatever `produce` throws becomes the step's failure.
   */
  private settle(step: RecipeStep, produce: () => MaybePromise<StepResult>): MaybePromise<StepResult> {
    const existing = this.outcomes.get(step.name)
    if (existing) return existing
    const done = (result: StepResult) => {
      this.settled.set(step.name, result)
      for (const resolve of this.awaited.get(step.name) ?? []) resolve(result)
      this.awaited.delete(step.name)
      return result
    }
    let produced: MaybePromise<StepResult>
    try {
      produced = produce()
    } catch (error) {
      produced = this.unexpected(step, error)
    }
    const outcome =
      produced instanceof Promise
        ? produced.then(done, async (error: unknown) => done(await this.unexpected(step, error)))
        : done(produced)
    this.outcomes.set(step.name, outcome)
    return outcome
  }

  private resolve(step: RecipeStep, test: StepTestContext, started: Started): MaybePromise<StepResult> {
    const preset = this.presetResult(step, started)
    if (preset) return this.recordNotRun(step, preset, started)
    // Most steps need steps that already passed: nothing to wait for (an await per step costs more than the check).
    if (this.needsSettled(step))
      return executeStep(step, this.scope(started), {
        setup: [],
        test: test.task,
        ...(test.signal ? { testSignal: test.signal } : {}),
      })
    return this.resolveAfterNeeds(step, test, started)
  }

  private async resolveAfterNeeds(step: RecipeStep, test: StepTestContext, started: Started): Promise<StepResult> {
    const setup: string[] = []
    const blocker = await this.prepare(step, setup, test, started)
    // In recipe order, however the parallel ones finished.
    setup.sort((a, b) => this.positions.get(a)! - this.positions.get(b)!)
    if (blocker) return this.recordNotRun(step, this.blockedResult(step, blocker), started)
    return executeStep(step, this.scope(started), {
      setup,
      test: test.task,
      ...(test.signal ? { testSignal: test.signal } : {}),
    })
  }

  /** Whether every step `step` needs has ended in a way that lets it run. */
  private needsSettled(step: RecipeStep): boolean {
    for (const need of step.needs) {
      const result = this.settled.get(need)
      if (!result || !satisfiesDependents(result.meta.status, result.meta.missingOutputs)) return false
    }
    return true
  }

  /**
   * Makes sure every step `step` needs has an outcome: a needed step that runs beside this
   * one is awaited; those that were filtered out run now as setup (`runSetup`). Returns what
   * blocks `step`, if anything does.
   */
  private async prepare(
    step: RecipeStep,
    setup: string[],
    test: StepTestContext,
    started: Started,
  ): Promise<Blocker | undefined> {
    const failed = await this.runSetup(step, setup, test, started)
    if (failed) return failed
    for (const need of step.needs) {
      const result = await this.outcomeOf(need, step, test)
      if (!satisfiesDependents(result.meta.status, result.meta.missingOutputs)) return this.blockerOf(result, need)
    }
    return undefined
  }

  /**
   * Runs the filtered-out steps that `selected` needs (transitively) as setup, inside its
   * test, as a full run would: in recipe order, the neighbouring parallel ones side by side
   * (setup-plan.ts). Stops at the first that fails: that failure fails `selected`.
   */
  private async runSetup(
    selected: RecipeStep,
    setup: string[],
    test: StepTestContext,
    started: Started,
  ): Promise<Blocker | undefined> {
    const batches = setupBatches(
      this.compiled.recipe.steps,
      selected,
      (need) => this.outcomes.has(need) || this.runsBeside(need, selected, test),
      (step) => this.presetResult(step, started) !== undefined,
    )
    for (const batch of batches) {
      // No more side by side than Vitest runs a file's concurrent tests (its maxConcurrency); in
      // recipe order, so a step starts after the steps of its batch that it needs.
      const results = await inOrderLimited(batch, this.maxConcurrency, (needed) =>
        this.settle(needed, () => this.runAsSetup(needed, selected, setup, test, started)),
      )
      for (const result of results) {
        // The filtered-out test of a setup step carries its record too: reporters, the JSON
        // report and --merge-reports see it there, although Vitest reports the test skipped.
        const sibling = this.testOf(result.meta.step, test)
        if (sibling && result.meta.setupFor !== undefined) (sibling.meta as RecipeTaskMeta).recipeStep = result.meta
      }
      const failed = results.find((result) => result.meta.status === 'failed' && result.meta.setupFor === selected.name)
      if (failed)
        return {
          step: failed.meta.step,
          reason: 'failed',
          setupFailure: new SetupStepFailedError(selected.name, failed.meta.step, failed.failure),
        }
    }
    return undefined
  }

  /** One step run as setup for `selected`, once the steps it needs have ended (blocked if one did not let it run). */
  private async runAsSetup(
    needed: RecipeStep,
    selected: RecipeStep,
    setup: string[],
    test: StepTestContext,
    started: Started,
  ): Promise<StepResult> {
    const preset = this.presetResult(needed, started)
    if (preset) return this.recordNotRun(needed, preset, started)
    for (const need of needed.needs) {
      const result = await this.outcomeOf(need, selected, test)
      if (!satisfiesDependents(result.meta.status, result.meta.missingOutputs))
        return this.recordNotRun(needed, this.blockedResult(needed, this.blockerOf(result, need)), started)
    }
    setup.push(needed.name)
    return executeStep(needed, this.scope(started), {
      setup: [],
      setupFor: selected.name,
      test: test.task,
      ...(test.signal ? { testSignal: test.signal } : {}),
    })
  }

  /** The outcome of `need`: ended, under way, or about to come from its own test beside `step`'s. */
  private async outcomeOf(need: string, step: RecipeStep, test: StepTestContext): Promise<StepResult> {
    const result = this.settled.get(need) ?? (await this.outcomes.get(need))
    if (result) return result
    if (this.runsBeside(need, step, test)) return this.waitFor(need)
    throw new Error(`internal: step "${need}", needed by "${step.name}", neither ran nor was run as setup`)
  }

  /** Whether `need` has its own test about to run concurrently with `step` (same parallel group). */
  private runsBeside(need: string, step: RecipeStep, test: StepTestContext): boolean {
    if (!step.parallel || !this.step(need).parallel) return false
    const sibling = this.testOf(need, test)
    return sibling?.mode === 'run' && sibling.result?.state !== 'pass' && sibling.result?.state !== 'fail'
  }

  /** The test of step `name` in this file (a map built once: a scan per setup step made -t on a long chain quadratic). */
  private testOf(name: string, test: StepTestContext): StepTestContext['task']['file']['tasks'][number] | undefined {
    this.tests ??= new Map(test.task.file.tasks.map((task) => [task.name, task]))
    return this.tests.get(name)
  }

  private waitFor(need: string): Promise<StepResult> {
    return new Promise((resolve) => this.awaited.set(need, [...(this.awaited.get(need) ?? []), resolve]))
  }

  private blockerOf(result: StepResult, step: string): Blocker {
    if (result.meta.status === 'blocked')
      return { step: result.meta.blockedBy!, reason: result.meta.blockedReason ?? 'failed' }
    return { step, reason: result.meta.status === 'skipped' ? 'skipped' : 'failed' }
  }

  /** Steps that do not run at all in this run: `--skip`ped, or before `--resume-from`. */
  private presetResult(step: RecipeStep, started: Started): StepResult | undefined {
    const resume = started.resume
    const position = resume ? this.positions.get(step.name)! : -1
    if (resume && position <= resume.index) {
      const { snapshot, index } = resume
      if (typeof snapshot === 'string') {
        if (position < index) return this.notRun(step, 'skipped', 'not run: --resume-from a later step')
        const reason = `cannot resume from "${step.name}": ${snapshot}`
        const envelope = errorEnvelope(step.name, reason, EXIT_DEPENDENCY)
        const meta = { ...this.emptyMeta(step, 'failed'), envelope, reason }
        return { meta, failure: new StepFailedError(step, envelope, reason) }
      }
      if (position < index) {
        const result = this.notRun(step, 'resumed', `resumed: ctx restored from run ${snapshot.runId}`)
        result.meta.resumedFrom = snapshot.runId
        return result
      }
    }
    if (this.options.skip.includes(step.name)) {
      const outputs = declaredOutputs(step, this.scriptlets.get(step.name)?.outputs)
      const missing = outputs.filter((key) => !started.ctx.has(key))
      const result = this.notRun(step, 'skipped', 'skipped (--skip)')
      if (missing.length) result.meta.missingOutputs = missing
      return result
    }
    return undefined
  }

  private blockedResult(step: RecipeStep, blocker: Blocker): StepResult {
    const missing = this.settled.get(blocker.step)?.meta.missingOutputs
    const note =
      blocker.reason === 'skipped'
        ? `blocked: ${blocker.step} was skipped and its outputs (${missing?.join(', ') ?? 'none'}) are not in ctx (dependency not satisfied)`
        : `blocked: ${blocker.step} failed`
    const result = this.notRun(step, 'blocked', note)
    result.meta.blockedBy = blocker.step
    result.meta.blockedReason = blocker.reason
    // The selected step's setup failed: its test fails, since the setup step's own test is filtered out.
    if (blocker.setupFailure) {
      result.failure = blocker.setupFailure
      delete result.note
    }
    return result
  }

  private notRun(step: RecipeStep, status: StepStatus, note: string): StepResult {
    return { meta: { ...this.emptyMeta(step, status), reason: note }, note }
  }

  /**
   * Records a step that did not run (skipped, blocked, resumed): a later --resume-from
   * finds where the run ended; its log says why it did not run.
   */
  private recordNotRun(step: RecipeStep, result: StepResult, started: Started): MaybePromise<StepResult> {
    const log = started.logs.open(step.idx, step.name)
    log.line(`step ${step.name} did not run: ${result.meta.reason ?? result.meta.status}`)
    result.meta.logPath = log.close().path
    return recordResult(step, this.scope(started), result, this.restoredWrites(step.name, started))
  }

  /** What could not have gone wrong did: the step fails with it, and is recorded if the store allows. */
  private unexpected(step: RecipeStep, error: unknown): MaybePromise<StepResult> {
    const reason = `internal error while running the step: ${error instanceof Error ? error.message : String(error)}`
    const envelope = errorEnvelope(step.name, reason, 1)
    const result: StepResult = {
      meta: { ...this.emptyMeta(step, 'failed'), envelope, reason },
      failure: new StepFailedError(step, envelope, reason, error),
    }
    const started = this.session.current
    return started ? recordResult(step, this.scope(started), result, []) : result
  }

  /** The step's record on its test (reporters read it), then pass, fail or skip. */
  private report(test: StepTestContext, result: StepResult): void {
    const meta = test.task.meta as RecipeTaskMeta
    meta.recipeStep = result.meta
    if (result.failure) throw this.redactError(result.failure)
    if (result.note !== undefined) test.skip(result.note)
  }

  /** The writes a resumed step made in the run the ctx came from. */
  private restoredWrites(step: string, started: Started): ContextWrite[] {
    const snapshot = started.resume?.snapshot
    if (!snapshot || typeof snapshot === 'string') return []
    return snapshot.writes
      .filter((write) => write.step === step)
      .map(({ ts, who, key, value }) =>
        value === undefined
          ? { ts, who, key, before: undefined, after: null, deleted: true }
          : { ts, who, key, before: undefined, after: value },
      )
  }

  /** Failure messages and their causes never carry secret values. */
  private redactError(error: Error): Error {
    const redactor = this.session.redactor
    if (!redactor.active) return error
    for (let current: unknown = error; current instanceof Error; current = current.cause) {
      current.message = redactor.text(current.message)
      if (current.stack) current.stack = redactor.text(current.stack)
      // Reporters print and serialize an error's own fields too (JUnit's "Serialized Error": details, envelope).
      for (const [field, value] of Object.entries(current)) {
        if (field === 'cause' || field === 'message' || field === 'stack') continue
        ;(current as unknown as Record<string, unknown>)[field] = redactor.json(toJsonSafe(value))
      }
    }
    return error
  }

  private scope(started: Started): ExecutionScope {
    if (this.scoped?.started === started) return this.scoped
    this.scoped = {
      compiled: this.compiled,
      scriptlets: this.scriptlets,
      session: this.session,
      started,
      options: this.options,
      concurrent: this.concurrent,
      stepMetrics: this.stepMetrics,
      holds: started.locks
        ? new ResourceHolds({
            client: started.locks,
            runId: this.session.runId,
            testId: this.compiled.recipe.testMeta.test_id,
            recipeResources: this.compiled.recipe.resources,
            waitSec: this.compiled.resourceWaitSec,
            holdMaxSec: this.compiled.resourceHoldMaxSec,
            say: (step, line) => this.session.say(step, line),
          })
        : undefined,
      emptyMeta: (step, status) => this.emptyMeta(step, status),
    }
    return this.scoped
  }

  private emptyMeta(step: RecipeStep, status: StepStatus): RecipeStepMeta {
    const redactor = this.session.redactor
    return {
      runId: this.session.runId,
      recipe: this.compiled.recipe.file,
      testId: this.compiled.recipe.testMeta.test_id,
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
  }

  private step(name: string): RecipeStep {
    const step = this.steps.get(name)
    if (!step) throw new Error(`internal: recipe ${this.compiled.recipe.file} has no step "${name}"`)
    return step
  }
}
