import { expect, test } from 'vitest'
import { didYouMean, editDistance } from '../../plugin/recipe/did-you-mean.ts'

test('edit distance counts a transposition as one edit', () => {
  expect(editDistance('depends_on', 'depedns_on')).toBe(1)
  expect(editDistance('abc', 'abc')).toBe(0)
  expect(editDistance('', 'abc')).toBe(3)
})

test('suggests only close names', () => {
  expect(didYouMean('depend_on', ['depends_on', 'description'])).toBe('depends_on')
  expect(didYouMean('Retry', ['retry'])).toBe('retry')
  expect(didYouMean('xyz', ['timeout', 'retry'])).toBeUndefined()
})
