import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freshDatabase, noPostgres, query } from '../postgres.ts'
import { childEnv, createProject, DEFAULT_CONFIG, REPO, type TestProject } from './project.ts'

// A team on one PostgreSQL store (RECIPES_DB=postgres://…): three CI runners each run a shard
// of the suite in their own copy of the workspace, one machine merges the blobs into the
// documents, and a runner that is killed frees the rack for the next one.

const RACK_RECIPE = (name: string, seconds: number) => `test_meta: { test_id: SHARD-${name.toUpperCase()} }
resources: [dut:x]
steps:
  - name: use_dut
    type: exec
    cmd: [sleep, "${seconds}"]
    parse: raw
  - name: report
    type: exec
    cmd: [echo, "${name} done"]
    parse: raw
`
const SUITE = {
  'recipes/alpha.yaml': RACK_RECIPE('alpha', 2),
  'recipes/bravo.yaml': RACK_RECIPE('bravo', 2),
  'recipes/charlie.yaml': RACK_RECIPE('charlie', 2),
}

const projects: TestProject[] = []
function workspace(files: Record<string, string>, config?: string): TestProject {
  const created = createProject(files, config === undefined ? {} : { config })
  projects.push(created)
  return created
}

describe.skipIf(noPostgres)('a shared PostgreSQL store', () => {
  let database: { url: string; drop: () => Promise<void> }
  beforeAll(async () => {
    database = await freshDatabase('e2e')
  })
  afterAll(async () => {
    for (const created of projects) created.remove()
    await database?.drop()
  })

  test('three shards on three runners land in the store once each, take turns on dut:x, and the merge writes the documents without storing them again', async () => {
    const runners = [1, 2, 3].map(() => workspace(SUITE))
    const shards = await Promise.all(
      runners.map((runner, i) =>
        // The blob's folder named: its default is .vitest-reports/ in Vitest 4 and .vitest/blob/ in Vitest 5.
        runner.vitest(
          [
            'run',
            'recipes/',
            `--shard=${i + 1}/3`,
            '--reporter=blob',
            `--outputFile=.vitest-reports/blob-${i + 1}-3.json`,
          ],
          {
            env: { RECIPES_DB: database.url },
          },
        ),
      ),
    )
    for (const shard of shards) expect(shard.code, shard.output).toBe(0)

    // With SQL, as an auditor would: every run and step once, and no two holds of dut:x overlap.
    const runs = await query(database.url, 'SELECT test_id, status, metadata FROM runs ORDER BY test_id')
    expect(runs.map((run) => [run.test_id, run.status])).toEqual([
      ['SHARD-ALPHA', 'passed'],
      ['SHARD-BRAVO', 'passed'],
      ['SHARD-CHARLIE', 'passed'],
    ])
    const steps = await query(
      database.url,
      'SELECT r.test_id, s.step, count(*)::int AS n FROM step_metrics s JOIN runs r USING (run_id) GROUP BY 1, 2 ORDER BY 1, 2',
    )
    expect(steps).toHaveLength(6)
    for (const row of steps) expect(row.n).toBe(1)
    const holds = await query(
      database.url,
      "SELECT run_id, acquired_at, released_at, release FROM resource_holds WHERE resource = 'dut:x' ORDER BY acquired_at",
    )
    expect(holds).toHaveLength(3)
    for (const hold of holds) expect(hold.release).toBe('released')
    const overlaps = await query(
      database.url,
      `SELECT a.run_id, b.run_id FROM resource_holds a JOIN resource_holds b
         ON a.resource = b.resource AND a.run_id < b.run_id
       WHERE a.resource = 'dut:x' AND a.acquired_at < b.released_at AND b.acquired_at < a.released_at`,
    )
    expect(overlaps).toEqual([])
    const waited = await query(
      database.url,
      `SELECT (envelope::jsonb #>> '{metrics,resource_wait_ms}')::float AS waited FROM step_metrics WHERE step = 'use_dut'`,
    )
    // Every first step counts its wait; started together on one DUT (held 2 s each), one at
    // least waited while another held it (how many depends on how far apart the runners started).
    expect(waited).toHaveLength(3)
    for (const row of waited) expect(row.waited).toEqual(expect.any(Number))
    expect(waited.filter((row) => (row.waited as number) > 500).length).toBeGreaterThan(0)

    // The merge, on a fourth machine with the blobs: documents for all three, no run stored twice.
    const merger = workspace(SUITE)
    mkdirSync(join(merger.root, '.vitest-reports'))
    for (const runner of runners)
      for (const blob of readdirSync(join(runner.root, '.vitest-reports')))
        copyFileSync(join(runner.root, '.vitest-reports', blob), join(merger.root, '.vitest-reports', blob))
    // The runners' copies are in other folders than the merger's: Vitest 4.1 then counts no test
    // files at the merge and exits 1 (vitest#10347), though the reports are written; the README says so.
    const merged = await merger.vitest(['--merge-reports=.vitest-reports', '--reporter=default', '--passWithNoTests'], {
      env: { RECIPES_DB: database.url },
    })
    expect(merged.code, merged.output).toBe(0)
    expect(merged.output).toContain('vitest-recipes  reports of 3 runs')
    const documents = readdirSync(join(merger.root, 'reports')).filter((name) => /-(alpha|bravo|charlie)-/.test(name))
    expect(documents).toHaveLength(3)
    const again = await query(database.url, 'SELECT test_id, status, metadata FROM runs ORDER BY test_id')
    expect(again).toEqual(runs)
    expect(again.some((run) => String(run.metadata).includes('merge-reports'))).toBe(false)

    // Every runner's runs, from any machine.
    const history = await merger.recipes(['history', 'SHARD-BRAVO'], { env: { RECIPES_DB: database.url } })
    expect(history.code, history.output).toBe(0)
    expect(history.output).toMatch(/passed/)
    expect(history.output).toContain('use_dut')
  }, 180_000)

  test('a SIGKILLed runner frees dut:x at once (its database session ended) and its run is interrupted; the next run gets the DUT', async () => {
    const first = workspace({ 'recipes/rack.yaml': RACK_RECIPE('killed', 60) })
    const killed = spawn(process.execPath, [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run'], {
      cwd: first.root,
      env: childEnv({ RECIPES_DB: database.url, CI: 'true' }),
      stdio: 'ignore',
      detached: true,
    })
    try {
      for (let tries = 0; ; tries++) {
        const held = await query(
          database.url,
          "SELECT run_id FROM resource_locks WHERE resource = 'dut:x' AND test_id = 'SHARD-KILLED'",
        )
        if (held.length === 1) break
        if (tries > 300) throw new Error('the first run never held dut:x')
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      // From another workspace (another desk): who holds it, since when, on which host.
      const elsewhere = workspace({})
      const locks = await elsewhere.recipes(['locks', '--json'], { env: { RECIPES_DB: database.url } })
      expect(locks.code, locks.output).toBe(0)
      expect(JSON.parse(locks.stdout)).toMatchObject({
        holders: [{ resource: 'dut:x', testId: 'SHARD-KILLED', host: expect.any(String), since: expect.any(String) }],
        waiters: [],
      })
    } finally {
      process.kill(-killed.pid!, 'SIGKILL')
    }
    const killedAt = Date.now()
    // This one names the store with the plugin option db, not RECIPES_DB.
    const second = workspace(
      { 'recipes/rack.yaml': RACK_RECIPE('next', 0) },
      DEFAULT_CONFIG.replace(
        'recipes()',
        `recipes({ db: ${JSON.stringify(database.url)}, reports: { formats: ['md'] } })`,
      ),
    )
    const result = await second.vitestJson(['recipes/'])
    expect(result.code, result.output).toBe(0)
    const [dead] = await query(
      database.url,
      "SELECT h.release, r.status FROM resource_holds h JOIN runs r USING (run_id) WHERE r.test_id = 'SHARD-KILLED'",
    )
    expect(dead).toMatchObject({ status: 'interrupted', release: expect.stringMatching(/^expired: /) })
    const [next] = await query(
      database.url,
      `SELECT (s.envelope::jsonb #>> '{metrics,resource_wait_ms}')::float AS waited FROM step_metrics s
       JOIN runs r USING (run_id) WHERE r.test_id = 'SHARD-NEXT' AND s.step = 'use_dut'`,
    )
    // Not the 5 s lease: the dead session freed it at the next run's first request (1.3 s was
    // seen on a loaded machine; the lease would be 5 s and more).
    expect(next!.waited as number).toBeLessThan(4000)
    expect(Date.now() - killedAt).toBeLessThan(60_000)
  }, 120_000)

  test('a store that refuses the login: the run does not start, the host is named and the password is not', async () => {
    const url = new URL(database.url)
    url.password = 'wrong-s3cret'
    const lab = workspace({ 'recipes/rack.yaml': RACK_RECIPE('refused', 0) })
    const run = await lab.vitestJson(['recipes/'], { env: { RECIPES_DB: url.href } })
    expect(run.code).not.toBe(0)
    expect(run.output).toMatch(/the server at 127\.0\.0\.1:\d+ refused the login/)
    expect(run.output).not.toContain('s3cret')
    expect(run.report.testResults[0]!.assertionResults.every((step) => step.status !== 'passed')).toBe(true)
    const history = await lab.recipes(['history', 'SHARD-REFUSED'], { env: { RECIPES_DB: url.href } })
    expect(history.code).toBe(3)
    expect(history.output).toMatch(
      /cannot open the run store postgres:\/\/recipes\w*@127\.0\.0\.1:\d+\/\w+: password authentication failed/,
    )
    expect(history.output).not.toContain('s3cret')
    expect(history.output).not.toMatch(/\n\s+at /)
    // Nothing was recorded of the refused run.
    expect(await query(database.url, "SELECT run_id FROM runs WHERE test_id = 'SHARD-REFUSED'")).toEqual([])
  }, 60_000)
})
