import { join, relative, sep } from 'node:path'
import type { AppendQueue } from '../store/append-queue.ts'
import type { Redactor } from './redact.ts'

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
    const file = join(this.options.dir, `${idx}_${step.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`)
    return new StepLog(file, relative(this.options.root, file).split(sep).join('/'), this)
  }

  /** Writes what RAM mode kept, and waits for every write. */
  async flush(): Promise<void> {
    for (const [file, text] of this.pending) this.writes.append(file, text)
    this.pending.clear()
    await this.writes.drain()
  }

  /** @internal */
  save(file: string, text: string): void {
    const redacted = this.options.redactor.text(text)
    if (this.options.ram) this.pending.set(file, (this.pending.get(file) ?? '') + redacted)
    else this.writes.append(file, redacted)
  }
}

export class StepLog {
  /** The log file, relative to the project root (for reports). */
  readonly path: string
  private readonly file: string
  private readonly logs: StepLogs
  private readonly lines: string[] = []

  constructor(file: string, path: string, logs: StepLogs) {
    this.file = file
    this.path = path
    this.logs = logs
  }

  line(text: string): void {
    this.lines.push(`${new Date().toISOString()} ${text}`)
  }

  output(stdout: string, stderr: string): void {
    if (stdout) this.lines.push('--- stdout', stdout.trimEnd())
    if (stderr) this.lines.push('--- stderr', stderr.trimEnd())
  }

  close(): void {
    this.logs.save(this.file, `${this.lines.join('\n')}\n`)
  }
}
