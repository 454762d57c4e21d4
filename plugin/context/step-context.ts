import type { Context, ContextWrite, ScriptletContext } from './context.ts'
import type { JsonObject, JsonValue } from './json-value.ts'

/**
 * The context as one step sees it: reads and writes go to the recipe's context, and the
 * step's own writes are kept apart, so steps running side by side each know what they
 * wrote. `beforeWrite` can refuse a write (a key another concurrent step wrote).
 */
export class StepContext implements ScriptletContext {
  /** This step's writes, in order. */
  readonly writes: ContextWrite[] = []
  private readonly base: Context
  private readonly beforeWrite: ((key: string) => void) | undefined

  constructor(base: Context, beforeWrite?: (key: string) => void) {
    this.base = base
    this.beforeWrite = beforeWrite
  }

  get<T extends JsonValue = JsonValue>(key: string): T | undefined {
    return this.base.get<T>(key)
  }

  has(key: string): boolean {
    return this.base.has(key)
  }

  require<T extends JsonValue = JsonValue>(key: string): T {
    return this.base.require<T>(key)
  }

  set(key: string, value: JsonValue, options: { who: string }): void {
    this.beforeWrite?.(key)
    this.writes.push(this.base.set(key, value, options))
  }

  keys(): string[] {
    return this.base.keys()
  }

  history(key?: string): ContextWrite[] {
    return this.base.history(key)
  }

  lastModified(key: string): ContextWrite | undefined {
    return this.base.lastModified(key)
  }

  toJSON(): JsonObject {
    return this.base.toJSON()
  }

  /** The keys this step wrote, each once, in order of first write. */
  writtenKeys(): string[] {
    return [...new Set(this.writes.map((write) => write.key))]
  }

  /** A view for `validate`: reads work, writes throw. */
  readOnlyView(phase: string): ScriptletContext {
    return this.base.readOnlyView(phase)
  }
}
