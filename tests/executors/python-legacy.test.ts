import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { PythonHost } from '../../plugin/executors/python-host.ts'
import { FIXTURES, stepInput } from './steps.ts'

// Scriptlets written as the older framework's guides show them (tests/fixtures/python/legacy_compat.py),
// run in one warm host as a recipe file's python steps are.
const host = new PythonHost({ executable: 'python3', path: [join(FIXTURES, 'python')], root: FIXTURES })
afterAll(() => host.close())

async function runStep(attr: string, params: Record<string, unknown> = {}, ctx = new Context()) {
  const input = stepInput(
    { name: attr, type: 'python', module: 'legacy_compat', export: attr, params: params as never },
    { ctx },
  )
  return { ...(await host.runStep(input)), ctx }
}

describe('a ctx value Python has but JSON has not is refused, naming the key, the writer and the spot', () => {
  test.each([
    ['tuple', 'value is a tuple (store a list)'],
    ['nested_tuple', 'value.a[1] is a tuple (store a list)'],
    ['int_keys', 'value has the key 1, an int (JSON keys are strings: use str(key))'],
    ['nested_none_key', 'value.ports[0] has the key None, a NoneType (JSON keys are strings: use str(key))'],
    [
      'big_int',
      'value is 18446744073709551617, beyond the 2**53 - 1 a JSON number holds exactly (store it as a string)',
    ],
    ['nan', 'value.x[0] is nan (only finite numbers are JSON)'],
    ['infinity', 'value is inf (only finite numbers are JSON)'],
    ['set', 'value.tags is a set (store a list)'],
    ['bytes', 'value is bytes (decode them, or store them as a file under Data/ and put its path in ctx)'],
    ['datetime', 'value is a datetime (store value.isoformat())'],
  ])('ctx.set of a %s', async (kind, spot) => {
    const { envelope, ctx } = await runStep('SetsValue', { kind })
    expect(envelope).toMatchObject({
      status: 'error',
      exit_code: 1,
      reason: `ContextError: ctx.set("py.value_v1") by "sets_value": ${spot}; the context holds JSON values only`,
    })
    expect(ctx.has('py.value_v1')).toBe(false)
  })

  test.each([
    ['tuple', 'ctx["py.returned_v1"] is a tuple (store a list)'],
    ['int_keys', 'ctx["py.returned_v1"] has the key 1, an int (JSON keys are strings: use str(key))'],
  ])("an envelope's ctx field holding a %s", async (kind, spot) => {
    const { envelope, ctx } = await runStep('ReturnsCtxValue', { kind })
    expect(envelope).toMatchObject({
      status: 'error',
      reason: `TypeError: run() returned an envelope that is not JSON: ${spot}`,
    })
    expect(ctx.has('py.returned_v1')).toBe(false)
  })

  test.each([
    [
      'big_int',
      'metrics.count is 18446744073709551617, beyond the 2**53 - 1 a JSON number holds exactly (store it as a string)',
    ],
    ['set', 'metrics.count.tags is a set (store a list)'],
    ['nan', 'metrics.count.x[0] is nan (only finite numbers are JSON)'],
  ])('an envelope metric holding a %s', async (kind, spot) => {
    const { envelope } = await runStep('ReturnsMetric', { kind })
    expect(envelope).toMatchObject({
      status: 'error',
      reason: `TypeError: run() returned an envelope that is not JSON: ${spot}`,
    })
  })
})

describe("the older runner's function variant that takes only params", () => {
  test('run(params) returning its envelope', async () => {
    const { envelope } = await runStep('params_only', { port: 'eth0' })
    expect(envelope).toMatchObject({ status: 'ok', echo: { port: 'eth0' } })
  })

  test('run(params) printing its envelope and returning 0', async () => {
    const { envelope } = await runStep('params_only_exit_code', { port: 'eth1' })
    expect(envelope).toMatchObject({ status: 'ok', echo: { port: 'eth1' } })
  })
})

