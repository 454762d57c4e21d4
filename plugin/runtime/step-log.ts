import { join } from 'node:path'
import type { AppendQueue } from '../store/append-queue.ts'
import type { Redactor } from './redact.ts'
import { projectPath } from '../recipe/project-path.ts'

export interface StepLogOptions {
  /** Absolute `Logs/<run_id>` folder of this run. */
  dir: string
  root: string
  /** Keep logs in memory and write them all when the recipe file ends (the older RAM mode). */
  ram: boolean
  redactor: Redactor
}

/**
 * The per-step log files, `Logs/<run_id>/<idx>_<step>.log`: structured lines, then the
 * step's stdout and stderr. Everything passes through the redactor before it is kept.
 */
export class StepLogs {
  private readonly options: StepLogOptions
  private readonly pending = new Map<string, string>()
  private readonly writes: AppendQueue

  constructor(options: StepLogOptions, writes: AppendQueue) {
    this.options = options
    this.writes = writes
  }

  open(idx: number, step: string): StepLog {
    return new StepLog(idx, step, this)
  }

  /** @internal Where a log named `name` goes: absolute, and relative to the root for reports. */
  locate(name: string): { file: string; path: string } {
    const file = join(this.options.dir, name)
    return { file, path: projectPath(this.options.root, file) }
  }

  /** Writes what RAM mode kept, and waits for every write. */
  async flush(): Promise<void> {
    const writes = [...this.pending].map(([file, text]) => this.writes.append(file, text))
    this.pending.clear()
    const failed = (await Promise.allSettled(writes)).filter((result) => result.status === 'rejected')
    await this.writes.drain()
    if (failed.length > 0) {
      throw new Error(`could not write ${failed.length} step log(s): ${(failed[0]!.reason as Error).message}`)
    }
  }

  /** @internal Resolves once the text is on disk (at once in RAM mode); rejects when it cannot be written. */
  save(file: string, text: string): Promise<void> {
    const redacted = this.options.redactor.text(text)
    if (!this.options.ram) return this.writes.append(file, redacted)
    this.pending.set(file, (this.pending.get(file) ?? '') + redacted)
    return Promise.resolve()
  }
}

export class StepLog {
  private readonly idx: number
  private readonly step: string
  private readonly logs: StepLogs
  // Timestamps are formatted only if the log is written: most passing steps write none.
  private readonly lines: (string | [number, string | (() => string)])[] = []

  constructor(idx: number, step: string, logs: StepLogs) {
    this.idx = idx
    this.step = step
    this.logs = logs
  }

  /** A line, stamped now; `text` may be a function, called only if the log is written. */
  line(text: string | (() => string)): void {
    this.lines.push([Date.now(), text])
  }

  output(stdout: string, stderr: string): void {
    if (stdout) this.lines.push('--- stdout', stdout.trimEnd())
    if (stderr) this.lines.push('--- stderr', stderr.trimEnd())
  }

  /** Writes the log: its path relative to the project root, and the write, which rejects if it failed. */
  close(): { path: string; written: Promise<void> } {
    // Named only when written: most passing steps write none.
    const { file, path } = this.logs.locate(`${this.idx}_${this.step.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`)
    const text = this.lines
      .map((line) => {
        if (typeof line === 'string') return line
        const [at, text] = line
        return `${new Date(at).toISOString()} ${typeof text === 'string' ? text : text()}`
      })
      .join('\n')
    return { path, written: this.logs.save(file, `${text}\n`) }
  }
}
