import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, type JsonReport, type RunResult, type TestProject } from './project.ts'

// One procedure on three switches in one `vitest run`: each combination its own run, its own
// group of tests, its own resources; side by side when their resources differ, in turns when not.
const SLEEP_SET = `import { defineScriptlet } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'sleep_set',
  async run(ctx, params, { step }) {
    await new Promise((done) => setTimeout(done, params.ms))
    ctx.set(params.key, params.value, { who: step })
    return { outputs: [params.key] }
  },
})
`
const SIDE = `test_meta: { test_id: SIDE }
vars:
  dut: { description: the switch under test }
matrix:
  dut: [rack1-sw1, rack1-sw2, rack1-sw3]
resources: ["dut:\${{ vars.dut }}"]
steps:
  - name: configure
    type: ts
    module: scriptlets/sleep_set.ts
    args: { ms: 500, key: demo.configured_v1, value: "\${{ vars.dut }}" }
  - name: probe_a
    type: ts
    module: scriptlets/sleep_set.ts
    parallel: true
    depends_on: [configure]
    args: { ms: 300, key: demo.a_v1, value: "\${{ vars.dut }}" }
  - name: probe_b
    type: ts
    module: scriptlets/sleep_set.ts
    parallel: true
    depends_on: [configure]
    args: { ms: 300, key: demo.b_v1, value: "\${{ vars.dut }}" }
`
const SHARED = `test_meta: { test_id: SHARED }
vars:
  dut: rack2-sw1
matrix:
  dut: [rack2-sw1, rack2-sw2]
resources: ["bench:rack2-console"]
steps:
  - name: flash
    type: ts
    module: scriptlets/sleep_set.ts
    args: { ms: 300, key: demo.flashed_v1, value: "\${{ vars.dut }}" }
`

const SERIAL = `test_meta: { test_id: SERIAL }
vars:
  dut: rack3-sw1
matrix:
  dut: [rack3-sw1, rack3-sw2]
matrix_parallel: 1
resources: ["dut:\${{ vars.dut }}"]
steps:
  - name: flash
    type: ts
    module: scriptlets/sleep_set.ts
    args: { ms: 200, key: demo.flashed_v1, value: "\${{ vars.dut }}" }
`

let project: TestProject
let first: RunResult & { report: JsonReport }
let wall: number

interface Run {
  run_id: string
  recipe: string
  start_time: string
  end_time: string
  status: string
  metadata: string
}

function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(`${project.root}/reports/results.sqlite`, { readonly: true })
  try {
    return db.prepare(sql).all(...params) as T[]
  } finally {
    db.close()
  }
}

function runsOf(recipe: string): (Run & { vars: Record<string, unknown> })[] {
  return query<Run>('SELECT * FROM runs WHERE recipe = ? ORDER BY start_time, rowid', recipe).map((run) => ({
    ...run,
    vars: JSON.parse(run.metadata).vars,
  }))
}

beforeAll(async () => {
  project = createProject({
    'recipes/side.yaml': SIDE,
    'recipes/shared.yaml': SHARED,
    'recipes/serial.yaml': SERIAL,
    'scriptlets/sleep_set.ts': SLEEP_SET,
  })
  const started = Date.now()
  first = await project.vitestJson(['recipes/'])
  wall = Date.now() - started
}, 120_000)
afterAll(() => project?.remove())

test('each combination is its own run: its own run id, vars, ctx and documents', () => {
  expect(first.code, first.output).toBe(0)
  const runs = runsOf('recipes/side.yaml')
  expect(runs.map((run) => run.vars.dut).sort()).toEqual(['rack1-sw1', 'rack1-sw2', 'rack1-sw3'])
  for (const run of runs) {
    expect(run.status).toBe('passed')
    // Recognisable: the run id names the combination.
    expect(run.run_id).toContain(`side-dut_${run.vars.dut}`)
    expect(JSON.parse(run.metadata).vars_from).toEqual({ dut: 'matrix' })
    const ctx = query<{ key: string; value: string }>(
      'SELECT key, value FROM context_snapshots WHERE run_id = ? ORDER BY key',
      run.run_id,
    )
    expect(ctx.map((row) => [row.key, JSON.parse(row.value)])).toEqual([
      ['demo.a_v1', run.vars.dut],
      ['demo.b_v1', run.vars.dut],
      ['demo.configured_v1', run.vars.dut],
    ])
    expect(project.read(`reports/${run.run_id}/report.md`)).toContain(String(run.vars.dut))
  }
  expect(new Set(runs.map((run) => run.run_id)).size).toBe(3)
})

