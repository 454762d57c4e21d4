import { fileURLToPath } from 'node:url'
import type { Context, ContextWrite } from '../context/context.ts'
import { clampPercent } from '../executors/progress-lines.ts'
import type { Recipe } from '../recipe/types.ts'
import type { Redactor } from './redact.ts'

/** What the live side of a run needs of the run. */
export interface LiveRun {
  runId: string
  recipe: Recipe
  redactor: Redactor
  /** Records writes made through the API, as steps' writes are recorded. */
  record: (writes: ContextWrite[]) => void | Promise<void>
  /** A line of the plugin's about a step, in the terminal under the step's test. */
  say: (step: string, line: string) => void
}

let serverModules: ReturnType<typeof importServerModules> | undefined

const importServerModules = () =>
  Promise.all([
    import('../live/ctx-server.ts'),
    import('../live/endpoints.ts'),
    import('node:crypto'),
    import('node:os'),
  ])

/** The HTTP layer's modules, loaded once per thread. */
function loadServerModules(): ReturnType<typeof importServerModules> {
  serverModules ??= importServerModules()
  return serverModules
}

/**
 * Starts loading the ctx server's modules while Vitest still collects the recipe's tests, as
 * a test file's own imports load: the run's first step then only listens. A failure to load
 * shows when the server starts (its `failure`), not here.
 */
export function preloadLiveServer(): void {
  loadServerModules().catch(() => undefined)
}

/**
 * The live side of a run: its ctx served over HTTP (live/ctx-server.ts) and published
 * beside the store for `recipes ctx`, the environment the run's processes find it with, and
 * which steps run now and how far they are (the dashboard asks the server; the terminal
 * gets the progress lines).
 *
 * The server starts beside the first step rather than before it: loading the HTTP layer and
 * listening is most of what a run's start costs, and an in-process step needs neither. It
 * starts as soon as the thread is free (the first time a step waits, or between steps when
 * Vitest lets the event loop turn), which is the first moment it could answer anyone.
 * Whatever needs it sooner asks for it (`ready`): a step that starts a process, since the
 * process finds the server in its environment. `close` waits for a start under way, so no
 * server outlives its run.
 */
export class LiveSession {
  private readonly run: LiveRun
  /** The steps running now, since when and how far they say they are. */
  private readonly running = new Map<string, RunningStep>()
  private readonly progressPrinted = new Map<string, number>()
  /** What to serve, from `serve` until `close`. */
  private wanted: Wanted | undefined
  /** The start, once begun. */
  private serving: Promise<Served> | undefined
  /** The start scheduled for when the thread is free. */
  private scheduled: NodeJS.Immediate | undefined
  /** Set once the server listens and is published. */
  private served: Served | undefined
  /** Why the server could not start, once known. */
  failure: Error | undefined
  /** What every process a step starts finds in its environment, once the server is up. */
  env: Readonly<Record<string, string>> | undefined

  constructor(run: LiveRun) {
    this.run = run
  }

  /**
   * Serves `wanted.ctx` on `wanted.where`, starting as soon as the thread is free, published
   * beside the store at `wanted.storePath`. Once. Why it could not start, if it could not, is
   * `failure` (and what `ready` rejects with).
   */
  serve(wanted: Wanted): void {
    if (this.wanted) return
    this.wanted = wanted
    this.scheduled = setImmediate(() => this.begin())
  }

  /**
   * Resolves once the server is up (rejects saying why it could not start), starting it now
   * if it has not started; undefined when there is nothing to wait for (it is up, or not served).
   */
  ready(): Promise<void> | undefined {
    if (this.served || !this.wanted) return undefined
    return this.begin().then(() => undefined)
  }

  private begin(): Promise<Served> {
    const wanted = this.wanted!
    if (this.scheduled) clearImmediate(this.scheduled)
    this.scheduled = undefined
    if (!this.serving) {
      this.serving = this.start(wanted).then(
        (served) => {
          this.served = served
          this.env = served.env
          return served
        },
        (error: unknown) => {
          this.failure = error instanceof Error ? error : new Error(String(error))
          throw this.failure
        },
      )
      // The failure is kept in `failure` for the run's end: whoever does not wait for the start need not hear it.
      this.serving.catch(() => undefined)
    }
    return this.serving
  }

