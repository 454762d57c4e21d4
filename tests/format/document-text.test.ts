import { expect, test } from 'vitest'
import { cutText, visibleText, visibleValues } from '../../plugin/format/document-text.ts'

test('each character a document cannot hold is shown: control pictures for the C0 controls and DEL, \\u escapes for the others', () => {
  expect(visibleText('\x00\x01\x08\x0b\x0c\x0e\x1b\x1f\x7f')).toBe('␀␁␈␋␌␎␛␟␡')
  expect(visibleText('\uFFFE\uFFFF \uD800 \uDFFF')).toBe('\\uFFFE\\uFFFF \\uD800 \\uDFFF')
  // Tab, line breaks, a character pair (an emoji) and the C1 controls XML allows stay as they are.
  const fine = 'tab\t lf\n cr\r 😀 \u0085 é'
  expect(visibleText(fine)).toBe(fine)
})

test('visibleValues changes only the strings that need it (keys too) and keeps what needs nothing as the same object', () => {
  const clean = { a: ['x', 1, null, { b: true }] }
  expect(visibleValues(clean)).toBe(clean)
  const bytes = Buffer.from('\x1b')
  const value = { 'k\x1b': ['ok', 'v\x00'], png: bytes, same: clean }
  const shown = visibleValues(value)
  expect(shown).toEqual({ 'k␛': ['ok', 'v␀'], png: bytes, same: clean })
  expect(shown.same).toBe(clean)
  expect(shown.png).toBe(bytes)
})

test('cutText says how long the text was, stays within its limit and never cuts a character pair in two', () => {
  expect(cutText('short', 5)).toBe('short')
  const cut = cutText('x'.repeat(50_000), 32_000)
  expect(cut).toHaveLength(32_000)
  expect(cut.endsWith('x… (50,000 characters in all)')).toBe(true)
  const emoji = cutText('😀'.repeat(20), 31)
  expect(emoji).toBe('😀😀😀… (40 characters in all)')
  expect(visibleText(emoji)).toBe(emoji)
})

test('a text cut again keeps the length it had at first', () => {
  const once = cutText('x'.repeat(10_000), 4000)
  expect(cutText(once, 500)).toBe(`${'x'.repeat(500 - 28)}… (10,000 characters in all)`)
})
