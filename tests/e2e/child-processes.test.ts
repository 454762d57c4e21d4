import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { processesWithMarker } from '../executors/steps.ts'
import { fileStatuses, readStepRows, type StepRow, stepFailure, stepRow } from './run-outcome.ts'
import { createProject, type JsonReport, type TestProject } from './project.ts'

// How scriptlets that behave like programs of the older framework run under `vitest run`:
// they call sys.exit, read stdin, leave background children behind, or write values
// nested too deep. Each recipe gives its steps a 20 s timeout: a step that waited for it
// would make this file far slower than the few seconds it takes.
const MARKER = `vr-e2e-leftover-${process.pid}-${Date.now()}`

const BACKGROUND = `steps:
  - { idx: 1, name: bg, type: shell, cmd: scriptlets/shell/background_child.sh, args: [${MARKER}, '30'], timeout: 20 }
  - { idx: 2, name: after_bg, type: exec, cmd: [echo, '{"status":"ok"}'], timeout: 20 }
`

const STDIN = `steps:
  - name: shell_read
    type: shell
    cmd: scriptlets/shell/reads_stdin.sh
    timeout: 20
    success: { ctx_equals: { stdin.read_v1: { status: 1, line: "" } } }
  - name: python_input
    type: python
    module: scriptlets.python.exits
    class: ReadsInput
    timeout: 20
    depends_on: []
    success: { ctx_equals: { py.stdin_v1: { input: null, read: "", child_read: "" } } }
  - name: python_script_read
    type: python
    script: scriptlets/python/script_exits.py
    args: { code: 0 }
    timeout: 20
    depends_on: []
    success: { ctx_equals: { py.script_exit_v1: { stdin: "" } } }
`

const SYS_EXIT = `steps:
  - { idx: 1, name: exits_3, type: python, module: scriptlets.python.exits, class: ExitsWithCode, args: { code: 3 } }
  - idx: 2
    name: exits_3_expected
    type: python
    module: scriptlets.python.exits
    class: ExitsWithCode
    args: { code: 3 }
    depends_on: []
    expect: { status: error, exit_code: 3, reason_matches: "called sys\\\\.exit\\\\(3\\\\)" }
  - { idx: 3, name: prints_ok_exits_0, type: python, module: scriptlets.python.exits, class: PrintsOkThenExitsZero, depends_on: [] }
  - { idx: 4, name: prints_error_exits_2, type: python, module: scriptlets.python.exits, class: PrintsErrorThenExits, args: { code: 2 }, depends_on: [] }
  - { idx: 5, name: script_exits_3, type: python, script: scriptlets/python/script_exits.py, args: { code: 3 }, depends_on: [] }
  - { idx: 6, name: script_exits_0, type: python, script: scriptlets/python/script_exits.py, args: { code: 0 }, depends_on: [] }
`

const DEEP = `steps:
  - { idx: 1, name: ts_deep, type: ts, module: scriptlets/deep_value.ts }
  - { idx: 2, name: shell_deep, type: shell, cmd: scriptlets/shell/deep_envelope.sh, depends_on: [] }
  - { idx: 3, name: python_deep, type: python, module: scriptlets.python.exits, class: WritesDeepValue, depends_on: [] }
  - { idx: 4, name: ts_deepest_allowed, type: ts, module: scriptlets/deep_value.ts, args: { levels: 1000 }, depends_on: [] }
`

let project: TestProject
let report: JsonReport
let rows: Map<string, StepRow>
let runMs: number
let runOutput: string

beforeAll(async () => {
  project = createProject({
    'recipes/background.yaml': BACKGROUND,
    'recipes/stdin.yaml': STDIN,
    'recipes/sys_exit.yaml': SYS_EXIT,
    'recipes/deep.yaml': DEEP,
    'scriptlets/__init__.py': '',
    'scriptlets/python/__init__.py': '',
  })
  for (const script of ['background_child', 'reads_stdin', 'deep_envelope'])
    project.copyFixture(`shell/${script}.sh`, `scriptlets/shell/${script}.sh`)
  project.copyFixture('python/exits.py', 'scriptlets/python/exits.py')
  project.copyFixture('python/script_exits.py', 'scriptlets/python/script_exits.py')
  project.copyFixture('scriptlets/deep_value.ts', 'scriptlets/deep_value.ts')
  const started = Date.now()
  const run = await project.vitestJson(['recipes/'])
  runMs = Date.now() - started
  leftAfterRun = processesWithMarker(MARKER)
  runOutput = run.output
  report = run.report
  rows = readStepRows(project.root)
})

