import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { processesWithMarker } from '../executors/steps.ts'
import { createProject, type RunResult, type TestProject } from './project.ts'

// Each recipe's last step starts a process that would outlive it: one that ignores
// SIGTERM, one that left the step's process group and session (setsid), one a Python
// scriptlet Popened in a session of its own. A timeout of 1 s ends the steps that hang.
const RUN = `${process.pid}-${Date.now()}`
const marker = (name: string) => `vr-e2e-tree-${name}-${RUN}`

// Three files (each vitest file costs a worker start), each ending with a step that hangs.
const FILES = {
  'recipes/stubborn.yaml': `steps:
  - { idx: 1, name: first, type: exec, cmd: [echo, '{"status":"ok"}'] }
  - { idx: 2, name: stubborn, type: shell, cmd: scriptlets/shell/stubborn_grandchild.sh, args: [${marker('stubborn')}], timeout: 1 }
`,
  // A passing step that leaves a setsid child behind (stopped when the file ends), then one that times out.
  'recipes/setsid.yaml': `steps:
  - { idx: 1, name: setsid_left, type: shell, cmd: scriptlets/shell/setsid_child.sh, args: [${marker('setsid-left')}, exit] }
  - { idx: 2, name: setsid, type: shell, cmd: scriptlets/shell/setsid_child.sh, args: [${marker('setsid')}], timeout: 1 }
`,
  // The step after a timed-out one looks for its processes: they must be dead when the timeout is reported.
  'recipes/popen.yaml': `steps:
  - { idx: 1, name: stubborn_checked, type: shell, cmd: scriptlets/shell/stubborn_grandchild.sh, args: [${marker('checked')}], timeout: 1 }
  - { idx: 2, name: check, type: shell, cmd: scriptlets/shell/no_process_with.sh, args: [${marker('checked')}], depends_on: [] }
  - { idx: 3, name: popen, type: python, module: scriptlets.python.processes, class: PopensSleeper, args: { marker: ${marker('popen')} }, timeout: 1, depends_on: [] }
`,
  'scriptlets/__init__.py': '',
  'scriptlets/python/__init__.py': '',
}

const NAMES = ['stubborn', 'setsid', 'setsid-left', 'popen', 'checked']

interface StepRow {
  step: string
  status: string
  reason: string | null
  duration_ms: number
}

let project: TestProject
let run: RunResult
let rows: Map<string, StepRow>
const left = new Map<string, number[]>()

beforeAll(async () => {
  project = createProject(FILES)
  for (const script of ['stubborn_grandchild', 'setsid_child', 'no_process_with'])
    project.copyFixture(`shell/${script}.sh`, `scriptlets/shell/${script}.sh`)
  project.copyFixture('python/processes.py', 'scriptlets/python/processes.py')
  run = await project.vitest(['run', 'recipes/'])
  // Right after `vitest run` returned: nothing may be left, not even for a moment.
  for (const name of NAMES) left.set(name, processesWithMarker(marker(name)))
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const all = db.prepare('SELECT step, status, reason, duration_ms FROM step_metrics').all() as StepRow[]
    rows = new Map(all.map((row) => [row.step, row]))
  } finally {
    db.close()
  }
}, 60_000)

afterAll(() => {
  // Only if the guarantee failed: this test must not leave the sleepers behind either.
  for (const name of NAMES) for (const pid of processesWithMarker(marker(name))) process.kill(pid, 'SIGKILL')
  project?.remove()
})

function row(step: string): StepRow {
  const found = rows.get(step)
  if (!found) throw new Error(`no step_metrics row for ${step}:\n${run.output}`)
  return found
}

test('a timed-out last step whose grandchild ignores SIGTERM leaves no process behind', () => {
  expect(row('stubborn')).toMatchObject({ status: 'failed', reason: 'timed out after 1 s' })
  expect(left.get('stubborn')).toEqual([])
})

test('a timed-out last step whose child called setsid leaves no process behind', () => {
  expect(row('setsid')).toMatchObject({ status: 'failed', reason: 'timed out after 1 s' })
  expect(left.get('setsid')).toEqual([])
})

test('a timed-out last Python step whose scriptlet Popened a sleeper in its own session leaves none behind', () => {
  expect(row('popen')).toMatchObject({ status: 'failed', reason: 'timed out after 1 s' })
  expect(left.get('popen')).toEqual([])
})

test("a passing step's setsid child is stopped when its recipe file ends (not by another step's timeout), and named", () => {
  expect(row('setsid_left')).toMatchObject({ status: 'passed' })
  expect(left.get('setsid-left')).toEqual([])
  expect(run.output).toMatch(
    new RegExp(`stopped pid \\d+ \\(${marker('setsid-left')} 30\\) left running by step "setsid_left" \\(SIGTERM\\)`),
  )
})

test('a timed-out step is reported once its processes are dead, within the kill grace', () => {
  expect(row('stubborn_checked')).toMatchObject({ status: 'failed', reason: 'timed out after 1 s' })
  expect(row('check')).toMatchObject({ status: 'passed' })
  // 1 s of timeout, at most 1 s for SIGTERM to work and 1 s for SIGKILL; no wait for the 30 s sleeps.
  for (const step of ['stubborn', 'setsid', 'popen', 'stubborn_checked'])
    expect(row(step).duration_ms).toBeLessThan(3500)
})
