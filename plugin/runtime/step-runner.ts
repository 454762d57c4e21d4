import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'vitest'
import { Context, type ContextSnapshot, type ContextWrite } from '../context/context.ts'
import type { JsonObject } from '../context/json-value.ts'
import { StepContext } from '../context/step-context.ts'
import type { PythonHostPool } from '../executors/python-host.ts'
import type { ExecutorInput, StepExecution } from '../executors/types.ts'
import { runTypeScriptStep } from '../executors/typescript.ts'
import type { CpuWorkerPool } from '../executors/worker-pool.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { EXIT_DEPENDENCY, EXIT_FAILED, errorEnvelope } from '../scriptlet/envelope.ts'
import { describeScriptlet, SetupStepFailedError, StepFailedError } from './errors.ts'
import { allureActive } from './allure.ts'
import { stepRecordOf, type RecipeStepMeta, type RecipeTaskMeta, type StepStatus } from './meta.ts'
import { createRedactor, type Redactor } from './redact.ts'
import { AppendQueue } from '../store/append-queue.ts'
import { loadResumeSnapshot, type ResumeSnapshot } from '../store/resume.ts'
import { RunStore, type RunStatus } from '../store/run-store.ts'
import { readRunOptions } from './run-options.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import { ConcurrentWrites } from './concurrent-writes.ts'
import { StepCache, stepCacheKey } from './step-cache.ts'
import { StepLogs } from './step-log.ts'
import { declaredOutputs } from '../recipe/declared-outputs.ts'
import { contextDiff, judgeOutcome, saveOutputs, sourceFilesOf } from './step-outcome.ts'

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
  /** Why the step's test is skipped (skipped, blocked, resumed). */
  note?: string
}

interface Blocker {
  step: string
  reason: 'failed' | 'skipped'
}

/**
 * Runs a recipe's steps inside their tests, one instance per recipe file. Each step runs at
 * most once (memoized): a step whose needed steps were filtered out runs them first as
 * setup; a step whose needed step failed (or was skipped without leaving its outputs) is
 * skipped as blocked. Parallel steps wait for needed steps that run beside them.
 */
export class RecipeRun {
  readonly ctx: Context
  private readonly compiled: CompiledRecipe
  private readonly steps: Map<string, RecipeStep>
  private readonly scriptlets: ReadonlyMap<string, Scriptlet>
  private readonly results = new Map<string, StepResult>()
  private readonly running = new Map<string, Promise<StepResult>>()
  private readonly awaited = new Map<string, (result: StepResult) => void>()
  private readonly beforeFirstAttempt = new Map<string, ContextSnapshot>()
  private readonly runId: string
  private readonly options: RunOptions
  private readonly logs: StepLogs
  private readonly store: RunStore
  private readonly cache: StepCache
  private readonly concurrent = new ConcurrentWrites()
  private readonly redactor: Redactor
  private readonly debug: boolean
  private readonly restoreConsole: (() => void) | undefined
  // Child-process and worker executors load on first use: most recipe files need none (execa, tinypool, pidusage).
  private python: PythonHostPool | undefined
  private workers: CpuWorkerPool | undefined
  private readonly resume: { index: number; snapshot: ResumeSnapshot | string } | undefined

