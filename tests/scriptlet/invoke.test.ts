import { describe, expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { StepContext } from '../../plugin/context/step-context.ts'
import { BaseScriptlet, defineScriptlet, ScriptletError } from '../../plugin/scriptlet/define.ts'
import { invokeScriptlet, resolveScriptlet } from '../../plugin/scriptlet/invoke.ts'
import type { ScriptletContext, ScriptletTools } from '../../plugin/scriptlet/index.ts'
import { z } from 'zod'

const tools: ScriptletTools = { step: 'probe', root: '/tmp', log: () => {}, secret: () => {} }

class Writes extends BaseScriptlet {
  run(ctx: ScriptletContext) {
    ctx.set('demo.a_v1', 1, { who: 'probe' })
  }
}

describe('resolveScriptlet finds every authoring form', () => {
  test('a BaseScriptlet subclass, a defineScriptlet object, a plain function, the default export', () => {
    const fn = (ctx: ScriptletContext) => ctx.set('demo.b_v1', 1, { who: 'probe' })
    const defined = defineScriptlet({ name: 'd', run: () => {} })
    expect(resolveScriptlet({ Writes }, 'Writes')).toBeInstanceOf(Writes)
    expect(resolveScriptlet({ default: defined })).toBe(defined)
    expect(resolveScriptlet({ fn }, 'fn')).toMatchObject({ name: 'fn', run: fn })
  })
  test('says what is missing', () => {
    expect(resolveScriptlet({ a: 1, b: 2 }, 'C')).toBe('the module has no export named "C"; its exports: a, b')
    expect(resolveScriptlet({})).toBe('the module has no default export; its exports: (none)')
    expect(resolveScriptlet({ x: 42 }, 'x')).toMatch(/"x" is not a scriptlet/)
  })
})

describe('invokeScriptlet', () => {
  test('default outputs are the keys the step wrote', async () => {
    const { envelope } = await invokeScriptlet(new Writes(), new StepContext(new Context()), {}, tools)
    expect(envelope).toMatchObject({ status: 'ok', outputs: ['demo.a_v1'] })
  })

  test('params are validated before run, and run sees the parsed params (defaults applied)', async () => {
    let seen: unknown
    const scriptlet = defineScriptlet({
      name: 'p',
      params: z.object({ count: z.int().default(3) }),
      run: (_ctx, params) => {
        seen = params
      },
    })
    expect((await invokeScriptlet(scriptlet, new StepContext(new Context()), {}, tools)).envelope.status).toBe('ok')
    expect(seen).toEqual({ count: 3 })
    expect(
      (await invokeScriptlet(scriptlet, new StepContext(new Context()), { count: 'x' }, tools)).envelope,
    ).toMatchObject({ exit_code: 3 })
  })

  test('validate runs on a read-only view and throws before any write', async () => {
    const ctx = new Context()
    const scriptlet = defineScriptlet({
      name: 'v',
      validate: (view) => {
        view.require('demo.input_v1')
      },
      run: (c) => c.set('demo.out_v1', 1, { who: 'v' }),
    })
    const { envelope, error } = await invokeScriptlet(scriptlet, new StepContext(ctx), {}, tools)
    expect(envelope).toMatchObject({ status: 'error', exit_code: 2 })
    expect(error).toBeInstanceOf(Error)
    expect(ctx.keys()).toEqual([])
  })

  test('a ScriptletError becomes its exit code and details', async () => {
    const scriptlet = defineScriptlet({
      name: 'f',
      run: () => {
        throw new ScriptletError('link down', { exitCode: 4, details: { port: 'eth0' } })
      },
    })
    expect((await invokeScriptlet(scriptlet, new StepContext(new Context()), {}, tools)).envelope).toMatchObject({
      status: 'error',
      reason: 'link down',
      exit_code: 4,
      details: { port: 'eth0' },
      step: 'probe',
    })
  })

  test('declared outputs that were not written fail the step', async () => {
    const scriptlet = defineScriptlet({
      name: 'promise',
      outputs: ['demo.a_v1', 'demo.b_v1'],
      run: (ctx) => ctx.set('demo.a_v1', 1, { who: 'probe' }),
    })
    expect((await invokeScriptlet(scriptlet, new StepContext(new Context()), {}, tools)).envelope).toMatchObject({
      status: 'error',
      reason: 'promise declares outputs it did not write: demo.b_v1',
      details: { missing: ['demo.b_v1'] },
    })
  })
})

describe('invokeScriptlet stays synchronous while the scriptlet is', () => {
  const fresh = () => new StepContext(new Context())

  test('a run that returns a value gives its invocation at once, not a promise', () => {
    const invocation = invokeScriptlet(new Writes(), fresh(), {}, tools)
    expect(invocation).not.toBeInstanceOf(Promise)
    expect(invocation).toMatchObject({ envelope: { status: 'ok', outputs: ['demo.a_v1'] } })
  })

  test('a run that throws synchronously is an error envelope at once', () => {
    const invocation = invokeScriptlet(
      {
        run: () => {
          throw new ScriptletError('nope', { exitCode: 2 })
        },
      },
      fresh(),
      {},
      tools,
    )
    expect(invocation).not.toBeInstanceOf(Promise)
    expect(invocation).toMatchObject({ envelope: { status: 'error', reason: 'nope', exit_code: 2 } })
  })

  test('an async run, a rejected one and a plain thenable are awaited', async () => {
    const later = invokeScriptlet({ run: async (ctx) => ctx.set('demo.c_v1', 1, { who: 'p' }) }, fresh(), {}, tools)
    expect(later).toBeInstanceOf(Promise)
    expect(await later).toMatchObject({ envelope: { status: 'ok', outputs: ['demo.c_v1'] } })
    const rejected = invokeScriptlet({ run: async () => Promise.reject(new Error('late')) }, fresh(), {}, tools)
    expect(await rejected).toMatchObject({ envelope: { status: 'error', reason: 'late' } })
    // biome-ignore lint/suspicious/noThenProperty: a scriptlet may return any thenable
    const thenable = { then: (resolve: (value: unknown) => void) => resolve({ status: 'ok', outputs: [] }) }
    const viaThenable = invokeScriptlet({ run: () => thenable as never }, fresh(), {}, tools)
    expect(viaThenable).toBeInstanceOf(Promise)
    expect(await viaThenable).toMatchObject({ envelope: { status: 'ok' } })
  })

  test('a scriptlet with a validate of its own is always awaited, and validate comes first', async () => {
    const order: string[] = []
    const scriptlet = defineScriptlet({
      name: 'v',
      validate: () => void order.push('validate'),
      run: () => void order.push('run'),
    })
    const invocation = invokeScriptlet(scriptlet, fresh(), {}, tools)
    expect(invocation).toBeInstanceOf(Promise)
    await invocation
    expect(order).toEqual(['validate', 'run'])
  })
})
