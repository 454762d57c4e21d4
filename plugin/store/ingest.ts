import { existsSync, renameSync, statSync, unlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, join } from 'node:path'
import { historyWriteOf } from './history-delta.ts'
import { isProcessAlive } from './process-alive.ts'
import {
  type JournalRecord,
  journalFolderOf,
  journalRecordMaxBytes,
  pendingJournals,
  readJournalRecords,
} from './journal.ts'
import { JournalValues } from './journal-values.ts'
import type { RunStore } from './run-store.ts'

/**
 * The one way journals get into the store (journal.ts writes them): the store keeper, the
 * reporter, the lock service, the dashboard and every command that opens the store call
 * `ingestJournals`. Each journal is read from where this process last stopped, line by line,
 * in one transaction that holds the write lock, so a later ingestion never stores less than an
 * earlier one; a record replayed twice changes nothing (rows are keyed by run and sequence).
 *
 * A journal is done when its run finished, or when the process that wrote it is gone. A done
 * journal read whole is removed. One that could not be read whole (a line over the record
 * bound, a line that is not a record, a last line torn by a kill) is moved aside to
 * `<name>.unreadable`, said once, and its run is stored as interrupted with every record that
 * could be read: nothing a run leaves can stop the store for the others.
 */

/** What one ingestion stored. */
export interface Ingested {
  /** The runs it stored records of. */
  runs: string[]
  /** How many records it stored. */
  records: number
}

export interface IngestOptions {
  /** Where the message about a journal moved aside goes. @default stderr */
  notify?: (message: string) => void
}

/** How far this process has read a journal, and what it found. */
interface JournalState {
  offset: number
  runId?: string
  writer?: { host: string; pid: number }
  finished: boolean
  records: number
  oversized: number
  unreadable: number
  torn: boolean
  /** The ctx values the records read so far leave: records mark values their writes leave (journal-values.ts). */
  values: JournalValues
  /** Marked values that could not be rebuilt (a record before them was unreadable). */
  unrebuilt: number
}

/** A journal with no readable `begin` (so no known writer) is taken as abandoned once untouched this long. */
const UNKNOWN_WRITER_GRACE_MS = 60_000

const statesOfStore = new WeakMap<RunStore, Map<string, JournalState>>()

/** Stores what the store's pending journals hold, settles those that are done; returns what it stored. */
export function ingestJournals(store: RunStore, options: IngestOptions = {}): Ingested {
  const notify = options.notify ?? ((message: string) => process.stderr.write(`${message}\n`))
  let states = statesOfStore.get(store)
  if (!states) statesOfStore.set(store, (states = new Map()))
  const ingested: Ingested = { runs: [], records: 0 }
  for (const file of pendingJournals(store.file)) {
    const state = states.get(file) ?? {
      offset: 0,
      finished: false,
      records: 0,
      oversized: 0,
      unreadable: 0,
      torn: false,
      values: new JournalValues(),
      unrebuilt: 0,
    }
    states.set(file, state)
    const before = state.records
    readInto(store, file, state)
    if (state.records > before) {
      ingested.records += state.records - before
      ingested.runs.push(runIdOf(file, state))
    }
    if (state.finished || writerGone(file, state)) settle(store, file, state, notify)
    if (!existsSync(file)) states.delete(file)
  }
  // Runs whose process died without a journal left here (or on another machine, on PostgreSQL).
  for (const runId of store.markInterrupted()) {
    const file = join(journalFolderOf(store.file), `${runId}.jsonl`)
    const state = states.get(file)
    if (state && existsSync(file)) settle(store, file, state, notify)
    states.delete(file)
  }
  store.heartbeat()
  return ingested
}

