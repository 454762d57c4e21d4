import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Context, type ContextWrite } from '../context/context.ts'
import type { PythonHostPool } from '../executors/python-host.ts'
import type { CpuWorkerPool } from '../executors/worker-pool.ts'
import type { DeclaringScriptlet } from '../recipe/preflight.ts'
import { AppendQueue } from '../store/append-queue.ts'
import type { HistoryWrite } from '../store/history-delta.ts'
import { locateStore } from '../store/kept-store.ts'
import type { RunRecorder, RunStatus } from '../store/run-store.ts'
import type { RunSelection } from '../store/run-selection.ts'
import { givesChildEnv, LiveSession } from './live-session.ts'
import { type RecipeStepMeta, stepRowOf } from './meta.ts'
import { OutputCapture } from './output-capture.ts'
import { createRedactor, parseSecretNames, type Redactor } from './redact.ts'
import type { LockClient } from './resource-holds.ts'
import { beginRecordedRun, openRunRecorder, type ResumePoint, RunHistory, runLockClient } from './run-recorder.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import { StepCache } from './step-cache.ts'
import { StepLogs } from './step-log.ts'
import type { StepTest } from './test-console.ts'

export type { ResumePoint } from './run-recorder.ts'

/**
 * The resources of one run of a recipe file, acquired when its first step starts, never
 * when the module is imported: `vitest list` and the IDE's test discovery import recipe
 * modules and run nothing, so they must leave no run behind. `finish` releases each one
 * whatever happened to the others.
 */
export class RunSession {
  readonly runId: string
  readonly redactor: Redactor
  readonly capture: OutputCapture
  private readonly compiled: CompiledRecipe
  private readonly options: RunOptions
  private starting: Promise<Started> | undefined
  /** What the first step set up, once it has. */
  current: Started | undefined
  // Child-process and worker executors load on first use: most recipe files need none (execa, tinypool).
  python: PythonHostPool | undefined
  workers: CpuWorkerPool | undefined
  /** Whether a step ran a program (shell, exec, python script): they share the run's ctx files. */
  commandSteps = false
  /** The run's ctx server (plugin option ctxServer), the running steps and their progress. */
  private readonly live: LiveSession
  /** The test each step runs in (a setup step: the selected test's): where the plugin's lines about it show. */
  private readonly tests = new Map<string, StepTest>()
  /** What every process a step starts gets in its env (the ctx server's URL and token, run id, CLI), once it is up (`ctxServed`). */
  get childEnv(): Readonly<Record<string, string>> | undefined {
    return this.live.env
  }

  /** What the run's history recorded of each key: its next write is recorded as a change of it. */
  private readonly history: RunHistory
  /** The recipe's TypeScript scriptlets, by step: what they declare they read decides whether a resume may go ahead. */
  private readonly scriptlets: ReadonlyMap<string, DeclaringScriptlet>

  constructor(
    compiled: CompiledRecipe,
    runId: string,
    options: RunOptions,
    scriptlets: ReadonlyMap<string, DeclaringScriptlet> = new Map(),
  ) {
    this.compiled = compiled
    this.scriptlets = scriptlets
    this.runId = runId
    this.options = options
    this.redactor = createRedactor([...compiled.recipe.secrets, ...parseSecretNames(compiled.secrets)])
    this.history = new RunHistory(this.redactor)
    this.capture = new OutputCapture(compiled.recipe.steps.some((step) => step.parallel))
    this.live = new LiveSession({
      runId,
      recipe: compiled.recipe,
      redactor: this.redactor,
      record: (writes) => this.recordWrites(writes),
      say: (step, line) => this.say(step, line),
    })
  }

  /** What the first step needs: the store with this run's row, logs, the ctx (restored when resuming). Once. */
  start(selection?: RunSelection): Promise<Started> {
    this.starting ??= this.setUp(selection).then((started) => {
      this.current = started
      return started
    })
    return this.starting
  }

