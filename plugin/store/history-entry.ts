import type { JsonPatchOperation } from '../context/json-delta.ts'
import type { JsonValue } from '../context/json-value.ts'
import { serializesShorterThan } from './history-delta.ts'
import type { HistoryRow } from './run-data.ts'

/** The longest value (as JSON) a history entry shows whole unless the store keeps it whole: 4 KiB. */
export const HISTORY_VALUE_SHOWN_MAX = 4 * 1024

/**
 * One ctx write as the JSON reports, the Allure ctx diff and the dashboard show it: what it
 * changed (its patch, when the store keeps one), its value before and after when they are
 * small, and its value after when the store keeps that whole. A value left out is named in
 * `omitted`. Whole values before and after every write made a key appended to 600 times
 * print its list 1,200 times: the output grew with the square of the run (and broke past
 * 512 MB), where the store grows with what changed; an entry is now at most 8 KiB beside what
 * the store keeps of its write.
 */
export interface HistoryEntry {
  seq: number
  key: string
  who: string | null
  ts: string | null
  step: string | null
  before?: JsonValue | null
  after?: JsonValue | null
  /** What the write changed (RFC 6902), when the store keeps the write as a patch. */
  patch?: JsonPatchOperation[]
  /** The values left out for their size: rebuild them from the entries before, or read the run's ctx. */
  omitted?: ('before' | 'after')[]
}

export function historyEntryOf(row: HistoryRow, max = HISTORY_VALUE_SHOWN_MAX): HistoryEntry {
  const { seq, key, who, ts, step } = row
  const entry: HistoryEntry = { seq, key, who, ts, step }
  const omitted: ('before' | 'after')[] = []
  const small = (value: JsonValue | undefined) => value === undefined || serializesShorterThan(value, max + 1)
  if (small(row.before)) entry.before = row.before ?? null
  else omitted.push('before')
  if (small(row.after) || !row.patch) entry.after = row.after ?? null
  else omitted.push('after')
  if (row.patch) entry.patch = row.patch
  if (omitted.length > 0) entry.omitted = omitted
  return entry
}
