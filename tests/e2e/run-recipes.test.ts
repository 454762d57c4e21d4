import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, type JsonReport, type TestProject } from './project.ts'

/** A time as the store keeps it (when an attempt began). */
const ISO_TIME = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

const RECIPES: Record<string, string> = {
  'recipes/pipeline.yaml': `test_meta: { test_id: E2E-1, tester: ci, description: happy path }
steps:
  - idx: 1
    name: load
    type: ts
    module: scriptlets/set_key.ts
    args: { key: numbers.raw_v1, value: [1, 2, 3, 4, 5] }
    success:
      ctx_has_keys: [numbers.raw_v1]
      outputs: [numbers.raw_v1]
  - idx: 2
    name: validate
    type: typescript
    module: scriptlets/classes.ts
    class: ValidateNumbers
    params: { min_count: 3 }
    depends_on: load
    success:
      ctx_equals: { numbers.validated_v1: [1, 2, 3, 4, 5] }
      ctx_matches:
        numbers.validated_v1: { type: array, items: { type: number }, minItems: 5 }
  - idx: 3
    name: exists
    type: ts
    module: scriptlets/classes.ts
    function: fileExists
    args: { path: recipes/pipeline.yaml }
    depends_on: []
    success:
      ctx_equals: { demo.exists_v1: true }
      files_exist: [recipes/pipeline.yaml]
`,
  'recipes/dag_failure.yaml': `steps:
  - { name: a, type: ts, module: scriptlets/set_key.ts, args: { key: demo.a_v1 }, depends_on: [] }
  - { name: b, type: ts, module: scriptlets/set_key.ts, args: { key: demo.b_v1, fail: "device did not answer" }, depends_on: [a] }
  - { name: c, type: ts, module: scriptlets/set_key.ts, args: { key: demo.c_v1 }, depends_on: [b] }
  - { name: d, type: ts, module: scriptlets/set_key.ts, args: { key: demo.d_v1 }, depends_on: [a] }
  - { name: e, type: ts, module: scriptlets/set_key.ts, args: { key: demo.e_v1 }, depends_on: [c] }
`,
  'recipes/sequential_failure.yaml': `steps:
  - { idx: 1, name: s1, type: ts, module: scriptlets/set_key.ts, args: { key: demo.s1_v1 } }
  - { idx: 2, name: s2, type: ts, module: scriptlets/set_key.ts, args: { key: demo.s2_v1, fail: boom } }
  - { idx: 3, name: s3, type: ts, module: scriptlets/set_key.ts, args: { key: demo.s3_v1 } }
`,
  'recipes/negative.yaml': `steps:
  - name: load
    type: ts
    module: scriptlets/set_key.ts
    args: { key: numbers.raw_v1, value: [1, 2, 3] }
  - name: too_few
    type: ts
    module: scriptlets/classes.ts
    function: ValidateNumbers
    args: { min_count: 5 }
    depends_on: [load]
    expect: { status: error, reason_matches: "Too few numbers", exit_code: 1 }
  - name: expected_but_ok
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.ok_v1 }
    depends_on: [load]
    expect: error
  - name: wrong_reason
    type: ts
    module: scriptlets/classes.ts
    function: ValidateNumbers
    args: { min_count: 5 }
    depends_on: [load]
    expect: { status: error, reason_matches: "^network" }
`,
  'recipes/checks.yaml': `steps:
  - name: has_keys
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.a_v1 }
    depends_on: []
    success:
      ctx_has_keys: [demo.a_v1, demo.missing_v1]
  - name: equals
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.b_v1, value: 2 }
    depends_on: []
    success:
      ctx_equals: { demo.b_v1: 3 }
  - name: matches
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.c_v1, value: { speed: fast } }
    depends_on: []
    success:
      ctx_matches:
        demo.c_v1: { type: object, properties: { speed: { type: number } } }
  - name: required_only
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.f_v1, value: { count: 1 } }
    depends_on: []
    success:
      ctx_matches:
        demo.f_v1: { type: object, required: [median] }
  - name: files
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.d_v1 }
    depends_on: []
    success:
      files_exist: [Data/nope.csv]
  - name: listed_outputs
    type: ts
    module: scriptlets/set_key.ts
    args: { key: demo.e_v1 }
    depends_on: []
    success:
      outputs: [demo.other_v1]
`,
  'recipes/context_rules.yaml': `steps:
  - { name: date, type: ts, module: scriptlets/classes.ts, class: WritesDate, depends_on: [] }
  - { name: early, type: ts, module: scriptlets/classes.ts, class: WritesInValidate, depends_on: [] }
  - { name: bad_key, type: ts, module: scriptlets/classes.ts, class: BadKey, depends_on: [] }
  - { name: exit_code, type: ts, module: scriptlets/classes.ts, class: ReturnsExitCode, args: { code: 2 }, depends_on: [] }
  - { name: undeclared, type: ts, module: scriptlets/classes.ts, class: DeclaresOutputs, depends_on: [] }
`,
  // Args that do not fit the scriptlet's zod schema: refused before any step runs.
  'recipes/bad_params.yaml': `steps:
  - { name: first, type: ts, module: scriptlets/classes.ts, class: BadKey }
  - { name: bad_params, type: ts, module: scriptlets/set_key.ts, args: { key: 42 } }
`,
  'recipes/retry.yaml': `steps:
  - name: flaky
    type: ts
    module: scriptlets/classes.ts
    class: Flaky
    args: { succeed_on: 2, counter: Data/flaky.count }
    retry: 2
    depends_on: []
    success:
      ctx_equals: { flaky.result_v1: 2 }
  - name: not_retried
    type: ts
    module: scriptlets/classes.ts
    class: Flaky
    args: { succeed_on: 3, counter: Data/other.count }
    retry: { max: 3, on: ["^network"] }
    depends_on: []
`,
}

