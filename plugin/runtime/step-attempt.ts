import { resolve } from 'node:path'
import type { ContextWrite } from '../context/context.ts'
import { StepContext } from '../context/step-context.ts'
import type { ExecutorInput, StepExecution } from '../executors/types.ts'
import { noteOtherWork } from '../executors/own-peak-rss.ts'
import { runTypeScriptStep } from '../executors/typescript.ts'
import { IN_PROCESS_RETURN_WAIT_MS, STOPPED_STEP_REPORT_WAIT_MS, stepTimeoutMs } from '../recipe/step-deadline.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { OkEnvelope } from '../scriptlet/envelope.ts'
import { envelopeFromError } from '../scriptlet/invoke.ts'
import type { MaybePromise } from '../scriptlet/maybe-async.ts'
import { runWithDeadline } from './deadline.ts'
import { StepFailedError } from './errors.ts'
import type { RunScope } from './step-record.ts'
import type { CacheEntry } from './step-cache.ts'
import { stepCacheKey } from './step-cache.ts'
import { withoutStepMetrics } from './step-metrics.ts'
import { takeMaskDirectives } from './redact.ts'
import type { StepLog } from './step-log.ts'
import type { CapturedOutput } from './output-capture.ts'
import type { StepTest } from './test-console.ts'
import { contextDiff, judgeOutcome, saveOutputs, sourceFilesOf } from './step-outcome.ts'

/** One attempt's outcome: what the executor (or the cache) produced, `save:` applied, and the recipe's judgement of it. */
export interface Attempt {
  execution: StepExecution
  failure: Error | undefined
  writes: ContextWrite[]
  durationMs: number
  /** When the attempt began, on the wall clock (ms since the epoch): where it sits on the run's timeline. */
  startedAtMs: number
  cached?: CacheEntry
}

/** What an attempt runs with, besides its step and run. */
export interface AttemptRequest {
  /** The test the step runs in: what an in-process step prints shows under it. */
  test?: StepTest | undefined
  /** Vitest's abort signal of the test (with the runner's own: a lab resource lost). */
  testSignal?: AbortSignal | undefined
  /** Variables for the processes the step starts, besides the run's. */
  env?: Record<string, string> | undefined
}

/**
 * One attempt: the cache, or the scriptlet under the step's deadline (the executor boundary:
 * an in-process scriptlet that awaits nothing runs and returns at once, see deadline.ts),
 * then the recipe's judgement. Never throws.
 */
export async function attemptStep(
  step: RecipeStep,
  scope: RunScope,
  log: StepLog,
  request: AttemptRequest,
): Promise<Attempt> {
  const attempt = new StepAttempt(step, scope, log, request.test)
  let execution: StepExecution
  try {
    execution = await attempt.execute(request.testSignal, request.env)
  } catch (error) {
    execution = attempt.errored(error)
  }
  return attempt.conclude(execution)
}

class StepAttempt {
  private readonly step: RecipeStep
  private readonly scope: RunScope
  private readonly log: StepLog
  private readonly ctx: StepContext
  /** What the step prints through the console (in-process steps), and the test it shows under. */
  private readonly printed: CapturedOutput
  private readonly startedAt: number
  /** The wall clock at the start (the one reading a step adds): monotonic time says how long, this says when. */
  private readonly startedAtMs: number
  /** Why the step is over, once it is: its later ctx writes are refused. */
  private ended: string | undefined
  private cacheKey: string | undefined
  private cached: CacheEntry | undefined

  constructor(step: RecipeStep, scope: RunScope, log: StepLog, test: StepTest | undefined) {
    this.printed = { stdout: [], stderr: [], test }
    this.step = step
    this.scope = scope
    this.log = log
    const { recipe } = scope.compiled
    this.ctx = new StepContext(scope.started.ctx, (key) => {
      // An abandoned in-process step (timed out) must not change the ctx the next steps read.
      if (this.ended !== undefined)
        throw new Error(`step "${step.name}" already ended (${this.ended}): its write of ${key} is refused`)
      if (recipe.conflicts === 'fail') scope.concurrent.check(step.name, key)
    })
    scope.concurrent.begin(step.name)
    scope.session.stepStarted(step.name)
    this.startedAtMs = Date.now()
    this.startedAt = performance.now()
  }

