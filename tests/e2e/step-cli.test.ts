import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, REPO, type RunResult, type TestProject } from './project.ts'

let project: TestProject
beforeAll(() => {
  project = createProject({
    ...fixtureScriptlets(),
    'scriptlets/noisy.ts': `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  name: 'noisy',
  outputs: ['demo.noise_v1'],
  run(ctx, _params, { step, log }) {
    console.log('progress: halfway')
    log('a log line')
    ctx.set('demo.noise_v1', 1, { who: step })
  },
})
`,
    'scriptlets/broken.ts': `export default {`,
  })
})
afterAll(() => project?.remove())

/** stdout must be exactly one JSON line: the envelope. */
function envelopeOf(result: RunResult): Record<string, unknown> {
  const lines = result.stdout.split('\n').filter(Boolean)
  expect(lines, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toHaveLength(1)
  return JSON.parse(lines[0]!) as Record<string, unknown>
}

describe('recipes step runs one scriptlet on its own', () => {
  test('ok: exit 0, one envelope line, logs on stderr', async () => {
    const result = await project.recipes(['step', 'scriptlets/noisy.ts', '--ctx-out', 'ctx.json'])
    expect(result.code).toBe(0)
    expect(envelopeOf(result)).toEqual({
      status: 'ok',
      outputs: ['demo.noise_v1'],
      artifacts: [],
      metrics: {},
      warnings: [],
    })
    expect(result.stderr).toContain('progress: halfway')
    expect(result.stderr).toContain('a log line')
    expect(JSON.parse(readFileSync(join(project.root, 'ctx.json'), 'utf8'))).toEqual({ 'demo.noise_v1': 1 })
  })

  test('a named class export with params and a starting ctx', async () => {
    const result = await project.recipes([
      'step',
      'scriptlets/classes.ts',
      '--export',
      'ValidateNumbers',
      '--params',
      '{"min_count":2}',
      '--ctx',
      '{"numbers.raw_v1":[1,2,3]}',
    ])
    expect(result.code).toBe(0)
    expect(envelopeOf(result)).toMatchObject({ status: 'ok', outputs: ['numbers.validated_v1'] })
  })

  test('failure: exit 1 and an error envelope', async () => {
    const result = await project.recipes([
      'step',
      'scriptlets/classes.ts',
      '--export',
      'ValidateNumbers',
      '--params',
      '{"min_count":5}',
      '--ctx',
      '{"numbers.raw_v1":[1]}',
    ])
    expect(result.code).toBe(1)
    expect(envelopeOf(result)).toMatchObject({
      status: 'error',
      reason: 'Too few numbers (min=5)',
      details: { count: 1 },
      exit_code: 1,
      step: 'classes',
    })
  })

  test('missing ctx key: exit 2 (dependency not satisfied)', async () => {
    const result = await project.recipes([
      'step',
      'scriptlets/classes.ts',
      '--export',
      'ValidateNumbers',
      '--params',
      '{"min_count":1}',
    ])
    expect(result.code).toBe(2)
    expect(envelopeOf(result)).toMatchObject({
      status: 'error',
      exit_code: 2,
      reason: 'ctx has no "numbers.raw_v1": run the step that writes it first (dependency not satisfied)',
    })
  })

  test.each([
    [['--params', '{"key": 1}'], 'invalid params for set_key: key: Invalid input: expected string, received number'],
    [['--params', '{oops'], /^--params is not valid JSON/],
    [['--export', 'Nope'], 'scriptlets/set_key.ts: the module has no export named "Nope"; its exports: default'],
  ])('invalid input %j: exit 3', async (args, reason) => {
    const result = await project.recipes(['step', 'scriptlets/set_key.ts', ...args])
    expect(result.code).toBe(3)
    expect(envelopeOf(result)).toMatchObject({
      status: 'error',
      exit_code: 3,
      reason: typeof reason === 'string' ? reason : expect.stringMatching(reason),
    })
  })

  test('a module that does not load: exit 3 with the reason', async () => {
    const result = await project.recipes(['step', 'scriptlets/broken.ts'])
    expect(result.code).toBe(3)
    expect(envelopeOf(result).reason).toMatch(/^could not load scriptlets\/broken\.ts/)
  })

  test('a shell script: mapping params as environment variables, the starting ctx in RECIPES_CTX_FILE, its ctx writes kept', async () => {
    project.copyFixture('shell/greet.sh', 'scriptlets/shell/greet.sh')
    const result = await project.recipes([
      'step',
      'scriptlets/shell/greet.sh',
      '--params',
      '{"NAME":"ann","COUNT":3}',
      '--ctx',
      '{"demo.seed_v1":42}',
      '--ctx-out',
      'greet-ctx.json',
    ])
    expect(result.code, result.output).toBe(0)
    expect(envelopeOf(result)).toMatchObject({ status: 'ok', output: 'Data/greeting.txt', args: '' })
    expect(result.stderr).toMatch(/greeting ann \(count 3, ctx file .+\.json\)/)
    expect(JSON.parse(readFileSync(join(project.root, 'greet-ctx.json'), 'utf8'))).toEqual({
      'demo.seed_v1': 42,
      'demo.greeting_v1': 'hello ann',
      'demo.seen_seed_v1': '42',
    })
  })

  test('a python script and an executable without an envelope: their envelopes and exit codes, as in a recipe', async () => {
    project.copyFixture('python/standalone_script.py', 'scriptlets/python/standalone_script.py')
    const python = await project.recipes(['step', 'scriptlets/python/standalone_script.py', '--params', '{"n":1}'])
    expect(python.code, python.output).toBe(0)
    expect(envelopeOf(python)).toMatchObject({ status: 'ok', outputs: ['py.script_v1'] })
    project.copyFixture('shell/exit_without_envelope.sh', 'scriptlets/shell/exit_without_envelope.sh')
    const failing = await project.recipes(['step', 'scriptlets/shell/exit_without_envelope.sh'])
    expect(failing.code).toBe(4)
    expect(envelopeOf(failing)).toMatchObject({ status: 'error', exit_code: 4 })
    expect(failing.stderr).toContain('cannot reach the switch at 10.0.0.1')
  })

  test('a file outside the project root is refused', async () => {
    const result = await project.recipes(['step', '../elsewhere.ts'])
    expect(result.code).toBe(3)
    expect(envelopeOf(result).reason).toMatch(/is outside the project root/)
  })
})

// Quotes and a backslash: a secret inside a JSON string is escaped there, and must still be masked.
const STEP_PASSWORD = 'Sw1tch"S3c\\ret-2026!'
const LAB_PASS = 'lab-pass-0042-x'
const SECRETS_ENV = { SWITCH_PASSWORD: STEP_PASSWORD, LAB_PASS }
const LEAKY_STEP_SH = `#!/usr/bin/env bash
token="tok-$(printf %s "$SWITCH_PASSWORD" | base64)"
echo "::add-mask::$token" >&2
echo "logging in with $SWITCH_PASSWORD and $LAB_PASS, session $token" >&2
python3 -c 'import json, os, sys; print(json.dumps({"status": "ok", "warnings": ["weak password " + os.environ["SWITCH_PASSWORD"], "session " + sys.argv[1], "lab " + os.environ["LAB_PASS"]]}))' "$token"
`
const LEAKY_STEP_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
const password = () => process.env.SWITCH_PASSWORD ?? ''
export const Warns = defineScriptlet({
  run(ctx, _params, tools) {
    const token = 'tok-' + password().split('').reverse().join('')
    tools.secret(token)
    console.log('logging in with', password(), 'session', token)
    process.stderr.write('lab pass ' + process.env.LAB_PASS + '\\n')
    ctx.set('lab.session_v1', token, { who: tools.step })
    return { outputs: ['lab.session_v1'], warnings: ['weak password ' + password(), 'session ' + token] }
  },
})
export const Throws = defineScriptlet({
  run() {
    throw Object.assign(new Error('login with ' + password() + ' refused'), { details: { tried: password() } })
  },
})
`

/** Every raw secret value (and a derived one) found in what a command printed: none expected. */
function leaksIn(result: RunResult, derived: string[] = []): string[] {
  return [STEP_PASSWORD, JSON.stringify(STEP_PASSWORD).slice(1, -1), LAB_PASS, ...derived].filter((value) =>
    result.output.includes(value),
  )
}

describe('recipes step masks secrets as a recipe run does', () => {
  test('a shell scriptlet: name patterns, --secret, ::add-mask:: taken out of stderr, the envelope masked', async () => {
    project.write('scriptlets/leaky_step.sh', LEAKY_STEP_SH)
    chmodSync(join(project.root, 'scriptlets/leaky_step.sh'), 0o755)
    const token = `tok-${Buffer.from(STEP_PASSWORD).toString('base64')}`
    const result = await project.recipes(['step', 'scriptlets/leaky_step.sh', '--secret', 'LAB_PASS'], {
      env: SECRETS_ENV,
    })
    expect(result.code, result.output).toBe(0)
    expect(leaksIn(result, [token])).toEqual([])
    expect(envelopeOf(result)).toMatchObject({
      status: 'ok',
      warnings: ['weak password ***', 'session ***', 'lab ***'],
    })
    expect(result.stderr).toContain('logging in with *** and ***, session ***')
    // The directive is taken out, not shown masked.
    expect(result.stderr).not.toContain('::add-mask::')
  })

  test('a TypeScript scriptlet: tools.secret, console and stderr writes, warnings and a thrown error are masked', async () => {
    project.write('scriptlets/leaky_step.ts', LEAKY_STEP_TS)
    const token = `tok-${STEP_PASSWORD.split('').reverse().join('')}`
    const ok = await project.recipes(
      ['step', 'scriptlets/leaky_step.ts', '--export', 'Warns', '--secret', 'LAB_PASS', '--key-naming', 'off'],
      { env: SECRETS_ENV },
    )
    expect(ok.code, ok.output).toBe(0)
    expect(leaksIn(ok, [token, JSON.stringify(token).slice(1, -1)])).toEqual([])
    expect(envelopeOf(ok)).toMatchObject({ status: 'ok', warnings: ['weak password ***', 'session ***'] })
    expect(ok.stderr).toContain('logging in with *** session ***')
    expect(ok.stderr).toContain('lab pass ***')
    const failed = await project.recipes(['step', 'scriptlets/leaky_step.ts', '--export', 'Throws'], {
      env: SECRETS_ENV,
    })
    expect(failed.code).toBe(1)
    expect(leaksIn(failed)).toEqual([])
    expect(envelopeOf(failed)).toMatchObject({ status: 'error', reason: 'login with *** refused' })
  })
})

describe('recipes step runs python modules as a recipe step would (the python host)', () => {
  test('the class-style scriptlet recipes init ships: its one class with run(ctx, params) is found, ctx read and written', async () => {
    project.write(
      'scriptlets/python/summarize.py',
      readFileSync(join(REPO, 'templates/init/scriptlets/python/summarize.py'), 'utf8'),
    )
    const result = await project.recipes([
      'step',
      'scriptlets/python/summarize.py',
      '--ctx',
      '{"example.greeting_v1":"Hello, rack 3!","example.words_v1":8}',
      '--ctx-out',
      'summary-ctx.json',
    ])
    expect(result.code, result.output).toBe(0)
    expect(envelopeOf(result)).toMatchObject({ status: 'ok', outputs: ['example.summary_v1'] })
    expect(JSON.parse(readFileSync(join(project.root, 'summary-ctx.json'), 'utf8'))).toMatchObject({
      'example.summary_v1': 'Hello, rack 3! (8 words)',
    })
  })

  test('several classes with run: a clear error listing them, --class picks one (both older envelope styles)', async () => {
    project.copyFixture('python/older_styles.py', 'scriptlets/python/older_styles.py')
    const ambiguous = await project.recipes(['step', 'scriptlets/python/older_styles.py'])
    expect(ambiguous.code).toBe(3)
    expect(envelopeOf(ambiguous).reason).toBe(
      'scriptlets/python/older_styles.py defines 5 classes with run(ctx, params): PrintsEnvelope, ReturnsEnvelope, Crashes, WritesInValidate, NotJson; name the one to run with --class <Name>',
    )
    const printed = await project.recipes([
      'step',
      'scriptlets/python/older_styles.py',
      '--class',
      'PrintsEnvelope',
      '--params',
      '{"n":2}',
      '--ctx-out',
      'printed-ctx.json',
    ])
    expect(printed.code, printed.output).toBe(0)
    expect(envelopeOf(printed)).toMatchObject({ status: 'ok', outputs: ['py.printed_v1'] })
    expect(JSON.parse(readFileSync(join(project.root, 'printed-ctx.json'), 'utf8'))).toMatchObject({
      'py.printed_v1': { n: 2 },
    })
    // validate(ctx, params) runs first and sees a read-only ctx, as in a recipe.
    const early = await project.recipes(['step', 'scriptlets/python/older_styles.py', '--class', 'WritesInValidate'])
    expect(early.code).toBe(1)
    expect(envelopeOf(early)).toMatchObject({ status: 'error', details: { phase: 'validate' } })
    const failing = await project.recipes(['step', 'scriptlets/python/older_styles.py', '--class', 'PrintsEnvelope'])
    expect(failing.code).toBe(1)
    expect(envelopeOf(failing)).toMatchObject({ status: 'error', reason: 'ValueError: params.n required' })
    const missing = await project.recipes(['step', 'scriptlets/python/older_styles.py', '--class', 'Nope'])
    expect(missing.code).toBe(3)
    expect(envelopeOf(missing).reason).toBe(
      'scriptlets/python/older_styles.py has no class Nope; its classes with run(ctx, params): PrintsEnvelope, ReturnsEnvelope, Crashes, WritesInValidate, NotJson; its functions: plain_function',
    )
  })

  test('a function by --function (or --export), and a module-style file with run(ctx, params)', async () => {
    project.copyFixture('python/older_styles.py', 'scriptlets/python/older_styles.py')
    for (const flag of ['--function', '--export']) {
      const result = await project.recipes([
        'step',
        'scriptlets/python/older_styles.py',
        flag,
        'plain_function',
        '--params',
        '{"a":1}',
        '--ctx-out',
        'fn-ctx.json',
      ])
      expect(result.code, result.output).toBe(0)
      expect(JSON.parse(readFileSync(join(project.root, 'fn-ctx.json'), 'utf8'))).toEqual({
        'py.function_v1': { a: 1 },
      })
    }
    project.write(
      'scriptlets/python/module_style.py',
      `import sys\n\ndef run(ctx, params):\n    print("working on", params["host"], file=sys.stderr)\n    ctx.set("py.module_v1", ctx.get("py.seed_v1") + 1, who="module_style")\n    return {"status": "ok", "outputs": ["py.module_v1"]}\n`,
    )
    const module = await project.recipes([
      'step',
      'scriptlets/python/module_style.py',
      '--params',
      '{"host":"sw-1"}',
      '--ctx',
      '{"py.seed_v1":41}',
      '--ctx-out',
      'module-ctx.json',
    ])
    expect(module.code, module.output).toBe(0)
    expect(envelopeOf(module)).toMatchObject({ status: 'ok', outputs: ['py.module_v1'] })
    expect(module.stderr).toContain('working on sw-1')
    expect(JSON.parse(readFileSync(join(project.root, 'module-ctx.json'), 'utf8'))).toEqual({
      'py.seed_v1': 41,
      'py.module_v1': 42,
    })
  })

  test('a failing python class: its error envelope and traceback on stderr; a script with a __main__ block still runs as a script', async () => {
    project.write(
      'scriptlets/python/raises.py',
      `class Raises:\n    def run(self, ctx, params):\n        return helper(params)\n\n\ndef helper(params):\n    raise RuntimeError("switch " + params["switch"] + " unreachable")\n`,
    )
    const result = await project.recipes(['step', 'scriptlets/python/raises.py', '--params', '{"switch":"sw-9"}'])
    expect(result.code).toBe(1)
    expect(envelopeOf(result)).toMatchObject({ status: 'error', reason: 'RuntimeError: switch sw-9 unreachable' })
    expect(result.stderr).toMatch(/Traceback[\s\S]*in helper/)
    project.write(
      'scriptlets/python/main_script.py',
      `import json, sys\n\n\nclass Helper:\n    def run(self, ctx, params):\n        return 5\n\n\nif __name__ == "__main__":\n    print(json.dumps({"status": "ok", "ctx": {"py.main_v1": sys.argv[1:]}}))\n`,
    )
    const script = await project.recipes(['step', 'scriptlets/python/main_script.py', '--script', '--params', '[]'])
    expect(script.code, script.output).toBe(0)
    expect(envelopeOf(script)).toMatchObject({ status: 'ok' })
  })

  test('what each kind takes: --class, --function, --export name what to call in a module; a script runs whole', async () => {
    project.copyFixture('shell/greet.sh', 'scriptlets/shell/greet.sh')
    for (const flag of ['--class', '--function', '--export']) {
      const shell = await project.recipes(['step', 'scriptlets/shell/greet.sh', flag, 'Greet'])
      expect(shell.code).toBe(3)
      expect(envelopeOf(shell).reason).toBe(
        `scriptlets/shell/greet.sh is a shell script, run as a whole: ${flag} names what to call inside a Python or TypeScript module; give a script its inputs with --params`,
      )
    }
    // In a TypeScript module, as in a recipe's function: and class:, all three name an export.
    const ts = await project.recipes([
      'step',
      'scriptlets/classes.ts',
      '--class',
      'ValidateNumbers',
      '--params',
      '{"min_count":1}',
      '--ctx',
      '{"numbers.raw_v1":[1]}',
    ])
    expect(ts.code, ts.output).toBe(0)
    const both = await project.recipes(['step', 'scriptlets/classes.ts', '--class', 'A', '--export', 'A'])
    expect(both.code).toBe(3)
    expect(both.stderr).toContain('--export and --class say the same thing')
    const script = await project.recipes(['step', 'scriptlets/classes.ts', '--script'])
    expect(envelopeOf(script).reason).toBe(
      '--script runs a Python file as a script; scriptlets/classes.ts is a TypeScript module',
    )
    project.write('scriptlets/python/bad-name.py', 'def run(ctx, params):\n    return 0\n')
    const badName = await project.recipes(['step', 'scriptlets/python/bad-name.py'])
    expect(envelopeOf(badName).reason).toMatch(
      /^scriptlets\/python\/bad-name\.py cannot be imported by Python: its name is not a Python identifier/,
    )
    project.write('scriptlets/python/syntax.py', 'class Broken:\n    def run(self, ctx, params)\n        return 0\n')
    const syntax = await project.recipes(['step', 'scriptlets/python/syntax.py'])
    expect(syntax.code).toBe(3)
    expect(envelopeOf(syntax).reason).toMatch(/^scriptlets\/python\/syntax\.py:2:\d+: /)
  })

  test('python classes are masked as a recipe run masks them: names, --secret, ::add-mask::, the envelope', async () => {
    project.write(
      'scriptlets/python/leaky.py',
      `import base64, os, sys\n\n\nclass Leaky:\n    def run(self, ctx, params):\n        password = os.environ["SWITCH_PASSWORD"]\n        token = "tok-" + base64.b64encode(password.encode()).decode()\n        print("::add-mask::" + token, file=sys.stderr)\n        print("logging in with", password, "and", os.environ["LAB_PASS"], "session", token, file=sys.stderr)\n        print("stdout says", password)\n        return {"status": "ok", "warnings": ["weak password " + password, "session " + token]}\n`,
    )
    const token = `tok-${Buffer.from(STEP_PASSWORD).toString('base64')}`
    const result = await project.recipes(['step', 'scriptlets/python/leaky.py', '--secret', 'LAB_PASS'], {
      env: SECRETS_ENV,
    })
    expect(result.code, result.output).toBe(0)
    expect(leaksIn(result, [token])).toEqual([])
    expect(envelopeOf(result)).toMatchObject({ status: 'ok', warnings: ['weak password ***', 'session ***'] })
    expect(result.stderr).toContain('logging in with *** and *** session ***')
    expect(result.stderr).toContain('stdout says ***')
    expect(result.stderr).not.toContain('::add-mask::')
  })
})

describe('usage errors', () => {
  test('unknown flag gets a did-you-mean and exit 3', async () => {
    const result = await project.recipes(['step', 'scriptlets/set_key.ts', '--parms', '{}'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatchInlineSnapshot(`
      "recipes: unknown option --parms for "recipes step"; did you mean --params? (see recipes step --help)
      "
    `)
    expect(result.stdout).toBe('')
  })
  test('unknown command', async () => {
    const result = await project.recipes(['stpe'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatchInlineSnapshot(`
      "recipes: unknown command "stpe"; did you mean "step"? (see recipes --help)
      "
    `)
  })
  test('--help', async () => {
    const result = await project.recipes(['--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('step      run one scriptlet on its own')
  })
})
