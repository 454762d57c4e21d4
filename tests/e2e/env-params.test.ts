import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, type TestProject } from './project.ts'

// A shell, exec or python script step gets its mapping args as environment variables. Names
// that change how an interpreter starts or finds programs (BASH_ENV, NODE_OPTIONS, PATH,
// LD_PRELOAD, PYTHON*, ...) would run code from anywhere: they are refused when the recipe
// compiles, at the line of the arg, in any letter case; `recipes step --params` refuses them too.

const OK_SCRIPT = `#!/bin/bash
# NAME: ok.sh
echo '{"status":"ok"}'
`

let outside: string
let project: TestProject
const marker = () => join(outside, 'RAN')

beforeAll(() => {
  outside = mkdtempSync(join(tmpdir(), 'vitest-recipes-outside-'))
  // Outside code that leaves a marker when something runs it.
  writeFileSync(join(outside, 'evil.sh'), `echo bash >> ${JSON.stringify(marker())}\n`)
  writeFileSync(join(outside, 'evil.cjs'), `require('fs').appendFileSync(${JSON.stringify(marker())}, 'node\\n')\n`)
  project = createProject({
    'scriptlets/shell/ok.sh': OK_SCRIPT,
    'recipes/side_doors.yaml': `test_meta: { test_id: SIDE-DOORS }
steps:
  - name: shell_step
    type: shell
    cmd: scriptlets/shell/ok.sh
    args:
      LABEL: fine
      BASH_ENV: ${join(outside, 'evil.sh')}
  - name: exec_step
    type: exec
    cmd: [node, -e, "console.log(JSON.stringify({status: 'ok'}))"]
    args: { NODE_OPTIONS: "--require ${join(outside, 'evil.cjs')}", Ld_Preload: /x.so }
`,
  })
  chmodSync(join(project.root, 'scriptlets/shell/ok.sh'), 0o755)
})
afterAll(() => {
  project?.remove()
  rmSync(outside, { recursive: true, force: true })
})

test('vitest run: the recipe fails at the line of each refused arg, and nothing outside runs', async () => {
  const result = await project.vitest(['run'])
  expect(result.code, result.output).toBe(1)
  expect(result.output).toContain(
    `recipes/side_doors.yaml:8:7 RECIPE_REFUSED_ENV_NAME: step "shell_step" gives "BASH_ENV", which would become the step's environment variable BASH_ENV: bash runs the file it names before the script (at steps[0].args.BASH_ENV)`,
  )
  expect(result.output).toContain('  8 |       BASH_ENV:')
  expect(result.output).toContain('Give the parameter another name (for example STEP_BASH_ENV)')
  expect(result.output).toContain(
    'recipes/side_doors.yaml:12:13 RECIPE_REFUSED_ENV_NAME: step "exec_step" gives "NODE_OPTIONS"',
  )
  // A case variant is a mistake or an attack: refused too, saying which name it stands for.
  expect(result.output).toContain('step "exec_step" gives "Ld_Preload", a case variant of LD_PRELOAD')
  expect(existsSync(marker())).toBe(false)
})

test('recipes step --params: a refused name is an invalid input (exit 3) and nothing outside runs', async () => {
  const result = await project.recipes([
    'step',
    'scriptlets/shell/ok.sh',
    '--params',
    JSON.stringify({ BASH_ENV: join(outside, 'evil.sh') }),
  ])
  expect(result.code, result.output).toBe(3)
  const envelope = JSON.parse(result.stdout.trim()) as { status: string; reason: string }
  expect(envelope.status).toBe('error')
  expect(envelope.reason).toContain(
    `parameter "BASH_ENV", which would become the step's environment variable BASH_ENV: bash runs the file it names`,
  )
  expect(existsSync(marker())).toBe(false)
})
