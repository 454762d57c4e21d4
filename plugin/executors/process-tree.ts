import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { threadId } from 'node:worker_threads'

/**
 * The environment variable that carries a step's token into every process the step starts.
 * Children inherit it through fork, exec, `setsid` and double forks, so /proc finds a step's
 * processes after they left its process group and their parent died.
 */
export const STEP_TOKEN_VARIABLE = 'RECIPES_STEP_TOKEN'

/**
 * What every step token of this module instance starts with (`<prefix>.<n>`). Unique per
 * module instance: parallel Vitest workers (threads of one process included) never match each
 * other's steps; the runner guard stops every process carrying it when this worker dies.
 */
export const TOKEN_PREFIX = `${process.pid}.${threadId}.${randomBytes(4).toString('hex')}`
let tokens = 0

/** A token no other step of any run on this machine carries. */
export function newStepToken(): string {
  tokens += 1
  return `${TOKEN_PREFIX}.${tokens}`
}

/** How to find the processes of one step. */
export interface StepTree {
  /** The step's program (led its own process group) or the Python host running the step. */
  root: number | undefined
  /** The root's start time (ProcessInfo.startTime): a later process that reuses its pid is not the step's. */
  rootStartTime?: number | undefined
  /** The value of RECIPES_STEP_TOKEN in the environment of what the step started. */
  token: string
  /** Keep the root itself out (a warm Python host that outlives its step). */
  spareRoot?: boolean
}

export interface ProcessInfo {
  pid: number
  ppid: number
  pgrp: number
  /** Clock ticks since boot at which it started: tells a pid from a later process that reused it. */
  startTime: number
  /** User + system CPU time so far, in ms. */
  cpuMs: number
  command: string
}

/** Whether /proc can be read; off Linux only the step's process group is found (through signals). */
export const PROC_READABLE = existsSync('/proc/self/stat')

/** The live processes at one moment, and the step token each carries in its environment (when read). */
export interface ProcessTable {
  processes: ProcessInfo[]
  tokens: Map<number, string> | undefined
}

const TOKEN_PATTERN = new RegExp(`(?:^|\\0)${STEP_TOKEN_VARIABLE}=([^\\0]*)`)

/**
 * Every live (not zombie) process, read from /proc's stat files; with `withTokens`, also the
 * step token in each one's environment (one more read per process: the kill and the
 * leftover sweep need it, resource sampling does not). With `fromPid`, only processes whose
 * pid is at least that (newestPid tells when that finds every process started since).
 */
export function readProcessTable(withTokens = true, fromPid = 0): ProcessTable {
  const processes: ProcessInfo[] = []
  const tokens = withTokens ? new Map<number, string>() : undefined
  if (!PROC_READABLE) return { processes, tokens }
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue
    const pid = Number(entry)
    if (pid < fromPid) continue
    const info = readProcess(pid)
    if (!info) continue
    processes.push(info)
    const token = tokens && readStepToken(info.pid)
    if (token) tokens?.set(info.pid, token)
  }
  return { processes, tokens }
}

/**
 * The pid the kernel handed out last (from /proc/loadavg), or undefined. Pids are handed out
 * in increasing order until they reach pid_max and start again from the bottom: as long as
 * the last pid stays at or above a process's own, every process started after it has a
 * higher pid.
 */
export function newestPid(): number | undefined {
  try {
    const last = Number(readFileSync('/proc/loadavg', 'latin1').trimEnd().split(' ')[4])
    return Number.isInteger(last) && last > 0 ? last : undefined
  } catch {
    return undefined
  }
}

/** One process's /proc stat, or undefined once it ended (a zombie counts as ended). */
export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After the command name (which may hold spaces and parentheses): state, ppid, pgrp, ..., utime (12), stime (13), starttime (20).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined
    return {
      pid,
      ppid: Number(fields[1]),
      pgrp: Number(fields[2]),
      // /proc counts CPU time in USER_HZ, fixed at 100 per second.
      cpuMs: (Number(fields[11]) + Number(fields[12])) * 10,
      startTime: Number(fields[19]),
      command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    }
  } catch {
    return undefined
  }
}

function readStepToken(pid: number): string | undefined {
  try {
    return TOKEN_PATTERN.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1]
  } catch {
    // Another user's process, or it ended while we looked.
    return undefined
  }
}

/**
 * The live processes of a step: its root's process group, every process whose environment
 * carries its token (when the table has tokens), and every descendant of those (a child
 * that cleared its environment is still found while its parent lives).
 */
