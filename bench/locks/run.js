#!/usr/bin/env node
// Lab resource locks benchmark: how soon a resource changes hands (SQLite run store, built
// package). A holder process takes `dut:bench` and renews its lease every second, as the
// Vitest process does; a waiter asks every 200 ms, as a waiting step does. Per round:
//
//   1. baseline: the holder releases it (a run that ended): time to the waiter's acquire
//   2. the holder is SIGKILLed on this host: time from the kill to the waiter's acquire
//      (its process is gone: the next request ends the hold)
//   3. the holder is SIGKILLed "on another host" (its row names another host, so only the
//      lease can end it): time from the kill to the waiter's acquire (LEASE_MS, 5 s, at most)
//   4. with a PostgreSQL server (--postgres URL, RECIPES_BENCH_PG or RECIPES_TEST_PG): the same
//      on the PostgreSQL store, the holder "on another host" again, ended by its database
//      session closing with the process (no lease to wait for), after SESSION_END_GRACE_MS
//      (the time that host's runner guard gets to stop the holder's steps)
//
// Prints the medians and each case against the baseline, and the "within seconds" targets.
//
//   node bench/locks/run.js [--rounds 4] [--postgres URL] [--keep]
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs `npm run build`.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { postgresUrlOf, runSql, scratchDatabase } from '../lib/postgres.js'
import {
  failWith,
  median,
  ms as formatMs,
  PACKAGE_ROOT,
  parseFlags,
  parseRounds,
  ratio,
  requireDist,
  roundLabel,
} from '../lib/harness.js'

const HELP = `Usage: node bench/locks/run.js [--rounds 4] [--postgres URL] [--keep]

How long a lab resource takes to change hands: after a clean release (the baseline), after
its holder is SIGKILLed on this host, and after a holder on another host dies (lease expiry);
with PostgreSQL (--postgres, RECIPES_BENCH_PG or RECIPES_TEST_PG), after a holder on another
host dies on the PostgreSQL store (its database session ends).
`
const fail = failWith('locks')
const values = parseFlags({ rounds: { type: 'string', default: '4' }, postgres: { type: 'string' } }, HELP, fail)
const postgresUrl = postgresUrlOf(values.postgres)
const rounds = parseRounds(values.rounds, fail)
requireDist(['dist/store/run-store.js'], fail)
const STORE_MODULE = pathToFileURL(join(PACKAGE_ROOT, 'dist/store/run-store.js')).href
const { RunStore } = await import(STORE_MODULE)
const { LEASE_MS, SESSION_END_GRACE_MS } = await import(
  pathToFileURL(join(PACKAGE_ROOT, 'dist/store/resource-locks.js')).href
)
const POLL_MS = 200

/** The holder: takes the resource, renews every second, and releases on "release\n" (prints "held"). */
const HOLDER = `
const { RunStore } = await import(${JSON.stringify(STORE_MODULE)})
const [path, host, url] = process.argv.slice(1)
const store = url ? await RunStore.openPostgres(url, 'bench', path) : await RunStore.open(path)
const result = await store.locks.tryAcquire({ resources: ['dut:bench'], runId: 'holder-' + process.pid, testId: 'BENCH-HOLD' })
if (!result.acquired) { console.log('busy'); process.exit(1) }
if (host !== 'here' && !url) {
  // As if the holder ran on another machine: only its lease can end the hold.
  const Database = (await import('better-sqlite3')).default
  const raw = new Database(path)
  raw.prepare('UPDATE resource_locks SET host = ? WHERE run_id = ?').run(host, 'holder-' + process.pid)
  setInterval(() => raw.prepare('UPDATE resource_locks SET heartbeat_at = ? WHERE run_id = ?').run(new Date().toISOString(), 'holder-' + process.pid), 1000)
} else setInterval(() => void store.locks.heartbeat(), 1000)
console.log('held')
process.stdin.on('data', async (data) => {
  if (String(data).includes('release')) {
    await store.locks.release('holder-' + process.pid)
    console.log('released ' + Date.now())
    process.exit(0)
  }
})
`

function startHolder(path, host, url) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, path, host, ...(url ? [url] : [])], {
    cwd: PACKAGE_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let output = ''
  const lines = []
  child.stdout.on('data', (chunk) => {
    output += chunk
    const parts = output.split('\n')
    output = parts.pop() ?? ''
    lines.push(...parts)
  })
  const waitFor = (prefix) =>
    new Promise((resolve, reject) => {
      const timer = setInterval(() => {
        const line = lines.find((item) => item.startsWith(prefix))
        if (line) {
          clearInterval(timer)
          resolve(line)
        } else if (child.exitCode !== null) {
          clearInterval(timer)
          reject(new Error(`the holder exited (${child.exitCode}): ${lines.join(' ')}`))
        }
      }, 5)
    })
  return { child, waitFor }
}

