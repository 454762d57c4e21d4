import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, type RunResult, type TestProject } from './project.ts'

// One recipe, its steps one after the other (each holds 1.5 GB for 0.3 s: never two at once).
const HOLD = 'import sys, time; block = bytearray(1_500_000_000); time.sleep(0.3)'
const RECIPE = `steps:
  - { idx: 1, name: shell_holds, type: shell, cmd: scriptlets/shell/hold_memory.sh }
  - { idx: 2, name: exec_holds, type: exec, cmd: [python3, -c, "${HOLD}"], parse: raw }
  - { idx: 3, name: python_holds, type: python, module: scriptlets.python.processes, class: HoldsMemory }
  - { idx: 4, name: python_after, type: python, module: scriptlets.python.processes, class: DoesLittle }
  - { idx: 5, name: ts_holds, type: ts, module: scriptlets/hold.ts }
`
// In-process: the worker's own peak grows by what the step holds.
const TS_HOLD = 100_000_000
const HOLD_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'holds',
  async run() {
    const block = Buffer.alloc(${TS_HOLD}, 1)
    await new Promise((resolve) => setTimeout(resolve, 50))
    return { metrics: { held: block.length } }
  },
})
`
const PEAK = 1_500_000_000

let project: TestProject
let run: RunResult
let peaks: Map<string, number | null>

beforeAll(async () => {
  project = createProject({
    'recipes/memory.yaml': RECIPE,
    'scriptlets/__init__.py': '',
    'scriptlets/python/__init__.py': '',
    'scriptlets/hold.ts': HOLD_TS,
  })
  project.copyFixture('shell/hold_memory.sh', 'scriptlets/shell/hold_memory.sh')
  project.copyFixture('python/processes.py', 'scriptlets/python/processes.py')
  run = await project.vitest(['run', 'recipes/'])
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const rows = db.prepare('SELECT step, peak_rss_bytes FROM step_metrics').all() as {
      step: string
      peak_rss_bytes: number | null
    }[]
    peaks = new Map(rows.map((row) => [row.step, row.peak_rss_bytes]))
  } finally {
    db.close()
  }
}, 60_000)

afterAll(() => project?.remove())

function peak(step: string): number {
  const value = peaks.get(step)
  if (typeof value !== 'number') throw new Error(`no peak_rss_bytes for ${step}:\n${run.output}`)
  return value
}

test('a shell step whose grandchild holds 1.5 GB for 0.3 s reports that peak, within 10%', () => {
  expect(peak('shell_holds')).toBeGreaterThan(PEAK * 0.9)
  expect(peak('shell_holds')).toBeLessThan(PEAK * 1.1)
})

test('an exec step that holds 1.5 GB for 0.3 s reports that peak, within 10%', () => {
  expect(peak('exec_holds')).toBeGreaterThan(PEAK * 0.9)
  expect(peak('exec_holds')).toBeLessThan(PEAK * 1.1)
})

test("a Python step reports its own peak, and the next one not the warm host's lifetime peak", () => {
  expect(peak('python_holds')).toBeGreaterThan(PEAK * 0.9)
  expect(peak('python_holds')).toBeLessThan(PEAK * 1.1)
  // The interpreter's own few tens of MB, not the 1.5 GB the host held during the step before.
  expect(peak('python_after')).toBeGreaterThan(0)
  expect(peak('python_after')).toBeLessThan(150_000_000)
})

test("a TypeScript step that holds 100 MB reports that growth of the worker's peak", () => {
  expect(peak('ts_holds')).toBeGreaterThan(TS_HOLD * 0.9)
  expect(peak('ts_holds')).toBeLessThan(TS_HOLD * 1.5)
})
