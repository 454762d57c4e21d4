import { readFileSync } from 'node:fs'
import { execa } from 'execa'
import { recordLeftovers } from './leftovers.ts'
import { newStepToken, readProcess, STEP_TOKEN_VARIABLE, type StepTree, stopOnAbort } from './process-tree.ts'
import { sampleStepResources } from './resource-sampler.ts'
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
 * interpolated. Samples the CPU time and memory of its whole process tree while it runs
 * (sampleStepResources). Its stdin is empty (a read gets end-of-file at once). The step ends
 * when the program exits; whatever it left running is recorded and stopped when the recipe
 * file ends (stopLeftoverProcesses). A timeout stops the whole tree before this returns.
 */
export async function runChildProcess({
  file,
  args,
  env,
  cwd,
  step,
  signal,
}: ChildProcessInput): Promise<ChildProcessResult> {
  // detached: the child leads its own process group; the token finds what left the group (setsid).
  const token = newStepToken()
  const child = execa(file, args, {
    cwd,
    env: { ...env, [STEP_TOKEN_VARIABLE]: token },
    extendEnv: true,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: MAX_BUFFER,
    stdin: 'ignore',
    encoding: 'utf8',
    detached: true,
  })
  const tree: StepTree = { root: child.pid, rootStartTime: readProcess(child.pid ?? -1)?.startTime, token }
  const stopping = stopOnAbort(tree, signal)
  const stopReadingAfterExit = () => {
    setTimeout(() => {
      child.stdout?.destroy()
      child.stderr?.destroy()
    }, OUTPUT_GRACE_MS).unref()
  }
  child.once('exit', stopReadingAfterExit)
  const cpuBefore = reapedChildrenCpuMs()
  const usage = sampleStepResources(tree)
  const result = await child
  stopping.dispose()
  // A timed-out step is reported once its processes are dead, not before.
  const stopped = await stopping.settled()
  const { samples, ...resources } = usage.stop()
  if (!stopped) recordLeftovers(tree, step)
  // A program that ended before its first sample left no figure: its memory was not measured.
  if (samples === 0) resources.peakRssMeasured = false
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
