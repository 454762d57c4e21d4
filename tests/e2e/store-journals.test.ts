import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, expect, test } from 'vitest'
import { childEnv, createProject, REPO } from './project.ts'

// The run that used to brick the store: a step appends big items to a ctx list through the
// API, then its Vitest process group is SIGKILLed while the journal is big. Scaled down: 10
// items of 100 KB, and the reader's record bound lowered to 64 KiB
// (RECIPES_JOURNAL_RECORD_MAX_BYTES), so that the journal holds lines too long to read, as a
// 1.1 GB journal of 7 MB items did. The next command must work, say what it moved aside, and
// store the killed run as interrupted; the next run must be stored.

const APPEND_SH = `#!/bin/sh
item="\\"$(head -c 100000 /dev/zero | tr '\\0' x)\\""
i=0
while [ $i -lt 10 ]; do
  i=$((i+1))
  node "$RECIPES_CLI" ctx append lab.samples_v1 "$item" >/dev/null || exit 1
done
if [ -z "$NO_HANG" ]; then touch appended; sleep 60; fi
echo '{"status":"ok"}'
`

const project = createProject({
  'recipes/append.yaml': `test_meta: { test_id: SJ-1 }
steps:
  - name: append
    type: shell
    cmd: scriptlets/append.sh
    timeout: 120
`,
  'scriptlets/append.sh': APPEND_SH,
})
chmodSync(join(project.root, 'scriptlets/append.sh'), 0o755)
let child: ChildProcess | undefined
afterAll(() => {
  try {
    if (child?.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // Already gone.
  }
  project.remove()
})

test('a SIGKILLed run that journaled lines too long to read: the next command exits 0, the run is interrupted, the journal is moved aside, the next run is stored', async () => {
  child = spawn(process.execPath, [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run'], {
    cwd: project.root,
    env: childEnv({ CI: 'true' }),
    stdio: 'ignore',
    detached: true,
  })
  const deadline = Date.now() + 40_000
  while (!existsSync(join(project.root, 'appended'))) {
    if (Date.now() > deadline) throw new Error('the step did not append within 40 s')
    await sleep(100)
  }
  const pending = join(project.root, 'reports/results.sqlite.pending')
  const [journal] = readdirSync(pending)
  // Each record carries the item it appended (the history's delta), not the list as it is then
  // (its value is marked as the one the writes leave): the journal grows with the data, ~1 MB
  // here (5.5 MB before), each of its 10 append lines over the 64 KiB bound below.
  const size = statSync(join(pending, journal!)).size
  expect(size).toBeGreaterThan(1_000_000)
  expect(size).toBeLessThan(1_200_000)
  process.kill(-child.pid!, 'SIGKILL')
  await new Promise((resolve) => child!.once('close', resolve))

  const bounded = { RECIPES_JOURNAL_RECORD_MAX_BYTES: String(64 * 1024) }
  const history = await project.recipes(['history', 'SJ-1'], { env: bounded })
  expect(history.code, history.output).toBe(0)
  expect(history.stdout).toMatch(/interrupted/)
  expect(history.stderr).toContain(
    `RUN_JOURNAL_UNREADABLE: the run journal reports/results.sqlite.pending/${journal} could not be stored whole (`,
  )
  expect(history.stderr).toContain(`moved aside to reports/results.sqlite.pending/${journal}.unreadable`)
  expect(readdirSync(pending)).toEqual([`${journal}.unreadable`])

  const next = await project.vitest(['run'], { env: { NO_HANG: '1' } })
  expect(next.code, next.output).toBe(0)
  const after = await project.recipes(['history', 'SJ-1', '--json'])
  expect(after.code, after.output).toBe(0)
  expect((JSON.parse(after.stdout) as { runs: { status: string }[] }).runs.map((run) => run.status)).toEqual([
    'passed',
    'interrupted',
  ])
}, 90_000)
