import { type RunData, runWallMs, type StepRow } from '../store/run-data.ts'
import { byteUnit } from './numbers.ts'

/**
 * How a run reads to people wherever it is shown (the documents, their charts, the analysis,
 * `recipes history`): durations, sizes, statuses in order and in colour. Below the exporters
 * and the charts alike, so neither imports the other for them.
 */

/** Statuses in the order reports count them. */
const STATUS_ORDER = [
  'passed',
  'failed',
  'blocked',
  'skipped',
  'setup',
  'expected-error',
  'cached',
  'resumed',
  'interrupted',
] as const

/** Fill colours (RGB hex) per step status, shared by the Excel and Word reports and the charts. */
export const STATUS_COLORS: Record<string, string> = {
  passed: 'C6EFCE',
  setup: 'C6EFCE',
  'expected-error': 'C6EFCE',
  cached: 'DDEBF7',
  resumed: 'DDEBF7',
  failed: 'FFC7CE',
  interrupted: 'FFC7CE',
  blocked: 'FFEB9C',
  skipped: 'EDEDED',
  running: 'FFEB9C',
}

/** A duration for people: `850.0 ms`, `1.25 s`, `2 min 5 s`; empty when unknown. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return ''
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)} min ${((ms % 60_000) / 1000).toFixed(0)} s`
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`
}

/** A size for people; null is a figure that was not measured (a worker thread's peak memory). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null) return 'not measured'
  if (!bytes) return ''
  // Binary units, as the charts' axes (format/numbers.ts).
  const { unit, per } = byteUnit(bytes)
  return `${(bytes / per).toFixed(unit === 'B' ? 0 : 1)} ${unit}`
}

/** How many steps ended in each status, in STATUS_ORDER, statuses with none left out. */
export function statusCounts(data: RunData): [string, number][] {
  const counts = new Map<string, number>()
  for (const step of data.steps) counts.set(step.status, (counts.get(step.status) ?? 0) + 1)
  const known = STATUS_ORDER.filter((status) => counts.has(status)).map((status): [string, number] => [
    status,
    counts.get(status)!,
  ])
  const other = [...counts].filter(([status]) => !(STATUS_ORDER as readonly string[]).includes(status))
  return [...known, ...other]
}

/** Wall time of the run, from the store's start and end times. */
export function runDurationMs(data: RunData): number | undefined {
  return runWallMs(data.run)
}

/** A retried step's attempts on one line: `attempt 1 failed (reason) in 3.1 ms; attempt 2 passed in 2.0 ms`. */
export function describeAttempts(step: StepRow): string {
  return step.attemptLog
    .map(
      (attempt) =>
        `attempt ${attempt.attempt} ${attempt.status}${attempt.reason ? ` (${attempt.reason})` : ''} in ${formatMs(attempt.durationMs)}`,
    )
    .join('; ')
}
