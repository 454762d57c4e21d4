import type { Scriptlet } from '../scriptlet/define.ts'
import { invokeScriptlet } from '../scriptlet/invoke.ts'
import type { ExecutorInput, StepExecution } from './types.ts'

/**
 * Runs a TypeScript scriptlet in the test's own process. Its resources are this process's
 * CPU time and RSS growth over the step (other work in the process is counted too).
 */
export async function runTypeScriptStep(scriptlet: Scriptlet, { step, ctx, root, signal }: ExecutorInput): Promise<StepExecution> {
  const cpuStart = process.cpuUsage()
  const rssStart = process.memoryUsage.rss()
  // tools.log is the scriptlet's stderr: it lands in the step log and in failure messages.
  const lines: string[] = []
  const invocation = await invokeScriptlet(scriptlet, ctx, step.params, {
    step: step.name,
    root,
    signal,
    log: (...args) => lines.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')),
  })
  const cpu = process.cpuUsage(cpuStart)
  return {
    ...invocation,
    stdout: '',
    stderr: lines.length ? `${lines.join('\n')}\n` : '',
    resources: { cpuMs: (cpu.user + cpu.system) / 1000, peakRssBytes: Math.max(0, process.memoryUsage.rss() - rssStart) },
  }
}
