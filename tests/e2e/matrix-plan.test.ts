import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, type TestProject } from './project.ts'

// Planning and validating a matrix recipe: every combination is planned and checked with its
// own values, not only the first one.
const SET = `import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'set',
  params: z.object({ key: z.string(), value: z.string(), speed: z.number().int().optional() }),
  run(ctx, { key, value }, { step }) {
    ctx.set(key, value, { who: step })
    return { outputs: [key] }
  },
})
`
const SWITCHES = `test_meta: { test_id: SW, description: "qualify \${{ vars.dut }}" }
vars:
  dut: { description: the switch under test }
  speed: 10
  ports: 48
matrix:
  dut: [rack1-sw1, rack1-sw2]
  speed: [10, 100]
  exclude: [{ dut: rack1-sw2, speed: 100 }]
  include: [{ dut: lab-sw9, speed: 1 }]
matrix_parallel: 2
resources: ["dut:\${{ vars.dut }}"]
steps:
  - name: configure
    type: ts
    module: scriptlets/set.ts
    args: { key: demo.configured_v1, value: "\${{ vars.dut }}", speed: "\${{ vars.speed }}" }
  - name: probe
    type: ts
    module: scriptlets/set.ts
    depends_on: [configure]
    resources: ["port:\${{ vars.dut }}-\${{ vars.ports }}"]
    args: { key: demo.probe_v1, value: fixed }
`
// Only some combinations' values are wrong: a resource name with a space, a speed that is no integer.
const BAD_RESOURCE = `vars:
  dut: { description: the switch under test }
matrix:
  dut: ["rack 9", rack1-sw1, "lab sw"]
resources: ["dut:\${{ vars.dut }}"]
steps:
  - { name: configure, type: ts, module: scriptlets/set.ts, args: { key: demo.c_v1, value: x } }
`
const BAD_ARG = `vars:
  dut: { description: the switch under test }
  speed: 10
matrix:
  dut: [rack1-sw1]
  speed: [10, 2.5]
steps:
  - name: configure
    type: ts
    module: scriptlets/set.ts
    args: { key: demo.c_v1, value: "\${{ vars.dut }}", speed: "\${{ vars.speed }}" }
`
const UNSET = `vars:
  dut: { description: the switch under test }
  site: { description: the lab }
matrix:
  dut: [rack1-sw1, rack1-sw2]
resources: ["dut:\${{ vars.site }}-\${{ vars.dut }}"]
steps:
  - { name: configure, type: ts, module: scriptlets/set.ts, args: { key: demo.c_v1, value: "\${{ vars.dut }}" } }
`

let project: TestProject
beforeAll(() => {
  project = createProject({
    'scriptlets/set.ts': SET,
    'recipes/switches.yaml': SWITCHES,
    'recipes/bad_resource.yaml': BAD_RESOURCE,
    'recipes/bad_arg.yaml': BAD_ARG,
    'recipes/unset.yaml': UNSET,
  })
})
afterAll(() => project.remove())

interface JsonPlan {
  steps: { name: string }[]
  matrix: {
    parallel: number
    combinations: {
      label: string
      values: Record<string, unknown>
      testId: string
      description?: string
      resources: string[]
      steps: { name: string; level: number; action: string; resources: string[]; args: unknown }[]
    }[]
  }
}

