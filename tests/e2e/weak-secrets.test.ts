import { afterAll, beforeAll, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, DEFAULT_CONFIG, type TestProject } from './project.ts'

// A secret short or plain enough to be masked inside ordinary words gets a warning when the
// recipe loads: named, never its value; once per recipe file under `vitest run`; a warning
// with exit code 0 from `recipes validate`.
const WEAK = 'sw1tch'
const RECIPE = (id: string) => `test_meta: { test_id: ${id} }
secrets: [SWITCH_PASSWORD, LAB_API]
steps:
  - { idx: 1, name: load, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v1, value: [1, 2] } }
  - { idx: 2, name: again, type: ts, module: scriptlets/set_key.ts, args: { key: numbers.raw_v2, value: [3] } }
`
// LAB_API is long and not a word; SWITCH_PASSWORD is weak; ENABLE_SECRET is found by its name's pattern.
const ENV = { SWITCH_PASSWORD: WEAK, LAB_API: 'k9-Tr4vel-Qz81-xx', ENABLE_SECRET: 'enable' }
const WARNING =
  'RECIPE_WEAK_SECRET warning: the values of the secrets ENABLE_SECRET, SWITCH_PASSWORD are shorter than 8 characters or a plain word'

let project: TestProject
beforeAll(() => {
  project = createProject({
    'recipes/one.yaml': RECIPE('WEAK-1'),
    'recipes/two.yaml': RECIPE('WEAK-2'),
    'scriptlets/set_key.ts': fixtureScriptlets()['scriptlets/set_key.ts']!,
  })
})
afterAll(() => project?.remove())

test('vitest run: one warning per recipe file naming the variables, never the values; the steps still pass', async () => {
  const run = await project.vitest(['run'], { env: ENV })
  expect(run.code, run.output).toBe(0)
  for (const file of ['recipes/one.yaml', 'recipes/two.yaml'])
    expect(run.output.split(`vitest-recipes: ${file}: ${WARNING}`)).toHaveLength(2)
  expect(run.output).toContain('Use a longer secret (8 characters or more, not a plain word)')
  expect(run.output).not.toContain(WEAK)
  expect(run.output).not.toMatch(/\benable\b/)
})

test('recipes validate lists the warning and exits 0; with strong secrets there is none', async () => {
  Object.assign(process.env, ENV)
  try {
    const result = await project.recipes(['validate'])
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toContain(`recipes/one.yaml: ${WARNING}`)
    expect(result.stdout).toContain('are valid (2 warning(s) above)')
    expect(result.output).not.toContain(WEAK)
    process.env.SWITCH_PASSWORD = 'a-much-longer-Switch-pass'
    process.env.ENABLE_SECRET = 'en4ble-Secret-99'
    const strong = await project.recipes(['validate'])
    expect(strong.code).toBe(0)
    expect(strong.output).not.toContain('RECIPE_WEAK_SECRET')
  } finally {
    for (const name of Object.keys(ENV)) delete process.env[name]
  }
})

test('recipes validate warns of weak secrets the project declares with the plugin option secrets (a pattern too)', async () => {
  const declared = createProject(
    {
      'recipes/one.yaml': RECIPE('WEAK-3').replace('secrets: [SWITCH_PASSWORD, LAB_API]\n', ''),
      'scriptlets/set_key.ts': fixtureScriptlets()['scriptlets/set_key.ts']!,
    },
    { config: DEFAULT_CONFIG.replace('recipes()', "recipes({ secrets: ['SWITCH_ENABLE', /^LAB_.*_PIN$/] })") },
  )
  try {
    const result = await declared.recipes(['validate'], { env: { SWITCH_ENABLE: 'en4ble', LAB_RACK_PIN: '4711' } })
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toContain(
      'recipes/one.yaml: RECIPE_WEAK_SECRET warning: the values of the secrets LAB_RACK_PIN, SWITCH_ENABLE are shorter',
    )
    expect(result.output).not.toContain('en4ble')
  } finally {
    declared.remove()
  }
})
