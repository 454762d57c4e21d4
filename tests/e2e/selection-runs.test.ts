import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { formatMs } from '../../plugin/format/run-format.ts'
import { createProject, type TestProject } from './project.ts'

// A run of one step with -t (the old --only) against full runs of the same recipe: two
// parallel captures, each sleeping 1 s, before a fan-in step. The steps are real shell
// scripts; whether steps ran side by side is read from the spans they recorded in the store.
const RECIPE = `test_meta: { test_id: SEL-2 }
steps:
  - { idx: 1, name: capture_a, type: shell, cmd: scriptlets/span.sh, args: { KEY: traffic.a_v1 }, parallel: true }
  - { idx: 2, name: capture_b, type: shell, cmd: scriptlets/span.sh, args: { KEY: traffic.b_v1 }, parallel: true }
  - { idx: 3, name: aggregate_traffic, type: shell, cmd: scriptlets/span.sh, args: { KEY: traffic.total_v1, SLEEP: "0" }, depends_on: [capture_a, capture_b] }
  - { idx: 4, name: unrelated, type: shell, cmd: scriptlets/span.sh, args: { KEY: other.span_v1, SLEEP: "0" }, depends_on: [aggregate_traffic] }
`

interface StoredRun {
  runId: string
  startTime: string
  endTime: string
  metadata: Record<string, any>
  steps: Record<string, { status: string; durationMs: number }>
  spans: Record<string, { start: number; end: number }>
  heuristic: Record<string, any> | undefined
}

let project: TestProject
beforeAll(() => {
  project = createProject({ 'recipes/traffic.yaml': RECIPE })
  project.copyFixture('shell/span.sh', 'scriptlets/span.sh')
})
afterAll(() => project?.remove())

/** Every stored run, oldest first, as the store holds it. */
function storedRuns(): StoredRun[] {
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const runs = db
      .prepare('SELECT run_id, start_time, end_time, metadata FROM runs ORDER BY start_time, rowid')
      .all() as { run_id: string; start_time: string; end_time: string; metadata: string }[]
    return runs.map((run) => {
      const steps = db
        .prepare('SELECT step, status, duration_ms FROM step_metrics WHERE run_id = ?')
        .all(run.run_id) as { step: string; status: string; duration_ms: number }[]
      const values = db.prepare('SELECT key, value FROM context_snapshots WHERE run_id = ?').all(run.run_id) as {
        key: string
        value: string
      }[]
      const analysis = db.prepare('SELECT metrics FROM analysis WHERE run_id = ?').get(run.run_id) as
        | { metrics: string }
        | undefined
      return {
        runId: run.run_id,
        startTime: run.start_time,
        endTime: run.end_time,
        metadata: JSON.parse(run.metadata),
        steps: Object.fromEntries(steps.map((s) => [s.step, { status: s.status, durationMs: s.duration_ms }])),
        spans: Object.fromEntries(values.map((v) => [v.key, JSON.parse(v.value)])),
        heuristic: analysis ? JSON.parse(analysis.metrics).heuristic : undefined,
      }
    })
  } finally {
    db.close()
  }
}

async function runAll() {
  const result = await project.vitest(['run', 'recipes/'])
  expect(result.code, result.output).toBe(0)
  return result
}

async function runSelected() {
  const result = await project.vitest(['run', 'recipes/', '-t', 'aggregate_traffic'])
  expect(result.code, result.output).toBe(0)
  return result
}

