import { isUtf8 } from 'node:buffer'
import { type ChildProcess, spawn } from 'node:child_process'
import { ensureRunnerGuard } from './runner-guard.ts'
import { readFileSync } from 'node:fs'
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
  /** Sees each chunk of stderr as it arrives (progress lines). */
  onStderr?: (chunk: Buffer) => void
}

export interface ChildProcessResult {
  exitCode: number | undefined
  signal: string | undefined
  stdout: string
  stderr: string
  /** Why the process could not start (missing file, not executable), when it did not. */
  startError?: string
  /** stdout held bytes that are not UTF-8 (each became U+FFFD in `stdout`). */
  stdoutNotUtf8?: true
  /** The stream that went past MAX_OUTPUT_BYTES: the program was stopped, the rest of it dropped. */
  overflow?: 'stdout' | 'stderr'
  resources: StepResources
}

/** Keep the whole of any sane envelope; a step that prints gigabytes is a bug to report, not to buffer. */
export const MAX_OUTPUT_BYTES = 64 * 1024 * 1024
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
  onStderr,
}: ChildProcessInput): Promise<ChildProcessResult> {
  const token = newStepToken()
  // Before the step's first process: if this worker dies, its guard stops what the step started.
  ensureRunnerGuard()
  const cpuBefore = reapedChildrenCpuMs()
  let child: ChildProcess
  try {
    // node:child_process, not execa: execa's extra promises, streams and abort signals cost
    // more than a short step's program (1-3 ms a spawn on a busy 2-core machine).
    // detached: the child leads its own process group; the token finds what left the group (setsid).
    child = spawn(file, args, {
      cwd,
      env: { ...process.env, ...env, [STEP_TOKEN_VARIABLE]: token },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
  } catch (error) {
    // What Node refuses before starting anything (a NUL byte in an argument).
    const { code, message } = error as NodeJS.ErrnoException
    return {
      exitCode: undefined,
      signal: undefined,
      stdout: '',
      stderr: '',
      startError: describeStartError(code, message, file),
      resources: { cpuMs: 0, peakRssBytes: 0, peakRssMeasured: false },
    }
  }
  const tree: StepTree = { root: child.pid, rootStartTime: readProcess(child.pid ?? -1)?.startTime, token }
  const stopping = stopOnAbort(tree, signal)
  const usage = sampleStepResources(tree)
  if (onStderr) child.stderr?.on('data', onStderr)
  const ended = await waitForClose(child, file)
  stopping.dispose()
  // A timed-out step is reported once its processes are dead, not before.
  const stopped = await stopping.settled()
  const { samples, ...resources } = usage.stop()
  if (!stopped && child.pid !== undefined) recordLeftovers(tree, step)
  // A program that ended before its first sample left no figure: its memory was not measured.
  if (samples === 0) resources.peakRssMeasured = false
  // The kernel's account of reaped children is exact where sampling misses short processes.
  const reaped = reapedChildrenCpuMs()
  if (reaped !== undefined && cpuBefore !== undefined) resources.cpuMs = Math.max(resources.cpuMs, reaped - cpuBefore)
  return { ...ended, resources }
}

/** What a program printed and how it ended, once it exited and its output was read (or the grace ran out). */
function waitForClose(child: ChildProcess, file: string): Promise<Omit<ChildProcessResult, 'resources'>> {
  return new Promise((resolve) => {
    const stdout = collectOutput(child, 'stdout')
    const stderr = collectOutput(child, 'stderr')
    let startError: string | undefined
    let grace: NodeJS.Timeout | undefined
    child.once('error', (error: NodeJS.ErrnoException) => {
      startError = describeStartError(error.code, error.message, file)
    })
    child.once('exit', () => {
      grace = setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
      }, OUTPUT_GRACE_MS).unref()
    })
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(grace)
      const overflow = stdout.overflowed ? 'stdout' : stderr.overflowed ? 'stderr' : undefined
      const out = stdout.bytes()
      resolve({
        exitCode: startError === undefined ? (code ?? undefined) : undefined,
        signal: signal ?? undefined,
        stdout: out.toString('utf8'),
        stderr: stderr.bytes().toString('utf8'),
        ...(isUtf8(out) ? {} : { stdoutNotUtf8: true as const }),
        ...(startError !== undefined ? { startError } : {}),
        ...(overflow ? { overflow } : {}),
      })
    })
  })
}

/** Reads one output stream of the child, up to MAX_OUTPUT_BYTES; past that, stops the program. */
function collectOutput(child: ChildProcess, name: 'stdout' | 'stderr') {
  const chunks: Buffer[] = []
  let bytes = 0
  let overflowed = false
  child[name]?.on('data', (chunk: Buffer) => {
    if (overflowed) return
    if (bytes + chunk.length > MAX_OUTPUT_BYTES) {
      overflowed = true
      chunks.push(chunk.subarray(0, MAX_OUTPUT_BYTES - bytes))
      child.kill('SIGTERM')
      child[name]?.destroy()
      return
    }
    chunks.push(chunk)
    bytes += chunk.length
  })
  return {
    get overflowed() {
      return overflowed
    },
    bytes: () => Buffer.concat(chunks),
  }
}

/**
 * CPU time (ms) of this process's children that have ended: cutime + cstime, in the kernel's
 * fixed 100 Hz USER_HZ; undefined off Linux. Read from this thread's stat, whose cutime and
 * cstime are the whole process's: the process's own stat first adds up every thread's time.
 */
function reapedChildrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[13]) + Number(fields[14])) * 10
  } catch {
    return undefined
  }
}

/** Why a program did not start, from the spawn error's code. */
function describeStartError(code: string | undefined, message: string, file: string): string {
  if (code === 'ENOENT') return `${file} was not found`
  if (code === 'EACCES') return `${file} is not executable (chmod +x it)`
  return message.split('\n')[0] ?? message
}
