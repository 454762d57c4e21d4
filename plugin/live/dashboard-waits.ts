import type { Holder, Waiter } from '../store/resource-locks.ts'
import type { LiveRunState } from './ctx-server.ts'

/**
 * What the dashboard shows under "running now": the steps a running recipe says run now (its
 * ctx server), and the steps its run waits with for lab resources (the lock store): which
 * step (none: the whole run, for the recipe's own `resources:`), what it waits for, since
 * when, and who holds each resource as the lock store knows it (run, test id, step, host,
 * pid, since), or who is queued for it first when nobody holds it yet.
 */
export type RunningItem = LiveRunState['running'][number] | WaitingItem

export interface WaitingItem {
  /** The step that waits; null: the run, for resources its recipe takes for every step. */
  step: string | null
  /** Since when it waits (ISO): its earliest queued request. */
  since: string
  waiting: {
    /** The resources it waits for. */
    resources: string[]
    /** Who holds them, or is queued for them first (`queued: true`). */
    heldBy: HolderView[]
  }
}

/** A holder as the page shows it: who holds a resource (or is queued for it first), not the lease's bookkeeping. */
export type HolderView = Pick<Holder, 'resource' | 'runId' | 'testId' | 'step' | 'host' | 'pid' | 'since'> & {
  queued?: true
}

/** Whether an item of "running now" is a wait for lab resources. */
export function isWaiting(item: RunningItem): item is WaitingItem {
  return 'waiting' in item
}

/**
 * The waits of the lock store by run id, a step (or the run) each: its resources, since when,
 * and who holds each of them (or, where nobody does, the waiters before it).
 */
export function waitsByRun(locks: {
  holders: readonly Holder[]
  waiters: readonly Waiter[]
}): Map<string, WaitingItem[]> {
  const byRun = new Map<string, WaitingItem[]>()
  for (const waiter of locks.waiters) {
    const items = byRun.get(waiter.runId) ?? []
    let item = items.find((each) => each.step === waiter.step)
    if (!item) {
      item = { step: waiter.step, since: waiter.since, waiting: { resources: [], heldBy: [] } }
      items.push(item)
      byRun.set(waiter.runId, items)
    }
    if (waiter.since < item.since) item.since = waiter.since
    item.waiting.resources.push(waiter.resource)
    const holders = locks.holders.filter(
      (holder) => holder.resource === waiter.resource && holder.runId !== waiter.runId,
    )
    if (holders.length > 0) item.waiting.heldBy.push(...holders.map(holderView))
    else
      item.waiting.heldBy.push(
        ...locks.waiters
          .filter((other) => other.resource === waiter.resource && other.since < waiter.since)
          .map((other): HolderView => ({ ...holderView({ ...other, pid: null }), queued: true })),
      )
  }
  return byRun
}

function holderView(
  holder: Pick<Holder, 'resource' | 'runId' | 'testId' | 'step' | 'host' | 'pid' | 'since'>,
): HolderView {
  return {
    resource: holder.resource,
    runId: holder.runId,
    testId: holder.testId,
    step: holder.step,
    host: holder.host,
    pid: holder.pid,
    since: holder.since,
  }
}
