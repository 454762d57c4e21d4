import { appendFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Appends to files off the step's path: each write is queued behind the previous write to
 * the same file (so its lines stay in order), different files are written side by side.
 * `append` returns the write's promise for a caller that must know it landed (a step log);
 * `drain()` waits for all of them; the recipe file calls it when it ends.
 */
export class AppendQueue {
  private readonly files = new Map<string, Promise<void>>()
  private readonly dirs = new Map<string, Promise<unknown>>()

  append(path: string, text: string): Promise<void> {
    const dir = dirname(path)
    let dirReady = this.dirs.get(dir)
    if (!dirReady) this.dirs.set(dir, (dirReady = mkdir(dir, { recursive: true })))
    const previous = this.files.get(path) ?? dirReady
    const written = previous.then(() => appendFile(path, text))
    // The queue goes on after a failed write; the failure is the caller's to report.
    this.files.set(
      path,
      written.catch(() => undefined),
    )
    return written
  }

  async drain(): Promise<void> {
    await Promise.all(this.files.values())
    this.files.clear()
  }
}
