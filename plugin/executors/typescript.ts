import type { Scriptlet, ScriptletTools } from '../scriptlet/define.ts'
import { invokeScriptlet } from '../scriptlet/invoke.ts'
import { andThen, type MaybePromise } from '../scriptlet/maybe-async.ts'
import { beginOwnStep, endOwnStep } from './own-peak-rss.ts'
import type { ExecutorInput, StepExecution } from './types.ts'

/**
 * Runs a TypeScript scriptlet in the test's own process. Its resources are this process's
 * CPU time over the step and how much the process's own peak RSS grew during it (other work
 * in the process is counted too), read before and after (own-peak-rss.ts: where the peak
 * comes from /proc, the previous step's closing reading opens the next).
 * Synchronous when the scriptlet is.
 */
export function runTypeScriptStep(scriptlet: Scriptlet, input: ExecutorInput): MaybePromise<StepExecution> {
  const mark = beginOwnStep()
  const tools = new StepTools(input)
  const invocation = invokeScriptlet(scriptlet, input.ctx, input.step.params, tools)
  // Built field by field: a spread of the invocation costs more here than the no-op step itself.
  return andThen(invocation, (done): StepExecution => {
    const { lines } = tools
    const execution: StepExecution = {
      envelope: done.envelope,
      stdout: '',
      stderr: lines.length ? `${lines.join('\n')}\n` : '',
      resources: endOwnStep(mark),
    }
    if (done.error !== undefined) execution.error = done.error
    return execution
  })
}

/**
 * What an in-process scriptlet gets as `tools`. A class whose functions are made when first
 * read (a scriptlet may destructure them: each is its own closure): most steps use none, and
 * an object literal of closures and a getter cost more than a no-op step.
 */
class StepTools implements ScriptletTools {
  readonly step: string
  readonly root: string
  /** What `log` was given: the scriptlet's stderr, for the step log and failure messages. */
  readonly lines: string[] = []
  private readonly input: ExecutorInput

  constructor(input: ExecutorInput) {
    this.step = input.step.name
    this.root = input.root
    this.input = input
  }

  /** Read only if the scriptlet asks: an AbortSignal costs more than a no-op step. */
  get signal(): AbortSignal {
    return this.input.signal
  }

  get log(): ScriptletTools['log'] {
    const lines = this.lines
    return (...args) => {
      lines.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '))
    }
  }

  get secret(): ScriptletTools['secret'] {
    const input = this.input
    return (value) => input.declareSecret?.(value)
  }

  get progress(): NonNullable<ScriptletTools['progress']> {
    const input = this.input
    return (percent, message) => input.progress?.(percent, message)
  }
}
