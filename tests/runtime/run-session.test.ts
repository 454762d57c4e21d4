import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, test, vi } from 'vitest'
import { readStoredRun, runRecipe, STEPS, useRuntimeProjects } from './harness.ts'

// What a run leaves, through the runtime's entry points without Vitest, when something under
// it refuses: the store refusing a step's record, a step log that cannot be written; and the
// secrets the run masks in everything it leaves (failures, records, logs, the store).

const projectWith = useRuntimeProjects()
const FIXTURES = join(import.meta.dirname, '../fixtures')

describe('what the runner cannot write', () => {
  test('a store that refuses a step record fails the step saying so; the run is kept and stored once the store is repaired', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: first, type: ts, module: ${STEPS}, function: set, args: { key: x.first_v1 } }
  - { idx: 2, name: second, type: ts, module: ${STEPS}, function: set, args: { key: x.second_v1 } }
`)
    const { default: Database } = await import('better-sqlite3')
    const { runId, tests, finishError } = await runRecipe(project, 'recipes/x.yaml', {
      beforeTest(step) {
        if (step !== 'second') return
        const store = new Database(project.db)
        store.exec('ALTER TABLE step_metrics RENAME TO step_metrics_moved')
        store.close()
      },
    })
    expect(tests.first!.state).toBe('pass')
    expect(tests.second!.state).toBe('fail')
    expect(tests.second!.error!.message).toMatch(
      /^Step "second" \(scriptlets\/steps.ts#set, recipes\/x.yaml:3\) the run store could not record this step: .*no such table: step_metrics/,
    )
    expect(tests.second!.meta).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^the run store could not record this step: .*no such table: step_metrics/),
      writes: [],
    })
    expect(tests.second!.meta!.envelope).toBeUndefined()
    // The store's trouble is told in the message; its frames (the ingest, the journal) are no place of the user's.
    expect(tests.second!.error!.stack).not.toMatch(/[\\/](plugin|dist)[\\/]store[\\/]/)
    expect(tests.second!.error!.cause).toBeUndefined()
    expect(finishError?.message).toMatch(/no such table: step_metrics/)
    // Nothing is lost: the journal stays until a store that works takes it.
    const store = new Database(project.db)
    store.exec('ALTER TABLE step_metrics_moved RENAME TO step_metrics')
    store.close()
    const stored = await readStoredRun(project, runId)
    expect(stored?.run.status).toBe('failed')
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['first', 'passed'],
      ['second', 'failed'],
    ])
    expect(stored?.steps[1]?.reason).toMatch(/^the run store could not record this step: /)
  })

  test('a step log that cannot be written fails its step with that reason; in RAM mode the run end says so', async () => {
    const recipe = `steps:
  - { idx: 1, name: loud, type: ts, module: ${STEPS}, function: prints, args: { key: x.loud_v1 } }
  - { idx: 2, name: quiet, type: ts, module: ${STEPS}, function: set, args: { key: x.quiet_v1 }, depends_on: [] }
`
    const project = projectWith(recipe)
    // Logs is a file: no step log can be written under it.
    writeFileSync(join(project.root, 'Logs'), 'not a folder')
    const { runId, tests, finishError } = await runRecipe(project, 'recipes/x.yaml')
    expect(finishError).toBeUndefined()
    expect(tests.loud!.state).toBe('fail')
    expect(tests.loud!.error!.message).toMatch(/its log Logs\/.*\/1_loud\.log could not be written: (ENOTDIR|EEXIST)/)
    expect(tests.loud!.meta).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('could not be written'),
    })
    // A step that passed silently writes no log: nothing to refuse.
    expect(tests.quiet!.state).toBe('pass')
    const stored = await readStoredRun(project, runId)
    expect(stored?.run.status).toBe('failed')
    expect(stored?.steps.map((row) => [row.step, row.status])).toEqual([
      ['loud', 'failed'],
      ['quiet', 'passed'],
    ])
    // RAM mode writes the logs when the file ends: the failure comes then.
    project.write('store_on_ram.txt', '')
    const ram = await runRecipe(project, 'recipes/x.yaml')
    expect(ram.tests.loud!.state).toBe('pass')
    expect(ram.finishError?.message).toMatch(/could not write 1 step log\(s\)/)
  })
})

describe('secrets', () => {
  const secret = 'Pa55-word-for-the-lab-switch'
  const token = 'tok-0123456789abcdef'
  beforeEach(() => {
    vi.stubEnv('RUNTIME_SWITCH_PASSWORD', secret)
    // A secret by its name alone (…_TOKEN), which no recipe declares.
    vi.stubEnv('LAB_API_TOKEN', token)
    vi.stubEnv('SWITCH_PASSWORD', secret)
  })

  test('a TS step: masked in the failure, the record, the log, the ctx and the store', async () => {
    const project = projectWith(`steps:
  - { idx: 1, name: login, type: ts, module: ${STEPS}, function: leaks, args: { variable: RUNTIME_SWITCH_PASSWORD } }
`)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const login = tests.login!
    expect(login.state).toBe('fail')
    expect(login.error!.message).toContain('login refused for password ***')
    expect(login.error!.message).not.toContain(secret)
    expect(String(login.error!.stack)).not.toContain(secret)
    expect(login.meta!.reason).toBe('login refused for password ***')
    expect(JSON.stringify(login.meta)).not.toContain(secret)
    const log = project.read(login.meta!.logPath!)
    expect(log).toContain('logging in with ***')
    expect(log).not.toContain(secret)
    const stored = await readStoredRun(project, runId)
    expect(JSON.stringify(stored?.steps)).not.toContain(secret)
    expect(stored?.steps[0]?.reason).toBe('login refused for password ***')
    // The store keeps a reference to the variable, so --resume-from can restore the real value.
    expect(stored?.context.find((row) => row.key === 'lab.login_v1')?.value).toEqual({
      user: 'admin',
      password: '***{RUNTIME_SWITCH_PASSWORD}',
    })
  })

  test("a shell step in debug mode: its stderr, its envelope's reason and its params masked, by name pattern too", async () => {
    vi.stubEnv('RECIPES_DEBUG', '1')
    const project = projectWith(`secrets: [SWITCH_PASSWORD]
steps:
  - { idx: 1, name: login, type: shell, cmd: scriptlets/leaks_secret.sh, args: { user: admin } }
`)
    project.write('scriptlets/leaks_secret.sh', readFileSync(join(FIXTURES, 'shell/leaks_secret.sh'), 'utf8'), 0o755)
    const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
    const login = tests.login!
    expect(login.state).toBe('fail')
    expect(login.error!.message).toContain('failed with exit code 1: login with *** refused')
    expect(login.error!.message).toContain('using token *** and password ***')
    const log = project.read(login.meta!.logPath!)
    expect(log).toContain('using token *** and password ***')
    expect(log).toContain('params {"user":"admin"}')
    const stored = await readStoredRun(project, runId)
    const everything = [
      login.error!.message,
      String(login.error!.stack),
      JSON.stringify(login.meta),
      log,
      JSON.stringify(stored),
    ].join('\n')
    expect(everything).not.toContain(secret)
    expect(everything).not.toContain(token)
    expect(stored?.steps[0]?.reason).toBe('login with *** refused')
  })
})
