import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { RunStore } from '../../plugin/store/run-store.ts'

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-sql-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (runId: string) => ({
  runId,
  testId: 'SQL-1',
  recipe: 'recipes/sql.yaml',
  startTime: new Date().toISOString(),
  vitestVersion: '4',
  metadata: {},
})

// Two stores of one file in one process (the Vitest process has the store keeper's, the
// reporter's and the lock service's). A transaction awaits its statements, so other code runs
// while it holds SQLite's write lock: a write of the other connection then waited for that lock
// synchronously (the busy timeout blocks the thread), the transaction could not go on, and after
// 10 s the write failed with SQLITE_BUSY (a dashboard saw a finished step 10 s late).
test('a write of one connection while another connection of the same process is in a transaction waits its turn', async () => {
  const path = join(dir, 'two.sqlite')
  const first = await RunStore.open(path)
  const second = await RunStore.open(path)
  try {
    const started = performance.now()
    const transaction = first.writeLocked(async (tx) => {
      for (let n = 0; n < 20; n++)
        await tx.run("INSERT INTO analysis (run_id, summary_text) VALUES (?, 'x')", [`t${n}`])
    })
    const writes = Promise.all([second.beginRun(run('a')), second.beginRun(run('b'))])
    await Promise.all([transaction, writes])
    expect(performance.now() - started).toBeLessThan(5_000)
    expect((await second.listRuns()).map((row) => row.runId).sort()).toEqual(['a', 'b'])
  } finally {
    await first.close()
    await second.close()
  }
})
