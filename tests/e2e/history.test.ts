import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, expect, test } from 'vitest'
import { createProject, type TestProject } from './project.ts'

// `recipes history` flags a regression only against enough earlier passing runs. The runs
// are real: the recipe runs through `vitest run`, several times side by side in one process
// (one Vitest project per copy), then once with a much slower step.
const FILES = {
  'scriptlets/pause.ts': `import { setTimeout as sleep } from 'node:timers/promises'
import { defineScriptlet } from 'vitest-recipes/scriptlet'

/** Sleeps LAB_PAUSE_MS milliseconds (default 20): a step whose duration the test sets. */
export default defineScriptlet({
  name: 'pause',
  async run(ctx, _params, { step }) {
    const ms = Number(process.env.LAB_PAUSE_MS ?? 20)
    await sleep(ms)
    ctx.set('lab.pause_v1', ms, { who: step })
  },
})
`,
  'recipes/timed.yaml': `test_meta: { test_id: TIMED-1 }
steps:
  - { idx: 1, name: measure, type: ts, module: scriptlets/pause.ts }
`,
}
const CONFIG = `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

// LAB_COPIES=n runs the recipe n times, one Vitest project each: n stored runs from one process.
const copies = Number(process.env.LAB_COPIES ?? 1)
export default defineConfig({
  plugins: [recipes({ reports: false })],
  test: { projects: Array.from({ length: copies }, (_, i) => ({ extends: true, test: { name: \`copy-\${i + 1}\` } })) },
})
`
const SLOW_MS = 800

let project: TestProject | undefined
afterEach(() => project?.remove())

/** `baseline` quick passing runs, then one run whose step sleeps SLOW_MS; returns the stored runs, oldest first. */
async function recordRuns(baseline: number) {
  project = createProject(FILES, { config: CONFIG })
  const quick = await project.vitest(['run', 'recipes/'], { env: { LAB_COPIES: String(baseline) } })
  expect(quick.code, quick.output).toBe(0)
  const slow = await project.vitest(['run', 'recipes/'], { env: { LAB_PAUSE_MS: String(SLOW_MS) } })
  expect(slow.code, slow.output).toBe(0)
  const store = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    return store
      .prepare(
        `SELECT runs.status, step_metrics.duration_ms AS ms FROM runs JOIN step_metrics USING (run_id)
         ORDER BY runs.start_time, runs.rowid`,
      )
      .all() as { status: string; ms: number }[]
  } finally {
    store.close()
  }
}

test('3 baseline runs flag no regression, and the output says 5 are needed', async () => {
  const runs = await recordRuns(3)
  expect(runs.map((run) => run.status)).toEqual(['passed', 'passed', 'passed', 'passed'])
  expect(runs.at(-1)!.ms).toBeGreaterThanOrEqual(SLOW_MS)

  const [history, json] = await Promise.all([
    project!.recipes(['history', 'TIMED-1']),
    project!.recipes(['history', 'TIMED-1', '--json']),
  ])
  expect(history.code, history.output).toBe(0)
  expect(history.stdout).toContain('latest run, step by step; baseline: 3 runs (need 5 to flag regressions):')
  expect(history.stdout).toMatch(/\n {2}measure\s+passed\s+\d+\.\d+ m?s {2}median \d+\.\d ms\n/)
  expect(history.stdout).not.toContain('REGRESSED')
  expect(JSON.parse(json.stdout)).toMatchObject({
    baseline: { runs: 3, minimum: 5, maximum: 20 },
    latest: [{ step: 'measure', baselineRuns: 3, regressed: false }],
  })
})

test('5 baseline runs flag a much slower run as REGRESSED', async () => {
  const runs = await recordRuns(5)
  expect(runs).toHaveLength(6)
  expect(runs.at(-1)!.ms).toBeGreaterThanOrEqual(SLOW_MS)

  const history = await project!.recipes(['history', 'TIMED-1'])
  expect(history.code, history.output).toBe(0)
  expect(history.stdout).toContain('latest run, step by step; baseline: 5 runs (the earlier passing runs, at most 20):')
  expect(history.stdout).toMatch(
    /\n {2}measure\s+passed\s+\d+\.\d+ m?s {2}median \d+\.\d ms; REGRESSED: above \d+\.\d ms \(median \+ 3·MAD\)\n/,
  )
})
