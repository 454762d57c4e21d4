import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, type JsonReport, REPO, type TestProject } from './project.ts'

// What a child-process or python step starts with: the context file shell steps read
// (one per recipe file, rewritten when the context changed, removed at its end) and the
// python host started while Vitest collects the recipe file (taken over by its first
// python step; never left behind by `vitest list`).
const RECIPES: Record<string, string> = {
  'recipes/ctx_files.yaml': `test_meta: { test_id: CTX-FILES }
steps:
  - { idx: 1, name: first, type: shell, cmd: scriptlets/ctx_file.sh, args: { KEY: files.first_v1 } }
  - { idx: 2, name: second, type: shell, cmd: scriptlets/ctx_file.sh, args: { KEY: files.second_v1 } }
  - { idx: 3, name: third, type: shell, cmd: scriptlets/ctx_file.sh, args: { KEY: files.third_v1 } }
`,
  'recipes/prestart.yaml': `test_meta: { test_id: PRESTART }
steps:
  - { idx: 1, name: wait, type: ts, module: scriptlets/timing.ts, function: Wait, args: { key: prestart.waited_v1, ms: 1500 } }
  - { idx: 2, name: age, type: python, module: scriptlets.host_age, function: host_age, args: { key: prestart.host_v1 } }
`,
  'recipes/env_change.yaml': `test_meta: { test_id: ENV-CHANGE }
steps:
  - { idx: 1, name: set_env, type: ts, module: scriptlets/set_env.ts, args: { value: fetched-by-step-one } }
  - { idx: 2, name: age, type: python, module: scriptlets.host_age, function: host_age, args: { key: env_change.host_v1 } }
`,
  'scriptlets/set_env.ts': `import { defineScriptlet } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'set_env',
  run(ctx, params, { step }) {
    process.env.LAB_PRESTART_TOKEN = String(params.value)
    ctx.set('env_change.set_v1', true, { who: step })
  },
})
`,
  'scriptlets/__init__.py': '',
}

let project: TestProject
let tmp: string

beforeAll(() => {
  project = createProject(RECIPES)
  project.copyFixture('shell/ctx_file.sh', 'scriptlets/ctx_file.sh')
  project.copyFixture('python/host_age.py', 'scriptlets/host_age.py')
  project.copyFixture('scriptlets/timing.ts', 'scriptlets/timing.ts')
  // The run's own temp dir (TMPDIR): what the steps leave there is all this test's.
  tmp = join(project.root, 'tmp')
  mkdirSync(tmp)
})
afterAll(() => project?.remove())

/** Python hosts (python/recipes_host.py) running in the project's root. */
function pythonHostsOf(root: string): number[] {
  const real = realpathSync(root)
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('recipes_host.py') &&
          readlinkSync(`/proc/${pid}/cwd`) === real
        )
      } catch {
        return false
      }
    })
    .map(Number)
}

/** The hosts still running after up to `ms` (a host ends a moment after its stdin closes). */
async function pythonHostsAfter(ms: number): Promise<number[]> {
  const deadline = Date.now() + ms
  let hosts = pythonHostsOf(project.root)
  while (hosts.length > 0 && Date.now() < deadline) {
    await sleep(100)
    hosts = pythonHostsOf(project.root)
  }
  return hosts
}

describe('vitest list', () => {
  test('leaves no python host and no run behind, though it loads recipes with python steps', async () => {
    const listed = await project.vitest(['list', 'recipes/prestart.yaml'], { env: { TMPDIR: tmp } })
    expect(listed.code).toBe(0)
    expect(listed.output).toContain('prestart.yaml > age')
    expect(await pythonHostsAfter(5000)).toEqual([])
    expect(existsSync(join(project.root, 'reports/results.sqlite'))).toBe(false)
  })
})

test('a prestarted host keeps no process alive: a Node process that started one ends by itself, and the host with it', async () => {
  const program = `import { prestartPythonHost } from ${JSON.stringify(join(REPO, 'dist/executors/python-host-process.js'))}
prestartPythonHost({ executable: 'python3', path: [], root: ${JSON.stringify(project.root)} })
console.log('prestarted')`
  const node = spawnSync(process.execPath, ['--input-type=module', '-e', program], {
    cwd: project.root,
    encoding: 'utf8',
    timeout: 20_000,
  })
  expect(node.error).toBeUndefined()
  expect([node.status, node.stdout.trim()]).toEqual([0, 'prestarted'])
  expect(await pythonHostsAfter(5000)).toEqual([])
})

describe('a run', () => {
  let report: JsonReport
  beforeAll(async () => {
    const run = await project.vitestJson(['recipes/'], { env: { TMPDIR: tmp } })
    expect(run.code, run.output).toBe(0)
    report = run.report
  })
  const writesOf = (file: string, step: string): Record<string, any> => {
    const entry = report.testResults.find((item) => item.name.endsWith(`recipes/${file}`))
    const meta = entry?.assertionResults.find((item) => item.title === step)?.meta?.recipeStep
    // Each key is written once per run here: the meta carries its value.
    return Object.fromEntries(meta.writes.map((write: { key: string; value: unknown }) => [write.key, write.value]))
  }

  test('shell steps read the context as it is when they start, from one file removed at the end of the recipe file', () => {
    const first = writesOf('ctx_files.yaml', 'first')['files.first_v1']
    const second = writesOf('ctx_files.yaml', 'second')['files.second_v1']
    const third = writesOf('ctx_files.yaml', 'third')['files.third_v1']
    expect(first.ctx).toEqual({})
    expect(second.ctx).toEqual({ 'files.first_v1': first })
    expect(third.ctx).toEqual({ 'files.first_v1': first, 'files.second_v1': second })
    expect(first.path.startsWith(`${tmp}/vitest-recipes-ctx-`)).toBe(true)
    expect(first.path.endsWith('/ctx.json')).toBe(true)
    expect([second.path, third.path]).toEqual([first.path, first.path])
    expect(readdirSync(tmp).filter((entry) => entry.startsWith('vitest-recipes-ctx-'))).toEqual([])
  })

  test('the first python step runs in the host started while Vitest collected the file, not in one it waits for', () => {
    // The host was up before the 1.5 s step in front of the python step began.
    expect(writesOf('prestart.yaml', 'age')['prestart.host_v1']).toMatchObject({
      age_ms: expect.any(Number),
      env: null,
    })
    expect(writesOf('prestart.yaml', 'age')['prestart.host_v1'].age_ms).toBeGreaterThan(1400)
  })

  test('a host started before a step changed process.env is not used: the python step sees the change', () => {
    expect(writesOf('env_change.yaml', 'age')['env_change.host_v1']).toMatchObject({ env: 'fetched-by-step-one' })
  })

  test('no python host outlives the run', async () => {
    expect(await pythonHostsAfter(5000)).toEqual([])
  })
})
