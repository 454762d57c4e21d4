import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Dashboard } from '../../plugin/live/dashboard.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { freshDatabase, holdTableLock, noPostgres } from '../postgres.ts'

// On PostgreSQL the store waits for the server on the event loop: while a query is slow (here
// the runs table locked by another session for a few seconds), the process that holds the store
// goes on answering, and its timers keep ticking. (The store used to wait blocked on a thread
// bridge: the dashboard answered nothing until the lock was gone.)

/** How long the other session keeps the runs table locked. */
const LOCK_MS = 3000

describe.skipIf(noPostgres)('a slow PostgreSQL store does not freeze the process that holds it', () => {
  const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-dash-pg-'))
  let database: { url: string; drop: () => Promise<void> }
  let store: RunStore
  let dashboard: Dashboard

  beforeAll(async () => {
    database = await freshDatabase('dashboard_busy')
    store = await RunStore.openPostgres(database.url, 'pg', join(root, 'local'))
    await store.beginRun({
      runId: 'r1',
      testId: 'BUSY-1',
      recipe: 'recipes/busy.yaml',
      startTime: '2026-12-01T10:00:00.000Z',
      vitestVersion: '4',
      metadata: {},
    })
    await store.finishRun('r1', 'passed', '2026-12-01T10:00:01.000Z')
    dashboard = await Dashboard.start({
      root,
      store,
      storePath: join(root, 'local'),
      host: '127.0.0.1',
      port: 0,
      pollMs: 100,
    })
  })
  afterAll(async () => {
    await dashboard?.close()
    await store?.close()
    await database?.drop()
    rmSync(root, { recursive: true, force: true })
  })

  test('the dashboard answers another request, and timers tick, while a query waits for a lock', async () => {
    // The other session takes the lock, sleeps and commits by itself: nothing in this process has to run for it to end.
    const lock = await holdTableLock(database.url, 'runs', LOCK_MS)
    try {
      const started = performance.now()
      let ticks = 0
      const ticker = setInterval(() => ticks++, 50)
      // Waits for the lock: the runs table is read.
      const slow = fetch(`${dashboard.url}/api/runs`).then(async (response) => ({
        status: response.status,
        at: performance.now() - started,
        body: (await response.json()) as { runs: { runId: string }[] },
      }))
      await new Promise((resolve) => setTimeout(resolve, 200))
      // Needs no store: answered at once, however long the other one waits.
      const page = await fetch(`${dashboard.url}/`)
      const pageAt = performance.now() - started
      await page.text()
      const ticksMeanwhile = ticks
      const answered = await slow
      clearInterval(ticker)
      expect(page.status).toBe(200)
      expect(pageAt).toBeLessThan(LOCK_MS / 2)
      expect(ticksMeanwhile).toBeGreaterThanOrEqual(3)
      // The slow one is answered in full once the lock is gone.
      expect(answered.status).toBe(200)
      expect(answered.at).toBeGreaterThan(pageAt)
      expect(answered.body.runs.map((run) => run.runId)).toEqual(['r1'])
    } finally {
      await lock.release()
    }
  })
})
