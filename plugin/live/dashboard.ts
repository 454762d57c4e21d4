import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ingestJournals } from '../store/ingest.ts'
import type { RunFilter, RunStore } from '../store/run-store.ts'
import type { LiveRunState } from './ctx-server.ts'
import { type RunningItem, waitsByRun } from './dashboard-waits.ts'
import { noSuchRun, sendRunChart, sendTrendChart } from './dashboard-charts.ts'
import { liveEndpoints } from './endpoints.ts'
import { HttpError, type HttpLimits, type HttpServer, sendJson, startHttpServer, tokenMatches } from './http-server.ts'
import { historyAnswer, historyOfKey, missingLogMessage, PAGE_FILE, readStepLog, runAnswer } from '../store/run-page.ts'

export interface DashboardOptions {
  /** The project root: relative log paths of the store are resolved from it. */
  root: string
  /**
   * The step logs' folder (the plugin option logsDir, resolved): a log is served only when its
   * real path (symlinks followed) is inside this folder's real path.
   * @default `<root>/Logs`
   */
  logsDir?: string
  /**
   * When set, every request needs it: `?token=` once (the answer sets a cookie), the cookie,
   * or `Authorization: Bearer <token>`. `recipes dashboard` sets one whenever it listens beyond
   * loopback. @default undefined (no token: loopback only)
   */
  token?: string
  /** Connections and timeouts (http-server.ts). */
  limits?: HttpLimits
  /** The run store, opened by the caller (the dashboard ingests what running recipes journal). */
  store: RunStore
  /** The store's absolute path: running recipes publish their ctx servers beside it. */
  storePath: string
  host: string
  port: number
  /** How often the store and the running recipes are looked at (ms). */
  pollMs?: number
  /** How long a running recipe's last answer stands in for looks its ctx server misses (ms; default 10 s). */
  keptAnswerMs?: number
}

/** How many runs the trend of a test id covers. */
const TREND_RUNS = 30

/**
 * `recipes dashboard`: a web page of the run store (runs, their steps, ctx, key histories,
 * metrics and a test id's trend), updated live while recipes run. Read-only: it never writes
 * a run. The page (dashboard-page.ts) asks the JSON routes below and listens on
 * `/api/events`, which says when something changed: the store (steps the Vitest process or
 * this dashboard ingested from the running recipes' journals) or the steps running now
 * (asked of each running recipe's ctx server).
 */
export class Dashboard {
  readonly url: string
  private readonly http: HttpServer
  private readonly timer: NodeJS.Timeout
  private readonly watchers: Set<ServerResponse>

  private constructor(http: HttpServer, timer: NodeJS.Timeout, watchers: Set<ServerResponse>) {
    this.http = http
    this.url = http.url
    this.timer = timer
    this.watchers = watchers
  }

  static async start(options: DashboardOptions): Promise<Dashboard> {
    const state = new LiveState(options)
    await state.refresh()
    const watchers = new Set<ServerResponse>()
    const http = await startHttpServer({
      name: 'the dashboard',
      host: options.host,
      port: options.port,
      listenHint: 'choose another --port, or 0 for any free port',
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.token === undefined ? {} : { auth: dashboardAuth(options.token) }),
      // It only reads.
      methods: ['GET'],
      handle: (request, response) => {
        if (options.token !== undefined && setsCookie(request, response, options.token)) return
        return route(options, state, watchers, request, response)
      },
    })
    let busy = false
    const timer = setInterval(async () => {
      if (busy) return
      busy = true
      try {
        if (await state.refresh()) for (const watcher of watchers) watcher.write(`data: ${state.version}\n\n`)
      } catch (error) {
        for (const watcher of watchers)
          watcher.write(`event: problem\ndata: ${JSON.stringify((error as Error).message)}\n\n`)
      } finally {
        busy = false
      }
    }, options.pollMs ?? 250)
    return new Dashboard(http, timer, watchers)
  }

  close(): Promise<void> {
    clearInterval(this.timer)
    for (const watcher of this.watchers) watcher.end()
    return this.http.close()
  }
}

/** The cookie that carries the token after the first load (one per port: cookies ignore ports). */
function cookieName(request: IncomingMessage): string {
  return `recipes_dashboard_${request.socket.localPort ?? ''}`
}

