// The runner guard (plugin/executors/runner-guard.ts): one small process per test worker that
// starts steps' processes. It waits on a pipe from the worker; when the pipe closes, the
// worker has ended or died (SIGKILL, OOM, a cancelled CI job: the kernel closes its end); when
// the Vitest process of a forked worker is gone, the worker is killed (an orphan runs nothing
// useful, and would keep its lab resources); either way every process a step of that worker
// started is stopped: each process whose environment
// carries one of the worker's step tokens (RECIPES_STEP_TOKEN=<prefix>.<n>; the Python host
// carries <prefix>.host), and their descendants. SIGTERM, then SIGKILL to those alive half a
// second later; it exits once none is left. It runs in its own session, so a signal to the
// runner's process group does not reach it. While it lives, lab resource holds of the worker's
// runs last (plugin/store/resource-locks.ts): a hold ends only after its steps' processes are
// gone. Plain JavaScript with Node built-ins only, shipped as is: it starts fast.
import { readdirSync, readFileSync } from 'node:fs'

const prefix = process.argv[2]
// The worker, and the Vitest process that runs it when they differ (a forked worker): pid and start time.
const [workerPid, workerStart, runnerPid, runnerStart] = process.argv.slice(3)
const TERM_GRACE_MS = 500
/** Past this, it gives up (a process in uninterruptible sleep cannot be killed). */
const GIVE_UP_MS = 30_000
const TOKEN = /(?:^|\0)RECIPES_STEP_TOKEN=([^\0]*)/

function readStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined
    return { pid, ppid: Number(fields[1]), start: fields[19] }
  } catch {
    return undefined
  }
}

function readToken(pid) {
  try {
    return TOKEN.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1]
  } catch {
    return undefined
  }
}

/** The live processes of the worker's steps: carrying its token, or descended from one that does. */
function stepProcesses() {
  const all = []
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57 || Number(entry) === process.pid) continue
    const info = readStat(Number(entry))
    if (info) all.push(info)
  }
  const found = new Map()
  for (const info of all) if (readToken(info.pid)?.startsWith(`${prefix}.`)) found.set(info.pid, info)
  for (let grew = found.size > 0; grew; ) {
    grew = false
    for (const info of all)
      if (!found.has(info.pid) && found.has(info.ppid)) {
        found.set(info.pid, info)
        grew = true
      }
  }
  return [...found.values()]
}

function signal(pid, name) {
  try {
    process.kill(pid, name)
  } catch {
    // It ended meanwhile.
  }
}

let reaping = false
async function reap() {
  if (reaping) return
  reaping = true
  const since = Date.now()
  const termed = new Map()
  for (;;) {
    const alive = stepProcesses()
    if (alive.length === 0 || Date.now() - since > GIVE_UP_MS) process.exit(0)
    for (const info of alive) {
      const id = `${info.pid}:${info.start}`
      const at = termed.get(id)
      if (at === undefined) {
        termed.set(id, Date.now())
        signal(info.pid, 'SIGTERM')
      } else if (Date.now() - at >= TERM_GRACE_MS) signal(info.pid, 'SIGKILL')
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Whether the very process `pid` (started at `start`) still runs. */
function sameAlive(pid, start) {
  const info = readStat(Number(pid))
  return info !== undefined && (start === undefined || start === '' || info.start === start)
}

if (!prefix) process.exit(2)
// A forked worker outlives a Vitest process killed alone (its IPC channel closes, nothing more):
// once that process is gone, the orphaned worker is stopped too, and then its steps.
if (runnerPid) {
  const watch = setInterval(() => {
    if (sameAlive(runnerPid, runnerStart)) return
    clearInterval(watch)
    if (workerPid && sameAlive(workerPid, workerStart)) signal(Number(workerPid), 'SIGKILL')
    void reap()
  }, 200)
}
process.stdin.on('data', () => {})
process.stdin.on('end', reap)
process.stdin.on('close', reap)
process.stdin.on('error', reap)
