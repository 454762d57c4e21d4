import { appendFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Appends to files off the step's path: each write is queued behind the previous write to
 * the same file (so its lines stay in order), different files are written side by side,
 * and the step goes on at once. `drain()` waits for all of them; the recipe file calls it
 * when it ends. A failed write is reported once on stderr, never thrown into a step.
 */
export class AppendQueue {
  private readonly files = new Map<string, Promise<void>>()
  private readonly dirs = new Map<string, Promise<unknown>>()
  private warned = false

  append(path: string, text: string): void {
    const dir = dirname(path)
    let dirReady = this.dirs.get(dir)
    if (!dirReady) this.dirs.set(dir, (dirReady = mkdir(dir, { recursive: true })))
    const previous = this.files.get(path) ?? dirReady
    const next = previous
      .then(() => appendFile(path, text))
      .catch((error: unknown) => {
        if (this.warned) return
        this.warned = true
        console.error(`vitest-recipes: could not write ${path}: ${(error as Error).message}`)
      })
    this.files.set(path, next)
  }

  async drain(): Promise<void> {
    await Promise.all(this.files.values())
    this.files.clear()
  }
}
