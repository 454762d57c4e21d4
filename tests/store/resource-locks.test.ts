import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { processStartTime } from '../../plugin/store/process-alive.ts'
import { LEASE_MS, ResourceLocks } from '../../plugin/store/resource-locks.ts'
import { sqliteConnection } from '../../plugin/store/sql.ts'
import { RunStore, SCHEMA_VERSION } from '../../plugin/store/run-store.ts'
import { freshDatabase, noPostgres, query } from '../postgres.ts'

// The lab resource locks through the store's public API ((await RunStore.open(path)).locks). Time is
// passed as `now`: T(s) is s seconds after a fixed instant, so leases expire when the test says.
// Every run here is of this process, which is alive: only the tests that rewrite a row's pid
// or host (with raw SQL on the same file) see a holder whose process is gone.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-locks-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const BASE = Date.UTC(2026, 0, 1, 9, 0, 0)
const T = (seconds: number) => new Date(BASE + seconds * 1000)
const iso = (seconds: number) => T(seconds).toISOString()

const opened: { close(): void }[] = []
afterEach(async () => {
  for (const handle of opened.splice(0)) await handle.close()
})

let files = 0
/** A new store file, opened through RunStore (closed after the test). */
async function newStore(): Promise<{ store: RunStore; path: string }> {
  const path = join(dir, `locks-${++files}.sqlite`)
  const store = await RunStore.open(path)
  opened.push(store)
  return { store, path }
}
function raw(path: string): Database.Database {
  const db = new Database(path, { timeout: 10_000 })
  opened.push(db)
  return db
}

interface HoldRow {
  resource: string
  run_id: string
  step: string | null
  acquired_at: string
  released_at: string | null
  release: string | null
}
const holds = (db: Database.Database) => db.prepare('SELECT * FROM resource_holds ORDER BY rowid').all() as HoldRow[]

