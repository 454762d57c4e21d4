import { expect, test } from 'vitest'
import { createRedactor } from '../../plugin/runtime/redact.ts'

const env = {
  LAB_API_TOKEN: 'tok-123456',
  SWITCH_PASSWORD: 'hunter2-sw',
  CUSTOM: 'custom-secret-value',
  SHORT_KEY: 'abc',
  HOME: '/root',
}

test('redacts named secrets and variables whose names look secret, longest first', () => {
  const redactor = createRedactor(['CUSTOM'], { ...env, LONGER_TOKEN: 'tok-123456-and-more' })
  expect(redactor.text('login tok-123456-and-more / tok-123456 / hunter2-sw / custom-secret-value at /root')).toBe(
    'login *** / *** / *** / *** at /root',
  )
})

test('values shorter than 4 characters are left alone (they would redact ordinary words)', () => {
  expect(createRedactor([], env).text('abc')).toBe('abc')
})

test('redacts every string of a JSON value, keys included', () => {
  const redactor = createRedactor([], env)
  expect(redactor.json({ 'hunter2-sw': ['tok-123456', 1, null, { deep: 'x hunter2-sw y' }] })).toEqual({
    '***': ['***', 1, null, { deep: 'x *** y' }],
  })
})

test('with nothing to redact it is inactive and returns values as they are', () => {
  const redactor = createRedactor([], { HOME: '/root' })
  expect(redactor.active).toBe(false)
  const value = { a: 'b' }
  expect(redactor.json(value)).toBe(value)
})