let project: TestProject
let report: JsonReport
let exitCode: number | null

beforeAll(async () => {
  project = createProject({ ...RECIPES, ...fixtureScriptlets(), 'Data/.keep': '' })
  const result = await project.vitestJson(['recipes/'])
  report = result.report
  exitCode = result.code
})
afterAll(() => project?.remove())

function resultsOf(file: string) {
  const result = report.testResults.find((entry) => entry.name.endsWith(`recipes/${file}`))
  if (!result) throw new Error(`no results for ${file}: ${report.testResults.map((entry) => entry.name).join(', ')}`)
  return result
}
function statuses(file: string) {
  return Object.fromEntries(resultsOf(file).assertionResults.map((test) => [test.title, test.status]))
}
function failure(file: string, step: string): string {
  const test = resultsOf(file).assertionResults.find((entry) => entry.title === step)
  return (test?.failureMessages[0] ?? '').split('\n    at ')[0]!.replaceAll(project.root, '<root>')
}

test('a failing step fails the run', () => {
  expect(exitCode).toBe(1)
})

describe('happy path', () => {
  test('every step is a passing test, in order', () => {
    expect(resultsOf('pipeline.yaml').assertionResults.map((test) => [test.title, test.status])).toEqual([
      ['load', 'passed'],
      ['validate', 'passed'],
      ['exists', 'passed'],
    ])
  })
  test('each test carries the step meta for reporters', () => {
    const load = resultsOf('pipeline.yaml').assertionResults[0]!
    const meta = load.meta?.recipeStep
    expect(meta).toMatchObject({
      recipe: 'recipes/pipeline.yaml',
      testId: 'E2E-1',
      step: 'load',
      idx: 1,
      type: 'ts',
      status: 'passed',
      envelope: { status: 'ok', outputs: ['numbers.raw_v1'], metrics: { written: 1 } },
      // As the store records it: the first write of a key carries its value; later ones what changed.
      writes: [{ who: 'load', key: 'numbers.raw_v1', value: [1, 2, 3, 4, 5] }],
    })
    expect(meta.durationMs).toBeGreaterThan(0)
  })
})

