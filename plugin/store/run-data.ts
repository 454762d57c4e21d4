import type { JsonPatchOperation } from '../context/json-delta.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'

/**
 * One stored run as the exporters read it: plain data, no database handle, except the ctx
 * history, which a long run can make large (10k writes and more): it is read row by row
 * when an exporter iterates it, never held whole.
 */
export interface RunData {
  run: RunRow
  steps: StepRow[]
  /** The run's final ctx (secrets redacted), by key. */
  context: ContextRow[]
  history: { count: number; rows: () => AsyncIterable<HistoryRow> | Iterable<HistoryRow> }
  analysis: AnalysisRow | undefined
}

export interface RunRow {
  runId: string
  testId: string | null
  recipe: string
  startTime: string
  endTime: string | null
  status: string
  host: string | null
  vitestVersion: string | null
  metadata: JsonObject
}

/**
 * How a step ended. `setup`: run first because a selected step needed it (it was filtered
 * out by -t); `expected-error`: failed as its recipe's `expect: error` asked, which counts
 * as a pass; `resumed`: not run, its ctx restored from an earlier run (--resume-from).
 */
export type StepStatus = 'passed' | 'failed' | 'blocked' | 'skipped' | 'setup' | 'cached' | 'resumed' | 'expected-error'

/** A step's status as a chart or the dashboard shows it: how it ended, or `running` (a step of a run still going). */
export type ShownStepStatus = StepStatus | 'running'

/**
 * A step's row: as stored at its boundary (`Status` is how it ended), or as the live
 * dashboard shows a run still going (`ShownStepRow`: its steps under way are `running`).
 */
export interface StepRow<Status extends ShownStepStatus = StepStatus> {
  step: string
  idx: number
  status: Status
  durationMs: number
  cpuMs: number
  /** Null where the step's peak memory is not measured (a worker thread). */
  peakRssBytes: number | null
  exitCode: number | null
  /**
   * When the step began running (ISO), the start of its first attempt: with its end, where it
   * sits on the run's clock (steps side by side overlap). Null for a step that did not run and
   * in rows stored before schema 9; absent in rows of callers that do not know it.
   */
  startTime?: string | null
  /** How many attempts the step made (0: it did not run). */
  attempts: number
  /** Each attempt, in order (empty in runs stored before schema 3). */
  attemptLog: AttemptRow[]
  reason: string | null
  logPath: string | null
  /** The args the recipe gave the step: named (an object) or positional (exec steps). */
  params: JsonObject | JsonValue[]
  envelope: JsonObject | null
}

/** A step row as a chart or the dashboard shows it. */
export type ShownStepRow = StepRow<ShownStepStatus>

// A type, not an interface: it must fit JsonValue (exporters write it as JSON).
export type AttemptRow = {
  /** 1 for the first attempt. */
  attempt: number
  status: 'passed' | 'failed'
  /** Why the attempt failed. */
  reason?: string
  durationMs: number
  /** When the attempt began (ISO); absent in attempts recorded before step start times were kept. */
  startTime?: string
}

export interface ContextRow {
  key: string
  value: JsonValue
  who: string | null
  ts: string | null
}

export interface HistoryRow {
  seq: number
  key: string
  who: string | null
  ts: string | null
  step: string | null
  before: JsonValue | undefined
  after: JsonValue | undefined
  /** What the write changed (RFC 6902), when the store keeps the row as a patch. */
  patch?: JsonPatchOperation[]
}

export interface AnalysisRow {
  summaryText: string
  metrics: JsonObject
  /** The AI summary, when one is configured: what it said, or why there is none. */
  ai?: AiSummary
}

/** What an OpenAI-compatible endpoint said about a run; a suggestion to check against the data, never a finding. */
export interface AiSummary {
  status: 'answered' | 'unavailable'
  model: string
  /** The endpoint's origin (scheme, host, port): never a key or a path with credentials. */
  endpoint: string
  /** The answer, when there is one. */
  text?: string
  /** Why there is no answer (timeout, refused, HTTP status, no key). */
  reason?: string
  /** How long asking took. */
  ms: number
  /** When it was asked (ISO). */
  at: string
}

/**
 * A run's duration: its wall time, from the store's start to end time; undefined while it
 * runs. The one duration of a run everywhere it is shown; a sum of step times is not it
 * (parallel steps overlap, setup runs inside its selected step).
 */
export function runWallMs(run: Pick<RunRow, 'startTime' | 'endTime'>): number | undefined {
  if (!run.endTime) return undefined
  const ms = Date.parse(run.endTime) - Date.parse(run.startTime)
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined
}

/** The test_meta a run was started with (an empty object for runs that kept none). */
export function testMetaOf(run: RunRow): JsonObject {
  const meta = run.metadata.test_meta
  return meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? meta : {}
}

/** The numeric metrics a step's envelope reported (`metrics: {count: 5}`), flattened one level (`latency.p99`). */
export function numericMetrics(step: Pick<StepRow, 'envelope'>): Record<string, number> {
  return flatMetrics(step.envelope?.metrics)
}

/** An envelope's `metrics` value as numbers by name, nested objects flattened one level; anything else left out. */
export function flatMetrics(metrics: JsonValue | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) return out
  for (const [name, value] of Object.entries(metrics)) {
    if (typeof value === 'number' && Number.isFinite(value)) out[name] = value
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [inner, innerValue] of Object.entries(value)) {
        if (typeof innerValue === 'number' && Number.isFinite(innerValue)) out[`${name}.${inner}`] = innerValue
      }
    }
  }
  return out
}

/** A run of a test id as its trend charts read it: each step's duration, status and numeric metrics. */
export interface TrendRun {
  runId: string
  startTime: string
  status: string
  steps: TrendStep[]
}

export interface TrendStep {
  step: string
  idx: number
  status: string
  durationMs: number
  metrics: Record<string, number>
}

/** All the rows of an iteration (what a test or a small export wants whole). */
export async function collect<T>(rows: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const row of rows) all.push(row)
  return all
}
