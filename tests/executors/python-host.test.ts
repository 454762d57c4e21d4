import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { PythonHost } from '../../plugin/executors/python-host.ts'
import { FIXTURES, processesWithMarker, stepInput } from './steps.ts'

// One warm host for the whole file, as one recipe file has: every test also proves it
// survived the tests before it.
const host = new PythonHost({ executable: 'python3', path: [join(FIXTURES, 'python')], root: FIXTURES })
afterAll(() => host.close())

const ctx = new Context()
async function runStep(name: string, attr: string, params: Record<string, unknown> = {}) {
  const input = stepInput(
    { name, type: 'python', module: 'exits', export: attr, params: params as never },
    { ctx, timeoutMs: 20_000 },
  )
  const started = Date.now()
  const execution = await host.runStep(input)
  return { ...execution, ms: Date.now() - started }
}

async function hostPid(): Promise<number> {
  const { envelope } = await runStep('host_pid', 'host_pid')
  expect(envelope.status).toBe('ok')
  return ctx.get<number>('py.host_pid_v1')!
}

describe('sys.exit in a scriptlet ends its step, not the host', () => {
  test('sys.exit(3) fails the step with exit code 3, and the same host runs the next step', async () => {
    const before = await hostPid()
    const { envelope } = await runStep('exits', 'ExitsWithCode', { code: 3 })
    expect(envelope).toMatchObject({
      status: 'error',
      reason: 'the scriptlet called sys.exit(3)',
      exit_code: 3,
      details: { sys_exit: 3 },
    })
    expect(await hostPid()).toBe(before)
  })

  test('sys.exit in validate fails the step with that code', async () => {
    const { envelope } = await runStep('exits_early', 'ExitsInValidate')
    expect(envelope).toMatchObject({ status: 'error', reason: 'the scriptlet called sys.exit(4)', exit_code: 4 })
  })

  test('sys.exit(0) after printing an ok envelope passes, as a standalone run would', async () => {
    const { envelope } = await runStep('prints_ok', 'PrintsOkThenExitsZero')
    expect(envelope).toMatchObject({ status: 'ok', outputs: ['py.exited_v1'] })
    expect(ctx.get('py.exited_v1')).toEqual({ ok: true })
  })

  test('sys.exit() without an argument is exit status 0: the step passes with what it wrote', async () => {
    const { envelope } = await runStep('bare_exit', 'exits_without_argument')
    expect(envelope).toMatchObject({ status: 'ok', outputs: ['py.bare_exit_v1'] })
  })

  test('sys.exit(n) after printing an error envelope keeps its reason and details, with exit code n', async () => {
    const { envelope } = await runStep('prints_error', 'PrintsErrorThenExits', { code: 2 })
    expect(envelope).toMatchObject({
      status: 'error',
      reason: 'the scriptlet called sys.exit(2): device not reachable',
      details: { host: '10.0.0.1' },
      exit_code: 2,
    })
  })

  test('sys.exit("message") is exit code 1, and the message goes to stderr as Python prints it', async () => {
    const { envelope, stderr } = await runStep('exits_with_message', 'exits_with_message')
    expect(envelope).toMatchObject({
      status: 'error',
      reason: "the scriptlet called sys.exit('cannot continue without a device')",
      exit_code: 1,
    })
    expect(stderr).toContain('cannot continue without a device\n')
  })
})

describe('stdin', () => {
  test('input(), sys.stdin.read() and a subprocess reading stdin all get end-of-file at once', async () => {
    const { envelope, ms } = await runStep('reads_input', 'ReadsInput')
    expect(envelope).toMatchObject({ status: 'ok', outputs: ['py.stdin_v1'] })
    expect(ctx.get('py.stdin_v1')).toEqual({ input: null, read: '', child_read: '' })
    expect(ms).toBeLessThan(5000)
  })

  test('a scriptlet that closes sys.stdin does not take it from the next step', async () => {
    expect((await runStep('closes_stdin', 'ReplacesStdin')).envelope.status).toBe('ok')
    const { envelope } = await runStep('reads_input_again', 'ReadsInput')
    expect(envelope).toMatchObject({ status: 'ok' })
  })
})

