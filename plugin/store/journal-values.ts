import { applyJsonPatch, type JsonPatchOperation } from '../context/json-delta.ts'
import type { JsonValue } from '../context/json-value.ts'
import type { HistoryWrite } from './history-delta.ts'

/**
 * The current ctx values a journal's records leave, so a record need not carry them. A step
 * boundary records the writes it made (what changed: history-delta.ts) and the current value
 * of each key it changed (for context_snapshots). Written whole, those values make a journal
 * grow with the square of the run: a list appended to at 600 boundaries is in it 600 times.
 * So a journal record marks a value the record's own writes leave (`{ key, written: true }`)
 * instead of carrying it, and its reader rebuilds it from the writes it has read: the journal
 * grows with what changed, like the history.
 */

/** A current value as a journal record keeps it: the value, none (the key was deleted), or "what the writes left". */
export interface JournalValue {
  key: string
  value?: JsonValue
  /** The value is the one this record's writes leave for the key. */
  written?: true
}

/**
 * A record's current values for the journal: a value the record's own writes leave is marked,
 * not carried. `writes` are the record's writes as the history keeps them (masked as the
 * values are), so what they rebuild is the value.
 */
export function journalValuesOf(
  writes: readonly Pick<HistoryWrite, 'key' | 'deleted'>[],
  values: readonly [string, JsonValue | undefined][],
): JournalValue[] {
  if (values.length === 0) return []
  const written = new Set(writes.filter((write) => !write.deleted).map((write) => write.key))
  return values.map(([key, value]): JournalValue => {
    if (value === undefined) return { key }
    return written.has(key) ? { key, written: true } : { key, value }
  })
}

/**
 * Follows a journal's writes from its first record on (one per journal and reader) and turns
 * marked values back into values. Holds the current value of each key, never the history.
 */
export class JournalValues {
  private readonly current = new Map<string, JsonValue>()
  /** Keys whose value cannot be rebuilt (a patch against a record that was not read): never guessed. */
  private readonly lost = new Set<string>()

  /**
   * Applies a record's writes and returns its values whole. A marked value that cannot be
   * rebuilt (a record before it was unreadable) is left out: the snapshot keeps the last value
   * known, and `lostKeys` says which keys went so.
   */
  resolve(
    writes: readonly HistoryWrite[],
    values: readonly JournalValue[],
  ): { values: [string, JsonValue | undefined][]; lostKeys: string[] } {
    for (const write of writes) this.apply(write)
    const resolved: [string, JsonValue | undefined][] = []
    const lostKeys: string[] = []
    for (const entry of values) {
      if (!entry.written) {
        resolved.push([entry.key, entry.value])
        if (entry.value === undefined) this.current.delete(entry.key)
        else this.current.set(entry.key, entry.value)
        this.lost.delete(entry.key)
      } else if (this.lost.has(entry.key) || !this.current.has(entry.key)) lostKeys.push(entry.key)
      else resolved.push([entry.key, this.current.get(entry.key)])
    }
    return { values: resolved, lostKeys }
  }

  /** A copy to read ahead with: kept only once what it read is stored (ingest.ts). */
  copy(): JournalValues {
    const copy = new JournalValues()
    for (const [key, value] of this.current) copy.current.set(key, value)
    for (const key of this.lost) copy.lost.add(key)
    return copy
  }

  /** A record that could not be read: the keys it may have changed are unknown from here on, until written whole. */
  skipped(): void {
    for (const key of this.current.keys()) this.lost.add(key)
    this.current.clear()
  }

  private apply(write: HistoryWrite): void {
    const { key } = write
    if (write.deleted) {
      this.current.delete(key)
      this.lost.delete(key)
    } else if (write.patch) {
      const before = this.current.get(key)
      if (before === undefined || this.lost.has(key)) {
        this.lost.add(key)
        return
      }
      try {
        this.current.set(key, applyJsonPatch(before, write.patch as JsonPatchOperation[]))
      } catch {
        this.current.delete(key)
        this.lost.add(key)
      }
    } else {
      this.current.set(key, write.value ?? null)
      this.lost.delete(key)
    }
  }
}
