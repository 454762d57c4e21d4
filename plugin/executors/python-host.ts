import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { ContextWrite } from '../context/context.ts'
import type { StepContext } from '../context/step-context.ts'
import type { JsonValue } from '../context/json-value.ts'
import { EXIT_FAILED, errorEnvelope, normalizeEnvelope, type Envelope } from '../scriptlet/envelope.ts'
import type { RecipeStep } from '../recipe/types.ts'
import { recordLeftovers } from './leftovers.ts'
import { applyEnvelopeContext, tail } from './output.ts'
import { newStepToken, readProcess, type StepTree, stopOnAbort } from './process-tree.ts'
import { spawnPythonHost, takePrestartedHost } from './python-host-process.ts'
import { sampleStepResources } from './resource-sampler.ts'
import { progressWatcher } from './progress-lines.ts'
import type { ExecutorInput, StepExecution, StepResources } from './types.ts'

/** What the host writes on stderr after each step (STEP_END_MARK in recipes_host.py). */
const STEP_END_MARK = '\x1erecipes-step-end\x1e\n'
/** How long to wait for the rest of a step's stderr once its answer came. */
const STDERR_WAIT_MS = 1000

export interface PythonHostOptions {
  /** Interpreter to start. @default 'python3' */
  executable: string
  /** Absolute folders put first on sys.path (the plugin option python.path). */
  path: readonly string[]
  root: string
}

/**
 * What a python file defines, read by the host without running it (python's ast): its
 * top-level classes (`run`: it has run(), its own or a base's of the same file), functions
 * and imported names, and whether it has an `if __name__ == "__main__":` block.
 */
export interface PythonFileOutline {
  classes: { name: string; run: boolean }[]
  functions: string[]
  imported: string[]
  main_block: boolean
}

interface HostMessage extends Partial<PythonFileOutline> {
  type: 'ready' | 'ctx' | 'done' | 'outline'
  rid?: number
  phase?: 'validate' | 'run'
  method?: string
  key?: string
  value?: JsonValue
  who?: string
  result?: JsonValue
  stdout?: string
  /**
   * The host's own measurement of the step: its CPU time, and its peak RSS during the step
   * (null when the kernel would not reset the host's peak and the step set no new one).
   */
  resources?: { cpuMs: number; peakRssBytes: number | null }
  error?: { type: string; message: string; phase: string; exit_code: number | null; traceback: string }
  /** Set when the scriptlet called sys.exit: the exit status and the argument as Python wrote it. */
  sys_exit?: { code: number; argument: string }
}

/** What the host answered for one step. */
interface HostAnswer {
  envelope: Envelope
  traceback: string
  stdout: string
  resources?: HostMessage['resources']
}

/**
 * One warm Python interpreter serving every python module step of a recipe file, over
 * JSON lines (requests on its stdin, answers on its stdout). The scriptlet's ctx calls are
 * answered from the recipe's context as they happen. If the host dies, the step it was
 * running fails and the next python step starts a fresh one.
 */
export class PythonHost {
  private readonly options: PythonHostOptions
  private child: ChildProcessWithoutNullStreams | undefined
  private messages: AsyncIterator<string> | undefined
  private stderr = ''
  /** Called on each stderr chunk while a step waits for its STEP_END_MARK. */
  private onStderr: (() => void) | undefined
  /** The running step's progress lines (`::progress::`), while it runs. */
  private watchProgress: ((chunk: string) => void) | undefined
  private exit: string | undefined
  private exited: Promise<void> = Promise.resolve()
  /** The host's start time in /proc: its pid, once reused, is not the host's. */
  private startTime: number | undefined

  constructor(options: PythonHostOptions) {
    this.options = options
  }