/** A pid of this host that is certainly gone: a process that ran and was reaped. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  expect(child.status).toBe(0)
  return child.pid!
}

const me = { host: hostname(), pid: process.pid }

test('one resource: the second run is told who holds it, queued, and gets it once released', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  expect(await locks.tryAcquire({ resources: ['dut:rack3-sw1'], runId: 'A', testId: 'T-A' }, T(0))).toMatchObject({
    acquired: true,
  })
  expect(await locks.active()).toBe(true)
  const refused = await locks.tryAcquire(
    { resources: ['dut:rack3-sw1'], runId: 'B', testId: 'T-B', step: 'load' },
    T(1),
  )
  expect(refused).toEqual({
    acquired: false,
    holders: [
      {
        resource: 'dut:rack3-sw1',
        runId: 'A',
        testId: 'T-A',
        step: null,
        ...me,
        since: iso(0),
        heartbeatAt: iso(0),
        generation: 1,
      },
    ],
    waitingSince: iso(1),
  })
  expect(await locks.list(T(1))).toEqual({
    holders: [expect.objectContaining({ resource: 'dut:rack3-sw1', runId: 'A' })],
    waiters: [{ resource: 'dut:rack3-sw1', runId: 'B', testId: 'T-B', step: 'load', host: me.host, since: iso(1) }],
  })
  // Asking again keeps the place in the queue: waitingSince stays at the first ask.
  expect(
    await locks.tryAcquire({ resources: ['dut:rack3-sw1'], runId: 'B', testId: 'T-B', step: 'load' }, T(2)),
  ).toEqual(expect.objectContaining({ acquired: false, waitingSince: iso(1) }))

  await locks.release('A', undefined, T(3))
  expect((await locks.list(T(3))).holders).toEqual([])
  expect(
    await locks.tryAcquire({ resources: ['dut:rack3-sw1'], runId: 'B', testId: 'T-B', step: 'load' }, T(4)),
  ).toMatchObject({
    acquired: true,
  })
  expect(await locks.list(T(4))).toEqual({
    holders: [expect.objectContaining({ runId: 'B', step: 'load', since: iso(4) })],
    waiters: [],
  })
  await locks.release('B', undefined, T(5))
  expect(await locks.active()).toBe(false)
  expect(holds(raw(path))).toEqual([
    expect.objectContaining({ run_id: 'A', acquired_at: iso(0), released_at: iso(3), release: 'released' }),
    expect.objectContaining({
      run_id: 'B',
      step: 'load',
      acquired_at: iso(4),
      released_at: iso(5),
      release: 'released',
    }),
  ])
})

test('several resources are taken all at once or not at all: a run wanting [a, b] while b is held gets neither and waits for both', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['b'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  const refused = await locks.tryAcquire({ resources: ['a', 'b'], runId: 'B', testId: 'T-B' }, T(1))
  expect(refused).toMatchObject({ acquired: false, holders: [{ resource: 'b', runId: 'A' }] })
  const listed = await locks.list(T(1))
  expect(listed.holders.map((holder) => [holder.resource, holder.runId])).toEqual([['b', 'A']])
  expect(listed.waiters.map((waiter) => [waiter.resource, waiter.runId])).toEqual([
    ['a', 'B'],
    ['b', 'B'],
  ])
  // `a` stays free for the others, but a run asking for it now queues behind B (FIFO).
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, T(2))).toMatchObject({
    acquired: false,
    holders: [{ resource: 'a', runId: 'B', queued: true, since: iso(1) }],
  })
  await locks.stopWaiting('C')

  await locks.release('A', undefined, T(3))
  expect(await locks.tryAcquire({ resources: ['a', 'b'], runId: 'B', testId: 'T-B' }, T(4))).toMatchObject({
    acquired: true,
  })
  expect(await locks.list(T(4))).toEqual({
    holders: [
      expect.objectContaining({ resource: 'a', runId: 'B', since: iso(4) }),
      expect.objectContaining({ resource: 'b', runId: 'B', since: iso(4) }),
    ],
    waiters: [],
  })
  expect(holds(raw(path)).map((row) => [row.resource, row.run_id, row.acquired_at, row.released_at])).toEqual([
    ['b', 'A', iso(0), iso(3)],
    ['a', 'B', iso(4), null],
    ['b', 'B', iso(4), null],
  ])
})

test('a run re-asking for what it holds gets it at once, without a second hold', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(1))).acquired).toBe(true)
  // Holding `a` counts as taken: only `b` is added.
  expect((await locks.tryAcquire({ resources: ['a', 'b', 'b'], runId: 'A', testId: 'T-A' }, T(2))).acquired).toBe(true)
  expect(holds(raw(path)).map((row) => [row.resource, row.acquired_at])).toEqual([
    ['a', iso(0)],
    ['b', iso(2)],
  ])
  expect((await locks.list(T(2))).holders.map((holder) => [holder.resource, holder.since])).toEqual([
    ['a', iso(0)],
    ['b', iso(2)],
  ])
})

test("release(runId, step) ends the step's holds; the run-level hold stays until release(runId)", async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect(
    (await locks.tryAcquire({ resources: ['scope'], runId: 'A', testId: 'T-A', step: 'measure' }, T(1))).acquired,
  ).toBe(true)
  expect((await locks.list(T(1))).holders.map((holder) => [holder.resource, holder.step])).toEqual([
    ['dut', null],
    ['scope', 'measure'],
  ])
  await locks.release('A', 'measure', T(2))
  expect((await locks.list(T(2))).holders.map((holder) => [holder.resource, holder.step])).toEqual([['dut', null]])
  expect((await locks.tryAcquire({ resources: ['scope'], runId: 'B', testId: 'T-B' }, T(3))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(3))).acquired).toBe(false)
  // Releasing a step that holds nothing changes nothing.
  await locks.release('A', 'no-such-step', T(4))
  expect((await locks.list(T(4))).holders.map((holder) => [holder.resource, holder.runId])).toEqual([
    ['dut', 'A'],
    ['scope', 'B'],
  ])
  await locks.release('A', undefined, T(5))
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(6))).acquired).toBe(true)
  expect(holds(raw(path)).map((row) => [row.resource, row.run_id, row.step, row.released_at])).toEqual([
    ['dut', 'A', null, iso(5)],
    ['scope', 'A', 'measure', iso(2)],
    ['scope', 'B', null, null],
    ['dut', 'B', null, null],
  ])
})

test('FIFO: a run asking after another one queued is told about the queued one, even when the resource is free', async () => {
  const { store } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, T(1))).acquired).toBe(false)
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, T(2))).toMatchObject({
    acquired: false,
    holders: [{ resource: 'a', runId: 'A' }],
    waitingSince: iso(2),
  })
  await locks.release('A', undefined, T(3))
  // `a` is free, but B waits since T(1), before C.
  const refused = await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, T(4))
  expect(refused).toEqual({
    acquired: false,
    holders: [
      {
        resource: 'a',
        runId: 'B',
        testId: 'T-B',
        step: null,
        ...me,
        since: iso(1),
        heartbeatAt: iso(1),
        queued: true,
      },
    ],
    waitingSince: iso(2),
  })
  // A newcomer is queued behind both.
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'D', testId: 'T-D' }, T(4))).toMatchObject({
    acquired: false,
    holders: [{ runId: 'B', queued: true }],
  })
  expect((await locks.list(T(4))).waiters.map((waiter) => [waiter.runId, waiter.since])).toEqual([
    ['B', iso(1)],
    ['C', iso(2)],
    ['D', iso(4)],
  ])
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, T(4.5))).toMatchObject({
    acquired: true,
  })
  await locks.release('B', undefined, T(5))
  // Now C is first in line, and D behind it.
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'D', testId: 'T-D' }, T(5))).toMatchObject({
    acquired: false,
    holders: [{ runId: 'C', queued: true }],
  })
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, T(5))).toMatchObject({
    acquired: true,
  })
})

test('a run that gives up waiting (stopWaiting) leaves the queue: the one behind it is not held up', async () => {
  const { store } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, T(1))).acquired).toBe(false)
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, T(2))).acquired).toBe(false)
  await locks.stopWaiting('B')
  await locks.release('A', undefined, T(3))
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, T(3))).acquired).toBe(true)
})

test('on a SQLite store shared with another host, its holds are leases: ended LEASE_MS after their last heartbeat, with a warning', async () => {
  const { path } = await newStore()
  const warnings: string[] = []
  const locks = new ResourceLocks(sqliteConnection(raw(path), path), null, { warn: (line) => warnings.push(line) })
  const far = new ResourceLocks(sqliteConnection(raw(path), path), null, { host: 'bench-7', pid: 4242 })
  expect((await far.tryAcquire({ resources: ['a', 'b'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  await far.heartbeat(T(2))
  const lease = LEASE_MS / 1000
  // Exactly LEASE_MS after the last heartbeat the lease still holds.
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, T(2 + lease))).acquired).toBe(false)
  expect((await locks.list(T(2 + lease))).holders.map((holder) => holder.runId)).toEqual(['A', 'A'])
  // list() leaves a stale hold out at once, though its row stays until someone asks.
  const later = T(2 + lease + 0.001)
  expect((await locks.list(later)).holders).toEqual([])
  const db = raw(path)
  expect(db.prepare('SELECT count(*) AS n FROM resource_locks').get()).toEqual({ n: 2 })
  expect((await locks.list(later)).waiters.map((waiter) => waiter.runId)).toEqual(['B'])

  expect(await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, later)).toMatchObject({
    acquired: true,
  })
  const rows = holds(db)
  expect(rows.map((row) => [row.resource, row.run_id, row.acquired_at, row.released_at])).toEqual([
    ['a', 'A', iso(0), iso(2)],
    ['b', 'A', iso(0), iso(2)],
    ['a', 'B', later.toISOString(), null],
  ])
  expect(rows[0]!.release).toMatch(/^expired/)
  expect(rows[0]!.release).toBe(`expired: no heartbeat since ${iso(2)}`)
  expect(warnings).toEqual([expect.stringContaining('this SQLite run store is shared with host bench-7')])
  // Every stale hold is ended, not only the one asked for.
  expect(db.prepare('SELECT resource, run_id FROM resource_locks').all()).toEqual([{ resource: 'a', run_id: 'B' }])
})

test('heartbeat renews both the holds and the waits of this process', async () => {
  const { store } = await newStore()
  const locks = store.locks
  const lease = LEASE_MS / 1000
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, T(1))).acquired).toBe(false)
  for (let second = 1; second <= 4 * lease; second++) await locks.heartbeat(T(second))
  const at = T(5 * lease)
  expect(await locks.list(at)).toEqual({
    holders: [expect.objectContaining({ runId: 'A', since: iso(0), heartbeatAt: iso(4 * lease) })],
    waiters: [expect.objectContaining({ runId: 'B', since: iso(1) })],
  })
  // Still held, and B is still first in line for it.
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, at)).toMatchObject({
    acquired: false,
    holders: [{ runId: 'A' }],
  })
  await locks.release('A', undefined, at)
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, at)).toMatchObject({
    acquired: false,
    holders: [{ runId: 'B', queued: true }],
  })
  // Without a heartbeat B's wait goes stale, and C is no longer held up by it.
  const stale = T(5 * lease + lease + 1)
  expect((await locks.list(stale)).waiters).toEqual([])
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, stale)).toMatchObject({
    acquired: true,
  })
})

test('heartbeat renews only the rows of this host and pid', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['b'], runId: 'B', testId: 'T-B' }, T(0))).acquired).toBe(true)
  raw(path).prepare("UPDATE resource_locks SET host = 'bench-7' WHERE run_id = 'B'").run()
  await locks.heartbeat(T(3))
  expect((await locks.list(T(3))).holders.map((holder) => [holder.runId, holder.host, holder.heartbeatAt])).toEqual([
    ['A', me.host, iso(3)],
    ['B', 'bench-7', iso(0)],
  ])
})

test("a hold whose process on this host is gone is expired at once; another host's is judged by its heartbeat", async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  const db = raw(path)
  const gone = deadPid()
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['far'], runId: 'F', testId: 'T-F' }, T(0))).acquired).toBe(true)
  db.prepare("UPDATE resource_locks SET pid = ? WHERE run_id = 'A'").run(gone)
  // The same pid on another host says nothing about that host's process.
  db.prepare("UPDATE resource_locks SET pid = ?, host = 'bench-7' WHERE run_id = 'F'").run(gone)
  expect((await locks.list(T(1))).holders.map((holder) => holder.runId)).toEqual(['F'])

  expect(await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, T(1))).toMatchObject({
    acquired: true,
  })
  expect(await locks.tryAcquire({ resources: ['far'], runId: 'B', testId: 'T-B' }, T(1))).toMatchObject({
    acquired: false,
    holders: [{ resource: 'far', runId: 'F', host: 'bench-7', pid: gone }],
  })
  expect(holds(db).find((row) => row.run_id === 'A')).toMatchObject({
    acquired_at: iso(0),
    released_at: iso(1),
    release: `expired: its holder's processes on ${me.host} are gone`,
  })
  expect(holds(db).find((row) => row.run_id === 'F')).toMatchObject({ released_at: null })
  // Once bench-7 stops renewing, the lease runs out.
  const after = T(LEASE_MS / 1000 + 0.5)
  expect(await locks.tryAcquire({ resources: ['far'], runId: 'B', testId: 'T-B' }, after)).toMatchObject({
    acquired: true,
  })
  expect(holds(db).find((row) => row.run_id === 'F')).toMatchObject({
    released_at: iso(0),
    release: `expired: no heartbeat since ${iso(0)}`,
  })
})

test('a waiter whose process on this host is gone is dropped from the queue and from list()', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  const db = raw(path)
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['a'], runId: 'B', testId: 'T-B' }, T(1))).acquired).toBe(false)
  db.prepare("UPDATE resource_waits SET pid = ? WHERE run_id = 'B'").run(deadPid())
  expect((await locks.list(T(2))).waiters).toEqual([])
  await locks.release('A', undefined, T(2))
  expect(await locks.tryAcquire({ resources: ['a'], runId: 'C', testId: 'T-C' }, T(3))).toMatchObject({
    acquired: true,
  })
  expect(db.prepare("SELECT count(*) AS n FROM resource_waits WHERE run_id = 'B'").get()).toEqual({ n: 0 })
})

// A run holding `dut` for the whole run, whose step then asks for `scope`, is not queued
// behind a run that asked for [dut, scope] first: that run waits for `dut`, which the first
// releases only at its end; queueing behind it would make each wait for the other.
test('a run holding a resource is not queued behind a waiter that needs that resource (no deadlock)', async () => {
  const { store } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['dut', 'scope'], runId: 'B', testId: 'T-B' }, T(1))).acquired).toBe(
    false,
  )
  expect(
    await locks.tryAcquire({ resources: ['scope'], runId: 'A', testId: 'T-A', step: 'measure' }, T(2)),
  ).toMatchObject({
    acquired: true,
  })
  // A third run that holds nothing still queues behind B (FIFO).
  await locks.release('A', undefined, T(3))
  expect(await locks.tryAcquire({ resources: ['scope'], runId: 'C', testId: 'T-C' }, T(4))).toMatchObject({
    acquired: false,
    holders: [{ resource: 'scope', runId: 'B', queued: true }],
  })
})

// Holds are per step within a run: step s2 of run A waits while step s1 of A holds `scope`
// for itself (parallel steps of one run are two users of the resource), and gets it when s1
// gives it back; a run-level hold is shared by all the run's steps.
test('a step waits for a resource a sibling step holds for itself; a run-level hold serves every step', async () => {
  const { store } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['scope'], runId: 'A', testId: 'T-A', step: 's1' }, T(0))).acquired).toBe(
    true,
  )
  expect(await locks.tryAcquire({ resources: ['scope'], runId: 'A', testId: 'T-A', step: 's2' }, T(1))).toMatchObject({
    acquired: false,
    holders: [{ resource: 'scope', runId: 'A', step: 's1' }],
  })
  await locks.release('A', 's1', T(2))
  expect((await locks.tryAcquire({ resources: ['scope'], runId: 'A', testId: 'T-A', step: 's2' }, T(3))).acquired).toBe(
    true,
  )
  expect((await locks.tryAcquire({ resources: ['scope'], runId: 'B', testId: 'T-B' }, T(4))).acquired).toBe(false)
  await locks.release('A', 's2', T(5))
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A' }, T(6))).acquired).toBe(true)
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A', step: 's3' }, T(7))).acquired).toBe(
    true,
  )
})

// Under faults: a hold lasts exactly as long as its holder can use the resource.
test('a holder of this host that stalls keeps its hold however old its heartbeat (a frozen runner is alive)', async () => {
  const { store } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  // An hour without a heartbeat: the process (this one) still lives, so it still holds.
  expect(await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(3600))).toMatchObject({
    acquired: false,
    holders: [{ runId: 'A' }],
  })
})

test('a pid reused by another process does not keep a hold: the holder is named by pid and start time', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A' }, T(0))).acquired).toBe(true)
  raw(path).prepare("UPDATE resource_locks SET pid_start = pid_start - 1 WHERE run_id = 'A'").run()
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(1))).acquired).toBe(true)
})

test("a hold lasts while a keeper lives (the runner guard stopping a dead worker's steps), and ends when the last one is gone", async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  const db = raw(path)
  const gone = deadPid()
  const keeper = { pid: process.pid, startTime: processStartTime(process.pid) }
  expect(
    (await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A', keepers: [keeper] }, T(0))).acquired,
  ).toBe(true)
  // The asking process is gone; its keeper (alive) keeps the hold.
  db.prepare("UPDATE resource_locks SET pid = ? WHERE run_id = 'A'").run(gone)
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(1))).acquired).toBe(false)
  db.prepare('UPDATE resource_locks SET keepers = ?').run(JSON.stringify([{ pid: deadPid() }]))
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(2))).acquired).toBe(true)
  expect(holds(db)[0]).toMatchObject({
    released_at: iso(2),
    release: `expired: its holder's processes on ${me.host} are gone`,
  })
})

test('abandon (a recipe file ended): a hold with a live keeper lasts while it lives; one without ends at once', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  const db = raw(path)
  const keeper = { pid: process.pid, startTime: processStartTime(process.pid) }
  await locks.tryAcquire({ resources: ['kept'], runId: 'A', testId: 'T-A', keepers: [keeper] }, T(0))
  await locks.tryAcquire({ resources: ['plain'], runId: 'A', testId: 'T-A', keepers: [{ pid: deadPid() }] }, T(0))
  await locks.abandon('A', T(1))
  expect(db.prepare('SELECT resource, pid FROM resource_locks').all()).toEqual([{ resource: 'kept', pid: null }])
  expect(holds(db).find((row) => row.resource === 'plain')).toMatchObject({
    released_at: iso(1),
    release: 'released: its recipe file ended',
  })
})

test('each hold of a resource has the next generation; asking again for a held one gives the same', async () => {
  const { store } = await newStore()
  const locks = store.locks
  expect(await locks.tryAcquire({ resources: ['dut', 'psu'], runId: 'A', testId: 'T' }, T(0))).toEqual({
    acquired: true,
    generations: { dut: 1, psu: 1 },
  })
  expect(await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T' }, T(1))).toEqual({
    acquired: true,
    generations: { dut: 1 },
  })
  await locks.release('A', undefined, T(2))
  expect(await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T' }, T(3))).toEqual({
    acquired: true,
    generations: { dut: 2 },
  })
})

test('an operator frees a resource: revoke tells the holder (check), which stops and releases; --force ends it at once', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  const db = raw(path)
  await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A' }, T(0))
  expect(await locks.check('A', [{ resource: 'dut', generation: 1 }])).toEqual([])
  expect(await locks.revoke('dut', 'alice@lab1', false, T(5))).toMatchObject({ runId: 'A', generation: 1 })
  expect(await locks.check('A', [{ resource: 'dut', generation: 1 }])).toEqual([
    { resource: 'dut', generation: 1, at: iso(5), reason: `freed by operator alice@lab1 at ${iso(5)}` },
  ])
  // Still held (the holder is stopping): nobody else gets it yet, and they are told it is being freed.
  expect(await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(6))).toMatchObject({
    acquired: false,
    holders: [{ runId: 'A', revoked: `freed by operator alice@lab1 at ${iso(5)}` }],
  })
  await locks.release('A', undefined, T(7))
  expect(holds(db)[0]).toMatchObject({
    released_at: iso(7),
    release: `released: freed by operator alice@lab1 at ${iso(5)}`,
  })

  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'B', testId: 'T-B' }, T(8))).acquired).toBe(true)
  expect(await locks.revoke('dut', 'bob@lab2', true, T(9))).toMatchObject({ runId: 'B' })
  expect((await locks.tryAcquire({ resources: ['dut'], runId: 'C', testId: 'T-C' }, T(10))).acquired).toBe(true)
  const [lost] = await locks.check('B', [{ resource: 'dut', generation: 2 }])
  expect(lost).toEqual({
    resource: 'dut',
    generation: 2,
    at: iso(9),
    reason: `revoked: freed by operator bob@lab2 at ${iso(9)} (--force); now held by run C on host ${me.host} since ${iso(10)}`,
  })
  // The holder stopped using it at 11 s: the record says so, and shows the overlap with C.
  await locks.holderStopped('dut', 2, iso(11))
  expect(holds(db)[1]).toMatchObject({
    run_id: 'B',
    released_at: iso(11),
    release: `revoked: freed by operator bob@lab2 at ${iso(9)} (--force); its holder stopped using it at ${iso(11)}`,
  })
  expect(await locks.revoke('nothing', 'alice@lab1')).toBeUndefined()
})

test('a holder that gives up a hold itself (its bound passed) records why and when it stopped', async () => {
  const { store, path } = await newStore()
  const locks = store.locks
  await locks.tryAcquire({ resources: ['dut'], runId: 'A', testId: 'T-A', maxHoldMs: 30_000 }, T(0))
  expect((await locks.list(T(1))).holders).toEqual([expect.objectContaining({ maxHoldMs: 30_000, generation: 1 })])
  await locks.holderStopped('dut', 1, iso(31), 'held for 31 s, past its bound of 30 s (resource_hold_max)')
  await locks.release('A', undefined, T(32))
  expect(holds(raw(path))[0]).toMatchObject({
    released_at: iso(31),
    release: `lost: held for 31 s, past its bound of 30 s (resource_hold_max); its holder stopped using it at ${iso(31)}`,
  })
})

/** A small seeded generator (mulberry32): the same sequence on every run of the test. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * 600 random acquires, releases, give-ups, heartbeats and lease expiries by 3 runs through the
 * given connections to one store; checks each answer against list(). Returns how many acquired.
 */
