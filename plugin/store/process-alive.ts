import { readFileSync } from 'node:fs'

/** Whether process `pid` of this host still runs (a zombie nobody reaped yet does not). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A killed process nobody has reaped yet (a zombie) still answers signal 0.
  const state = readStat(pid)?.[0]
  return state !== 'Z' && state !== 'X'
}

/**
 * When process `pid` of this host started, in clock ticks since boot (/proc/<pid>/stat field
 * 22); undefined where /proc cannot tell (it ended, or no /proc). With the pid it names one
 * process for good: a later process that reuses the pid starts later.
 */
export function processStartTime(pid: number): number | undefined {
  const start = Number(readStat(pid)?.[19])
  return Number.isFinite(start) ? start : undefined
}

/** A process of this host, named for good by its pid and its start time (when known). */
export interface ProcessIdentity {
  pid: number
  startTime?: number | undefined
}

/**
 * Whether the very process `identity` names still runs: alive, and not another one that got
 * its pid since (its start time differs). A stalled or stopped process (SIGSTOP, swapping) is alive.
 */
export function isSameProcessAlive(identity: ProcessIdentity): boolean {
  if (!isProcessAlive(identity.pid)) return false
  if (identity.startTime === undefined) return true
  const now = processStartTime(identity.pid)
  return now === undefined || now === identity.startTime
}

/** This process, as ProcessIdentity. */
export function ownProcessIdentity(): ProcessIdentity {
  return { pid: process.pid, startTime: processStartTime(process.pid) }
}

/** The fields of /proc/<pid>/stat after the command name: state first (field 3). */
function readStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}
