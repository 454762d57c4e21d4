import { expect, test } from 'vitest'
import { parseRecipe } from '../../plugin/recipe/parse.ts'
import { describeHolder, type LockClient, ResourceHolds } from '../../plugin/runtime/resource-holds.ts'
import type { AcquireResult, Holder, LockRequest, LostHold } from '../../plugin/store/resource-locks.ts'

const HOLDER: Holder = {
  resource: 'dut:x',
  runId: 'run-1',
  testId: 'SW-001',
  step: null,
  host: 'lab-pc-4',
  pid: 42,
  since: '2026-11-30T09:15:03.120Z',
  heartbeatAt: '2026-11-30T09:15:04.000Z',
}

/** A lock service that says "held" `busyFor` times, then grants; it records every call. */
function fakeClient(busyFor: number): LockClient & { calls: string[] } {
  let asked = 0
  const calls: string[] = []
  return {
    calls,
    async acquire(request: LockRequest): Promise<AcquireResult> {
      calls.push(`acquire ${request.resources.join('+')} ${request.step ?? '(run)'}`)
      asked++
      return asked > busyFor
        ? { acquired: true, generations: Object.fromEntries(request.resources.map((resource) => [resource, 1])) }
        : { acquired: false, holders: [HOLDER], waitingSince: HOLDER.since }
    },
    async release(runId: string, step?: string) {
      calls.push(`release ${runId} ${step ?? '(run)'}`)
    },
    async stopWaiting(runId: string) {
      calls.push(`stop-waiting ${runId}`)
    },
    async check() {
      return []
    },
    async holderStopped() {},
  }
}

const recipe = parseRecipe(
  `resources: [dut:x]
steps:
  - { name: a, type: exec, cmd: [echo], parse: raw }
  - { name: b, type: exec, cmd: [echo], parse: raw, resources: [scope:tek-1] }
`,
  'recipes/x.yaml',
)
const [a, b] = recipe.steps as [(typeof recipe.steps)[0], (typeof recipe.steps)[0]]

function holdsWith(client: LockClient | undefined, waitSec = 60) {
  const said: string[] = []
  const holds = new ResourceHolds({
    client,
    runId: 'run-2',
    testId: 'SW-002',
    recipeResources: recipe.resources,
    waitSec,
    say: (step, line) => said.push(`${step}: ${line}`),
  })
  return { holds, said }
}

test("the recipe's resources are taken once, before the first step; a step's own are taken and given back around it", async () => {
  const client = fakeClient(0)
  const { holds } = holdsWith(client)
  expect(holds.needs(a)).toBe(true)
  expect(await holds.acquire(a)).toEqual({ waitedMs: expect.any(Number) })
  // Every step of a recipe with resources runs holding them (and is stopped if they are lost).
  expect(holds.needs(a)).toBe(true)
  expect(holds.needs(b)).toBe(true)
  await holds.acquire(b)
  await holds.releaseStep(b)
  await holds.releaseStep(a)
  await holds.releaseAll()
  expect(client.calls).toEqual([
    'acquire dut:x (run)',
    'acquire scope:tek-1 b',
    'release run-2 b',
    'release run-2 (run)',
  ])
})

test('a held resource: the step waits, says who holds it, and counts the wait', async () => {
  const { holds, said } = holdsWith(fakeClient(3))
  const acquired = await holds.acquire(a)
  expect('waitedMs' in acquired && acquired.waitedMs).toBeGreaterThanOrEqual(500)
  expect(said[0]).toBe(
    'a: waiting for dut:x, held by run run-1 (test_id SW-001) on host lab-pc-4 since 09:15:03 UTC; 0.0 s so far',
  )
  expect(said.at(-1)).toMatch(/^a: got dut:x after waiting \d\.\d s$/)
})

