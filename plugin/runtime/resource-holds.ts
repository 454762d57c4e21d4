import type { RecipeStep } from '../recipe/types.ts'
import type { AcquireResult, Holder, LockRequest } from '../store/resource-locks.ts'

/** How a recipe file reaches the locks: the Vitest process's lock service, or a store it opened itself. */
export interface LockClient {
  acquire(request: LockRequest): Promise<AcquireResult>
  release(runId: string, step?: string): Promise<void>
  stopWaiting(runId: string): Promise<void>
  close?(): void
}

/** How often a waiting step asks again, and how often it says it still waits. */
const POLL_MS = 200
const SAY_EVERY_MS = 5_000

export type Acquired = { waitedMs: number } | { failure: string }

/**
 * The lab resources of one run: the recipe's (`resources:`, held from the first step that
 * runs to the end of the file) and each step's (held while the step runs). A step whose
 * resource another run holds waits, saying who holds it and for how long it has waited, up to
 * the wait limit; then it fails with that reason.
 */
export class ResourceHolds {
  private readonly client: LockClient | undefined
  private readonly request: Omit<LockRequest, 'resources' | 'step'>
  private readonly recipeResources: readonly string[]
  private readonly waitMs: number
  private readonly say: (step: string, line: string) => void
  /** The recipe-level acquisition, once started: every step waits for the same one. */
  private recipeHold: Promise<Acquired> | undefined
  private holdsAnything = false

  constructor(options: {
    client: LockClient | undefined
    runId: string
    testId: string
    recipeResources: readonly string[]
    waitSec: number
    say: (step: string, line: string) => void
  }) {
    this.client = options.client
    this.request = { runId: options.runId, testId: options.testId }
    this.recipeResources = options.recipeResources
    this.waitMs = Math.round(options.waitSec * 1000)
    this.say = options.say
  }

  /** Whether `step` has resources to take before it runs (its own, or the recipe's not yet held). */
  needs(step: RecipeStep): boolean {
    return step.resources.length > 0 || (this.recipeResources.length > 0 && this.recipeHold === undefined)
  }

  /** Takes what `step` needs: the recipe's resources first (once per run), then its own. */
  async acquire(step: RecipeStep): Promise<Acquired> {
    let waitedMs = 0
    if (this.recipeResources.length > 0) {
      const before = Date.now()
      this.recipeHold ??= this.take(this.recipeResources, undefined, step.name)
      const recipe = await this.recipeHold
      if ('failure' in recipe) return { failure: `the recipe's resources: ${recipe.failure}` }
      // What this step spent waiting for them (nothing once they are held).
      waitedMs += Date.now() - before
    }
    if (step.resources.length === 0) return { waitedMs }
    const own = await this.take(step.resources, step.name, step.name)
    return 'failure' in own ? own : { waitedMs: waitedMs + own.waitedMs }
  }

  /** Releases what `step` held on its own (the recipe's resources stay held). */
  async releaseStep(step: RecipeStep): Promise<void> {
    if (step.resources.length > 0 && this.client) await this.client.release(this.request.runId, step.name)
  }

  /** The run ended: everything is released. */
  async releaseAll(): Promise<void> {
    if (!this.client || !this.holdsAnything) return
    await this.client.release(this.request.runId)
    this.client.close?.()
  }

  private async take(resources: readonly string[], holdStep: string | undefined, step: string): Promise<Acquired> {
    if (!this.client)
      return {
        failure: `cannot lock ${resources.join(', ')}: the run store's lock service is not available in this run`,
      }
    this.holdsAnything = true
    const started = Date.now()
    let lastSaid = 0
    for (;;) {
      let answer: AcquireResult
      try {
        answer = await this.client.acquire({ ...this.request, resources, step: holdStep })
      } catch (error) {
        return { failure: `cannot lock ${resources.join(', ')}: ${(error as Error).message}` }
      }
      const waited = Date.now() - started
      if (answer.acquired) {
        if (waited >= POLL_MS) this.say(step, `got ${resources.join(', ')} after waiting ${seconds(waited)}`)
        return { waitedMs: waited }
      }
      if (waited >= this.waitMs) {
        await this.client.stopWaiting(this.request.runId).catch(() => undefined)
        return {
          failure: `waited ${seconds(waited)} (the limit) for ${answer.holders.map(describeHolder).join('; ')}`,
        }
      }
      if (lastSaid === 0 || Date.now() - lastSaid >= SAY_EVERY_MS) {
        lastSaid = Date.now()
        this.say(step, `waiting for ${answer.holders.map(describeHolder).join('; ')}; ${seconds(waited)} so far`)
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  }
}

/** `dut:x, held by run R (test_id T, step S) on host H since 10:02:03 UTC`. */
export function describeHolder(holder: Holder): string {
  const what = [`test_id ${holder.testId ?? '?'}`]
  if (holder.step) what.push(`step ${holder.step}`)
  const since = holder.since.replace(/^.*T/, '').replace(/\.\d+Z$/, ' UTC')
  return `${holder.resource}, ${holder.queued ? 'queued for by' : 'held by'} run ${holder.runId} (${what.join(', ')}) on host ${holder.host ?? '?'} since ${since}`
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
}

/** The lock service of the Vitest process, over loopback HTTP. */
export function httpLockClient(address: { url: string; token: string }, file: string): LockClient {
  const call = async <T>(body: object): Promise<T> => {
    const response = await fetch(address.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${address.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const answer = (await response.json()) as T & { error?: string }
    if (!response.ok) throw new Error(`the lock service answered ${response.status}: ${answer.error ?? ''}`)
    return answer
  }
  return {
    acquire: (request) => call<AcquireResult>({ op: 'acquire', file, ...request }),
    release: async (runId, step) => {
      await call({ op: 'release', runId, ...(step === undefined ? {} : { step }) })
    },
    stopWaiting: async (runId) => {
      await call({ op: 'stop-waiting', runId })
    },
  }
}

/** The locks of a store this recipe file opened itself (no Vitest process keeps it): renewed here every second. */
export function directLockClient(locks: {
  tryAcquire(request: LockRequest): AcquireResult
  release(runId: string, step?: string): void
  stopWaiting(runId: string): void
  heartbeat(): void
}): LockClient {
  let timer: NodeJS.Timeout | undefined
  return {
    acquire: async (request) => {
      timer ??= setInterval(() => {
        try {
          locks.heartbeat()
        } catch {
          // The store is busy or gone: the lease runs out, as for a process that died.
        }
      }, 1000)
      timer.unref()
      return locks.tryAcquire(request)
    },
    release: async (runId, step) => locks.release(runId, step),
    stopWaiting: async (runId) => locks.stopWaiting(runId),
    close: () => clearInterval(timer),
  }
}