export function findStepProcesses(tree: StepTree, table = readProcessTable()): ProcessInfo[] {
  const { processes, tokens } = table
  const found = new Map<number, ProcessInfo>()
  const rootNow = tree.root === undefined ? undefined : processes.find((info) => info.pid === tree.root)
  // The root's pid names its group while the group has members; once reused by another process, neither is the step's.
  const reused = rootNow !== undefined && tree.rootStartTime !== undefined && rootNow.startTime !== tree.rootStartTime
  for (const info of processes) {
    if (!reused && (info.pgrp === tree.root || info.pid === tree.root)) found.set(info.pid, info)
    else if (tokens?.get(info.pid) === tree.token) found.set(info.pid, info)
  }
  // Descendants, by parent chain, until no new one turns up.
  let grew = found.size > 0
  while (grew) {
    grew = false
    for (const info of processes) {
      if (!found.has(info.pid) && found.has(info.ppid)) {
        found.set(info.pid, info)
        grew = true
      }
    }
  }
  if (tree.spareRoot && tree.root !== undefined) found.delete(tree.root)
  return [...found.values()]
}

/** How long processes get after SIGTERM before SIGKILL, and how long SIGKILL gets to take effect. */
export const TERM_GRACE_MS = 1000
const KILL_WAIT_MS = 1000
const POLL_MS = 25

export interface StoppedTree {
  /** The processes that were running when the stop began. */
  stopped: ProcessInfo[]
  /** Whether some of them were still alive after SIGTERM and its grace, and got SIGKILL. */
  killed: boolean
  /** Processes still alive after SIGKILL (only an unkillable one, in uninterruptible sleep). */
  survivors: ProcessInfo[]
}

/**
 * Stops every process of a step and resolves once they are gone: SIGTERM to each, SIGKILL
 * to those still alive `graceMs` later. Processes that appear meanwhile (forked by one that
 * handles SIGTERM) get the same. Awaited, never a timer: it finishes even when the step was
 * the last of its file and the worker is about to exit.
 */
export async function stopStepProcesses(
  tree: StepTree,
  graceMs = TERM_GRACE_MS,
  owns: (info: ProcessInfo) => boolean = () => true,
): Promise<StoppedTree> {
  const stopped = new Map<string, ProcessInfo>()
  const signalled = new Set<string>()
  // Each process gets each signal once: a second SIGTERM would interrupt its own shutdown.
  const signalAll = (signal: NodeJS.Signals) => {
    const alive = findStepProcesses(tree).filter(owns)
    for (const info of alive) {
      const id = `${info.pid}:${info.startTime}`
      if (!stopped.has(id)) stopped.set(id, { ...info, command: describeProcess(info) })
      if (signalled.has(`${signal}:${id}`)) continue
      signalled.add(`${signal}:${id}`)
      signalProcess(info.pid, signal)
    }
    return alive
  }
  if (!PROC_READABLE) return stopGroupBlindly(tree, graceMs)
  if (signalAll('SIGTERM').length === 0) return { stopped: [], killed: false, survivors: [] }
  const termed = await waitUntilGone(graceMs, () => signalAll('SIGTERM'))
  if (termed.length === 0) return { stopped: [...stopped.values()], killed: false, survivors: [] }
  signalAll('SIGKILL')
  const survivors = await waitUntilGone(KILL_WAIT_MS, () => signalAll('SIGKILL'))
  return { stopped: [...stopped.values()], killed: true, survivors }
}

/** Off Linux, without /proc, the root's process group is all that can be found and signalled. */
async function stopGroupBlindly(tree: StepTree, graceMs: number): Promise<StoppedTree> {
  if (tree.root === undefined || tree.spareRoot || !signalProcess(-tree.root, 'SIGTERM'))
    return { stopped: [], killed: false, survivors: [] }
  await sleep(graceMs)
  const killed = signalProcess(-tree.root, 'SIGKILL')
  return { stopped: [], killed, survivors: [] }
}

/** Polls until no process of the tree is left or `ms` passed; returns those left. */
async function waitUntilGone(ms: number, resignal: () => ProcessInfo[]): Promise<ProcessInfo[]> {
  const deadline = Date.now() + ms
  let alive = resignal()
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(POLL_MS)
    alive = resignal()
  }
  return alive
}

function signalProcess(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}

/** The command line of a process as /proc shows it (its name when it has none). */
export function describeProcess(info: ProcessInfo): string {
  try {
    const command = readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
    return command || info.command
  } catch {
    return info.command
  }
}

/**
 * Stops the step's processes when `signal` aborts (its timeout). `settled` resolves when
 * they are gone (at once when the signal never aborted): the executor awaits it before it
 * reports the step, so a timed-out step is reported with its processes dead.
 */
export function stopOnAbort(
  tree: StepTree,
  signal: AbortSignal | undefined,
): { settled: () => Promise<StoppedTree | undefined>; dispose: () => void } {
  let stopping: Promise<StoppedTree> | undefined
  const onAbort = () => {
    stopping = stopStepProcesses(tree)
  }
  if (signal?.aborted) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  return {
    settled: async () => stopping,
    dispose: () => signal?.removeEventListener('abort', onAbort),
  }
}