/** Reads the journal's new records into the store, in one transaction. */
function readInto(store: RunStore, file: string, state: JournalState): void {
  store.writeLocked(() => {
    const onRecord = (record: JournalRecord) => {
      if (record.kind === 'begin') {
        state.runId = record.run.runId
        state.writer = { host: record.host, pid: record.pid }
      }
      try {
        store.storeJournalRecord(runIdOf(file, state), withValues(record, state))
      } catch (error) {
        // A record of the right shape holding the wrong things: lost, the journal goes on.
        if (!(error instanceof TypeError || error instanceof RangeError)) throw error
        state.values.skipped()
        state.unreadable++
        state.records--
      }
      if (record.kind === 'finish') state.finished = true
    }
    // A line that could not be read may have changed any key: values after it are not guessed.
    const reading = readJournalRecords(file, state.offset, onRecord, { onSkipped: () => state.values.skipped() })
    state.offset = reading.end
    state.records += reading.records
    state.oversized += reading.oversized
    state.unreadable += reading.unreadable
    state.torn = reading.torn
  })
}

/** A step or writes record with its values whole: those it marks rebuilt from the writes read so far. */
function withValues(record: JournalRecord, state: JournalState): JournalRecord {
  if (record.kind !== 'step' && record.kind !== 'writes') return record
  const resolved = state.values.resolve(record.writes.map(historyWriteOf), record.values)
  state.unrebuilt += resolved.lostKeys.length
  return { ...record, values: resolved.values.map(([key, value]) => (value === undefined ? { key } : { key, value })) }
}

function runIdOf(file: string, state: JournalState): string {
  return state.runId ?? basename(file, '.jsonl')
}

/** Whether no one will append to the journal again: its writer on this host is gone. */
function writerGone(file: string, state: JournalState): boolean {
  if (state.writer) return state.writer.host === hostname() && !isProcessAlive(state.writer.pid)
  try {
    return Date.now() - statSync(file).mtimeMs > UNKNOWN_WRITER_GRACE_MS
  } catch {
    return false
  }
}

/** A done journal: removed when read whole; else its run interrupted, the journal moved aside and said. */
function settle(store: RunStore, file: string, state: JournalState, notify: (message: string) => void): void {
  const runId = runIdOf(file, state)
  const whole = state.oversized === 0 && state.unreadable === 0 && state.unrebuilt === 0 && !state.torn
  if (!whole || !state.finished) store.interruptRun(runId, { evenIfEnded: !whole })
  if (whole) {
    remove(file)
    return
  }
  const aside = freeName(`${file}.unreadable`)
  try {
    renameSync(file, aside)
  } catch (error) {
    // Moved or removed by another process meanwhile: it says so.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  const shown = (path: string) => (store.dialect === 'sqlite' ? `${store.path}.pending/${basename(path)}` : path)
  notify(
    `vitest-recipes: RUN_JOURNAL_UNREADABLE: the run journal ${shown(file)} could not be stored whole (${problemsOf(state)}); run ${runId} is stored as interrupted with the ${state.records} records that could be read; it was moved aside to ${shown(aside)}: look into it or delete it (nothing reads it again)`,
  )
}

function problemsOf(state: JournalState): string {
  const problems: string[] = []
  const max = journalRecordMaxBytes()
  const bound = max % (1024 * 1024) === 0 ? `${max / (1024 * 1024)} MiB` : `${max} bytes`
  if (state.oversized > 0)
    problems.push(`${state.oversized} line${state.oversized === 1 ? '' : 's'} over the ${bound} record limit`)
  if (state.unreadable > 0) problems.push(`${state.unreadable} unreadable line${state.unreadable === 1 ? '' : 's'}`)
  if (state.unrebuilt > 0)
    problems.push(
      `${state.unrebuilt} ctx value${state.unrebuilt === 1 ? '' : 's'} that could not be rebuilt from the records before`,
    )
  if (state.torn) problems.push('a torn last line')
  return problems.join(', ')
}

function freeName(path: string): string {
  let candidate = path
  for (let n = 2; existsSync(candidate); n++) candidate = `${path}-${n}`
  return candidate
}

function remove(file: string): void {
  try {
    unlinkSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}
