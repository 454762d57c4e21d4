import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createProject, type JsonReport, type RunResult, type TestProject } from './project.ts'

// Real shell and Python scriptlets (tests/fixtures/shell, tests/fixtures/python) run as
// steps of recipes, through the real vitest binary.
const SHELL = `test_meta: { test_id: EXT-SH }
steps:
  - { idx: 1, name: seed, type: exec, cmd: [printf, '{"status":"ok","ctx":{"demo.seed_v1":41}}'] }
  - name: greet
    idx: 2
    type: shell
    cmd: scriptlets/shell/greet.sh
    args: { NAME: bob, COUNT: 3 }
    save: { demo.greeting_path_v1: output }
    depends_on: [seed]
    success:
      ctx_equals: { demo.greeting_v1: hello bob, demo.seen_seed_v1: "41", demo.greeting_path_v1: Data/greeting.txt }
      outputs: [demo.greeting_v1, demo.greeting_path_v1]
  - { idx: 3, name: greet_positional, type: shell, script: scriptlets/shell/greet.sh, args: [one, two], depends_on: [] }
  - { idx: 4, name: list_recipes, type: exec, cmd: [ls, recipes], parse: lines, save: { demo.recipe_files_v1: lines }, depends_on: [] }
  - { idx: 5, name: raw_echo, type: exec, cmd: [echo, plain text], parse: raw, save: { demo.echo_v1: output }, depends_on: [] }
`

const SHELL_ERRORS = `steps:
  - { name: two_lines, type: shell, cmd: scriptlets/shell/two_lines.sh, depends_on: [] }
  - { name: not_json, type: shell, cmd: scriptlets/shell/not_json.sh, depends_on: [] }
  - { name: missing, type: shell, cmd: scriptlets/shell/nowhere.sh, depends_on: [] }
  - { name: not_executable, type: shell, cmd: scriptlets/shell/not_executable.sh, depends_on: [] }
  - { name: exit_without_envelope, type: shell, cmd: scriptlets/shell/exit_without_envelope.sh, depends_on: [] }
  - { name: save_missing_field, type: exec, cmd: [echo, '{"status":"ok"}'], save: { demo.x_v1: output }, depends_on: [] }
`

const PYTHON = `test_meta: { test_id: EXT-PY }
steps:
  - { idx: 1, name: printed, type: python, module: scriptlets.python.older_styles, class: PrintsEnvelope, args: { n: 3 } }
  - idx: 2
    name: returned
    type: python
    module: scriptlets.python.older_styles
    function: ReturnsEnvelope
    success:
      ctx_matches:
        py.returned_v1: { type: object, properties: { same_host: { const: true }, history_who: { const: prints_envelope } }, required: [same_host, history_who] }
  - { idx: 3, name: invalid, type: python, module: scriptlets.python.older_styles, class: PrintsEnvelope, args: {}, expect: { status: error, reason_matches: "params.n required" } }
  - { idx: 4, name: crash, type: python, module: scriptlets.python.older_styles, class: Crashes }
  - { idx: 5, name: after_crash, type: python, module: scriptlets.python.older_styles, function: plain_function, args: { fresh: true }, depends_on: [] }
  - { idx: 6, name: writes_in_validate, type: python, module: scriptlets.python.older_styles, class: WritesInValidate, depends_on: [] }
  - { idx: 7, name: not_json, type: python, module: scriptlets.python.older_styles, class: NotJson, depends_on: [] }
  - { idx: 8, name: script_step, type: python, script: scriptlets/python/standalone_script.py, args: { port: eth0 }, depends_on: [] }
`

let project: TestProject
let report: JsonReport
let result: RunResult

beforeAll(async () => {
  project = createProject({
    'recipes/shell.yaml': SHELL,
    'recipes/shell_errors.yaml': SHELL_ERRORS,
    'recipes/python.yaml': PYTHON,
    'recipes/escape.yaml': 'steps:\n  - { name: a, type: shell, cmd: ../../bin/sh }\n',
    'scriptlets/__init__.py': '',
    'scriptlets/python/__init__.py': '',
  })
  for (const script of ['greet', 'two_lines', 'not_json', 'exit_without_envelope', 'not_executable'])
    project.copyFixture(`shell/${script}.sh`, `scriptlets/shell/${script}.sh`)
  project.copyFixture('python/older_styles.py', 'scriptlets/python/older_styles.py')
  project.copyFixture('python/standalone_script.py', 'scriptlets/python/standalone_script.py')
  const run = await project.vitestJson(['recipes/'])
  report = run.report
  result = run
})
afterAll(() => project?.remove())

