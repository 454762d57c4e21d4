#!/usr/bin/env node
// `npm run bench`: every benchmark in turn, then every figure that has a target, in one list.
//
//   node bench/all.js [--only overhead,executors,...] [--quick]
//
// Each benchmark prints its figures with "(target ≤ …: met / NOT met)" beside them; this runs
// them one after the other (never side by side: they time wall clock on a shared machine) and
// collects those lines. Exit 0 whatever the figures (a measurement, not a test); 1 when a
// benchmark could not measure.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const HERE = dirname(fileURLToPath(import.meta.url))

/** The benchmarks, in the order of the issue's targets, with their default and --quick flags. */
const BENCHMARKS = [
  { name: 'overhead', args: ['--rounds', '7'], quick: ['--rounds', '3'] },
  { name: 'executors', args: [], quick: ['--rounds', '3'] },
  { name: 'scaling', args: [], quick: [] },
  { name: 'reports', args: [], quick: [] },
  { name: 'live', args: [], quick: ['--requests', '100', '--seconds', '1', '--updates', '5'] },
  { name: 'dashboard-idle', script: 'live/dashboard-idle.js', args: [], quick: ['--runs', '100', '--seconds', '3'] },
  { name: 'locks', args: [], quick: ['--rounds', '2'] },
  { name: 'postgres', args: [], quick: ['--rounds', '3', '--steps', '200'] },
]

const { values } = parseArgs({
  options: { only: { type: 'string' }, quick: { type: 'boolean', default: false } },
})
const only = values.only?.split(',').map((name) => name.trim())
const unknown = only?.filter((name) => !BENCHMARKS.some((bench) => bench.name === name)) ?? []
if (unknown.length > 0) {
  process.stderr.write(
    `bench: no benchmark ${unknown.join(', ')}; there are ${BENCHMARKS.map((b) => b.name).join(', ')}\n`,
  )
  process.exit(1)
}

/** Runs one benchmark, its output passed through, and returns its lines with a target. */
function run(bench) {
  const script = join(HERE, bench.script ?? join(bench.name, 'run.js'))
  const args = [script, ...(values.quick ? bench.quick : bench.args)]
  process.stdout.write(
    `\n=== bench/${bench.name}: node ${args.map((arg) => arg.replace(`${HERE}/`, 'bench/')).join(' ')}\n\n`,
  )
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    const targets = []
    let pending = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        const figure = line.trim().replace(/\s+/g, ' ')
        // A figure printed twice (in a table and in the closing lines) is listed once.
        if (/\(target [≤<]/.test(figure) && !targets.includes(figure)) targets.push(figure)
      }
    })
    child.on('close', (code) => resolve({ code, targets }))
  })
}

const summary = []
let failed = false
for (const bench of BENCHMARKS.filter((item) => !only || only.includes(item.name))) {
  const { code, targets } = await run(bench)
  if (code !== 0) failed = true
  summary.push({ bench: bench.name, code, targets })
}

console.log('\n=== every figure with a target')
for (const { bench, code, targets } of summary) {
  console.log(`\nbench/${bench}${code === 0 ? '' : `  (could not measure: exit ${code})`}`)
  for (const line of targets) console.log(`  ${line}`)
}
process.exitCode = failed ? 1 : 0
