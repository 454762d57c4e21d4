import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ContextWrite } from '../context/context.ts'
import { StepContext } from '../context/step-context.ts'
import type { ExecutorInput, StepExecution } from '../executors/types.ts'
import { runTypeScriptStep } from '../executors/typescript.ts'
import { stepTimeoutMs } from '../recipe/step-deadline.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { EXIT_FAILED, type Envelope, errorEnvelope } from '../scriptlet/envelope.ts'
import { envelopeFromError } from '../scriptlet/invoke.ts'
import type { ConcurrentWrites } from './concurrent-writes.ts'
import { runWithDeadline } from './deadline.ts'
import { describeScriptlet, StepFailedError } from './errors.ts'
import type { AttemptRecord, RecipeStepMeta, StepStatus } from './meta.ts'
import type { RunSession, Started } from './run-session.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import type { CacheEntry } from './step-cache.ts'
import { stepCacheKey } from './step-cache.ts'
import { takeMaskDirectives } from './redact.ts'
import type { StepLog } from './step-log.ts'
import { contextDiff, judgeOutcome, saveOutputs, sourceFilesOf } from './step-outcome.ts'

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
  /** The record of a step before anything is known of its outcome. */
  emptyMeta(step: RecipeStep, status: StepStatus): RecipeStepMeta
}

export interface ExecutionRequest {
  /** The selected step this one runs for as setup (it was filtered out). */
  setupFor?: string
  /** Steps this one ran first as setup. */
  setup: string[]
  /** Vitest's abort signal of the test the step runs in. */
  testSignal?: AbortSignal
}

/** One attempt's outcome. */
interface Attempt {
  envelope: Envelope
  execution: StepExecution
  failure: Error | undefined
  writes: ContextWrite[]
  durationMs: number
  cached?: CacheEntry
  stopped?: 'timeout' | 'aborted'
}

/**
 * The life of one step, from start to record: its attempts (retried as `retry:` says, the
 * ctx restored before each), its log, which always ends with the outcome, and its row in
 * the store. Never throws: whatever a scriptlet throws, or a log or store write refuses,
 * ends as the step's outcome, computed once.
 */
export async function executeStep(
  step: RecipeStep,
  scope: ExecutionScope,
  request: ExecutionRequest,
): Promise<StepResult> {
  const { ctx, logs, debug } = scope.started
  const log = logs.open(step.idx, step.name)
  const role = request.setupFor === undefined ? '' : ` as setup for ${request.setupFor}`
  log.line(`step ${step.name} (${describeScriptlet(step)}) starts${role}`)
  if (debug) log.line(`params ${JSON.stringify(step.params)}`)

  const maxAttempts = step.retry.max + 1
  const before = maxAttempts > 1 ? ctx.snapshot() : undefined
  const attempts: AttemptRecord[] = []
  let attempt: Attempt | undefined
  for (let number = 1; number <= maxAttempts; number++) {
    if (number > 1) {
      log.line(`attempt ${number} of ${maxAttempts}${step.retry.delaySec > 0 ? ` after ${step.retry.delaySec} s` : ''}`)
      if (step.retry.delaySec > 0) await sleep(step.retry.delaySec * 1000)
      ctx.restore(before!)
    }
    attempt = await attemptStep(step, scope, log, request.testSignal)
    const reason = attempt.failure ? failureReason(attempt) : undefined
    attempts.push({
      attempt: number,
      status: attempt.failure ? 'failed' : 'passed',
      ...(reason === undefined ? {} : { reason }),
      durationMs: attempt.durationMs,
    })
    if (!attempt.failure || number === maxAttempts) break
    if (!retries(step, reason!)) {
      log.line(`failed: ${firstLine(reason!)} (not retried: the reason does not match retry.on)`)
      break
    }
    log.line(`attempt ${number} failed: ${firstLine(reason!)}`)
  }
  const last = attempt!
  let failure = last.failure
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
    failure || last.execution.stdout || last.execution.stderr || debug || status !== 'passed' || attempts.length > 1,
  )
  let logPath: string | undefined
  if (logged) {
    const closed = log.close()
    logPath = closed.path
    try {
      await closed.written
    } catch (error) {
      failure = new StepFailedError(
        step,
        last.envelope,
        `its log ${closed.path} could not be written: ${message(error)}`,
      )
    }
  }
  const redact = scope.session.redactor
  const meta: RecipeStepMeta = {
    ...scope.emptyMeta(step, failure ? 'failed' : status),
    envelope: redact.json(last.envelope),
    writes: last.writes.map((write) => redact.json({ ...write, before: write.before ?? null })),
    durationMs: attempts.reduce((sum, item) => sum + item.durationMs, 0),
    cpuMs: last.execution.resources.cpuMs,
    peakRssBytes: last.execution.resources.peakRssMeasured === false ? null : last.execution.resources.peakRssBytes,
    setup: request.setup,
    attempts: attempts.map((item) =>
      item.reason === undefined ? item : { ...item, reason: redact.text(item.reason) },
    ),
    ...(failure ? { reason: redact.text(failureReason({ ...last, failure })) } : {}),
    ...(expectedError && last.envelope.status === 'error' ? { reason: redact.text(last.envelope.reason) } : {}),
    ...(request.setupFor === undefined ? {} : { setupFor: request.setupFor }),
    ...(logPath ? { logPath } : {}),
    ...(last.cached ? { cachedFrom: last.cached.runId } : {}),
    ...(last.stopped ? { timedOut: true } : {}),
  }
  return recordResult(step, scope, { meta, ...(failure ? { failure } : {}) }, last.writes)
}