  /**
   * Resolves once the run's ctx server is up, so that `childEnv` names it; undefined when
   * there is nothing to wait for (it is up, or not served). A step that starts a process
   * waits for it first. Rejects when the server could not start.
   */
  ctxServed(): Promise<void> | undefined {
    return this.live.ready()
  }

  private async setUp(selection: RunSelection | undefined): Promise<Started> {
    const { recipe, root } = this.compiled
    // The older framework's switches: a store_on_ram.txt file keeps logs in memory; "debug" in it logs more.
    const markerFile = join(root, 'store_on_ram.txt')
    const marker = existsSync(markerFile) ? readFileSync(markerFile, 'utf8') : undefined
    const debug =
      this.compiled.debug || this.options.debug || process.env.RECIPES_DEBUG === '1' || /debug/i.test(marker ?? '')
    const resumeIndex =
      this.options.resumeFrom === undefined
        ? -1
        : recipe.steps.findIndex((step) => step.name === this.options.resumeFrom)
    const opened = await openRunRecorder(
      this.compiled,
      this.runId,
      this.options,
      this.scriptlets,
      resumeIndex,
      this.redactor,
    )
    const { recorder, resume, vitest, lockAddress } = opened
    const restored = resume && typeof resume.snapshot !== 'string' ? resume.snapshot : undefined
    await beginRecordedRun(recorder, this.compiled, this.runId, {
      selection,
      restored,
      vitest,
      redactor: this.redactor,
    })
    const logs = new StepLogs(
      {
        dir: join(this.compiled.logs.dir, this.runId),
        root,
        ram: this.compiled.logs.ram || marker !== undefined,
        redactor: this.redactor,
      },
      new AppendQueue(),
    )
    const ctx = new Context(restored?.values ?? {}, {
      keyNaming: this.compiled.keyNaming,
      ...(this.compiled.ctxValueMaxBytes === undefined ? {} : { valueMaxBytes: this.compiled.ctxValueMaxBytes }),
    })
    const started: Started = {
      recorder,
      logs,
      debug,
      resume,
      ctx,
      cache: new StepCache(join(root, '.cache', 'steps')),
      locks: runLockClient(this.compiled, recorder, lockAddress),
    }
    if (this.compiled.ctxServer) {
      // The server starts beside the first step, when the thread is free: an in-process step does not wait for it.
      this.live.serve({
        ctx,
        where: this.compiled.ctxServer,
        storePath: locateStore(root, this.compiled.db).path,
      })
      // A process a step starts finds the server in its environment, from the first step on.
      if (givesChildEnv(recipe)) {
        try {
          await this.live.ready()
        } catch (error) {
          // The run row exists already: it ends failed, saying why, rather than staying "running".
          recorder.finishRun(this.runId, 'failed')
          await Promise.resolve(recorder.close()).catch(() => undefined)
          throw error
        }
      }
    }
    this.capture.install(this.redactor)
    return started
  }

  /** Step `step` runs in `test`: the plugin's lines about it show under that test. */
  bindTest(step: string, test: StepTest | undefined): void {
    if (test) this.tests.set(step, test)
  }

  /** A line of the plugin's about a step, in the terminal under the step's test (never in the step's log). */
  say(step: string, line: string): void {
    this.capture.say(`vitest-recipes: ${step}: ${line}`, this.tests.get(step))
  }

  /** A step (or an attempt of it) starts: shown as running while the run is served. */
  stepStarted(step: string): void {
    this.live.stepStarted(step)
  }

  /**
   * A running step reports how far it is: kept for the dashboard, and printed in the terminal
   * (at most once a second per step, and when it reaches 100%).
   */
  stepProgress(step: string, percent: number, said?: string): void {
    this.live.stepProgress(step, percent, said)
  }

  stepEnded(step: string): void {
    this.live.stepEnded(step)
  }

  /** Stores writes made through the ctx API (outside any step), secrets redacted. */
  recordWrites(writes: readonly ContextWrite[]): void | Promise<void> {
    const { recorder, ctx } = this.current!
    const recorded = this.history.track(writes)
    recorder.recordWrites(this.runId, recorded.writes, this.history.dirtyValues(ctx))
    recorded.commit()
    return this.stored()
  }