describe('stdout: the envelope is the last JSON line with a status; other lines are output', () => {
  test('a Python dict and text starting with "{" printed after the JSON line do not replace it', async () => {
    const { envelope, stdout } = await runStep('PrintsDiagnostics')
    expect(envelope).toMatchObject({ status: 'ok', outputs: ['py.diag_v1'], metrics: { n: 1 } })
    expect(stdout).toContain("{'py.diag_v1': {'n': 1}}")
  })

  test('no JSON line at all: the exit code run() returned decides, as in the older runner', async () => {
    const { envelope } = await runStep('PrintsDictOnly')
    expect(envelope).toMatchObject({ status: 'ok' })
  })

  test('a JSON log line printed after the error envelope does not replace it', async () => {
    const { envelope } = await runStep('ErrorThenResourceLine')
    expect(envelope).toMatchObject({ status: 'error', reason: 'device not reachable', exit_code: 2 })
  })

  test('a logging handler made on sys.stdout at import writes into every later step of the host', async () => {
    await runStep('SetsValue', { kind: 'tuple' }) // imports the module, and its handler, in an earlier step
    expect((await runStep('LogsToStdout', { n: 1 })).stdout).toBe('log line 1\n')
    expect((await runStep('LogsToStdout', { n: 2 })).stdout).toBe('log line 2\n')
  })

  test('sys.stdout.buffer takes raw bytes; what is not UTF-8 reads as U+FFFD', async () => {
    const { envelope, stdout } = await runStep('WritesBytes')
    expect(envelope).toMatchObject({ status: 'ok', metrics: { bytes: 1 } })
    expect(stdout).toContain('raw \ufffd\ufffd bytes\n')
  })

  test('sys.stdout.reconfigure works, and stdout says it is UTF-8', async () => {
    const { envelope } = await runStep('Reconfigures')
    expect(envelope).toMatchObject({ status: 'ok', encoding: 'utf-8' })
  })

  test('10 MB on stdout before the envelope', async () => {
    const { envelope, stdout } = await runStep('PrintsMuch')
    expect(envelope).toMatchObject({ status: 'ok', metrics: { mb: 10 } })
    expect(stdout.length).toBeGreaterThan(10 * 1024 * 1024)
  })
})

test("vitest_recipes.Context, for a scriptlet's own tests, refuses what the host refuses", async () => {
  const { execFileSync } = await import('node:child_process')
  const out = execFileSync(
    'python3',
    [
      '-c',
      'from vitest_recipes import Context\ntry:\n    Context().set("py.value_v1", {"ports": (1, 2)}, who="mine")\nexcept ValueError as error:\n    print(error)',
    ],
    { env: { ...process.env, PYTHONPATH: join(FIXTURES, '../../python') }, encoding: 'utf8' },
  )
  expect(out.trim()).toBe('ctx.set("py.value_v1") by "mine": value.ports is a tuple (store a list)')
})

describe('an envelope printed as json.dumps writes it', () => {
  test('json.dumps(envelope, indent=2): the envelope is read whole', async () => {
    const { envelope } = await runStep('PrintsPretty')
    expect(envelope).toMatchObject({ status: 'ok', metrics: { ports: 4 } })
    const failed = await runStep('PrintsPrettyError')
    expect(failed.envelope).toMatchObject({ status: 'error', reason: 'link down', exit_code: 1 })
  })

  test.each([
    ['nan', 'metrics.std.x[0] is nan (only finite numbers are JSON)'],
    [
      'big_int',
      'metrics.std is 18446744073709551617, beyond the 2**53 - 1 a JSON number holds exactly (store it as a string)',
    ],
  ])('a printed envelope holding a %s fails the step, naming the spot', async (kind, spot) => {
    const { envelope } = await runStep('PrintsNotJsonMetric', { kind })
    expect(envelope).toMatchObject({
      status: 'error',
      reason: `TypeError: the envelope printed on stdout is not JSON: ${spot}`,
    })
  })
})

test('KeyboardInterrupt (or a subclass) fails its step with exit code 130, as a standalone run exits, and the host lives on', async () => {
  const pid = (await runStep('Interrupted')).envelope.pid
  const { envelope, stderr } = await runStep('Interrupted', { raise: true })
  expect(envelope).toMatchObject({ status: 'error', reason: 'KeyboardInterrupt: ', exit_code: 130 })
  expect(stderr).toContain('legacy_compat.py')
  expect(stderr).not.toContain('recipes_host.py')
  const subclass = await runStep('Interrupted', { subclass: true })
  expect(subclass.envelope).toMatchObject({ status: 'error', reason: 'Stop: stopped by the operator', exit_code: 130 })
  expect((await runStep('Interrupted')).envelope.pid).toBe(pid)
})
