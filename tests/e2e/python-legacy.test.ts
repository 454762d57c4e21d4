import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, type JsonReport, REPO, type TestProject } from './project.ts'

// A project migrated from the older framework: its own core modules (base, logging, resource,
// context) and steps written as its guides show them (tests/fixtures/python/legacy_project).
const FIXTURE = join(REPO, 'tests/fixtures/python/legacy_project')

const LEGACY = `test_meta: { test_id: "T-001", tester: "Alice", description: "older scriptlets, unchanged" }
steps:
  - idx: 1
    name: compute_metrics_mem
    type: python
    module: scriptlets.python.steps.compute_metrics_mem
    function: ComputeMetricsMem
    args: { src: "Data/normalized.csv" }
    success: { ctx_has_keys: [metrics.summary_v1, metrics.columns_v1] }
  - idx: 2
    name: sample_python
    type: python
    module: scriptlets.python.steps.sample_step
    class: SampleStep
    params: { message: "Hello" }
  - { idx: 3, name: port_status, type: python, module: scriptlets.python.steps.older_habits, function: port_status, args: { port: eth0 } }
  - { idx: 4, name: diagnostics, type: python, module: scriptlets.python.steps.older_habits, class: Diagnostics }
  - { idx: 5, name: report_first, type: python, module: scriptlets.python.steps.older_habits, class: Reports, args: { what: first } }
  - { idx: 6, name: report_second, type: python, module: scriptlets.python.steps.older_habits, class: Reports, args: { what: second } }
  - { idx: 7, name: files_and_env, type: python, module: scriptlets.python.steps.older_habits, class: FilesAndEnv }
`
const TUPLE = `steps:
  - { idx: 1, name: port_tuple, type: python, module: scriptlets.python.steps.older_habits, class: PortTuple }
`

function fixtureFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) Object.assign(files, fixtureFiles(path))
    else files[relative(FIXTURE, path)] = readFileSync(path, 'utf8')
  }
  return files
}

let project: TestProject
let report: JsonReport

beforeAll(async () => {
  project = createProject({ ...fixtureFiles(FIXTURE), 'recipes/legacy.yaml': LEGACY, 'recipes/tuple.yaml': TUPLE })
  report = (await project.vitestJson(['recipes/'], { env: { LAB_SITE: 'bldg-7' } })).report
})
afterAll(() => project?.remove())

function resultOf(file: string, step: string) {
  const entry = report.testResults.find((item) => item.name.endsWith(`recipes/${file}`))
  return entry?.assertionResults.find((item) => item.title === step)
}
function stepLog(step: string): string {
  return project.read(resultOf('legacy.yaml', step)?.meta?.recipeStep.logPath)
}

describe('older Python scriptlets run unchanged through a recipe', () => {
  test('every step passes, with what each wrote', () => {
    const legacy = report.testResults.find((item) => item.name.endsWith('recipes/legacy.yaml'))!
    expect(Object.fromEntries(legacy.assertionResults.map((item) => [item.title, item.status]))).toEqual({
      compute_metrics_mem: 'passed',
      sample_python: 'passed',
      port_status: 'passed',
      diagnostics: 'passed',
      report_first: 'passed',
      report_second: 'passed',
      files_and_env: 'passed',
    })
    const writes = (step: string) =>
      resultOf('legacy.yaml', step)?.meta?.recipeStep.writes.map(
        (write: { key: string; who: string; value: unknown }) => [write.key, write.who, write.value],
      )
    expect(writes('port_status')).toEqual([['lab.port_status_v1', 'port_status', { eth0: 'up' }]])
    expect(writes('files_and_env')).toEqual([['lab.site_v1', 'files_and_env', 'bldg-7']])
    expect(project.read('Data/site.txt')).toBe('bldg-7')
    expect(project.read('Logs/files_and_env.log')).toBe('wrote Data/site.txt\n')
  })

  test('what a step printed besides its envelope, a stdout logging handler made at import too, is in its own log', () => {
    expect(stepLog('diagnostics')).toContain("'lab.diag_v1': {'ok': True}")
    expect(stepLog('report_first')).toContain('report line for first')
    expect(stepLog('report_second')).toContain('report line for second')
    expect(stepLog('report_second')).not.toContain('report line for first')
  })

  test('a tuple written to ctx fails its step, naming the step, the key, the writer and the spot', () => {
    const failure = resultOf('tuple.yaml', 'port_tuple')!.failureMessages[0]!.split('\n')[0]
    expect(failure).toMatchInlineSnapshot(
      `"StepFailedError: Step "port_tuple" (python scriptlets.python.steps.older_habits#PortTuple, recipes/tuple.yaml:2) failed with exit code 1: ContextError: ctx.set("lab.ports_v1") by "port_tuple": value.eth0 is a tuple (store a list); the context holds JSON values only"`,
    )
  })
})
