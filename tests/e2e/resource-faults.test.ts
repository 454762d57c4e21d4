import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freshDatabase, noPostgres } from '../postgres.ts'
import { childEnv, createProject, REPO, type RunResult, type TestProject } from './project.ts'

// A lab resource under the faults a lab sees every week. Each run's step "drives the DUT": it
// appends `<run> <ms since epoch> <generation>` to a usage file every 20 ms for a while. Two
// runs must never drive it at the same time, whatever happens to the one holding it: its
// whole Vitest process group SIGKILLed (a cancelled CI job, an OOM kill), or its node
// processes frozen (SIGSTOP) for longer than any lease. The usage file, not the store, is
// the judge; the store must then tell the same story.

const DRIVE_SH = `#!/usr/bin/env bash
# Drives the DUT: one usage line every 20 ms for DURATION seconds.
now() { date +%s%3N; }
end=$(( $(now) + DURATION * 1000 ))
while [ "$(now)" -lt "$end" ]; do
  echo "$TAG $(now) $RECIPES_RESOURCE_GENERATION" >> "$USAGE"
  sleep 0.02
done
echo '{"status":"ok"}'
`

const recipe = (testId: string, tag: string, seconds: number, extra: string) => `test_meta: { test_id: ${testId} }
resources: [dut:x]
${extra}steps:
  - name: drive
    type: shell
    cmd: scriptlets/drive.sh
    args: { TAG: ${tag}, DURATION: ${seconds}, USAGE: "${usage}" }
`

let shared: string
let usage: string
const projects: TestProject[] = []
const started: ChildProcess[] = []

beforeAll(() => {
  shared = mkdtempSync(join(tmpdir(), 'vitest-recipes-faults-'))
})
afterAll(() => {
  for (const child of started) if (child.exitCode === null) signalGroup(child, 'SIGKILL')
  for (const created of projects) created.remove()
  rmSync(shared, { recursive: true, force: true })
})

/** A workspace whose recipe drives the DUT; USAGE is the shared usage file. */
function lab(testId: string, tag: string, seconds: number, extra = ''): TestProject {
  const created = createProject({
    'recipes/dut.yaml': recipe(testId, tag, seconds, extra),
    'scriptlets/drive.sh': DRIVE_SH,
  })
  chmodSync(join(created.root, 'scriptlets/drive.sh'), 0o755)
  projects.push(created)
  return created
}

/** `vitest run` in its own process group (as CI starts a job), not awaited. */
function startDetached(project: TestProject, db: string): ChildProcess {
  const child = spawn(process.execPath, [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run'], {
    cwd: project.root,
    env: childEnv({ RECIPES_DB: db, CI: 'true' }),
    stdio: 'ignore',
    detached: true,
  })
  started.push(child)
  return child
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal)
  } catch {
    // Already gone.
  }
}

interface Use {
  tag: string
  at: number
  generation: string
}

function uses(): Use[] {
  if (!existsSync(usage)) return []
  return readFileSync(usage, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [tag, at, generation] = line.split(' ')
      return { tag: tag!, at: Number(at), generation: generation ?? '' }
    })
}

