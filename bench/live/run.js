#!/usr/bin/env node
// Live benchmark: the ctx API of a running recipe and the dashboard's update latency.
//
//   node bench/live/run.js [--requests 400] [--seconds 3] [--updates 20]
//
// 1. API round trip on loopback: GET and PUT of one key through the ctx server (its token
//    check, JSON, the ctx, the recording callback), against a bare node:http server on
//    loopback that answers the same JSON (the floor: what HTTP on this machine costs).
// 2. Writes per second sustained by 4 concurrent clients (keep-alive), every write appended
//    to one list, checked complete at the end.
// 3. Dashboard update latency: a recipe file in another process journals a step's end; the
//    time until the dashboard's event stream says something changed (target ≤ 1 s: the page
//    shows it within a second).
//
// Plain JavaScript on purpose: Node 20 cannot strip TypeScript. Needs `npm run build`.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { failWith, median, PACKAGE_ROOT, parseFlags, positiveInteger, requireDist, table } from '../lib/harness.js'

const HELP = `Usage: node bench/live/run.js [options]

Times the running recipe's ctx API (round trip, writes per second) and the dashboard's update
latency after a step ends.

Options:
  --requests N  sequential requests per round-trip figure (default 400)
  --seconds N   how long the 4 writers write (default 3)
  --updates N   step ends timed through the dashboard (default 20)
  -h, --help    show this help
`
const fail = failWith('live')
const LATENCY_TARGET_MS = 1000
const TOKEN = 'bench-token-0123456789abcdef'

const values = parseFlags(
  {
    requests: { type: 'string', default: '400' },
    seconds: { type: 'string', default: '3' },
    updates: { type: 'string', default: '20' },
  },
  HELP,
  fail,
)
const requests = positiveInteger(values.requests, '--requests', fail)
const seconds = positiveInteger(values.seconds, '--seconds', fail)
const updates = positiveInteger(values.updates, '--updates', fail)
requireDist(['dist/live/ctx-server.js', 'dist/live/dashboard.js', 'dist/store/run-store.js'], fail)
const dist = (path) => import(pathToFileURL(join(PACKAGE_ROOT, 'dist', path)).href)
const [{ CtxServer }, { Dashboard }, { RunStore }, { RunJournal }, { Context }] = await Promise.all([
  dist('live/ctx-server.js'),
  dist('live/dashboard.js'),
  dist('store/run-store.js'),
  dist('store/journal.js'),
  dist('context/context.js'),
])

const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }

/** Median ms of `count` sequential calls of `call`. */
async function timed(count, call) {
  const times = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    await call(i)
    times.push(performance.now() - start)
  }
  return median(times)
}

// ---------------------------------------------------------------------------------------------
// 1 and 2: the ctx API

const ctx = new Context({ 'bench.seed_v1': 1 })
let recorded = 0
const server = await CtxServer.start({
  ctx,
  host: '127.0.0.1',
  port: 0,
  token: TOKEN,
  run: () => ({ runId: 'bench', recipe: 'bench.yaml', testId: 'BENCH', running: [] }),
  record: (writes) => {
    recorded += writes.length
  },
})
// The floor: the same JSON answer from a bare server, no token, no ctx.
const bare = createServer((request, response) => {
  request.resume()
  request.on('end', () => {
    const text = JSON.stringify({ key: 'bench.seed_v1', value: 1, revision: 1, exists: true })
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    response.end(text)
  })
})
await new Promise((resolve) => bare.listen(0, '127.0.0.1', resolve))
const bareUrl = `http://127.0.0.1:${bare.address().port}`

const get = (url) => fetch(`${url}/v1/ctx/bench.seed_v1`, { headers }).then((response) => response.json())
const put = (url, i) =>
  fetch(`${url}/v1/ctx/bench.value_v1`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ value: i, who: 'bench' }),
  }).then((response) => response.json())
// Warm both up.
await timed(50, () => get(server.url))
await timed(50, () => get(bareUrl))
const apiGet = await timed(requests, () => get(server.url))
const bareGet = await timed(requests, () => get(bareUrl))
const apiPut = await timed(requests, (i) => put(server.url, i))
const barePut = await timed(requests, (i) => put(bareUrl, i))

