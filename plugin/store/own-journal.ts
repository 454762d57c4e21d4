import type { JsonValue } from '../context/json-value.ts'
import { ingestJournal } from './ingest.ts'
import type { RunJournal } from './journal.ts'
import type { ResourceLocks } from './resource-locks.ts'
import type { StepRow } from './run-data.ts'
import type { RecordedWrite, RunRecorder, RunStart, RunStatus } from './run-recording.ts'
import type { RunStore } from './run-store.ts'

/**
 * The recorder of a recipe file that keeps the store itself (no Vitest process keeps it: a
 * `recipes run` of one file, a resume): it journals each record as every recipe file does
 * (one synchronous append), then stores its own journal (`flush`, awaited at each step
 * boundary, so the step is in the store when it ends). The step path never waits for the
 * database synchronously; a journal the store refuses stays for whoever opens it next.
 */
export class OwnJournal implements RunRecorder {
  private readonly journal: RunJournal
  private readonly store: RunStore
  private dirty = false

  constructor(journal: RunJournal, store: RunStore) {
    this.journal = journal
    this.store = store
  }

  /** The lab resource locks of the store, which this file reaches directly. */
  get locks(): ResourceLocks {
    return this.store.locks
  }

  beginRun(run: RunStart): void {
    this.journal.beginRun(run)
    this.dirty = true
  }

  recordStep(
    runId: string,
    step: StepRow,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void {
    this.journal.recordStep(runId, step, writes, values)
    this.dirty = true
  }

  recordWrites(
    runId: string,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void {
    this.journal.recordWrites(runId, writes, values)
    this.dirty = true
  }

  finishRun(runId: string, status: RunStatus, endTime?: string): void {
    this.journal.finishRun(runId, status, endTime)
    this.dirty = true
  }

  pending(): boolean {
    return this.dirty
  }

  /** Stores what the journal holds so far. */
  async flush(): Promise<void> {
    if (!this.dirty) return
    this.dirty = false
    try {
      await ingestJournal(this.store, this.journal.path, {
        notify: (message) => process.stderr.write(`${message}\n`),
      })
    } catch (error) {
      this.dirty = true
      throw error
    }
  }

  async close(): Promise<void> {
    this.journal.close()
    try {
      await this.flush()
    } finally {
      await this.store.close()
    }
  }
}
