import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { LockService } from '../../plugin/reporter/lock-service.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { freshDatabase, holdTableLock, noPostgres } from '../postgres.ts'

// The lock service of a Vitest process on a PostgreSQL store: while one call waits for the
// database (the lock tables locked by another session), the service answers other calls and
// the process's timers tick. (It used to freeze with the store until the lock was gone.)

const LOCK_MS = 3000

describe.skipIf(noPostgres)('the lock service on a busy PostgreSQL store', () => {
  const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-locks-pg-'))
  let database: { url: string; drop: () => Promise<void> }
  let store: RunStore
  let service: LockService
  let address: { url: string; token: string }

  beforeAll(async () => {
    database = await freshDatabase('lock_service_busy')
    store = await RunStore.openPostgres(database.url, 'pg', join(root, 'local'))
    service = new LockService(store)
    address = await service.start()
  })
  afterAll(async () => {
    await service?.close()
    await store?.close()
    await database?.drop()
    rmSync(root, { recursive: true, force: true })
  })

  const call = (body: unknown, token = address.token) =>
    fetch(address.url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) })

  test('a call that waits for the database does not hold up the others', async () => {
    const lock = await holdTableLock(database.url, 'resource_waits', LOCK_MS)
    try {
      const started = performance.now()
      let ticks = 0
      const ticker = setInterval(() => ticks++, 50)
      const slow = call({ op: 'stop-waiting', runId: 'r1' }).then(async (response) => ({
        status: response.status,
        body: await response.json(),
        at: performance.now() - started,
      }))
      await new Promise((resolve) => setTimeout(resolve, 200))
      const refused = await call({ op: 'stop-waiting', runId: 'r2' }, 'not-the-token')
      const refusedAt = performance.now() - started
      const ticksMeanwhile = ticks
      const answered = await slow
      clearInterval(ticker)
      expect(refused.status).toBe(401)
      expect(refusedAt).toBeLessThan(LOCK_MS / 2)
      expect(ticksMeanwhile).toBeGreaterThanOrEqual(3)
      expect(answered).toMatchObject({ status: 200, body: { stopped: true } })
      expect(answered.at).toBeGreaterThan(refusedAt)
    } finally {
      await lock.release()
    }
  })
})
