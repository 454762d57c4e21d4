import { expect, test } from 'vitest'
import { type AttemptRecord, describeAttempts, type StepStatus } from '../../plugin/runtime/meta.ts'

const attempt = (number: number, status: 'passed' | 'failed'): AttemptRecord => ({
  attempt: number,
  status,
  durationMs: 1,
  ...(status === 'failed' ? { reason: `no carrier on run ${number}` } : {}),
})
const said = (status: StepStatus, made: ('passed' | 'failed')[], maxAttempts?: number) =>
  describeAttempts({
    status,
    attempts: made.map((ended, index) => attempt(index + 1, ended)),
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  })

test('a retried step says on which attempt it passed, or that every attempt failed', () => {
  expect(said('passed', ['failed', 'passed'], 3)).toBe('passed on attempt 2 of 3')
  expect(said('setup', ['failed', 'failed', 'passed'], 3)).toBe('passed on attempt 3 of 3')
  expect(said('expected-error', ['failed', 'passed'], 2)).toBe('failed as expected on attempt 2 of 2')
  expect(said('failed', ['failed', 'failed', 'failed'], 3)).toBe('failed on all 3 attempts')
  // retry.on did not match the reason, or Vitest stopped the test: the attempts left were not made.
  expect(said('failed', ['failed'], 3)).toBe('failed on attempt 1 of 3, not retried')
  expect(said('failed', ['failed', 'failed'], 3)).toBe('failed on attempt 2 of 3, not retried')
})

test('a step that passed at once, had no retry, or did not run has nothing to say', () => {
  expect(said('passed', ['passed'], 3)).toBeUndefined()
  expect(said('passed', ['passed'])).toBeUndefined()
  expect(said('failed', ['failed'])).toBeUndefined()
  expect(said('blocked', [], 3)).toBeUndefined()
  // A record from before maxAttempts was kept (a merged blob of an older run) still counts what it made.
  expect(said('passed', ['failed', 'passed'])).toBe('passed on attempt 2 of 2')
})