const writers = 4
const recordedBefore = recorded
const before = ctx.history('bench.burst_v1').length
const until = performance.now() + seconds * 1000
let written = 0
await Promise.all(
  Array.from({ length: writers }, async (_, writer) => {
    while (performance.now() < until) {
      const response = await fetch(`${server.url}/v1/ctx/bench.burst_v1/append`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ value: writer, who: `writer-${writer}` }),
      })
      if (response.status !== 200) fail(`a write was refused: ${response.status} ${await response.text()}`)
      await response.arrayBuffer()
      written++
    }
  }),
)
const elapsed = seconds + (performance.now() - until) / 1000
const burst = ctx.get('bench.burst_v1') ?? []
if (burst.length !== written || ctx.history('bench.burst_v1').length - before !== written)
  fail(`writes were lost: ${written} answered, ${burst.length} in the list`)
await server.close()
await new Promise((resolve) => bare.close(resolve))

// ---------------------------------------------------------------------------------------------
// 3: the dashboard's update latency after a step ends

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-bench-live-'))
const storePath = join(dir, 'reports/results.sqlite')
const store = await RunStore.open(storePath, 'reports/results.sqlite')
const dashboard = await Dashboard.start({ root: dir, store, storePath, host: '127.0.0.1', port: 0 })
const events = await fetch(`${dashboard.url}/api/events`)
const reader = events.body.getReader()
const decoder = new TextDecoder()
let buffered = ''
/** The next version number the event stream announces. */
async function nextEvent() {
  for (;;) {
    const match = /data: (\d+)\n\n/.exec(buffered)
    if (match) {
      buffered = buffered.slice(match.index + match[0].length)
      return Number(match[1])
    }
    const { value, done } = await reader.read()
    if (done) fail('the dashboard closed its event stream')
    buffered += decoder.decode(value)
  }
}
await nextEvent()
const journal = RunJournal.create(storePath, 'reports/results.sqlite', 'bench-live')
journal.beginRun({
  runId: 'bench-live',
  testId: 'BENCH-LIVE',
  recipe: 'recipes/b.yaml',
  startTime: new Date().toISOString(),
  vitestVersion: '4',
  metadata: {},
})
await nextEvent()
const latencies = []
for (let i = 1; i <= updates; i++) {
  // Steps end at random moments relative to the dashboard's polling.
  await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 250))
  const ended = performance.now()
  journal.recordStep(
    'bench-live',
    {
      step: `s${i}`,
      idx: i,
      status: 'passed',
      durationMs: 1,
      cpuMs: 0,
      peakRssBytes: 0,
      exitCode: 0,
      attempts: 1,
      reason: null,
      logPath: null,
    },
    [],
    [],
  )
  await nextEvent()
  latencies.push(performance.now() - ended)
}
await reader.cancel()
journal.close()
await dashboard.close()
await store.close()
rmSync(dir, { recursive: true, force: true })
latencies.sort((a, b) => a - b)
const p95 = latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.95) - 1)]

// ---------------------------------------------------------------------------------------------

const ms = (value) => `${value.toFixed(2)} ms`
console.log(
  table([
    ['median over sequential requests', 'ctx API', 'bare node:http', 'ratio'],
    [`GET one key (${requests})`, ms(apiGet), ms(bareGet), `${(apiGet / bareGet).toFixed(2)}x`],
    [`PUT one key (${requests})`, ms(apiPut), ms(barePut), `${(apiPut / barePut).toFixed(2)}x`],
  ]),
)
console.log('')
console.log(
  `writes sustained by ${writers} concurrent clients: ${Math.round(written / elapsed)} per second (${written} in ${elapsed.toFixed(1)} s, all ${written} in the ctx and its history; ${recorded - recordedBefore} recorded)`,
)
console.log(
  `dashboard update after a step ends: median ${Math.round(median(latencies))} ms, p95 ${Math.round(p95)} ms over ${updates} step ends (target ≤ ${LATENCY_TARGET_MS} ms: ${p95 <= LATENCY_TARGET_MS ? 'met' : 'NOT met'})`,
)
