import { ensureRunnerGuard } from '../executors/runner-guard.ts'
import type { RecipeStep } from '../recipe/types.ts'
import { ownProcessIdentity, type ProcessIdentity } from '../store/process-alive.ts'
import type { AcquireResult, Holder, LockRequest, LostHold } from '../store/resource-locks.ts'

/** How a recipe file reaches the locks: the Vitest process's lock service, or a store it opened itself. */
export interface LockClient {
  acquire(request: LockRequest): Promise<AcquireResult>
  release(runId: string, step?: string): Promise<void>
  stopWaiting(runId: string): Promise<void>
  /** Which of the run's holds are lost (ended or revoked by someone else). */
  check(runId: string, holds: readonly { resource: string; generation: number }[]): Promise<LostHold[]>
  /** The holder stopped using a hold it lost at `at` (its step's processes are gone); `reason` when the store does not know it. */
  holderStopped(resource: string, generation: number, at: string, reason?: string): Promise<void>
  close?(): void
}

/** How often a waiting step asks again, and how often it says it still waits. */
export const POLL_MS = 200
const SAY_EVERY_MS = 5_000
/** How often a holder checks that its holds are still its own (and within their bound). */
const CHECK_MS = 250

export type Acquired = { waitedMs: number } | { failure: string }

/** A hold this run has: its generation, the step it is for (undefined: the whole run), since when. */
interface Held {
  resource: string
  generation: number
  step: string | undefined
  since: number
  /** Why it is lost, once it is. */
  lost?: { at: string; reason: string; reported: boolean; local: boolean }
}

/**
 * The lab resources of one run: the recipe's (`resources:`, held from the first step that
 * runs to the end of the file) and each step's (held while the step runs). A step whose
 * resource another run holds waits, saying who holds it and for how long it has waited, up to
 * the wait limit; then it fails with that reason. While a step runs with resources, the run
 * checks four times a second that they are still its own: a hold that is gone (an operator
 * freed it, a lease ran out across hosts) or past its bound (`resource_hold_max`) stops the
 * steps that use it (their processes are killed, the step fails saying what was lost, when
 * and to whom), and no later step starts with it.
 */
export class ResourceHolds {
  private readonly client: LockClient | undefined
  private readonly request: Omit<LockRequest, 'resources' | 'step'>
  private readonly recipeResources: readonly string[]
  private readonly waitMs: number
  private readonly maxHoldMs: number | undefined
  private readonly say: (step: string, line: string) => void
  /** The recipe-level acquisition, once started: every step waits for the same one. */
  private recipeHold: Promise<Acquired> | undefined
  private holdsAnything = false
  private readonly held = new Map<string, Held>()
  /** The running steps that use resources, and what each does when one of its holds is lost. */
  private readonly watchers = new Map<string, (reason: string) => void>()
  private timer: NodeJS.Timeout | undefined
  private checking = false

  constructor(options: {
    client: LockClient | undefined
    runId: string
    testId: string
    recipeResources: readonly string[]
    waitSec: number
    /** How long a hold may last (`resource_hold_max`, plugin option resources.holdMaxSec); undefined: no bound. */
    holdMaxSec?: number | undefined
    say: (step: string, line: string) => void
    /** The processes whose life keeps this run's holds (default: this one and its runner guard). */
    keepers?: () => ProcessIdentity[]
  }) {
    this.client = options.client
    const keepers = options.keepers ?? defaultKeepers
    this.maxHoldMs = options.holdMaxSec === undefined ? undefined : Math.round(options.holdMaxSec * 1000)
    this.request = {
      runId: options.runId,
      testId: options.testId,
      get keepers() {
        return keepers()
      },
      ...(this.maxHoldMs === undefined ? {} : { maxHoldMs: this.maxHoldMs }),
    }
    this.recipeResources = options.recipeResources
    this.waitMs = Math.round(options.waitSec * 1000)
    this.say = options.say
  }

  /** Whether `step` runs with resources: its own, or the recipe's. */
  needs(step: RecipeStep): boolean {
    return step.resources.length > 0 || this.recipeResources.length > 0
  }

