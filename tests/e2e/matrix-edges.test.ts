import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { fileText, findLeaks, projectFiles } from './leak-search.ts'
import { createProject, type RunResult, type TestProject } from './project.ts'

// Matrix values that a folder name or a test name cannot hold as they are: values the run id
// drops (`/` and `:`, accents, the tail of a long value), a path, a leading `-`, a newline, and a
// value that is a secret's. Each combination keeps its own run, folders and records; the secret
// is in no name, file or output.
const SECRET = 'Xq7-lab-Pa55-w0rd'
const LONG = 'x'.repeat(70)
const VALUES = [
  'a/b',
  'a:b',
  'café',
  'cafè',
  '../../mx-edges-escape',
  '-rf',
  `${LONG}A`,
  `${LONG}B`,
  'line1\nline2',
  SECRET,
]
const EDGES = `test_meta: { test_id: EDGES, tags: ["\${{ vars.dut }}"] }
vars:
  dut: { description: the switch under test }
matrix:
  dut: [${VALUES.map((value) => JSON.stringify(value)).join(', ')}]
matrix_parallel: 5
steps:
  - name: show
    type: exec
    cmd: [node, scriptlets/argv.mjs, "\${{ vars.dut }}"]
    save: { demo.argv_v1: argv }
  - name: again
    type: exec
    depends_on: [show]
    cmd: [node, scriptlets/argv.mjs, "\${{ vars.dut }}"]
`
// A value only one combination has may make the recipe unreadable: the problem names that combination, secret masked.
const REFUSED = `test_meta: { test_id: REFUSED }
vars:
  dut: { description: the switch under test }
matrix:
  dut: [rack1-sw1, "${SECRET} x"]
resources: ["dut:\${{ vars.dut }}"]
steps:
  - name: show
    type: exec
    cmd: [node, scriptlets/argv.mjs]
`
const ARGV = `console.log(JSON.stringify({ status: 'ok', argv: process.argv.slice(2) }))\n`

let project: TestProject
let run: RunResult
const env = { LAB_PASSWORD: SECRET }

function runs(): { run_id: string; metadata: string }[] {
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    return db.prepare("SELECT run_id, metadata FROM runs WHERE test_id = 'EDGES'").all() as {
      run_id: string
      metadata: string
    }[]
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  project = createProject({ 'recipes/edges.yaml': EDGES, 'recipes/refused.yaml': REFUSED, 'scriptlets/argv.mjs': ARGV })
  run = await project.vitest(
    [
      'run',
      '--reporter=default',
      '--reporter=junit',
      '--outputFile.junit=junit.xml',
      '--reporter=json',
      '--outputFile.json=report.json',
    ],
    { env },
  )
}, 120_000)
afterAll(() => project?.remove())

