import { describe, expect, test } from 'vitest'
import { RecipeError } from '../../plugin/recipe/errors.ts'
import { parseRecipe, readRecipe } from '../../plugin/recipe/parse.ts'

function errorOf(text: string): RecipeError {
  try {
    parseRecipe(text, 'recipes/x.yaml')
  } catch (error) {
    if (error instanceof RecipeError) return error
    throw error
  }
  throw new Error('expected a RecipeError')
}

describe('dialects of the older framework are all accepted', () => {
  test('function/class, args/params, cmd/script, typescript, depends_on as a string', () => {
    const recipe = parseRecipe(
      `test_meta: { test_id: 7, tester: alice, description: Demo pipeline }
steps:
  - { idx: 2, name: b, type: typescript, module: m.ts, class: B, params: { x: 1 }, depends_on: a }
  - { idx: 1, name: a, type: ts, module: m.ts, function: A, args: { y: 2 } }
  - { idx: 3, name: c, type: shell, script: run.sh, depends_on: [b] }
  - { idx: 4, name: d, type: exec, cmd: [awk, -f, x.awk], depends_on: [c] }
`,
      'recipes/x.yaml',
    )
    expect(recipe.testMeta).toEqual({ test_id: '7', tester: 'alice', description: 'Demo pipeline', tags: [] })
    expect(
      recipe.steps.map((step) => [step.name, step.type, step.export ?? step.command, step.params, step.needs]),
    ).toEqual([
      ['a', 'ts', 'A', { y: 2 }, []],
      ['b', 'ts', 'B', { x: 1 }, ['a']],
      ['c', 'shell', 'run.sh', {}, ['b']],
      ['d', 'exec', ['awk', '-f', 'x.awk'], {}, ['c']],
    ])
  })

  test('defaults: test_id from the file name, idx from the position, expect ok, no retry', () => {
    const [step] = parseRecipe('steps:\n  - { name: a, type: ts, module: m.ts }\n', 'recipes/link_check.yml').steps
    const recipe = parseRecipe('steps:\n  - { name: a, type: ts, module: m.ts }\n', 'recipes/link_check.yml')
    expect(recipe.testMeta.test_id).toBe('link_check')
    expect(step).toMatchObject({
      idx: 1,
      expect: { status: 'ok' },
      retry: { max: 0, delaySec: 0, on: [] },
      parallel: false,
      requiresProcess: false,
    })
  })

  test('expect and retry forms', () => {
    const recipe = parseRecipe(
      `steps:
  - { name: a, type: ts, module: m.ts, expect: error, retry: 2 }
  - { name: b, type: ts, module: m.ts, expect: { status: error, reason_matches: "^Too", exit_code: 2 }, retry: { max: 1, delay_sec: 0.5, on: [timeout] } }
`,
      'recipes/x.yaml',
    )
    expect(recipe.steps.map((step) => [step.expect, step.retry])).toEqual([
      [{ status: 'error' }, { max: 2, delaySec: 0, on: [] }],
      [
        { status: 'error', reasonMatches: '^Too', exitCode: 2 },
        { max: 1, delaySec: 0.5, on: ['timeout'] },
      ],
    ])
  })

  test('each step knows where its parts are', () => {
    const [step] = parseRecipe(
      `steps:
  - name: a
    type: ts
    module: m.ts
    function: A
    success:
      ctx_has_keys: [x.y_v1]
`,
      'recipes/x.yaml',
    ).steps
    expect(step!.locations).toMatchObject({
      step: { line: 2, column: 5 },
      module: { line: 4, column: 13 },
      export: { line: 5, column: 15 },
      exportKey: 'function',
      checks: { ctx_has_keys: { line: 7, column: 7 } },
    })
  })
})