test("one document lists every combination's outcome side by side, linking each run's documents", () => {
  const runs = runsOf('recipes/side.yaml').slice(0, 3)
  const summary = project.read('reports/matrix-side.md')
  expect(summary).toContain('3 combinations: 3 passed.')
  for (const run of runs) {
    const row = summary.split('\n').find((line) => line.startsWith(`| dut=${run.vars.dut} |`))
    expect(row, summary).toContain(`| passed | 3 passed | ${run.run_id} | [html](${run.run_id}/report.html)`)
  }
})

test('each combination is a group of tests named by its values; the steps are tests inside it', () => {
  const side = first.report.testResults.find((file) => file.name.endsWith('side.yaml'))!
  const names = side.assertionResults.map((result) => (result as unknown as { fullName: string }).fullName)
  expect(names).toEqual(
    ['rack1-sw1', 'rack1-sw2', 'rack1-sw3'].flatMap((dut) =>
      ['configure', 'probe_a', 'probe_b'].map((step) => `dut=${dut} ${step}`),
    ),
  )
})

test('combinations with distinct resources run side by side; their parallel steps still run together', () => {
  const runs = runsOf('recipes/side.yaml')
  const steps = query<{ run_id: string; duration_ms: number }>(
    `SELECT run_id, duration_ms FROM step_metrics WHERE run_id IN (${runs.map(() => '?').join(',')})`,
    ...runs.map((run) => run.run_id),
  )
  const sum = steps.reduce((total, step) => total + step.duration_ms, 0)
  const span =
    Math.max(...runs.map((run) => Date.parse(run.end_time))) -
    Math.min(...runs.map((run) => Date.parse(run.start_time)))
  console.log(
    `matrix side by side: span ${span} ms, sum of step durations ${Math.round(sum)} ms, vitest wall ${wall} ms`,
  )
  expect(sum).toBeGreaterThanOrEqual(3 * 1100 - 50)
  // Side by side: every combination had started before any ended (one after the other, none
  // would). Timing ratios swing on a loaded machine; the order of starts and ends does not.
  const latestStart = Math.max(...runs.map((run) => Date.parse(run.start_time)))
  const earliestEnd = Math.min(...runs.map((run) => Date.parse(run.end_time)))
  expect(latestStart).toBeLessThan(earliestEnd)
  // And well under their sum: one combination alone takes 500 + 300 (its probes together).
  expect(span).toBeLessThan(sum)
})

test('combinations that need the same resource take turns: their holds do not overlap', () => {
  const runs = runsOf('recipes/shared.yaml')
  expect(runs.map((run) => run.vars.dut).sort()).toEqual(['rack2-sw1', 'rack2-sw2'])
  const holds = query<{ run_id: string; acquired_at: string; released_at: string }>(
    "SELECT run_id, acquired_at, released_at FROM resource_holds WHERE resource = 'bench:rack2-console' ORDER BY acquired_at",
  )
  expect(holds.map((hold) => hold.run_id).sort()).toEqual(runs.map((run) => run.run_id).sort())
  expect(Date.parse(holds[1]!.acquired_at)).toBeGreaterThanOrEqual(Date.parse(holds[0]!.released_at))
})

test('recipes list shows the combinations', async () => {
  const listed = await project.recipes(['list', 'recipes/side.yaml'])
  expect(listed.output).toContain(
    'matrix: 3 combinations, 4 side by side: dut=rack1-sw1 | dut=rack1-sw2 | dut=rack1-sw3',
  )
})

test('matrix_parallel: 1 runs the combinations one after the other, whatever their resources', () => {
  const runs = runsOf('recipes/serial.yaml')
  expect(runs.map((run) => run.vars.dut)).toEqual(['rack3-sw1', 'rack3-sw2'])
  expect(Date.parse(runs[1]!.start_time)).toBeGreaterThanOrEqual(Date.parse(runs[0]!.end_time))
})