async function exerciseLocks(connections: ResourceLocks[]): Promise<number> {
  const next = random(20260101)
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!
  const runs = ['R1', 'R2', 'R3']
  const resources = ['x', 'y', 'z']
  const steps = [undefined, 's1', 's2']
  let clock = BASE
  let acquired = 0
  for (let i = 0; i < 600; i++) {
    // Mostly small steps of time; now and then a gap longer than the lease, which expires every hold.
    clock += next() < 0.03 ? LEASE_MS + 1 + Math.floor(next() * 1000) : Math.floor(next() * 400)
    const now = new Date(clock)
    const locks = pick(connections)
    const runId = pick(runs)
    const roll = next()
    if (roll < 0.55) {
      const wanted = resources.filter(() => next() < 0.5)
      if (wanted.length === 0) wanted.push(pick(resources))
      const step = pick(steps)
      const result = await locks.tryAcquire({ resources: wanted, runId, testId: `T-${runId}`, step }, now)
      const holding = new Map(
        (await pick(connections).list(now)).holders.map((holder) => [holder.resource, holder.runId]),
      )
      if (result.acquired) {
        acquired++
        for (const resource of wanted) expect(holding.get(resource)).toBe(runId)
      } else {
        expect(result.holders.length).toBeGreaterThan(0)
        // Another run, or another step of this run holding it for itself.
        for (const holder of result.holders)
          expect(holder.runId !== runId || (holder.step !== null && holder.step !== (step ?? null))).toBe(true)
      }
    } else if (roll < 0.75) await locks.release(runId, pick(steps), now)
    else if (roll < 0.85) await locks.release(runId, undefined, now)
    else if (roll < 0.92) await locks.stopWaiting(runId)
    else await locks.heartbeat(now)
  }
  return acquired
}

