import { afterEach, expect, test } from 'vitest'
import { type CapturedOutput, OutputCapture } from '../../plugin/runtime/output-capture.ts'
import { createRedactor } from '../../plugin/runtime/redact.ts'
import { printUnderTest, type StepTest } from '../../plugin/runtime/test-console.ts'

// Vitest's console files a line under its worker state's `current` test, read as the line is
// written: what the capture must point at the step's own test while the step prints.
const workerState = (globalThis as unknown as { __vitest_worker__: { current?: unknown } }).__vitest_worker__
const stepTest = (name: string) => ({ name }) as unknown as StepTest

let capture: OutputCapture | undefined
const originalLog = console.log
afterEach(() => {
  capture?.remove()
  console.log = originalLog
})

/** Installs a capture over a console.log that records each line and the test it was filed under. */
function installRecording(): { lines: [string, unknown][] } {
  const seen = { lines: [] as [string, unknown][] }
  console.log = (line: string) => {
    seen.lines.push([line, workerState.current])
  }
  capture = new OutputCapture(true)
  capture.install(createRedactor([], { LAB_TOKEN: 'hunter2-secret' }))
  return seen
}

test('printUnderTest files the lines printed in the call under the given test, then puts the running one back', () => {
  const running = workerState.current
  const alpha = stepTest('alpha')
  expect(printUnderTest(alpha, () => workerState.current)).toBe(alpha)
  expect(workerState.current).toBe(running)
  expect(() =>
    printUnderTest(alpha, () => {
      throw new Error('a console that throws')
    }),
  ).toThrow('a console that throws')
  expect(workerState.current).toBe(running)
  expect(printUnderTest(undefined, () => workerState.current)).toBe(running)
})

test("a step's console lines show under its own test, also while another step runs beside it", async () => {
  const seen = installRecording()
  const alpha: CapturedOutput = { stdout: [], stderr: [], test: stepTest('alpha') }
  const beta: CapturedOutput = { stdout: [], stderr: [], test: stepTest('beta') }
  const speak = (name: string) => async () => {
    for (let tick = 1; tick <= 2; tick++) {
      console.log(`${name} ${tick}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  await Promise.all([capture!.run(alpha, speak('alpha')), capture!.run(beta, speak('beta'))])
  for (const [line, test] of seen.lines) expect((test as { name: string }).name).toBe(line.split(' ')[0])
  expect(alpha.stdout).toEqual(['alpha 1\n', 'alpha 2\n'])
  expect(beta.stdout).toEqual(['beta 1\n', 'beta 2\n'])
})

test("the plugin's lines about a step show under its test, never in the step's captured output, secrets masked", async () => {
  const seen = installRecording()
  const alpha: CapturedOutput = { stdout: [], stderr: [], test: stepTest('alpha') }
  // As a shell step's progress arrives: in the step's async context, while it runs.
  await capture!.run(alpha, async () => {
    capture!.say('vitest-recipes: alpha: 50% token hunter2-secret', alpha.test)
  })
  expect(alpha.stdout).toEqual([])
  expect(seen.lines).toEqual([['vitest-recipes: alpha: 50% token ***', alpha.test]])
})