test('vitest list names each combination group; -t runs one combination, its needed steps as setup', async () => {
  const listed = await project.vitest(['list', 'recipes/side.yaml'])
  expect(listed.code, listed.output).toBe(0)
  expect(listed.output).toContain('dut=rack1-sw2 > probe_a')
  // Each step of each group points at its own YAML line.
  const located = await project.vitest(['list', 'recipes/side.yaml', '--json'])
  const entries = JSON.parse(located.stdout.slice(located.stdout.indexOf('['))) as {
    name: string
    location?: { line: number }
  }[]
  expect(entries.find((entry) => entry.name === 'dut=rack1-sw3 > probe_b')?.location?.line).toBe(18)
  const before = runsOf('recipes/side.yaml').length
  // A test's full name joins its group's and its own with a space (Vitest 4) or ' > ' (Vitest 5).
  const one = await project.vitestJson(['recipes/side.yaml', '-t', 'rack1-sw2.*probe_b'])
  expect(one.code, one.output).toBe(0)
  const runs = runsOf('recipes/side.yaml').slice(before)
  expect(runs.map((run) => run.vars.dut)).toEqual(['rack1-sw2'])
  expect(JSON.parse(runs[0]!.metadata).selection).toEqual({ selected: ['probe_b'], setup: ['configure'] })
  const passed = one.report.testResults[0]!.assertionResults.filter((result) => result.status === 'passed')
  expect(passed.map((result) => (result as unknown as { fullName: string }).fullName)).toEqual([
    expect.stringMatching(/^dut=rack1-sw2( > | )probe_b$/),
  ])
})

test('--resume-from resumes each combination from its own last run', async () => {
  const last = new Map(runsOf('recipes/side.yaml').map((run) => [run.vars.dut, run.run_id]))
  const before = runsOf('recipes/side.yaml').length
  const resumed = await project.recipes(['run', 'recipes/side.yaml', '--resume-from', 'probe_a'])
  expect(resumed.code, resumed.output).toBe(0)
  const runs = runsOf('recipes/side.yaml').slice(before)
  expect(runs).toHaveLength(3)
  for (const run of runs) expect(JSON.parse(run.metadata).resumed_from).toBe(last.get(run.vars.dut))
})

test('RECIPES_MATRIX_SHARD=i/n splits the combinations between processes sharing one store; --only names steps of every combination', async () => {
  const before = runsOf('recipes/side.yaml').length
  const shards = await Promise.all(
    ['1/2', '2/2'].map((shard) =>
      project.recipes(['run', 'recipes/side.yaml', '--only', 'probe_a'], { env: { RECIPES_MATRIX_SHARD: shard } }),
    ),
  )
  for (const shard of shards) expect(shard.code, shard.output).toBe(0)
  // Each process puts its combinations side by side; the others' are not run there.
  expect(shards[0]!.output).toMatch(
    /matrix recipes\/side\.yaml: 3 combinations, 2 passed, 1 not run\n\s+dut=rack1-sw1\s+passed\s+1 passed\s+\S+-side-dut_rack1-sw1-\w+\n\s+dut=rack1-sw2\s+not run\n\s+dut=rack1-sw3\s+passed/,
  )
  const runs = runsOf('recipes/side.yaml').slice(before)
  expect(runs.map((run) => run.vars.dut).sort()).toEqual(['rack1-sw1', 'rack1-sw2', 'rack1-sw3'])
  for (const run of runs)
    expect(JSON.parse(run.metadata).selection).toEqual({ selected: ['probe_a'], setup: ['configure'] })
})

test('--merge-reports stores each combination as a whole run of its own group, not a selection of the file', async () => {
  const blob = await project.vitest(
    ['run', 'recipes/serial.yaml', '--reporter=blob', '--outputFile=.vitest-reports/blob-1-1.json'],
    { env: { RECIPES_DB: 'blob.sqlite' } },
  )
  expect(blob.code, blob.output).toBe(0)
  const merged = await project.vitest(['run', '--merge-reports=.vitest-reports', '--reporter=default'], {
    env: { RECIPES_DB: 'merged.sqlite' },
  })
  expect(merged.code, merged.output).toBe(0)
  const db = new Database(`${project.root}/merged.sqlite`, { readonly: true })
  try {
    const runs = db.prepare("SELECT run_id, metadata FROM runs WHERE recipe = 'recipes/serial.yaml'").all() as Run[]
    expect(runs).toHaveLength(2)
    for (const run of runs) expect(JSON.parse(run.metadata).selection).toBeUndefined()
    expect(runs.map((run) => JSON.parse(run.metadata).vars.dut).sort()).toEqual(['rack3-sw1', 'rack3-sw2'])
  } finally {
    db.close()
  }
})

