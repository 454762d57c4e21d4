import { findStepProcesses, readProcessTable, type StepTree, stopStepProcesses, TERM_GRACE_MS } from './process-tree.ts'

/** A step whose processes may still run after it ended: its program's background children. */
interface LeftoverStep {
  tree: StepTree
  step: string
}

// Every step that ran a process since the last sweep, by token: finding out whether it left
// something running costs a scan of /proc, paid once per recipe file, not once per step.
const recorded = new Map<string, LeftoverStep>()

/**
 * Remembers a step that ended, so that what it left running (a background child, one that
 * called setsid, a process a Python scriptlet started) is stopped when the recipe file
 * ends. Called by the executors when a step ends; costs a map entry.
 */
export function recordLeftovers(tree: StepTree, step: string): void {
  recorded.set(tree.token, { tree, step })
}

/**
 * Stops what steps left running: SIGTERM to each of their processes, SIGKILL to those
 * still alive after a grace period, awaited. Returns one line per step whose processes it
 * stopped, naming them, for the run's log. Meant for the end of a recipe file, so that
 * nothing a step started outlives the run.
 */
export async function stopLeftoverProcesses(): Promise<string[]> {
  const steps = [...recorded.values()]
  recorded.clear()
  if (steps.length === 0) return []
  const table = readProcessTable()
  // A process found by two steps (children of a warm Python host) belongs to the first.
  const owner = new Map<number, LeftoverStep>()
  for (const step of steps)
    for (const info of findStepProcesses(step.tree, table)) if (!owner.has(info.pid)) owner.set(info.pid, step)
  const running = steps.filter((step) => [...owner.values()].includes(step))
  const results = await Promise.all(
    running.map((step) =>
      stopStepProcesses(step.tree, TERM_GRACE_MS, (info) => (owner.get(info.pid) ?? step) === step),
    ),
  )
  return results.flatMap(({ stopped, killed }, index) => {
    if (stopped.length === 0) return []
    const how = killed ? `SIGKILL, still running ${TERM_GRACE_MS} ms after SIGTERM` : 'SIGTERM'
    const what = stopped.map(({ pid, command }) => `pid ${pid} (${command})`).join(', ')
    return [`stopped ${what} left running by step "${running[index]!.step}" (${how})`]
  })
}
