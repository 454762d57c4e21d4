import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { StepContext } from '../context/step-context.ts'
import { EXIT_FAILED, errorEnvelope, type Envelope } from '../scriptlet/envelope.ts'
import type { RecipeStep } from '../recipe/types.ts'
import { recordLeftovers } from './leftovers.ts'
import { tail } from './output.ts'
import { newStepToken, readProcess, type StepTree, stopOnAbort } from './process-tree.ts'
import { spawnPythonHost, takePrestartedHost } from './python-host-process.ts'
import { sampleStepResources } from './resource-sampler.ts'
import { progressWatcher } from './progress-lines.ts'
import type { ExecutorInput, StepExecution, StepResources } from './types.ts'
import { answerContextCall, envelopeFromHost, type HostMessage, type PythonFileOutline } from './python-protocol.ts'

export type { PythonFileOutline } from './python-protocol.ts'

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
