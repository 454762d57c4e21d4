import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Context, type ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { PythonHostPool } from '../executors/python-host.ts'
import type { CpuWorkerPool } from '../executors/worker-pool.ts'
import { AppendQueue } from '../store/append-queue.ts'
import { type HistoryWrite, HistoryTracker } from '../store/history-delta.ts'
import { RunJournal } from '../store/journal.ts'
import { locateStore } from '../store/kept-store.ts'
import { resumeReaders } from '../recipe/dataflow.ts'
import { type DeclaringScriptlet, stepDeclarations } from '../recipe/preflight.ts'
import type { ResumeReader, ResumeSnapshot } from '../store/resume.ts'
import type { RunRecorder, RunStatus } from '../store/run-store.ts'
import type { RunSelection } from '../store/run-selection.ts'
import { clampPercent } from '../executors/progress-lines.ts'
import { type RecipeStepMeta, stepRowOf } from './meta.ts'
import { OutputCapture } from './output-capture.ts'
import type { StepTest } from './test-console.ts'
import { createRedactor, parseSecretNames, type Redactor } from './redact.ts'
import { directLockClient, httpLockClient, type LockClient } from './resource-holds.ts'
import type { OwnJournal } from '../store/own-journal.ts'
import { readKeptStores } from './run-options.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'
import { StepCache } from './step-cache.ts'
import { StepLogs } from './step-log.ts'