  constructor(compiled: CompiledRecipe, scriptlets: ReadonlyMap<string, Scriptlet>, runId: string) {
    const { recipe, root } = compiled
    this.compiled = compiled
    this.scriptlets = scriptlets
    this.runId = runId
    this.options = readRunOptions()
    this.steps = new Map(recipe.steps.map((step) => [step.name, step]))
    this.redactor = createRedactor(recipe.secrets)
    // The older framework's switches: a store_on_ram.txt file keeps logs in memory; "debug" in it logs more.
    const marker = existsSync(join(root, 'store_on_ram.txt'))
      ? readFileSync(join(root, 'store_on_ram.txt'), 'utf8')
      : undefined
    this.debug =
      compiled.debug || this.options.debug || process.env.RECIPES_DEBUG === '1' || /debug/i.test(marker ?? '')
    this.logs = new StepLogs(
      {
        dir: join(compiled.logs.dir, runId),
        root,
        ram: compiled.logs.ram || marker !== undefined,
        redactor: this.redactor,
      },
      new AppendQueue(),
    )
    // Nothing lost: the run exists in the store before its first step, and each step boundary is one transaction.
    this.store = RunStore.openIn(root, compiled.db)
    this.cache = new StepCache(join(root, '.cache', 'steps'))
    this.restoreConsole = this.redactor.active ? redactConsole(this.redactor) : undefined

    const resumeIndex =
      this.options.resumeFrom === undefined
        ? -1
        : recipe.steps.findIndex((step) => step.name === this.options.resumeFrom)
    if (resumeIndex >= 0)
      this.resume = {
        index: resumeIndex,
        snapshot: loadResumeSnapshot(this.store, recipe.file, recipe.steps[resumeIndex - 1]?.name),
      }
    const restored = this.resume && typeof this.resume.snapshot !== 'string' ? this.resume.snapshot.values : {}
    this.ctx = new Context(restored, { keyNaming: compiled.keyNaming })
    this.store.beginRun({
      runId,
      testId: recipe.testMeta.test_id,
      recipe: recipe.file,
      startTime: new Date().toISOString(),
      vitestVersion: vitestVersion(),
      metadata: {
        test_meta: recipe.testMeta as JsonObject,
        node: process.version,
        ...(this.resume && typeof this.resume.snapshot !== 'string'
          ? { resumed_from: this.resume.snapshot.runId }
          : {}),
      },
    })
    if (recipe.steps.some((step) => step.type !== 'ts'))
      void import('../executors/child-process.ts').then(({ warmUpSampling }) => warmUpSampling())
  }

  /** Called by each generated step test. */
  async runStep(name: string, test: StepTestContext): Promise<void> {
    const step = this.step(name)
    const previous = this.results.get(name)
    if (previous?.status === 'failed' && (test.task.result?.retryCount ?? 0) > 0)
      return this.report(test, await this.retry(step, previous))
    if (previous) return this.report(test, previous)
    const preset = this.presetResult(step)
    if (preset) return this.report(test, this.record(step.name, preset))

    const setup: string[] = []
    const blocker = await this.prepare(step, setup, test)
    if (blocker) return this.report(test, this.record(name, this.blockedResult(step, blocker)))
    if (setup.length > 0)
      await test.annotate?.(`ran ${setup.join(', ')} first as setup (filtered out, needed by ${name})`, 'notice')
    const result = await this.run(step)
    result.meta.setup = setup
    if (result.status === 'cached')
      await test.annotate?.(`cached: replayed the ctx writes of run ${result.meta.cachedFrom}`, 'notice')
    await this.report(test, result)
  }

  /** Ends the recipe file: writes RAM-mode logs, stops Python hosts and workers, restores the console. */
  async finish(): Promise<void> {
    const failed = [...this.results.values()].some((result) => result.status === 'failed')
    this.store.finishRun(this.runId, (failed ? 'failed' : 'passed') satisfies RunStatus)
    this.store.close()
    await this.logs.flush()
    this.python?.close()
    this.restoreConsole?.()
    await this.workers?.close()
  }

  /** Steps that do not run at all in this run: `--skip`ped, or before `--resume-from`. */
  private presetResult(step: RecipeStep): StepResult | undefined {
    const position = this.compiled.recipe.steps.indexOf(step)
    if (this.resume && position <= this.resume.index) {
      const { snapshot, index } = this.resume
      if (typeof snapshot === 'string') {
        if (position < index)
          return {
            status: 'skipped',
            meta: this.emptyMeta(step, 'skipped'),
            note: 'not run: --resume-from a later step',
          }
        const envelope = errorEnvelope(step.name, `cannot resume from "${step.name}": ${snapshot}`, EXIT_DEPENDENCY)
        return {
          status: 'failed',
          meta: { ...this.emptyMeta(step, 'failed'), envelope },
          failure: new StepFailedError(step, envelope, envelope.reason),
        }
      }
      if (position < index)
        return {
          status: 'resumed',
          meta: { ...this.emptyMeta(step, 'resumed'), resumedFrom: snapshot.runId },
          note: `resumed: ctx restored from run ${snapshot.runId}`,
        }
    }
    if (this.options.skip.includes(step.name)) {
      const outputs = declaredOutputs(step, this.scriptlets.get(step.name)?.outputs)
      const missing = outputs.filter((key) => !this.ctx.has(key))
      const meta = { ...this.emptyMeta(step, 'skipped'), ...(missing.length ? { missingOutputs: missing } : {}) }
      return { status: 'skipped', meta, note: 'skipped (--skip)' }
    }
    return undefined
  }

