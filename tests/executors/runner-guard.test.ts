import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, expect, test } from 'vitest'
import { isProcessAlive } from '../../plugin/store/process-alive.ts'
import { REPO } from '../e2e/project.ts'

// No step process outlives its runner: a worker (here a plain node process using the built
// executors) starts a step whose program leaves a child in a session of its own, then dies by
// SIGKILL. Its runner guard stops them both within a second.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-guard-'))
const leftovers: number[] = []
afterAll(() => {
  for (const pid of leftovers) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

const WORKER = `
const { runChildProcess } = await import(${JSON.stringify(join(REPO, 'dist/executors/child-process.js'))})
const dir = process.argv[1]
// The step's program: it writes its pid, starts a child that calls setsid (and writes its pid), and sleeps.
void runChildProcess({
  file: 'sh',
  args: ['-c', 'echo $$ > "$0/step.pid"; setsid sh -c \\'echo $$ > "$0/escaped.pid"; exec sleep 60\\' "$0" & exec sleep 60', dir],
  env: {},
  cwd: dir,
  step: 'drive',
})
setInterval(() => {}, 1000)
`

async function pidIn(file: string): Promise<number> {
  for (let tries = 0; tries < 200 && !existsSync(file); tries++) await sleep(25)
  for (let tries = 0; tries < 200; tries++) {
    const text = readFileSync(file, 'utf8').trim()
    if (text) return Number(text)
    await sleep(25)
  }
  throw new Error(`${file} stayed empty`)
}

test('a worker killed with SIGKILL: its runner guard stops the step and the child that left its session, within a second', async () => {
  const worker = spawn(process.execPath, ['--input-type=module', '-e', WORKER, dir], { stdio: 'ignore' })
  const step = await pidIn(join(dir, 'step.pid'))
  const escaped = await pidIn(join(dir, 'escaped.pid'))
  leftovers.push(step, escaped)
  expect(isProcessAlive(step)).toBe(true)
  expect(isProcessAlive(escaped)).toBe(true)
  worker.kill('SIGKILL')
  const killedAt = Date.now()
  while ((isProcessAlive(step) || isProcessAlive(escaped)) && Date.now() - killedAt < 5000) await sleep(20)
  expect(isProcessAlive(step)).toBe(false)
  expect(isProcessAlive(escaped)).toBe(false)
  expect(Date.now() - killedAt).toBeLessThan(1000)
}, 30_000)

test("a forked worker whose Vitest process is killed alone: the guard stops the orphaned worker and its step's processes", async () => {
  const run = join(dir, 'forked')
  mkdirSync(run)
  const workerFile = join(run, 'worker.mjs')
  writeFileSync(
    workerFile,
    `import { writeFileSync } from 'node:fs'\nwriteFileSync(process.argv[2] + '/worker.pid', String(process.pid))\n${WORKER.replace('process.argv[1]', 'process.argv[2]')}`,
  )
  // The "Vitest process": forks the worker with an IPC channel, as Vitest's forks pool does.
  const parent = spawn(
    process.execPath,
    [
      '-e',
      `require('node:child_process').fork(${JSON.stringify(workerFile)}, [${JSON.stringify(run)}]); setInterval(() => {}, 1000)`,
    ],
    { stdio: 'ignore' },
  )
  const worker = await pidIn(join(run, 'worker.pid'))
  const step = await pidIn(join(run, 'step.pid'))
  const escaped = await pidIn(join(run, 'escaped.pid'))
  leftovers.push(worker, step, escaped)
  parent.kill('SIGKILL')
  const killedAt = Date.now()
  const alive = () => [worker, step, escaped].filter(isProcessAlive)
  while (alive().length > 0 && Date.now() - killedAt < 5000) await sleep(20)
  expect(alive()).toEqual([])
  expect(Date.now() - killedAt).toBeLessThan(1500)
}, 30_000)
