/**
 * A value's history summarised robustly: the median and the median absolute deviation (MAD)
 * of earlier values, so that one odd run in the history does not move the baseline.
 */
export interface Baseline {
  /** How many earlier values. */
  n: number
  median: number
  /** Median absolute deviation from the median. */
  mad: number
  /** Mean absolute deviation from the median: the spread used when the MAD is 0. */
  meanAd: number
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** The baseline of `values` (finite ones only); undefined when there is none. */
export function baselineOf(values: readonly number[]): Baseline | undefined {
  const finite = values.filter((value) => Number.isFinite(value))
  if (finite.length === 0) return undefined
  const center = median(finite)
  const deviations = finite.map((value) => Math.abs(value - center))
  return {
    n: finite.length,
    median: center,
    mad: median(deviations),
    meanAd: deviations.reduce((sum, deviation) => sum + deviation, 0) / deviations.length,
  }
}

/**
 * The modified z-score of `value` against `baseline` (Iglewicz and Hoaglin: 0.6745 (x − median)
 * / MAD; with a MAD of 0, (x − median) / (1.2533 · mean absolute deviation)). Infinite when
 * every earlier value was the same and this one differs; 0 when it is that value.
 */
export function robustZ(value: number, baseline: Baseline): number {
  const difference = value - baseline.median
  if (difference === 0) return 0
  if (baseline.mad > 0) return (0.6745 * difference) / baseline.mad
  if (baseline.meanAd > 0) return difference / (1.253314 * baseline.meanAd)
  return difference > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY
}