/** Asks every POLL_MS until the resource is taken; returns when (ms since epoch). */
async function acquireWhenFree(store, runId) {
  for (;;) {
    const result = await store.locks.tryAcquire({ resources: ['dut:bench'], runId, testId: 'BENCH-WAIT' })
    if (result.acquired) return Date.now()
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

async function handoff(dir, round, kind) {
  const path = join(dir, `locks-${round}-${kind}.sqlite`)
  const url = kind === 'postgres' ? database.url : undefined
  const store = url ? await RunStore.openPostgres(url, 'bench', `${path}-waiter`) : await RunStore.open(path)
  const holder = startHolder(path, kind === 'same-host' || kind === 'release' ? 'here' : 'lab-pc-elsewhere', url)
  await holder.waitFor('held')
  // As if the holder ran on another machine: no process of this host to look for.
  if (url) await runSql(url, "UPDATE resource_locks SET host = 'lab-pc-elsewhere' WHERE resource = 'dut:bench'")
  const waiterId = `waiter-${round}-${kind}`
  let from
  const acquired = acquireWhenFree(store, waiterId)
  // Let the waiter queue first, as a waiting step would have.
  await new Promise((resolve) => setTimeout(resolve, 300))
  if (kind === 'release') {
    holder.child.stdin.write('release\n')
    from = Number((await holder.waitFor('released')).split(' ')[1])
  } else {
    from = Date.now()
    holder.child.kill('SIGKILL')
  }
  const at = await acquired
  await store.locks.release(waiterId)
  await store.close()
  return at - from
}

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-locks-'))
const results = { release: [], 'same-host': [], 'other-host': [], ...(postgresUrl ? { postgres: [] } : {}) }
const database = postgresUrl ? await scratchDatabase(postgresUrl, 'locks') : undefined
try {
  for (let round = 0; round < rounds; round++) {
    const figures = {}
    for (const kind of Object.keys(results)) figures[kind] = await handoff(dir, round, kind)
    if (round > 0) for (const kind of Object.keys(results)) results[kind].push(figures[kind])
    process.stdout.write(
      `${roundLabel(round)}  release ${formatMs(figures.release)}, SIGKILL here ${formatMs(figures['same-host'])}, SIGKILL elsewhere ${formatMs(figures['other-host'])}${database ? `, PostgreSQL SIGKILL elsewhere ${formatMs(figures.postgres)}` : ''}\n`,
    )
  }
} finally {
  await database?.drop()
  if (values.keep) process.stdout.write(`kept ${dir}\n`)
  else rmSync(dir, { recursive: true, force: true })
}

const base = median(results.release)
const here = median(results['same-host'])
const elsewhere = median(results['other-host'])
process.stdout.write(`
median over ${rounds - 1} rounds (a waiter asks every ${POLL_MS} ms; the lease is ${LEASE_MS} ms)
  clean release → next acquire                     ${formatMs(base)}
  holder SIGKILLed on this host → next acquire     ${formatMs(here)}  (${ratio(here, base).toFixed(1)}x the clean handoff)
  holder on another host dies → next acquire       ${formatMs(elsewhere)}  (${ratio(elsewhere, base).toFixed(1)}x the clean handoff)

holder SIGKILLed on this host → next acquire: ${formatMs(here)} (target ≤ 1 s: ${here <= 1000 ? 'met' : 'NOT met'})
holder on another host dies → next acquire: ${formatMs(elsewhere)} (target ≤ ${(LEASE_MS + 1000) / 1000} s: ${elsewhere <= LEASE_MS + 1000 ? 'met' : 'NOT met'})
`)
if (database) {
  const pg = median(results.postgres)
  process.stdout.write(`
PostgreSQL store: holder on another host dies → next acquire   ${formatMs(pg)}  (${ratio(pg, base).toFixed(1)}x the clean handoff on SQLite)
PostgreSQL holder on another host dies → next acquire: ${formatMs(pg)} (target ≤ ${(SESSION_END_GRACE_MS + 1000) / 1000} s, the grace its runner guard gets to stop its steps included: ${pg <= SESSION_END_GRACE_MS + 1000 ? 'met' : 'NOT met'})
`)
} else process.stdout.write('\n(no PostgreSQL: give --postgres URL or set RECIPES_BENCH_PG for its figure)\n')