describe('failure semantics', () => {
  test('steps that need a failed step are blocked; independent steps still run', () => {
    expect(statuses('dag_failure.yaml')).toEqual({ a: 'passed', b: 'failed', c: 'skipped', d: 'passed', e: 'skipped' })
    expect(failure('dag_failure.yaml', 'b')).toMatchInlineSnapshot(
      `"StepFailedError: Step "b" (scriptlets/set_key.ts, recipes/dag_failure.yaml:3) failed with exit code 1: device did not answer"`,
    )
  })
  test('blocked steps say which step blocked them, transitively', () => {
    const tests = resultsOf('dag_failure.yaml').assertionResults
    expect(tests.find((entry) => entry.title === 'e')?.meta?.recipeStep).toMatchObject({
      status: 'blocked',
      blockedBy: 'b',
    })
  })
  test('without depends_on each step needs every earlier one', () => {
    expect(statuses('sequential_failure.yaml')).toEqual({ s1: 'passed', s2: 'failed', s3: 'skipped' })
  })
})

describe('negative-path steps (expect: error)', () => {
  test('pass only when the step fails as specified', () => {
    expect(statuses('negative.yaml')).toEqual({
      load: 'passed',
      too_few: 'passed',
      expected_but_ok: 'failed',
      wrong_reason: 'failed',
    })
    const tooFew = resultsOf('negative.yaml').assertionResults.find((entry) => entry.title === 'too_few')
    expect(tooFew?.meta?.recipeStep.envelope).toMatchObject({
      status: 'error',
      reason: 'Too few numbers (min=5)',
      details: { count: 3 },
      exit_code: 1,
      step: 'too_few',
    })
  })
  test('say what differs', () => {
    expect(failure('negative.yaml', 'expected_but_ok')).toMatchInlineSnapshot(
      `"StepFailedError: Step "expected_but_ok" (scriptlets/set_key.ts, recipes/negative.yaml:13) succeeded, but the recipe expects it to fail (expect: error)"`,
    )
    expect(failure('negative.yaml', 'wrong_reason')).toMatchInlineSnapshot(
      `"StepFailedError: Step "wrong_reason" (scriptlets/classes.ts#ValidateNumbers, recipes/negative.yaml:19) failed as expected, but its reason "Too few numbers (min=5)" does not match /^network/ (expect.reason_matches)"`,
    )
  })
})

describe('success checks become assertions that name the check and its line', () => {
  test('every failing check fails its step', () => {
    expect(statuses('checks.yaml')).toEqual({
      has_keys: 'failed',
      equals: 'failed',
      matches: 'failed',
      required_only: 'failed',
      files: 'failed',
      listed_outputs: 'failed',
    })
  })
  test('ctx_has_keys', () => {
    expect(failure('checks.yaml', 'has_keys')).toMatchInlineSnapshot(
      `"AssertionError: success.ctx_has_keys (recipes/checks.yaml:8:7): step "has_keys" left these keys missing from ctx: expected [ 'demo.missing_v1' ] to deeply equal []"`,
    )
  })
  test('ctx_equals', () => {
    expect(failure('checks.yaml', 'equals')).toMatchInlineSnapshot(
      `"AssertionError: success.ctx_equals (recipes/checks.yaml:15:7): ctx "demo.b_v1" differs from the expected value: expected 2 to deeply equal 3"`,
    )
  })
  test('ctx_matches', () => {
    expect(failure('checks.yaml', 'matches')).toMatchInlineSnapshot(
      `"AssertionError: success.ctx_matches (recipes/checks.yaml:22:7): ctx "demo.c_v1" does not match its JSON Schema: demo.c_v1.speed must be number (rule: type: "number" at #/properties/speed/type); it is "fast"; value of demo.c_v1: {"speed":"fast"}"`,
    )
    expect(failure('checks.yaml', 'required_only')).toMatchInlineSnapshot(
      `"AssertionError: success.ctx_matches (recipes/checks.yaml:30:7): ctx "demo.f_v1" does not match its JSON Schema: demo.f_v1 must have required property 'median' (rule: required: ["median"] at #/required); value of demo.f_v1: {"count":1}"`,
    )
  })
  test('files_exist', () => {
    expect(failure('checks.yaml', 'files')).toMatchInlineSnapshot(
      `"AssertionError: success.files_exist (recipes/checks.yaml:38:7): these files do not exist after step "files": expected [ 'Data/nope.csv' ] to deeply equal []"`,
    )
  })
  test('outputs', () => {
    expect(failure('checks.yaml', 'listed_outputs')).toMatchInlineSnapshot(
      `"AssertionError: success.outputs (recipes/checks.yaml:45:7): the envelope of step "listed_outputs" does not list these outputs (it lists: demo.e_v1): expected [ 'demo.other_v1' ] to deeply equal []"`,
    )
  })
})