function testsOf(file: string) {
  const entry = report.testResults.find((item) => item.name.endsWith(`recipes/${file}`))
  if (!entry) throw new Error(`no results for ${file}`)
  return entry
}
function statuses(file: string) {
  return Object.fromEntries(testsOf(file).assertionResults.map((item) => [item.title, item.status]))
}
function metaOf(file: string, step: string) {
  return testsOf(file).assertionResults.find((item) => item.title === step)?.meta?.recipeStep
}
function failure(file: string, step: string): string {
  const item = testsOf(file).assertionResults.find((entry) => entry.title === step)
  return (item?.failureMessages[0] ?? '').split('\n    at ')[0]!.replaceAll(project.root, '<root>')
}

describe('shell and exec steps', () => {
  test('write ctx through the envelope and through save:, read the ctx file, get args as env or argv', () => {
    expect(statuses('shell.yaml')).toEqual({
      seed: 'passed',
      greet: 'passed',
      greet_positional: 'failed',
      list_recipes: 'passed',
      raw_echo: 'passed',
    })
    expect(
      metaOf('shell.yaml', 'greet').writes.map((write: { key: string; who: string }) => [write.key, write.who]),
    ).toEqual([
      ['demo.greeting_v1', 'greet'],
      ['demo.seen_seed_v1', 'greet'],
      ['demo.greeting_path_v1', 'greet'],
    ])
    // greet.sh needs NAME: with list args it gets argv instead, and says so on stderr.
    expect(failure('shell.yaml', 'greet_positional')).toContain('NAME: missing NAME')
  })

  test('parse: lines and parse: raw wrap plain output', () => {
    expect(metaOf('shell.yaml', 'list_recipes').writes[0].value).toEqual([
      'escape.yaml',
      'python.yaml',
      'shell.yaml',
      'shell_errors.yaml',
    ])
    expect(metaOf('shell.yaml', 'raw_echo').writes[0].value).toBe('plain text\n')
  })

  test('each broken contract is a step error quoting what came back', () => {
    expect(statuses('shell_errors.yaml')).toEqual({
      two_lines: 'failed',
      not_json: 'failed',
      missing: 'failed',
      not_executable: 'failed',
      exit_without_envelope: 'failed',
      save_missing_field: 'failed',
    })
    expect(failure('shell_errors.yaml', 'two_lines')).toMatchInlineSnapshot(
      `"StepFailedError: Step "two_lines" (shell scriptlets/shell/two_lines.sh, recipes/shell_errors.yaml:2) failed with exit code 1: scriptlets/shell/two_lines.sh printed 2 lines on stdout; expected exactly one JSON envelope line (logs belong on stderr). stdout began: "starting up\\n{\\"status\\":\\"ok\\"}\\n""`,
    )
    expect(failure('shell_errors.yaml', 'not_json')).toMatchInlineSnapshot(
      `"StepFailedError: Step "not_json" (shell scriptlets/shell/not_json.sh, recipes/shell_errors.yaml:3) failed with exit code 1: scriptlets/shell/not_json.sh printed a line that is not JSON: "all good""`,
    )
    expect(failure('shell_errors.yaml', 'missing')).toMatchInlineSnapshot(
      `"StepFailedError: Step "missing" (shell scriptlets/shell/nowhere.sh, recipes/shell_errors.yaml:4) failed with exit code 1: scriptlets/shell/nowhere.sh does not exist (paths are relative to the project root)"`,
    )
    expect(failure('shell_errors.yaml', 'not_executable')).toMatchInlineSnapshot(
      `"StepFailedError: Step "not_executable" (shell scriptlets/shell/not_executable.sh, recipes/shell_errors.yaml:5) failed with exit code 1: scriptlets/shell/not_executable.sh is not executable: run chmod +x scriptlets/shell/not_executable.sh (and give it a #! line)"`,
    )
    expect(failure('shell_errors.yaml', 'exit_without_envelope')).toMatchInlineSnapshot(`
      "StepFailedError: Step "exit_without_envelope" (shell scriptlets/shell/exit_without_envelope.sh, recipes/shell_errors.yaml:6) failed with exit code 4: scriptlets/shell/exit_without_envelope.sh exited with code 4 without an envelope on stdout
      --- stderr (last lines)
      cannot reach the switch at 10.0.0.1"
    `)
    expect(failure('shell_errors.yaml', 'save_missing_field')).toMatchInlineSnapshot(
      `"StepFailedError: Step "save_missing_field" (exec echo {"status":"ok"}, recipes/shell_errors.yaml:7) failed with exit code 1: save: the envelope has no field "output" for demo.x_v1 (its fields: status, outputs, artifacts, metrics, warnings)"`,
    )
  })

  test('a script path that leads outside the workspace is refused at compile time', () => {
    expect(testsOf('escape.yaml').message.split('\n')[0]).toMatchInlineSnapshot(
      `"recipes/escape.yaml:2:34 RECIPE_PATH_OUTSIDE_WORKSPACE: script "../../bin/sh" resolves outside the project root (at steps[0].cmd)"`,
    )
  })

  test('every step has a log with its stdout and stderr, and resource figures', () => {
    const greet = metaOf('shell.yaml', 'greet')
    expect(greet.logPath).toMatch(/^Logs\/\d{8}T\d{6}Z-shell-[0-9a-f]{4}\/2_greet\.log$/)
    const log = project.read(greet.logPath)
    expect(log).toContain('--- stdout\n{"status":"ok","ctx":{"demo.greeting_v1":"hello bob"')
    expect(log).toContain('--- stderr\ngreeting bob (count 3, ctx file ctx.json)')
    expect(greet.cpuMs).toEqual(expect.any(Number))
    // A program that ends before its first memory sample (10 ms) has no figure: null, never 0.
    expect(greet.peakRssBytes === null || greet.peakRssBytes > 0).toBe(true)
  })
})