async function until(what: string, ready: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** When each run drove the DUT: its first and last usage line. */
function span(tag: string): { first: number; last: number } {
  const times = uses()
    .filter((use) => use.tag === tag)
    .map((use) => use.at)
  expect(times.length, `${tag} drove the DUT`).toBeGreaterThan(0)
  return { first: Math.min(...times), last: Math.max(...times) }
}

/** The holds of dut:x, as an auditor reads the record. */
function readHolds(db: string): Hold[] {
  const handle = new Database(db, { readonly: true })
  try {
    return handle.prepare("SELECT * FROM resource_holds WHERE resource = 'dut:x' ORDER BY acquired_at").all() as Hold[]
  } finally {
    handle.close()
  }
}

interface Hold {
  run_id: string
  acquired_at: string
  released_at: string | null
  release: string | null
  generation: number
}

/**
 * The holder drives the DUT, a waiter queues for it, then `fault` strikes the holder; the
 * waiter's run is awaited. Returns the waiter's result.
 */
async function holderThenWaiter(
  db: string,
  holder: TestProject,
  waiter: TestProject,
  fault: (child: ChildProcess) => Promise<void>,
): Promise<{ waiter: RunResult; holder: ChildProcess }> {
  const holding = startDetached(holder, db)
  await until('the holder to drive the DUT', () => uses().some((use) => use.tag === 'A'))
  const waiting = waiter.vitest(['run'], { env: { RECIPES_DB: db } })
  // The waiter is queued for dut:x (its process started and asked) before the fault.
  await sleep(2500)
  await fault(holding)
  return { waiter: await waiting, holder: holding }
}

/**
 * The holder's whole Vitest process group is SIGKILLed while its step drives the DUT and a
 * waiter is queued: the killed runner's step stops within a second, and the waiter drives the
 * DUT only after it; the waiter's run passes. Returns when each drove it.
 */
async function killHolder(db: string, label: string): Promise<{ a: { first: number; last: number } }> {
  usage = join(shared, `usage-${label}.log`)
  let killedAt = 0
  const { waiter } = await holderThenWaiter(
    db,
    lab(`FAULT-${label.toUpperCase()}`, 'A', 30),
    lab(`FAULT-${label.toUpperCase()}-NEXT`, 'B', 1),
    async (child) => {
      killedAt = Date.now()
      signalGroup(child, 'SIGKILL')
    },
  )
  expect(waiter.code, waiter.output).toBe(0)
  const a = span('A')
  expect(a.last - killedAt).toBeLessThan(1000)
  expect(a.last).toBeLessThan(span('B').first)
  return { a }
}

describe('SQLite store', () => {
  let db: string
  beforeAll(() => {
    db = join(shared, 'lab.sqlite')
  })

  test("SIGKILL of the holder's whole process group: its step dies with it, and only then does the waiter get the DUT", async () => {
    const { a } = await killHolder(db, 'kill')
    const [killed, next] = readHolds(db)
    expect(killed!.release).toMatch(/^expired: its holder's processes on \S+ are gone$/)
    // The record says when the killed holder's last process stopped, and the next hold starts after it.
    expect(Date.parse(killed!.released_at!)).toBeGreaterThanOrEqual(a.last - 20)
    expect(next!.acquired_at >= killed!.released_at!).toBe(true)
    expect(new Set(uses().map((use) => `${use.tag} ${use.generation}`))).toEqual(
      new Set([`A dut:x=${killed!.generation}`, `B dut:x=${next!.generation}`]),
    )
  }, 90_000)

  test("SIGSTOP of the holder's node processes for longer than a lease: it keeps the DUT, and both runs pass one after the other", async () => {
    usage = join(shared, 'usage-stop.log')
    const holder = lab('FAULT-FROZEN', 'A', 10)
    let holding: ChildProcess | undefined
    const { waiter } = await holderThenWaiter(db, holder, lab('FAULT-AFTER', 'B', 1), async (child) => {
      holding = child
      // The runner's node processes (its process group: the step's program leads a group of its own, and runs on).
      signalGroup(child, 'SIGSTOP')
      await sleep(7000)
      signalGroup(child, 'SIGCONT')
    })
    const holderExit = await new Promise<number | null>((resolve) =>
      holding!.exitCode !== null ? resolve(holding!.exitCode) : holding!.once('exit', (code) => resolve(code)),
    )
    expect(holderExit).toBe(0)
    expect(waiter.code, waiter.output).toBe(0)
    const a = span('A')
    const b = span('B')
    expect(a.last).toBeLessThan(b.first)
    const holds = readHolds(db).slice(-2)
    expect(holds.map((hold) => hold.release)).toEqual(['released', 'released'])
    expect(holds[1]!.acquired_at >= holds[0]!.released_at!).toBe(true)
  }, 90_000)
})

describe('a holder that loses its hold stops', () => {
  let db: string
  beforeAll(() => {
    db = join(shared, 'lab-lost.sqlite')
  })

  test("an operator frees the DUT (recipes locks --release): the holder's step stops within a second and fails saying so", async () => {
    usage = join(shared, 'usage-release.log')
    const holder = lab('FAULT-FREED', 'A', 30, 'resource_hold_max: 600\n')
    const operator = lab('FAULT-DESK', 'X', 0)
    const running = holder.vitestJson(['recipes/'], { env: { RECIPES_DB: db } })
    await until('the holder to drive the DUT', () => uses().some((use) => use.tag === 'A'))
    const listed = await operator.recipes(['locks'], { env: { RECIPES_DB: db } })
    expect(listed.stdout).toMatch(/dut:x\s+1\s+\S+-dut-\w+\s+FAULT-FREED\s+\(whole run\).*10m 00s/)
    const freed = await operator.recipes(['locks', '--release', 'dut:x'], { env: { RECIPES_DB: db } })
    expect(freed.code, freed.output).toBe(0)
    expect(freed.stdout).toMatch(/^dut:x: asked run \S+ \(test_id FAULT-FREED\) on host \S+ to stop and give it back/)
    expect(freed.stdout).toMatch(/dut:x: freed after \d+\.\d s/)
    const result = await running
    expect(result.code).toBe(1)
    const [step] = result.report.testResults[0]!.assertionResults
    expect(step!.failureMessages[0]).toMatch(/lost dut:x at \d\d:\d\d:\d\d UTC: freed by operator \S+@\S+ at /)
    const [hold] = readHolds(db)
    const told = /^revoked: freed by operator \S+ at (\S+); its holder stopped using it at (\S+)$/.exec(hold!.release!)
    expect(told, hold!.release!).not.toBeNull()
    // The step stopped driving the DUT within a second of the operator's release, and the record says when.
    expect(span('A').last - Date.parse(told![1]!)).toBeLessThan(1000)
    expect(hold!.released_at).toBe(told![2])
    expect(Date.parse(hold!.released_at!)).toBeGreaterThanOrEqual(span('A').last - 20)
  }, 90_000)

  test('resource_hold_max bounds a hold: a step still holding the DUT past it is stopped and fails, and the record says why', async () => {
    usage = join(shared, 'usage-bound.log')
    const holder = lab('FAULT-BOUND', 'A', 30, 'resource_hold_max: 2\n')
    const result = await holder.vitestJson(['recipes/'], { env: { RECIPES_DB: db } })
    expect(result.code).toBe(1)
    const [step] = result.report.testResults[0]!.assertionResults
    expect(step!.failureMessages[0]).toMatch(
      /lost dut:x at \d\d:\d\d:\d\d UTC: held for 2\.\d s, past its bound of 2\.0 s \(resource_hold_max\)/,
    )
    const a = span('A')
    expect(a.last - a.first).toBeLessThan(4000)
    const hold = readHolds(db).at(-1)!
    expect(hold.release).toMatch(
      /^lost: held for 2\.\d s, past its bound of 2\.0 s \(resource_hold_max\); its holder stopped using it at /,
    )
    expect(Date.parse(hold.released_at!)).toBeGreaterThanOrEqual(a.last - 20)
  }, 60_000)
})

describe.skipIf(noPostgres)('PostgreSQL store', () => {
  let database: { url: string; drop: () => Promise<void> } | undefined
  afterAll(async () => {
    await database?.drop()
  })

  test("SIGKILL of the holder's whole process group: its step dies with it, and only then does the waiter get the DUT", async () => {
    database = await freshDatabase('faults')
    await killHolder(database.url, 'pg-kill')
  }, 90_000)
})
