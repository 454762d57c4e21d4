import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { liveEndpoints } from '../../plugin/live/endpoints.ts'
import { parseRecipe } from '../../plugin/recipe/parse.ts'
import { defineRecipe, type StepTestContext } from '../../plugin/runtime/index.ts'
import { RunSession } from '../../plugin/runtime/run-session.ts'
import type { CompiledRecipe } from '../../plugin/runtime/spec.ts'
import { defineScriptlet } from '../../plugin/scriptlet/index.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { compiledRecipe } from './compiled.ts'

// The run's fixed costs: the ctx server starts beside the first step rather than before it,
// and the run's end does only what is needed. What must not change: a process a step starts
// finds the server in its environment from the first step on; the run can be reached while
// its first step runs; a server that cannot listen fails the run, saying why, recorded
// failed; the server is closed before the run's status is final, and none outlives its run.

const roots: string[] = []
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true })
})

interface Fixture {
  root: string
  db: string
  compiled: CompiledRecipe
}

function fixture(yaml: string, ctxServer: CompiledRecipe['ctxServer'] = { host: '127.0.0.1', port: 0 }): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-run-session-'))
  roots.push(root)
  const db = join(root, 'results.sqlite')
  const recipe = parseRecipe(`test_meta: { test_id: RUN-SESSION }\n${yaml}`, 'recipes/session.yaml')
  return {
    root,
    db,
    compiled: compiledRecipe(recipe, root, db, ctxServer),
  }
}

/** Runs the recipe's steps in order as Vitest would, then ends the file: what each step and the end threw. */
async function runAll(
  { compiled }: Fixture,
  modules: Record<string, Record<string, unknown>>,
): Promise<{ steps: Record<string, string>; finish: string }> {
  const run = defineRecipe(compiled, modules)
  const file = { tasks: [] as unknown[] }
  const tasks = compiled.recipe.steps.map((step) => ({ name: step.name, mode: 'run', meta: {}, file }))
  file.tasks.push(...tasks)
  const steps: Record<string, string> = {}
  for (const task of tasks) {
    const context = {
      task,
      skip: (note: string) => {
        throw new Error(`skipped: ${note}`)
      },
    } as unknown as StepTestContext
    try {
      await run.runStep(task.name, context)
      steps[task.name] = 'passed'
    } catch (error) {
      steps[task.name] = (error as Error).message
    }
  }
  let finish = 'ended'
  try {
    await run.finish()
  } catch (error) {
    finish = (error as Error).message
  }
  return { steps, finish }
}

async function storedStatus(db: string): Promise<string | undefined> {
  const store = await RunStore.open(db)
  try {
    const found = await store.findRun('last')
    return 'runId' in found ? (await store.readRun(found.runId))?.run.status : undefined
  } finally {
    await store.close()
  }
}

const noop = defineScriptlet({ name: 'noop', run() {} })

async function takenPort(): Promise<{ server: Server; port: number }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

