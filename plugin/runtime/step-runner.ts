import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'vitest'
import { Context, type ContextSnapshot } from '../context/context.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Scriptlet, ScriptletTools } from '../scriptlet/define.ts'
import { EXIT_INVALID, errorEnvelope } from '../scriptlet/envelope.ts'
import { invokeScriptlet, type Invocation } from '../scriptlet/invoke.ts'
import { assertSuccessChecks } from './checks.ts'
import { SetupStepFailedError, StepFailedError } from './errors.ts'
import type { AttemptRecord, RecipeStepMeta, RecipeTaskMeta, StepStatus } from './meta.ts'
import type { CompiledRecipe } from './spec.ts'

/** The parts of Vitest's test context the runner uses. */
export interface StepTestContext {
  task: TestContext['task']
  skip: (note?: string) => never
  annotate?: (message: string, type?: string) => Promise<unknown>
}

interface StepResult {
  status: StepStatus
  meta: RecipeStepMeta
  failure?: Error
}

/**
 * Runs a recipe's steps inside their tests, one file-scoped instance per recipe. Each step
 * runs at most once (memoized): a step whose needed steps were filtered out runs them
 * first as setup; a step whose needed step failed is skipped as `blocked: <step> failed`.
 */
export class RecipeRun {
  readonly ctx: Context
  private readonly compiled: CompiledRecipe
  private readonly steps: Map<string, RecipeStep>
  private readonly scriptlets: ReadonlyMap<string, Scriptlet>
  private readonly results = new Map<string, StepResult>()
  private readonly beforeFirstAttempt = new Map<string, ContextSnapshot>()

  constructor(compiled: CompiledRecipe, scriptlets: ReadonlyMap<string, Scriptlet>) {
    this.compiled = compiled
    this.scriptlets = scriptlets
    this.steps = new Map(compiled.recipe.steps.map((step) => [step.name, step]))
    this.ctx = new Context({}, { keyNaming: compiled.keyNaming })
  }

  /** Called by each generated step test. */
  async runStep(name: string, test: StepTestContext): Promise<void> {
    const step = this.step(name)
    const previous = this.results.get(name)
    if (previous?.status === 'failed' && (test.task.result?.retryCount ?? 0) > 0) {
      return this.report(test, await this.retry(step, previous))
    }
    if (previous) return this.report(test, previous)

    const setup: string[] = []
    const blockedBy = await this.prepare(step, setup)
    if (blockedBy) return this.report(test, this.recordBlocked(step, blockedBy))
    if (setup.length > 0) await test.annotate?.(`ran ${setup.join(', ')} first as setup (filtered out, needed by ${name})`, 'notice')
    const result = await this.execute(step)
    result.meta.setup = setup
    this.report(test, result)
  }

  /**
   * Makes sure every step `step` needs has run: a needed step that has not (it was
   * filtered out) runs now as setup, its own needs first. Returns the failed step that
   * blocks `step`, if any; throws when a step run as setup fails.
   */
  private async prepare(step: RecipeStep, setup: string[]): Promise<string | undefined> {
    for (const need of step.needs) {
      let result = this.results.get(need)
      if (!result) {
        const needed = this.step(need)
        const blockedBy = await this.prepare(needed, setup)
        if (blockedBy) return this.recordBlocked(needed, blockedBy).meta.blockedBy
        result = await this.execute(needed)
        setup.push(need)
        if (result.status !== 'passed') throw new SetupStepFailedError(step.name, need, result.failure)
      }
      if (result.status !== 'passed') return result.meta.blockedBy ?? need
    }
    return undefined
  }

  private recordBlocked(step: RecipeStep, blockedBy: string): StepResult {
    const result: StepResult = { status: 'blocked', meta: { ...this.emptyMeta(step, 'blocked'), blockedBy } }
    this.results.set(step.name, result)
    return result
  }

  private report(test: StepTestContext, result: StepResult): void {
    const meta = test.task.meta as RecipeTaskMeta
    meta.recipeStep = result.meta
    if (result.failure) throw result.failure
    if (result.status === 'blocked') test.skip(`blocked: ${result.meta.blockedBy} failed`)
  }