  private async start({ ctx, where, storePath }: Wanted): Promise<Served> {
    const [{ CtxServer }, { publishEndpoint }, { randomBytes }, { hostname }] = await loadServerModules()
    const { runId, recipe, redactor } = this.run
    const token = randomBytes(24).toString('base64url')
    const run = { runId, recipe: recipe.file, testId: recipe.testMeta.test_id }
    const server = await CtxServer.start({
      ctx,
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
      record: (writes) => this.run.record(writes),
      // Answers show secrets as the stored run will (`***{NAME}`); the run's own steps ask for them in clear.
      mask: { reference: (value) => redactor.reference(value), text: (text) => redactor.text(text) },
    })
    let file: string
    try {
      file = publishEndpoint(storePath, {
        ...run,
        url: server.url,
        token,
        pid: process.pid,
        host: hostname(),
        startedAt: new Date().toISOString(),
      })
    } catch (error) {
      await server.close()
      throw error
    }
    const env = {
      RECIPES_CTX_URL: server.url,
      RECIPES_CTX_TOKEN: token,
      RECIPES_RUN_ID: runId,
      // `node "$RECIPES_CLI" ctx set …` from a shell step: the CLI without npx's start-up.
      RECIPES_CLI: fileURLToPath(new URL('../../bin/recipes.js', import.meta.url)),
      // A python `script:` step imports vitest_recipes.live from here (module steps have it on their path).
      RECIPES_PYTHON_LIB: fileURLToPath(new URL('../../python', import.meta.url)),
    }
    return { server, file, env }
  }

  /**
   * Stops serving: waits for a start under way, withdraws the endpoint, closes the server. A
   * server that could not start has nothing to close (its failure is `failure`). One that
   * never started (no step let the thread go) is not started now, unless its address could
   * be refused (a fixed port, another host): a run fails on a taken port however fast it is.
   */
  async close(): Promise<void> {
    const wanted = this.wanted
    if (!wanted) return
    if (!this.serving && !mayBeRefused(wanted.where)) {
      if (this.scheduled) clearImmediate(this.scheduled)
      this.scheduled = undefined
      this.wanted = undefined
      return
    }
    const serving = this.begin()
    this.wanted = undefined
    this.serving = undefined
    this.served = undefined
    let served: Served
    try {
      served = await serving
    } catch {
      return
    }
    const { withdrawEndpoint } = await import('../live/endpoints.ts')
    withdrawEndpoint(served.file)
    await served.server.close()
  }

  /** A step (or an attempt of it) starts: shown as running while the run is served. */
  stepStarted(step: string): void {
    // A number, formatted only when the dashboard asks: this runs at every step.
    if (this.wanted) this.running.set(step, { step, startedAt: Date.now() })
  }

  /**
   * A running step reports how far it is: kept for the dashboard, and printed in the terminal
   * (at most once a second per step, and when it reaches 100%).
   */
  stepProgress(step: string, percent: number, said?: string): void {
    const value = clampPercent(percent)
    // Shown on the dashboard and in the terminal: never a secret.
    const message = said === undefined ? undefined : this.run.redactor.text(said)
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
    this.run.say(step, `${Math.round(value)}%${message ? ` ${message}` : ''}`)
  }

  stepEnded(step: string): void {
    this.running.delete(step)
    this.progressPrinted.delete(step)
  }
}

/**
 * Whether a step of `recipe` may start a process that is given the run's environment
 * (shell, exec, python): the ctx server must be up before such a step starts.
 */
export function givesChildEnv(recipe: Recipe): boolean {
  return recipe.steps.some((step) => step.type !== 'ts')
}

/** Hosts where listening on any free port (port 0) cannot be refused for the address itself. */
const ALWAYS_BINDABLE = new Set(['127.0.0.1', 'localhost', '0.0.0.0', '::', '::1'])

/** Whether listening on `where` can fail because of the address: a fixed port may be taken, another host may not be this one. */
function mayBeRefused(where: { host: string; port: number }): boolean {
  return where.port !== 0 || !ALWAYS_BINDABLE.has(where.host.toLowerCase())
}

/** What a run serves, and where. */
export interface Wanted {
  ctx: Context
  where: { host: string; port: number }
  /** The run store's path: the endpoint is published beside it. */
  storePath: string
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

/** A run's ctx server, the file that publishes it, and what the run's processes find it with. */
interface Served {
  server: import('../live/ctx-server.ts').CtxServer
  file: string
  env: Readonly<Record<string, string>>
}