/**
 * The evidence: many holds, released (and, where leases run, expired), none overlapping
 * another of its resource, and the open ones are the held ones.
 */
function checkHolds(
  all: HoldRow[],
  held: { resource: string; run_id: string }[],
  acquired: number,
  { expiries }: { expiries: boolean },
): void {
  expect(acquired).toBeGreaterThan(50)
  expect(all.length).toBeGreaterThan(50)
  if (expiries) expect(all.filter((row) => row.release?.startsWith('expired')).length).toBeGreaterThan(0)
  expect(all.filter((row) => row.release === 'released').length).toBeGreaterThan(0)
  const overlapping = all.flatMap((first, i) =>
    all
      .slice(i + 1)
      .filter(
        (second) =>
          first.resource === second.resource &&
          !((first.released_at ?? '9999') <= second.acquired_at || (second.released_at ?? '9999') <= first.acquired_at),
      )
      .map((second) => [first, second]),
  )
  expect(overlapping).toEqual([])
  // At most one open hold per resource, and it is the one resource_locks shows.
  const open = all
    .filter((row) => row.released_at === null)
    .map((row) => ({ resource: row.resource, run_id: row.run_id }))
    .sort((a, b) => a.resource.localeCompare(b.resource))
  expect(open).toEqual(held)
}

