import { expect, test } from 'vitest'
import { progressWatcher } from '../../plugin/executors/progress-lines.ts'

test('progress lines are found in stderr as it streams, split anywhere; other lines are not progress', () => {
  const seen: [number, string | undefined][] = []
  const watch = progressWatcher((percent, message) => seen.push([percent, message]))
  watch('starting\n::progress::10 port 1 of 10\n::progr')
  watch('ess::55.5% half\n')
  watch(Buffer.from('::progress::100\nnot ::progress::20 at line start\n::progress::250 too far\n::progress::-3\n'))
  watch('::progress::70 no newline yet')
  expect(seen).toEqual([
    [10, 'port 1 of 10'],
    [55.5, 'half'],
    [100, undefined],
    // Over 100 is 100; a negative number is no progress line.
    [100, 'too far'],
  ])
  watch('\n')
  expect(seen.at(-1)).toEqual([70, 'no newline yet'])
})
