import { existsSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import { prestartPythonHost } from '../executors/python-host-process.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { toJsonSafe } from '../scriptlet/json-safe.ts'
import { ConcurrentWrites } from './concurrent-writes.ts'
import { describeAttempts, type AttemptRecord, type RecipeTaskMeta, runStatusOf, setupNote } from './meta.ts'
import { preloadLiveServer } from './live-session.ts'
import { POLL_MS, ResourceHolds, seconds } from './resource-holds.ts'
import { readMaxConcurrency, readRunOptions } from './run-options.ts'
import { RunSession, type Started } from './run-session.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import { StepLives } from './step-life.ts'
import { StepMetrics } from './step-metrics.ts'
import { StepPlanner, type StepTestContext } from './step-plan.ts'
import type { StepResult } from './step-record.ts'

export type { StepTestContext } from './step-plan.ts'

/** The note on a retried step's test: what its attempts came to, then each attempt (a single one is the failure itself). */
function attemptsNote(summary: string, attempts: readonly AttemptRecord[]): string {
  if (attempts.length <= 1) return summary
  const each = attempts.map(
    (attempt) => `attempt ${attempt.attempt}: ${attempt.status}${attempt.reason ? ` (${attempt.reason})` : ''}`,
  )
  return `${summary} (${each.join('; ')})`
}

/** A Vitest annotation of a step's test: what any reporter shows of the step beside its test. */
export interface StepAnnotation {
  message: string
  /** Vitest's annotation type: `error` (failed), `warning` (blocked), `notice` (everything else). */
  type: 'error' | 'warning' | 'notice'
  /** The step's log, a file Vitest copies into its attachments folder (already masked on disk). */
  attachment?: { path: string; contentType: string }
}

/**
 * What a step's test says of it in any Vitest reporter: why it failed or was blocked, that it
 * ran steps first as setup, was replayed from the cache, passed on a later attempt or waited
 * for lab resources, and its log. Every message is masked as the step's output is.
 */
export function stepAnnotations(
  result: StepResult,
  root: string,
  redactor: { text(text: string): string },
): StepAnnotation[] {
  const { meta } = result
  const notes: StepAnnotation[] = []
  const say = (message: string, type: StepAnnotation['type']) => {
    const note: StepAnnotation = { message: redactor.text(message), type }
    notes.push(note)
    return note
  }
  // Why the step did not pass names its log (the reader opens it next).
  let why: StepAnnotation | undefined
  if (meta.status === 'failed')
    why = say(`failed: ${meta.reason ?? result.failure?.message ?? 'no reason given'}`, 'error')
  if (meta.status === 'blocked')
    why = say(meta.reason ?? result.note ?? `blocked: ${meta.blockedBy} did not pass`, 'warning')
  if (why && meta.logPath !== undefined) why.message += ` (log: ${meta.logPath})`
  const setup = setupNote(meta)
  if (setup) say(setup, 'notice')
  if (meta.status === 'cached') say(`cached: replayed the ctx writes of run ${meta.cachedFrom}`, 'notice')
  const attempts = describeAttempts(meta)
  if (attempts !== undefined) say(attemptsNote(attempts, meta.attempts), 'notice')
  const waitedMs = (meta.envelope?.metrics as { resource_wait_ms?: unknown } | undefined)?.resource_wait_ms
  // A wait shorter than one poll is the lock's own round trip, not another run holding a resource.
  if (typeof waitedMs === 'number' && waitedMs >= POLL_MS)
    say(`waited ${seconds(waitedMs)} for lab resources before running`, 'notice')
  if (meta.logPath !== undefined) {
    const path = resolve(root, meta.logPath)
    // A log kept in RAM (ramLogs) reaches the disk when the run ends: nothing to attach yet.
    // Its own annotation with a short message: Vitest names its copy of the file after the
    // message, and a reason as long as a file name allows made that copy, and the test, fail.
    if (existsSync(path))
      notes.push({
        message: `log: ${basename(meta.logPath)}`,
        type: 'notice',
        attachment: { path, contentType: 'text/plain' },
      })
  }
  return notes
}

/**
 * Runs a recipe's steps inside their tests, one instance per recipe file: the first step
 * starts the run (run-session.ts), each step's life is step-life.ts's, and each test ends as
 * its step's outcome says. Nothing happens at import: the run starts with its first step.
 */
export class RecipeRun {
  private readonly compiled: CompiledRecipe
  private readonly scriptlets: ReadonlyMap<string, Scriptlet>
  private readonly options: RunOptions
  private readonly session: RunSession
  private readonly planner: StepPlanner
  /** The steps' lives, once the run has started. */
  private lives: StepLives | undefined
  private holds: ResourceHolds | undefined

  constructor(compiled: CompiledRecipe, scriptlets: ReadonlyMap<string, Scriptlet>, runId: string) {
    this.compiled = compiled
    this.scriptlets = scriptlets
    this.options = readRunOptions()
    this.session = new RunSession(compiled, runId, this.options, scriptlets)
    this.planner = new StepPlanner(compiled, scriptlets, this.session, this.options, readMaxConcurrency())
    // The first python module step need not wait for the interpreter: it starts while Vitest collects (runs nothing).
    if (compiled.ctxServer) preloadLiveServer()
    if (compiled.recipe.steps.some((step) => step.type === 'python' && step.module !== undefined))
      prestartPythonHost({ executable: compiled.python.executable, path: compiled.python.path, root: compiled.root })
  }

  /** Called by each generated step test: the step's outcome, then its test ends as that says. */
  async runStep(name: string, test: StepTestContext): Promise<void> {
    const step = this.planner.step(name)
    const lives = this.lives ?? (await this.start(test))
    await this.conclude(test, await lives.outcome(step, test))
  }

  /** The first step starts the run (the store, the ctx, the logs). */
  private async start(test: StepTestContext): Promise<StepLives> {
    let started: Started
    try {
      started = await this.session.start(this.planner.selectionOf(test))
    } catch (error) {
      throw new Error(`vitest-recipes: the run could not start: ${(error as Error).message}`)
    }
    this.lives ??= this.livesOf(started)
    return this.lives
  }

  private livesOf(started: Started): StepLives {
    const { compiled, session } = this
    this.holds = started.locks
      ? new ResourceHolds({
          client: started.locks,
          runId: session.runId,
          testId: compiled.recipe.testMeta.test_id,
          recipeResources: compiled.recipe.resources,
          waitSec: compiled.resourceWaitSec,
          holdMaxSec: compiled.resourceHoldMaxSec,
          say: (step, line) => session.say(step, line),
        })
      : undefined
    const scope = {
      compiled,
      scriptlets: this.scriptlets,
      session,
      started,
      options: this.options,
      concurrent: new ConcurrentWrites(),
      stepMetrics: compiled.recipe.stepMetrics ? new StepMetrics() : undefined,
      holds: this.holds,
    }
    return new StepLives(scope, this.planner)
  }

  /** Ends a step's test as its outcome says: its record on the test, its notes, then pass, fail or skip. */
  private async conclude(test: StepTestContext, result: StepResult): Promise<void> {
    for (const note of stepAnnotations(result, this.compiled.root, this.session.redactor)) {
      await test.annotate?.(note.message, note.type, ...(note.attachment ? [note.attachment] : []))
    }
    this.report(test, result)
  }

  /** Ends the recipe file: the run's status from its steps', then every resource released. */
  async finish(): Promise<void> {
    const statuses = [...(this.lives?.results() ?? [])].map((result) => result.meta.status)
    try {
      // Before the run's status: whoever waits for its resources goes on as soon as it ends.
      await this.holds?.releaseAll()
    } catch (error) {
      console.warn(
        `vitest-recipes: could not release the run's lab resources (${(error as Error).message}); they are released when their lease runs out`,
      )
    }
    await this.session.finish(runStatusOf(statuses))
  }

  /** The step's record on its test (reporters read it), then pass, fail or skip. */
  private report(test: StepTestContext, result: StepResult): void {
    const meta = test.task.meta as RecipeTaskMeta
    meta.recipeStep = result.meta
    if (result.failure) throw this.redactError(result.failure)
    if (result.note !== undefined) test.skip(result.note)
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
}