describe('errors', () => {
  test('both spellings of one field', () => {
    expect(
      errorOf('steps:\n  - { name: a, type: ts, module: m.ts, args: {}, params: {} }\n').message,
    ).toMatchInlineSnapshot(`
      "recipes/x.yaml:2:50 RECIPE_SCHEMA: "args" and "params" mean the same thing; give only one (at steps[0].params)
        2 |   - { name: a, type: ts, module: m.ts, args: {}, params: {} }
          |                                                  ^^^^^^
        Remove "params" or "args"."
    `)
  })

  test('a step kind without what it needs', () => {
    expect(errorOf('steps:\n  - name: a\n    type: shell\n').message).toMatchInlineSnapshot(`
      "recipes/x.yaml:2:5 RECIPE_SCHEMA: a shell step needs "cmd" (or "script"): the script path or argv list (at steps[0])
        2 |   - name: a
          |     ^^^^^^^
        Add for example \`cmd: scriptlets/shell/sanitize_csv.sh\`."
    `)
  })

  test('every problem of a file is reported at once', () => {
    const error = errorOf(
      'steps:\n  - { name: a, type: ts, module: m.ts, retyr: 1 }\n  - { name: b, type: tss, module: m.ts }\n',
    )
    expect(error.issues.map((issue) => [issue.code, issue.path, issue.location?.line])).toEqual([
      ['RECIPE_UNKNOWN_KEY', 'steps[0].retyr', 2],
      ['RECIPE_SCHEMA', 'steps[1].type', 3],
    ])
    expect(error.message).toMatch(/^2 problems in this recipe:/)
    expect(error.issues[0]!.hint).toBe('Did you mean "retry"?')
  })

  test('missing steps and unknown top-level keys', () => {
    expect(
      errorOf('test_meta: { test_id: x }\nstep: []\n').issues.map((issue) => [issue.code, issue.message, issue.hint]),
    ).toEqual([
      ['RECIPE_SCHEMA', 'missing required key "steps"', 'Add "steps" here.'],
      ['RECIPE_UNKNOWN_KEY', 'unknown key "step"', 'Did you mean "steps"?'],
    ])
  })

  test('an unknown test_meta key, with a did-you-mean and the keys allowed there', () => {
    const issues = errorOf(
      'test_meta: { testid: X-1, tester: bob, owner: lab-3 }\nsteps:\n  - { name: a, type: ts, module: m.ts }\n',
    ).issues
    expect(issues.map((issue) => [issue.code, issue.message, issue.path, issue.location?.column, issue.hint])).toEqual([
      ['RECIPE_UNKNOWN_KEY', 'unknown key "testid"', 'test_meta.testid', 14, 'Did you mean "test_id"?'],
      [
        'RECIPE_UNKNOWN_KEY',
        'unknown key "owner"',
        'test_meta.owner',
        40,
        'Allowed keys here: test_id, tester, description, tags.',
      ],
    ])
  })

  test("a schema error in one field does not hide the step's other problems, nor claim one about the refused field", () => {
    const reading = readRecipe(
      `steps:
  - { name: a, type: ts, module: 3, timeout: soon, depends_on: [bb] }
  - { name: b, type: shell, cmd: run.sh, class: X, retry: lots }
`,
      'recipes/x.yaml',
    )
    expect(reading.issues.map((issue) => [issue.code, issue.path])).toEqual([
      ['RECIPE_SCHEMA', 'steps[0].module'],
      ['RECIPE_SCHEMA', 'steps[0].timeout'],
      ['RECIPE_SCHEMA', 'steps[1].retry'],
      ['RECIPE_UNKNOWN_DEPENDENCY', 'steps[0].depends_on[0]'],
    ])
    expect(reading.steps.map((step) => [step.name, step.module, step.export, step.command])).toEqual([
      ['a', undefined, undefined, undefined],
      ['b', undefined, 'X', 'run.sh'],
    ])
    // Every step was read and no refused field changes the dataflow: a draft to check the scriptlets against.
    expect(reading.draft?.steps.map((step) => [step.name, step.needs])).toEqual([
      ['a', []],
      ['b', []],
    ])
  })

  test('no draft when a refused field changes what a step needs or is given', () => {
    const reading = readRecipe(
      'steps:\n  - { name: a, type: ts, module: m.ts }\n  - { name: b, type: ts, module: m.ts, depends_on: 3 }\n',
      'recipes/x.yaml',
    )
    expect(reading.issues).toHaveLength(1)
    expect(reading.steps).toHaveLength(2)
    expect(reading.draft).toBeUndefined()
  })

  test('an empty file', () => {
    expect(errorOf('').issues[0]).toMatchObject({ code: 'RECIPE_SCHEMA', message: 'missing required key "steps"' })
  })

  test('duplicate YAML keys are a syntax error', () => {
    expect(errorOf('steps: []\nsteps: []\n').issues[0]).toMatchObject({
      code: 'RECIPE_YAML_SYNTAX',
      location: { line: 2, column: 1 },
    })
  })

  test('a self-dependency is a cycle', () => {
    expect(errorOf('steps:\n  - { name: a, type: ts, module: m.ts, depends_on: [a] }\n').issues[0]).toMatchObject({
      code: 'RECIPE_DEPENDENCY_CYCLE',
      message: 'steps depend on each other in a cycle: a → a',
    })
  })

  test('an invalid regular expression in expect.reason_matches', () => {
    expect(
      errorOf('steps:\n  - { name: a, type: ts, module: m.ts, expect: { status: error, reason_matches: "(" } }\n')
        .issues[0],
    ).toMatchObject({
      code: 'RECIPE_SCHEMA',
      message: 'not a valid regular expression',
      path: 'steps[0].expect.reason_matches',
    })
  })
})

describe('paths and positions', () => {
  test('a path through a ctx key with dots prints it bracketed, as zod does', () => {
    expect(() =>
      parseRecipe(
        'steps:\n  - name: a\n    type: ts\n    module: m.ts\n    success:\n      ctx_matches: { metrics.summary_v1: 3 }\n',
        'recipes/x.yaml',
      ),
    ).toThrow('(at steps[0].success.ctx_matches["metrics.summary_v1"])')
  })

  test('numbers in an exec argv list keep the text the file has', () => {
    const [step] = parseRecipe(
      'steps:\n  - { name: p, type: exec, cmd: [ping, -c, 1, 1.0, 0x10, 10.0.0.1] }\n',
      'r.yaml',
    ).steps
    expect(step?.command).toEqual(['ping', '-c', '1', '1.0', '0x10', '10.0.0.1'])
  })
})