  private async retry(step: RecipeStep, previous: StepResult): Promise<StepResult> {
    const attempts: AttemptRecord[] = [...previous.meta.attempts, { reason: previous.meta.envelope?.status === 'error' ? previous.meta.envelope.reason : (previous.failure?.message ?? ''), durationMs: previous.meta.durationMs }]
    const reason = attempts.at(-1)!.reason
    if (step.retry.on.length > 0 && !step.retry.on.some((pattern) => new RegExp(pattern).test(reason))) {
      // Not a failure this step retries on: end the remaining attempts with the same error.
      return { ...previous, meta: { ...previous.meta, attempts } }
    }
    if (step.retry.delaySec > 0) await sleep(step.retry.delaySec * 1000)
    this.ctx.restore(this.beforeFirstAttempt.get(step.name)!)
    const result = await this.execute(step)
    result.meta.attempts = attempts
    return result
  }

  private async execute(step: RecipeStep): Promise<StepResult> {
    // Only a step that may retry needs the ctx as it was before its first attempt.
    if (step.retry.max > 0 && !this.beforeFirstAttempt.has(step.name)) this.beforeFirstAttempt.set(step.name, this.ctx.snapshot())
    const historyStart = this.ctx.historyLength
    const cpuStart = process.cpuUsage()
    const started = performance.now()
    const invocation = await this.invoke(step)
    const durationMs = performance.now() - started
    const cpu = process.cpuUsage(cpuStart)
    const meta: RecipeStepMeta = {
      ...this.emptyMeta(step, 'passed'),
      envelope: invocation.envelope,
      writes: this.ctx.historySince(historyStart),
      durationMs,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
    }
    const failure = await this.judge(step, invocation)
    if (failure) meta.status = 'failed'
    const result: StepResult = failure ? { status: 'failed', meta, failure } : { status: 'passed', meta }
    this.results.set(step.name, result)
    return result
  }

  /** Compares the outcome with what the recipe expects; returns the failure, if any. */
  private async judge(step: RecipeStep, { envelope, error }: Invocation): Promise<Error | undefined> {
    const expected = step.expect
    if (envelope.status === 'error') {
      if (expected.status === 'ok') return new StepFailedError(step, envelope, `failed with exit code ${envelope.exit_code}: ${envelope.reason}`, error)
      if (expected.reasonMatches !== undefined && !new RegExp(expected.reasonMatches).test(envelope.reason)) {
        return new StepFailedError(step, envelope, `failed as expected, but its reason ${JSON.stringify(envelope.reason)} does not match /${expected.reasonMatches}/ (expect.reason_matches)`, error)
      }
      if (expected.exitCode !== undefined && expected.exitCode !== envelope.exit_code) {
        return new StepFailedError(step, envelope, `failed as expected, but with exit code ${envelope.exit_code} instead of ${expected.exitCode} (expect.exit_code)`, error)
      }
      return undefined
    }
    if (expected.status === 'error') return new StepFailedError(step, envelope, 'succeeded, but the recipe expects it to fail (expect: error)')
    if (Object.keys(step.success).length === 0) return undefined
    try {
      await assertSuccessChecks(step, this.ctx, envelope, this.compiled.root)
      return undefined
    } catch (assertion) {
      return assertion as Error
    }
  }

  private async invoke(step: RecipeStep): Promise<Invocation> {
    const scriptlet = this.scriptlets.get(step.name)
    if (!scriptlet) {
      const reason = `type "${step.type}" steps are not supported by this version of vitest-recipes yet; only ts steps run`
      return { envelope: errorEnvelope(step.name, reason, EXIT_INVALID) }
    }
    const tools: ScriptletTools = { step: step.name, root: this.compiled.root, log: (...args) => console.error(...args) }
    return invokeScriptlet(scriptlet, this.ctx, step.params, tools)
  }

  private emptyMeta(step: RecipeStep, status: StepStatus): RecipeStepMeta {
    return {
      recipe: this.compiled.recipe.file,
      testId: this.compiled.recipe.testMeta.test_id,
      step: step.name,
      idx: step.idx,
      type: step.type,
      status,
      writes: [],
      durationMs: 0,
      cpuUserMs: 0,
      cpuSystemMs: 0,
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
