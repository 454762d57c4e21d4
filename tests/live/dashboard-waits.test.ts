import { expect, test } from 'vitest'
import { waitsByRun } from '../../plugin/live/dashboard-waits.ts'
import type { Holder, Waiter } from '../../plugin/store/resource-locks.ts'

const holder = (resource: string, runId: string, extra: Partial<Holder> = {}): Holder => ({
  resource,
  runId,
  testId: 'T',
  step: null,
  host: 'lab1',
  pid: 4242,
  since: '2026-01-01T10:00:00.000Z',
  heartbeatAt: '2026-01-01T10:00:05.000Z',
  ...extra,
})
const waiter = (resource: string, runId: string, step: string | null, since: string): Waiter => ({
  resource,
  runId,
  testId: 'T',
  step,
  host: 'lab2',
  since,
})

test('a step waiting for two resources is one item: both resources, its earliest request, every holder', () => {
  const waits = waitsByRun({
    holders: [holder('dut:a', 'h1', { step: 'flash' }), holder('psu:1', 'h2')],
    waiters: [
      waiter('dut:a', 'w', 'measure', '2026-01-01T10:00:02.000Z'),
      waiter('psu:1', 'w', 'measure', '2026-01-01T10:00:01.000Z'),
    ],
  })
  expect(waits.get('w')).toEqual([
    {
      step: 'measure',
      since: '2026-01-01T10:00:01.000Z',
      waiting: {
        resources: ['dut:a', 'psu:1'],
        heldBy: [
          expect.objectContaining({ resource: 'dut:a', runId: 'h1', step: 'flash', host: 'lab1', pid: 4242 }),
          expect.objectContaining({ resource: 'psu:1', runId: 'h2', step: null }),
        ],
      },
    },
  ])
})

test('a resource nobody holds yet: the waiters queued before it are named, marked queued; a whole run waits as step null', () => {
  const waits = waitsByRun({
    holders: [],
    waiters: [
      waiter('dut:a', 'first', null, '2026-01-01T10:00:01.000Z'),
      waiter('dut:a', 'second', 'measure', '2026-01-01T10:00:02.000Z'),
    ],
  })
  expect(waits.get('first')).toEqual([
    { step: null, since: '2026-01-01T10:00:01.000Z', waiting: { resources: ['dut:a'], heldBy: [] } },
  ])
  expect(waits.get('second')![0]!.waiting.heldBy).toEqual([
    {
      resource: 'dut:a',
      runId: 'first',
      testId: 'T',
      step: null,
      host: 'lab2',
      pid: null,
      since: '2026-01-01T10:00:01.000Z',
      queued: true,
    },
  ])
})
