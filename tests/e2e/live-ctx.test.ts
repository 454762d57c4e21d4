import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, type RunResult, type TestProject } from './project.ts'

const RECIPE = `test_meta:
  test_id: LIVE-E2E
  description: the ctx served while the recipe runs, read and written from outside and from steps
secrets: [LAB_PASS]
steps:
  - name: login
    type: ts
    module: scriptlets/login.ts
  - name: tick
    type: shell
    cmd: scriptlets/shell/live_ticker.sh
    timeout: 60
  - name: samples
    type: python
    module: scriptlets.python.live_samples
    class: CollectSamples
    args: { values: [3, 5] }
    success:
      ctx_equals:
        data.samples_v1: [3, 5]
  - name: script
    type: python
    script: scriptlets/python/live_script.py
  - name: after
    type: shell
    cmd: scriptlets/shell/ctx_file.sh
    args: { KEY: files.seen_v1 }
    success:
      ctx_equals:
        lab.go_v1: now
        lab.script_v1: from a script
  - name: raw_in_step
    type: shell
    cmd: scriptlets/shell/raw_in_step.sh
  - name: raw_in_python
    type: python
    script: scriptlets/python/raw_in_python.py
`

// Quotes and a backslash: the value is escaped inside JSON, and must be masked there too.
const PASSWORD = 'Sw1tch"S3c\\ret-2026!'
const LAB_PASS = 'lab-pass-0042-x'
const TOKEN = `tok-${LAB_PASS.split('').reverse().join('')}`
const RAW = [PASSWORD, JSON.stringify(PASSWORD).slice(1, -1), LAB_PASS, TOKEN]
const SECRETS_ENV = { SWITCH_PASSWORD: PASSWORD, LAB_PASS }
/** A step writes secrets to the ctx: a variable whose name looks secret, one the recipe lists, a derived token. */
const LOGIN_TS = `import { defineScriptlet } from 'vitest-recipes/scriptlet'
export default defineScriptlet({
  run(ctx, _params, tools) {
    ctx.set('lab.login_v1', { user: 'admin', password: process.env.SWITCH_PASSWORD, lab: process.env.LAB_PASS }, { who: tools.step })
    const token = 'tok-' + (process.env.LAB_PASS ?? '').split('').reverse().join('')
    tools.secret(token)
    ctx.set('auth.token_v1', token, { who: tools.step })
  },
})
`
/** A shell step reads the raw values with the CLI: the run's own processes need them. */
const RAW_IN_STEP_SH = `#!/bin/sh
node "$RECIPES_CLI" ctx get lab.login_v1 | python3 -c '
import json, os, sys
value = json.load(sys.stdin)["value"]
ok = value["password"] == os.environ["SWITCH_PASSWORD"] and value["lab"] == os.environ["LAB_PASS"]
print(json.dumps({"status": "ok"} if ok else {"status": "error", "reason": "the step read masked values", "exit_code": 1}))
'
`
/** A python step reads them with the live client. */
const RAW_IN_PYTHON = `import json, os, sys
sys.path.insert(0, os.environ["RECIPES_PYTHON_LIB"])
from vitest_recipes import live
value = live.get("lab.login_v1")
token = live.get("auth.token_v1")
ok = value["password"] == os.environ["SWITCH_PASSWORD"] and token == "tok-" + os.environ["LAB_PASS"][::-1]
ok = ok and live.full()["values"]["auth.token_v1"] == token
print(json.dumps({"status": "ok"} if ok else {"status": "error", "reason": "the live client read masked values", "exit_code": 1}))
`

let project: TestProject
const LIVE = 'reports/results.sqlite.live'

beforeAll(() => {
  project = createProject({
    'recipes/live.yaml': RECIPE,
    'scriptlets/login.ts': LOGIN_TS,
    'scriptlets/shell/raw_in_step.sh': RAW_IN_STEP_SH,
    'scriptlets/python/raw_in_python.py': RAW_IN_PYTHON,
  })
  chmodSync(join(project.root, 'scriptlets/shell/raw_in_step.sh'), 0o755)
  project.copyFixture('shell/live_ticker.sh', 'scriptlets/shell/live_ticker.sh')
  project.copyFixture('shell/ctx_file.sh', 'scriptlets/shell/ctx_file.sh')
  project.copyFixture('python/live_samples.py', 'scriptlets/python/live_samples.py')
  project.copyFixture('python/live_script.py', 'scriptlets/python/live_script.py')
})
afterAll(() => project.remove())