describe('context rules', () => {
  test('non-JSON values, writes in validate, bad key names and exit codes fail the step', () => {
    expect(statuses('context_rules.yaml')).toEqual({
      date: 'failed',
      early: 'failed',
      bad_key: 'failed',
      exit_code: 'failed',
      undeclared: 'failed',
    })
    expect(failure('context_rules.yaml', 'date')).toMatchInlineSnapshot(
      `"StepFailedError: Step "date" (scriptlets/classes.ts#WritesDate, recipes/context_rules.yaml:2) failed with exit code 1: ctx.set("demo.when_v1") by "date": value.at is a Date instance (store date.toISOString()); only plain objects and arrays are JSON. The context holds JSON values only."`,
    )
    expect(failure('context_rules.yaml', 'early')).toMatchInlineSnapshot(
      `"StepFailedError: Step "early" (scriptlets/classes.ts#WritesInValidate, recipes/context_rules.yaml:3) failed with exit code 1: ctx.set("demo.early_v1") during early.validate: validate must not write; move the write into run()"`,
    )
    expect(failure('context_rules.yaml', 'bad_key')).toMatchInlineSnapshot(
      `"StepFailedError: Step "bad_key" (scriptlets/classes.ts#BadKey, recipes/context_rules.yaml:4) failed with exit code 1: ctx.set("summary") by "bad_key": keys are named namespace.entity_vN (for example "metrics.summary_v1"). Rename the key, or set the plugin option keyNaming: 'warn'."`,
    )
    expect(failure('context_rules.yaml', 'exit_code')).toMatchInlineSnapshot(
      `"StepFailedError: Step "exit_code" (scriptlets/classes.ts#ReturnsExitCode, recipes/context_rules.yaml:5) failed with exit code 2: the scriptlet returned exit code 2"`,
    )
    expect(failure('context_rules.yaml', 'undeclared')).toMatchInlineSnapshot(
      `"StepFailedError: Step "undeclared" (scriptlets/classes.ts#DeclaresOutputs, recipes/context_rules.yaml:6) failed with exit code 1: DeclaresOutputs declares outputs it did not write: demo.promised_v1"`,
    )
  })

  test('args that do not fit the zod schema fail the recipe file before its first step runs', () => {
    const file = resultsOf('bad_params.yaml')
    expect(file.assertionResults).toEqual([])
    expect(file.message).toContain(
      'recipes/bad_params.yaml:3:74 RECIPE_PARAMS: parameter "key" of step "bad_params": Invalid input: expected string, received number',
    )
  })
})

describe('retry', () => {
  test('a retried step starts from the ctx it had before its first attempt and passes on the second', () => {
    expect(statuses('retry.yaml').flaky).toBe('passed')
    const meta = resultsOf('retry.yaml').assertionResults.find((entry) => entry.title === 'flaky')?.meta?.recipeStep
    expect(meta.attempts).toEqual([
      {
        attempt: 1,
        status: 'failed',
        reason: 'transient failure on attempt 1',
        durationMs: expect.any(Number),
        startTime: ISO_TIME,
      },
      { attempt: 2, status: 'passed', durationMs: expect.any(Number), startTime: ISO_TIME },
    ])
    expect(project.read('Data/flaky.count')).toBe('xx')
  })
  test('retry.on limits retries to matching reasons', () => {
    expect(statuses('retry.yaml').not_retried).toBe('failed')
    expect(project.read('Data/other.count')).toBe('x')
    expect(existsSync(join(project.root, 'Data/flaky.count'))).toBe(true)
  })
})
