import { ContextWriteError } from '../context/context.ts'

interface StepWindow {
  start: number
  end?: number
  keys: Set<string>
}

/**
 * Notices two steps that ran at the same time writing the same key (recipe option
 * `conflicts: fail`, the default). Time is a counter of step starts and ends, so "at the
 * same time" means overlapping, whatever the clock says.
 */
export class ConcurrentWrites {
  private clock = 0
  private running = 0
  private readonly windows = new Map<string, StepWindow>()

  begin(step: string): void {
    this.windows.set(step, { start: ++this.clock, keys: new Set() })
    this.running++
  }

  end(step: string): void {
    const window = this.windows.get(step)
    if (!window || window.end !== undefined) return
    window.end = ++this.clock
    // No step runs now, so none that starts later can overlap these: forgetting them keeps each check short.
    if (--this.running === 0) this.windows.clear()
  }

  /** Throws when another step that overlapped `step` wrote `key`; otherwise records the write. */
  check(step: string, key: string): void {
    const own = this.windows.get(step)
    if (!own) return
    for (const [other, window] of this.windows) {
      if (other === step || !window.keys.has(key)) continue
      if (window.end === undefined || window.end > own.start) {
        throw new ContextWriteError(
          'CTX_CONFLICT',
          `ctx.set("${key}") by step "${step}" conflicts with step "${other}", which ran at the same time and wrote it too. Give each parallel step its own keys, or set conflicts: last_write_wins in the recipe.`,
        )
      }
    }
    own.keys.add(key)
  }
}