test('each combination has its own run id, report folder and log folder, all inside the project, whatever its values', () => {
  const report = JSON.parse(project.read('report.json')) as { testResults: { name: string; status: string }[] }
  expect(report.testResults.map((file) => [file.name.replace(/^.*\//, ''), file.status]).sort(), run.output).toEqual([
    ['edges.yaml', 'passed'],
    ['refused.yaml', 'failed'],
  ])
  expect(run.output).toContain('with its vars it reads "dut:*** x" (combination dut=*** x)')
  const ids = runs().map((row) => row.run_id)
  expect(ids).toHaveLength(VALUES.length)
  expect(new Set(ids).size).toBe(VALUES.length)
  for (const id of ids) {
    expect(id).toMatch(/^[A-Za-z0-9_.-]+$/)
    expect(existsSync(join(project.root, 'reports', id, 'report.md')), id).toBe(true)
    expect(existsSync(join(project.root, 'Logs', id)), id).toBe(true)
  }
  // Folders named by the combination's values, with nothing to tell two apart but the random suffix, would
  // overwrite each other when it repeats: the names differ without it.
  const named = ids.map((id) => id.replace(/-[0-9a-f]{4}$/, ''))
  expect(new Set(named).size, named.join('\n')).toBe(VALUES.length)
  expect(readdirSync(dirname(project.root)).some((entry) => entry.includes('mx-edges-escape'))).toBe(false)
  // Each argv got its own value, verbatim.
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const argv = db
      .prepare("SELECT value FROM context_snapshots WHERE key = 'demo.argv_v1'")
      .all()
      .map((row) => JSON.parse((row as { value: string }).value)[0])
    expect(argv.sort()).toEqual(VALUES.map((value) => (value === SECRET ? '***{LAB_PASSWORD}' : value)).sort())
  } finally {
    db.close()
  }
})

test('a combination is a group of tests named on one line, the secret masked; no two groups share a name', () => {
  const report = JSON.parse(project.read('report.json')) as {
    testResults: { assertionResults: { fullName: string; ancestorTitles: string[] }[] }[]
  }
  const groups = report.testResults.flatMap((file) => file.assertionResults.map((item) => item.ancestorTitles.at(-1)!))
  expect(new Set(groups).size, groups.join('\n')).toBe(VALUES.length)
  for (const group of groups) expect(group).not.toMatch(/[\n\r]/)
  expect(groups).toContain('dut=line1\\nline2')
  expect(groups).toContain('dut=***')
})

test("the secret value of a combination is in no file name, no file, no command's output", async () => {
  const leaks: string[] = []
  for (const file of projectFiles(project.root)) {
    if (file.includes(SECRET)) leaks.push(`file name ${file}`)
    // The recipe itself lists the value.
    if (!/(edges|refused)\.yaml$/.test(file))
      leaks.push(...findLeaks(await fileText(file), [SECRET]).map((leak) => `${file}: ${leak}`))
  }
  leaks.push(...findLeaks(run.output, [SECRET]).map((leak) => `vitest run: ${leak}`))
  // Exit code 3: recipes/refused.yaml is invalid, and said so (its problem naming its combination, masked).
  const commands: [string, Promise<RunResult>, number][] = [
    ['vitest list --json', project.vitest(['list', 'recipes/edges.yaml', '--json'], { env }), 0],
    ['vitest list', project.vitest(['list', 'recipes/edges.yaml'], { env }), 0],
    ['vitest --list-tags', project.vitest(['--list-tags'], { env }), 0],
    ['recipes plan', project.recipes(['plan', 'recipes/edges.yaml'], { env }), 0],
    ['recipes plan --format json', project.recipes(['plan', 'recipes/edges.yaml', '--format', 'json'], { env }), 0],
    ['recipes list', project.recipes(['list'], { env }), 3],
    ['recipes list --json', project.recipes(['list', '--json'], { env }), 3],
    ['recipes history', project.recipes(['history', 'EDGES'], { env }), 0],
    ['recipes history --json', project.recipes(['history', 'EDGES', '--json'], { env }), 0],
    ['recipes validate', project.recipes(['validate'], { env }), 3],
  ]
  for (const [name, pending, code] of commands) {
    const result = await pending
    expect(result.code, `${name}: ${result.output}`).toBe(code)
    leaks.push(...findLeaks(result.output, [SECRET]).map((leak) => `${name}: ${leak}`))
    if (name === 'recipes validate') expect(result.output).toContain('(combination dut=*** x)')
  }
  expect(leaks).toEqual([])
  expect(readFileSync(join(project.root, 'junit.xml'), 'utf8')).toContain('dut=*** &gt; show')
}, 60_000)

test('--resume-from resumes each combination from its own last run, a secret one too', async () => {
  const last = new Map(runs().map((row) => [JSON.parse(row.metadata).vars.dut, row.run_id]))
  expect(last.size).toBe(VALUES.length)
  const plan = await project.recipes(['plan', 'recipes/edges.yaml', '--resume-from', 'again'], { env })
  expect(plan.code, plan.output).toBe(0)
  expect(findLeaks(plan.output, [SECRET])).toEqual([])
  const resumed = await project.recipes(['run', 'recipes/edges.yaml', '--resume-from', 'again'], { env })
  expect(resumed.code, resumed.output).toBe(0)
  expect(findLeaks(resumed.output, [SECRET])).toEqual([])
  const later = runs().filter((row) => !new Set(last.values()).has(row.run_id))
  expect(later).toHaveLength(VALUES.length)
  for (const row of later) {
    const metadata = JSON.parse(row.metadata)
    expect(metadata.resumed_from, metadata.vars.dut).toBe(last.get(metadata.vars.dut))
  }
}, 60_000)