async function answers(url: string, token: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/v1/run`, { headers: { authorization: `Bearer ${token}` } })
    return response.ok
  } catch {
    return false
  }
}

test('a shell step finds the ctx server in its environment, answering, on the very first step', async () => {
  const setup = fixture(`steps:
  - { name: first, type: shell, cmd: scripts/reach.sh }
`)
  mkdirSync(join(setup.root, 'scripts'))
  const script = join(setup.root, 'scripts/reach.sh')
  writeFileSync(
    script,
    `#!/bin/sh
[ -n "$RECIPES_CTX_URL" ] && [ -n "$RECIPES_CTX_TOKEN" ] || { echo "no RECIPES_CTX_URL in the step's environment" >&2; exit 3; }
exec "${process.execPath}" -e 'fetch(process.env.RECIPES_CTX_URL + "/v1/run", { headers: { authorization: "Bearer " + process.env.RECIPES_CTX_TOKEN } }).then((r) => { if (!r.ok) process.exit(4); console.log(JSON.stringify({ status: "ok" })) }, () => process.exit(5))'
`,
  )
  chmodSync(script, 0o755)
  const { steps, finish } = await runAll(setup, {})
  expect(steps).toEqual({ first: 'passed' })
  expect(finish).toBe('ended')
})

test('the run can be reached (recipes ctx, the dashboard) while its first step runs, which shows as running', async () => {
  const setup = fixture(`steps:
  - { name: first, type: ts, module: steps.ts, function: reach }
  - { name: second, type: ts, module: steps.ts, function: noop }
`)
  const storePath = setup.db
  const reach = defineScriptlet({
    name: 'reach',
    async run(ctx) {
      const end = Date.now() + 10_000
      while (Date.now() < end) {
        const [endpoint] = liveEndpoints(storePath)
        if (endpoint) {
          const response = await fetch(`${endpoint.url}/v1/run`, {
            headers: { authorization: `Bearer ${endpoint.token}` },
          })
          const run = (await response.json()) as { running: { step: string }[] }
          ctx.set(
            'seen.running_v1',
            run.running.map((step) => step.step),
            { who: 'first' },
          )
          return
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      throw new Error('the run was not published while its first step ran')
    },
  })
  const { steps, finish } = await runAll(setup, { 'steps.ts': { reach, noop } })
  expect(steps).toEqual({ first: 'passed', second: 'passed' })
  expect(finish).toBe('ended')
  const store = await RunStore.open(setup.db)
  try {
    const found = await store.findRun('last')
    const stored = 'runId' in found ? await store.readRun(found.runId) : undefined
    expect(stored?.context.find((row) => row.key === 'seen.running_v1')?.value).toEqual(['first'])
  } finally {
    await store.close()
  }
  // The run ended: it is no longer published.
  expect(liveEndpoints(storePath)).toEqual([])
})

test('a ctx server that cannot listen (its port taken) fails the run, saying why, and the run is recorded failed', async () => {
  const { server, port } = await takenPort()
  try {
    const why = new RegExp(
      `^vitest-recipes: run .* failed: the ctx server could not listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); set the plugin option ctxServer\\.port`,
    )
    const wait = defineScriptlet({
      name: 'wait',
      run: () => new Promise<void>((resolve) => setTimeout(resolve, 300)),
    })
    // Steps that never let the thread go (the run ends before the server would have started),
    // and a first step that waits (the server fails while it runs): the steps need no server
    // and pass; the file's end fails saying why, and the run is recorded failed.
    for (const first of ['noop', 'wait']) {
      const setup = fixture(
        `steps:
  - { name: first, type: ts, module: steps.ts, function: ${first} }
  - { name: second, type: ts, module: steps.ts, function: noop }
`,
        { host: '127.0.0.1', port },
      )
      const ran = await runAll(setup, { 'steps.ts': { noop, wait } })
      expect(ran.finish).toMatch(why)
      expect(await storedStatus(setup.db)).toBe('failed')
    }

    // A step that starts a process needs the server: the run does not start without it.
    const shell = fixture(
      `steps:
  - { name: first, type: shell, cmd: "true" }
`,
      { host: '127.0.0.1', port },
    )
    const refused = await runAll(shell, {})
    expect(refused.steps.first).toMatch(new RegExp(`could not listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`))
    expect(refused.steps.first).toMatch(/^vitest-recipes: the run could not start: /)
    expect(await storedStatus(shell.db)).toBe('failed')
  } finally {
    server.close()
  }
})

test('finish closes the ctx server and withdraws its endpoint before the run status is final', async () => {
  const setup = fixture(`steps:
  - { name: first, type: ts, module: steps.ts, function: noop }