/** The token comes as a bearer, the cookie, or `?token=` (the address `recipes dashboard` prints). */
function dashboardAuth(token: string) {
  return {
    token,
    realm: 'vitest-recipes dashboard',
    code: 'DASHBOARD_UNAUTHORIZED',
    message:
      'this dashboard needs its token: open the address `recipes dashboard` printed (…/?token=<token>), or send Authorization: Bearer <token>',
    otherCredentials: (request: IncomingMessage) => {
      const name = cookieName(request)
      const cookie = (request.headers.cookie ?? '')
        .split(';')
        .map((part) => part.trim().split('='))
        .find(([key]) => key === name)?.[1]
      return [cookie, new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? undefined]
    },
  }
}

/**
 * A page loaded with `?token=` gets the cookie and is sent on to the same address without it
 * (the token leaves the address bar and the history); true when answered so.
 */
function setsCookie(request: IncomingMessage, response: ServerResponse, token: string): boolean {
  const url = new URL(request.url ?? '/', 'http://localhost')
  if (url.pathname !== '/' && url.pathname !== '/index.html') return false
  if (!tokenMatches(url.searchParams.get('token') ?? undefined, token)) return false
  url.searchParams.delete('token')
  response.writeHead(303, {
    location: `${url.pathname}${url.search}`,
    'set-cookie': `${cookieName(request)}=${token}; HttpOnly; SameSite=Strict; Path=/`,
    'cache-control': 'no-store',
  })
  response.end()
  return true
}

/** How long a running recipe's last answer stands in for looks its ctx server misses. */
const KEPT_ANSWER_MS = 10_000

/**
 * What the dashboard knows beyond the store: the steps running now, per run, and those waiting
 * for lab resources (dashboard-waits.ts); and a version that changes with anything.
 */
class LiveState {
  version = 0
  running = new Map<string, RunningItem[]>()
  /**
   * What each running recipe's ctx server last said runs, and when: a look it misses (a server
   * too busy to answer within the look's second) shows that for up to KEPT_ANSWER_MS, so its
   * steps do not blink out; a runner frozen longer shows what the store says.
   */
  private answered = new Map<string, { items: RunningItem[]; at: number }>()
  private mark = ''
  private readonly options: DashboardOptions

  constructor(options: DashboardOptions) {
    this.options = options
  }

  /** Looks again; true when something changed. */
  async refresh(): Promise<boolean> {
    const { store, storePath } = this.options
    // The Vitest process ingests every second; the dashboard does not wait for it.
    await ingestJournals(store)
    const running = new Map<string, RunningItem[]>()
    const answered = new Map<string, { items: RunningItem[]; at: number }>()
    await Promise.all(
      liveEndpoints(storePath).map(async (endpoint) => {
        try {
          const response = await fetch(`${endpoint.url}/v1/run`, {
            headers: { authorization: `Bearer ${endpoint.token}` },
            signal: AbortSignal.timeout(1000),
          })
          if (response.ok)
            answered.set(endpoint.runId, {
              items: ((await response.json()) as LiveRunState).running,
              at: Date.now(),
            })
        } catch {
          // A run that just ended shows what the store says (its endpoint is gone at the next look).
        }
        const earlier = this.answered.get(endpoint.runId)
        const said =
          answered.get(endpoint.runId) ??
          (earlier && Date.now() - earlier.at <= (this.options.keptAnswerMs ?? KEPT_ANSWER_MS) ? earlier : undefined)
        if (said) {
          answered.set(endpoint.runId, said)
          running.set(endpoint.runId, said.items)
        }
      }),
    )
    this.answered = answered
    // A step waiting for a lab resource runs nothing yet: the lock store says what it waits for and who holds it.
    for (const [runId, waits] of await this.waits()) running.set(runId, [...(running.get(runId) ?? []), ...waits])
    const mark = `${await store.changeMark()}|${JSON.stringify([...running])}`
    this.running = running
    if (mark === this.mark) return false
    this.mark = mark
    this.version++
    return true
  }

  /** The lock store's waits by run; none when it cannot be read now (the next look tries again). */
  private async waits(): Promise<Map<string, RunningItem[]>> {
    try {
      return waitsByRun(await this.options.store.locks.list())
    } catch {
      return new Map()
    }
  }
}

