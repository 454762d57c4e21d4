import { describe, expect, test } from 'vitest'
import { Context, ContextWriteError, DependencyError } from '../../plugin/context/context.ts'
import { MAX_JSON_DEPTH } from '../../plugin/context/json-value.ts'

class Port {
  name = 'eth0'
}
const cyclic: Record<string, unknown> = {}
cyclic.self = cyclic

describe('JSON values only', () => {
  test.each([
    ['undefined', undefined, 'value is undefined (use null, or leave the key out)'],
    ['a function', () => 1, 'value is a function'],
    [
      'a Date',
      new Date(0),
      'value is a Date instance (store date.toISOString()); only plain objects and arrays are JSON',
    ],
    [
      'a Map',
      new Map(),
      'value is a Map instance (store Object.fromEntries(map)); only plain objects and arrays are JSON',
    ],
    ['NaN', Number.NaN, 'value is NaN (only finite numbers are JSON)'],
    ['Infinity', Number.POSITIVE_INFINITY, 'value is Infinity (only finite numbers are JSON)'],
    ['a BigInt', 10n, 'value is a BigInt (store it as a string or number)'],
    ['a class instance', new Port(), 'value is a Port instance; only plain objects and arrays are JSON'],
    ['a nested Date', { run: { at: [new Date(0)] } }, 'value.run.at[0] is a Date instance'],
    ['a cycle', cyclic, 'value.self is a circular reference'],
  ])('rejects %s, naming key and writer', (_label, value, problem) => {
    const ctx = new Context()
    expect(() => ctx.set('demo.value_v1', value as never, { who: 'probe' })).toThrow(
      `ctx.set("demo.value_v1") by "probe": ${problem}`,
    )
    expect(ctx.has('demo.value_v1')).toBe(false)
  })

  test('accepts every JSON shape, including shared (non-cyclic) references', () => {
    const shared = { a: 1 }
    const ctx = new Context()
    ctx.set(
      'demo.value_v1',
      { n: null, b: true, x: 1.5, s: 's', list: [shared, shared], nested: { deep: [] } },
      { who: 'probe' },
    )
    expect(ctx.get('demo.value_v1')).toEqual({
      n: null,
      b: true,
      x: 1.5,
      s: 's',
      list: [{ a: 1 }, { a: 1 }],
      nested: { deep: [] },
    })
  })
})

/** Arrays nested `levels` deep: [[[...]]]. */
function nestedArrays(levels: number): unknown {
  let value: unknown = []
  for (let level = 1; level < levels; level++) value = [value]
  return value
}

describe('nesting depth', () => {
  test('a value nested 100,000 levels deep is refused with a reason, not a stack overflow', () => {
    const ctx = new Context()
    const write = () => ctx.set('x.deep_v1', nestedArrays(100_000) as never, { who: 'deep_writer' })
    expect(write).toThrow(ContextWriteError)
    expect(write).toThrow(
      'ctx.set("x.deep_v1") by "deep_writer": value is nested deeper than 1000 levels (flatten it, or store it as a file under Data/ and put its path in ctx). The context holds JSON values only.',
    )
    expect(ctx.has('x.deep_v1')).toBe(false)
    expect(ctx.history()).toEqual([])
  })

  test('the limit is exact: MAX_JSON_DEPTH levels are kept, one more is refused, objects count too', () => {
    expect(MAX_JSON_DEPTH).toBe(1000)
    const ctx = new Context()
    ctx.set('x.deepest_v1', nestedArrays(MAX_JSON_DEPTH) as never, { who: 'probe' })
    expect(JSON.stringify(ctx.get('x.deepest_v1'))).toBe(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)
    expect(() => ctx.set('x.deeper_v1', nestedArrays(MAX_JSON_DEPTH + 1) as never, { who: 'probe' })).toThrow(
      'nested deeper than 1000 levels',
    )
    let objects: unknown = {}
    for (let level = 1; level <= MAX_JSON_DEPTH; level++) objects = { inner: objects }
    expect(() => ctx.set('x.objects_v1', objects as never, { who: 'probe' })).toThrow('nested deeper than 1000 levels')
  })

  test('an initial context nested too deep is refused too', () => {
    expect(() => new Context({ 'x.deep_v1': nestedArrays(5000) as never })).toThrow(
      'initial context: x.deep_v1 is nested deeper than 1000 levels',
    )
  })
})

describe('writes', () => {
  test('need who', () => {
    const ctx = new Context()
    expect(() => ctx.set('demo.a_v1', 1, {} as never)).toThrow(ContextWriteError)
    expect(() => ctx.set('demo.a_v1', 1, { who: ' ' })).toThrow('needs its writer')
  })

  test('are copied and frozen: callers cannot change the context behind its back', () => {
    const ctx = new Context()
    const value = { list: [1] }
    ctx.set('demo.a_v1', value, { who: 'w' })
    value.list.push(2)
    expect(ctx.get('demo.a_v1')).toEqual({ list: [1] })
    expect(() => (ctx.get<{ list: number[] }>('demo.a_v1')!.list as number[]).push(3)).toThrow(TypeError)
  })

  test('keep a history of {ts, who, key, before, after}', () => {
    const ctx = new Context()
    ctx.set('demo.a_v1', 1, { who: 'first' })
    ctx.set('demo.a_v1', 2, { who: 'second' })
    expect(ctx.history('demo.a_v1')).toEqual([
      { ts: expect.any(String), who: 'first', key: 'demo.a_v1', before: undefined, after: 1 },
      { ts: expect.any(String), who: 'second', key: 'demo.a_v1', before: 1, after: 2 },
    ])
    expect(ctx.lastModified('demo.a_v1')?.who).toBe('second')
    expect(new Date(ctx.history()[0]!.ts).toISOString()).toBe(ctx.history()[0]!.ts)
  })

  test('track dirty keys until taken', () => {
    const ctx = new Context()
    ctx.set('demo.a_v1', 1, { who: 'w' })
    ctx.set('demo.b_v1', 1, { who: 'w' })
    ctx.set('demo.a_v1', 2, { who: 'w' })
    expect(ctx.takeDirty().sort()).toEqual(['demo.a_v1', 'demo.b_v1'])
    expect(ctx.takeDirty()).toEqual([])
  })
})

