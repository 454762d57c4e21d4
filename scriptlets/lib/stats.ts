/**
 * NAME:    lib/stats
 * DESC:    Pure statistics shared by the metric scriptlets: no ctx, no I/O, no throwing
 *          except on an empty list (callers validate first). One definition of each
 *          formula, so compute_metrics_v1/v2 and compute_mean/median/std always agree.
 */

/** The summary compute_metrics_v1 writes as metrics.summary_v1 (a type alias, so it is a JsonObject). */
export type SummaryV1 = { count: number; mean: number; min: number; max: number }

/** metrics.summary_v2: every v1 field, plus median, population std and range. */
export type SummaryV2 = SummaryV1 & { median: number; std: number; range: number }

function nonEmpty(values: readonly number[], what: string): void {
  if (values.length === 0) throw new RangeError(`${what} of an empty list is undefined`)
}

export function min(values: readonly number[]): number {
  nonEmpty(values, 'min')
  return values.reduce((a, b) => Math.min(b, a))
}

export function max(values: readonly number[]): number {
  nonEmpty(values, 'max')
  return values.reduce((a, b) => Math.max(b, a))
}

export function mean(values: readonly number[]): number {
  nonEmpty(values, 'mean')
  return values.reduce((sum, v) => sum + v, 0) / values.length
}

/** The middle value; the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  nonEmpty(values, 'median')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Population standard deviation (divides by n, not n - 1). */
export function std(values: readonly number[]): number {
  const m = mean(values)
  return Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / values.length)
}

export function summaryV1(values: readonly number[]): SummaryV1 {
  return { count: values.length, mean: mean(values), min: min(values), max: max(values) }
}

export function summaryV2(values: readonly number[]): SummaryV2 {
  const v1 = summaryV1(values)
  return { ...v1, median: median(values), std: std(values), range: v1.max - v1.min }
}

/** Scales values linearly to 0..1 (min → 0, max → 1); all zeros when every value is equal. */
export function normalize(values: readonly number[]): number[] {
  const lo = min(values)
  const span = max(values) - lo
  return values.map((v) => (span === 0 ? 0 : (v - lo) / span))
}