// One connection plays another host sharing the SQLite file: each sees the other's holds as leases.
test('holds of one resource never overlap, over many random acquires, releases and lease expiries by 3 runs on 2 hosts', async () => {
  const { path } = await newStore()
  const otherHost = new ResourceLocks(sqliteConnection(raw(path), path), null, { host: 'bench-7', warn: () => {} })
  const acquired = await exerciseLocks([
    new ResourceLocks(sqliteConnection(raw(path), path), null, { warn: () => {} }),
    otherHost,
  ])
  const db = raw(path)
  checkHolds(
    holds(db),
    db.prepare('SELECT resource, run_id FROM resource_locks ORDER BY resource').all() as HoldRow[],
    acquired,
    { expiries: true },
  )
})

describe.skipIf(noPostgres)('on PostgreSQL', () => {
  let database: { url: string; drop: () => Promise<void> } | undefined
  afterAll(async () => {
    await database?.drop()
  })

  test('holds of one resource never overlap, over many random acquires and releases by 3 runs on 2 connections', async () => {
    database = await freshDatabase('locks')
    const open = async () => {
      const store = await RunStore.openPostgres(database!.url, 'pg', join(dir, `pg-${++files}`))
      opened.push(store)
      return store
    }
    const acquired = await exerciseLocks([(await open()).locks, (await open()).locks])
    checkHolds(
      await query<HoldRow>(database.url, 'SELECT * FROM resource_holds ORDER BY acquired_at, run_id'),
      await query(database.url, 'SELECT resource, run_id FROM resource_locks ORDER BY resource'),
      acquired,
      // Both connections are of this host and alive: their holds end only when released.
      { expiries: false },
    )
  }, 60_000)
})

