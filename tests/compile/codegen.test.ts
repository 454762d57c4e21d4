import { decode } from '@jridgewell/sourcemap-codec'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { compileRecipe } from '../../plugin/compile/vite-plugin.ts'
import { TERM_GRACE_MS } from '../../plugin/executors/process-tree.ts'
import { STOPPED_STEP_REPORT_WAIT_MS } from '../../plugin/recipe/step-deadline.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-codegen-'))
mkdirSync(join(root, 'recipes'))
mkdirSync(join(root, 'scriptlets'))
writeFileSync(join(root, 'scriptlets/a.ts'), 'export default { run() {} }\n')
afterAll(() => rmSync(root, { recursive: true, force: true }))

const RECIPE = `test_meta: { test_id: T-1 }
steps:
  - name: first step
    type: ts
    module: scriptlets/a.ts

  - idx: 2
    name: second
    type: ts
    module: scriptlets/a.ts
    timeout: 2
    retry: 1
`

test('one literal top-level test() per step, each on a line mapped to its YAML line', () => {
  const { code, map } = compileRecipe(RECIPE, join(root, 'recipes/x.yaml'), root)
  const lines = code.split('\n')
  const testLines = lines.map((line, i) => [line, i] as const).filter(([line]) => line.startsWith('test('))
  expect(testLines.map(([line]) => line.slice(0, line.indexOf(', {')))).toEqual([`test('first step'`, `test('second'`])
  // Vitest's timeout backs up the runner's: every attempt of the step (the runner retries
  // inside the one test, so Vitest retries nothing) to its deadline and its report wait (5 s),
  // plus the earlier steps that may run inside its test as setup, plus a grace period (10 s).
  expect(testLines[0]![0]).toContain('{ timeout: 315000 }')
  expect(testLines[1]![0]).toContain(`{ timeout: ${305_000 + 2 * 7_000 + 10_000} }`)
  expect(lines.slice(0, 4)).toEqual([
    'import { afterAll, test } from "vitest";',
    'import { defineRecipe } from "vitest-recipes/runtime";',
    'import { Buffer } from "node:buffer";',
    'import * as __scriptlet0 from "../scriptlets/a.ts";',
  ])

  const mappings = decode(map.mappings)
  // [generatedColumn, sourceIndex, sourceLine (0-based), sourceColumn (0-based)]
  expect(testLines.map(([, i]) => mappings[i]![0])).toEqual([
    [0, 0, 2, 4],
    [0, 0, 6, 4],
  ])
  expect(map.sourcesContent).toEqual([RECIPE])
})

test('the default step timeout comes from the plugin option', () => {
  const { code } = compileRecipe(RECIPE, join(root, 'recipes/x.yaml'), root, { stepTimeout: 60 })
  expect(code).toContain(`test('first step', { timeout: 75000 }`)
})

test("Vitest's backstop never cuts a step's own attempts short: each may run to its deadline and wait for its report", () => {
  // A hung in-process step (it never returns) with timeout 2 and 3 retries: 4 attempts of 2 s,
  // each followed by the 5 s report wait. The backstop was 4 x 2 s + 10 s, so Vitest aborted it
  // after 18 s, in its second attempt, as "stopped: Vitest aborted the test".
  const recipe = 'steps:\n  - { name: hung, type: ts, module: scriptlets/a.ts, timeout: 2, retry: { max: 3 } }\n'
  const { code } = compileRecipe(recipe, join(root, 'recipes/hung.yaml'), root)
  const attempts = 4 * (2_000 + STOPPED_STEP_REPORT_WAIT_MS)
  expect(code).toContain(`test('hung', { timeout: ${attempts + 10_000} }`)
  // The report wait outlasts the executors' SIGTERM-then-SIGKILL of a process tree.
  expect(STOPPED_STEP_REPORT_WAIT_MS).toBeGreaterThan(2 * TERM_GRACE_MS)
})

test('a broken recipe compiles to a module that fails with its errors', () => {
  const { code } = compileRecipe('steps: [', join(root, 'recipes/x.yaml'), root)
  expect(code).toMatch(
    /^import \{ failRecipe \} from "vitest-recipes\/runtime";\nfailRecipe\(\[\{"code":"RECIPE_YAML_SYNTAX"/,
  )
})

test('a recipe with problems whose steps can still be checked loads their scriptlets first, except those refused already', () => {
  const recipe = `steps:
  - { name: a, type: ts, module: scriptlets/a.ts, timeout: soon }
  - { name: b, type: ts, module: scriptlets/a.ts, class: Missing }
  - { name: c, type: ts, module: scriptlets/nope.ts }
`
  const { code } = compileRecipe(recipe, join(root, 'recipes/x.yaml'), root)
  const [imports, call] = code.split('\n')
  expect(imports).toBe('import { failRecipeAfterChecks } from "vitest-recipes/runtime";')
  expect(call).toMatch(/^await failRecipeAfterChecks\(\[/)
  expect(call).toContain('{ "scriptlets/a.ts": () => import("../scriptlets/a.ts") }')
  expect(call).not.toContain('nope.ts")')
  expect(call).toContain('"refused":["b","c"]')
})

test("the spec travels as base64 of its JSON, text outside ASCII included: Vite's SSR transform maps every word boundary, and base64 has few", () => {
  const recipe = `steps:
  - name: label
    type: ts
    module: scriptlets/a.ts
    args: { label: "Durchsatz ≥ 10 Gbit/s, café \\"Ω\\"", ports: [1, 2] }
`
  const { code } = compileRecipe(recipe, join(root, 'recipes/x.yaml'), root)
  const specLine = code.split('\n').find((line) => line.startsWith('const recipe = '))!
  const base64 = /JSON\.parse\(Buffer\.from\("([A-Za-z0-9+/=]+)", "base64"\)\.toString\(\)\)/.exec(specLine)?.[1]
  const spec = JSON.parse(Buffer.from(base64!, 'base64').toString())
  expect(spec.recipe.steps[0].params).toEqual({ label: 'Durchsatz ≥ 10 Gbit/s, café "Ω"', ports: [1, 2] })
  // magic-string (hires: 'boundary') starts a map segment at each word and each other character.
  const segments = specLine.match(/\w+|\W/g)!.length
  expect(segments / specLine.length).toBeLessThan(0.1)
})
