import { expect, test } from 'vitest'
import { Context, ContextWriteError, DEFAULT_CTX_VALUE_MAX_BYTES } from '../../plugin/context/context.ts'
import { applyCtxOperation, CtxOperationError } from '../../plugin/live/ctx-operations.ts'

// No single ctx value may exceed the limit: it is refused where it is written, with what to do
// instead (the older framework's artifacts rule: large data goes to a file under Data/).

test('the default limit is 16 MiB of JSON', () => {
  expect(DEFAULT_CTX_VALUE_MAX_BYTES).toBe(16 * 1024 * 1024)
})

test('ctx.set of a value whose JSON is over the limit is refused, names the key, the writer and the sizes, and says to use Data/', () => {
  const ctx = new Context({}, { valueMaxBytes: 100 })
  ctx.set('lab.ok_v1', 'x'.repeat(98), { who: 'load' })
  let refused: unknown
  try {
    ctx.set('lab.big_v1', 'x'.repeat(99), { who: 'load' })
  } catch (error) {
    refused = error
  }
  expect(refused).toBeInstanceOf(ContextWriteError)
  expect((refused as ContextWriteError).code).toBe('CTX_VALUE_TOO_LARGE')
  expect((refused as Error).message).toMatchInlineSnapshot(
    `"ctx.set("lab.big_v1") by "load": the value is 101 bytes of JSON, over the ctx value limit of 100 bytes (plugin option ctxValueMaxBytes). Write large data to a file under Data/ and store its path in the ctx instead."`,
  )
  // Refused before anything changed.
  expect(ctx.has('lab.big_v1')).toBe(false)
  expect(ctx.history()).toHaveLength(1)
})

test('the size counts bytes, not characters', () => {
  const ctx = new Context({}, { valueMaxBytes: 10 })
  expect(() => ctx.set('lab.text_v1', 'ééééé', { who: 'w' })).toThrow(
    /12 bytes of JSON, over the ctx value limit of 10 bytes/,
  )
})

test('an append through the ctx API is measured by the list it makes: the API answers 422 CTX_VALUE_TOO_LARGE', () => {
  const ctx = new Context({}, { valueMaxBytes: 30 })
  const append = () =>
    applyCtxOperation(ctx, { op: 'append', key: 'lab.log_v1', value: 'abcdefgh', who: 'api' }, () => {})
  append()
  append()
  let refused: unknown
  try {
    append()
  } catch (error) {
    refused = error
  }
  expect(refused).toBeInstanceOf(CtxOperationError)
  expect(refused).toMatchObject({ status: 422, code: 'CTX_VALUE_TOO_LARGE' })
  expect((refused as Error).message).toMatch(/Data\//)
  expect(ctx.get('lab.log_v1')).toEqual(['abcdefgh', 'abcdefgh'])
})