let leftAfterRun: number[] = []
afterAll(() => {
  // Only if the file-end cleanup failed: this test must not leave the sleep behind either.
  for (const pid of processesWithMarker(MARKER)) process.kill(pid, 'SIGKILL')
  project?.remove()
})

const statuses = (file: string) => fileStatuses(report, file)
const failure = (file: string, step: string) => stepFailure(report, file, step)
const row = (step: string) => stepRow(rows, step)

test('no step waited for its 20 s timeout', () => {
  expect(runMs).toBeLessThan(20_000)
})

describe('background children', () => {
  test('a shell step whose background child holds stdout completes when the script exits', () => {
    expect(statuses('background.yaml')).toEqual({ bg: 'passed', after_bg: 'passed' })
    expect(row('bg')).toMatchObject({ status: 'passed', exit_code: 0 })
    expect(row('bg').duration_ms).toBeLessThan(5000)
  })

  test('what a step left running is stopped when its recipe file ends, and logged', () => {
    expect(leftAfterRun).toEqual([])
    expect(runOutput).toMatch(new RegExp(`stopped pid \\d+ \\(${MARKER} 30\\) left running by step "bg" \\(SIGTERM\\)`))
    const logs = join(project.root, 'Logs')
    const runLogs = readdirSync(logs, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('run.log'))
    expect(runLogs).toHaveLength(1)
    expect(readFileSync(join(logs, runLogs[0]!), 'utf8')).toMatch(/left running by step "bg" \(SIGTERM\)\n$/)
  })
})

describe('stdin', () => {
  test('shell read, python input() and a python script reading stdin get end-of-file at once', () => {
    expect(statuses('stdin.yaml')).toEqual({
      shell_read: 'passed',
      python_input: 'passed',
      python_script_read: 'passed',
    })
    for (const step of ['shell_read', 'python_input', 'python_script_read'])
      expect(row(step).duration_ms).toBeLessThan(5000)
  })
})

describe('sys.exit in python scriptlets', () => {
  test('sys.exit(n) records exit code n; sys.exit(0) after an ok envelope passes', () => {
    expect(statuses('sys_exit.yaml')).toEqual({
      exits_3: 'failed',
      exits_3_expected: 'passed',
      prints_ok_exits_0: 'passed',
      prints_error_exits_2: 'failed',
      script_exits_3: 'failed',
      script_exits_0: 'passed',
    })
    expect(row('exits_3')).toMatchObject({
      status: 'failed',
      exit_code: 3,
      reason: 'the scriptlet called sys.exit(3)',
    })
    expect(row('prints_error_exits_2')).toMatchObject({
      exit_code: 2,
      reason: 'the scriptlet called sys.exit(2): device not reachable',
    })
    expect(row('script_exits_3')).toMatchObject({ status: 'failed', exit_code: 3, reason: 'script gave up' })
    expect(row('prints_ok_exits_0')).toMatchObject({ status: 'passed', exit_code: 0 })
    expect(failure('sys_exit.yaml', 'exits_3')).toContain('failed with exit code 3: the scriptlet called sys.exit(3)')
  })
})

describe('values nested too deep', () => {
  test('a 100,000-deep array written to ctx fails its step with the depth limit, from TS, shell and Python', () => {
    expect(statuses('deep.yaml')).toEqual({
      ts_deep: 'failed',
      shell_deep: 'failed',
      python_deep: 'failed',
      ts_deepest_allowed: 'passed',
    })
    expect(row('ts_deep').reason).toBe(
      'ctx.set("x.deep_v1") by "ts_deep": value is nested deeper than 1000 levels (flatten it, or store it as a file under Data/ and put its path in ctx). The context holds JSON values only.',
    )
    expect(row('shell_deep').reason).toContain(
      'ctx.set("x.deep_v1") by "shell_deep": value is nested deeper than 1000 levels',
    )
    expect(row('python_deep').reason).toContain(
      'ctx.set("x.deep_v1") by "writes_deep_value": value is nested deeper than 1000 levels',
    )
    for (const step of ['ts_deep', 'shell_deep', 'python_deep']) {
      expect(failure('deep.yaml', step)).toContain('nested deeper than 1000 levels')
      expect(failure('deep.yaml', step)).not.toContain('Maximum call stack size exceeded')
    }
  })
})
