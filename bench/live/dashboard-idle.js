#!/usr/bin/env node
// Dashboard idle benchmark: the CPU the dashboard burns while nothing happens, with a store of
// 500 runs against an empty store (the baseline, measured in the same run). Each is measured in
// a child process of its own: the dashboard over the store, one page's event stream connected
// (what an open browser tab does), then its CPU time (user + system) over a quiet window.
//
//   node bench/live/dashboard-idle.js [--runs 500] [--steps 10] [--seconds 10]
//
// The dashboard watches for change cheaply (the pending journals' sizes and a change mark of
// the store), so its idle CPU must not grow with the runs stored: the ratio stays near 1.
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs `npm run build`.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { failWith, PACKAGE_ROOT, parseFlags, positiveInteger, ratio, requireDist, table } from '../lib/harness.js'

const HELP = `Usage: node bench/live/dashboard-idle.js [options]

The dashboard's idle CPU time with a store of N runs against an empty store, one event
stream connected, each in a child process.

Options:
  --runs N      runs in the full store (default 500)
  --steps N     steps per run, 3 ctx writes each (default 10)
  --seconds N   the quiet window measured (default 10)
  -h, --help    show this help
`
const fail = failWith('dashboard-idle')
const CHILD_ENV = 'VITEST_RECIPES_BENCH_DASHBOARD_IDLE'
const dist = (path) => pathToFileURL(join(PACKAGE_ROOT, 'dist', path)).href

if (process.env[CHILD_ENV]) await child(JSON.parse(process.env[CHILD_ENV]))
else await main()

async function main() {
  const values = parseFlags(
    {
      runs: { type: 'string', default: '500' },
      steps: { type: 'string', default: '10' },
      seconds: { type: 'string', default: '10' },
    },
    HELP,
    fail,
  )
  const runs = positiveInteger(values.runs, '--runs', fail)
  const steps = positiveInteger(values.steps, '--steps', fail)
  const seconds = positiveInteger(values.seconds, '--seconds', fail)
  requireDist(['dist/live/dashboard.js', 'dist/store/run-store.js'], fail)
  console.log(
    `dashboard idle CPU over ${seconds} s, one event stream connected: empty store, then ${runs} runs of ${steps} steps`,
  )
  const measured = []
  for (const count of [0, runs]) {
    const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-bench-idle-'))
    try {
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url)], {
        env: { ...process.env, [CHILD_ENV]: JSON.stringify({ dir, runs: count, steps, seconds }) },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      measured.push({ count, ...JSON.parse(out.trim().split('\n').at(-1)) })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  console.log(
    table([
      ['store', 'CPU ms over the window', 'CPU ms per s', 'fill time'],
      ...measured.map((m) => [
        m.count === 0 ? 'empty (baseline)' : `${m.count} runs`,
        m.cpuMs.toFixed(0),
        (m.cpuMs / seconds).toFixed(1),
        `${(m.fillMs / 1000).toFixed(1)} s`,
      ]),
    ]),
  )
  const [empty, full] = measured
  console.log(
    `dashboard idle CPU, ${runs} runs / empty store: ${ratio(full.cpuMs, Math.max(empty.cpuMs, 1)).toFixed(2)}x (target ≤ 2x: idle work must not grow with the runs stored; ${(full.cpuMs / seconds).toFixed(1)} ms of CPU per second idle)`,
  )
}

/** In the child: fills the store, starts the dashboard, connects a page's event stream, measures a quiet window. */
async function child({ dir, runs, steps, seconds }) {
  const { RunStore } = await import(dist('store/run-store.js'))
  const { Dashboard } = await import(dist('live/dashboard.js'))
  const storePath = join(dir, 'reports/results.sqlite')
  const filling = performance.now()
  const store = await RunStore.open(storePath, 'reports/results.sqlite')
  for (let r = 0; r < runs; r++) {
    const runId = `idle-${String(r).padStart(4, '0')}`
    const start = new Date(Date.UTC(2026, 0, 1) + r * 60_000)
    await store.beginRun({
      runId,
      testId: `IDLE-${r % 5}`,
      recipe: `recipes/idle-${r % 5}.yaml`,
      startTime: start.toISOString(),
      vitestVersion: '4',
      metadata: { tester: 'bench', tags: ['idle'] },
    })
    for (let s = 1; s <= steps; s++) {
      const ts = new Date(start.getTime() + s * 1000).toISOString()
      const writes = [0, 1, 2].map((w) => ({ ts, who: `s${s}`, key: `idle.k${w}_v1`, value: s * 10 + w }))
      await store.recordStep(
        runId,
        {
          step: `s${s}`,
          idx: s,
          status: s === steps && r % 7 === 0 ? 'failed' : 'passed',
          durationMs: 100 + ((r * 7 + s * 13) % 50),
          cpuMs: 5,
          peakRssBytes: 1e6,
          exitCode: 0,
          attempts: 1,
          reason: null,
          logPath: null,
        },
        writes,
        writes.map((write) => [write.key, write.value]),
      )
    }
    await store.finishRun(
      runId,
      r % 7 === 0 ? 'failed' : 'passed',
      new Date(start.getTime() + (steps + 1) * 1000).toISOString(),
    )
  }
  const fillMs = performance.now() - filling
  const dashboard = await Dashboard.start({ root: dir, store, storePath, host: '127.0.0.1', port: 0 })
  // What an open page does: the run list once, then the event stream.
  await (await fetch(`${dashboard.url}/api/runs`)).text()
  const events = await fetch(`${dashboard.url}/api/events`)
  const reader = events.body.getReader()
  void (async () => {
    for (;;) if ((await reader.read()).done) return
  })().catch(() => {})
  // Settled: the first polls and the stream's first event are not idle time.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const before = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const used = process.cpuUsage(before)
  await reader.cancel().catch(() => {})
  await dashboard.close()
  await store.close()
  console.log(JSON.stringify({ cpuMs: (used.user + used.system) / 1000, fillMs }))
}
