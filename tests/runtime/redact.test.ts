import { expect, test } from 'vitest'
import {
  createRedactor,
  parseSecretNames,
  restoreSecrets,
  secretForms,
  serializeSecretNames,
  takeMaskDirectives,
  weakSecrets,
} from '../../plugin/runtime/redact.ts'

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

test('redacts every string value of a JSON value, never its keys (they are data: API_SECRET=status)', () => {
  const redactor = createRedactor(['API_SECRET'], { ...env, API_SECRET: 'status' })
  expect(
    redactor.json({ status: 'ok', 'hunter2-sw': ['tok-123456', 1, null, { deep: 'x hunter2-sw y status' }] }),
  ).toEqual({
    status: 'ok',
    'hunter2-sw': ['***', 1, null, { deep: 'x *** y ***' }],
  })
})

test('a value declared at run time is masked from then on; shorter than 4 characters is refused', () => {
  const redactor = createRedactor([], { HOME: '/root' })
  expect(redactor.active).toBe(false)
  expect(redactor.add('c2Vzc2lvbi10b2tlbg==')).toBe(true)
  expect(redactor.add('abc')).toBe(false)
  expect(redactor.active).toBe(true)
  expect(redactor.text('Authorization: Bearer c2Vzc2lvbi10b2tlbg==')).toBe('Authorization: Bearer ***')
})

test('::add-mask:: lines leave stderr and give their values', () => {
  expect(takeMaskDirectives('one\n::add-mask::s3cr3t-token\ntwo\n')).toEqual({
    values: ['s3cr3t-token'],
    rest: 'one\ntwo\n',
  })
  expect(takeMaskDirectives('plain')).toEqual({ values: [], rest: 'plain' })
})

test('with nothing to redact it is inactive and returns values as they are', () => {
  const redactor = createRedactor([], { HOME: '/root' })
  expect(redactor.active).toBe(false)
  const value = { a: 'b' }
  expect(redactor.json(value)).toBe(value)
})

test('the store form names where each secret came from, and restores from the environment', () => {
  const redactor = createRedactor(['SWITCH_PASSWORD'], env)
  redactor.add('session-abcdef')
  const stored = redactor.reference({ url: 'ssh://admin:hunter2-sw@sw1', token: 'session-abcdef' })
  expect(stored).toEqual({ url: 'ssh://admin:***{SWITCH_PASSWORD}@sw1', token: '***{derived}' })
  expect(restoreSecrets(stored.url, env)).toEqual({ value: 'ssh://admin:hunter2-sw@sw1' })
  expect(restoreSecrets(stored.url, {})).toEqual({
    missing:
      'it holds the secret of the environment variable SWITCH_PASSWORD, which is not set: set SWITCH_PASSWORD and resume again',
  })
  expect(restoreSecrets(stored, env)).toMatchObject({
    missing: expect.stringContaining('derived from a secret at run time'),
  })
})

test('weak secrets: values under 8 characters or plain words, named or found by pattern; never unset or empty ones', () => {
  const weak = weakSecrets(['SWITCH', 'LONG', 'WORD', 'UNSET', 'EMPTY'], {
    SWITCH: 'admin',
    LONG: 'k9-Tr4vel-Qz81',
    WORD: 'operators',
    EMPTY: '',
    TINY_TOKEN: 'ab',
    LAB_KEY: 'Xy7-long-enough',
    HOME: 'h',
  })
  expect(weak).toEqual(['SWITCH', 'TINY_TOKEN', 'WORD'])
  expect(weakSecrets([], { LETTERS_SECRET: 'administrators' })).toEqual([])
})

test('secrets named by a pattern of names (the plugin option secrets) are masked like named ones', () => {
  const redactor = createRedactor([/^LAB_.*_PASS$/, 'SWITCH_ENABLE'], {
    LAB_RACK1_PASS: 'rack-one-pass',
    SWITCH_ENABLE: 'enable-4471',
    LAB_PASSES: 'not-a-secret',
  })
  expect(redactor.text('rack-one-pass enable-4471 not-a-secret')).toBe('*** *** not-a-secret')
  expect(redactor.reference({ a: 'rack-one-pass' })).toEqual({ a: '***{LAB_RACK1_PASS}' })
  // A global pattern keeps no state between names.
  expect(weakSecrets([/_PIN$/g], { A_PIN: '1234', B_PIN: '5678' })).toEqual(['A_PIN', 'B_PIN'])
})

test('patterns travel in a compiled recipe as /source/flags and come back as RegExps', () => {
  const serialized = serializeSecretNames(['SWITCH_ENABLE', /^lab_.*_pass$/i])
  expect(serialized).toEqual(['SWITCH_ENABLE', '/^lab_.*_pass$/i'])
  expect(JSON.parse(JSON.stringify(serialized))).toEqual(serialized)
  const [name, pattern] = parseSecretNames(serialized)
  expect(name).toBe('SWITCH_ENABLE')
  expect(pattern).toBeInstanceOf(RegExp)
  expect((pattern as RegExp).test('LAB_R1_PASS')).toBe(true)
})

test('a secret is masked in every form the product writes it in: JSON-escaped once and twice, XML, Markdown, URL', () => {
  const secret = `q"u\\o|t'e&<ü>`
  const redactor = createRedactor(['QUOTED'], { QUOTED: secret })
  const once = JSON.stringify(secret).slice(1, -1)
  const written = [
    secret,
    once,
    JSON.stringify(once).slice(1, -1),
    // Python's json.dumps escapes non-ASCII characters.
    once.replace('ü', '\\u00fc'),
    'q&quot;u\\o|t&#39;e&amp;&lt;ü&gt;',
    'q&quot;u\\o|t&apos;e&amp;&lt;ü&gt;',
    'q"u\\o\\|t\'e&<ü>',
    "q\"u\\o|t''e&<ü>",
    encodeURIComponent(secret),
  ]
  for (const form of written) expect(redactor.text(`before ${form} after`), form).toBe('before *** after')
  expect(redactor.json({ log: `ctx diff {"pw":"${once}"}` })).toEqual({ log: 'ctx diff {"pw":"***"}' })
  expect(new Set(secretForms(secret)).size).toBe(secretForms(secret).length)
})

test('in the store form, an escaped secret is a derived one: restoring the variable would not give it back', () => {
  const secret = 'pa"ss-word-1'
  const redactor = createRedactor(['SWITCH_PASSWORD'], { SWITCH_PASSWORD: secret })
  const escaped = JSON.stringify(secret).slice(1, -1)
  expect(redactor.reference({ raw: secret, json: `{"pw":"${escaped}"}` })).toEqual({
    raw: '***{SWITCH_PASSWORD}',
    json: '{"pw":"***{derived}"}',
  })
})