describe('python steps', () => {
  test('both older styles run in one warm host; a crash fails its step and the next step gets a fresh host', () => {
    expect(statuses('python.yaml')).toEqual({
      printed: 'passed',
      returned: 'passed',
      invalid: 'passed',
      crash: 'failed',
      after_crash: 'passed',
      writes_in_validate: 'failed',
      not_json: 'failed',
      script_step: 'passed',
    })
    expect(metaOf('python.yaml', 'returned').envelope).toMatchObject({
      status: 'ok',
      outputs: ['py.returned_v1'],
      metrics: { keys: 2 },
    })
    expect(metaOf('python.yaml', 'after_crash').writes[0]).toMatchObject({
      key: 'py.function_v1',
      who: 'plain_function',
      value: { fresh: true },
    })
    expect(metaOf('python.yaml', 'script_step').writes[0]).toMatchObject({
      key: 'py.script_v1',
      who: 'script_step',
      value: { port: 'eth0' },
    })
    expect(metaOf('python.yaml', 'printed').peakRssBytes).toBeGreaterThan(1_000_000)
  })

  test("failures say what happened, with the scriptlet's own traceback", () => {
    const [crash] = failure('python.yaml', 'crash').split('\n--- stderr')
    expect(crash).toMatchInlineSnapshot(
      `"StepFailedError: Step "crash" (python scriptlets.python.older_styles#Crashes, recipes/python.yaml:13) failed with exit code 1: the python host exited (exit code 9) while running step "crash"; the next python step starts a new one"`,
    )
    const [early, earlyStderr] = failure('python.yaml', 'writes_in_validate').split('\n--- stderr (last lines)\n')
    expect(early).toMatchInlineSnapshot(
      `"StepFailedError: Step "writes_in_validate" (python scriptlets.python.older_styles#WritesInValidate, recipes/python.yaml:15) failed with exit code 1: ContextError: ctx.set("py.early_v1") during validate: validate must not write; move the write into run()"`,
    )
    expect(earlyStderr).toContain('older_styles.py", line 41, in validate')
    expect(earlyStderr).not.toContain('recipes_host.py')
    expect(failure('python.yaml', 'not_json').split('\n--- stderr')[0]).toMatchInlineSnapshot(
      `"StepFailedError: Step "not_json" (python scriptlets.python.older_styles#NotJson, recipes/python.yaml:16) failed with exit code 1: ContextError: ctx.set("py.when_v1") by "not_json": value is a datetime (store value.isoformat()); the context holds JSON values only"`,
    )
  })
})

test('the run fails and prints no stack from inside the plugin', () => {
  expect(result.code).toBe(1)
  expect(result.output).not.toMatch(/at .*plugin\/(executors|runtime)\//)
})

test('a python interpreter that cannot start is a clear step error (plugin option python.executable)', async () => {
  const missing = createProject(
    {
      'recipes/py.yaml': 'steps:\n  - { name: a, type: python, module: steps.noop, function: run }\n',
      'steps/noop.py': 'def run(ctx, params):\n    return 0\n',
    },
    {
      config:
        "import { defineConfig } from 'vitest/config'\nimport recipes from 'vitest-recipes'\n\nexport default defineConfig({ plugins: [recipes({ python: { executable: 'python9.9' } })] })\n",
    },
  )
  try {
    const run = await missing.vitestJson(['recipes/'])
    const message = run.report.testResults[0]!.assertionResults[0]!.failureMessages[0]!.split('\n')[0]
    expect(message).toMatchInlineSnapshot(
      `"StepFailedError: Step "a" (python steps.noop#run, recipes/py.yaml:2) failed with exit code 1: could not start the python host with "python9.9" (spawn python9.9 ENOENT); set the plugin option python.executable."`,
    )
  } finally {
    missing.remove()
  }
})