test('-t on a fan-in step runs its parallel setup steps side by side, says so, and records a selection run', async () => {
  await runAll()
  const result = await runSelected()
  const run = storedRuns().at(-1)!
  expect(run.steps).toMatchObject({
    capture_a: { status: 'setup' },
    capture_b: { status: 'setup' },
    aggregate_traffic: { status: 'passed' },
  })
  expect(run.steps.unrelated).toBeUndefined()
  // (a) the two captures overlap, as they do in a full run of the recipe
  const a = run.spans['traffic.a_v1']!
  const b = run.spans['traffic.b_v1']!
  expect(a.start).toBeLessThan(b.end)
  expect(b.start).toBeLessThan(a.end)
  // ... and the selected step ran after both
  expect(run.spans['traffic.total_v1']!.start).toBeGreaterThanOrEqual(Math.max(a.end, b.end))
  // (b) the terminal says which steps ran as setup, and that their time is inside the selected step's
  expect(result.output).toContain(
    'aggregate_traffic ran capture_a, capture_b first as setup (filtered out by the test filter: -t, --tags-filter or the IDE); its time includes theirs',
  )
  // (c) the run is recorded as a selection run
  expect(run.metadata.selection).toEqual({ selected: ['aggregate_traffic'], setup: ['capture_a', 'capture_b'] })
  expect(storedRuns()[0]!.metadata.selection).toBeUndefined()
})

test('history, flips and anomaly baselines compare a selection run only with runs of the same selection', async () => {
  await runAll()
  const [text, json] = await Promise.all([
    project.recipes(['history', 'SEL-2']),
    project.recipes(['history', 'SEL-2', '--json']),
  ])
  expect(text.code, text.output).toBe(0)
  const [full2, selection, full1] = JSON.parse(json.stdout).runs as { runId: string; selection?: unknown }[]
  expect(selection!.selection).toEqual({ selected: ['aggregate_traffic'], setup: ['capture_a', 'capture_b'] })
  expect(full1!.selection).toBeUndefined()
  expect(full2!.selection).toBeUndefined()
  // The selection run is shown as such in the list ...
  const line = text.stdout.split('\n').find((item) => item.includes(selection!.runId))!
  expect(line).toContain('-t aggregate_traffic')
  // ... and the latest full run is compared with the full run before it, not with the selection run.
  expect(text.stdout).not.toContain('STATUS FLIP')
  expect(JSON.parse(json.stdout)).toMatchObject({ baseline: { runs: 1 } })
  const runs = storedRuns()
  expect(runs.at(-1)!.heuristic).toMatchObject({ history_runs: 1, new_failures: [], fixed: [] })
  // The selection run's own analysis had nothing like it to compare with.
  expect(runs[1]!.heuristic).toMatchObject({ history_runs: 0 })

  // A second selection run is compared with the first: setup steps stay setup, no flips.
  await runSelected()
  const again = JSON.parse((await project.recipes(['history', 'SEL-2', '--json'])).stdout)
  expect(again.baseline.runs).toBe(1)
  expect(again.latest.map((finding: { flippedFrom?: string }) => finding.flippedFrom)).toEqual([
    undefined,
    undefined,
    undefined,
  ])
  expect(storedRuns().at(-1)!.heuristic).toMatchObject({ history_runs: 1 })
})

test('a run has one duration everywhere: its wall time (end - start), not the sum of its step times', async () => {
  const runs = storedRuns()
  const full = runs[0]!
  const wall = Date.parse(full.endTime) - Date.parse(full.startTime)
  const stepSum = Object.values(full.steps).reduce((sum, step) => sum + step.durationMs, 0)
  // The captures ran side by side: the sum of their times is not the run's (not a vacuous check).
  expect(formatMs(stepSum)).not.toBe(formatMs(wall))
  const history = await project.recipes(['history', 'SEL-2', '--limit', '10'])
  const line = history.stdout.split('\n').find((item) => item.includes(full.runId))!
  expect(line).toContain(formatMs(wall))
  expect(line).not.toContain(formatMs(stepSum))
  const json = JSON.parse((await project.recipes(['history', 'SEL-2', '--json'])).stdout)
  expect(json.runs.find((run: { runId: string }) => run.runId === full.runId)).toMatchObject({ durationMs: wall })
  const markdown = project.read(`reports/${full.runId}/report.md`)
  expect(markdown).toContain(formatMs(wall))
})
