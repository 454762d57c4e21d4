import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fixtureScriptlets } from './fixture-files.ts'
import { createProject, type RunResult, type TestProject } from './project.ts'

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
    const wrong = await project.recipes(['step', 'scriptlets/shell/greet.sh', '--export', 'Greet'])
    expect(wrong.code).toBe(3)
    expect(envelopeOf(wrong).reason).toBe(
      '--export names a TypeScript export; scriptlets/shell/greet.sh is a shell scriptlet',
    )
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