test("vitest --shard=i/n splits a matrix's combinations between the shards, one store; the other files are sharded as Vitest shards them", async () => {
  project.write(
    'recipes/plain.yaml',
    'test_meta: { test_id: PLAIN }\nsteps:\n  - name: once\n    type: ts\n    module: scriptlets/sleep_set.ts\n    args: { ms: 10, key: demo.once_v1, value: 1 }\n',
  )
  const before = runsOf('recipes/serial.yaml').length
  const shards = await Promise.all(
    ['1/2', '2/2'].map((shard) =>
      project.vitest(['run', 'recipes/serial.yaml', 'recipes/plain.yaml', `--shard=${shard}`]),
    ),
  )
  for (const shard of shards) {
    expect(shard.code, shard.output).toBe(0)
    // Both shards have the matrix file; each runs its share of the combinations.
    expect(shard.output).toMatch(/matrix recipes\/serial\.yaml: 2 combinations, 1 passed, 1 not run/)
  }
  const runs = runsOf('recipes/serial.yaml').slice(before)
  expect(runs.map((run) => run.vars.dut).sort()).toEqual(['rack3-sw1', 'rack3-sw2'])
  // The plain recipe is one file: one shard runs it.
  expect(runsOf('recipes/plain.yaml')).toHaveLength(1)
})

test("shards writing blobs on their own stores, merged by --merge-reports: each combination's run imported once with its vars, its documents and the matrix summary whole", async () => {
  const shards = await Promise.all(
    [1, 2].map((index) =>
      project.vitest(
        [
          'run',
          'recipes/side.yaml',
          `--shard=${index}/2`,
          '--reporter=blob',
          `--outputFile=.matrix-blobs/blob-${index}-2.json`,
        ],
        { env: { RECIPES_DB: `matrix-shard-${index}.sqlite` } },
      ),
    ),
  )
  for (const shard of shards) expect(shard.code, shard.output).toBe(0)
  const storedIn = (file: string) => {
    const db = new Database(`${project.root}/${file}`, { readonly: true })
    try {
      return (db.prepare("SELECT * FROM runs WHERE recipe = 'recipes/side.yaml'").all() as Run[]).map((run) => ({
        ...run,
        vars: JSON.parse(run.metadata).vars as Record<string, unknown>,
      }))
    } finally {
      db.close()
    }
  }
  // Shard 1 runs the 1st and 3rd combination, shard 2 the 2nd.
  const shardRuns = [...storedIn('matrix-shard-1.sqlite'), ...storedIn('matrix-shard-2.sqlite')]
  expect(shardRuns.map((run) => run.vars.dut).sort()).toEqual(['rack1-sw1', 'rack1-sw2', 'rack1-sw3'])

  const merge = () =>
    project.vitest(['run', '--merge-reports=.matrix-blobs', '--reporter=default'], {
      env: { RECIPES_DB: 'matrix-merged.sqlite' },
    })
  const merged = await merge()
  expect(merged.code, merged.output).toBe(0)
  expect(merged.output).toContain('matrix recipes/side.yaml: 3 combinations, 3 passed')
  const runs = storedIn('matrix-merged.sqlite')
  expect(runs.map((run) => run.run_id).sort()).toEqual(shardRuns.map((run) => run.run_id).sort())
  for (const run of runs) {
    const metadata = JSON.parse(run.metadata)
    expect(metadata.imported).toBe('merge-reports')
    expect(metadata.selection).toBeUndefined()
    expect(run.vars).toEqual(shardRuns.find((shard) => shard.run_id === run.run_id)!.vars)
    expect(run.status).toBe('passed')
    expect(run.run_id).toContain(`side-dut_${run.vars.dut}`)
    expect(project.read(`reports/${run.run_id}/report.md`)).toContain(String(run.vars.dut))
    const db = new Database(`${project.root}/matrix-merged.sqlite`, { readonly: true })
    try {
      const ctx = db
        .prepare('SELECT key, value FROM context_snapshots WHERE run_id = ? ORDER BY key')
        .all(run.run_id) as { key: string; value: string }[]
      expect(ctx.map((row) => [row.key, JSON.parse(row.value)])).toEqual([
        ['demo.a_v1', run.vars.dut],
        ['demo.b_v1', run.vars.dut],
        ['demo.configured_v1', run.vars.dut],
      ])
    } finally {
      db.close()
    }
  }
  const summary = project.read('reports/matrix-side.md')
  expect(summary).toContain('3 combinations: 3 passed.')
  for (const run of runs)
    expect(summary).toContain(
      `| dut=${run.vars.dut} | passed | 3 passed | ${run.run_id} | [html](${run.run_id}/report.html)`,
    )

  // Merged again into the same store: nothing stored twice.
  const again = await merge()
  expect(again.code, again.output).toBe(0)
  expect(storedIn('matrix-merged.sqlite')).toHaveLength(3)
})