  /**
   * Makes sure every step `step` needs has run: a needed step that runs beside this one is
   * awaited; one that was filtered out runs now as setup, its own needs first. Returns the
   * step that blocks `step`, if any; throws when a step run as setup fails.
   */
  private async prepare(step: RecipeStep, setup: string[], test: StepTestContext): Promise<Blocker | undefined> {
    for (const need of step.needs) {
      let result = this.results.get(need)
      const running = result ? undefined : this.running.get(need)
      if (running) result = await running
      if (!result && this.runsBeside(need, step, test)) result = await this.waitFor(need)
      if (!result) {
        const needed = this.step(need)
        result = this.presetResult(needed)
        if (result) this.record(need, result)
        else {
          const blocker = await this.prepare(needed, setup, test)
          if (blocker) return this.blockerOf(this.record(need, this.blockedResult(needed, blocker)), need)
          result = await this.run(needed)
          setup.push(need)
          if (!this.satisfied(result)) throw new SetupStepFailedError(step.name, need, result.failure)
        }
      }
      if (!this.satisfied(result)) return this.blockerOf(result, need)
    }
    return undefined
  }

  /** Whether `need` has its own test about to run concurrently with `step` (same parallel group). */
  private runsBeside(need: string, step: RecipeStep, test: StepTestContext): boolean {
    if (!step.parallel || !this.step(need).parallel) return false
    const sibling = test.task.file.tasks.find((task) => task.name === need)
    return sibling?.mode === 'run' && sibling.result?.state !== 'pass' && sibling.result?.state !== 'fail'
  }

  private waitFor(need: string): Promise<StepResult> {
    return new Promise((resolve) => this.awaited.set(need, resolve))
  }

  private satisfied(result: StepResult): boolean {
    return (
      result.status === 'passed' ||
      result.status === 'cached' ||
      result.status === 'resumed' ||
      (result.status === 'skipped' && !result.meta.missingOutputs)
    )
  }

  private blockerOf(result: StepResult, step: string): Blocker {
    if (result.status === 'blocked')
      return { step: result.meta.blockedBy!, reason: result.meta.blockedReason ?? 'failed' }
    return { step, reason: result.status === 'skipped' ? 'skipped' : 'failed' }
  }

  private blockedResult(step: RecipeStep, blocker: Blocker): StepResult {
    const missing = this.results.get(blocker.step)?.meta.missingOutputs
    const note =
      blocker.reason === 'skipped'
        ? `blocked: ${blocker.step} was skipped and its outputs (${missing?.join(', ') ?? 'none'}) are not in ctx (dependency not satisfied)`
        : `blocked: ${blocker.step} failed`
    return {
      status: 'blocked',
      meta: { ...this.emptyMeta(step, 'blocked'), blockedBy: blocker.step, blockedReason: blocker.reason },
      note,
    }
  }

  private record(name: string, result: StepResult): StepResult {
    // Steps that did not run are stored too, so a later --resume-from finds where the run ended.
    if (result.status === 'skipped' || result.status === 'blocked' || result.status === 'resumed')
      this.storeStep(result.meta, this.restoredWrites(name))
    this.results.set(name, result)
    this.awaited.get(name)?.(result)
    this.awaited.delete(name)
    return result
  }

  private async report(test: StepTestContext, result: StepResult): Promise<void> {
    const meta = test.task.meta as RecipeTaskMeta
    meta.recipeStep = result.meta
    if (allureActive()) {
      const { reportStepToAllure } = await import('./allure.ts')
      const log = result.meta.logPath === undefined ? undefined : await this.logs.read(result.meta.logPath)
      await reportStepToAllure(result.meta, {
        testMeta: this.compiled.recipe.testMeta,
        description: this.steps.get(result.meta.step)?.description,
        log,
      })
    }
    if (result.failure) throw result.failure
    if (result.note !== undefined) test.skip(result.note)
  }

  private async run(step: RecipeStep): Promise<StepResult> {
    const execution = this.execute(step).then((result) => this.record(step.name, result))
    this.running.set(step.name, execution)
    try {
      return await execution
    } finally {
      this.running.delete(step.name)
    }
  }

