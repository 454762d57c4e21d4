import { describe, expect, test } from 'vitest'
import { normalizeEnvelope } from '../../plugin/scriptlet/envelope.ts'

describe('normalizeEnvelope', () => {
  test('nothing returned means ok, with the given default outputs', () => {
    expect(normalizeEnvelope(undefined, 'load', ['numbers.raw_v1'])).toEqual({
      status: 'ok',
      outputs: ['numbers.raw_v1'],
      artifacts: [],
      metrics: {},
      warnings: [],
    })
  })

  test('older spellings: status "success", a single artifact, extra fields kept', () => {
    expect(
      normalizeEnvelope(
        { status: 'success', outputs: ['report.path_v1'], artifact: 'Data/report.md', cache: 'miss' },
        'report',
      ),
    ).toEqual({
      status: 'ok',
      outputs: ['report.path_v1'],
      artifacts: ['Data/report.md'],
      metrics: {},
      warnings: [],
      cache: 'miss',
    })
  })

  test('an error envelope is completed with step, ts and exit code', () => {
    const envelope = normalizeEnvelope(
      { status: 'error', reason: 'Too few numbers (min=5)', details: { count: 3 } },
      'validate',
    )
    expect(envelope).toEqual({
      status: 'error',
      reason: 'Too few numbers (min=5)',
      details: { count: 3 },
      exit_code: 1,
      step: 'validate',
      ts: expect.any(String),
    })
  })

  test('exit codes returned the older way', () => {
    expect(normalizeEnvelope(0, 's').status).toBe('ok')
    expect(normalizeEnvelope(2, 's')).toMatchObject({
      status: 'error',
      exit_code: 2,
      reason: 'the scriptlet returned exit code 2',
    })
  })

  test.each([
    ['a string', 'done', 'the scriptlet returned the string "done", not an envelope object (or nothing)'],
    ['an array', [1], 'the scriptlet returned an array, not an envelope object (or nothing)'],
    ['an unknown status', { status: 'maybe' }, 'the envelope has status "maybe"; expected "ok" or "error"'],
    [
      'a non-JSON value',
      { metrics: { at: new Date(0) } },
      'the scriptlet returned an envelope that is not JSON: envelope.metrics.at is a Date instance (store date.toISOString()); only plain objects and arrays are JSON',
    ],
  ])('%s is an error envelope that says what came back', (_label, raw, reason) => {
    expect(normalizeEnvelope(raw, 's')).toMatchObject({ status: 'error', exit_code: 1, reason })
  })

  test('a status other than ok or error fails the step and keeps what the scriptlet said', () => {
    // The older runner stopped at any status that was not ok or success: "failed", "FAIL", "ERROR".
    const raw = { status: 'failed', reason: 'link down on port 3', details: { port: 3 }, exit_code: 2 }
    expect(normalizeEnvelope(raw, 's')).toMatchObject({
      status: 'error',
      reason: 'link down on port 3 (the envelope has status "failed"; expected "ok" or "error")',
      details: { port: 3 },
      exit_code: 2,
      step: 's',
    })
  })
})