  /** The cached result, or the executor's under the step's deadline; `save:` applied. */
  async execute(testSignal: AbortSignal | undefined, stepEnv?: Record<string, string>): Promise<StepExecution> {
    const { step, scope } = this
    const { compiled, started } = scope
    try {
      if (step.cache)
        this.cacheKey = stepCacheKey({
          step,
          root: compiled.root,
          sourceFiles: sourceFilesOf(step, compiled.python.path, compiled.root),
          // The runner's figures of earlier steps (step_metrics) differ every run: they would make every key new.
          context: withoutStepMetrics(started.ctx.toJSON()),
        })
    } catch (error) {
      throw new Error(`cache: cannot compute the step's cache key (${message(error)}); check cache.inputs`)
    }
    const cached = this.cacheKey !== undefined && !scope.options.noCache ? started.cache.read(this.cacheKey) : undefined
    if (cached) {
      this.cached = cached
      this.log.line(`cache hit: replaying the writes of run ${cached.runId}`)
      for (const [key, value] of cached.writes) this.ctx.set(key, value, { who: step.name })
      return this.saved({ envelope: cached.envelope, stdout: '', stderr: '', resources: zero() })
    }
    const env = stepEnv ? { ...scope.session.childEnv, ...stepEnv } : scope.session.childEnv
    const input = new AttemptInput(step, this.ctx, scope, this.log, env)
    const result = runWithDeadline(
      stepTimeoutMs(step, compiled.stepTimeoutSec),
      runsInProcess(step, scope) ? IN_PROCESS_RETURN_WAIT_MS : STOPPED_STEP_REPORT_WAIT_MS,
      step.name,
      testSignal,
      input,
      () => scope.session.capture.run(this.printed, () => runExecutor(step, scope, input)),
      (why) => {
        this.ended = why === 'timeout' ? 'it timed out' : 'Vitest aborted it'
      },
    )
    return this.afterExecutor(await result, input)
  }

  /** What a step that threw (or whose executor did) produced. */
  errored(error: unknown): StepExecution {
    return { envelope: envelopeFromError(error, this.step.name), error, stdout: '', stderr: '', resources: zero() }
  }

  /** Ends the attempt: later writes refused, output capture and conflict window closed, the outcome judged. */
  async conclude(execution: StepExecution): Promise<Attempt> {
    const { step, scope } = this
    this.ended ??= 'it returned'
    scope.session.capture.release(this.printed)
    scope.concurrent.end(step.name)
    scope.session.stepEnded(step.name)
    const durationMs = performance.now() - this.startedAt
    if (scope.started.debug) this.log.line(`ctx diff ${JSON.stringify(contextDiff(this.ctx.writes))}`)
    this.log.output(execution.stdout, execution.stderr)
    const couldNotJudge = (error: unknown) =>
      new StepFailedError(step, execution.envelope, `could not be judged: ${message(error)}`, error)
    let failure: Error | undefined
    try {
      failure = await judgeOutcome(
        step,
        execution,
        execution.stderr,
        scope.started.ctx,
        scope.compiled.root,
        scope.session.redactor,
      )
    } catch (error) {
      failure = couldNotJudge(error)
    }
    return this.outcome(execution, failure, durationMs)
  }

  private afterExecutor(result: StepExecution, input: AttemptInput): StepExecution {
    // A step that printed nothing (most in-process steps) has no output to merge or scan.
    if (result.stderr === '' && this.printed.stdout.length === 0 && this.printed.stderr.length === 0)
      return this.saved(result)
    let execution = withPrinted(result, this.printed)
    // Shell, exec and Python steps declare derived secrets on stderr (`::add-mask::<value>`).
    const directives = takeMaskDirectives(execution.stderr)
    for (const value of directives.values) input.declareSecret(value)
    if (directives.values.length > 0) execution = { ...execution, stderr: directives.rest }
    return this.saved(execution)
  }

  /** `save:` applied: the envelope it leaves replaces the executor's. */
  private saved(execution: StepExecution): StepExecution {
    const envelope = saveOutputs(this.step, execution.envelope, this.ctx)
    if (envelope !== execution.envelope) execution.envelope = envelope
    return execution
  }

  /** The attempt's outcome; a passing result is cached when the step asks. */
  private outcome(execution: StepExecution, failure: Error | undefined, durationMs: number): Attempt {
    const envelope = execution.envelope
    if (this.cacheKey !== undefined && !failure && !this.cached && envelope.status === 'ok')
      this.cache(this.cacheKey, envelope)
    const attempt: Attempt = { execution, failure, writes: this.ctx.writes, durationMs, startedAtMs: this.startedAtMs }
    if (this.cached) attempt.cached = this.cached
    return attempt
  }