test('a schema-4 store migrates to the current schema: the lock tables are created and its runs are kept', async () => {
  const path = join(dir, 'schema-4.sqlite')
  const old = await RunStore.open(path)
  await old.beginRun({
    runId: 'r-old',
    testId: 'OLD-1',
    recipe: 'recipes/old.yaml',
    startTime: '2025-12-01T00:00:00Z',
    vitestVersion: '4',
    metadata: {},
  })
  await old.finishRun('r-old', 'passed', '2025-12-01T00:00:01Z')
  await old.close()
  const db = new Database(path)
  // Back to what schema 4 had: no lock tables, and no columns of later migrations.
  db.exec(
    'DROP TABLE resource_locks; DROP TABLE resource_waits; DROP TABLE resource_holds; ALTER TABLE runs DROP COLUMN heartbeat_at; ALTER TABLE runs DROP COLUMN session; ALTER TABLE context_history DROP COLUMN change; ALTER TABLE step_metrics DROP COLUMN start_time; PRAGMA user_version = 4',
  )
  expect(db.pragma('user_version', { simple: true })).toBe(4)
  db.close()

  const store = await RunStore.open(path)
  opened.push(store)
  expect((await store.history('OLD-1', 10)).map((run) => [run.runId, run.status])).toEqual([['r-old', 'passed']])
  expect(await store.locks.tryAcquire({ resources: ['a'], runId: 'r-new', testId: 'NEW-1' }, T(0))).toMatchObject({
    acquired: true,
  })
  const check = raw(path)
  expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
  expect(
    (
      check
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'resource_%' ORDER BY name")
        .all() as { name: string }[]
    ).map((row) => row.name),
  ).toEqual(['resource_holds', 'resource_locks', 'resource_waits'])
  expect(check.prepare('SELECT run_id, status FROM runs').all()).toEqual([{ run_id: 'r-old', status: 'passed' }])
})
