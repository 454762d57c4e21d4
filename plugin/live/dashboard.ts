import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isAbsolute, relative, resolve } from 'node:path'
import { renderChartSvg, runChartList, TREND_RUNS as CHART_TREND_RUNS } from '../charts/index.ts'
import type { JsonValue } from '../context/json-value.ts'
import type { RunFilter, RunStore } from '../store/run-store.ts'
import type { LiveRunState } from './ctx-server.ts'
import { liveEndpoints } from './endpoints.ts'

export interface DashboardOptions {
  /** The project root: step logs are read from under it, never elsewhere. */
  root: string
  /** The run store, opened by the caller (the dashboard ingests what running recipes journal). */
  store: RunStore
  /** The store's absolute path: running recipes publish their ctx servers beside it. */
  storePath: string
  host: string
  port: number
  /** How often the store and the running recipes are looked at (ms). */
  pollMs?: number
}

/** The page: one file, no build step, no library (web/dashboard.html, shipped with the package). */
const PAGE_FILE = new URL('../../web/dashboard.html', import.meta.url)

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
  private readonly server: Server
  private readonly timer: NodeJS.Timeout
  private readonly watchers: Set<ServerResponse>

  private constructor(server: Server, url: string, timer: NodeJS.Timeout, watchers: Set<ServerResponse>) {
    this.server = server
    this.url = url
    this.timer = timer
    this.watchers = watchers
  }

  static async start(options: DashboardOptions): Promise<Dashboard> {
    const state = new LiveState(options)
    await state.refresh()
    const watchers = new Set<ServerResponse>()
    const server = createServer((request, response) => {
      route(options, state, watchers, request, response).catch((error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, { error: (error as Error).message })
        else response.end()
      })
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
    await new Promise<void>((resolvePromise, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            `the dashboard could not listen on ${options.host}:${options.port} (${error.code ?? error.message}); choose another --port, or 0 for any free port`,
          ),
        ),
      )
      server.listen(options.port, options.host, () => resolvePromise())
    })
    const { address, port } = server.address() as AddressInfo
    const host = address.includes(':') ? `[${address}]` : address
    return new Dashboard(server, `http://${host}:${port}`, timer, watchers)
  }

  close(): Promise<void> {
    clearInterval(this.timer)
    for (const watcher of this.watchers) watcher.end()
    return new Promise((resolvePromise) => {
      this.server.close(() => resolvePromise())
      this.server.closeAllConnections()
    })
  }
}

/** What the dashboard knows beyond the store: the steps running now, per run; and a version that changes with anything. */
class LiveState {
  version = 0
  running = new Map<string, LiveRunState['running']>()
  private mark = ''
  private readonly options: DashboardOptions

  constructor(options: DashboardOptions) {
    this.options = options
  }