  /**
   * Resolves once what was recorded is in the store, when this file keeps the store itself
   * (it stores its own journal); undefined when nothing waits (the Vitest process ingests it).
   */
  stored(): Promise<void> | undefined {
    const { recorder } = this.current!
    return recorder.pending?.() ? recorder.flush!() : undefined
  }

  /**
   * Stores one step boundary: its row, its ctx writes and the ctx keys that changed, secrets
   * redacted. Throws when the store refuses it; the caller decides what the step's outcome is then.
   * Returns the writes as recorded: what each changed (history-delta.ts).
   */
  recordStep(meta: RecipeStepMeta, writes: readonly ContextWrite[]): HistoryWrite[] {
    const { recorder, ctx } = this.current!
    const recorded = this.history.track(writes)
    recorder.recordStep(this.runId, stepRowOf(meta), recorded.writes, this.history.dirtyValues(ctx))
    recorded.commit()
    return recorded.writes
  }

  /**
   * Ends the run: its status in the store, then logs written, Python hosts, workers and
   * processes steps left behind stopped, the console restored: each even if another failed.
   * A run that never started has nothing to end.
   */
  async finish(status: RunStatus): Promise<void> {
    const state = this.current
    if (!state) return
    const problems: unknown[] = []
    const attempt = async (job: () => unknown) => {
      try {
        await job()
      } catch (error) {
        problems.push(error)
      }
    }
    // Nothing a step started outlives the run: what steps left running is stopped and logged.
    // Only the process executors record such steps (executors/leftovers.ts): without them there is nothing to look for.
    if (this.commandSteps || this.python) await attempt(() => this.stopLeftovers(state))
    // The ctx stops being served before the run's status is final: no write lands after it.
    // A server still starting is waited for, then closed: none outlives its run.
    await attempt(() => this.live.close())
    const serverFailure = this.live.failure
    await attempt(() => state.recorder.finishRun(this.runId, serverFailure ? 'failed' : status))
    await attempt(() => state.recorder.flush?.())
    await attempt(() => state.recorder.close())
    await attempt(() => state.logs.flush())
    // The files programs read the context from serve the whole recipe file (executors/ctx-file.ts).
    if (this.commandSteps) await attempt(async () => (await import('../executors/ctx-file.ts')).removeCtxFiles())
    await attempt(() => this.python?.close())
    await attempt(() => this.workers?.close())
    await attempt(() => this.capture.remove())
    const messages = problems.map((problem) => (problem instanceof Error ? problem.message : String(problem)))
    // A server that could not start fails the run, even when every step that ran passed.
    if (serverFailure)
      throw new Error(
        `vitest-recipes: run ${this.runId} failed: ${serverFailure.message}${messages.length > 0 ? `; ending it went wrong too: ${messages.join('; ')}` : ''}`,
      )
    if (problems.length > 0)
      throw new Error(`vitest-recipes: ending run ${this.runId} went wrong: ${messages.join('; ')}`)
  }

  /** Stops what steps left running, and says so in the terminal and the run's log. */
  private async stopLeftovers(state: Started): Promise<void> {
    const { stopLeftoverProcesses } = await import('../executors/leftovers.ts')
    const stopped = await stopLeftoverProcesses()
    if (stopped.length === 0) return
    const lines = stopped.map((line) => `${new Date().toISOString()} ${line}`).join('\n')
    console.warn(`vitest-recipes: ${stopped.join('\n')}`)
    await state.logs.save(state.logs.locate('run.log').file, `${lines}\n`)
  }
}

/** The parts of a run that exist once its first step started. */
export interface Started {
  /** The store, or the run's journal. */
  recorder: RunRecorder
  logs: StepLogs
  ctx: Context
  cache: StepCache
  debug: boolean
  resume: ResumePoint | undefined
  /** The lab resource locks; none when the recipe names no resource. */
  locks: LockClient | undefined
}
