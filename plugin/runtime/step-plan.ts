import type { TestContext } from 'vitest'
import type { ContextWrite } from '../context/context.ts'
import { declaredOutputs } from '../recipe/declared-outputs.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { EXIT_DEPENDENCY } from '../scriptlet/envelope.ts'
import type { RunSelection } from '../store/run-selection.ts'
import { SetupStepFailedError } from './errors.ts'
import { type RecipeTaskMeta, type StepStatus, satisfiesDependents } from './meta.ts'
import type { RunSession, Started } from './run-session.ts'
import { inOrderLimited, setupBatches } from './setup-plan.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import { failedBeforeRunning, type StepResult, stepRecord } from './step-record.ts'

/** The parts of Vitest's test context the runner uses. */
export interface StepTestContext {
  task: TestContext['task']
  skip: (note?: string) => never
  annotate?: (message: string, type?: string, attachment?: { path: string; contentType: string }) => Promise<unknown>
  /** Aborted when Vitest gives up on the test (its timeout, a cancelled run). */
  signal?: AbortSignal
}

type FileTask = StepTestContext['task']['file']['tasks'][number]

/** What the first stage of a step's life decided: it does not run (its result says why), or it runs after `setup`. */
export type StepPlan = { runs: false; result: StepResult; restored: ContextWrite[] } | { runs: true; setup: string[] }

/** The outcomes of a run's steps, each computed once (step-life.ts keeps them). */
export interface Outcomes {
  /** The outcome of a step that has ended. */
  settled(name: string): StepResult | undefined
  /** The outcome of a step that has started, ended or not. */
  started(name: string): Promise<StepResult> | undefined
  /**
   * Runs `step` as setup for `selected` inside `test` (once: a later caller gets the same
   * outcome); adds its name to `setup` if it comes to run.
   */
  runAsSetup(step: RecipeStep, selected: RecipeStep, test: StepTestContext, setup: string[]): Promise<StepResult>
  /** Resolves when `name`, which runs in its own test beside the caller's, has ended. */
  waitFor(name: string): Promise<StepResult>
}

interface Blocker {
  step: string
  reason: 'failed' | 'skipped'
  /** The blocking step failed while running as setup for the blocked one. */
  setupFailure?: Error
}

/**
 * The first stage of a step's life: select or set up. A step `--skip`ped or before
 * `--resume-from` does not run; a step whose needed steps were filtered out (-t, the IDE)
 * runs them first as setup, in recipe order, the neighbouring parallel ones side by side; a
 * step whose needed step failed (or was skipped without leaving its outputs) is blocked;
 * parallel steps wait for needed steps that run beside them.
 */
export class StepPlanner {
  private readonly compiled: CompiledRecipe
  private readonly scriptlets: ReadonlyMap<string, Scriptlet>
  private readonly session: RunSession
  private readonly options: RunOptions
  private readonly steps: Map<string, RecipeStep>
  /** Each step's position in the recipe (a lookup per step: indexOf made long recipes quadratic). */
  private readonly positions: Map<string, number>
  /** How many steps run as setup side by side at most: Vitest's maxConcurrency for the file's tests. */
  private readonly maxConcurrency: number
  private tests: Map<string, FileTask> | undefined

  constructor(
    compiled: CompiledRecipe,
    scriptlets: ReadonlyMap<string, Scriptlet>,
    session: RunSession,
    options: RunOptions,
    maxConcurrency: number,
  ) {
    this.compiled = compiled
    this.scriptlets = scriptlets
    this.session = session
    this.options = options
    this.maxConcurrency = maxConcurrency
    this.steps = new Map(compiled.recipe.steps.map((step) => [step.name, step]))
    this.positions = new Map(compiled.recipe.steps.map((step, position) => [step.name, position]))
  }

  step(name: string): RecipeStep {
    const step = this.steps.get(name)
    if (!step) throw new Error(`internal: recipe ${this.compiled.recipe.file} has no step "${name}"`)
    return step
  }