  /** Takes what `step` needs: the recipe's resources first (once per run), then its own. */
  async acquire(step: RecipeStep): Promise<Acquired> {
    let waitedMs = 0
    if (this.recipeResources.length > 0) {
      const before = Date.now()
      this.recipeHold ??= this.take(this.recipeResources, undefined, step.name)
      const recipe = await this.recipeHold
      if ('failure' in recipe) return { failure: `the recipe's resources: ${recipe.failure}` }
      const lost = this.lostOf(undefined)
      if (lost) return { failure: `the recipe's resources: ${lost}` }
      // What this step spent waiting for them (nothing once they are held).
      waitedMs += Date.now() - before
    }
    if (step.resources.length === 0) return { waitedMs }
    const own = await this.take(step.resources, step.name, step.name)
    return 'failure' in own ? own : { waitedMs: waitedMs + own.waitedMs }
  }

  /**
   * While `step` runs: calls `onLost` with the reason once a hold it uses is lost (`lost
   * dut:x at 10:02:03: freed by operator ...`). Returns the function that stops watching.
   */
  watch(step: RecipeStep, onLost: (reason: string) => void): () => void {
    this.watchers.set(step.name, onLost)
    this.timer ??= setInterval(() => void this.checkHolds(), CHECK_MS)
    this.timer.unref()
    const lost = this.lostFor(step)
    if (lost) onLost(lost)
    return () => {
      this.watchers.delete(step.name)
      if (this.watchers.size === 0) {
        clearInterval(this.timer)
        this.timer = undefined
      }
    }
  }

  /** What the processes of `step` find in their environment: the generation of each hold it runs with. */
  environment(step: RecipeStep): Record<string, string> {
    const holds = [...this.held.values()].filter((held) => held.step === undefined || held.step === step.name)
    if (holds.length === 0) return {}
    return {
      RECIPES_RESOURCE_GENERATION: holds.map((held) => `${held.resource}=${held.generation}`).join(','),
    }
  }

  /**
   * After a step that lost a hold has stopped (its processes are gone): the store learns when
   * the holder really stopped using the resource, so the record shows any overlap.
   */
  async stepStopped(step: RecipeStep): Promise<void> {
    if (!this.client) return
    const at = new Date().toISOString()
    for (const held of this.held.values()) {
      if (!held.lost || held.lost.reported || !(held.step === undefined || held.step === step.name)) continue
      // The recipe's holds may be used by other running steps: reported once the last one stopped.
      if (held.step === undefined && [...this.watchers.keys()].some((name) => name !== step.name)) continue
      held.lost.reported = true
      await this.client
        .holderStopped(held.resource, held.generation, at, held.lost.local ? held.lost.reason : undefined)
        .catch(() => undefined)
    }
  }

  /** Releases what `step` held on its own (the recipe's resources stay held). */
  async releaseStep(step: RecipeStep): Promise<void> {
    if (step.resources.length === 0 || !this.client) return
    for (const [key, held] of this.held) if (held.step === step.name) this.held.delete(key)
    await this.client.release(this.request.runId, step.name)
  }

