import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, type JsonReport, type RunResult, SET_KEY_SCRIPTLET, type TestProject } from './project.ts'

// One procedure for many devices: the DUT comes from outside (environment, --var), reaches
// args, resources and an exec step's argv (never through a shell), and the run records it.
const DEVICE = `test_meta:
  test_id: device
  description: "configure \${{ vars.dut }}"
  tags: ["\${{ vars.dut }}", lab]
vars:
  dut: rack1-sw1
  port_count: 48
  note: { description: free text for the argv, default: none }
resources: ["dut:\${{ vars.dut }}"]
steps:
  - name: configure
    type: ts
    module: scriptlets/set_key.ts
    resources: ["port:\${{ vars.dut }}/1"]
    args:
      key: device.config_v1
      value: { dut: "\${{ vars.dut }}", ports: "\${{ vars.port_count }}", label: "\${{ vars.dut }} x\${{ vars.port_count }}" }
  - name: show_argv
    type: exec
    cmd: [node, scriptlets/argv.mjs, "\${{ vars.dut }}", "--note=\${{ vars.note }}"]
    save: { device.argv_v1: argv }
`
const UNKNOWN = `vars:
  dut: rack1-sw1
steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.a_v1, value: "at \${{ vars.nope }}" }
`
const UNSET = `vars:
  switch_ip: { description: address of the switch under test }
steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    args:
      key: demo.a_v1
      value: "\${{ vars.switch_ip }}"
`
const GOOD = `steps:
  - name: a
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.a_v1, value: 1 }
`
const ARGV = `console.log(JSON.stringify({ status: 'ok', argv: process.argv.slice(2) }))\n`
const SECRET = 'pa55-w0rd-9f3k'
const NOTE = `it's "quoted" $(touch pwned) \`touch pwned2\` a  b; rm -rf x`

let project: TestProject
let first: RunResult & { report: JsonReport }
let second: RunResult

beforeAll(async () => {
  project = createProject({
    'recipes/device.yaml': DEVICE,
    'recipes/unknown_var.yaml': UNKNOWN,
    'recipes/unset_var.yaml': UNSET,
    'recipes/good.yaml': GOOD,
    'scriptlets/set_key.ts': SET_KEY_SCRIPTLET,
    'scriptlets/argv.mjs': ARGV,
  })
  const env = { RECIPES_VAR_DUT: 'rack1-sw2', RECIPES_VAR_NOTE: NOTE }
  first = await project.vitestJson(['recipes/'], { env })
  // A value given from outside may hold a secret (here LAB_PASSWORD's): it is masked in the record.
  second = await project.recipes(
    ['run', 'recipes/device.yaml', '--var', 'dut=rack9-sw9', '--var=port_count=24', `--var=note=${SECRET}`],
    { env: { ...env, LAB_PASSWORD: SECRET } },
  )
}, 120_000)
afterAll(() => project?.remove())

function runs(): { runId: string; metadata: Record<string, any> }[] {
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    return (
      db.prepare("SELECT run_id, metadata FROM runs WHERE test_id = 'device' ORDER BY start_time").all() as {
        run_id: string
        metadata: string
      }[]
    ).map((row) => ({ runId: row.run_id, metadata: JSON.parse(row.metadata) }))
  } finally {
    db.close()
  }
}

function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    return db.prepare(sql).all(...params) as T[]
  } finally {
    db.close()
  }
}

function messageOf(file: string): string {
  const result = first.report.testResults.find((entry) => entry.name.endsWith(file))
  if (!result) throw new Error(`no result for ${file}:\n${first.output}`)
  return result.message
}

test('a var from the environment reaches args (keeping a number a number), resources and the metadata', () => {
  const device = first.report.testResults.find((entry) => entry.name.endsWith('device.yaml'))
  expect(
    device?.assertionResults.map((item) => [item.title, item.status]),
    first.output,
  ).toEqual([
    ['configure', 'passed'],
    ['show_argv', 'passed'],
  ])
  const [run] = runs()
  expect(run!.metadata.vars).toEqual({ dut: 'rack1-sw2', port_count: 48, note: NOTE })
  expect(run!.metadata.test_meta).toMatchObject({ description: 'configure rack1-sw2', tags: ['rack1-sw2', 'lab'] })
  const [config] = query<{ value: string }>(
    "SELECT value FROM context_snapshots WHERE run_id = ? AND key = 'device.config_v1'",
    run!.runId,
  )
  expect(JSON.parse(config!.value)).toEqual({ dut: 'rack1-sw2', ports: 48, label: 'rack1-sw2 x48' })
  const held = query<{ resource: string }>('SELECT DISTINCT resource FROM resource_holds WHERE run_id = ?', run!.runId)
  expect(held.map((row) => row.resource).sort()).toEqual(['dut:rack1-sw2', 'port:rack1-sw2/1'])
})