  async runStep({ step, ctx, signal, env, progress }: ExecutorInput): Promise<StepExecution> {
    const stderrStart = this.stderr.length
    const started = await this.start()
    if (started)
      return {
        envelope: errorEnvelope(step.name, started, EXIT_FAILED),
        stdout: '',
        stderr: this.stderr.slice(stderrStart),
        resources: { cpuMs: 0, peakRssBytes: 0, peakRssMeasured: false },
      }
    const host = this.child!
    // Whatever the scriptlet starts carries the step's token: found after setsid, stopped after the step.
    const token = newStepToken()
    const tree: StepTree = { root: host.pid, rootStartTime: this.startTime, token }
    // A step that times out takes its host down with everything the scriptlet started; the next step starts a new host.
    const stopping = stopOnAbort(tree, signal)
    const usage = sampleStepResources(tree, { hostRoot: true })
    let answer: HostAnswer
    this.watchProgress = progress && progressWatcher(progress)
    try {
      answer = await this.converse(step, token, ctx, stderrStart, env)
    } finally {
      this.watchProgress = undefined
      stopping.dispose()
    }
    // A timed-out step is reported once its processes (the host's too) are dead, not before.
    const stopped = await stopping.settled()
    const sampled = usage.stop()
    if (stopped) this.reset()
    else recordLeftovers({ ...tree, spareRoot: true }, step.name)
    const own = answer.resources
    const resources: StepResources = {
      cpuMs: (own?.cpuMs ?? 0) + sampled.cpuMs,
      peakRssBytes: Math.max(own?.peakRssBytes ?? 0, sampled.peakRssBytes),
    }
    if (typeof own?.peakRssBytes !== 'number' && sampled.samples === 0) resources.peakRssMeasured = false
    return {
      envelope: answer.envelope,
      stdout: answer.stdout,
      stderr: this.stderr.slice(stderrStart) + answer.traceback,
      resources,
    }
  }

