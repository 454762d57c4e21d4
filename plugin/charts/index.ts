import { sampleRun } from '../store/sample-run.ts'
import { visibleText, visibleValues } from '../format/document-text.ts'
import { numericMetrics, type RunData, type ShownStepRow, type TrendRun } from '../store/run-data.ts'
import { dotSvg, preloadChartEngines, svgPng, templateSvg, vegaLiteSvg } from './render.ts'
import { stepDurationsSpec } from './run-specs.ts'
import { METRIC_TREND_TEMPLATE, type MetricPoint, metricTrend, stepDurationTrendSpec } from './trend-specs.ts'
import { stepGraphDot } from './step-graph.ts'

/**
 * The pictures of a run, drawn once and used by every document and the dashboard: its step
 * durations (attempts and waits), its step graph, and each numeric metric across the test
 * id's recent runs. The dashboard's trend of a test id draws from here too: its steps'
 * durations over the runs, and each metric's trend.
 */

/** A drawn chart: its SVG, and the PNG the documents embed. */
export interface Chart {
  /** The file name without `.png`: step_durations, step_sequence, metric_<name>. */
  name: string
  title: string
  /** What the picture leaves out or could not know (a capped run, a graph without dependencies). */
  note?: string
  svg: string
  png: Uint8Array
  /** The PNG's size in pixels: `scale` times the chart's size on a page (CSS pixels). */
  width: number
  height: number
  /** PNG pixels per CSS pixel: 1.5, less for a large picture. */
  scale: number
}

/** A chart that could not be drawn, and why. */
export interface ChartProblem {
  name: string
  title: string
  error: string
}

export interface RunCharts {
  charts: Chart[]
  problems: ChartProblem[]
  /** Sentences about charts not drawn on purpose: the metrics beyond MAX_METRIC_CHARTS. */
  notes: string[]
}

/** The charts as the documents show them: the pictures, with their SVG where report.html is written. */
export interface DocumentCharts {
  charts: (Omit<Chart, 'svg'> & { svg?: string })[]
  problems: ChartProblem[]
  notes: string[]
  /** The folder beside the documents that holds each chart as `<name>.png`; absent when it could not be written. */
  files?: string
}

/** What the charts read of a run: its row and its steps (never its ctx, which can be large). */
/** A run as its charts draw it: stored, or still going (the dashboard adds its running steps). */
export type ChartRun = { run: RunData['run']; steps: readonly ShownStepRow[] }

/** How many recent runs of the test id a metric's trend covers, this one included. */
export const TREND_RUNS = 20
/** At most this many metrics get a chart each; the others are named in the notes. */
export const MAX_METRIC_CHARTS = 8

/** A chart the run has, not drawn yet. */
interface ChartPlan {
  name: string
  title: string
  note?: string
  svg: () => Promise<string>
}

/** The charts a run has, in the order the documents show them, and what was left out. */
function planCharts(shown: ChartRun, shownTrend: readonly TrendRun[]): { plans: ChartPlan[]; notes: string[] } {
  // Step and metric names as the documents show them: a control character would make the SVG unreadable.
  const data = visibleValues(shown)
  const trend = visibleValues(shownTrend)
  const durations = stepDurationsSpec(data.steps)
  const graph = stepGraphDot(data)
  const plans: ChartPlan[] = [
    {
      name: 'step_durations',
      title: 'Step durations',
      ...(durations.note ? { note: durations.note } : {}),
      svg: () => vegaLiteSvg(durations.spec),
    },
    {
      name: 'step_sequence',
      title: 'Step graph',
      ...(graph.note ? { note: graph.note } : {}),
      svg: () => dotSvg(graph.dot),
    },
  ]
  const metrics = data.steps.flatMap((step) =>
    Object.keys(numericMetrics(step)).map((name) => ({ step: step.step, name })),
  )
  const testId = data.run.testId ?? data.run.recipe
  const trendPlans = metricPlans(metrics, withThisRun(data, trend), testId, data.run.runId, plans)
  return { plans: [...plans, ...trendPlans.plans], notes: trendPlans.notes }
}

/**
 * The charts of a test id's trend (the dashboard's): its steps' durations over the runs, and
 * each metric any of them reported, the newest run the marked one.
 */
function planTrendCharts(shownId: string, shownTrend: readonly TrendRun[]): { plans: ChartPlan[]; notes: string[] } {
  const testId = visibleText(shownId)
  const trend = visibleValues(shownTrend)
  const durations = stepDurationTrendSpec(testId, trend)
  const plans: ChartPlan[] = [
    {
      name: 'step_duration_trend',
      title: 'Step durations over runs',
      ...(durations.note ? { note: durations.note } : {}),
      svg: () => vegaLiteSvg(durations.spec),
    },
  ]
  const seen = new Set<string>()
  const metrics = trend
    .flatMap((run) => run.steps.flatMap((step) => Object.keys(step.metrics).map((name) => ({ step: step.step, name }))))
    .filter(({ step, name }) => !seen.has(`${step}.${name}`) && seen.add(`${step}.${name}`))
  const trendPlans = metricPlans(metrics, trend, testId, trend.at(-1)?.runId, plans)
  return { plans: [...plans, ...trendPlans.plans], notes: trendPlans.notes }
}

