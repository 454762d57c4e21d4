import type { ServerResponse } from 'node:http'
import { renderChartSvg, renderTrendChartSvg, runChartList, TREND_RUNS, trendChartList } from '../charts/index.ts'
import type { ShownStepRow, StepRow } from '../store/run-data.ts'
import type { RunStore } from '../store/run-store.ts'
import { isWaiting, type RunningItem } from './dashboard-waits.ts'
import { HttpError, sendJson } from './http-server.ts'

/**
 * The dashboard's charts, each one the chart the documents draw (charts/), served as SVG:
 * a run's, and a test id's trend. The page draws none of its own.
 */

/** The one chart of a run still going: each of the others would be drawn again at every change. */
const LIVE_CHARTS = ['step_durations']

/**
 * A run's charts: their list, or one as SVG. A run still going gets its step durations, the
 * steps running now among them (their time so far), never cached; the rest when it ends.
 */
export async function sendRunChart(
  store: RunStore,
  running: readonly RunningItem[],
  runId: string,
  name: string | undefined,
  response: ServerResponse,
): Promise<void> {
  const data = await store.readRun(runId)
  if (!data) throw noSuchRun(runId)
  const going = !data.run.endTime
  const run = { run: data.run, steps: going ? [...data.steps, ...runningRows(data.steps, running)] : data.steps }
  const trend = data.run.testId === null ? [] : await store.trend(data.run.testId, runId, TREND_RUNS)
  const list = runChartList(run, trend).filter((chart) => !going || LIVE_CHARTS.includes(chart.name))
  if (name === undefined) return sendJson(response, 200, { charts: list })
  const chart = decodeURIComponent(name)
  if (going && !LIVE_CHARTS.includes(chart))
    throw new HttpError(
      409,
      'DASHBOARD_RUN_GOING',
      `run ${runId} is still going: its chart ${chart} is drawn when it ends`,
    )
  const svg = await drawn(`the chart ${chart} of run ${runId}`, () => renderChartSvg(run, trend, chart))
  if (svg === undefined) throw new HttpError(404, 'DASHBOARD_NO_SUCH_CHART', `run ${runId} has no chart "${chart}"`)
  // A finished run's charts do not change: the page redraws often, the browser asks once a minute.
  sendSvg(response, svg, going ? 'no-store' : 'private, max-age=60')
}

/**
 * A test id's trend charts over its last `runs` runs: their list, or one as SVG. The page
 * asks with the trend's runs in the address, so a cached chart is one of the same runs.
 */
export async function sendTrendChart(
  store: RunStore,
  testId: string,
  runs: number,
  name: string | undefined,
  response: ServerResponse,
): Promise<void> {
  // Like with like, as the trend's table: the runs of the whole recipe, else of the newest run's -t selection.
  const recent = await store.history(testId, runs)
  const anchor = recent.find((run) => !run.selection) ?? recent[0]
  if (!anchor) throw new HttpError(404, 'DASHBOARD_NO_SUCH_TEST', `no run of test id "${testId}" in the store`)
  const trend = await store.trend(testId, anchor.runId, runs)
  if (name === undefined) return sendJson(response, 200, { charts: trendChartList(testId, trend) })
  const chart = decodeURIComponent(name)
  const svg = await drawn(`the chart ${chart} of test id ${testId}`, () => renderTrendChartSvg(testId, trend, chart))
  if (svg === undefined)
    throw new HttpError(404, 'DASHBOARD_NO_SUCH_CHART', `test id ${testId} has no chart "${chart}"`)
  sendSvg(response, svg, 'private, max-age=60')
}

export function noSuchRun(runId: string): HttpError {
  return new HttpError(404, 'DASHBOARD_NO_SUCH_RUN', `no run "${runId}" in the store`)
}

/**
 * The steps running now as rows of the run, after the ones it stored: `running`, from when
 * they started to now (steps waiting for lab resources are not running yet).
 */
function runningRows(steps: readonly StepRow[], running: readonly RunningItem[]): ShownStepRow[] {
  const stored = new Set(steps.map((step) => step.step))
  return running
    .flatMap((item) => (isWaiting(item) || stored.has(item.step) ? [] : [item]))
    .map((item, i) => ({
      step: item.step,
      idx: steps.length + i + 1,
      status: 'running',
      startTime: item.since,
      durationMs: Math.max(0, Date.now() - Date.parse(item.since)),
      cpuMs: 0,
      peakRssBytes: null,
      exitCode: null,
      attempts: 1,
      attemptLog: [],
      reason: null,
      logPath: null,
      params: {},
      envelope: null,
    }))
}

async function drawn(what: string, draw: () => Promise<string | undefined>): Promise<string | undefined> {
  try {
    return await draw()
  } catch (error) {
    throw new HttpError(500, 'DASHBOARD_CHART_FAILED', `${what} could not be drawn: ${(error as Error).message}`)
  }
}

function sendSvg(response: ServerResponse, svg: string, cacheControl: string): void {
  response.writeHead(200, {
    'content-type': 'image/svg+xml; charset=utf-8',
    'content-length': Buffer.byteLength(svg),
    'cache-control': cacheControl,
  })
  response.end(svg)
}
