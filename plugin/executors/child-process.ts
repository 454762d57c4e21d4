import { readFileSync } from 'node:fs'
import { execa } from 'execa'
import pidusage from 'pidusage'
import { recordLeftoverGroup } from './leftovers.ts'
import type { StepResources } from './types.ts'

export interface ChildProcessInput {
  file: string
  args: readonly string[]
  env: Record<string, string>
  cwd: string
  /** The step the program runs for: named when something it left running is stopped. */
  step: string
  /** Aborting it (a step timeout) kills the child and everything it started. */
  signal?: AbortSignal
}

export interface ChildProcessResult {
  exitCode: number | undefined
  signal: string | undefined
  stdout: string
  stderr: string
  /** Why the process could not start (missing file, not executable), when it did not. */
  startError?: string
  resources: StepResources
}

const SAMPLE_EVERY_MS = 50

/**
 * pidusage's first call asks the system for its clock tick (a child process of its own,
 * ~15 ms): pay that once, up front, so the first sample of a step comes in time.
 */
export function warmUpSampling(): void {
  pidusage(process.pid).catch(() => undefined)
}
// Keep the whole of any sane envelope; a step that prints gigabytes is a bug to report, not to buffer.
const MAX_BUFFER = 64 * 1024 * 1024
/**
 * How long output is still read after the program exited: what it wrote before exiting is
 * in the pipe already. A background child that inherited stdout keeps the pipe open; the
 * step does not wait for it.
 */
const OUTPUT_GRACE_MS = 250

/**
 * Runs a program with an argv list: never through a shell, so no argument is ever
 * interpolated. Samples its CPU time and memory with pidusage while it runs. Its stdin is
 * empty (a read gets end-of-file at once). The step ends when the program exits; whatever
 * it left running is recorded and stopped when the recipe file ends (stopLeftoverProcesses).
 */
export async function runChildProcess({
  file,
  args,
  env,
  cwd,
  step,
  signal,
}: ChildProcessInput): Promise<ChildProcessResult> {
  // detached: the child leads its own process group, so a timeout can end its children too.
  const child = execa(file, args, {
    cwd,
    env,
    extendEnv: true,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: MAX_BUFFER,
    stdin: 'ignore',
    encoding: 'utf8',
    detached: true,
  })
  const stopOnAbort = killGroupOnAbort(child.pid, signal)
  const stopReadingAfterExit = () => {
    setTimeout(() => {
      child.stdout?.destroy()
      child.stderr?.destroy()
    }, OUTPUT_GRACE_MS).unref()
  }
  child.once('exit', stopReadingAfterExit)
  const cpuBefore = reapedChildrenCpuMs()
  const usage = sampleUsage(child.pid)
  const result = await child
  stopOnAbort()
  recordLeftoverGroup(child.pid, step)
  const resources = await usage.stop()
  // The kernel's account of reaped children is exact where sampling misses short processes.
  const reaped = reapedChildrenCpuMs()
  if (reaped !== undefined && cpuBefore !== undefined) resources.cpuMs = Math.max(resources.cpuMs, reaped - cpuBefore)
  const startError =
    result.failed && result.exitCode === undefined && !result.isTerminated
      ? describeStartError(result, file)
      : undefined
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    stdout: typeof result.stdout === 'string' ? result.stdout : '',
    stderr: typeof result.stderr === 'string' ? result.stderr : '',
    ...(startError ? { startError } : {}),
    resources,
  }
}

/**
 * Samples a child's CPU time and RSS every 50 ms until stopped (a process that ends
 * sooner costs no sampling; its CPU time comes from the kernel's account of reaped
 * children).
 */
export function sampleUsage(pid: number | undefined): { stop: () => Promise<StepResources> } {
  const resources: StepResources = { cpuMs: 0, peakRssBytes: 0 }
  if (pid === undefined) return { stop: async () => resources }
  const sample = async () => {
    try {
      const stats = await pidusage(pid)
      resources.cpuMs = Math.max(resources.cpuMs, stats.ctime)
      resources.peakRssBytes = Math.max(resources.peakRssBytes, stats.memory)
    } catch {
      // The process already exited: the last sample stands.
    }
  }
  let pending = Promise.resolve()
  let sampled = false
  const timer = setInterval(() => {
    sampled = true
    pending = pending.then(sample)
  }, SAMPLE_EVERY_MS)
  return {
    async stop() {
      clearInterval(timer)
      await pending
      if (sampled) pidusage.clear()
      return resources
    },
  }
}

/**
 * CPU time (ms) of this process's children that have ended, from /proc/self/stat
 * (cutime + cstime, in the kernel's fixed 100 Hz USER_HZ); undefined off Linux.
 */
function reapedChildrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[13]) + Number(fields[14])) * 10
  } catch {
    return undefined
  }
}

const KILL_GRACE_MS = 2000

/**
 * On abort, sends SIGTERM to the whole process group of `pid`, then SIGKILL to whatever is
 * left after a grace period. Returns the function that stops listening.
 */
export function killGroupOnAbort(pid: number | undefined, signal: AbortSignal | undefined): () => void {
  if (pid === undefined || signal === undefined) return () => {}
  const kill = (name: NodeJS.Signals) => {
    try {
      process.kill(-pid, name)
    } catch {
      // Already gone.
    }
  }
  const onAbort = () => {
    kill('SIGTERM')
    setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS).unref()
  }
  if (signal.aborted) onAbort()
  else signal.addEventListener('abort', onAbort, { once: true })
  return () => signal.removeEventListener('abort', onAbort)
}

/** Why a program did not start, from the spawn error's code that execa passes on. */
function describeStartError(
  result: { code?: string | undefined; originalMessage?: string | undefined; message?: string | undefined },
  file: string,
): string {
  if (result.code === 'ENOENT') return `${file} was not found`
  if (result.code === 'EACCES') return `${file} is not executable (chmod +x it)`
  const message = result.originalMessage || result.message || 'unknown error'
  return message.split('\n')[0] ?? message
}