  private async retry(step: RecipeStep, previous: StepResult): Promise<StepResult> {
    const reason =
      previous.meta.envelope?.status === 'error' ? previous.meta.envelope.reason : (previous.failure?.message ?? '')
    const attempts = [...previous.meta.attempts, { reason, durationMs: previous.meta.durationMs }]
    if (step.retry.on.length > 0 && !step.retry.on.some((pattern) => new RegExp(pattern).test(reason))) {
      // Not a failure this step retries on: end the remaining attempts with the same error.
      return { ...previous, meta: { ...previous.meta, attempts } }
    }
    if (step.retry.delaySec > 0) await sleep(step.retry.delaySec * 1000)
    this.ctx.restore(this.beforeFirstAttempt.get(step.name)!)
    const result = this.record(step.name, await this.execute(step))
    result.meta.attempts = attempts
    return result
  }

  private async execute(step: RecipeStep): Promise<StepResult> {
    // Only a step that may retry needs the ctx as it was before its first attempt.
    if (step.retry.max > 0 && !this.beforeFirstAttempt.has(step.name))
      this.beforeFirstAttempt.set(step.name, this.ctx.snapshot())
    const { root, recipe } = this.compiled
    this.concurrent.begin(step.name)
    const stepCtx = new StepContext(
      this.ctx,
      recipe.conflicts === 'fail' ? (key) => this.concurrent.check(step.name, key) : undefined,
    )
    const log = this.logs.open(step.idx, step.name)
    log.line(`step ${step.name} (${describeScriptlet(step)}) starts`)
    if (this.debug) log.line(`params ${JSON.stringify(step.params)}`)

    const cacheKey = step.cache
      ? stepCacheKey({
          step,
          root,
          sourceFiles: sourceFilesOf(step, this.compiled.python.path, root),
          context: this.ctx.toJSON(),
        })
      : undefined
    const cached = cacheKey !== undefined && !this.options.noCache ? this.cache.read(cacheKey) : undefined
    const started = performance.now()
    let execution: StepExecution
    if (cached) {
      log.line(`cache hit: replaying the writes of run ${cached.runId}`)
      for (const [key, value] of cached.writes) stepCtx.set(key, value, { who: step.name })
      execution = { envelope: cached.envelope, stdout: '', stderr: '', resources: { cpuMs: 0, peakRssBytes: 0 } }
    } else {
      const timeoutSec = step.timeoutSec ?? this.compiled.stepTimeoutSec
      execution = await withTimeout(timeoutSec, step.name, (signal) =>
        this.executeStep(step, { step, ctx: stepCtx, root, signal }),
      )
    }
    const durationMs = performance.now() - started
    const envelope = saveOutputs(step, execution.envelope, stepCtx)
    this.concurrent.end(step.name)
    if (this.debug) log.line(`ctx diff ${JSON.stringify(contextDiff(stepCtx.writes))}`)
    log.output(execution.stdout, execution.stderr)
    const failure = await judgeOutcome(step, { envelope, error: execution.error }, execution.stderr, this.ctx, root)
    log.line(
      failure
        ? `failed: ${failure.message.split('\n')[0]}`
        : `passed in ${Math.round(durationMs)} ms${cached ? ' (cached)' : ''}`,
    )
    // A step that passed silently has nothing to read in a log (its timing is in the meta):
    // skipping its file saves a file creation per step, the biggest cost of a no-op step.
    const logged = Boolean(failure || execution.stdout || execution.stderr || this.debug || cached)
    const logPath = logged ? log.close() : undefined

    const status: StepStatus = failure ? 'failed' : cached ? 'cached' : 'passed'
    if (cacheKey !== undefined && status === 'passed' && envelope.status === 'ok') {
      this.cache.write(cacheKey, {
        runId: this.runId,
        recipe: recipe.file,
        step: step.name,
        createdAt: new Date().toISOString(),
        envelope,
        writes: stepCtx.writes.map((write) => [write.key, write.after]),
      })
    }
    const meta: RecipeStepMeta = {
      ...this.emptyMeta(step, status),
      envelope: this.redactor.json(envelope),
      writes: stepCtx.writes.map((write) => this.redactor.json({ ...write, before: write.before ?? null })),
      durationMs,
      cpuMs: execution.resources.cpuMs,
      peakRssBytes: execution.resources.peakRssBytes,
      ...(logPath ? { logPath } : {}),
      ...(cached ? { cachedFrom: cached.runId } : {}),
    }
    this.storeStep(meta, stepCtx.writes)
    return failure ? { status, meta, failure: this.redactError(failure) } : { status, meta }
  }

