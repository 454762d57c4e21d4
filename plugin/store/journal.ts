import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  writeSync,
} from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { JsonValue } from '../context/json-value.ts'
import { historyWriteOf } from './history-delta.ts'
import { type JournalValue, journalValuesOf } from './journal-values.ts'
import type { StepRow } from './run-data.ts'
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
 * One line of a journal. Values are JSON; a ctx value that was deleted has no `value`; one the
 * record's own writes leave is marked `written` instead of carried (journal-values.ts). Writes
 * say what changed (history-delta.ts); journals of older versions have writes with a whole
 * `before` and `after`, which are stored as their value, and carry every value whole.
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
      values: JournalValue[]
    }
  | {
      /** Writes made outside any step (the context API), after step boundary `seq`. */
      kind: 'writes'
      seq: number
      historySeq: number
      writes: RecordedWrite[]
      values: JournalValue[]
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
  /** The journal's length after its last whole record. */
  private size = 0
  /** A failed append left part of its record that could not be taken back. */
  private tornTail = false
  private stepSeq = 0
  private historySeq = 0
  /** The journal record limit, read once (an environment read per step boundary costs more than its check). */
  private readonly maxRecordBytes = journalRecordMaxBytes()

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
    step: StepRow,
    writes: readonly RecordedWrite[],
    values: readonly [string, JsonValue | undefined][],
  ): void {
    const recorded = writes.map(historyWriteOf)
    const record: JournalRecord = {
      kind: 'step',
      seq: this.stepSeq + 1,
      historySeq: this.historySeq,
      step,
      writes: recorded,
      values: journalValuesOf(recorded, values),
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
    const recorded = writes.map(historyWriteOf)
    this.append({
      kind: 'writes',
      seq: this.stepSeq,
      historySeq: this.historySeq,
      writes: recorded,
      values: journalValuesOf(recorded, values),
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
    // A line no reader would read is refused here, where the step boundary can say so.
    const max = this.maxRecordBytes
    if (line.length > max / 3 && Buffer.byteLength(line) > max)
      throw new Error(
        `the run journal ${this.shown} could not be written: this step boundary's record is ${Buffer.byteLength(line)} bytes, over the journal record limit of ${max} bytes; write large data to files under Data/ and store their paths in the ctx`,
      )
    const bytes = Buffer.from(this.tornTail ? `\n${line}` : line)
    try {
      if (this.fd === undefined) {
        mkdirSync(join(this.path, '..'), { recursive: true })
        this.fd = openSync(this.path, 'a', 0o600)
        this.size = fstatSync(this.fd).size
      }
      // A disk that fills mid-record writes part of it and says so only at the next write(2).
      for (let written = 0; written < bytes.length; ) {
        const count = writeSync(this.fd, bytes, written)
        if (count <= 0) throw Object.assign(new Error('no space left on device, write'), { code: 'ENOSPC' })
        written += count
      }
      // After a fragment that could not be taken back, the length is the file's.
      this.size = this.tornTail ? fstatSync(this.fd).size : this.size + bytes.length
      this.tornTail = false
    } catch (error) {
      this.dropPartial()
      throw new Error(
        `the run journal ${this.shown} could not be written: ${(error as Error).message}; check that the store's folder is writable and the disk not full`,
      )
    }
  }

  /**
   * Takes back what a failed append wrote of its record, so the journal still ends with a
   * whole line and the records written once there is room again are read. When that fails
   * too, the next record starts on a line of its own: the fragment is one unreadable line.
   */
  private dropPartial(): void {
    if (this.fd === undefined) return
    try {
      ftruncateSync(this.fd, this.size)
    } catch {
      this.tornTail = true
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

/** The longest journal line read into memory unless RECIPES_JOURNAL_RECORD_MAX_BYTES says otherwise: 256 MiB. */
export const DEFAULT_JOURNAL_RECORD_MAX_BYTES = 256 * 1024 * 1024

/**
 * The longest journal line a reader parses, and a writer writes: a longer one is skipped and
 * counted, never held whole (V8 cannot hold a string over 512 MiB at all). The environment
 * variable RECIPES_JOURNAL_RECORD_MAX_BYTES lowers it (a machine short of memory, a test).
 */
export function journalRecordMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  const set = Number(env.RECIPES_JOURNAL_RECORD_MAX_BYTES)
  return Number.isInteger(set) && set > 0 ? set : DEFAULT_JOURNAL_RECORD_MAX_BYTES
}

/** What one reading of a journal found. */
export interface JournalReading {
  /** The offset after the last whole line: the next reading starts there. */
  end: number
  /** Records handed to `onRecord`. */
  records: number
  /** Lines over the record bound, skipped unread. */
  oversized: number
  /** Lines that are not JSON, or not a record of a known shape. */
  unreadable: number
  /** Bytes follow the last whole line: one still being written, or torn by a killed writer. */
  torn: boolean
  /** The reading stopped at `stopAfterBytes`: more records follow from `end`. */
  more?: boolean
}

/**
 * Reads a journal from byte `offset` on, line by line in chunks (never the whole file in
 * memory), handing each whole record to `onRecord`. A line over `maxRecordBytes` is skipped
 * without being held; one that is not a record is skipped; both are counted. A last line
 * without its newline (still being written, or torn by a kill) is left for the next reading.
 * With `stopAfterBytes`, stops at the first line boundary past that many bytes (`more`).
 */
export function readJournalRecords(
  file: string,
  offset: number,
  onRecord: (record: JournalRecord) => void,
  options: {
    maxRecordBytes?: number
    chunkBytes?: number
    /** Called where a line is skipped (over the bound, or not a record), in order with the records. */
    onSkipped?: () => void
    /** Stop at the first line boundary past this many bytes (`more`). */
    stopAfterBytes?: number
  } = {},
): JournalReading {
  const reading: JournalReading = { end: offset, records: 0, oversized: 0, unreadable: 0, torn: false }
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (error) {
    // Ingested and removed by another process meanwhile.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return reading
    throw error
  }
  try {
    const line = new LineCollector(options.maxRecordBytes ?? journalRecordMaxBytes())
    const chunk = Buffer.allocUnsafe(options.chunkBytes ?? 1024 * 1024)
    const size = fstatSync(fd).size
    let position = offset
    while (position < size) {
      const count = readSync(fd, chunk, 0, Math.min(chunk.length, size - position), position)
      if (count === 0) break
      let start = 0
      for (let newline = chunk.indexOf(0x0a, start); newline !== -1 && newline < count; ) {
        line.add(chunk.subarray(start, newline))
        takeLine(line, reading, onRecord, options.onSkipped)
        reading.end = position + newline + 1
        if (options.stopAfterBytes !== undefined && reading.end - offset >= options.stopAfterBytes) {
          reading.more = reading.end < size
          if (reading.more) return reading
        }
        start = newline + 1
        newline = chunk.indexOf(0x0a, start)
      }
      line.add(chunk.subarray(start, count))
      position += count
    }
    reading.torn = position > reading.end
    return reading
  } finally {
    closeSync(fd)
  }
}

/** The bytes of the line being read, up to a bound; past it only the fact that it was too long. */
class LineCollector {
  private parts: Buffer[] = []
  private bytes = 0
  oversized = false
  private readonly max: number

  constructor(max: number) {
    this.max = max
  }

  add(part: Buffer): void {
    if (this.oversized || part.length === 0) return
    this.bytes += part.length
    if (this.bytes > this.max) {
      this.oversized = true
      this.parts = []
    } else this.parts.push(Buffer.from(part))
  }

  /** The line's text (undefined when it was too long), and a fresh start. */
  take(): string | undefined {
    const text = this.oversized ? undefined : Buffer.concat(this.parts, this.bytes).toString('utf8')
    this.parts = []
    this.bytes = 0
    this.oversized = false
    return text
  }
}

function takeLine(
  line: LineCollector,
  reading: JournalReading,
  onRecord: (record: JournalRecord) => void,
  onSkipped: (() => void) | undefined,
): void {
  const text = line.take()
  if (text === undefined) {
    reading.oversized++
    onSkipped?.()
    return
  }
  if (text === '') return
  let record: unknown
  try {
    record = JSON.parse(text)
  } catch {
    record = undefined
  }
  if (!isJournalRecord(record)) {
    reading.unreadable++
    onSkipped?.()
    return
  }
  reading.records++
  onRecord(record)
}

/** Whether a parsed line has the shape of a record: a damaged one must not reach the store's tables. */
function isJournalRecord(value: unknown): value is JournalRecord {
  if (typeof value !== 'object' || value === null) return false
  const record = value as Record<string, unknown>
  const isObject = (item: unknown): item is Record<string, unknown> => typeof item === 'object' && item !== null
  const keyed = (items: unknown) =>
    Array.isArray(items) && items.every((item) => isObject(item) && typeof item.key === 'string')
  switch (record.kind) {
    case 'begin':
      return isObject(record.run) && typeof record.run.runId === 'string' && typeof record.pid === 'number'
    case 'finish':
      return typeof record.status === 'string' && typeof record.endTime === 'string'
    case 'step':
    case 'writes':
      return (
        typeof record.seq === 'number' &&
        typeof record.historySeq === 'number' &&
        keyed(record.writes) &&
        keyed(record.values) &&
        (record.kind === 'writes' ||
          (isObject(record.step) && typeof record.step.step === 'string' && typeof record.step.status === 'string'))
      )
    default:
      return false
  }
}