/**
 * Stores a step's outcome. When the store refuses it, the step fails with that reason and
 * a plain row (no writes, no envelope) is tried, so the store still shows a failure.
 */
export function recordResult(
  step: RecipeStep,
  scope: ExecutionScope,
  result: StepResult,
  writes: readonly ContextWrite[],
): StepResult {
  try {
    scope.session.recordStep(result.meta, writes)
    return result
  } catch (error) {
    const reason = `the run store could not record this step: ${message(error)}`
    const meta: RecipeStepMeta = {
      ...result.meta,
      status: 'failed',
      reason: result.meta.reason ? `${result.meta.reason}; ${reason}` : reason,
      writes: [],
    }
    delete meta.envelope
    try {
      scope.session.recordStep(meta, [])
    } catch {
      // The store is gone for this step: the test failure below is then the only record.
    }
    const envelope = errorEnvelope(step.name, reason, EXIT_FAILED)
    return { meta, failure: new StepFailedError(step, envelope, reason, result.failure ?? error) }
  }
}

/** One attempt: the cache, or the scriptlet under the step's deadline, then the recipe's judgement. */
async function attemptStep(
  step: RecipeStep,
  scope: ExecutionScope,
  log: StepLog,
  testSignal: AbortSignal | undefined,
): Promise<Attempt> {
  const { compiled, started, concurrent } = scope
  const { root, recipe } = compiled
  const { ctx, cache } = started
  const redactor = scope.session.redactor
  const declare = (value: string) => {
    if (!redactor.add(value)) log.line('a value declared secret was not masked: it is shorter than 4 characters')
  }
  let ended: string | undefined
  const stepCtx = new StepContext(ctx, (key) => {
    // An abandoned in-process step (timed out) must not change the ctx the next steps read.
    if (ended !== undefined)
      throw new Error(`step "${step.name}" already ended (${ended}): its write of ${key} is refused`)
    if (recipe.conflicts === 'fail') concurrent.check(step.name, key)
  })
  concurrent.begin(step.name)
  const printed = { stdout: [] as string[], stderr: [] as string[] }
  const startedAt = performance.now()
  let execution: StepExecution
  let cacheKey: string | undefined
  let cached: CacheEntry | undefined
  let stopped: 'timeout' | 'aborted' | undefined
  let envelope: Envelope
  try {
    try {
      if (step.cache)
        cacheKey = stepCacheKey({
          step,
          root,
          sourceFiles: sourceFilesOf(step, compiled.python.path, root),
          context: ctx.toJSON(),
        })
    } catch (error) {
      throw new Error(`cache: cannot compute the step's cache key (${message(error)}); check cache.inputs`)
    }
    cached = cacheKey !== undefined && !scope.options.noCache ? cache.read(cacheKey) : undefined
    if (cached) {
      log.line(`cache hit: replaying the writes of run ${cached.runId}`)
      for (const [key, value] of cached.writes) stepCtx.set(key, value, { who: step.name })
      execution = { envelope: cached.envelope, stdout: '', stderr: '', resources: zero() }
    } else {
      const timeoutMs = stepTimeoutMs(step, compiled.stepTimeoutSec)
      const result = await runWithDeadline(
        timeoutMs,
        step.name,
        testSignal,
        (signal) =>
          scope.session.capture.run(printed, () =>
            runExecutor(step, scope, {
              step,
              ctx: stepCtx,
              root,
              get signal() {
                return signal()
              },
              declareSecret: declare,
            }),
          ),
        (why) => {
          ended = why === 'timeout' ? 'it timed out' : 'Vitest aborted it'
        },
      )
      execution = withPrinted(result.execution, printed)
      // Shell, exec and Python steps declare derived secrets on stderr (`::add-mask::<value>`).
      const directives = takeMaskDirectives(execution.stderr)
      for (const value of directives.values) declare(value)
      if (directives.values.length > 0) execution = { ...execution, stderr: directives.rest }
      stopped = result.stopped
    }
    envelope = saveOutputs(step, execution.envelope, stepCtx)
  } catch (error) {
    execution = { envelope: envelopeFromError(error, step.name), error, stdout: '', stderr: '', resources: zero() }
    envelope = execution.envelope
  } finally {
    ended ??= 'it returned'
    scope.session.capture.release(printed)
    concurrent.end(step.name)
  }
  const durationMs = performance.now() - startedAt
  if (started.debug) log.line(`ctx diff ${JSON.stringify(contextDiff(stepCtx.writes))}`)
  log.output(execution.stdout, execution.stderr)
  let failure: Error | undefined
  try {
    const judged = judgeOutcome(step, { envelope, error: execution.error }, execution.stderr, ctx, root)
    failure = judged instanceof Promise ? await judged : judged
  } catch (error) {
    failure = new StepFailedError(step, envelope, `could not be judged: ${message(error)}`, error)
  }
  if (cacheKey !== undefined && !failure && !cached && envelope.status === 'ok') {
    const entry: CacheEntry = {
      runId: scope.session.runId,
      recipe: recipe.file,
      step: step.name,
      createdAt: new Date().toISOString(),
      envelope,
      writes: stepCtx.writes.map((write) => [write.key, write.after]),
    }
    const text = JSON.stringify(entry)
    // A cache file is plain text on disk: a result that holds a secret value is never written there.
    if (redactor.active && redactor.text(text) !== text) log.line('cache: not cached, the result holds a secret value')
    else {
      try {
        cache.write(cacheKey, text)
      } catch (error) {
        log.line(`cache: the result was not cached (${message(error)})`)
      }
    }
  }
  return {
    envelope,
    execution,
    failure,
    writes: stepCtx.writes,
    durationMs,
    ...(cached ? { cached } : {}),
    ...(stopped ? { stopped } : {}),
  }
}

async function runExecutor(step: RecipeStep, scope: ExecutionScope, input: ExecutorInput): Promise<StepExecution> {
  const { root, python, keyNaming } = scope.compiled
  const session = scope.session
  if (step.type === 'ts') {
    const scriptlet = scope.scriptlets.get(step.name)!
    if (!step.requiresProcess && !scriptlet.requiresProcess) return runTypeScriptStep(scriptlet, input)
    const { CpuWorkerPool } = await import('../executors/worker-pool.ts')
    session.workers ??= new CpuWorkerPool(keyNaming)
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

function zero(): StepExecution['resources'] {
  return { cpuMs: 0, peakRssBytes: 0, peakRssMeasured: false }
}
