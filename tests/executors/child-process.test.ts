import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { runCommandStep } from '../../plugin/executors/command.ts'
import { removeCtxFiles } from '../../plugin/executors/ctx-file.ts'
import { stopLeftoverProcesses } from '../../plugin/executors/leftovers.ts'
import { processesWithMarker, stepInput } from './steps.ts'

const options = { pythonExecutable: 'python3' }
const markers: string[] = []

/** A marker no other test run uses, so /proc lookups find only this test's processes. */
function newMarker(): string {
  const marker = `vr-leftover-${process.pid}-${Date.now()}-${markers.length}`
  markers.push(marker)
  return marker
}

// What the recipe file's end does: the context files of its shell steps go.
afterAll(() => removeCtxFiles())

afterEach(() => {
  // Whatever a failing test left behind goes, so it never outlives the test run.
  for (const marker of markers.splice(0)) for (const pid of processesWithMarker(marker)) process.kill(pid, 'SIGKILL')
})

describe('stdin', () => {
  test('a shell script that reads stdin gets end-of-file at once', async () => {
    const input = stepInput({ name: 'ask', type: 'shell', command: 'shell/reads_stdin.sh' })
    const started = Date.now()
    const { envelope } = await runCommandStep(input, options)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(envelope).toMatchObject({ status: 'ok', outputs: ['stdin.read_v1'] })
    expect(input.stepCtx.get('stdin.read_v1')).toEqual({ status: 1, line: '' })
  })

  test('a python script reads an empty stdin; sys.exit(0) after an ok envelope passes', async () => {
    const input = stepInput({ name: 'script', type: 'python', command: 'python/script_exits.py', params: { code: 0 } })
    const { envelope } = await runCommandStep(input, options)
    expect(envelope).toMatchObject({ status: 'ok' })
    expect(input.stepCtx.get('py.script_exit_v1')).toEqual({ stdin: '' })
  })
})

test("a python script's sys.exit(n) is the step's exit code, over its envelope's", async () => {
  const input = stepInput({ name: 'script', type: 'python', command: 'python/script_exits.py', params: { code: 3 } })
  const { envelope } = await runCommandStep(input, options)
  expect(envelope).toMatchObject({ status: 'error', reason: 'script gave up', exit_code: 3 })
})

test('a program missing from PATH is named as not found (execa error code ENOENT)', async () => {
  const input = stepInput({ name: 'missing', type: 'exec', command: ['vitest-recipes-no-such-program'] })
  const { envelope } = await runCommandStep(input, options)
  expect(envelope).toMatchObject({
    status: 'error',
    reason: 'could not start vitest-recipes-no-such-program was not found',
    exit_code: 1,
  })
})

describe('background children', () => {
  test('a script that exits while its background child holds stdout ends with the script', {
    timeout: 10_000,
  }, async () => {
    const marker = newMarker()
    const input = stepInput(
      { name: 'bg', type: 'shell', command: 'shell/background_child.sh', params: [marker, '30'] },
      { timeoutMs: 20_000 },
    )
    const started = Date.now()
    const { envelope, stderr } = await runCommandStep(input, options)
    expect(Date.now() - started).toBeLessThan(3000)
    expect(envelope).toMatchObject({ status: 'ok', outputs: ['bg.started_v1'] })
    expect(stderr).toContain(`started ${marker} as pid`)
    const [pid] = processesWithMarker(marker)
    expect(pid).toBeDefined()

    const stopped = await stopLeftoverProcesses()
    expect(stopped).toEqual([`stopped pid ${pid} (${marker} 30) left running by step "bg" (SIGTERM)`])
    expect(processesWithMarker(marker)).toEqual([])
    expect(await stopLeftoverProcesses()).toEqual([])
  })

  test('a step that left nothing running leaves nothing to stop', async () => {
    const input = stepInput({ name: 'plain', type: 'exec', command: ['echo', '{"status":"ok"}'] })
    expect((await runCommandStep(input, options)).envelope).toMatchObject({ status: 'ok' })
    expect(await stopLeftoverProcesses()).toEqual([])
  })

  test('a child that ignores SIGTERM is killed after the grace period', { timeout: 10_000 }, async () => {
    const marker = newMarker()
    // The child traps TERM and keeps the script's stdout open.
    const script = `(trap '' TERM; exec -a ${marker} sleep 30) & echo '{"status":"ok"}'`
    const input = stepInput({ name: 'stubborn', type: 'exec', command: ['bash', '-c', script] })
    expect((await runCommandStep(input, options)).envelope).toMatchObject({ status: 'ok' })
    const [pid] = processesWithMarker(marker)
    const stopped = await stopLeftoverProcesses()
    expect(stopped).toEqual([
      `stopped pid ${pid} (${marker} 30) left running by step "stubborn" (SIGKILL, still running 1000 ms after SIGTERM)`,
    ])
    expect(processesWithMarker(marker)).toEqual([])
  })
})

test('a program that prints more than 64 MiB is stopped, and the step says why', { timeout: 20_000 }, async () => {
  const input = stepInput({ name: 'flood', type: 'exec', command: ['yes'], parse: 'raw' })
  const { envelope } = await runCommandStep(input, options)
  expect(envelope).toMatchObject({
    status: 'error',
    reason:
      'yes printed more than 64 MiB on stdout, so it was stopped (write big results to a file and put its path in the envelope)',
  })
})

describe('params as environment variables', () => {
  test("the runner's own variables win over a param of the same name", async () => {
    const input = {
      ...stepInput({
        name: 'env',
        type: 'exec',
        command: [
          'sh',
          '-c',
          'printf \'{"status":"ok","metrics":{"url":"%s","label":"%s"}}\' "$RECIPES_CTX_URL" "$LABEL"',
        ],
        params: { RECIPES_CTX_URL: 'http://elsewhere', LABEL: 'kept' },
      }),
      env: { RECIPES_CTX_URL: 'http://127.0.0.1:1' },
    }
    const { envelope } = await runCommandStep(input, options)
    expect(envelope).toMatchObject({ status: 'ok', metrics: { url: 'http://127.0.0.1:1', label: 'kept' } })
  })

  test('a refused name never reaches a program (as `recipes step --params` gives it): invalid input, exit 3', async () => {
    const input = stepInput({
      name: 'env',
      type: 'exec',
      command: ['sh', '-c', 'echo \'{"status":"ok"}\''],
      params: { Bash_Env: '/tmp/x.sh' },
    })
    const { envelope } = await runCommandStep(input, options)
    expect(envelope).toMatchObject({ status: 'error', exit_code: 3 })
    expect((envelope as { reason: string }).reason).toMatch(
      /^parameter "Bash_Env", a case variant of BASH_ENV, which would become the step's environment variable Bash_Env: bash runs/,
    )
  })
})
