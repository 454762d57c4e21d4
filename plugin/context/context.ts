import { freezeSharing } from './json-delta.ts'
import { findNonJsonValue, type JsonObject, type JsonValue } from './json-value.ts'

/** Context keys: `namespace.entity_vN`, for example `metrics.summary_v1` (`_runner.x_v1` for internals). */
export const CONTEXT_KEY_PATTERN = /^_?[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.[a-z][a-z0-9_]*_v[0-9]+$/

/** One write, as the history keeps it. */
export interface ContextWrite {
  ts: string
  who: string
  key: string
  before: JsonValue | undefined
  after: JsonValue
  /** The write removed the key (`after` is then null). */
  deleted?: true
}

/** What to do with a key that does not follow `namespace.entity_vN`. */
export type KeyNamingMode = 'error' | 'warn' | 'off'

export interface ContextOptions {
  /**
   * How to treat keys that do not follow `namespace.entity_vN` (such as `metrics.summary_v1`).
   * @default 'error'
   */
  keyNaming?: KeyNamingMode
  /** Receives warnings (key naming in `warn` mode). @default console.warn */
  warn?: (message: string) => void
  /**
   * The largest value a write may store, in bytes of its JSON text (an append: the list it
   * makes). Larger data belongs in a file under `Data/`, its path in the ctx.
   * @default 16 MiB (DEFAULT_CTX_VALUE_MAX_BYTES)
   */
  valueMaxBytes?: number
}

/** The ctx value limit unless the plugin option ctxValueMaxBytes says otherwise: 16 MiB of JSON. */
export const DEFAULT_CTX_VALUE_MAX_BYTES = 16 * 1024 * 1024

/** The part of the context a scriptlet sees. Values are frozen JSON: copy before changing. */
export interface ScriptletContext {
  /** The value of `key`, or undefined when it was never set. */
  get<T extends JsonValue = JsonValue>(key: string): T | undefined
  has(key: string): boolean
  /** The value of `key`; throws a `DependencyError` (exit code 2) when it is missing. */
  require<T extends JsonValue = JsonValue>(key: string): T
  /** Writes a JSON value; `who` names the writer for the history. */
  set(key: string, value: JsonValue, options: { who: string }): void
  keys(): string[]
  /** Writes so far, oldest first; only those of `key` when given. */
  history(key?: string): ContextWrite[]
  /** The last write of `key`, or undefined. */
  lastModified(key: string): ContextWrite | undefined
  /** A plain copy of every key and value. */
  toJSON(): JsonObject
}

export interface ContextSnapshot {
  readonly values: ReadonlyMap<string, JsonValue>
  readonly revisions: ReadonlyMap<string, number>
  readonly historyLength: number
}

/** Raised for writes the context refuses; the message names the key and the writer. */
export class ContextWriteError extends Error {
  override name = 'ContextWriteError'
  readonly code:
    | 'CTX_INVALID_VALUE'
    | 'CTX_VALUE_TOO_LARGE'
    | 'CTX_MISSING_WHO'
    | 'CTX_KEY_NAMING'
    | 'CTX_READ_ONLY'
    | 'CTX_CONFLICT'
  constructor(code: ContextWriteError['code'], message: string) {
    super(message)
    this.code = code
  }
}

/** Raised by `ctx.require` for a key no earlier step wrote: exit code 2, dependency not satisfied. */
export class DependencyError extends Error {
  override name = 'DependencyError'
  readonly exitCode = 2
  readonly key: string
  constructor(key: string) {
    super(`ctx has no "${key}": run the step that writes it first (dependency not satisfied)`)
    this.key = key
  }
}

/**
 * The recipe's shared JSON context. Lives in memory: a write costs a validation, a
 * frozen copy and a history entry, never disk I/O. Persistence reads `takeDirty()` and
 * the history at step boundaries.
 */
export class Context implements ScriptletContext {
  private values = new Map<string, JsonValue>()
  /** Each key's revision: the count of writes to the whole ctx when it was last written (never reused). */
  private revisions = new Map<string, number>()
  private clock = 0
  private readonly writes: ContextWrite[] = []
  private readonly dirty = new Set<string>()
  private readonly keyNaming: KeyNamingMode
  private readonly warn: (message: string) => void
  /** The largest value a write may store, in bytes of JSON (ContextOptions.valueMaxBytes). */
  readonly valueMaxBytes: number

  constructor(initial: JsonObject = {}, options: ContextOptions = {}) {
    this.keyNaming = options.keyNaming ?? 'error'
    this.valueMaxBytes = options.valueMaxBytes ?? DEFAULT_CTX_VALUE_MAX_BYTES
    this.warn = options.warn ?? ((message) => console.warn(message))
    for (const [key, value] of Object.entries(initial)) {
      const problem = findNonJsonValue(value, key)
      if (problem) throw new ContextWriteError('CTX_INVALID_VALUE', `initial context: ${problem}`)
      this.values.set(key, freezeSharing(value))
    }
  }

  get<T extends JsonValue = JsonValue>(key: string): T | undefined {
    return this.values.get(key) as T | undefined
  }

  has(key: string): boolean {
    return this.values.has(key)
  }

  require<T extends JsonValue = JsonValue>(key: string): T {
    if (!this.values.has(key)) throw new DependencyError(key)
    return this.values.get(key) as T
  }

  /** Writes a JSON value as `who`; returns the history entry of the write. */
  set(key: string, value: JsonValue, options: { who: string }): ContextWrite {
    const who = options?.who
    if (typeof who !== 'string' || who.trim() === '') {
      throw new ContextWriteError(
        'CTX_MISSING_WHO',
        `ctx.set("${key}") needs its writer: ctx.set("${key}", value, { who: "<step or scriptlet name>" })`,
      )
    }
    this.checkKey(key, who)
    const problem = findNonJsonValue(value)
    if (problem) {
      throw new ContextWriteError(
        'CTX_INVALID_VALUE',
        `ctx.set("${key}") by "${who}": ${problem}. The context holds JSON values only.`,
      )
    }
    this.checkSize(key, value, who)
    // What did not change is shared with the value it replaces: the history holds it once.
    const after = freezeSharing(value, this.values.get(key))
    const write: ContextWrite = { ts: new Date().toISOString(), who, key, before: this.values.get(key), after }
    this.writes.push(write)
    this.values.set(key, after)
    this.revisions.set(key, ++this.clock)
    this.dirty.add(key)
    return write
  }

  /**
   * Removes `key` as `who` (the context server's `delete` and `pop` of the older framework);
   * returns the history entry, or undefined when there was no such key.
   */
  delete(key: string, options: { who: string }): ContextWrite | undefined {
    if (!this.values.has(key)) return undefined
    const write: ContextWrite = {
      ts: new Date().toISOString(),
      who: options.who,
      key,
      before: this.values.get(key),
      after: null,
      deleted: true,
    }
    this.writes.push(write)
    this.values.delete(key)
    // A key set again after a delete gets a new revision: an old one can never match it.
    this.revisions.set(key, ++this.clock)
    this.dirty.add(key)
    return write
  }

  /** The revision of `key`'s value: changes with every write of it; 0 for a key never written here. */
  revision(key: string): number {
    return this.revisions.get(key) ?? 0
  }

  keys(): string[] {
    return [...this.values.keys()]
  }

  history(key?: string): ContextWrite[] {
    return key === undefined ? [...this.writes] : this.writes.filter((write) => write.key === key)
  }

  lastModified(key: string): ContextWrite | undefined {
    return this.writes.findLast((write) => write.key === key)
  }

  toJSON(): JsonObject {
    return structuredClone(Object.fromEntries(this.values))
  }

  /** Keys written since the last call, for batched persistence. */
  takeDirty(): string[] {
    if (this.dirty.size === 0) return []
    const keys = [...this.dirty]
    this.dirty.clear()
    return keys
  }

  snapshot(): ContextSnapshot {
    return { values: new Map(this.values), revisions: new Map(this.revisions), historyLength: this.writes.length }
  }

  /** Returns to a snapshot: values as they were, later history entries dropped. */
  restore(snapshot: ContextSnapshot): void {
    for (const key of this.values.keys()) if (snapshot.values.get(key) !== this.values.get(key)) this.dirty.add(key)
    for (const key of snapshot.values.keys()) if (!this.values.has(key)) this.dirty.add(key)
    this.values = new Map(snapshot.values)
    // The clock goes on: a revision handed out after the snapshot is never given again.
    this.revisions = new Map(snapshot.revisions)
    this.writes.length = Math.min(this.writes.length, snapshot.historyLength)
  }

  /** A view for `validate`: reads work, writes throw, since validate runs before any write. */
  readOnlyView(phase: string): ScriptletContext {
    return {
      get: (key) => this.get(key),
      has: (key) => this.has(key),
      require: (key) => this.require(key),
      set: (key) => {
        throw new ContextWriteError(
          'CTX_READ_ONLY',
          `ctx.set("${key}") during ${phase}: validate must not write; move the write into run()`,
        )
      },
      keys: () => this.keys(),
      history: (key) => this.history(key),
      lastModified: (key) => this.lastModified(key),
      toJSON: () => this.toJSON(),
    }
  }

  /** Refuses a value whose JSON is over the limit: one such value would make every later read of the run slow or impossible. */
  private checkSize(key: string, value: JsonValue, who: string): void {
    let size: string
    try {
      // Its UTF-8 length; JSON.stringify itself throws for a value over V8's longest string.
      const bytes = Buffer.byteLength(JSON.stringify(value))
      if (bytes <= this.valueMaxBytes) return
      size = `${bytes} bytes of JSON`
    } catch {
      size = 'too large to write as JSON'
    }
    throw new ContextWriteError(
      'CTX_VALUE_TOO_LARGE',
      `ctx.set("${key}") by "${who}": the value is ${size}, over the ctx value limit of ${this.valueMaxBytes} bytes (plugin option ctxValueMaxBytes). Write large data to a file under Data/ and store its path in the ctx instead.`,
    )
  }

  private checkKey(key: string, who: string): void {
    if (this.keyNaming === 'off' || CONTEXT_KEY_PATTERN.test(key)) return
    const message = `ctx.set("${key}") by "${who}": keys are named namespace.entity_vN (for example "metrics.summary_v1")`
    if (this.keyNaming === 'error') {
      throw new ContextWriteError(
        'CTX_KEY_NAMING',
        `${message}. Rename the key, or set the plugin option keyNaming: 'warn'.`,
      )
    }
    this.warn(message)
  }
}
