import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { createProject, type TestProject } from './project.ts'

// A long recipe without depends_on: each step needs the one before it. It used to spend
// ~45 s in a quadratic, recursive timeout computation and then overflow the stack. 10,000
// steps run too (about 50 s on 2 shared cores: LARGE_RECIPE_STEPS=10000); the suite runs
// 2,000, and tests/compile/large-recipe.test.ts compiles 10,000.
const STEPS = Number(process.env.LARGE_RECIPE_STEPS ?? 2_000)

const COUNT_SCRIPTLET = `export default {
  run(ctx, params) {
    ctx.set('chain.count_v1', (ctx.get('chain.count_v1') ?? 0) + 1, { who: 'count' })
  },
}
`

function chainRecipe(count: number): string {
  const steps = Array.from(
    { length: count },
    (_, i) => `  - { name: step_${i}, type: ts, module: scriptlets/count.ts }\n`,
  )
  return `steps:\n${steps.join('')}`
}

let project: TestProject | undefined
afterAll(() => project?.remove())

test(`a ${STEPS.toLocaleString('en')}-step recipe compiles and runs every step under vitest run`, async () => {
  project = createProject({ 'recipes/chain.yaml': chainRecipe(STEPS), 'scriptlets/count.ts': COUNT_SCRIPTLET })
  const started = performance.now()
  const { report, code } = await project.vitestJson(['recipes/'])
  console.log(`vitest run of ${STEPS} steps: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const results = report.testResults[0]?.assertionResults ?? []
  expect(report.testResults[0]?.message).toBe('')
  expect(results).toHaveLength(STEPS)
  expect(results.filter((result) => result.status !== 'passed')).toEqual([])
  expect(code).toBe(0)
}, 120_000)

test('selecting its last step with -t runs every earlier step first as setup, each once', async () => {
  project ??= createProject({ 'recipes/chain.yaml': chainRecipe(STEPS), 'scriptlets/count.ts': COUNT_SCRIPTLET })
  const last = `step_${STEPS - 1}`
  const { code, output } = await project.vitest(['run', 'recipes/', '-t', `${last}$`])
  expect(output).toContain('1 passed')
  expect(code).toBe(0)
  const { default: Database } = await import('better-sqlite3')
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const runId = (db.prepare('SELECT run_id FROM runs ORDER BY rowid DESC LIMIT 1').get() as { run_id: string }).run_id
    const count = (status: string) =>
      (
        db.prepare('SELECT COUNT(*) AS n FROM step_metrics WHERE run_id = ? AND status = ?').get(runId, status) as {
          n: number
        }
      ).n
    expect([count('setup'), count('passed')]).toEqual([STEPS - 1, 1])
    const value = db
      .prepare("SELECT value FROM context_snapshots WHERE run_id = ? AND key = 'chain.count_v1'")
      .get(runId)
    expect(value).toEqual({ value: String(STEPS) })
  } finally {
    db.close()
  }
}, 120_000)