async function route(
  options: DashboardOptions,
  state: LiveState,
  watchers: Set<ServerResponse>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost')
  const path = url.pathname
  const { store } = options
  if (path === '/' || path === '/index.html') {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    response.end(readFileSync(PAGE_FILE))
    return
  }
  if (path === '/api/events') {
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    })
    response.write(`data: ${state.version}\n\n`)
    // The stream is quiet while nothing changes: the idle limit of other connections does not apply.
    request.socket.setTimeout(0)
    watchers.add(response)
    request.on('close', () => watchers.delete(response))
    return
  }
  if (path === '/api/runs') {
    const filter: RunFilter = {}
    for (const name of ['testId', 'status', 'tester', 'tag', 'from', 'to'] as const) {
      const value = url.searchParams.get(name)
      if (value) filter[name] = value
    }
    // `var=dut=rack1-sw2`, once per var: the runs whose recipe vars took those values (one device's runs).
    const vars: Record<string, string> = {}
    for (const given of url.searchParams.getAll('var')) {
      const at = given.indexOf('=')
      if (at <= 0)
        throw new HttpError(
          400,
          'DASHBOARD_BAD_FILTER',
          `var=${given}: write var=<name>=<value>, e.g. var=dut=rack1-sw2`,
        )
      vars[given.slice(0, at)] = given.slice(at + 1)
    }
    if (Object.keys(vars).length > 0) filter.vars = vars
    const runs = (await store.listRuns(filter)).map((run) => ({ ...run, running: state.running.get(run.runId) ?? [] }))
    return sendJson(response, 200, { runs, version: state.version })
  }
  const trend = /^\/api\/trend\/([^/]+)$/.exec(path)
  if (trend) return sendJson(response, 200, await trendOf(store, decodeURIComponent(trend[1]!)))
  const trendCharts = /^\/api\/trend\/([^/]+)\/charts(?:\/([^/]+)\.svg)?$/.exec(path)
  if (trendCharts)
    return sendTrendChart(store, decodeURIComponent(trendCharts[1]!), TREND_RUNS, trendCharts[2], response)
  const charts = /^\/api\/runs\/([^/]+)\/charts(?:\/([^/]+)\.svg)?$/.exec(path)
  if (charts) {
    const runId = decodeURIComponent(charts[1]!)
    return sendRunChart(store, state.running.get(runId) ?? [], runId, charts[2], response)
  }
  const run = /^\/api\/runs\/([^/]+)(?:\/(history|log))?$/.exec(path)
  if (run) {
    const runId = decodeURIComponent(run[1]!)
    const data = await store.readRun(runId)
    if (!data) throw noSuchRun(runId)
    if (run[2] === 'history') {
      const key = url.searchParams.get('key') ?? ''
      return sendJson(response, 200, historyAnswer(key, await historyOfKey(data.history.rows(), key)))
    }
    if (run[2] === 'log') {
      const step = data.steps.find((row) => row.step === url.searchParams.get('step'))
      if (!step?.logPath) throw new HttpError(404, 'DASHBOARD_NO_LOG', missingLogMessage(null))
      const log = await readStepLog(options, step.logPath)
      if ('missing' in log && log.missing === 'outside')
        throw new HttpError(403, 'DASHBOARD_LOG_OUTSIDE', missingLogMessage(step.logPath, 'outside'))
      if ('missing' in log) throw new HttpError(404, 'DASHBOARD_NO_LOG', missingLogMessage(step.logPath, 'gone'))
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      response.end(log.text)
      return
    }
    return sendJson(response, 200, runAnswer(data, state.running.get(runId) ?? [], state.version))
  }
  throw new HttpError(404, 'DASHBOARD_NOT_FOUND', `no such page: ${path}`)
}

/**
 * A test id's recent runs, oldest first: each step's duration and status, and each numeric
 * metric of its envelopes. Like with like: the runs of the whole recipe, or, when the test
 * id has had none lately, of the newest run's -t selection (only its selected steps and their
 * setup ran).
 */
async function trendOf(store: RunStore, testId: string) {
  const recent = await store.history(testId, TREND_RUNS)
  const anchor = recent.find((run) => !run.selection) ?? recent[0]
  const runs = anchor ? await store.trend(anchor.testId, anchor.runId, TREND_RUNS) : []
  return {
    testId,
    selection: anchor?.selection ?? null,
    runs: runs.map((run) => {
      const metrics: Record<string, number> = {}
      for (const step of run.steps)
        for (const [name, value] of Object.entries(step.metrics)) metrics[`${step.step}.${name}`] = value
      const steps = run.steps.map(({ metrics: _metrics, ...step }) => step)
      return { runId: run.runId, startTime: run.startTime, status: run.status, steps, metrics }
    }),
  }
}