  /** Runs one step in the host: sends it, answers its ctx calls, reads its answer. */
  private async converse(
    step: RecipeStep,
    token: string,
    ctx: StepContext,
    stderrStart: number,
    env: ExecutorInput['env'],
  ): Promise<HostAnswer> {
    const name = step.name
    // The host sets `env` (the run's ctx server) in os.environ for the step, as it does the token.
    this.send({
      type: 'run',
      module: step.module,
      attr: step.export ?? null,
      params: step.params,
      step: name,
      token,
      env: { ...env, RECIPES_STEP: name },
    })
    for (;;) {
      const message = await this.next()
      if (!message) {
        // stdout closes a moment before the exit status arrives.
        await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 1000))])
        const reason = `the python host exited (${this.exit ?? 'unknown'}) while running step "${name}"; the next python step starts a new one`
        this.reset()
        const details = { stderr_tail: tail(this.stderr.slice(stderrStart)) }
        return { envelope: errorEnvelope(name, reason, EXIT_FAILED, details), traceback: '', stdout: '' }
      }
      if (message.type === 'ctx') {
        this.send(answerContextCall(message, ctx))
        continue
      }
      if (message.type === 'done') {
        await this.takeStepEndMark(stderrStart)
        const { envelope, traceback } = envelopeFromHost(message, ctx, name)
        return { envelope, traceback, stdout: message.stdout ?? '', resources: message.resources }
      }
    }
  }

  /**
   * What `file` defines, read without running it; a syntax error as its message and
   * location; or why the host could not start or answer.
   */
  async outline(
    file: string,
  ): Promise<PythonFileOutline | { error: string; line?: number | undefined; column?: number | undefined }> {
    const started = await this.start()
    if (started) return { error: started }
    this.send({ type: 'outline', file })
    const message = await this.next()
    if (message?.type !== 'outline') {
      this.reset()
      return { error: `the python host did not answer (${this.exit ?? 'no answer'}): ${tail(this.stderr)}` }
    }
    const error = (message as { error?: { message: string; line?: number; column?: number } }).error
    if (error) return { error: error.message, line: error.line, column: error.column }
    return {
      classes: message.classes ?? [],
      functions: message.functions ?? [],
      imported: message.imported ?? [],
      main_block: message.main_block ?? false,
    }
  }

  /** Ends the interpreter (it also ends by itself when its stdin closes). */
  close(): void {
    this.child?.stdin.end()
    this.reset()
  }

  /**
   * Starts the host if none runs (or takes over the one prestartPythonHost started); returns
   * why it could not start, or undefined.
   */
  private async start(): Promise<string | undefined> {
    if (this.child) return undefined
    const { child } = takePrestartedHost(this.options) ?? spawnPythonHost(this.options)
    this.child = child
    this.startTime = readProcess(child.pid ?? -1)?.startTime
    this.exit = undefined
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
      this.watchProgress?.(chunk)
      this.onStderr?.()
    })
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exit = signal ? `killed by ${signal}` : `exit code ${code}`
        resolve()
      }),
    )
    const spawnError = new Promise<string>((resolve) => child.on('error', (error) => resolve(error.message)))
    this.messages = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const ready = await Promise.race([this.next(), spawnError])
    if (typeof ready === 'object' && ready?.type === 'ready') return undefined
    this.reset()
    const why = typeof ready === 'string' ? ready : (this.exit ?? 'no answer')
    return `could not start the python host with "${this.options.executable}" (${why}); set the plugin option python.executable. ${tail(this.stderr)}`.trim()
  }

  /**
   * Waits until the step's stderr is complete (its end mark arrived: stderr and the answers
   * are separate pipes, read in no set order), then removes the mark.
   */
  private async takeStepEndMark(stepStart: number): Promise<void> {
    const markAt = () => this.stderr.indexOf(STEP_END_MARK, stepStart)
    if (markAt() < 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STDERR_WAIT_MS)
        this.onStderr = () => {
          if (markAt() < 0) return
          clearTimeout(timer)
          resolve()
        }
      })
      this.onStderr = undefined
    }
    const at = markAt()
    if (at >= 0) this.stderr = this.stderr.slice(0, at) + this.stderr.slice(at + STEP_END_MARK.length)
  }

  private async next(): Promise<HostMessage | undefined> {
    const line = await this.messages?.next()
    if (!line || line.done) return undefined
    return JSON.parse(line.value) as HostMessage
  }

  private send(message: object): void {
    this.child?.stdin.write(`${JSON.stringify(message)}\n`)
  }

  private reset(): void {
    if (this.child && this.child.exitCode === null) this.child.kill()
    this.child = undefined
    this.messages = undefined
  }
}

/** Answers a scriptlet's ctx call; validate sees a read-only context. */
function answerContextCall(message: HostMessage, context: StepContext): object {
  const ctx = message.phase === 'validate' ? context.readOnlyView(`${message.phase}`) : context
  const reply = (value: unknown) => ({ type: 'ctx_result', rid: message.rid, ok: true, value: value ?? null })
  const key = message.key ?? ''
  try {
    switch (message.method) {
      case 'get':
        return reply(ctx.get(key))
      case 'has':
        return reply(ctx.has(key))
      case 'keys':
        return reply(ctx.keys())
      case 'to_dict':
        return reply(ctx.toJSON())
      case 'history':
        return reply(ctx.history(message.key ?? undefined).map(withOlderNames))
      case 'last_modified': {
        const last = ctx.lastModified(key)
        return reply(last && withOlderNames(last))
      }
      case 'set':
        ctx.set(key, message.value ?? null, { who: message.who ?? '' })
        return reply(null)
      default:
        return { type: 'ctx_result', rid: message.rid, ok: false, error: `unknown ctx method ${message.method}` }
    }
  } catch (error) {
    return { type: 'ctx_result', rid: message.rid, ok: false, error: (error as Error).message }
  }
}

/** History entries also carry the older framework's names, `old` and `new`. */
function withOlderNames(write: ContextWrite): object {
  return { ...write, before: write.before ?? null, old: write.before ?? null, new: write.after }
}