describe('values nested too deep', () => {
  test('ctx.set of a 100,000-deep list fails the step with the depth limit, and the host lives on', async () => {
    const before = await hostPid()
    const { envelope } = await runStep('deep', 'WritesDeepValue')
    expect(envelope).toMatchObject({
      status: 'error',
      reason:
        'ContextError: ctx.set("x.deep_v1") by "writes_deep_value": value is nested deeper than 1000 levels (flatten it, or store it as a file under Data/ and put its path in ctx)',
    })
    expect(ctx.has('x.deep_v1')).toBe(false)
    const returned = await runStep('deep_result', 'ReturnsDeepValue')
    expect(returned.envelope).toMatchObject({
      status: 'error',
      reason:
        'TypeError: run() returned an envelope that is not JSON: deep is nested deeper than 1000 levels (flatten it, or store it as a file under Data/ and put its path in ctx)',
    })
    expect(await hostPid()).toBe(before)
  })
})

describe('what a python step started', () => {
  test('a timed-out step ends with its host and the sleeper it Popened (SIGTERM ignored, own session) dead; a new host runs the next step', {
    timeout: 15_000,
  }, async () => {
    const before = await hostPid()
    const marker = `vr-python-popen-${process.pid}-${Date.now()}`
    const input = stepInput(
      { name: 'popen', type: 'python', module: 'processes', export: 'PopensSleeper', params: { marker } },
      { ctx, timeoutMs: 1000 },
    )
    try {
      const started = Date.now()
      await host.runStep(input)
      // The 1 s timeout, then 1 s of SIGTERM grace before SIGKILL: never the sleeper's 30 s.
      expect(Date.now() - started).toBeLessThan(4000)
      expect(processesWithMarker(marker)).toEqual([])
      expect(await hostPid()).not.toBe(before)
    } finally {
      for (const pid of processesWithMarker(marker)) process.kill(pid, 'SIGKILL')
    }
  })

  test('a step reports its own peak RSS, not what the host held during an earlier step', {
    timeout: 15_000,
  }, async () => {
    const bytes = 300_000_000
    const big = stepInput({
      name: 'big',
      type: 'python',
      module: 'processes',
      export: 'HoldsMemory',
      params: { bytes },
    })
    const small = stepInput({ name: 'small', type: 'python', module: 'processes', export: 'DoesLittle' })
    const { resources: bigResources } = await host.runStep(big)
    const { resources: smallResources } = await host.runStep(small)
    expect(bigResources.peakRssBytes).toBeGreaterThan(bytes)
    expect(smallResources.peakRssBytes).toBeGreaterThan(0)
    expect(smallResources.peakRssBytes).toBeLessThan(bytes / 2)
  })
})

describe('outline: what a python file defines, read without running it (recipes step decides by it)', () => {
  test('classes with run (their own or a same-file base), functions, imports, the __main__ block; the host keeps serving steps', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-outline-'))
    try {
      const file = join(dir, 'steps.py')
      writeFileSync(
        file,
        [
          'import json',
          'from os import path as p',
          'raise SystemExit("importing this file would end here")',
          'class Base:',
          '    def run(self, ctx, params):',
          '        return 0',
          'class Child(Base):',
          '    pass',
          'class Plain:',
          '    def other(self):',
          '        pass',
          'def helper(ctx, params):',
          '    pass',
          'if __name__ == "__main__":',
          '    print(json.dumps({}))',
          '',
        ].join('\n'),
      )
      expect(await host.outline(file)).toEqual({
        classes: [
          { name: 'Base', run: true },
          { name: 'Child', run: true },
          { name: 'Plain', run: false },
        ],
        functions: ['helper'],
        imported: ['json', 'p'],
        main_block: true,
      })
      writeFileSync(file, 'class Broken:\n    def run(self, ctx, params)\n        return 0\n')
      expect(await host.outline(file)).toMatchObject({ error: expect.any(String), line: 2 })
      expect(await hostPid()).toBeGreaterThan(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
