import type { Scriptlet } from '../scriptlet/define.ts'
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
  const { step, ctx, root, declareSecret } = input
  const mark = beginOwnStep()
  // tools.log is the scriptlet's stderr: it lands in the step log and in failure messages.
  const lines: string[] = []
  const invocation = invokeScriptlet(scriptlet, ctx, step.params, {
    step: step.name,
    root,
    // Read only if the scriptlet asks: most never do, and a signal costs more than a no-op step.
    get signal() {
      return input.signal
    },
    log: (...args) => lines.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')),
    secret: (value) => declareSecret?.(value),
    progress: (percent, message) => input.progress?.(percent, message),
  })
  return andThen(invocation, (done) => {
    return {
      ...done,
      stdout: '',
      stderr: lines.length ? `${lines.join('\n')}\n` : '',
      resources: endOwnStep(mark),
    }
  })
}