  /** One step boundary, one transaction: its metrics, its writes and the ctx keys that changed. */
  private storeStep(meta: RecipeStepMeta, writes: readonly ContextWrite[]): void {
    this.store.recordStep(
      this.runId,
      stepRecordOf(meta),
      this.redactor.active
        ? writes.map((write) => ({
            ...write,
            before: write.before === undefined ? undefined : this.redactor.json(write.before),
            after: this.redactor.json(write.after),
          }))
        : writes,
      this.ctx.takeDirty().map((key) => [key, this.redactor.json(this.ctx.get(key))]),
    )
  }

  /** The writes a resumed step made in the run the ctx came from. */
  private restoredWrites(step: string): ContextWrite[] {
    const snapshot = this.resume?.snapshot
    if (!snapshot || typeof snapshot === 'string') return []
    return snapshot.writes
      .filter((write) => write.step === step)
      .map((write) => ({ ts: write.ts, who: write.who, key: write.key, before: undefined, after: write.value }))
  }

  private async executeStep(step: RecipeStep, input: ExecutorInput): Promise<StepExecution> {
    const { root, python, keyNaming } = this.compiled
    if (step.type === 'ts') {
      const scriptlet = this.scriptlets.get(step.name)!
      if (!step.requiresProcess && !scriptlet.requiresProcess) return runTypeScriptStep(scriptlet, input)
      const { CpuWorkerPool } = await import('../executors/worker-pool.ts')
      this.workers ??= new CpuWorkerPool(keyNaming)
      return this.workers.runStep(resolve(root, step.module!), input)
    }
    if (step.type === 'python' && step.module !== undefined) {
      const { PythonHostPool } = await import('../executors/python-host.ts')
      this.python ??= new PythonHostPool({ executable: python.executable, path: python.path, root })
      return this.python.runStep(input)
    }
    const { runCommandStep } = await import('../executors/command.ts')
    return runCommandStep(input, { pythonExecutable: python.executable })
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

  private emptyMeta(step: RecipeStep, status: StepStatus): RecipeStepMeta {
    return {
      runId: this.runId,
      recipe: this.compiled.recipe.file,
      testId: this.compiled.recipe.testMeta.test_id,
      step: step.name,
      idx: step.idx,
      type: step.type,
      status,
      params: this.redactor.active ? this.redactor.json(step.params) : step.params,
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

const KILL_REPORT_WAIT_MS = 3000

/**
 * Runs a step with a deadline. On timeout the signal aborts (executors kill the processes
 * and workers they started) and the step ends with a timeout error; an in-process
 * TypeScript step cannot be stopped, only abandoned (it sees tools.signal).
 */
async function withTimeout(
  timeoutSec: number,
  step: string,
  run: (signal: AbortSignal) => Promise<StepExecution>,
): Promise<StepExecution> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutSec * 1000)
  })
  const running = run(controller.signal)
  try {
    const first = await Promise.race([running, deadline])
    if (first !== 'timeout') return first
    controller.abort()
    // Killed processes report what they printed before the kill; an in-process step may never return.
    const killed = await Promise.race([running, sleep(KILL_REPORT_WAIT_MS).then(() => undefined)])
    return {
      envelope: errorEnvelope(step, `timed out after ${timeoutSec} s`, EXIT_FAILED, { timeout_sec: timeoutSec }),
      stdout: killed?.stdout ?? '',
      stderr: killed?.stderr ?? '',
      resources: killed?.resources ?? { cpuMs: 0, peakRssBytes: 0 },
    }
  } finally {
    clearTimeout(timer)
  }
}

/** Redacts secrets in what tests print through the console; returns the undo. */
function redactConsole(redactor: Redactor): () => void {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const
  const originals = methods.map((method) => console[method])
  methods.forEach((method, i) => {
    const original = originals[i]!
    console[method] = (...args: unknown[]) =>
      original.apply(
        console,
        args.map((arg) => (typeof arg === 'string' ? redactor.text(arg) : arg)),
      )
  })
  return () => {
    methods.forEach((method, i) => {
      console[method] = originals[i]!
    })
  }
}

function vitestVersion(): string {
  try {
    return (createRequire(import.meta.url)('vitest/package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}