describe('recipes plan of a matrix recipe', () => {
  test('text: every combination by its values, with what its values make of the resources and args', async () => {
    const result = await project.recipes(['plan', 'recipes/switches.yaml'])
    expect(result.stderr).not.toContain('RECIPE_')
    expect(result.code).toBe(0)
    const text = result.stdout
    // In matrix order, each with its values as its group of tests is named, and what they make of the recipe.
    expect(text).toMatchInlineSnapshot(`
      "recipes/switches.yaml — SW
      matrix: 4 combinations, 2 side by side
      level 1
          1 configure                    run      ts  (line 14)
      level 2
          2 probe                        run      ts; needs configure  (line 18)
      combinations:
        dut=rack1-sw1, speed=10 — qualify rack1-sw1
          resources: dut:rack1-sw1
          configure args: {"key":"demo.configured_v1","value":"rack1-sw1","speed":10}
          probe resources: port:rack1-sw1-48
        dut=rack1-sw1, speed=100 — qualify rack1-sw1
          resources: dut:rack1-sw1
          configure args: {"key":"demo.configured_v1","value":"rack1-sw1","speed":100}
          probe resources: port:rack1-sw1-48
        dut=rack1-sw2, speed=10 — qualify rack1-sw2
          resources: dut:rack1-sw2
          configure args: {"key":"demo.configured_v1","value":"rack1-sw2","speed":10}
          probe resources: port:rack1-sw2-48
        dut=lab-sw9, speed=1 — qualify lab-sw9
          resources: dut:lab-sw9
          configure args: {"key":"demo.configured_v1","value":"lab-sw9","speed":1}
          probe resources: port:lab-sw9-48
      "
    `)
  })

  test('json: one entry per combination, its values substituted', async () => {
    const result = await project.recipes(['plan', 'recipes/switches.yaml', '--format', 'json', '--only', 'probe'])
    expect(result.code).toBe(0)
    const plan = JSON.parse(result.stdout) as JsonPlan
    expect(plan.steps.map((step) => step.name)).toEqual(['configure', 'probe'])
    expect(plan.matrix.parallel).toBe(2)
    expect(plan.matrix.combinations.map((combination) => combination.label)).toEqual([
      'dut=rack1-sw1, speed=10',
      'dut=rack1-sw1, speed=100',
      'dut=rack1-sw2, speed=10',
      'dut=lab-sw9, speed=1',
    ])
    const last = plan.matrix.combinations[3]!
    expect(last.values).toEqual({ dut: 'lab-sw9', speed: 1 })
    expect(last.testId).toBe('SW')
    expect(last.description).toBe('qualify lab-sw9')
    expect(last.resources).toEqual(['dut:lab-sw9'])
    expect(last.steps.map((step) => [step.name, step.action, step.resources])).toEqual([
      ['configure', 'setup', []],
      ['probe', 'run', ['port:lab-sw9-48']],
    ])
    expect(last.steps[0]!.args).toEqual({ key: 'demo.configured_v1', value: 'lab-sw9', speed: 1 })
  })

  test('--var gives every combination a value the matrix does not set, and says a matrix var it sets is not used', async () => {
    const given = await project.recipes(['plan', 'recipes/switches.yaml', '--var', 'ports=24'])
    expect(given.code).toBe(0)
    expect(given.stdout).toContain('port:rack1-sw1-24')
    expect(given.stdout).toContain('port:lab-sw9-24')
    expect(given.stdout).not.toContain('-48')
    const overridden = await project.recipes(['plan', 'recipes/switches.yaml', '--var', 'dut=rack7-sw7'])
    expect(overridden.code).toBe(0)
    expect(overridden.stdout).not.toContain('rack7-sw7')
    expect(overridden.stderr).toContain('is not used: the matrix gives dut its values')
    const unset = await project.recipes(['plan', 'recipes/unset.yaml'])
    expect(unset.code).toBe(3)
    expect(unset.stderr).toContain('var "site" is not set')
    const set = await project.recipes(['plan', 'recipes/unset.yaml', '--var', 'site=lab1'])
    expect(set.code).toBe(0)
    expect(set.stdout).toContain('dut:lab1-rack1-sw2')
  })

  test('refuses a combination whose args its scriptlet refuses, naming the combination', async () => {
    const result = await project.recipes(['plan', 'recipes/bad_arg.yaml'])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain('combination dut=rack1-sw1, speed=2.5')
    expect(result.stderr).not.toContain('speed=10)')
  })
})

describe('recipes validate of a matrix recipe', () => {
  test('a resource name only some combinations make invalid: each named, the first one too, in one round', async () => {
    const result = await project.recipes(['validate', 'recipes/bad_resource.yaml'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatchInlineSnapshot(`
      "2 problems found:

      recipes/bad_resource.yaml:5:13 RECIPE_SCHEMA: a resource is kind:name, for example dut:rack3-sw1; with its vars it reads "dut:rack 9" (combination dut=rack 9) (at resources[0])
        5 | resources: ["dut:\${{ vars.dut }}"]
          |             ^^^^^^^^^^^^^^^^^^^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values.

      recipes/bad_resource.yaml:5:13 RECIPE_SCHEMA: a resource is kind:name, for example dut:rack3-sw1; with its vars it reads "dut:lab sw" (combination dut=lab sw) (at resources[0])
        5 | resources: ["dut:\${{ vars.dut }}"]
          |             ^^^^^^^^^^^^^^^^^^^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values.
      "
    `)
  })

  test('args a scriptlet refuses for one combination only', async () => {
    const result = await project.recipes(['validate', 'recipes/bad_arg.yaml'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/parameter "speed" of step "configure".*\(combination dut=rack1-sw1, speed=2\.5\)/)
    expect(result.stderr).not.toContain('speed=10)')
  })

  test('--var sets what the matrix does not, for every combination', async () => {
    const unset = await project.recipes(['validate', 'recipes/unset.yaml'])
    expect(unset.code).toBe(3)
    expect(unset.stderr).toContain('var "site" is not set')
    const set = await project.recipes(['validate', 'recipes/unset.yaml', '--var', 'site=lab1'])
    expect(set.stderr).not.toContain('RECIPE_')
    expect(set.code).toBe(0)
    const bad = await project.recipes(['validate', 'recipes/unset.yaml', '--var', 'site=lab 1'])
    expect(bad.code).toBe(3)
    expect(bad.stderr).toContain('dut:lab 1-rack1-sw1')
    expect(bad.stderr).toContain('dut:lab 1-rack1-sw2')
  })
})
