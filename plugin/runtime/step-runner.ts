import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'vitest'
import { Context, type ContextSnapshot, type ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { warmUpSampling } from '../executors/child-process.ts'
import { runCommandStep } from '../executors/command.ts'
import { tail } from '../executors/output.ts'
import { PythonHost } from '../executors/python-host.ts'
import type { ExecutorInput, StepExecution } from '../executors/types.ts'
import { runTypeScriptStep } from '../executors/typescript.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { EXIT_FAILED, errorEnvelope, type Envelope } from '../scriptlet/envelope.ts'
import type { Invocation } from '../scriptlet/invoke.ts'
import { assertSuccessChecks } from './checks.ts'
import { describeScriptlet, SetupStepFailedError, StepFailedError } from './errors.ts'
import { createRedactor, type Redactor } from './redact.ts'
import { StepLogs } from './step-log.ts'
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
  private readonly runId: string
  private readonly logs: StepLogs
  private readonly redactor: Redactor
  private readonly debug: boolean
  private readonly restoreConsole: (() => void) | undefined
  private python: PythonHost | undefined

  constructor(compiled: CompiledRecipe, scriptlets: ReadonlyMap<string, Scriptlet>, runId: string) {
    this.compiled = compiled
    this.scriptlets = scriptlets
    this.runId = runId
    this.steps = new Map(compiled.recipe.steps.map((step) => [step.name, step]))
    this.ctx = new Context({}, { keyNaming: compiled.keyNaming })
    this.redactor = createRedactor(compiled.recipe.secrets)
    // The older framework's switches: a store_on_ram.txt file keeps logs in memory; "debug" in it logs more.
    const marker = readMarker(join(compiled.root, 'store_on_ram.txt'))
    this.debug = compiled.debug || process.env.RECIPES_DEBUG === '1' || /debug/i.test(marker ?? '')
    this.logs = new StepLogs({ dir: join(compiled.logs.dir, runId), root: compiled.root, ram: compiled.logs.ram || marker !== undefined, redactor: this.redactor })
    this.restoreConsole = this.redactor.active ? redactConsole(this.redactor) : undefined
    if (compiled.recipe.steps.some((step) => step.type !== 'ts')) warmUpSampling()
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
    const log = this.logs.open(step.idx, step.name)
    log.line(`step ${step.name} (${describeScriptlet(step)}) starts`)
    if (this.debug) log.line(`params ${JSON.stringify(step.params)}`)
    const started = performance.now()
    const execution = await this.executeStep(step, {
      step,
      ctx: this.ctx,
      root: this.compiled.root,
      writtenKeys: () => [...new Set(this.ctx.historySince(historyStart).map((write) => write.key))],
    })
    const durationMs = performance.now() - started
    const envelope = this.saveOutputs(step, execution.envelope)
    const writes = this.ctx.historySince(historyStart)
    if (this.debug) log.line(`ctx diff ${JSON.stringify(contextDiff(writes))}`)
    log.output(execution.stdout, execution.stderr)
    const failure = await this.judge(step, { envelope, error: execution.error }, execution.stderr)
    log.line(failure ? `failed: ${failure.message.split('\n')[0]}` : `passed in ${Math.round(durationMs)} ms`)
    log.close()
    const meta: RecipeStepMeta = {
      ...this.emptyMeta(step, failure ? 'failed' : 'passed'),
      envelope: this.redactor.json(envelope),
      writes: this.redactor.json(writes as unknown as JsonValue) as unknown as ContextWrite[],
      durationMs,
      cpuMs: execution.resources.cpuMs,
      peakRssBytes: execution.resources.peakRssBytes,
      logPath: log.path,
    }
    const result: StepResult = failure ? { status: 'failed', meta, failure: this.redactError(failure) } : { status: 'passed', meta }
    this.results.set(step.name, result)
    return result
  }

  private executeStep(step: RecipeStep, input: ExecutorInput): Promise<StepExecution> {
    if (step.type === 'ts') return runTypeScriptStep(this.scriptlets.get(step.name)!, input)
    if (step.type === 'python' && step.module !== undefined) {
      this.python ??= new PythonHost({ executable: this.compiled.python.executable, path: this.compiled.python.path, root: this.compiled.root })
      return this.python.runStep(input)
    }
    return runCommandStep(input, { pythonExecutable: this.compiled.python.executable })
  }

  /** `save: {key: field}`: stores envelope fields in ctx as the step; a missing field fails it. */
  private saveOutputs(step: RecipeStep, envelope: Envelope): Envelope {
    const entries = Object.entries(step.save)
    if (envelope.status !== 'ok' || entries.length === 0) return envelope
    try {
      for (const [key, field] of entries) {
        const value = readField(envelope, field)
        if (value === undefined) {
          return errorEnvelope(step.name, `save: the envelope has no field "${field}" for ${key} (its fields: ${Object.keys(envelope).join(', ')})`, EXIT_FAILED)
        }
        this.ctx.set(key, value, { who: step.name })
        if (!envelope.outputs.includes(key)) envelope.outputs.push(key)
      }
      return envelope
    } catch (error) {
      return errorEnvelope(step.name, `save: ${(error as Error).message}`, EXIT_FAILED)
    }
  }

  /** Failure messages and their causes never carry secret values. */
  private redactError(error: Error): Error {
    if (!this.redactor.active) return error
    for (let current: unknown = error; current instanceof Error; current = current.cause) {
      current.message = this.redactor.text(current.message)
      if (current.stack) current.stack = this.redactor.text(current.stack)
    }
    return error
  }

  /** Ends the recipe file: writes RAM-mode logs, stops the Python host, restores the console. */
  finish(): void {
    this.logs.flush()
    this.python?.close()
    this.restoreConsole?.()
  }

  /** Compares the outcome with what the recipe expects; returns the failure, if any. */
  private async judge(step: RecipeStep, { envelope, error }: Invocation, stderr: string): Promise<Error | undefined> {
    const expected = step.expect
    if (envelope.status === 'error') {
      if (expected.status === 'ok') {
        const stderrTail = stderr.trim() ? `\n--- stderr (last lines)\n${tail(stderr)}` : ''
        return new StepFailedError(step, envelope, `failed with exit code ${envelope.exit_code}: ${envelope.reason}${stderrTail}`, error)
      }
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

  private emptyMeta(step: RecipeStep, status: StepStatus): RecipeStepMeta {
    return {
      runId: this.runId,
      recipe: this.compiled.recipe.file,
      testId: this.compiled.recipe.testMeta.test_id,
      step: step.name,
      idx: step.idx,
      type: step.type,
      status,
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

function readMarker(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined
}

/** A dotted path into the envelope (`output`, `metrics.count`). */
function readField(envelope: Envelope, field: string): JsonValue | undefined {
  let value: JsonValue | undefined = envelope as unknown as JsonObject
  for (const part of field.split('.')) {
    value = typeof value === 'object' && value !== null && !Array.isArray(value) ? value[part] : undefined
  }
  return value
}

/** Before and after of each key the step changed (debug logs). */
function contextDiff(writes: readonly ContextWrite[]): Record<string, { before: JsonValue | null; after: JsonValue }> {
  const diff: Record<string, { before: JsonValue | null; after: JsonValue }> = {}
  for (const write of writes) diff[write.key] = { before: diff[write.key]?.before ?? write.before ?? null, after: write.after }
  return diff
}

/** Redacts secrets in what tests print through the console; returns the undo. */
function redactConsole(redactor: Redactor): () => void {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const
  const originals = methods.map((method) => console[method])
  methods.forEach((method, i) => {
    const original = originals[i]!
    console[method] = (...args: unknown[]) => original.apply(console, args.map((arg) => (typeof arg === 'string' ? redactor.text(arg) : arg)))
  })
  return () => methods.forEach((method, i) => (console[method] = originals[i]!))
}
