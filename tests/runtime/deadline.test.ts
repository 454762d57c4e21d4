import { expect, test } from 'vitest'
import { readStoredRun, runRecipe, STEPS, stepSummary, useRuntimeProjects } from './harness.ts'

// The runner's own deadline on a step that never returns and ignores its signal: each attempt
// is abandoned at its timeout (after the 1 s an in-process step gets to return), the step is
// retried as `retry:` says, and its record says it timed out. Its own file: the waits take
// over a second per attempt, which runs beside the other test files. (That Vitest's backstop never
// cuts this short is a matter of the generated module: tests/e2e/execution-controls.test.ts.)

const projectWith = useRuntimeProjects()

test('a hung in-process step times out on every attempt, is recorded as timed out, and blocks the step after it at once', async () => {
  const project = projectWith(`steps:
  - { idx: 1, name: hung, type: ts, module: ${STEPS}, function: hangs, timeout: 0.3, retry: { max: 1 } }
  - { idx: 2, name: after, type: ts, module: ${STEPS}, function: set, args: { key: lab.after_v1 } }
`)
  const { runId, tests } = await runRecipe(project, 'recipes/x.yaml')
  const hung = tests.hung!
  expect(hung.state).toBe('fail')
  expect(hung.error!.message).toBe(
    'Step "hung" (scriptlets/steps.ts#hangs, recipes/x.yaml:2) failed with exit code 1: timed out after 0.3 s',
  )
  expect(hung.meta).toMatchObject({
    status: 'failed',
    timedOut: true,
    maxAttempts: 2,
    reason: 'timed out after 0.3 s',
    envelope: { status: 'error', exit_code: 1, details: { timeout_sec: 0.3 } },
  })
  expect(hung.meta!.attempts.map((attempt) => [attempt.attempt, attempt.status, attempt.reason])).toEqual([
    [1, 'failed', 'timed out after 0.3 s'],
    [2, 'failed', 'timed out after 0.3 s'],
  ])
  // Abandoned 1 s after its deadline (IN_PROCESS_RETURN_WAIT_MS), not after the 5 s a step's
  // processes get to report: it has none.
  for (const attempt of hung.meta!.attempts) {
    expect(attempt.durationMs).toBeGreaterThanOrEqual(1_250)
    expect(attempt.durationMs).toBeLessThan(4_000)
  }
  expect(hung.annotations.map((note) => note.message)).toEqual([
    `failed: timed out after 0.3 s (log: ${hung.meta!.logPath})`,
    'failed on all 2 attempts (attempt 1: failed (timed out after 0.3 s); attempt 2: failed (timed out after 0.3 s))',
    'log: 1_hung.log',
  ])
  expect(project.read(hung.meta!.logPath!)).toMatch(
    /attempt 1 failed: timed out after 0\.3 s\n(.*\n)*.*failed: timed out after 0\.3 s; the in-process step was abandoned\n$/,
  )
  expect(tests.after!.meta).toMatchObject({ status: 'blocked', blockedBy: 'hung', durationMs: 0 })
  const stored = await readStoredRun(project, runId)
  expect(stepSummary(stored)).toEqual([
    ['hung', 'failed', 2, 'timed out after 0.3 s'],
    ['after', 'blocked', 0, 'blocked: hung failed'],
  ])
}, 30_000)
