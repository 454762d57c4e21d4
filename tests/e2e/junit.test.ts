import { afterAll, beforeAll, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, type TestProject } from './project.ts'

// The JUnit configuration the README gives for CI: one testcase per step, named after the
// step, with the recipe as classname; blocked steps are skipped, failures carry the reason.
let project: TestProject
beforeAll(() => {
  project = createProject(
    {
      ...fixtureScriptlets(),
      'recipes/lab.yaml': `steps:
  - { idx: 1, name: power_on, type: ts, module: scriptlets/set_key.ts, args: { key: dut.power_v1, value: on } }
  - { idx: 2, name: link_up, type: ts, module: scriptlets/set_key.ts, args: { key: dut.link_v1, fail: "no carrier on eth0" } }
  - { idx: 3, name: throughput, type: ts, module: scriptlets/set_key.ts, args: { key: dut.gbps_v1, value: 100 } }
`,
    },
    {
      config: `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

export default defineConfig({
  plugins: [recipes()],
  test: { reporters: ['default', 'junit'], outputFile: { junit: 'reports/junit.xml' } },
})
`,
    },
  )
})
afterAll(() => project?.remove())

test('JUnit: a testcase per step, classname = recipe, the failure reason, blocked steps skipped', async () => {
  const result = await project.vitest(['run'])
  expect(result.code).toBe(1)
  const xml = project.read('reports/junit.xml')
  expect(xml).toContain('<testcase classname="recipes/lab.yaml" name="power_on"')
  // The step's annotations come first, as Vitest writes them: JUnit properties (the reason, the log).
  expect(xml).toMatch(
    /<testcase classname="recipes\/lab.yaml" name="link_up"[^>]*>\s*<properties>\s*<property name="error" value="failed: no carrier on eth0 \(log: Logs\/[^"]*\/2_link_up.log\)">\s*<\/property>\s*<property name="notice" value="log: 2_link_up.log">\s*<\/property>\s*<\/properties>\s*<failure message="[^"]*no carrier on eth0/,
  )
  expect(xml).toMatch(/<testcase classname="recipes\/lab.yaml" name="throughput"[^>]*>\s*<skipped/)
})

test('JUnit: a blocked step says why it was skipped (the skip note in its <skipped message>)', () => {
  const xml = project.read('reports/junit.xml')
  expect(xml).toMatch(
    /<testcase classname="recipes\/lab.yaml" name="throughput"[^>]*>\s*<skipped message="blocked: link_up failed"\/>/,
  )
})
