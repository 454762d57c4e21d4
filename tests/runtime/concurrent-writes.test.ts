import { expect, test } from 'vitest'
import { ConcurrentWrites } from '../../plugin/runtime/concurrent-writes.ts'

test('steps that overlap in time and write one key conflict, naming both', () => {
  const writes = new ConcurrentWrites()
  writes.begin('mean')
  writes.begin('median')
  writes.check('mean', 'metrics.value_v1')
  expect(() => writes.check('median', 'metrics.value_v1')).toThrow(
    'ctx.set("metrics.value_v1") by step "median" conflicts with step "mean", which ran at the same time',
  )
})

test('a step that ended before the other began does not conflict; different keys never do', () => {
  const writes = new ConcurrentWrites()
  writes.begin('load')
  writes.check('load', 'numbers.raw_v1')
  writes.end('load')
  writes.begin('normalize')
  expect(() => writes.check('normalize', 'numbers.raw_v1')).not.toThrow()
  writes.begin('other')
  expect(() => writes.check('other', 'numbers.other_v1')).not.toThrow()
})

test('a step still running conflicts with one that started after it and writes its key', () => {
  const writes = new ConcurrentWrites()
  writes.begin('slow')
  writes.check('slow', 'k.a_v1')
  writes.begin('fast')
  writes.end('fast')
  expect(() => writes.check('fast', 'k.a_v1')).toThrow(/conflicts with step "slow"/)
})