/** Where a run resumed with --resume-from takes its context from. */
export interface ResumePoint {
  /** Position of the step resumed from in the recipe. */
  index: number
  /** The restored context, or why there is none. */
  snapshot: ResumeSnapshot | string
}

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
  /** The run's ctx server, while the run goes (plugin option ctxServer). */
  private live: LiveCtx | undefined
  /** The steps running now, since when (ISO time) and how far they say they are: the ctx server tells the dashboard. */
  private readonly running = new Map<string, RunningStep>()
  private readonly progressPrinted = new Map<string, number>()
  /** The test each step runs in (a setup step: the selected test's): where the plugin's lines about it show. */
  private readonly tests = new Map<string, StepTest>()
  /** What every process a step starts finds in its environment: the ctx server's URL and token, the run id, the CLI. */
  childEnv: Readonly<Record<string, string>> | undefined

  /** What the run's history recorded of each key: its next write is recorded as a change of it. */
  private readonly history: HistoryTracker

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
    // Values are kept as the store keeps them (secrets as references), so a patch rebuilds the stored value.
    const redactor = this.redactor
    this.history = new HistoryTracker((value) => (redactor.active ? redactor.reference(value) : value))
    this.capture = new OutputCapture(compiled.recipe.steps.some((step) => step.parallel))
  }

  get started(): boolean {
    return this.current !== undefined
  }

  /** What the first step needs: the store with this run's row, logs, the ctx (restored when resuming). Once. */
  start(selection?: RunSelection): Promise<Started> {
    this.starting ??= this.setUp(selection).then((started) => {
      this.current = started
      return started
    })
    return this.starting
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
    const { recorder, resume, vitest, lockAddress } = await this.openRecorder(resumeIndex)
    const restored = resume && typeof resume.snapshot !== 'string' ? resume.snapshot : undefined
    const metadata: JsonObject = {
      test_meta: recipe.testMeta as JsonObject,
      node: process.version,
      // What the step graph of the reports draws: each step's dependencies and whether it may run side by side.
      steps_graph: recipe.steps.map((step) => ({ step: step.name, needs: step.needs, parallel: step.parallel })),
    }
    if (restored) metadata.resumed_from = restored.runId
    // A run of some steps only (-t): compared only with runs of the same selection (store/run-selection.ts).
    if (selection) metadata.selection = { selected: selection.selected, setup: selection.setup }
    recorder.beginRun({
      runId: this.runId,
      testId: recipe.testMeta.test_id,
      recipe: recipe.file,
      startTime: new Date().toISOString(),
      vitestVersion: vitest ?? vitestVersion(),
      metadata,
    })
    try {
      // A file that keeps the store itself: the run is in the store before its first step.
      await recorder.flush?.()
    } catch (error) {
      await Promise.resolve(recorder.close()).catch(() => undefined)
      throw error
    }
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
      locks: this.lockClient(recorder, lockAddress),
    }
    if (this.compiled.ctxServer) {
      try {
        await this.serveCtx(started, this.compiled.ctxServer)
      } catch (error) {
        // The run row exists already: it ends failed, saying why, rather than staying "running".
        recorder.finishRun(this.runId, 'failed')
        await Promise.resolve(recorder.close()).catch(() => undefined)
        throw error
      }
    }
    this.capture.install(this.redactor)
    return started
  }

  /**
   * Serves the run's ctx over HTTP (live/ctx-server.ts) and publishes where, with its token,
   * beside the store for \`recipes ctx\`; the run's child processes get both in their environment.
   */
  private async serveCtx(started: Started, where: { host: string; port: number }): Promise<void> {
    const [{ CtxServer }, { publishEndpoint }, { randomBytes }, { hostname }] = await Promise.all([
      import('../live/ctx-server.ts'),
      import('../live/endpoints.ts'),
      import('node:crypto'),
      import('node:os'),
    ])
    const { recipe, root, db } = this.compiled
    const token = randomBytes(24).toString('base64url')
    const run = { runId: this.runId, recipe: recipe.file, testId: recipe.testMeta.test_id }
    const server = await CtxServer.start({
      ctx: started.ctx,
      host: where.host,
      port: where.port,
      token,
      run: () => ({
        ...run,
        running: [...this.running.values()].map(({ startedAt, ...step }) => ({
          ...step,
          since: new Date(startedAt).toISOString(),
        })),
      }),
      record: (writes) => this.recordWrites(writes),
      // Answers show secrets as the stored run will (`***{NAME}`); the run's own steps ask for them in clear.
      mask: { reference: (value) => this.redactor.reference(value), text: (text) => this.redactor.text(text) },
    })
    const file = publishEndpoint(locateStore(root, db).path, {
      ...run,
      url: server.url,
      token,
      pid: process.pid,
      host: hostname(),
      startedAt: new Date().toISOString(),
    })
    this.live = { server, file }
    this.childEnv = {
      RECIPES_CTX_URL: server.url,
      RECIPES_CTX_TOKEN: token,
      RECIPES_RUN_ID: this.runId,
      // `node "$RECIPES_CLI" ctx set …` from a shell step: the CLI without npx's start-up.
      RECIPES_CLI: fileURLToPath(new URL('../../bin/recipes.js', import.meta.url)),
      // A python `script:` step imports vitest_recipes.live from here (module steps have it on their path).
      RECIPES_PYTHON_LIB: fileURLToPath(new URL('../../python', import.meta.url)),
    }
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
    // A number, formatted only when the dashboard asks: this runs at every step.
    if (this.live) this.running.set(step, { step, startedAt: Date.now() })
  }

  /**
   * A running step reports how far it is: kept for the dashboard, and printed in the terminal
   * (at most once a second per step, and when it reaches 100%).
   */
  stepProgress(step: string, percent: number, said?: string): void {
    const value = clampPercent(percent)
    // Shown on the dashboard and in the terminal: never a secret.
    const message = said === undefined ? undefined : this.redactor.text(said)
    const entry = this.running.get(step)
    if (entry) {
      entry.percent = value
      if (message === undefined) delete entry.message
      else entry.message = message
    }
    const now = Date.now()
    const last = this.progressPrinted.get(step) ?? 0
    if (now - last < PROGRESS_PRINT_MS && value < 100) return
    this.progressPrinted.set(step, now)
    this.say(step, `${Math.round(value)}%${message ? ` ${message}` : ''}`)
  }

  stepEnded(step: string): void {
    this.running.delete(step)
    this.progressPrinted.delete(step)
  }

  /** Stores writes made through the ctx API (outside any step), secrets redacted. */
  recordWrites(writes: readonly ContextWrite[]): void | Promise<void> {
    const { recorder, ctx } = this.current!
    const recorded = this.historyOf(writes)
    recorder.recordWrites(this.runId, recorded.writes, this.dirtyValues(ctx))
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
   * Where the run is recorded. Nothing is lost either way: the run exists before its first
   * step and each step boundary is durable when it ends. When the Vitest process keeps the
   * store (it opened it before the files ran, and ingests their journals), the run goes to
   * its journal, one append per step; otherwise (or to resume) this file opens the store.
   */
  private async openRecorder(resumeIndex: number): Promise<{
    recorder: RunRecorder
    resume?: ResumePoint
    vitest?: string | undefined
    lockAddress?: { url: string; token: string } | undefined
  }> {
    const { root, recipe, db } = this.compiled
    const located = locateStore(root, db)
    const { path, shown } = located
    const kept = readKeptStores()[path]
    // The Vitest process could not open the store: this run cannot be recorded, so it does not start.
    if (kept?.error !== undefined) throw new Error(kept.error)
    let resume: ResumePoint | undefined
    if (resumeIndex >= 0 || !kept) {
      // Loaded only here: a file whose store is kept never loads SQLite.
      const { RunStore } = await import('../store/run-store.ts')
      const store = await RunStore.openLocated(located)
      try {
        if (resumeIndex >= 0) {
          const { loadResumeSnapshot, refuseUnrestorableReads } = await import('../store/resume.ts')
          const before = recipe.steps[resumeIndex - 1]?.name
          const snapshot = await loadResumeSnapshot(store, recipe.file, before)
          const refused =
            typeof snapshot !== 'string' && snapshot.unrestorable
              ? refuseUnrestorableReads(snapshot, this.readersFrom(resumeIndex))
              : undefined
          resume = { index: resumeIndex, snapshot: refused ?? snapshot }
        }
      } catch (error) {
        await store.close()
        throw error
      }
      if (!kept) {
        // This file keeps the store: it journals as every file does, and stores its journal itself.
        const { OwnJournal } = await import('../store/own-journal.ts')
        const recorder = new OwnJournal(RunJournal.create(path, shown, this.runId), store)
        return { recorder, ...(resume ? { resume } : {}) }
      }
      await store.close()
    }
    return {
      recorder: RunJournal.create(path, shown, this.runId),
      ...(resume ? { resume } : {}),
      vitest: kept.vitestVersion,
      lockAddress: kept.locks,
    }
  }

  /** The steps a resume from `fromIndex` runs (not those --skip names) and the keys each reads, as declared. */
  private readersFrom(fromIndex: number): ResumeReader[] {
    const { recipe, root, python } = this.compiled
    const declarations = stepDeclarations({ recipe, root, pythonPath: python.path, scriptlets: this.scriptlets })
    return resumeReaders(recipe, declarations, fromIndex, this.options.skip)
  }

  /** How this run reaches the lab resource locks, when its recipe names any. */
  private lockClient(
    recorder: RunRecorder,
    address: { url: string; token: string } | undefined,
  ): LockClient | undefined {
    const { recipe, root } = this.compiled
    if (recipe.resources.length === 0 && !recipe.steps.some((step) => step.resources.length > 0)) return undefined
    if (address) return httpLockClient(address, join(root, recipe.file))
    // No Vitest process keeps the store: this file opened it, and keeps the leases itself.
    const locks = (recorder as Partial<OwnJournal>).locks
    return locks ? directLockClient(locks) : undefined
  }

  /**
   * Stores one step boundary: its row, its ctx writes and the ctx keys that changed, secrets
   * redacted. Throws when the store refuses it; the caller decides what the step's outcome is then.
   * Returns the writes as recorded: what each changed (history-delta.ts).
   */
  recordStep(meta: RecipeStepMeta, writes: readonly ContextWrite[]): HistoryWrite[] {
    const { recorder, ctx } = this.current!
    const recorded = this.historyOf(writes)
    recorder.recordStep(this.runId, stepRowOf(meta), recorded.writes, this.dirtyValues(ctx))
    recorded.commit()
    return recorded.writes
  }

  /** Writes as the history records them: what each changed since the key's last recorded value, secrets as references. */
  private historyOf(writes: readonly ContextWrite[]): { writes: HistoryWrite[]; commit: () => void } {
    const recorded = this.history.track(writes)
    const redact = this.redactor
    // The writer's name is free text a scriptlet or an API caller chose: a secret can be in it.
    if (redact.active) for (const write of recorded.writes) write.who = redact.text(write.who)
    return recorded
  }

  /** The current values of the keys written since the last record (undefined: deleted). */
  private dirtyValues(ctx: Context): [string, JsonValue | undefined][] {
    const redact = this.redactor
    return ctx.takeDirty().map((key) => {
      const value = ctx.get(key)
      return [key, value === undefined ? undefined : redact.reference(value)]
    })
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
    await attempt(async () => {
      const { stopLeftoverProcesses } = await import('../executors/leftovers.ts')
      const stopped = await stopLeftoverProcesses()
      if (stopped.length === 0) return
      const lines = stopped.map((line) => `${new Date().toISOString()} ${line}`).join('\n')
      console.warn(`vitest-recipes: ${stopped.join('\n')}`)
      await state.logs.save(state.logs.locate('run.log').file, `${lines}\n`)
    })
    // The ctx stops being served before the run's status is final: no write lands after it.
    await attempt(async () => {
      const live = this.live
      this.live = undefined
      if (!live) return
      const { withdrawEndpoint } = await import('../live/endpoints.ts')
      withdrawEndpoint(live.file)
      await live.server.close()
    })
    await attempt(() => state.recorder.finishRun(this.runId, status))
    await attempt(() => state.recorder.flush?.())
    await attempt(() => state.recorder.close())
    await attempt(() => state.logs.flush())
    // The files programs read the context from serve the whole recipe file (executors/ctx-file.ts).
    if (this.commandSteps) await attempt(async () => (await import('../executors/ctx-file.ts')).removeCtxFiles())
    await attempt(() => this.python?.close())
    await attempt(() => this.workers?.close())
    await attempt(() => this.capture.remove())
    if (problems.length > 0) {
      const messages = problems.map((problem) => (problem instanceof Error ? problem.message : String(problem)))
      throw new Error(`vitest-recipes: ending run ${this.runId} went wrong: ${messages.join('; ')}`)
    }
  }
}

/** A step running now, as the dashboard shows it. */
interface RunningStep {
  step: string
  startedAt: number
  percent?: number
  message?: string
}

/** How often a step's progress is printed in the terminal, at most. */
const PROGRESS_PRINT_MS = 1000

/** A run's ctx server and the file that publishes it. */
interface LiveCtx {
  server: import('../live/ctx-server.ts').CtxServer
  file: string
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

function vitestVersion(): string {
  try {
    return (createRequire(import.meta.url)('vitest/package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}
