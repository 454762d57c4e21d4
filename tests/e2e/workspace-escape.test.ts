import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, type TestProject } from './project.ts'

// Python code outside the project root never runs through a symlink inside it: a module file,
// a package folder, a package's __init__.py, a python.path folder or a python script that
// links out is refused when the recipe compiles. A python.path folder named by its own path
// outside the root is the user's choice and loads.

/** Outside code that leaves a marker next to itself when Python imports it. */
const OUTSIDE_MODULE = `import os
open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "RAN"), "w").write("imported")


def run(ctx, params):
    return {"status": "ok"}
`
const OUTSIDE_SCRIPT = `import os
open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "RAN"), "w").write("ran")
print('{"status": "ok"}')
`

const step = (name: string, rest: string) => `test_meta: { test_id: ESCAPE-${name} }
steps:
  - { idx: 1, name: ${name}, type: python, ${rest} }
`

let outside: string
let project: TestProject

beforeAll(() => {
  outside = mkdtempSync(join(tmpdir(), 'vitest-recipes-outside-'))
  mkdirSync(join(outside, 'lab'))
  writeFileSync(join(outside, 'lab/outside_step.py'), OUTSIDE_MODULE)
  writeFileSync(join(outside, 'lab/__init__.py'), OUTSIDE_MODULE)
  writeFileSync(join(outside, 'lab/outside_script.py'), OUTSIDE_SCRIPT)
  project = createProject({
    'recipes/linked_file.yaml': step('linked_file', 'module: scriptlets.linked_step'),
    'recipes/linked_folder.yaml': step('linked_folder', 'module: scriptlets.vendor.outside_step'),
    'recipes/linked_init.yaml': step('linked_init', 'module: pkg.inner'),
    'recipes/linked_script.yaml': step('linked_script', 'script: scriptlets/linked_script.py'),
    'pkg/inner.py': 'def run(ctx, params):\n    return {"status": "ok"}\n',
    'scriptlets/__init__.py': '',
  })
  symlinkSync(join(outside, 'lab/outside_step.py'), join(project.root, 'scriptlets/linked_step.py'))
  symlinkSync(join(outside, 'lab'), join(project.root, 'scriptlets/vendor'))
  symlinkSync(join(outside, 'lab/__init__.py'), join(project.root, 'pkg/__init__.py'))
  symlinkSync(join(outside, 'lab/outside_script.py'), join(project.root, 'scriptlets/linked_script.py'))
})
afterAll(() => {
  project?.remove()
  rmSync(outside, { recursive: true, force: true })
})

describe('a python module or script that links outside the root', () => {
  test('recipes validate: exit 3, a located RECIPE_PATH_OUTSIDE_WORKSPACE per recipe', async () => {
    const result = await project.recipes(['validate'])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(
      'recipes/linked_file.yaml:3:56 RECIPE_PATH_OUTSIDE_WORKSPACE: python module "scriptlets.linked_step" loads scriptlets/linked_step.py, which leads outside the project root through a symlink (at steps[0].module)',
    )
    expect(result.stderr).toContain(
      'recipes/linked_folder.yaml:3:58 RECIPE_PATH_OUTSIDE_WORKSPACE: python module "scriptlets.vendor.outside_step" loads scriptlets/vendor/__init__.py, which leads outside',
    )
    // Python runs a package's __init__.py before the module: a linked one is outside code too.
    expect(result.stderr).toContain(
      'recipes/linked_init.yaml:3:56 RECIPE_PATH_OUTSIDE_WORKSPACE: python module "pkg.inner" loads pkg/__init__.py, which leads outside',
    )
    expect(result.stderr).toContain(
      'recipes/linked_script.yaml:3:58 RECIPE_PATH_OUTSIDE_WORKSPACE: script "scriptlets/linked_script.py" is a symlink to a file outside the project root (at steps[0].cmd)',
    )
    expect(result.stderr).toContain('Copy the module into the workspace instead of linking to it')
  })

  test('vitest run: each of those files fails and the outside code never runs', async () => {
    const { report, code } = await project.vitestJson([])
    expect(code).toBe(1)
    const files = report.testResults.map((file) => ({
      file: file.name.slice(file.name.lastIndexOf('/') + 1),
      status: file.status,
      escape: file.message.includes('RECIPE_PATH_OUTSIDE_WORKSPACE'),
    }))
    expect(files.sort((a, b) => a.file.localeCompare(b.file))).toEqual(
      ['linked_file.yaml', 'linked_folder.yaml', 'linked_init.yaml', 'linked_script.yaml'].map((file) => ({
        file,
        status: 'failed',
        escape: true,
      })),
    )
    expect(existsSync(join(outside, 'lab/RAN'))).toBe(false)
  })
})

test('a python.path folder inside the root that links out is refused; one named outside the root loads', async () => {
  const shared = mkdtempSync(join(tmpdir(), 'vitest-recipes-shared-'))
  writeFileSync(join(shared, 'shared_step.py'), OUTSIDE_MODULE)
  const config = (folder: string) => `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

export default defineConfig({ plugins: [recipes({ python: { path: ['.', ${JSON.stringify(folder)}] } })] })
`
  const linked = createProject(
    { 'recipes/shared.yaml': step('shared', 'module: shared_step') },
    { config: config('lib') },
  )
  try {
    symlinkSync(shared, join(linked.root, 'lib'))
    const refused = await linked.recipes(['validate'])
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain(
      'RECIPE_PATH_OUTSIDE_WORKSPACE: python module "shared_step" loads from the python path folder "lib", a symlink to a folder outside the project root',
    )
    // The same folder named by its own path: the user chose to load code from there.
    linked.write('vitest.config.ts', config(shared))
    expect((await linked.recipes(['validate'])).code).toBe(0)
    const run = await linked.vitest(['run'])
    expect(run.code, run.output).toBe(0)
    expect(existsSync(join(shared, 'RAN'))).toBe(true)
  } finally {
    linked.remove()
    rmSync(shared, { recursive: true, force: true })
  }
})