  private cache(key: string, envelope: OkEnvelope): void {
    const { step, scope } = this
    const entry: CacheEntry = {
      runId: scope.session.runId,
      recipe: scope.compiled.recipe.file,
      step: step.name,
      createdAt: new Date().toISOString(),
      envelope,
      writes: this.ctx.writes.map((write) => [write.key, write.after]),
    }
    const text = JSON.stringify(entry)
    const redactor = scope.session.redactor
    // A cache file is plain text on disk: a result that holds a secret value is never written there.
    if (redactor.active && redactor.text(text) !== text) {
      this.log.line('cache: not cached, the result holds a secret value')
      return
    }
    try {
      scope.started.cache.write(key, text)
    } catch (error) {
      this.log.line(`cache: the result was not cached (${message(error)})`)
    }
  }
}

/**
 * What an executor gets for one attempt. A class, not an object literal: a literal with a
 * getter is built slowly (a dictionary object), and a step builds one per attempt.
 */
class AttemptInput implements ExecutorInput {
  readonly step: RecipeStep
  readonly ctx: StepContext
  readonly root: string
  readonly env: Readonly<Record<string, string>> | undefined
  private readonly scope: RunScope
  private readonly log: StepLog
  private controller: AbortController | undefined
  private stopped = false

  constructor(
    step: RecipeStep,
    ctx: StepContext,
    scope: RunScope,
    log: StepLog,
    env: Readonly<Record<string, string>> | undefined,
  ) {
    this.step = step
    this.ctx = ctx
    this.root = scope.compiled.root
    this.scope = scope
    this.log = log
    this.env = env
  }

  /** Created when an executor first asks for it: an AbortController costs more than a no-op step. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController()
    if (this.stopped) this.controller.abort()
    return this.controller.signal
  }

  /** The step ran out of time or was aborted: whatever the executor started is told to stop. */
  stop(): void {
    this.stopped = true
    this.controller?.abort()
  }

  /** A value derived from a secret, masked from now on. */
  readonly declareSecret = (value: string): void => {
    if (!this.scope.session.redactor.add(value))
      this.log.line('a value declared secret was not masked: it is shorter than 4 characters')
  }

  /** How far the step is (tools.progress, `::progress::` lines): the terminal and the dashboard. */
  readonly progress = (percent: number, message?: string): void => {
    this.scope.session.stepProgress(this.step.name, percent, message)
  }
}

/** In-process TypeScript steps run here and now (synchronously when they can); the others in their own processes. */
function runExecutor(step: RecipeStep, scope: RunScope, input: ExecutorInput): MaybePromise<StepExecution> {
  if (runsInProcess(step, scope)) return runTypeScriptStep(scope.scriptlets.get(step.name)!, input)
  return runElsewhere(step, scope, input)
}

/** Whether the step is a TypeScript scriptlet run in this thread (not in a worker thread or a process). */
function runsInProcess(step: RecipeStep, scope: RunScope): boolean {
  return step.type === 'ts' && !step.requiresProcess && !scope.scriptlets.get(step.name)?.requiresProcess
}

async function runElsewhere(step: RecipeStep, scope: RunScope, input: ExecutorInput): Promise<StepExecution> {
  noteOtherWork()
  const { root, python, keyNaming, ctxValueMaxBytes } = scope.compiled
  const session = scope.session
  if (step.type === 'ts') {
    const { CpuWorkerPool } = await import('../executors/worker-pool.ts')
    session.workers ??= new CpuWorkerPool(keyNaming, ctxValueMaxBytes)
    return session.workers.runStep(resolve(root, step.module!), input)
  }
  if (step.type === 'python' && step.module !== undefined) {
    const { PythonHostPool } = await import('../executors/python-host.ts')
    session.python ??= new PythonHostPool({ executable: python.executable, path: python.path, root })
    return session.python.runStep(input)
  }
  session.commandSteps = true
  const { runCommandStep } = await import('../executors/command.ts')
  return runCommandStep(input, { pythonExecutable: python.executable })
}

/** What an in-process step printed comes before what its executor collected (tools.log). */
function withPrinted(execution: StepExecution, printed: { stdout: string[]; stderr: string[] }): StepExecution {
  if (printed.stdout.length === 0 && printed.stderr.length === 0) return execution
  return {
    ...execution,
    stdout: printed.stdout.join('') + execution.stdout,
    stderr: printed.stderr.join('') + execution.stderr,
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function zero(): StepExecution['resources'] {
  return { cpuMs: 0, peakRssBytes: 0, peakRssMeasured: false }
}