/**
 * Maps both older styles back to an envelope: run() returning a dict envelope, or printing
 * its JSON line and returning an int exit code (None counts as 0).
 */
function envelopeFromHost(
  message: HostMessage,
  ctx: StepContext,
  step: string,
): { envelope: Envelope; traceback: string } {
  const printed = (message.stdout ?? '').split('\n').filter((line) => line.trim() !== '')
  const jsonLine = printed.findLast((line) => line.trim().startsWith('{'))
  if (message.error) {
    const { type, message: text, phase, exit_code: exitCode, traceback } = message.error
    return { envelope: errorEnvelope(step, `${type}: ${text}`, exitCode ?? EXIT_FAILED, { type, phase }), traceback }
  }
  const result = message.result
  try {
    if (message.sys_exit && message.sys_exit.code !== 0) {
      return { envelope: envelopeFromSysExit(message.sys_exit, jsonLine, ctx, step), traceback: '' }
    }
    if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
      applyEnvelopeContext(result, ctx, step)
      return { envelope: normalizeEnvelope(result, step, ctx.writtenKeys()), traceback: '' }
    }
    const code = typeof result === 'number' ? result : 0
    if (jsonLine !== undefined) {
      const printedEnvelope = JSON.parse(jsonLine) as unknown
      applyEnvelopeContext(printedEnvelope, ctx, step)
      const envelope = normalizeEnvelope(printedEnvelope, step, ctx.writtenKeys())
      if (envelope.status === 'ok' && code !== 0)
        return {
          envelope: errorEnvelope(step, `run() returned exit code ${code} although it printed an ok envelope`, code),
          traceback: '',
        }
      if (envelope.status === 'error' && code !== 0) envelope.exit_code = code
      return { envelope, traceback: '' }
    }
    return { envelope: normalizeEnvelope(code, step, ctx.writtenKeys()), traceback: '' }
  } catch (error) {
    return {
      envelope: errorEnvelope(step, `could not read the step's envelope: ${(error as Error).message}`, EXIT_FAILED),
      traceback: '',
    }
  }
}

/**
 * A scriptlet that called sys.exit(n), n ≠ 0, failed with exit code n, as its process would
 * have when run on its own; an error envelope it printed first gives its reason and details.
 */
function envelopeFromSysExit(
  exit: { code: number; argument: string },
  jsonLine: string | undefined,
  ctx: StepContext,
  step: string,
): Envelope {
  const exitCode = exit.code > 0 ? exit.code : EXIT_FAILED
  const reason = `the scriptlet called sys.exit(${exit.argument})`
  if (jsonLine === undefined) return errorEnvelope(step, reason, exitCode, { sys_exit: exit.code })
  const printed = JSON.parse(jsonLine) as unknown
  applyEnvelopeContext(printed, ctx, step)
  const envelope = normalizeEnvelope(printed, step, ctx.writtenKeys())
  if (envelope.status === 'ok') return errorEnvelope(step, `${reason} although it printed an ok envelope`, exitCode)
  return { ...envelope, reason: `${reason}: ${envelope.reason}`, exit_code: exitCode }
}

/**
 * The Python hosts of one recipe file: one warm interpreter normally; parallel python steps
 * each borrow a host of their own, so no step waits for another's interpreter.
 */
export class PythonHostPool {
  private readonly options: PythonHostOptions
  private readonly idle: PythonHost[] = []
  private readonly all: PythonHost[] = []

  constructor(options: PythonHostOptions) {
    this.options = options
  }

  async runStep(input: ExecutorInput): Promise<StepExecution> {
    const host = this.idle.pop() ?? this.create()
    try {
      return await host.runStep(input)
    } finally {
      this.idle.push(host)
    }
  }

  close(): void {
    for (const host of this.all) host.close()
  }

  private create(): PythonHost {
    const host = new PythonHost(this.options)
    this.all.push(host)
    return host
  }
}