  /**
   * Which steps this run runs, when the test name filter (-t, the IDE) kept only some: Vitest
   * marks the others skipped before the run. The setup is what the kept steps need of the
   * others (transitively), less what --skip leaves out. Undefined when every step runs.
   */
  selectionOf(test: StepTestContext): RunSelection | undefined {
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

  /**
   * The plan of a step that can run at once: not --skip'ped or resumed past, every step it
   * needs already ended and letting it run (most steps). Undefined when `plan` must decide.
   */
  planNow(step: RecipeStep, started: Started, outcomes: Outcomes): StepPlan | undefined {
    if (started.resume !== undefined || this.options.skip.length > 0 || !this.needsSettled(step, outcomes))
      return undefined
    return { runs: true, setup: [] }
  }

  /** The plan of a step run in its own test: not run, blocked, or runs (after its setup, if any). */
  async plan(step: RecipeStep, test: StepTestContext, started: Started, outcomes: Outcomes): Promise<StepPlan> {
    const preset = this.presetResult(step, started)
    if (preset) return this.notRunPlan(step, preset, started)
    // Most steps need steps that already passed: nothing to wait for.
    if (this.needsSettled(step, outcomes)) return { runs: true, setup: [] }
    const setup: string[] = []
    const blocker = await this.prepare(step, setup, test, started, outcomes)
    // In recipe order, however the parallel ones finished.
    setup.sort((a, b) => this.positions.get(a)! - this.positions.get(b)!)
    if (blocker) return this.notRunPlan(step, this.blockedResult(step, blocker, outcomes), started)
    return { runs: true, setup }
  }

  /** The plan of a step run as setup for `selected`, once the steps it needs have ended. */
  async planSetup(
    needed: RecipeStep,
    selected: RecipeStep,
    test: StepTestContext,
    started: Started,
    outcomes: Outcomes,
  ): Promise<StepPlan> {
    const preset = this.presetResult(needed, started)
    if (preset) return this.notRunPlan(needed, preset, started)
    for (const need of needed.needs) {
      const result = await this.outcomeOf(need, selected, test, outcomes)
      if (!satisfiesDependents(result.meta.status, result.meta.missingOutputs))
        return this.notRunPlan(needed, this.blockedResult(needed, this.blockerOf(result, need), outcomes), started)
    }
    return { runs: true, setup: [] }
  }

  private notRunPlan(step: RecipeStep, result: StepResult, started: Started): StepPlan {
    return { runs: false, result, restored: this.restoredWrites(step.name, started) }
  }

  /** Whether every step `step` needs has ended in a way that lets it run. */
  private needsSettled(step: RecipeStep, outcomes: Outcomes): boolean {
    for (const need of step.needs) {
      const result = outcomes.settled(need)
      if (!result || !satisfiesDependents(result.meta.status, result.meta.missingOutputs)) return false
    }
    return true
  }

  /**
   * Makes sure every step `step` needs has an outcome: a needed step that runs beside this
   * one is awaited; those that were filtered out run now as setup. Returns what blocks `step`.
   */
  private async prepare(
    step: RecipeStep,
    setup: string[],
    test: StepTestContext,
    started: Started,
    outcomes: Outcomes,
  ): Promise<Blocker | undefined> {
    const failed = await this.runSetup(step, setup, test, started, outcomes)
    if (failed) return failed
    for (const need of step.needs) {
      const result = await this.outcomeOf(need, step, test, outcomes)
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
    outcomes: Outcomes,
  ): Promise<Blocker | undefined> {
    const batches = setupBatches(
      this.compiled.recipe.steps,
      selected,
      (need) => outcomes.started(need) !== undefined || this.runsBeside(need, selected, test),
      (step) => this.presetResult(step, started) !== undefined,
    )
    for (const batch of batches) {
      // No more side by side than Vitest runs a file's concurrent tests (its maxConcurrency); in
      // recipe order, so a step starts after the steps of its batch that it needs.
      const results = await inOrderLimited(batch, this.maxConcurrency, (needed) =>
        outcomes.runAsSetup(needed, selected, test, setup),
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

  /** The outcome of `need`: ended, under way, or about to come from its own test beside `step`'s. */
  private async outcomeOf(
    need: string,
    step: RecipeStep,
    test: StepTestContext,
    outcomes: Outcomes,
  ): Promise<StepResult> {
    const result = outcomes.settled(need) ?? (await outcomes.started(need))
    if (result) return result
    if (this.runsBeside(need, step, test)) return outcomes.waitFor(need)
    throw new Error(`internal: step "${need}", needed by "${step.name}", neither ran nor was run as setup`)
  }

  /** Whether `need` has its own test about to run concurrently with `step` (same parallel group). */
  private runsBeside(need: string, step: RecipeStep, test: StepTestContext): boolean {
    if (!step.parallel || !this.step(need).parallel) return false
    const sibling = this.testOf(need, test)
    return sibling?.mode === 'run' && sibling.result?.state !== 'pass' && sibling.result?.state !== 'fail'
  }

  /**
   * The test of step `name` in this run: among the file's tests, or a matrix combination's
   * among its group's (a map built once: a scan per setup step made -t on a long chain quadratic).
   */
  testOf(name: string, test: StepTestContext): FileTask | undefined {
    this.tests ??= new Map((test.task.suite ?? test.task.file).tasks.map((task) => [task.name, task]))
    return this.tests.get(name)
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
        return failedBeforeRunning(step, this.compiled, this.session, reason, EXIT_DEPENDENCY)
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

  private blockedResult(step: RecipeStep, blocker: Blocker, outcomes: Outcomes): StepResult {
    const missing = outcomes.settled(blocker.step)?.meta.missingOutputs
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
    return { meta: stepRecord(step, this.compiled, this.session, status, note), note }
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
}