/** A trend chart per metric (the first MAX_METRIC_CHARTS), named apart from `others`; the note names the rest. */
function metricPlans(
  metrics: { step: string; name: string }[],
  runs: readonly TrendRun[],
  testId: string,
  currentRunId: string | undefined,
  others: readonly ChartPlan[],
): { plans: ChartPlan[]; notes: string[] } {
  const plans: ChartPlan[] = []
  const notes: string[] = []
  const used = new Set(others.map((plan) => plan.name))
  for (const { step, name } of metrics.slice(0, MAX_METRIC_CHARTS)) {
    const metric = `${step}.${name}`
    const points: MetricPoint[] = []
    for (const run of runs) {
      const value = run.steps.find((row) => row.step === step)?.metrics[name]
      if (value !== undefined)
        points.push({
          n: points.length + 1,
          runId: run.runId,
          startTime: run.startTime,
          value,
          current: run.runId === currentRunId,
        })
    }
    const { data: values, signals } = metricTrend(metric, testId, points)
    plans.push({
      name: uniqueName(`metric_${safeName(metric)}`, used),
      title: metric,
      svg: () => templateSvg(METRIC_TREND_TEMPLATE, values, signals),
    })
  }
  if (metrics.length > MAX_METRIC_CHARTS)
    notes.push(
      `${metrics.length - MAX_METRIC_CHARTS} more metrics have no chart (the first ${MAX_METRIC_CHARTS} have one): ${metrics
        .slice(MAX_METRIC_CHARTS)
        .map(({ step, name }) => `${step}.${name}`)
        .join(', ')}`,
    )
  return { plans, notes }
}

/** The trend runs with this run's own values last, whether or not the trend had it (a run without a test id). */
function withThisRun(data: ChartRun, trend: readonly TrendRun[]): TrendRun[] {
  if (trend.some((run) => run.runId === data.run.runId)) return [...trend]
  return [
    ...trend,
    {
      runId: data.run.runId,
      startTime: data.run.startTime,
      status: data.run.status,
      steps: data.steps.map((step) => ({
        step: step.step,
        idx: step.idx,
        status: step.status,
        durationMs: step.durationMs,
        metrics: numericMetrics(step),
      })),
    },
  ]
}

/** A name usable as a file name everywhere: letters, digits, `.`, `_` and `-`, at most 80 characters. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || '_'
}

function uniqueName(name: string, used: Set<string>): string {
  let unique = name
  for (let n = 2; used.has(unique); n++) unique = `${name}_${n}`
  used.add(unique)
  return unique
}

/**
 * Draws every chart of the run, one after the other (see svgPng).
 * A chart that cannot be drawn is a problem that says why; it never stops the others.
 */
export async function renderRunCharts(data: ChartRun, trend: readonly TrendRun[]): Promise<RunCharts> {
  const { plans, notes } = planCharts(data, trend)
  const drawn = await Promise.all(
    plans.map(async (plan): Promise<Chart | ChartProblem> => {
      try {
        // The SVG as widened to hold what it draws, as the PNG shows it.
        const { png, width, height, scale, svg } = await svgPng(await plan.svg())
        return {
          name: plan.name,
          title: plan.title,
          ...(plan.note ? { note: plan.note } : {}),
          svg,
          png,
          width,
          height,
          scale,
        }
      } catch (error) {
        return { name: plan.name, title: plan.title, error: (error as Error).message || String(error) }
      }
    }),
  )
  return {
    charts: drawn.filter((item): item is Chart => 'svg' in item),
    problems: drawn.filter((item): item is ChartProblem => 'error' in item),
    notes,
  }
}

/** The charts a run has, by name and title, without drawing them (the dashboard's list). */
export function runChartList(data: ChartRun, trend: readonly TrendRun[]): { name: string; title: string }[] {
  return listOf(planCharts(data, trend).plans)
}

/** One chart of the run as SVG, or undefined when the run has no chart of that name. */
export async function renderChartSvg(
  data: ChartRun,
  trend: readonly TrendRun[],
  name: string,
): Promise<string | undefined> {
  return planCharts(data, trend)
    .plans.find((plan) => plan.name === name)
    ?.svg()
}

/** The charts of a test id's trend (its runs oldest first), by name and title (the dashboard's list). */
export function trendChartList(testId: string, trend: readonly TrendRun[]): { name: string; title: string }[] {
  return listOf(planTrendCharts(testId, trend).plans)
}

/** One chart of a test id's trend as SVG, or undefined when it has no chart of that name. */
export async function renderTrendChartSvg(
  testId: string,
  trend: readonly TrendRun[],
  name: string,
): Promise<string | undefined> {
  return planTrendCharts(testId, trend)
    .plans.find((plan) => plan.name === name)
    ?.svg()
}

function listOf(plans: readonly ChartPlan[]): { name: string; title: string }[] {
  return plans.map(({ name, title }) => ({ name, title }))
}

/**
 * Loads the engines and draws a small sample once (a Vega view's first chart runs cold,
 * several times slower), so the charts of the real runs are drawn warm; call it while the
 * run still goes. A failure shows later, in the charts of the real runs.
 */
export function preloadCharts(): void {
  preloadChartEngines()
  const sample = sampleRun()
  // A few steps, one of them with metrics: a durations chart, a graph and two metric charts.
  const steps = sample.steps.slice(0, 6).map((step, i) => (i === 0 ? step : { ...step, envelope: null }))
  renderRunCharts({ ...sample, steps }, []).catch(() => {})
}