const ctx = (...args: string[]) => project.recipes(['ctx', ...args], { env: SECRETS_ENV })
const json = (result: RunResult) => JSON.parse(result.stdout) as Record<string, unknown>

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  seconds = 30,
  why: () => string = () => '',
): Promise<T> {
  const end = Date.now() + seconds * 1000
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > end) throw new Error(`waited ${seconds} s for ${what}; ${why()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

test('a running recipe serves its ctx: steps and outside callers read and write it as it runs, and every write is recorded', async () => {
  const running = project.vitest(['run', 'recipes/'], { env: SECRETS_ENV })
  let ended: RunResult | undefined
  void running.then((result) => (ended = result))

  // The step's own writes show from outside while it runs.
  let last: RunResult | undefined
  const ticks = await until(
    'the ticker step to report a tick',
    async () => {
      // A run that ended before its first tick will never tick: say what it printed.
      if (ended) throw new Error(`the run ended (exit ${ended.code}) before its first tick:\n${ended.output}`)
      last = await ctx('get', 'lab.ticks_v1')
      return last.code === 0 && json(last).value !== undefined ? json(last) : undefined
    },
    30,
    () => `the last recipes ctx get: exit ${last?.code}: ${last?.output.trim()}`,
  )
  expect(ticks).toMatchObject({ key: 'lab.ticks_v1', value: expect.any(Number), revision: expect.any(Number) })
  expect(ticks.run).toMatch(/-live-/)

  // Where the run is published: a file only the user can read, in a folder only the user can enter.
  const [endpointFile] = readdirSync(join(project.root, LIVE))
  expect(statSync(join(project.root, LIVE, endpointFile!)).mode & 0o777).toBe(0o600)
  expect(statSync(join(project.root, LIVE)).mode & 0o777).toBe(0o700)

  // What a person reads in a terminal is masked as the stored run will show it; --reveal prints the values and says so.
  const [login, token, full, revealed] = await Promise.all([
    ctx('get', 'lab.login_v1'),
    ctx('get', 'auth.token_v1'),
    ctx('full'),
    ctx('get', 'lab.login_v1', '--reveal'),
  ])
  for (const read of [login, token, full]) {
    expect(read.code, read.output).toBe(0)
    expect(RAW.filter((value) => read.output.includes(value))).toEqual([])
  }
  const masked = { user: 'admin', password: '***{SWITCH_PASSWORD}', lab: '***{LAB_PASS}' }
  expect(json(login).value).toEqual(masked)
  expect(json(token).value).toBe('***{derived}')
  expect(json(full).values).toMatchObject({ 'lab.login_v1': masked, 'auth.token_v1': '***{derived}' })
  expect(revealed.code, revealed.output).toBe(0)
  expect(json(revealed).value).toEqual({ user: 'admin', password: PASSWORD, lab: LAB_PASS })
  expect(revealed.stderr).toMatch(/--reveal: .*in clear/)
  // A write's answer (the value after it, what pop removed) is masked too.
  const echoed = await ctx('set', 'lab.echo_v1', JSON.stringify({ copy: PASSWORD }), '--who', 'lab-console')
  expect(echoed.code, echoed.output).toBe(0)
  expect(json(echoed).value).toEqual({ copy: '***{SWITCH_PASSWORD}' })

  // Refusals, with their exit codes: a bad key (3), a value that is not JSON (3), a stale revision (1).
  const badKey = await ctx('set', 'LinkState', '"up"')
  expect(badKey.code).toBe(3)
  expect(badKey.stderr).toMatch(/keys are named namespace\.entity_vN/)
  const notJson = await ctx('set', 'lab.go_v1', 'now')
  expect(notJson.code).toBe(3)
  expect(notJson.stderr).toMatch(/is not JSON/)
  const stale = await ctx('set', 'lab.ticks_v1', '0', '--revision', '1')
  expect(stale.code).toBe(1)
  expect(json(stale).error).toMatchObject({ code: 'CTX_REVISION_CONFLICT' })

  // An outside write reaches the running step, which then ends.
  const go = await ctx('set', 'lab.go_v1', '"now"', '--who', 'lab-console')
  expect(go.code, go.output).toBe(0)
  expect(json(go)).toMatchObject({ key: 'lab.go_v1', value: 'now' })

  const result = await running
  expect(result.code, result.output).toBe(0)
  // The shell and python steps read the raw values from inside the run: they passed.
  expect(result.output).toMatch(/7 passed/)
  // The run ended: it is no longer published.
  expect(existsSync(join(project.root, LIVE, endpointFile!))).toBe(false)

  // The store holds every write with its writer: the console's between the steps, the Python step's through the API.
  const db = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    const history = db
      .prepare(
        "SELECT key, who, step, after FROM context_history WHERE key IN ('lab.go_v1', 'data.samples_v1', 'lab.script_v1') ORDER BY seq",
      )
      .all()
    expect(history).toEqual([
      { key: 'lab.go_v1', who: 'lab-console', step: null, after: '"now"' },
      { key: 'data.samples_v1', who: 'samples', step: null, after: '[3]' },
      { key: 'data.samples_v1', who: 'samples', step: null, after: '[3,5]' },
      { key: 'lab.script_v1', who: 'script', step: null, after: '"from a script"' },
    ])
    const ticksWritten = db.prepare("SELECT COUNT(*) AS n FROM context_history WHERE key = 'lab.ticks_v1'").get() as {
      n: number
    }
    expect(ticksWritten.n).toBe(json(await ctx('get', 'lab.ticks_v1')).value as number)
  } finally {
    db.close()
  }
})

test('after the run, reads come from the store and writes are refused', async () => {
  // The stored run shows secrets as the live one did.
  const stored = await ctx('get', 'lab.login_v1')
  expect(json(stored)).toMatchObject({ live: false, value: { password: '***{SWITCH_PASSWORD}', lab: '***{LAB_PASS}' } })
  const read = await ctx('get', 'lab.go_v1')
  expect(read.code).toBe(0)
  expect(json(read)).toMatchObject({ live: false, key: 'lab.go_v1', value: 'now' })
  expect(json(await ctx('full')).values).toMatchObject({ 'lab.go_v1': 'now', 'data.samples_v1': [3, 5] })
  const missing = await ctx('get', 'lab.never_v1')
  expect(missing.code).toBe(1)
  const write = await ctx('set', 'lab.late_v1', '1')
  expect(write.code).toBe(2)
  expect(write.stderr).toMatch(/is not running \(passed\): its ctx can no longer change/)
  const unknown = await ctx('get', 'lab.go_v1', '--run', 'no-such-run')
  expect(unknown.code).toBe(3)
  expect(unknown.stderr).toMatch(/no run "no-such-run"/)
  const usage = await ctx('frobnicate')
  expect(usage.code).toBe(3)
  expect(usage.stderr).toMatch(/unknown operation "frobnicate"/)
})