test('missing keys read as undefined; require throws a dependency error (exit 2)', () => {
  const ctx = new Context()
  expect(ctx.get('demo.none_v1')).toBeUndefined()
  expect(() => ctx.require('demo.none_v1')).toThrow(DependencyError)
  try {
    ctx.require('demo.none_v1')
  } catch (error) {
    expect((error as DependencyError).exitCode).toBe(2)
  }
})

test('snapshot and restore: values back, later history dropped, changed keys dirty', () => {
  const ctx = new Context({ 'demo.a_v1': 1 })
  const snapshot = ctx.snapshot()
  ctx.set('demo.a_v1', 2, { who: 'w' })
  ctx.set('demo.b_v1', 3, { who: 'w' })
  ctx.takeDirty()
  ctx.restore(snapshot)
  expect(ctx.toJSON()).toEqual({ 'demo.a_v1': 1 })
  expect(ctx.history()).toEqual([])
  expect(ctx.takeDirty().sort()).toEqual(['demo.a_v1', 'demo.b_v1'])
})

describe('key naming: namespace.entity_vN', () => {
  test.each(['metrics.summary_v1', 'numbers.clean_path_v12', '_runner.step_metrics_v1', 'a.b.c_v2'])(
    'accepts %s',
    (key) => {
      expect(() => new Context().set(key, 1, { who: 'w' })).not.toThrow()
    },
  )
  test.each(['summary', 'metrics.summary', 'metrics.summary_v', 'Metrics.summary_v1', 'summary_v1'])(
    'rejects %s by default',
    (key) => {
      expect(() => new Context().set(key, 1, { who: 'w' })).toThrow(/keys are named namespace\.entity_vN/)
    },
  )
  test('warn mode writes and warns; off mode is silent', () => {
    const warnings: string[] = []
    const warn = new Context({}, { keyNaming: 'warn', warn: (message) => warnings.push(message) })
    warn.set('summary', 1, { who: 'w' })
    expect(warn.get('summary')).toBe(1)
    expect(warnings).toEqual([
      'ctx.set("summary") by "w": keys are named namespace.entity_vN (for example "metrics.summary_v1")',
    ])
    expect(() => new Context({}, { keyNaming: 'off' }).set('summary', 1, { who: 'w' })).not.toThrow()
  })
})

test('the read-only view used by validate refuses writes', () => {
  const ctx = new Context({ 'demo.a_v1': 1 })
  const view = ctx.readOnlyView('probe.validate')
  expect(view.get('demo.a_v1')).toBe(1)
  expect(() => view.set('demo.b_v1', 1, { who: 'w' })).toThrow(
    'ctx.set("demo.b_v1") during probe.validate: validate must not write',
  )
})

describe('revisions and deletes (for the ctx API)', () => {
  test('each write of a key gives it a new revision; a key never written is at 0', () => {
    const ctx = new Context({ 'demo.seed_v1': 1 })
    expect(ctx.revision('demo.seed_v1')).toBe(0)
    ctx.set('demo.a_v1', 1, { who: 'w' })
    const first = ctx.revision('demo.a_v1')
    ctx.set('demo.b_v1', 1, { who: 'w' })
    ctx.set('demo.a_v1', 2, { who: 'w' })
    expect(ctx.revision('demo.a_v1')).toBeGreaterThan(first)
    expect(ctx.revision('demo.none_v1')).toBe(0)
  })

  test('a delete is a write in the history (no value) and changes the revision; deleting nothing records nothing', () => {
    const ctx = new Context()
    ctx.set('demo.a_v1', 'x', { who: 'w' })
    const before = ctx.revision('demo.a_v1')
    const write = ctx.delete('demo.a_v1', { who: 'console' })
    expect(write).toMatchObject({ key: 'demo.a_v1', who: 'console', before: 'x', after: null, deleted: true })
    expect(ctx.has('demo.a_v1')).toBe(false)
    expect(ctx.revision('demo.a_v1')).toBeGreaterThan(before)
    expect(ctx.takeDirty()).toEqual(['demo.a_v1'])
    expect(ctx.delete('demo.a_v1', { who: 'console' })).toBeUndefined()
    expect(ctx.history()).toHaveLength(2)
  })

  test('a restored snapshot (a retry) never hands out a revision twice', () => {
    const ctx = new Context()
    ctx.set('demo.a_v1', 1, { who: 'w' })
    const snapshot = ctx.snapshot()
    ctx.set('demo.a_v1', 2, { who: 'w' })
    const lost = ctx.revision('demo.a_v1')
    ctx.restore(snapshot)
    expect(ctx.get('demo.a_v1')).toBe(1)
    ctx.set('demo.a_v1', 3, { who: 'w' })
    // A writer that saw the rolled-back value cannot match the new one.
    expect(ctx.revision('demo.a_v1')).not.toBe(lost)
  })
})
