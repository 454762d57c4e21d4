import type { AnalysisOptions } from '../analysis/index.ts'
import { drawsCharts, type ReportFormat } from '../exporters/index.ts'
import { drawStoredRunChartsAhead, type RunReport } from '../exporters/report-run.ts'
import { ingestJournals } from '../store/ingest.ts'
import { RunStore } from '../store/run-store.ts'
import { limiter } from './limit.ts'

/** How many runs have their documents written at once while the tests still run (they share the cores with them). */
const AHEAD_RUNS = 2

/**
 * The documents written ahead: as each recipe file ends, its runs' documents are written
 * (their charts drawn in the Word writer's thread) while the other files run, AHEAD_RUNS at
 * a time, so that once the tests end only the documents of the files that ended last are
 * left to write. With an AI summary, whose wait all runs share at the end, only the charts
 * are drawn ahead. Owns the store they are read from while the run goes, closed when the
 * reporter takes them over at the end. Only a head start: whatever is not written here
 * (a run not ended in the store, a shard's, a failure) is written at the end.
 */
export class DocumentsAhead {
  private store: Promise<RunStore> | undefined
  /** The documents started, by run; each settles to its report, or undefined when left to the end. */
  private written = new Map<string, Promise<RunReport | undefined>>()
  private readonly limit = limiter(AHEAD_RUNS)

  /** `options`: the store (relative to the root) and how runs are analysed (the reporter's options). */
  constructor(private readonly options: { db: string; analysis?: AnalysisOptions }) {}

  /**
   * Starts the documents of the runs of a recipe file that has just ended, each run once;
   * `write` writes one run's documents in `formats` from the store.
   */
  async start(
    root: string,
    runIds: Iterable<string>,
    formats: readonly ReportFormat[],
    write: (store: RunStore, runId: string) => Promise<RunReport | undefined>,
  ): Promise<void> {
    try {
      this.store ??= RunStore.openIn(root, this.options.db)
      const store = await this.store
      // The store keeper ingests the file's journal as it ends too; whichever is first stores it, once.
      await ingestJournals(store)
      for (const runId of runIds) {
        if (this.options.analysis?.ai) {
          if (drawsCharts(formats)) await drawStoredRunChartsAhead(store, runId)
          continue
        }
        if (this.written.has(runId)) continue
        const written = this.limit(async () => {
          // A run not ended in the store (or not there: a shard's, imported at the end) is written at the end.
          const data = await store.readRun(runId)
          if (!data?.run.endTime) return undefined
          return write(store, runId)
        })
        // Never unhandled: a failure here is written again at the end, which says what goes wrong.
        written.catch(() => {})
        this.written.set(runId, written)
      }
    } catch {
      // Only a head start: the documents are written at the end, and say what goes wrong.
    }
  }

  /**
   * Hands the documents started so far over to the end of the run, by run, and closes their
   * store once all of them have settled (`closed`).
   */
  handOver(): { reports: ReadonlyMap<string, Promise<RunReport | undefined>>; closed: Promise<void> } {
    return { reports: new Map(this.written), closed: this.close() }
  }

  /** Waits for the documents written ahead, then closes their store. */
  private async close(): Promise<void> {
    for (const pending of this.written.values()) await pending.catch(() => undefined)
    this.written = new Map()
    const store = this.store
    this.store = undefined
    await store?.then(
      (opened) => opened.close(),
      () => undefined,
    )
  }
}
