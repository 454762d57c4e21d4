import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** A process group whose leader (a step's program) exited while other members still ran. */
interface LeftoverGroup {
  /** The group id: the pid of the step's program, which led its own group. */
  pgid: number
  step: string
}

// Child-process steps run detached, each the leader of its own group, so the group id names
// everything a step started: its background children keep it even after the leader exits.
const leftovers = new Map<number, LeftoverGroup>()

const STOP_GRACE_MS = 1000
const POLL_MS = 25

/**
 * Remembers the process group `pgid` if anything in it still runs after its leader, the
 * program of `step`, exited. Called by the child-process executor when a step ends; one
 * signal-0 call, so steps that leave nothing behind pay next to nothing.
 */
export function recordLeftoverGroup(pgid: number | undefined, step: string): void {
  if (pgid !== undefined && signalGroup(pgid, 0)) leftovers.set(pgid, { pgid, step })
}

/**
 * Stops what steps left running: SIGTERM to each remembered process group, SIGKILL to those
 * still alive after a grace period. Returns one line per group it stopped, naming its
 * processes and the step that started them, for the run's log. Meant for the end of a
 * recipe file, so that nothing a step started outlives the run.
 */
export async function stopLeftoverProcesses(): Promise<string[]> {
  const groups = [...leftovers.values()]
  leftovers.clear()
  const running = groups
    .map((group) => ({ ...group, members: listMembers(group.pgid) }))
    .filter((group) => isGroupAlive(group.pgid, group.members))
  for (const group of running) signalGroup(group.pgid, 'SIGTERM')
  const stubborn = await waitForGroupsToEnd(running, STOP_GRACE_MS)
  for (const group of stubborn) signalGroup(group.pgid, 'SIGKILL')
  await waitForGroupsToEnd(stubborn, STOP_GRACE_MS)
  return running.map(({ pgid, step, members }) => {
    const how = stubborn.some((group) => group.pgid === pgid)
      ? `SIGKILL, still running ${STOP_GRACE_MS} ms after SIGTERM`
      : 'SIGTERM'
    const what =
      members.length > 0
        ? members.map(({ pid, command }) => `pid ${pid} (${command})`).join(', ')
        : `process group ${pgid}`
    return `stopped ${what} left running by step "${step}" (${how})`
  })
}

/** The groups still alive after waiting up to `ms` for them to end. */
async function waitForGroupsToEnd<T extends LeftoverGroup>(groups: T[], ms: number): Promise<T[]> {
  const deadline = Date.now() + ms
  let alive = groups.filter((group) => isGroupAlive(group.pgid))
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(POLL_MS)
    alive = alive.filter((group) => isGroupAlive(group.pgid))
  }
  return alive
}

/**
 * Whether any process of group `pgid` still runs. /proc tells a zombie (ended, not yet
 * reaped by init) from a live process; signal 0 cannot, so it is the answer off Linux only.
 */
function isGroupAlive(pgid: number, members = listMembers(pgid)): boolean {
  return PROC_READABLE ? members.length > 0 : signalGroup(pgid, 0)
}

/** Sends `signal` to the group; false when no process of it could receive it. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false
  }
}

interface GroupMember {
  pid: number
  command: string
}

const PROC_READABLE = existsSync('/proc/self/stat')

/** The live (not zombie) processes of group `pgid`, read from /proc; empty off Linux. */
function listMembers(pgid: number): GroupMember[] {
  if (!PROC_READABLE) return []
  const members: GroupMember[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // After the command name (which may hold spaces and parentheses): state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(pgrp) !== pgid || state === 'Z') continue
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
      members.push({ pid: Number(entry), command: command || stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) })
    } catch {
      // The process ended while we looked.
    }
  }
  return members
}