test('past the wait limit the step gets the reason, and the run leaves the queue', async () => {
  const client = fakeClient(Number.POSITIVE_INFINITY)
  const { holds } = holdsWith(client, 0.5)
  const acquired = await holds.acquire(a)
  expect(acquired).toEqual({
    failure: expect.stringMatching(
      /^the recipe's resources: waited 0\.\d s \(the limit\) for dut:x, held by run run-1 \(test_id SW-001\) on host lab-pc-4 since 09:15:03 UTC$/,
    ),
  })
  expect(client.calls.at(-1)).toBe('stop-waiting run-2')
  // Every later step is told the same, without waiting again.
  const again = await holds.acquire(b)
  expect(again).toEqual(acquired)
})

test('no lock service (the store could not be kept): the step fails saying so; a lock service that errs is a failure too', async () => {
  const { holds } = holdsWith(undefined)
  expect(await holds.acquire(a)).toEqual({
    failure: "the recipe's resources: cannot lock dut:x: the run store's lock service is not available in this run",
  })
  const broken: LockClient = {
    acquire: async () => {
      throw new Error('connection refused')
    },
    release: async () => undefined,
    stopWaiting: async () => undefined,
    check: async () => [],
    holderStopped: async () => undefined,
  }
  expect(await holdsWith(broken).holds.acquire(a)).toEqual({
    failure: "the recipe's resources: cannot lock dut:x: connection refused",
  })
})

test('a holder queued before the asking run is named as such', () => {
  expect(describeHolder({ ...HOLDER, queued: true, step: 'soak' })).toBe(
    'dut:x, queued for by run run-1 (test_id SW-001, step soak) on host lab-pc-4 since 09:15:03 UTC',
  )
})

test('a hold the store says is lost stops the steps that use it, names what happened, and later steps do not start with it', async () => {
  const client = fakeClient(0)
  let lost: LostHold[] = []
  client.check = async () => lost
  const stopped: string[] = []
  client.holderStopped = async (resource, generation, _at, reason) => {
    stopped.push(`${resource}#${generation} ${reason ?? '(the store knows why)'}`)
  }
  const { holds } = holdsWith(client)
  expect(await holds.acquire(b)).toEqual({ waitedMs: expect.any(Number) })
  expect(holds.environment(b)).toEqual({ RECIPES_RESOURCE_GENERATION: 'dut:x=1,scope:tek-1=1' })
  const reasons: string[] = []
  const unwatch = holds.watch(b, (reason) => reasons.push(reason))
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(reasons).toEqual([])
  lost = [{ resource: 'dut:x', generation: 1, at: '2026-11-30T10:02:03.120Z', reason: 'freed by operator alice@lab1' }]
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(reasons[0]).toBe('lost dut:x at 10:02:03 UTC: freed by operator alice@lab1')
  await holds.stepStopped(b)
  unwatch()
  expect(stopped).toEqual(['dut:x#1 (the store knows why)'])
  expect(await holds.acquire(a)).toEqual({
    failure: "the recipe's resources: lost dut:x at 10:02:03 UTC: freed by operator alice@lab1",
  })
})

test('a hold past its bound (resource_hold_max) stops its step; the holder tells the store why', async () => {
  const client = fakeClient(0)
  const stopped: string[] = []
  client.holderStopped = async (resource, _generation, _at, reason) => {
    stopped.push(`${resource}: ${reason}`)
  }
  const holds = new ResourceHolds({
    client,
    runId: 'run-3',
    testId: 'SW-003',
    recipeResources: [],
    waitSec: 60,
    holdMaxSec: 0.2,
    say: () => {},
  })
  await holds.acquire(b)
  const reasons: string[] = []
  const unwatch = holds.watch(b, (reason) => reasons.push(reason))
  await new Promise((resolve) => setTimeout(resolve, 600))
  unwatch()
  expect(reasons[0]).toMatch(
    /^lost scope:tek-1 at \d\d:\d\d:\d\d UTC: held for 0\.\d s, past its bound of 0\.2 s \(resource_hold_max\)$/,
  )
  await holds.stepStopped(b)
  expect(stopped).toEqual([expect.stringMatching(/^scope:tek-1: held for 0\.\d s, past its bound of 0\.2 s/)])
})