  /** Looks again; true when something changed. */
  async refresh(): Promise<boolean> {
    const { store, storePath } = this.options
    // The Vitest process ingests every second; the dashboard does not wait for it.
    store.ingestPending()
    const running = new Map<string, LiveRunState['running']>()
    await Promise.all(
      liveEndpoints(storePath).map(async (endpoint) => {
        try {
          const response = await fetch(`${endpoint.url}/v1/run`, {
            headers: { authorization: `Bearer ${endpoint.token}` },
            signal: AbortSignal.timeout(1000),
          })
          if (response.ok) running.set(endpoint.runId, ((await response.json()) as LiveRunState).running)
        } catch {
          // A run that just ended (or cannot be reached) shows what the store says.
        }
      }),
    )
    const mark = `${store.changeMark()}|${JSON.stringify([...running])}`
    this.running = running
    if (mark === this.mark) return false
    this.mark = mark
    this.version++
    return true
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
  if (request.method !== 'GET') return sendJson(response, 405, { error: 'the dashboard only reads: use GET' })
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
    const runs = store.listRuns(filter).map((run) => ({ ...run, running: state.running.get(run.runId) ?? [] }))
    return sendJson(response, 200, { runs, version: state.version })
  }
  const trend = /^\/api\/trend\/([^/]+)$/.exec(path)
  if (trend) return sendJson(response, 200, trendOf(store, decodeURIComponent(trend[1]!)))
  const charts = /^\/api\/runs\/([^/]+)\/charts(?:\/([^/]+)\.svg)?$/.exec(path)
  if (charts) return sendChart(store, decodeURIComponent(charts[1]!), charts[2], response)
  const run = /^\/api\/runs\/([^/]+)(?:\/(history|log))?$/.exec(path)
  if (run) {
    const runId = decodeURIComponent(run[1]!)
    const data = store.readRun(runId)
    if (!data) return sendJson(response, 404, { error: `no run "${runId}" in the store` })
    if (run[2] === 'history') {
      const key = url.searchParams.get('key') ?? ''
      const rows = [...data.history.rows()].filter((row) => row.key === key)
      return sendJson(response, 200, { key, rows })
    }
    if (run[2] === 'log') {
      const step = data.steps.find((row) => row.step === url.searchParams.get('step'))
      if (!step?.logPath) return sendJson(response, 404, { error: 'this step wrote no log (it passed silently)' })
      const file = resolve(options.root, step.logPath)
      const inside = relative(options.root, file)
      if (inside.startsWith('..') || isAbsolute(inside))
        return sendJson(response, 403, { error: 'outside the project' })
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch {
        return sendJson(response, 404, { error: `the log ${step.logPath} is gone` })
      }
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      response.end(text)
      return
    }
    return sendJson(response, 200, {
      run: data.run,
      steps: data.steps,
      context: data.context,
      analysis: data.analysis ?? null,
      running: state.running.get(runId) ?? [],
      version: state.version,
    })
  }
  sendJson(response, 404, { error: `no such page: ${path}` })
}

/**
 * The run's charts, as the documents draw them (charts/): their list, or one as SVG. A run
 * still going gets none: its pictures would change with every step.
 */
async function sendChart(store: RunStore, runId: string, name: string | undefined, response: ServerResponse) {
  const data = store.readRun(runId)
  if (!data) return sendJson(response, 404, { error: `no run "${runId}" in the store` })
  if (!data.run.endTime)
    return sendJson(response, 409, { error: `run ${runId} is still going: its charts are drawn when it ends` })
  const trend = data.run.testId === null ? [] : store.trend(data.run.testId, runId, CHART_TREND_RUNS)
  if (name === undefined) return sendJson(response, 200, { charts: runChartList(data, trend) })
  let svg: string | undefined
  try {
    svg = await renderChartSvg(data, trend, decodeURIComponent(name))
  } catch (error) {
    return sendJson(response, 500, {
      error: `the chart ${name} of run ${runId} could not be drawn: ${(error as Error).message}`,
    })
  }
  if (svg === undefined) return sendJson(response, 404, { error: `run ${runId} has no chart "${name}"` })
  response.writeHead(200, {
    'content-type': 'image/svg+xml; charset=utf-8',
    'content-length': Buffer.byteLength(svg),
    // A finished run's charts do not change: the page redraws often, the browser asks once a minute.
    'cache-control': 'private, max-age=60',
  })
  response.end(svg)
}

/** A test id's recent runs, oldest first: each step's duration and status, and each numeric metric of its envelopes. */
function trendOf(store: RunStore, testId: string) {
  const runs = store.history(testId, TREND_RUNS).reverse()
  return {
    testId,
    runs: runs.map((run) => {
      const metrics: Record<string, number> = {}
      for (const step of store.readRun(run.runId)?.steps ?? []) {
        const values = (step.envelope?.metrics ?? {}) as Record<string, JsonValue>
        for (const [name, value] of Object.entries(values))
          if (typeof value === 'number' && Number.isFinite(value)) metrics[`${step.step}.${name}`] = value
      }
      return { runId: run.runId, startTime: run.startTime, status: run.status, steps: run.steps, metrics }
    }),
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  response.end(text)
}