  /** The run ended: everything is released. */
  async releaseAll(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    if (!this.client || !this.holdsAnything) return
    this.held.clear()
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
        answer = await this.client.acquire({
          ...this.request,
          keepers: this.request.keepers,
          resources,
          step: holdStep,
        })
      } catch (error) {
        return { failure: `cannot lock ${resources.join(', ')}: ${(error as Error).message}` }
      }
      const waited = Date.now() - started
      if (answer.acquired) {
        for (const resource of resources) {
          const generation = answer.generations?.[resource] ?? 0
          const key = `${resource}\0${holdStep ?? ''}`
          if (!this.held.has(key)) this.held.set(key, { resource, generation, step: holdStep, since: Date.now() })
        }
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

  /** Asks the store which holds are lost, and checks their bounds; stops the steps that used a lost one. */
  private async checkHolds(): Promise<void> {
    if (this.checking || !this.client) return
    this.checking = true
    try {
      const now = Date.now()
      const live = [...this.held.values()].filter((held) => !held.lost)
      for (const held of live)
        if (this.maxHoldMs !== undefined && now - held.since > this.maxHoldMs)
          held.lost = {
            at: new Date(now).toISOString(),
            reason: `held for ${seconds(now - held.since)}, past its bound of ${seconds(this.maxHoldMs)} (resource_hold_max)`,
            reported: false,
            local: true,
          }
      const asked = live.filter((held) => !held.lost)
      if (asked.length > 0) {
        const lost = await this.client.check(this.request.runId, asked).catch(() => [] as LostHold[])
        for (const item of lost) {
          const held = asked.find((candidate) => candidate.resource === item.resource)
          if (held) held.lost = { at: item.at, reason: item.reason, reported: false, local: false }
        }
      }
      for (const [step, onLost] of this.watchers) {
        const reason = this.lostFor({ name: step })
        if (reason) onLost(reason)
      }
    } finally {
      this.checking = false
    }
  }

  /** Why a step cannot go on with its holds (its own, and the recipe's), or undefined. */
  private lostFor(step: { name: string }): string | undefined {
    return this.lostOf(undefined) ?? this.lostOf(step.name)
  }

  /** `lost dut:x at 10:02:03 UTC: <why>` for the lost holds of `step` (undefined: the recipe's). */
  private lostOf(step: string | undefined): string | undefined {
    const lost = [...this.held.values()].filter((held) => held.step === step && held.lost)
    if (lost.length === 0) return undefined
    return lost.map((held) => `lost ${held.resource} at ${clock(held.lost!.at)}: ${held.lost!.reason}`).join('; ')
  }
}

function defaultKeepers(): ProcessIdentity[] {
  const guard = ensureRunnerGuard()
  return guard ? [ownProcessIdentity(), guard] : [ownProcessIdentity()]
}

/** `dut:x, held by run R (test_id T, step S) on host H since 10:02:03 UTC`. */
export function describeHolder(holder: Holder): string {
  const what = [`test_id ${holder.testId ?? '?'}`]
  if (holder.step) what.push(`step ${holder.step}`)
  const revoked = holder.revoked ? `, being freed (${holder.revoked})` : ''
  return `${holder.resource}, ${holder.queued ? 'queued for by' : 'held by'} run ${holder.runId} (${what.join(', ')}) on host ${holder.host ?? '?'} since ${clock(holder.since)}${revoked}`
}

/** `2026-11-30T10:02:03.120Z` → `10:02:03 UTC`. */
function clock(iso: string): string {
  return iso.replace(/^.*T/, '').replace(/\.\d+Z$/, ' UTC')
}

/** A wait as people read it: `0.4 s`, `12 s`. */
export function seconds(ms: number): string {
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
    const answer = (await response.json()) as T & { error?: { code: string; message: string } }
    if (!response.ok)
      throw new Error(
        `the lock service answered ${response.status}: ${answer.error ? `${answer.error.message} (${answer.error.code})` : ''}`,
      )
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
    check: async (runId, holds) => (await call<{ lost: LostHold[] }>({ op: 'check', runId, holds })).lost,
    holderStopped: async (resource, generation, at, reason) => {
      await call({ op: 'holder-stopped', resource, generation, at, ...(reason === undefined ? {} : { reason }) })
    },
  }
}

/** The locks of a store this recipe file opened itself (no Vitest process keeps it): renewed here every second. */
export function directLockClient(locks: {
  tryAcquire(request: LockRequest): Promise<AcquireResult>
  release(runId: string, step?: string): Promise<void>
  stopWaiting(runId: string): Promise<void>
  heartbeat(): Promise<void>
  check(runId: string, holds: readonly { resource: string; generation: number }[]): Promise<LostHold[]>
  holderStopped(resource: string, generation: number, at: string, reason?: string): Promise<void>
}): LockClient {
  let timer: NodeJS.Timeout | undefined
  return {
    acquire: async (request) => {
      timer ??= setInterval(() => {
        locks.heartbeat().catch(() => {
          // The store is busy or gone: the lease runs out, as for a process that died.
        })
      }, 1000)
      timer.unref()
      // This process asks and holds: its runner guard is what keeps the hold besides it.
      const guard = ensureRunnerGuard()
      return locks.tryAcquire({ ...request, keepers: guard ? [guard] : [] })
    },
    release: async (runId, step) => locks.release(runId, step),
    stopWaiting: async (runId) => locks.stopWaiting(runId),
    check: async (runId, holds) => locks.check(runId, holds),
    holderStopped: async (resource, generation, at, reason) => locks.holderStopped(resource, generation, at, reason),
    close: () => clearInterval(timer),
  }
}