test('a value with quotes, $(...), backticks and spaces reaches an exec step argv verbatim, no shell', () => {
  const [run] = runs()
  const [argv] = query<{ value: string }>(
    "SELECT value FROM context_snapshots WHERE run_id = ? AND key = 'device.argv_v1'",
    run!.runId,
  )
  expect(JSON.parse(argv!.value)).toEqual(['rack1-sw2', `--note=${NOTE}`])
  expect(existsSync(join(project.root, 'pwned'))).toBe(false)
  expect(existsSync(join(project.root, 'pwned2'))).toBe(false)
})

test('unknown and unset vars fail their recipe at their line:column; the other recipes run', () => {
  const good = first.report.testResults.find((entry) => entry.name.endsWith('good.yaml'))
  expect(good?.assertionResults.map((item) => item.status)).toEqual(['passed'])
  expect(first.code).toBe(1)
  expect(messageOf('unknown_var.yaml')).toMatchInlineSnapshot(`
    "recipes/unknown_var.yaml:7:40 RECIPE_UNKNOWN_VAR: "nope" is not a var of this recipe (at steps[0].args.value)
      7 |     args: { key: demo.a_v1, value: "at \${{ vars.nope }}" }
        |                                        ^^^^^^^^^^^^^^^^
      Declare it under vars: (for example vars: { nope: <default> }); this recipe's vars: dut."
  `)
  expect(messageOf('unset_var.yaml')).toMatchInlineSnapshot(`
    "recipes/unset_var.yaml:9:15 RECIPE_UNSET_VAR: var "switch_ip" is not set: it has no default and no value was given (at steps[0].args.value)
      9 |       value: "\${{ vars.switch_ip }}"
        |               ^^^^^^^^^^^^^^^^^^^^^
      Give it with recipes run --var switch_ip=..., the environment variable RECIPES_VAR_SWITCH_IP or the plugin option vars, or give it a default under vars:."
  `)
})

test('recipes run --var wins over the environment; the report and recipes history show the values, secrets masked', async () => {
  expect(second.code, second.output).toBe(0)
  const [, run] = runs()
  expect(run!.metadata.vars).toEqual({ dut: 'rack9-sw9', port_count: 24, note: '***' })
  expect(run!.metadata.vars_from).toEqual({ dut: 'cli', port_count: 'cli', note: 'cli' })
  const held = query<{ resource: string }>('SELECT DISTINCT resource FROM resource_holds WHERE run_id = ?', run!.runId)
  expect(held.map((row) => row.resource).sort()).toEqual(['dut:rack9-sw9', 'port:rack9-sw9/1'])
  const report = readFileSync(join(project.root, 'reports', run!.runId, 'report.md'), 'utf8')
  expect(report).toContain('| vars | dut=rack9-sw9, port_count=24, note=*** |')
  expect(report).not.toContain(SECRET)
  const history = await project.recipes(['history', 'device', '--var', 'dut=rack9-sw9', '--json'])
  expect(history.code, history.output).toBe(0)
  expect(JSON.parse(history.stdout).runs.map((item: { runId: string }) => item.runId)).toEqual([run!.runId])
})

test('a value that is not of its var type is refused, naming the var and where the value came from', async () => {
  const bad = await project.recipes(['run', 'recipes/device.yaml', '--var', 'port_count=many'])
  expect(bad.code).toBe(3)
  expect(bad.output).toContain('port_count')
  expect(bad.output).toContain('--var port_count=many')
  // A misspelt name is refused by every command that takes --var, not run with the default by plan or validate.
  for (const command of ['run', 'plan', 'validate']) {
    const unknown = await project.recipes([command, 'recipes/device.yaml', '--var', 'dtu=x'])
    expect(unknown.code, `recipes ${command}: ${unknown.output}`).toBe(3)
    expect(unknown.output).toContain('no selected recipe declares a var named "dtu"; did you mean "dut"')
  }
})

test('recipes validate reports unknown and unset vars at their line:column; --var sets one', async () => {
  const bad = await project.recipes(['validate', 'recipes/unknown_var.yaml', 'recipes/unset_var.yaml'])
  expect(bad.code).toBe(3)
  expect(bad.output).toContain('recipes/unknown_var.yaml:7:40 RECIPE_UNKNOWN_VAR')
  expect(bad.output).toContain('recipes/unset_var.yaml:9:15 RECIPE_UNSET_VAR')
  const given = await project.recipes(['validate', 'recipes/unset_var.yaml', '--var', 'switch_ip=10.0.0.1'])
  expect(given.output).not.toContain('RECIPE_UNSET_VAR')
  expect(given.code, given.output).toBe(0)
})
