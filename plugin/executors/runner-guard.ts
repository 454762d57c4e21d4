import { type ChildProcess, spawn } from 'node:child_process'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { isMainThread } from 'node:worker_threads'
import { PROC_READABLE, readProcess, STEP_TOKEN_VARIABLE, TOKEN_PREFIX } from './process-tree.ts'

/** A process of this host, named for good by its pid and its start time (as store/process-alive.ts reads it). */
export interface GuardIdentity {
  pid: number
  startTime?: number | undefined
}

/** The guard's script, shipped with the package (workers/runner-guard.mjs). */
const GUARD_SCRIPT = fileURLToPath(new URL('../../workers/runner-guard.mjs', import.meta.url))

let guard: { child: ChildProcess; identity: GuardIdentity } | undefined

/**
 * No step process outlives its runner: before this worker starts its first step process (or
 * takes a lab resource), it starts its runner guard, a small process in a session of its own
 * that holds a pipe from this worker. When the worker ends or dies by any signal (SIGKILL of
 * its whole process group included), the kernel closes the pipe; when the Vitest process that
 * forked this worker dies alone, the guard kills the orphaned worker; either way it stops every
 * process carrying one of this worker's step tokens, and their descendants (setsid'd and
 * double-forked children included), then exits. Once per worker; nothing is kept alive by it.
 * Returns the guard's identity (a lab resource hold lasts while it lives), or undefined where
 * there is no /proc to find the processes by (the step's process group is still stopped on a
 * timeout there).
 */
export function ensureRunnerGuard(): GuardIdentity | undefined {
  if (guard && guard.child.exitCode === null && guard.child.signalCode === null) return guard.identity
  if (!PROC_READABLE) return undefined
  // Without the step token of a step this worker may run in, and without Vitest's NODE_OPTIONS: a plain, fast node.
  const { [STEP_TOKEN_VARIABLE]: _token, NODE_OPTIONS: _options, ...env } = process.env
  let child: ChildProcess
  try {
    child = spawn(process.execPath, [GUARD_SCRIPT, TOKEN_PREFIX, ...identities()], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env,
    })
  } catch {
    return undefined
  }
  child.on('error', () => {})
  child.stdin?.on('error', () => {})
  // The guard waits for this worker; it must not keep the worker alive.
  child.unref()
  ;(child.stdin as Partial<Socket> | null)?.unref?.()
  if (child.pid === undefined) return undefined
  guard = { child, identity: { pid: child.pid, startTime: readProcess(child.pid)?.startTime } }
  return guard.identity
}

/**
 * The guard's arguments after the token prefix: this worker's pid and start time, and when it
 * is a forked worker (a child process with an IPC channel, as Vitest's `forks` pool makes), the
 * pid and start time of the process that forked it: the Vitest process, which the guard watches.
 */
function identities(): string[] {
  const own = [String(process.pid), String(readProcess(process.pid)?.startTime ?? '')]
  if (!isMainThread || typeof process.send !== 'function') return own
  return [...own, String(process.ppid), String(readProcess(process.ppid)?.startTime ?? '')]
}
