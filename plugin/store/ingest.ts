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
 * in transactions that hold the write lock (one per few MiB of records), so a later ingestion
 * never stores less than an earlier one; a record replayed twice changes nothing (rows are
 * keyed by run and sequence). Ingestions of one store in one process run one after another.
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
  /** The file could not be read (a folder by its name, another user's file, an I/O error), and this was said. */
  readFailureSaid?: boolean
}

/** A journal the file system would not let this process read: what it said. */
class JournalReadError extends Error {
  override name = 'JournalReadError'
}

function readFailureMessage(store: RunStore, file: string, state: JournalState, error: JournalReadError): string {
  const folder = store.dialect === 'sqlite' ? `${store.path}.pending` : journalFolderOf(store.file)
  const stored =
    state.records === 0
      ? 'none of its records is stored'
      : `the ${state.records} records read before are stored, the rest is not`
  return `vitest-recipes: RUN_JOURNAL_UNREADABLE: the run journal ${folder}/${basename(file)} could not be read (${error.message}); ${stored}: make it readable by this user, or move it out of ${folder}/ (the other journals are stored)`
}

/** A journal with no readable `begin` (so no known writer) is taken as abandoned once untouched this long. */
const UNKNOWN_WRITER_GRACE_MS = 60_000

const statesOfStore = new WeakMap<RunStore, Map<string, JournalState>>()
/** The ingestion of each store running now: the next one starts after it. */
const runningOf = new WeakMap<RunStore, Promise<unknown>>()

/** How many bytes of records one transaction stores at most (records are held in memory until it commits). */
const BATCH_BYTES = 8 * 1024 * 1024

/** Stores what the store's pending journals hold, settles those that are done; returns what it stored. */
export function ingestJournals(store: RunStore, options: IngestOptions = {}): Promise<Ingested> {
  return queued(store, () => ingestAll(store, options))
}

/**
 * Stores what one journal of the store holds so far (`file`: a recipe file's own journal, when
 * it keeps the store itself), settling it once its run finished.
 */
export function ingestJournal(store: RunStore, file: string, options: IngestOptions = {}): Promise<Ingested> {
  return queued(store, async () => {
    const ingested: Ingested = { runs: [], records: 0 }
    await ingestFile(store, file, statesOf(store), notifierOf(options), ingested, false)
    return ingested
  })
}

/** `work` after the ingestion of `store` running now, if any: two never read one journal at once. */
function queued<T>(store: RunStore, work: () => Promise<T>): Promise<T> {
  const before = runningOf.get(store) ?? Promise.resolve()
  const result = before.then(work, work)
  runningOf.set(
    store,
    result.catch(() => undefined),
  )
  return result
}

function statesOf(store: RunStore): Map<string, JournalState> {
  let states = statesOfStore.get(store)
  if (!states) statesOfStore.set(store, (states = new Map()))
  return states
}

function notifierOf(options: IngestOptions): (message: string) => void {
  return options.notify ?? ((message: string) => process.stderr.write(`${message}\n`))
}

async function ingestAll(store: RunStore, options: IngestOptions): Promise<Ingested> {
  const notify = notifierOf(options)
  const states = statesOf(store)
  const ingested: Ingested = { runs: [], records: 0 }
  for (const file of pendingJournals(store.file)) await ingestFile(store, file, states, notify, ingested, true)
  // Runs whose process died without a journal left here (or on another machine, on PostgreSQL).
  for (const runId of await store.markInterrupted()) {
    const file = join(journalFolderOf(store.file), `${runId}.jsonl`)
    const state = states.get(file)
    if (state && existsSync(file)) await settle(store, file, state, notify)
    states.delete(file)
  }
  await store.heartbeat()
  return ingested
}

async function ingestFile(
  store: RunStore,
  file: string,
  states: Map<string, JournalState>,
  notify: (message: string) => void,
  ingested: Ingested,
  settleAbandoned: boolean,
): Promise<void> {
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
  try {
    await readInto(store, file, state)
  } catch (error) {
    if (!(error instanceof JournalReadError)) throw error
    // One journal that cannot be read stops no other: said once, tried again at every ingestion.
    if (!state.readFailureSaid) notify(readFailureMessage(store, file, state, error))
    state.readFailureSaid = true
    return
  }
  state.readFailureSaid = false
  if (state.records > before) {
    ingested.records += state.records - before
    ingested.runs.push(runIdOf(file, state))
  }
  if (state.finished || (settleAbandoned && writerGone(file, state))) await settle(store, file, state, notify)
  if (!existsSync(file)) states.delete(file)
}

/**
 * Reads the journal's new records into the store: a few MiB at a time, each in one
 * transaction; what a transaction stored counts once it committed.
 */
async function readInto(store: RunStore, file: string, state: JournalState): Promise<void> {
  for (;;) {
    // A line that could not be read may have changed any key: values after it are not guessed.
    const records: (JournalRecord | 'skipped')[] = []
    let reading: ReturnType<typeof readJournalRecords>
    try {
      reading = readJournalRecords(file, state.offset, (record) => records.push(record), {
        stopAfterBytes: BATCH_BYTES,
        onSkipped: () => records.push('skipped'),
      })
    } catch (error) {
      throw new JournalReadError((error as Error).message)
    }
    const found = { ...state, values: state.values.copy() }
    await store.writeLocked(async (tx) => {
      for (const record of records) {
        if (record === 'skipped') {
          found.values.skipped()
          continue
        }
        if (record.kind === 'begin') {
          found.runId = record.run.runId
          found.writer = { host: record.host, pid: record.pid }
        }
        try {
          await store.storeJournalRecord(tx, runIdOf(file, found), withValues(record, found))
        } catch (error) {
          // A record of the right shape holding the wrong things: lost, the journal goes on.
          if (!(error instanceof TypeError || error instanceof RangeError)) throw error
          found.values.skipped()
          found.unreadable++
          found.records--
        }
        if (record.kind === 'finish') found.finished = true
      }
    })
    Object.assign(state, found)
    state.offset = reading.end
    state.records += reading.records
    state.oversized += reading.oversized
    state.unreadable += reading.unreadable
    state.torn = reading.torn
    if (!reading.more) return
  }
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
async function settle(
  store: RunStore,
  file: string,
  state: JournalState,
  notify: (message: string) => void,
): Promise<void> {
  const runId = runIdOf(file, state)
  const whole = state.oversized === 0 && state.unreadable === 0 && state.unrebuilt === 0 && !state.torn
  if (!whole || !state.finished) await store.interruptRun(runId, { evenIfEnded: !whole })
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
