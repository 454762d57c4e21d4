import { join, relative } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { fileText, findLeaks, projectFiles } from './leak-search.ts'
import { createProject, DEFAULT_CONFIG, type RunResult, type TestProject } from './project.ts'

// One secret down every path a value can take (a thrown error's message and details, an
// error envelope, non-JSON stdout, a Python exception, a ctx value, a cached step, log
// lines, console and stdout writes, derived values declared secret at run time), with the
// default, JUnit, JSON and blob reporters and a merge of the blob, and Allure results: afterwards no file of
// the project and nothing printed holds the value.
const PASSWORD = 'hunter2-sw-0197'
const DERIVED_SHELL = Buffer.from(PASSWORD).toString('base64')
const DERIVED_TS = `session-${PASSWORD.split('').reverse().join('')}`

const LEAKY_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
import { z } from 'zod'
const password = () => process.env.SWITCH_PASSWORD ?? ''
export const Throws = defineScriptlet({
  run() {
    throw Object.assign(new Error(\`login with \${password()} refused\`), { details: { tried: password() } })
  },
})
export const Writes = defineScriptlet({
  params: z.object({ key: z.string() }),
  run(ctx, { key }, { step }) {
    ctx.set(key, { password: password(), status: 'stored' }, { who: step })
  },
})
export const ChecksPassword = defineScriptlet({
  params: z.object({ key: z.string() }),
  run(ctx, { key }) {
    const stored = ctx.require<{ password: string }>(key).password
    if (stored !== password()) throw new Error('the restored password is not the real one')
  },
})
export const Prints = defineScriptlet({
  run(_ctx, _params, tools) {
    tools.log('tools.log', password())
    tools.progress?.(50, \`logging in with \${password()}\`)
    console.log('console.log', password())
    process.stdout.write(\`stdout.write \${password()}\\n\`)
  },
})
export const Derives = defineScriptlet({
  run(ctx, _params, tools) {
    const token = 'session-' + password().split('').reverse().join('')
    tools.secret(token)
    console.log('token', token)
    ctx.set('auth.token_v1', token, { who: tools.step })
  },
})
`
const LEAKY_PY = `import os

class Raises:
    def run(self, ctx, params):
        raise RuntimeError("switch refused " + os.environ["SWITCH_PASSWORD"])
`
const ENVELOPE_SH = `printf '{"status":"error","reason":"login with %s refused","details":{"pw":"%s"},"exit_code":1}\\n' "$SWITCH_PASSWORD" "$SWITCH_PASSWORD"
exit 1
`
const NOT_JSON_SH = `echo "password is $SWITCH_PASSWORD"
`
const DERIVES_SH = `token=$(printf %s "$SWITCH_PASSWORD" | base64)
echo "::add-mask::$token" >&2
echo "derived $token" >&2
printf '{"status":"ok","ctx":{"auth.basic_v1":"%s"}}\\n' "$token"
`

const RECIPE = `test_meta: { test_id: SECRET-1 }
secrets: [SWITCH_PASSWORD]
steps:
  - { idx: 1, name: ts_throw, type: ts, module: scriptlets/leaky.ts, function: Throws, depends_on: [] }
  - { idx: 2, name: envelope, type: exec, cmd: [bash, scriptlets/envelope.sh], depends_on: [] }
  - { idx: 3, name: not_json, type: exec, cmd: [bash, scriptlets/not_json.sh], depends_on: [] }
  - { idx: 4, name: python_raise, type: python, module: scriptlets.leaky, class: Raises, depends_on: [] }
  - { idx: 5, name: ctx_value, type: ts, module: scriptlets/leaky.ts, function: Writes, args: { key: lab.login_v1 }, depends_on: [] }
  - { idx: 6, name: cached, type: ts, module: scriptlets/leaky.ts, function: Writes, args: { key: lab.cached_v1 }, cache: true, depends_on: [] }
  - { idx: 7, name: prints, type: ts, module: scriptlets/leaky.ts, function: Prints, depends_on: [] }
  - { idx: 8, name: derives_shell, type: exec, cmd: [bash, scriptlets/derives.sh], depends_on: [] }
  - { idx: 9, name: derives_ts, type: ts, module: scriptlets/leaky.ts, function: Derives, depends_on: [] }
`

const ENV = { SWITCH_PASSWORD: PASSWORD, API_SECRET: 'status' }
let project: TestProject
const outputs: RunResult[] = []

beforeAll(async () => {
  project = createProject(
    {
      'recipes/secret.yaml': RECIPE,
      'scriptlets/__init__.py': '',
      'scriptlets/leaky.py': LEAKY_PY,
      'scriptlets/leaky.ts': LEAKY_TS,
      'scriptlets/envelope.sh': ENVELOPE_SH,
      'scriptlets/not_json.sh': NOT_JSON_SH,
      'scriptlets/derives.sh': DERIVES_SH,
    },
    { config: DEFAULT_CONFIG.replace('recipes()', 'recipes({ allure: true })') },
  )
  const reporters = ['--reporter=default', '--reporter=junit', '--reporter=json']
  const files = ['--outputFile.junit=reports/junit.xml', '--outputFile.json=reports/report.json']
  outputs.push(await project.vitest(['run', 'recipes/', ...reporters, ...files], { env: ENV }))
  // A shard hands its results over as a blob; the merge replays them (and writes the documents).
  outputs.push(await project.vitest(['run', 'recipes/', '--reporter=blob'], { env: ENV }))
  outputs.push(await project.vitest(['--merge-reports', '--reporter=default', '--reporter=junit'], { env: ENV }))
}, 240_000)
afterAll(() => project?.remove())

test('the runs happened: every leaking step ran and the failing ones failed', () => {
  expect(outputs[0]!.code).toBe(1)
  expect(outputs[0]!.output).toContain('login with *** refused')
  // A step's progress (terminal and dashboard) is masked too.
  expect(outputs[0]!.output).toContain('vitest-recipes: prints: 50% logging in with ***')
  const written = projectFiles(project.root).map((file) => relative(project.root, file))
  expect(written).toEqual(
    expect.arrayContaining(['reports/junit.xml', 'reports/report.json', 'reports/results.sqlite']),
  )
  expect(written.some((file) => file.startsWith('.vitest-reports/') || file.startsWith('.vitest/blob'))).toBe(true)
  expect(written.filter((file) => file.startsWith('Logs/')).length).toBeGreaterThan(5)
  // Allure results, with the attached logs, ctx diffs and envelopes of the merged run.
  expect(written.filter((file) => /^reports\/allure-results\/.*-attachment/.test(file)).length).toBeGreaterThan(5)
})

test('no file the runs wrote and nothing they printed holds the secret or a value derived from it', async () => {
  const files = projectFiles(project.root).filter((file) => !file.includes(`${join(project.root, 'scriptlets')}`))
  // The Office documents are zip files: their XML is compressed, so it is read unzipped.
  const office = await Promise.all(files.filter((file) => /\.(xlsx|docx)$/.test(file)).map(fileText))
  expect(office.length).toBeGreaterThanOrEqual(2)
  // Read for real: the documents hold the masked reason.
  expect(office.join('\n')).toContain('login with *** refused')
  const everything = [...outputs.map((result) => result.output), ...(await Promise.all(files.map(fileText)))].join('\n')
  expect(findLeaks(everything, [PASSWORD, DERIVED_SHELL, DERIVED_TS])).toEqual([])
})

test('masking replaces values, never JSON keys; the cached step was not cached with its secret', () => {
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const row = db.prepare("SELECT envelope FROM step_metrics WHERE step = 'ctx_value' LIMIT 1").get() as {
      envelope: string
    }
    expect(Object.keys(JSON.parse(row.envelope))).toContain('status')
    const value = db.prepare("SELECT value FROM context_snapshots WHERE key = 'lab.login_v1' LIMIT 1").get() as {
      value: string
    }
    // The store keeps a reference to the variable, so --resume-from can restore the real value.
    expect(JSON.parse(value.value)).toEqual({ password: '***{SWITCH_PASSWORD}', status: 'stored' })
  } finally {
    db.close()
  }
  const cache = projectFiles(project.root).filter((file) => file.includes('/.cache/steps/'))
  expect(cache).toEqual([])
})

test('--resume-from restores the real secret from the environment, and names the variable when it is missing', async () => {
  const resume = createProject({
    'recipes/resume.yaml': `test_meta: { test_id: SECRET-2 }
secrets: [SWITCH_PASSWORD]
steps:
  - { idx: 1, name: login, type: ts, module: scriptlets/leaky.ts, function: Writes, args: { key: lab.session_v1 } }
  - { idx: 2, name: use, type: ts, module: scriptlets/leaky.ts, function: ChecksPassword, args: { key: lab.session_v1 } }
`,
    'scriptlets/leaky.ts': LEAKY_TS,
  })
  try {
    expect((await resume.recipes(['run', 'recipes/resume.yaml'], { env: ENV })).code).toBe(0)
    const resumed = await resume.recipes(['run', 'recipes/resume.yaml', '--resume-from', 'use'], { env: ENV })
    expect(resumed.output).toContain('1 passed')
    expect(resumed.code).toBe(0)
    const missing = await resume.recipes(['run', 'recipes/resume.yaml', '--resume-from', 'use'], {
      env: { SWITCH_PASSWORD: undefined },
    })
    expect(missing.code).toBe(2)
    expect(missing.output).toContain('ctx key lab.session_v1 of run')
    // "use" declares nothing about what it reads: it may read the key.
    expect(missing.output).toContain(
      'holds the secret of the environment variable SWITCH_PASSWORD, which is not set, and step "use", which will run, does not declare what it reads, so it may read it: set SWITCH_PASSWORD and resume again',
    )
  } finally {
    resume.remove()
  }
})

const DERIVED_RESUME_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export const Login = defineScriptlet({
  reads: [],
  outputs: ['auth.token_v1'],
  run(ctx, _params, tools) {
    const token = 'session-' + (process.env.SWITCH_PASSWORD ?? '').split('').reverse().join('')
    tools.secret(token)
    ctx.set('auth.token_v1', token, { who: tools.step })
  },
})
export const UsesToken = defineScriptlet({
  reads: ['auth.token_v1'],
  outputs: [],
  run(ctx) {
    if (!ctx.require<string>('auth.token_v1').startsWith('session-')) throw new Error('not a session token')
  },
})
export const Counts = defineScriptlet({
  reads: [],
  outputs: ['lab.count_v1'],
  run(ctx, _params, tools) {
    ctx.set('lab.count_v1', 1, { who: tools.step })
  },
})
export const Undeclared = defineScriptlet({ run() {} })
`

test('--resume-from refuses a derived secret only when a step that will run reads it (or declares nothing), naming the key, the step and what to do', async () => {
  const step = (idx: number, name: string, fn: string, needs: string) =>
    `  - { idx: ${idx}, name: ${name}, type: ts, module: scriptlets/derived.ts, function: ${fn}, depends_on: [${needs}] }\n`
  const resume = createProject({
    'recipes/derived.yaml': `test_meta: { test_id: SECRET-3 }\nsteps:\n${step(1, 'login', 'Login', '')}${step(2, 'use_token', 'UsesToken', 'login')}${step(3, 'count', 'Counts', '')}`,
    'recipes/legacy.yaml': `test_meta: { test_id: SECRET-4 }\nsteps:\n${step(1, 'login', 'Login', '')}${step(2, 'count', 'Counts', '')}${step(3, 'legacy', 'Undeclared', 'count')}`,
    'scriptlets/derived.ts': DERIVED_RESUME_TS,
  })
  const env = { SWITCH_PASSWORD: 'Sw1tch"S3c\\ret-2026!' }
  try {
    for (const recipe of ['recipes/derived.yaml', 'recipes/legacy.yaml']) {
      const first = await resume.recipes(['run', recipe], { env })
      expect(first.code, first.output).toBe(0)
    }
    // No step from "count" on reads the token: the resume goes ahead.
    const unread = await resume.recipes(['run', 'recipes/derived.yaml', '--resume-from', 'count'], { env })
    expect(unread.code, unread.output).toBe(0)
    expect(unread.output).toContain('1 passed')
    // "use_token" reads it: refused, saying which key, which step and what to do.
    const read = await resume.recipes(['run', 'recipes/derived.yaml', '--resume-from', 'use_token'], { env })
    expect(read.code, read.output).toBe(2)
    expect(read.stderr).toMatch(/ctx key auth\.token_v1 of run \S+ holds a value derived from a secret at run time/)
    expect(read.stderr).toContain('step "use_token", which will run, reads it')
    expect(read.stderr).toContain('resume from "login" (the step that wrote it) or an earlier step')
    // "legacy" will run and does not declare what it reads: it may read the token, so refused too.
    const undeclared = await resume.recipes(['run', 'recipes/legacy.yaml', '--resume-from', 'count'], { env })
    expect(undeclared.code, undeclared.output).toBe(2)
    expect(undeclared.stderr).toContain('ctx key auth.token_v1 of run')
    expect(undeclared.stderr).toContain('step "legacy", which will run, does not declare what it reads')
    expect(undeclared.stderr).toMatch(/declare its reads/)
  } finally {
    resume.remove()
  }
})
