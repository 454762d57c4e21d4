import type { Scriptlet } from '../scriptlet/define.ts'
import { invokeScriptlet } from '../scriptlet/invoke.ts'
import { sampleOwnResources } from './own-peak-rss.ts'
import type { ExecutorInput, StepExecution } from './types.ts'

/**
 * Runs a TypeScript scriptlet in the test's own process. Its resources are this process's
 * CPU time over the step and how much the process's own peak RSS grew during it (other work
 * in the process is counted too), each read once before and once after (own-peak-rss.ts).
 */
export async function runTypeScriptStep(scriptlet: Scriptlet, input: ExecutorInput): Promise<StepExecution> {
  const { step, ctx, root, declareSecret } = input
  const before = sampleOwnResources()
  // tools.log is the scriptlet's stderr: it lands in the step log and in failure messages.
  const lines: string[] = []
  const invocation = await invokeScriptlet(scriptlet, ctx, step.params, {
    step: step.name,
    root,
    // Read only if the scriptlet asks: most never do, and a signal costs more than a no-op step.
    get signal() {
      return input.signal
    },
    log: (...args) => lines.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')),
    secret: (value) => declareSecret?.(value),
  })
  const after = sampleOwnResources()
  return {
    ...invocation,
    stdout: '',
    stderr: lines.length ? `${lines.join('\n')}\n` : '',
    resources: {
      cpuMs: (after.cpuMicros - before.cpuMicros) / 1000,
      peakRssBytes: Math.max(0, after.peakKiB - before.peakKiB) * 1024,
    },
  }
}