`)
  const session = new RunSession(setup.compiled, 'run-closes', { skip: [], noCache: false, debug: false })
  const started = await session.start()
  await session.ctxServed()
  const env = session.childEnv!
  expect(await answers(env.RECIPES_CTX_URL!, env.RECIPES_CTX_TOKEN!)).toBe(true)
  expect(liveEndpoints(setup.db).map((endpoint) => endpoint.runId)).toEqual(['run-closes'])
  const seen: { published: number; answered: Promise<boolean> }[] = []
  const finishRun = started.recorder.finishRun.bind(started.recorder)
  started.recorder.finishRun = (...args) => {
    seen.push({
      published: liveEndpoints(setup.db).length,
      answered: answers(env.RECIPES_CTX_URL!, env.RECIPES_CTX_TOKEN!),
    })
    return finishRun(...args)
  }
  await session.finish('passed')
  expect(seen).toHaveLength(1)
  expect(seen[0]!.published).toBe(0)
  expect(await seen[0]!.answered).toBe(false)
  expect(await storedStatus(setup.db)).toBe('passed')
})

test('a server still starting when the run ends is waited for and closed; one never started is not started', async () => {
  const options = { skip: [], noCache: false, debug: false }
  // Starting: asked for (as a step that starts a process asks), not yet up when the run ends.
  const starting = fixture(`steps:
  - { name: first, type: ts, module: steps.ts, function: noop }
`)
  const session = new RunSession(starting.compiled, 'run-starting', options)
  await session.start()
  const served = session.ctxServed()
  expect(served).toBeInstanceOf(Promise)
  await session.finish('passed')
  await served
  const env = session.childEnv
  expect(liveEndpoints(starting.db)).toEqual([])
  if (env) expect(await answers(env.RECIPES_CTX_URL!, env.RECIPES_CTX_TOKEN!)).toBe(false)
  expect(await storedStatus(starting.db)).toBe('passed')

  // Never started: a run whose steps never let the thread go ends without one, and leaves none behind.
  const quick = fixture(`steps:
  - { name: first, type: ts, module: steps.ts, function: noop }
`)
  const ran = await runAll(quick, { 'steps.ts': { noop } })
  expect(ran).toEqual({ steps: { first: 'passed' }, finish: 'ended' })
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect(liveEndpoints(quick.db)).toEqual([])
  // Nothing was published: the server was not started.
  expect(existsSync(`${quick.db}.live`)).toBe(false)
  expect(await storedStatus(quick.db)).toBe('passed')
})

/** The pids whose command line holds `marker`. */
function processesWith(marker: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) pids.push(Number(name))
    } catch {
      // Ended meanwhile.
    }
  }
  return pids
}

test.skipIf(process.platform !== 'linux')(
  'what a passing shell or python step leaves running is stopped when the run ends',
  async () => {
    const marker = (what: string) => `vr-run-session-${what}-${process.pid}`
    // Each kind in a recipe of its own: the run's end must look for leftovers after either.
    const shell = fixture(
      `steps:
  - { name: shell_left, type: shell, cmd: scripts/setsid_child.sh, args: [${marker('shell')}, exit] }
`,
      false,
    )
    mkdirSync(join(shell.root, 'scripts'))
    const script = join(shell.root, 'scripts/setsid_child.sh')
    copyFileSync(join(import.meta.dirname, '../fixtures/shell/setsid_child.sh'), script)
    chmodSync(script, 0o755)
    const python = fixture(
      `steps:
  - { name: python_left, type: python, module: leaver, class: LeavesSleeper, args: { marker: ${marker('python')} } }
`,
      false,
    )
    writeFileSync(
      join(python.root, 'leaver.py'),
      `import subprocess, sys
class LeavesSleeper:
    def run(self, ctx, params):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", params["marker"]], start_new_session=True)
        return 0
`,
    )
    try {
      expect(await runAll(shell, {})).toEqual({ steps: { shell_left: 'passed' }, finish: 'ended' })
      expect(processesWith(marker('shell'))).toEqual([])
      expect(await runAll(python, {})).toEqual({ steps: { python_left: 'passed' }, finish: 'ended' })
      expect(processesWith(marker('python'))).toEqual([])
    } finally {
      for (const pid of [...processesWith(marker('shell')), ...processesWith(marker('python'))])
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Gone.
        }
    }
  },
)
