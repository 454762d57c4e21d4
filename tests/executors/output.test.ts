import { expect, test } from 'vitest'
import { Context } from '../../plugin/context/context.ts'
import { StepContext } from '../../plugin/context/step-context.ts'
import type { ChildProcessResult } from '../../plugin/executors/child-process.ts'
import { envelopeFromOutput, tail } from '../../plugin/executors/output.ts'

const result = (stdout: string, exitCode = 0, stderr = ''): ChildProcessResult => ({
  exitCode,
  signal: undefined,
  stdout,
  stderr,
  resources: { cpuMs: 0, peakRssBytes: 0 },
})
const parse = (output: ChildProcessResult, mode: 'json' | 'lines' | 'raw' = 'json') => {
  const ctx = new StepContext(new Context())
  return { envelope: envelopeFromOutput(output, mode, 'x.sh', 'step', ctx), ctx }
}

test('one JSON line is the envelope; its ctx field is written as the step and removed', () => {
  const { envelope, ctx } = parse(result('{"status":"ok","ctx":{"a.b_v1":1},"output":"Data/x"}\n'))
  expect(envelope).toEqual({
    status: 'ok',
    outputs: ['a.b_v1'],
    artifacts: [],
    metrics: {},
    warnings: [],
    output: 'Data/x',
  })
  expect(ctx.writes).toMatchObject([{ key: 'a.b_v1', who: 'step', after: 1 }])
})

test.each([
  ['nothing printed', result(''), 'x.sh printed nothing on stdout; expected one JSON envelope line', 1],
  [
    'a non-zero exit without an envelope',
    result('', 4, 'boom'),
    'x.sh exited with code 4 without an envelope on stdout',
    4,
  ],
  [
    'two lines',
    result('hello\n{"status":"ok"}\n'),
    'x.sh printed 2 lines on stdout; expected exactly one JSON envelope line (logs belong on stderr). stdout began: "hello\\n{\\"status\\":\\"ok\\"}\\n"',
    1,
  ],
  ['not JSON', result('done\n'), 'x.sh printed a line that is not JSON: "done"', 1],
  [
    'an ok envelope with a failing exit code',
    result('{"status":"ok"}\n', 2),
    'x.sh exited with code 2 although its envelope says ok',
    2,
  ],
  [
    'a start error',
    { ...result(''), exitCode: undefined, startError: 'x.sh was not found' },
    'could not start x.sh was not found',
    1,
  ],
])('%s is an error that quotes what came back', (_label, output, reason, exitCode) => {
  expect(parse(output).envelope).toMatchObject({
    status: 'error',
    reason,
    exit_code: exitCode,
    details: { stdout_head: expect.any(String) },
  })
})

test('parse: lines and raw wrap plain output; a failing exit is still an error', () => {
  expect(parse(result('a\n\nb\n'), 'lines').envelope).toMatchObject({ status: 'ok', lines: ['a', 'b'] })
  expect(parse(result('text\n'), 'raw').envelope).toMatchObject({ status: 'ok', output: 'text\n' })
  expect(parse(result('a\n', 1), 'lines').envelope).toMatchObject({
    status: 'error',
    reason: 'x.sh exited with code 1',
  })
})

test('tail keeps the last 10 lines', () => {
  expect(tail(Array.from({ length: 15 }, (_, i) => `line ${i}`).join('\n'))).toBe(
    Array.from({ length: 10 }, (_, i) => `line ${i + 5}`).join('\n'),
  )
})

test('an envelope pretty-printed over several lines (jq without -c) is named as such, with the fix', () => {
  const { envelope, ctx } = parse(result('{\n  "status": "ok",\n  "ctx": { "a.b_v1": 1 }\n}\n'))
  expect(envelope).toMatchObject({
    status: 'error',
    exit_code: 1,
    reason:
      'x.sh printed its JSON envelope over 4 lines; stdout must hold it on exactly one line (jq -c, or json.dumps without indent)',
  })
  expect(ctx.writes).toEqual([])
})
