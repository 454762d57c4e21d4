import { AsyncLocalStorage } from 'node:async_hooks'
import { formatWithOptions } from 'node:util'
import type { Redactor } from './redact.ts'
import { printUnderTest, type StepTest } from './test-console.ts'

/** What an in-process step printed while it ran. */
export interface CapturedOutput {
  stdout: string[]
  stderr: string[]
  /** The test the step runs in: what it prints through the console is shown under it. */
  test?: StepTest | undefined
}

const CONSOLE_STREAMS = { log: 'stdout', info: 'stdout', debug: 'stdout', warn: 'stderr', error: 'stderr' } as const
type ConsoleMethod = keyof typeof CONSOLE_STREAMS

/**
 * Tees what in-process TypeScript steps print (`console.*`, `process.stdout.write`,
 * `process.stderr.write`) into the step's log, and redacts secrets on the way out. Output
 * is attributed through AsyncLocalStorage, so steps running side by side each get their
 * own; output outside any step passes through (redacted) and is not captured. Installed
 * when a recipe file's first step starts, removed when the file ends.
 *
 * What a step prints through the console shows under the step's own test (Vitest alone
 * would file it under the test that started last: see printUnderTest). The plugin's own
 * lines about a step (`say`) show there too, and never enter the step's log.
 *
 * A recipe whose steps never run side by side needs no AsyncLocalStorage: the step that
 * runs is the one printing. That is cheaper for every promise in the worker (Node 20 tracks
 * each one once a store is in use), so only recipes with parallel steps use one.
 */
export class OutputCapture {
  private readonly current = new AsyncLocalStorage<CapturedOutput>()
  private readonly overlapping: boolean
  /** The running step's sink, when steps never overlap. */
  private solo: CapturedOutput | undefined
  private uninstall: (() => void) | undefined
  /** How `say` prints: Vitest's console.log, past the capture, redacting; plain console.log until installed. */
  private print: (line: string, test: StepTest | undefined) => void = (line) => console.log(line)

  /** `overlapping`: whether steps may run side by side (the recipe has parallel steps). */
  constructor(overlapping = true) {
    this.overlapping = overlapping
  }

  install(redactor: Redactor): void {
    if (this.uninstall) return
    const current = () => this.solo ?? this.current.getStore()
    const originals = Object.fromEntries(
      Object.keys(CONSOLE_STREAMS).map((method) => [method, console[method as ConsoleMethod]]),
    ) as Record<ConsoleMethod, (...args: unknown[]) => void>
    // Vitest's console may itself write to process.stdout: capture that once, not twice.
    let insideConsole = false
    /** Prints through Vitest's console, under `test`. */
    const printThrough = (method: ConsoleMethod, args: unknown[], test: StepTest | undefined) => {
      const outer = insideConsole
      insideConsole = true
      try {
        printUnderTest(test, () => originals[method].apply(console, args))
      } finally {
        insideConsole = outer
      }
    }
    for (const method of Object.keys(CONSOLE_STREAMS) as ConsoleMethod[]) {
      console[method] = (...args: unknown[]) => {
        const sink = current()
        if (sink) sink[CONSOLE_STREAMS[method]].push(`${formatWithOptions({ colors: false }, ...args)}\n`)
        const shown = redactor.active ? args.map((arg) => (typeof arg === 'string' ? redactor.text(arg) : arg)) : args
        printThrough(method, shown, sink?.test)
      }
    }
    const teeStream = (stream: NodeJS.WriteStream, name: 'stdout' | 'stderr') => {
      const original = stream.write
      stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
        const text =
          typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString() : undefined
        const sink = insideConsole ? undefined : current()
        if (sink && text !== undefined) sink[name].push(text)
        const shown = redactor.active && text !== undefined ? redactor.text(text) : chunk
        return (original as (...args: unknown[]) => boolean).call(this, shown, ...rest)
      } as NodeJS.WriteStream['write']
      return () => {
        stream.write = original
      }
    }
    const restoreStdout = teeStream(process.stdout, 'stdout')
    const restoreStderr = teeStream(process.stderr, 'stderr')
    this.print = (line, test) => printThrough('log', [redactor.active ? redactor.text(line) : line], test)
    this.uninstall = () => {
      this.print = (line) => console.log(line)
      for (const method of Object.keys(CONSOLE_STREAMS) as ConsoleMethod[]) console[method] = originals[method]
      restoreStdout()
      restoreStderr()
    }
  }

  /**
   * Prints a line of the plugin's own about a step (its progress, a lab resource it waits
   * for): under the step's test, never into the step's captured output (its log holds what
   * the step itself printed).
   */
  say(line: string, test: StepTest | undefined): void {
    this.print(line, test)
  }

  /** Runs `fn` with what it prints collected in `sink`, until `release(sink)` is called. */
  run<T>(sink: CapturedOutput, fn: () => T): T {
    if (this.overlapping) return this.current.run(sink, fn)
    // The caller releases the sink when the step ends (returned or abandoned).
    this.solo = sink
    return fn()
  }

  /** Stops collecting into `sink` (a step that was abandoned may never return). */
  release(sink: CapturedOutput): void {
    if (this.solo === sink) this.solo = undefined
  }

  remove(): void {
    this.uninstall?.()
    this.uninstall = undefined
  }
}
