import { expect, test } from 'vitest'
import { historyEntryOf } from '../../plugin/store/history-entry.ts'
import type { HistoryRow } from '../../plugin/store/run-data.ts'

const row = (extra: Partial<HistoryRow>): HistoryRow => ({
  seq: 1,
  key: 'k.v1',
  who: 'w',
  ts: 't',
  step: 's',
  before: undefined,
  after: undefined,
  ...extra,
})

test('a write with small values shows them before and after; a missing one as null', () => {
  expect(historyEntryOf(row({ after: [1] }))).toEqual({
    seq: 1,
    key: 'k.v1',
    who: 'w',
    ts: 't',
    step: 's',
    before: null,
    after: [1],
  })
  expect(historyEntryOf(row({ before: 1 }))).toMatchObject({ before: 1, after: null })
})

test('a value over the bound gives way to the patch; a value the store keeps whole is shown whole', () => {
  const big = 'x'.repeat(200)
  const patch = [{ op: 'add' as const, path: '/-', value: 'y' }]
  expect(historyEntryOf(row({ before: [big], after: [big, 'y'], patch }), 100)).toEqual({
    seq: 1,
    key: 'k.v1',
    who: 'w',
    ts: 't',
    step: 's',
    patch,
    omitted: ['before', 'after'],
  })
  // The first write of a key: the store keeps its value, so the entry does (it grows as the store does).
  expect(historyEntryOf(row({ after: [big] }), 100)).toEqual(expect.objectContaining({ after: [big] }))
  // Exactly at the bound is shown.
  expect(historyEntryOf(row({ after: 'x'.repeat(98), patch }), 100)).toMatchObject({ after: 'x'.repeat(98), patch })
  expect(historyEntryOf(row({ after: 'x'.repeat(99), patch }), 100)).not.toHaveProperty('after')
})
