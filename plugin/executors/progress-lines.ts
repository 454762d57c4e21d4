/**
 * How a program (a shell or Python step) reports progress while it runs: a line on stderr,
 *
 *   ::progress::40 port 4 of 10
 *
 * (percent done, 0–100, an optional `%`, then an optional message). The line stays in the
 * step's log like any stderr; the run shows it live (terminal, dashboard).
 */
const PROGRESS_LINE = /^::progress::\s*(\d+(?:\.\d+)?)%?(?:\s+(.*))?$/

/** Receives a step's progress: percent done (0–100) and what it is doing. */
export type ProgressReport = (percent: number, message?: string) => void

/** Watches a stream's chunks for progress lines (a line may arrive in pieces). */
export function progressWatcher(report: ProgressReport): (chunk: Buffer | string) => void {
  let partial = ''
  return (chunk) => {
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop() ?? ''
    // A line this long is no progress line: stop holding it.
    if (partial.length > 4096) partial = ''
    for (const line of lines) {
      const match = PROGRESS_LINE.exec(line.trimEnd())
      if (match) report(clampPercent(Number(match[1])), match[2]?.trim() || undefined)
    }
  }
}

export function clampPercent(value: number): number {
  return Number.isFinite(value) ? Math.min(100, Math.max(0, value)) : 0
}
