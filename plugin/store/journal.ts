import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, statSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { JsonValue } from '../context/json-value.ts'
import { historyWriteOf } from './history-delta.ts'
import type { RecordedWrite, RunRecorder, RunStart, RunStatus, StepRecord } from './run-store.ts'

/**
 * The run journal: what a recipe file's run records, one JSON line per record, appended with
 * one write(2) each, in `<store>.pending/<run_id>.jsonl`. A line in the page cache survives
 * the process being killed, so a SIGKILLed run loses no finished step, while a step boundary
 * costs one append instead of an SQLite transaction. Whoever opens the store next (the
 * Vitest process at the end of each file, the reporter, any `recipes` command) ingests the
 * journals into SQLite and removes those of runs that ended.
 */

/**
 * One line of a journal. Values are JSON; a ctx value that was deleted has no `value`. Writes
 * say what changed (history-delta.ts); journals of older versions have writes with a whole
 * `before` and `after`, which are stored as their value.
 */
export type JournalRecord =
  | { kind: 'begin'; run: RunStart; host: string; pid: number }
  | {
      kind: 'step'
      /** The step boundary's number in the run, and the run's history rows before it. */
      seq: number
      historySeq: number
      step: StepRecord
      writes: RecordedWrite[]
      values: { key: string; value?: JsonValue }[]
    }
  | {
      /** Writes made outside any step (the context API), after step boundary `seq`. */
      kind: 'writes'
      seq: number
      historySeq: number
      writes: RecordedWrite[]
      values: { key: string; value?: JsonValue }[]
    }
  | { kind: 'finish'; status: RunStatus; endTime: string }

/** Where the journals of the store at `storePath` are written. */
export function journalFolderOf(storePath: string): string {
  return `${storePath}.pending`
}

/** Appends a run's records to its journal; the run's recorder while the store is kept by the Vitest process. */
export class RunJournal implements RunRecorder {
  readonly path: string
  private readonly shown: string
  private fd: number | undefined
  private stepSeq = 0
  private historySeq = 0

  private constructor(path: string, shown: string) {
    this.path = path
    this.shown = shown
  }

  /** The journal of `runId` beside the store at `storePath` (shown as `shownStore` in errors). */
  static create(storePath: string, shownStore: string, runId: string): RunJournal {
    const folder = journalFolderOf(storePath)
    return new RunJournal(join(folder, `${runId}.jsonl`), `${shownStore}.pending/${runId}.jsonl`)
  }

  beginRun(run: RunStart): void {
    this.append({ kind: 'begin', run, host: hostname(), pid: process.pid })
  }

  recordStep(
    _runId: string,
    step: StepRecord,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void {
    const record: JournalRecord = {
      kind: 'step',
      seq: this.stepSeq + 1,
      historySeq: this.historySeq,
      step,
      writes: writes.map(historyWriteOf),
      values: values.map(([key, value]) => (value === undefined ? { key } : { key, value })),
    }
    this.append(record)
    this.stepSeq++
    this.historySeq += writes.length
  }

  recordWrites(
    _runId: string,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void {
    this.append({
      kind: 'writes',
      seq: this.stepSeq,
      historySeq: this.historySeq,
      writes: writes.map(historyWriteOf),
      values: values.map(([key, value]) => (value === undefined ? { key } : { key, value })),
    })
    this.historySeq += writes.length
  }

  finishRun(_runId: string, status: RunStatus, endTime = new Date().toISOString()): void {
    this.append({ kind: 'finish', status, endTime })
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }

  private append(record: JournalRecord): void {
    // Serialized first: a value that cannot be stored throws before anything is written.
    const line = `${JSON.stringify(record)}\n`
    try {
      if (this.fd === undefined) {
        mkdirSync(join(this.path, '..'), { recursive: true })
        this.fd = openSync(this.path, 'a', 0o600)
      }
      writeSync(this.fd, line)
    } catch (error) {
      throw new Error(
        `the run journal ${this.shown} could not be written: ${(error as Error).message}; check that the store's folder is writable and the disk not full`,
      )
    }
  }
}

/** The journals waiting in the store's pending folder, oldest name first. */
export function pendingJournals(storePath: string): string[] {
  const folder = journalFolderOf(storePath)
  if (!existsSync(folder)) return []
  return readdirSync(folder)
    .filter((name) => name.endsWith('.jsonl'))
    .sort()
    .map((name) => join(folder, name))
}

/**
 * The complete records of a journal from byte `offset` on, and the offset after the last
 * one: a line still being written (no newline yet) is left for the next reading. A line
 * that does not parse is skipped only if the records go on after it (a torn write of a
 * killed process is then the last line, and stays unread).
 */
export function readJournal(file: string, offset: number): { records: JournalRecord[]; end: number } {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (error) {
    // Ingested and removed by another process meanwhile.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], end: offset }
    throw error
  }
  try {
    const size = statSync(file).size
    if (size <= offset) return { records: [], end: offset }
    const buffer = Buffer.alloc(size - offset)
    let read = 0
    while (read < buffer.length) {
      const count = readSync(fd, buffer, read, buffer.length - read, offset + read)
      if (count === 0) break
      read += count
    }
    const complete = buffer.lastIndexOf(0x0a, read - 1) + 1
    const records: JournalRecord[] = []
    for (const line of buffer.toString('utf8', 0, complete).split('\n')) {
      if (line === '') continue
      try {
        records.push(JSON.parse(line) as JournalRecord)
      } catch {
        // A torn line followed by complete ones: what it held is lost, the rest is kept.
      }
    }
    return { records, end: offset + complete }
  } finally {
    closeSync(fd)
  }
}
