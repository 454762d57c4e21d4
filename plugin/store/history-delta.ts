import type { ContextWrite } from '../context/context.ts'
import { applyJsonPatch, diffJson, type JsonPatchOperation } from '../context/json-delta.ts'
import type { JsonValue } from '../context/json-value.ts'

/**
 * How the store keeps a ctx write: what changed, not the whole value before and after. The
 * first write of a key in a run keeps its value; a later one the RFC 6902 patch against the
 * key's previous recorded value (an append is one `add` of the item), or the whole value
 * when that is smaller; a delete only that it deleted. Reads rebuild each value by applying
 * the rows of a run in order (`HistoryRebuilder`).
 */
export interface HistoryWrite {
  ts: string
  who: string
  key: string
  /** The whole new value. */
  value?: JsonValue
  /** The operations that make the new value from the key's previous recorded value. */
  patch?: JsonPatchOperation[]
  /** The write removed the key. */
  deleted?: true
}

/**
 * Turns a run's ctx writes into history writes, in the order they are recorded: each is a
 * change of the value recorded before it for its key (masked as the store keeps it), so the
 * rows rebuild exactly the values the store would have kept whole. One per run.
 */
export class HistoryTracker {
  /** The last value recorded of each key (masked): the base of its next patch. */
  private readonly recorded = new Map<string, JsonValue>()
  private readonly mask: (value: JsonValue) => JsonValue

  /** `mask`: how a value is kept in the store (secrets as references). */
  constructor(mask: (value: JsonValue) => JsonValue = (value) => value) {
    this.mask = mask
  }

  /**
   * The writes as history writes; `commit` once they are recorded (a record the store refused
   * must not become the base of the next patch).
   */
  track(writes: readonly ContextWrite[]): { writes: HistoryWrite[]; commit: () => void } {
    // Most step boundaries write nothing: no map, no closures.
    if (writes.length === 0) return { writes: [], commit: nothing }
    const pending = new Map<string, JsonValue | undefined>()
    const base = (key: string) => (pending.has(key) ? pending.get(key) : this.recorded.get(key))
    const tracked = writes.map((write): HistoryWrite => {
      const { ts, who, key } = write
      if (write.deleted) {
        pending.set(key, undefined)
        return { ts, who, key, deleted: true }
      }
      const after = this.mask(write.after)
      const change = changeOf(base(key), after)
      pending.set(key, after)
      return { ts, who, key, ...change }
    })
    const commit = () => {
      for (const [key, value] of pending) {
        if (value === undefined) this.recorded.delete(key)
        else this.recorded.set(key, value)
      }
    }
    return { writes: tracked, commit }
  }
}

/** `next` as a patch against `previous` when that is smaller than the whole value. */
export function changeOf(previous: JsonValue | undefined, next: JsonValue): Pick<HistoryWrite, 'value' | 'patch'> {
  if (previous === undefined) return { value: next }
  const patch = diffJson(previous, next)
  const patchLength = JSON.stringify(patch).length
  return serializesShorterThan(next, patchLength + 1) ? { value: next } : { patch }
}

/** Whether `value` as JSON is shorter than `limit` characters; stops counting once it is not. */
export function serializesShorterThan(value: JsonValue, limit: number): boolean {
  let length = 0
  const walk = (item: JsonValue): boolean => {
    if (item === null || typeof item !== 'object') length += JSON.stringify(item).length
    else if (Array.isArray(item)) {
      length += 1 + Math.max(item.length - 1, 0) + 1
      for (const inner of item) if (length >= limit || !walk(inner)) return false
    } else {
      length += 2
      for (const [key, inner] of Object.entries(item)) {
        length += JSON.stringify(key).length + 2
        if (length >= limit || !walk(inner)) return false
      }
    }
    return length < limit
  }
  return walk(value)
}

/**
 * A ctx write as the store records it: history writes as they are, and writes with a whole
 * before and after (older journals, imported runs, callers that record `ContextWrite`s) as
 * their value.
 */
export function historyWriteOf(write: HistoryWrite | ContextWrite): HistoryWrite {
  if (!('after' in write)) return write
  const { ts, who, key } = write
  return write.deleted ? { ts, who, key, deleted: true } : { ts, who, key, value: write.after }
}

/** Schema 8 (SQLite and PostgreSQL): the column that keeps a write's patch. */
export const HISTORY_CHANGE_COLUMN = 'ALTER TABLE context_history ADD COLUMN change TEXT;'

/** A history row's value columns: `after` (whole value), `change` (patch), `before` (rows of schema 7 and older). */
export interface HistoryColumns {
  key: string
  before: string | null
  after: string | null
  change: string | null
}

/** A history write as its row's value columns (JSON text; none for a delete). */
export function historyColumnsOf(write: HistoryWrite): { after: string | null; change: string | null } {
  if (write.deleted) return { after: null, change: null }
  if (write.patch) return { after: null, change: JSON.stringify(write.patch) }
  return { after: JSON.stringify(write.value ?? null), change: null }
}

/**
 * Rebuilds the values of a run's history rows, read in order (by seq): each row's value
 * before and after. Holds the current value of each key, never the history. Rows stored
 * whole (schema 7 and older) read as they are.
 */
export class HistoryRebuilder {
  private readonly current = new Map<string, JsonValue>()

  next(row: HistoryColumns & { seq?: number }): {
    before: JsonValue | undefined
    after: JsonValue | undefined
    /** What the write changed, when the row keeps a patch. */
    patch?: JsonPatchOperation[]
  } {
    const before = row.before === null ? this.current.get(row.key) : (JSON.parse(row.before) as JsonValue)
    let after: JsonValue | undefined
    let patch: JsonPatchOperation[] | undefined
    if (row.change !== null) {
      try {
        patch = JSON.parse(row.change) as JsonPatchOperation[]
        after = applyJsonPatch(before, patch)
      } catch (error) {
        throw new Error(
          `the ctx history of ${row.key}${row.seq === undefined ? '' : ` (row ${row.seq})`} cannot be rebuilt: ${(error as Error).message}`,
        )
      }
    } else if (row.after !== null) after = JSON.parse(row.after) as JsonValue
    if (after === undefined) this.current.delete(row.key)
    else this.current.set(row.key, after)
    return patch ? { before, after, patch } : { before, after }
  }
}

function nothing(): void {}
